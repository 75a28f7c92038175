"""What the rule file takes from twins.pulsar.rules: the per-model train settings (resolved against the schema),
the observations (real files optional), the targets."""

from __future__ import annotations

import pytest
import yaml

from tests.pulsar.real_data import REPO
from twins.core.config import validate_config
from twins.pulsar.rules import model_train_settings, observation_file, observation_masks, observations, targets


def _default_config():
    return validate_config(
        yaml.safe_load((REPO / "config/config.yaml").read_text()), REPO / "workflow/schemas/config.schema.yaml"
    )


def test_train_by_model_overrides_one_model_key_by_key():
    config = _default_config()
    config["pulsar"]["train_by_model"] = {"rfigen": {"dedispersion": {"partial_tracks": False}, "epochs": 3}}
    shared, rfigen = (model_train_settings(config, model) for model in ("dt", "rfigen"))
    assert shared == config["pulsar"]["train"] and shared["dedispersion"]["partial_tracks"] is True
    assert rfigen["dedispersion"] == {**shared["dedispersion"], "partial_tracks": False} and rfigen["epochs"] == 3
    assert {k: v for k, v in rfigen.items() if k not in ("dedispersion", "epochs")} == {
        k: v for k, v in shared.items() if k not in ("dedispersion", "epochs")
    }


@pytest.mark.parametrize(
    "override, message",
    [
        ({"nomodel": {"epochs": 3}}, r"train_by_model names \['nomodel'\], not in pulsar.models"),
        # the resolver's message names the override and the full key of the bad value
        (
            {"rfigen": {"dedispersion": {"min_coverage": 0}}},
            r"(?s)train_by_model.rfigen: .*'pulsar.train.dedispersion.min_coverage'",
        ),
        ({"rfigen": {"epoch": 3}}, r"(?s)train_by_model.rfigen: .*'pulsar.train': .*'epoch'"),
    ],
)
def test_train_by_model_errors_name_the_key(override, message):
    config = _default_config()
    config["pulsar"]["train_by_model"] = override
    with pytest.raises(ValueError, match=message):
        model_train_settings(config, "rfigen")


def config_with(real: dict) -> dict:
    return {"pulsar": {"datasets": {"obs": {}}, "generate": {"simulated": ["obs"], "real": real}}}


def test_a_missing_real_file_is_left_out_with_a_warning(tmp_path, capsys):
    present = tmp_path / "here.fil"
    present.write_bytes(b"x")
    config = config_with(
        {
            "here": {"path": str(present), "mask": str(tmp_path / "gone_mask.h5")},
            "gone": {"path": str(tmp_path / "gone.fil"), "mask": None},
        }
    )
    assert observations(config) == ["obs", "here"]
    assert observation_masks(config) == {"here": None}  # its mask is missing: no flagging check
    err = capsys.readouterr().err
    assert "gone.fil" in err and "gone_mask.h5" in err
    assert observation_file(config, "obs") == "results/pulsar/simulate/obs.fil"
    assert observation_file(config, "here") == str(present)


def test_targets_are_the_report():
    assert targets(_default_config()) == ["results/pulsar/report/metrics.html"]
