# Shared by every twin: config validation, the library on the path, target lists.
import os
import sys
from pathlib import Path

# Rule scripts and this file import the `twins` library from this checkout, whatever env runs them
# (the venv locally, the envs/ conda envs with --sdm conda, a SLURM job on another node).
SRC = str(Path(workflow.basedir).parent / "src")
sys.path.insert(0, SRC)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (SRC, os.environ.get("PYTHONPATH", "")) if p
)

from twins.core.config import ConfigError, validate_config

try:
    validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
except ConfigError as err:
    raise WorkflowError(str(err)) from None


def all_targets():
    """The final outputs of every enabled twin."""
    targets = []
    if "calo" in config["twins"]:
        targets.append("results/calo/report/metrics.html")
    return targets
