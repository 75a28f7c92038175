"""What the rule file takes from Python: ensembles to run, config slices, targets; the demo config against the
schema defaults."""

from pathlib import Path

import pytest
import yaml

from tests.lattice.lattice_samples import HMC_SPEC
from twins.core.config import validate_config
from twins.lattice import rules

REPO = Path(__file__).resolve().parents[2]


def test_config_helpers_slice_and_name_unknown_ensembles():
    config = {"lattice": {"run": ["e"], "ensembles": {"e": {**HMC_SPEC, "flow": {"epochs": 1}, "nfmcmc": {}}}}}
    assert rules.ensembles_to_run(config) == ["e"] and rules.ensemble_pattern(config) == "e"
    assert set(rules.ensemble_slice(config, "e", "train")) == {"theory", "shape", "couplings", "flow"}
    assert rules.validation_summaries(config) == ["results/lattice/validate/e.json"]
    assert rules.targets(config) == ["results/lattice/report/summary.html"]
    with pytest.raises(ValueError, match="nope"):
        rules.ensembles_to_run({"lattice": {**config["lattice"], "run": ["nope"]}})


def test_config_slice_equals_the_schema_defaults():
    """The demo in config/config.yaml (when it holds a lattice key) and the schema defaults do not drift."""
    schema = REPO / "workflow/schemas/config.schema.yaml"
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    defaults = validate_config({"twins": ["lattice"]}, schema)["lattice"]
    assert set(defaults["run"]) <= set(defaults["ensembles"])
    if "lattice" in config:
        assert validate_config({"twins": ["lattice"], "lattice": config["lattice"]}, schema)["lattice"] == defaults
