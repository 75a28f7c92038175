# Shared by every twin: config validation, the library on the path, output folders, env paths, targets.
import sys
from pathlib import Path

SRC = Path(workflow.basedir).parent / "src"
sys.path.insert(0, str(SRC))

from twins.core.config import ConfigError, validate_config
from twins.core.workflow import (
    benchmarks,
    conda_env,
    export_library_path,
    logs,
    results,
)

export_library_path(SRC)

try:
    validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
except ConfigError as err:
    raise WorkflowError(str(err)) from None


# Each twin registers its final outputs here from its .smk (TWIN_TARGETS["<twin>"] = ...), which its
# <twin>_all rule requests; rule all requests those of every enabled twin.
TWIN_TARGETS = {}


def all_targets():
    """The final outputs of every enabled twin."""
    return [target for twin in config["twins"] for target in TWIN_TARGETS[twin]]
