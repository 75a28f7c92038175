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
    per_attempt,
    results,
    unset_resource_variables,
    unset_variables_message,
)

export_library_path(SRC)

try:
    validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
except ConfigError as err:
    raise WorkflowError(str(err)) from None


def chunk_files(files):
    """Per-chunk simulation outputs: temp() when config keep_chunk_files is false (deleted once converted)."""
    return files if config["keep_chunk_files"] else temp(files)


def external_file(path):
    """An input the workflow does not make (a file of the checkout, or the user's data). Under a default
    storage provider it would be looked up below the storage prefix; it is taken from where it is instead,
    and jobs stage it through their local scratch like any other input (storage.fs on its absolute path).
    (`local()` would make every job reading it run on the login node.)"""
    if workflow.storage_settings.default_storage_provider is None:
        return path
    return storage.fs(str(Path(path).resolve()))


def profile_resources():
    """(where, resource, raw value) of the profile's default-resources and set-resources."""
    settings = workflow.resource_settings
    defaults = settings.default_resources
    for name, resource in (defaults.items() if defaults is not None else []):
        yield "default-resources", name, getattr(resource, "raw", None)
    for rule_name, resources in settings.overwrite_resources.items():
        for name, resource in resources.items():
            yield f"set-resources.{rule_name}", name, getattr(resource, "raw", resource)


# Only where jobs are planned: a job on a node parses this file again in its own environment.
if not workflow.remote_exec:
    unset = unset_resource_variables(profile_resources())
    if unset:
        raise WorkflowError(unset_variables_message(unset))


# Each twin registers its final outputs here from its .smk (TWIN_TARGETS["<twin>"] = ...), which its
# <twin>_all rule requests; rule all requests those of every enabled twin.
TWIN_TARGETS = {}


def all_targets():
    """The final outputs of every enabled twin."""
    return [target for twin in config["twins"] for target in TWIN_TARGETS[twin]]
