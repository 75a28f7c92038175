"""Real filterbank files are optional: a missing one is left out of the run with a warning naming it."""

from __future__ import annotations

from twins.pulsar.workflow import observation_masks, observations


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
