# Shared by every twin: config validation, the library on the path, target lists.
import sys
from pathlib import Path

SRC = Path(workflow.basedir).parent / "src"
sys.path.insert(0, str(SRC))

from twins.core.config import ConfigError, validate_config
from twins.core.workflow import export_library_path

export_library_path(SRC)

try:
    validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
except ConfigError as err:
    raise WorkflowError(str(err)) from None


# Input functions of the twins (snakemake --lint wants functions out of the rule files).
def calo_source_files():
    """ROOT files calo_convert reads: calo_simulate's chunks, or the configured external files."""
    convert = config["calo"]["convert"]
    if convert["source"] == "external":
        return convert["external"]["files"]
    return expand(
        "results/calo/simulate/chunk_{chunk}.root",
        chunk=range(config["calo"]["simulate"]["chunks"]),
    )


def calo_generate_settings(model):
    """The `calo.generate` slice one model's generation reads: the shared keys and its own sub-slice only,
    so that changing CaloINN's temperature does not regenerate 3DGAN's showers."""
    generate = config["calo"]["generate"]
    shared = {k: v for k, v in generate.items() if k not in config["calo"]["train"]}
    return {**shared, model: generate[model]} if model in generate else shared


def calo_simulation_timings():
    """The simulator's timing files (for the speed ratio); none for external data."""
    if config["calo"]["convert"]["source"] == "external":
        return []
    return expand(
        "results/calo/simulate/chunk_{chunk}.json",
        chunk=range(config["calo"]["simulate"]["chunks"]),
    )


def virgo_qscan_targets():
    """The GW150914 Q-scan when the real file is here; without it a warning, and the rest runs."""
    path = config["virgo"]["report"]["gwosc_file"]
    if Path(path).exists():
        return ["results/virgo/report/gw150914_qscan.json"]
    print(
        f"virgo: real GWOSC file {path} not found; the GW150914 Q-scan is left out",
        file=sys.stderr,
    )
    return []


# Each twin registers its final outputs here from its .smk: TWIN_TARGETS["<twin>"] = [...]
TWIN_TARGETS = {}


def all_targets():
    """The final outputs of every enabled twin."""
    return [target for twin in config["twins"] for target in TWIN_TARGETS[twin]]
