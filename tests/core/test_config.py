import copy
from pathlib import Path

import pytest
import yaml

from twins.core.config import ConfigError, defaults, resolve, validate_config

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def default_config():
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


def test_every_config_file_validates():
    for path in (REPO / "config").glob("*.yaml"):
        validate_config(yaml.safe_load(path.read_text()), SCHEMA)


def test_defaults_fill_a_minimal_config():
    config = validate_config({"twins": ["calo"]}, SCHEMA)
    assert config["seed"] == 42
    assert config["calo"]["simulate"]["backend"] == "gflash"
    assert config["calo"]["train"]["gan3d"]["epochs"] >= 1


def test_default_config_sets_no_value_equal_to_nothing_the_schema_knows():
    """Drift check: validation must not add keys to config.yaml's explicitly given slices beyond defaults."""
    config = default_config()
    filled = validate_config(copy.deepcopy(config), SCHEMA)
    for key, value in config["calo"]["simulate"].items():
        assert filled["calo"]["simulate"][key] == value


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (("calo", "simulate", "particle"), "mu-", "calo.simulate.particle"),
        (("calo", "simulate", "events"), -5, "calo.simulate.events"),
        (("calo", "simulate", "events"), "many", "expected type"),
        (("calo", "simulate", "colour"), "red", "'colour' was unexpected"),
        (("calo", "preprocess", "power"), 1.5, "calo.preprocess.power"),
        (("twins",), ["calo", "unicorn"], "twins.1"),
        (("device",), "gpu", "device"),
    ],
)
def test_bad_values_name_the_key(path, value, expected):
    config = default_config()
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ConfigError, match=None) as info:
        validate_config(config, SCHEMA)
    assert expected in str(info.value)


def test_twin_schema_files_leave_the_dialect_to_the_main_schema(repo):
    """A `$schema` key in a twin's file would make jsonschema skip default filling below its `$ref`."""
    for path in (repo / "workflow" / "schemas").glob("*.schema.yaml"):
        if path.name != "config.schema.yaml":
            assert "$schema" not in yaml.safe_load(path.read_text()), path.name


def test_every_twin_in_the_enum_has_a_schema_file_and_rules(repo):
    schema = yaml.safe_load((repo / "workflow" / "schemas" / "config.schema.yaml").read_text())
    for twin in schema["properties"]["twins"]["items"]["enum"]:
        assert schema["properties"][twin]["$ref"] == f"{twin}.schema.yaml"
        assert (repo / "workflow" / "schemas" / f"{twin}.schema.yaml").exists()
        assert (repo / "workflow" / "rules" / f"{twin}.smk").exists()


def test_resolve_fills_the_schema_defaults_of_a_slice():
    settings = resolve("calo.train.gan3d", {"epochs": 3})
    config = validate_config({"twins": ["calo"]}, SCHEMA)
    assert settings == {**config["calo"]["train"]["gan3d"], "epochs": 3}
    assert (
        defaults("calo.validate")["classifier"]["nn"]["epochs"]
        == config["calo"]["validate"]["classifier"]["nn"]["epochs"]
    )


def test_resolve_follows_map_entries_and_references():
    dataset = resolve("pulsar.datasets.anyname", {"generator": "rfi_gen"})
    assert dataset["generator"] == "rfi_gen" and "scans" in dataset


def test_resolve_names_the_full_key_of_a_bad_value():
    with pytest.raises(ConfigError, match=r"calo\.train\.gan3d\.epochs.*minimum"):
        resolve("calo.train.gan3d", {"epochs": 0})
    with pytest.raises(ConfigError, match=r"calo\.train\.gan3d.*'colour' was unexpected"):
        resolve("calo.train.gan3d", {"colour": "red"})
    with pytest.raises(ConfigError, match=r"'calo\.trian'.*known keys there: \['convert'"):
        resolve("calo.trian", {})


def test_resolve_leaves_the_callers_settings_alone():
    given = {"epochs": 3}
    resolve("calo.train.gan3d", given)
    assert given == {"epochs": 3}


def test_schema_folder_can_be_named_by_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TWINS_SCHEMA_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="TWINS_SCHEMA_DIR"):
        defaults("calo")
