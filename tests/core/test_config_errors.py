"""Config mistakes the schema's types alone let through: each stops validation (at parse time, before any job)
with a message naming the full key and the fix."""

import copy
from pathlib import Path

import pytest
import yaml

from tests.helpers import make_workdir, snakemake
from twins.core.config import ConfigError, resolve, resolve_definition, validate_config

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def with_value(path: str, value) -> dict:
    """config/config.yaml with the value at dotted `path` replaced."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return config


def problems(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(config, SCHEMA)
    return str(info.value)


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (
            "calo.simulate.chunks",
            1.0,
            "config key 'calo.simulate.chunks': 1.0 is a float; write a whole number without a decimal point (1)",
        ),
        (
            "tpc.simulate.segments",
            4000.0,
            "config key 'tpc.simulate.segments': 4000.0 is a float; write a whole number without a decimal point "
            "(4000)",
        ),
    ],
)
def test_whole_numbers_written_as_floats_are_refused(path, value, expected):
    assert expected in problems(with_value(path, value))


def test_every_integer_key_refuses_a_float():
    """The type checker makes 'integer' exclude floats everywhere: every integer of the filled default config
    turned into a float is reported, and nothing else is."""
    config = validate_config(yaml.safe_load((REPO / "config/config.yaml").read_text()), SCHEMA)

    def floats(node):
        if isinstance(node, dict):
            return {k: floats(v) for k, v in node.items()}
        if isinstance(node, list):
            return [floats(v) for v in node]
        return float(node) if isinstance(node, int) and not isinstance(node, bool) else node

    message = problems(floats(copy.deepcopy(config)))
    lines = [line for line in message.splitlines() if line.startswith("  config key")]
    assert len(lines) > 20
    assert all("is a float; write a whole number without a decimal point" in line for line in lines), message
    for key in ("seed", "calo.simulate.events", "tpc.train.epochs", "virgo.train.batch_size", "pulsar.train.epochs"):
        assert f"config key '{key}':" in message


def test_a_library_caller_gets_the_same_integer_check():
    with pytest.raises(ConfigError, match=r"'calo\.train\.gan3d\.epochs': 3\.0 is a float.*\(3\)"):
        resolve("calo.train.gan3d", {"epochs": 3.0})


@pytest.mark.parametrize(
    "path, split, expected",
    [
        (
            "calo.preprocess.split",
            {"train": 0.7, "validation": 0.2, "test": 0.2},
            "config keys 'calo.preprocess.split.train' + 'calo.preprocess.split.validation' + "
            "'calo.preprocess.split.test' = 0.7 + 0.2 + 0.2 = 1.1; the parts must sum to 1 (nothing is renormalised "
            "or dropped): set 'calo.preprocess.split.test' to 0.1",
        ),
        (  # tpc used to drop what the parts left
            "tpc.preprocess.split",
            {"train": 0.6, "validation": 0.1, "test": 0.1},
            "= 0.6 + 0.1 + 0.1 = 0.8; the parts must sum to 1 (nothing is renormalised or dropped): "
            "set 'tpc.preprocess.split.test' to 0.3",
        ),
        (  # pulsar used to renormalise; a part left out takes its default
            "pulsar.preprocess.split",
            {"train": 0.8},
            "config keys 'pulsar.preprocess.split.train' + 'pulsar.preprocess.split.validation' + "
            "'pulsar.preprocess.split.test' = 0.8 + 0.1 + 0.2 = 1.1",
        ),
        (  # virgo's train part is cut last
            "virgo.preprocess.split",
            {"train": 0.7, "validation": 0.2, "test": 0.2},
            "set 'virgo.preprocess.split.train' to 0.6",
        ),
        (  # the classifier's test set is the rest
            "calo.validate.classifier.nn",
            {"train_fraction": 0.8, "validation_fraction": 0.2},
            "config keys 'calo.validate.classifier.nn.train_fraction' + "
            "'calo.validate.classifier.nn.validation_fraction' = 0.8 + 0.2 = 1; they must sum to less than 1 to "
            "leave a test set: lower one of them",
        ),
    ],
)
def test_split_fractions_must_add_up(path, split, expected):
    assert expected in problems(with_value(path, split))


def test_split_sums_hold_for_library_callers_and_allow_rounding():
    with pytest.raises(ConfigError, match=r"'virgo\.preprocess\.split\.train' \+ .* = 1\.2"):
        resolve("virgo.preprocess", {"split": {"train": 0.8, "validation": 0.2, "test": 0.2}})
    with pytest.raises(ConfigError, match="to leave a test set"):
        resolve_definition("classifier_nn", {"train_fraction": 0.9})
    # 0.7 + 0.2 + 0.1 is 0.9999999999999999 in floating point: accepted
    assert resolve("calo.preprocess", {"split": {"train": 0.7, "validation": 0.2, "test": 0.1}})["split"]


def test_external_source_needs_its_mapping():
    message = problems(with_value("calo.convert.source", "external"))
    assert "config key 'calo.convert.external' is missing: calo.convert.source is 'external'" in message
    assert "files, tree, cells_branch, cells_shape and geometry" in message


def test_exponent_without_a_dot_gets_a_hint():
    given = yaml.safe_load("lr_generator: 1e-3\nlr_critic: 1.0e3\nbatch_size: 64\n")  # YAML 1.1: both are text
    assert given == {"lr_generator": "1e-3", "lr_critic": "1.0e3", "batch_size": 64}
    message = problems(with_value("tpc.train", given))
    assert (
        "config key 'tpc.train.lr_generator': '1e-3' is a string: YAML reads exponents without a dot as text; "
        "write 1.0e-3"
    ) in message
    assert "'tpc.train.lr_critic': '1.0e3' is a string: YAML reads exponents without a sign as text; write 1.0e+3" in (
        message
    )
    assert yaml.safe_load("[1.0e-3, 1.0e+3]") == [0.001, 1000.0]  # the fixes are numbers
    # behind a oneOf (a number or 'validation') too
    threshold = problems(with_value("pulsar.generate.threshold", "5e-1"))
    assert "'pulsar.generate.threshold': '5e-1' is a string: YAML reads exponents" in threshold


def test_a_bad_config_stops_the_dry_run_before_any_job(tmp_path):
    workdir = make_workdir(tmp_path, {"twins": ["calo"], "calo": {"simulate": {"chunks": 1.0}}})
    result = snakemake(workdir, "-n", "--configfile", "tiny.yaml", check=False)
    assert result.returncode != 0
    assert "config key 'calo.simulate.chunks': 1.0 is a float" in result.stderr + result.stdout
    assert "Job stats" not in result.stdout and "TypeError" not in result.stderr
