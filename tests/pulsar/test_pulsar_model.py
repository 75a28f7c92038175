"""The classifier: multi-label sigmoid outputs trained with BCEWithLogits, checkpoint/resume."""

import numpy as np
import pandas as pd
import pytest
import torch

from tests.pulsar.pulsar_common import REPO
from twins.pulsar.model import FrameClassifier, load_model, predict_probabilities
from twins.pulsar.train import positive_weights, train_classifier

torch.set_num_threads(1)
SETTINGS = {
    "channels": [4, 8],
    "first_stride": 4,
    "learning_rate": 3e-3,
    "batch_size": 16,
    "epochs": 3,
    "patience": 5,
    "pulse_threshold": {"rule": "false_alarm", "max_false_alarm_rate": 0.002},
}


def test_outputs_are_independent_logits():
    model = FrameClassifier((4, 8))
    logits = model(torch.zeros(5, 1, 64, 64))
    assert logits.shape == (5, 3)
    p = predict_probabilities(model, np.zeros((5, 64, 64), dtype=np.float32))
    assert np.all((p > 0) & (p < 1)) and not np.allclose(p.sum(axis=1), 1)  # sigmoid, not softmax


def test_positive_weights():
    w = positive_weights(np.array([[1, 0, 0]] * 2 + [[0, 0, 1]] * 8))
    assert w.tolist() == pytest.approx([4.0, 10.0, 0.25])  # an absent class gets negatives / 1


def _toy(path, n, seed):
    import h5py

    rng = np.random.default_rng(seed)
    frames = rng.standard_normal((n, 32, 32)).astype(np.float16)
    labels = np.zeros((n, 3), dtype=np.uint8)
    labels[::2, 1] = 1
    frames[::2, :, 10] += 3  # a bright channel: "narrow-band RFI"
    with h5py.File(path, "w") as f:
        f["frames"], f["labels"], f["snr"] = frames, labels, np.zeros(n, dtype=np.float32)


def test_training_learns_resumes_and_is_deterministic(tmp_path):
    _toy(tmp_path / "train.h5", 64, 0)
    _toy(tmp_path / "val.h5", 32, 1)
    args = dict(
        train_h5=tmp_path / "train.h5", validation_h5=tmp_path / "val.h5", frames={"size": 32}, seed=1, device="cpu"
    )
    train_classifier(
        settings=SETTINGS,
        checkpoint_path=tmp_path / "a.pt",
        out_model=tmp_path / "a_model.pt",
        out_history=tmp_path / "a.csv",
        **args,
    )
    history = pd.read_csv(tmp_path / "a.csv")
    assert history["val_loss"].iloc[-1] < history["val_loss"].iloc[0]
    # two epochs, then "killed": a rerun asking for three resumes and ends with the same weights
    train_classifier(
        settings={**SETTINGS, "epochs": 2},
        checkpoint_path=tmp_path / "b.pt",
        out_model=tmp_path / "b_model.pt",
        out_history=tmp_path / "b.csv",
        **args,
    )
    train_classifier(
        settings=SETTINGS,
        checkpoint_path=tmp_path / "b.pt",
        out_model=tmp_path / "b_model.pt",
        out_history=tmp_path / "b.csv",
        **args,
    )
    a, _ = load_model(tmp_path / "a_model.pt")
    b, record = load_model(tmp_path / "b_model.pt")
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)
    assert record["provenance"]["step"] == "pulsar_train"
    assert record["threshold_choice"]["rule"] == "false_alarm"
    # another threshold rule is a new choice on the same weights, not a new training
    train_classifier(
        settings={**SETTINGS, "pulse_threshold": {"rule": "accuracy"}},
        checkpoint_path=tmp_path / "a.pt",
        out_model=tmp_path / "c_model.pt",
        out_history=tmp_path / "c.csv",
        **args,
    )
    c, record = load_model(tmp_path / "c_model.pt")
    for pa, pc in zip(a.parameters(), c.parameters()):
        assert torch.equal(pa, pc)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "c.csv"), history)  # epoch times too: restored, not rerun
    assert record["threshold_choice"] == {"rule": "accuracy"}


def test_dedispersion_branch_puts_a_dispersed_track_at_its_sweep():
    from twins.pulsar.model import Dedispersion

    branch = Dedispersion(128, trials=33, max_sweep_fraction=1.0, bottom_to_top_frequency=0.8)
    f = np.linspace(1.0, 0.8, 128)
    shape = (f**-2 - 1) / (0.8**-2 - 1)
    frame = np.zeros((1, 128, 128), dtype=np.float32)
    frame[0, np.rint(20 + 64 * shape).astype(int), np.arange(128)] = 1.0  # sweep 64 pixels, top arrival 20
    plane = branch(torch.as_tensor(frame))[0].numpy()
    trial, time = np.unravel_index(plane.argmax(), plane.shape)
    assert abs(trial * 4 - 64) <= 4 and abs(time * 2 - (20 + 32)) <= 2  # sweep 4 px per trial; mid-band time
    assert plane.max() > 4 * plane[0].max()  # undispersed trial does not see it
    noise = branch(torch.randn(32, 128, 128)).std().item()
    assert 0.85 < noise < 1.05  # DM-time plane in noise units


def test_excision_zeroes_carrier_subbands_but_keeps_a_pulse():
    from twins.pulsar.model import Dedispersion

    rng = np.random.default_rng(3)
    frames = rng.normal(size=(2, 128, 128)).astype(np.float32)
    frames[0, 40:90, 17] += 3.0  # intermittent carrier (on for part of the frame) in subband 4
    frames[0, :, 61] += 1.5  # weak steady carrier in subband 15
    frames[1, np.arange(128), np.arange(128) // 2] += 3.0  # a bright dispersed track, one pixel per channel
    frames[:, 100:102, :] += 5.0  # broad-band impulse: removed by zero-DM, must flag nothing
    x = torch.as_tensor(frames)
    branch = Dedispersion(128, excise_channels=6.0)  # subbands of 4 channels
    keep = branch.excise(torch.nn.functional.avg_pool2d(x[:, None], (2, 4))[:, 0]).numpy()
    assert [np.flatnonzero(~k).tolist() for k in keep] == [[4, 15], []]
    plane = branch(x).numpy()
    clean = frames.copy()
    clean[0, :, 16:20] = clean[0, :, 60:64] = 0.0
    assert np.allclose(plane[0], branch(torch.as_tensor(clean)).numpy()[0], atol=1e-4)  # no trace of the carriers
    assert torch.equal(Dedispersion(128)(x), Dedispersion(128, excise_channels=0.0)(x))  # 0: off


def test_thresholds_are_chosen_on_validation_frames():
    from twins.pulsar.train import choose_thresholds

    labels = np.array([[1, 0, 0]] * 50 + [[0, 1, 0]] * 50)
    p = np.zeros((100, 3))
    p[:50, 0] = 0.3  # the pulse class is under-confident: only a low threshold gets it right
    p[50:, 1] = 0.9
    t = choose_thresholds(p, labels)
    assert 0.05 <= t[0] <= 0.3 and 0.05 < t[1] <= 0.9 and t[2] == 0.5


def test_false_alarm_threshold_is_the_lowest_within_the_budget():
    from twins.pulsar.train import false_alarm_threshold

    noise_p = (np.arange(1000) + 0.5) / 1000  # frames without pulse signal: a share 1 - t lies at or above t
    p = np.concatenate([noise_p, np.full(50, 0.99), np.full(50, 0.97)])
    snr = np.concatenate([np.zeros(1000), np.full(50, 12.0), np.full(50, 3.0)])  # pulses, sub-threshold pulses
    found = false_alarm_threshold(p, snr, 0.1)
    assert found == {
        "threshold": 0.9,
        "validation_false_alarm_rate": pytest.approx(0.1),
        "validation_frames_no_signal": 1000,
    }
    assert false_alarm_threshold(p, snr, 0.25)["threshold"] == 0.75


def test_false_alarm_rule_does_not_depend_on_the_share_of_pulse_frames():
    from twins.pulsar.train import decide_thresholds

    rng = np.random.default_rng(0)
    noise = rng.uniform(0.0, 0.5, 500)
    rule = {"rule": "false_alarm", "max_false_alarm_rate": 0.01}
    chosen = {}
    for n_pulse in (200, 2000):  # the simulation's mix of pulse frames changes, the noise does not
        pulse = rng.uniform(0.2, 1.0, n_pulse)
        labels = np.zeros((500 + n_pulse, 3), dtype=np.uint8)
        labels[500:, 0] = 1
        p = np.zeros((len(labels), 3))
        p[:, 0] = np.concatenate([noise, pulse])
        snr = np.concatenate([np.zeros(500), np.full(n_pulse, 10.0)])
        chosen[n_pulse] = (
            decide_thresholds(p, labels, snr, rule)[0][0],
            decide_thresholds(p, labels, snr, {"rule": "accuracy"})[0][0],
        )
    assert chosen[200][0] == chosen[2000][0] == 0.5  # noise reaches 0.495: the lowest grid step above it
    # maximum accuracy moves with the mix: pulses rarer than noise in the overlap 0.2-0.5, then more common
    assert chosen[200][1] == 0.5 and chosen[2000][1] == 0.2


def test_threshold_rule_errors_name_the_setting(caplog):
    from twins.pulsar.train import decide_thresholds, false_alarm_threshold

    labels = np.array([[1, 0, 0]] * 10)
    with pytest.raises(ValueError, match="pulse_threshold.*no frame without pulse signal"):
        decide_thresholds(
            np.full((10, 3), 0.5), labels, np.full(10, 9.0), {"rule": "false_alarm", "max_false_alarm_rate": 0.01}
        )
    with pytest.raises(ValueError, match="pulse_threshold.rule"):
        decide_thresholds(np.full((10, 3), 0.5), labels, np.zeros(10), {"rule": "recall"})
    # a budget no threshold meets: the highest one, with a warning
    found = false_alarm_threshold(np.ones(10), np.zeros(10), 0.01)
    assert found["threshold"] == 0.95 and found["validation_false_alarm_rate"] == 1.0
    assert "no pulse threshold" in caplog.text


SCHEMA = REPO / "workflow/schemas/pulsar.schema.yaml"


def _default_config():
    import yaml

    from twins.core.config import validate_config

    return validate_config(
        yaml.safe_load((REPO / "config/config.yaml").read_text()), REPO / "workflow/schemas/config.schema.yaml"
    )


def test_train_by_model_overrides_one_model_key_by_key():
    from twins.pulsar.workflow import model_train_settings

    config = _default_config()
    config["pulsar"]["train_by_model"] = {"rfigen": {"dedispersion": {"partial_tracks": False}, "epochs": 3}}
    shared, rfigen = (model_train_settings(config, model, SCHEMA) for model in ("dt", "rfigen"))
    assert shared == config["pulsar"]["train"] and shared["dedispersion"]["partial_tracks"] is True
    assert rfigen["dedispersion"] == {**shared["dedispersion"], "partial_tracks": False} and rfigen["epochs"] == 3
    assert {k: v for k, v in rfigen.items() if k not in ("dedispersion", "epochs")} == {
        k: v for k, v in shared.items() if k not in ("dedispersion", "epochs")
    }


@pytest.mark.parametrize(
    "override, message",
    [
        ({"nomodel": {"epochs": 3}}, r"train_by_model names \['nomodel'\], not in pulsar.models"),
        ({"rfigen": {"dedispersion": {"min_coverage": 0}}}, r"train_by_model.rfigen: dedispersion.min_coverage"),
        ({"rfigen": {"epoch": 3}}, r"train_by_model.rfigen: train: .*'epoch'"),
    ],
)
def test_train_by_model_errors_name_the_key(override, message):
    from twins.pulsar.workflow import model_train_settings

    config = _default_config()
    config["pulsar"]["train_by_model"] = override
    with pytest.raises(ValueError, match=message):
        model_train_settings(config, "rfigen", SCHEMA)
