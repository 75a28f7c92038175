"""The frame classifier (twins.pulsar.models.frame_classifier): multi-label sigmoid outputs trained with
BCEWithLogits, checkpoint/resume, thresholds chosen on validation frames, the model file; and its
single-pulse search parts: the dedispersion branch, partial-track DM-time plane, matched-filter S/N
statistic, time-sample clipping, and their configuration errors."""

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from tests.pulsar.real_data import REPO
from twins.core.io import InputFileError
from twins.pulsar.models import frame_classifier, get_model
from twins.pulsar.models.frame_classifier.classify import predict_probabilities
from twins.pulsar.models.frame_classifier.dedispersion import Dedispersion, boxcar_snr
from twins.pulsar.models.frame_classifier.network import FrameClassifier, load_classifier
from twins.pulsar.models.frame_classifier.thresholds import choose_thresholds, decide_thresholds, false_alarm_threshold
from twins.pulsar.models.frame_classifier.train import positive_weights, train_classifier

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
    a, _ = load_classifier(tmp_path / "a_model.pt")
    b, record = load_classifier(tmp_path / "b_model.pt")
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
    c, record = load_classifier(tmp_path / "c_model.pt")
    for pa, pc in zip(a.parameters(), c.parameters()):
        assert torch.equal(pa, pc)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "c.csv"), history)  # epoch times too: restored, not rerun
    assert record["threshold_choice"] == {"rule": "accuracy"}


def test_a_cosine_schedule_is_part_of_what_the_checkpoint_must_match(tmp_path, caplog):
    _toy(tmp_path / "train.h5", 48, 0)
    _toy(tmp_path / "val.h5", 24, 1)
    args = dict(
        train_h5=tmp_path / "train.h5", validation_h5=tmp_path / "val.h5", frames={"size": 32}, seed=1, device="cpu"
    )
    cosine = {**SETTINGS, "epochs": 2, "lr_schedule": "cosine"}
    train_classifier(
        settings=cosine,
        checkpoint_path=tmp_path / "a.pt",
        out_model=tmp_path / "a_m.pt",
        out_history=tmp_path / "a.csv",
        **args,
    )
    # the schedule spans the epoch budget: another budget is another training from epoch 0 (epoch 1 already ran
    # at another learning rate), not the 2-epoch run resumed
    train_classifier(
        settings={**cosine, "epochs": 3},
        checkpoint_path=tmp_path / "a.pt",
        out_model=tmp_path / "c_m.pt",
        out_history=tmp_path / "c.csv",
        **args,
    )
    first, longer = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "c.csv")
    assert len(longer) == 3 and longer["val_loss"].iloc[1] != first["val_loss"].iloc[1]


def test_dedispersion_branch_puts_a_dispersed_track_at_its_sweep():
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
    labels = np.array([[1, 0, 0]] * 50 + [[0, 1, 0]] * 50)
    p = np.zeros((100, 3))
    p[:50, 0] = 0.3  # the pulse class is under-confident: only a low threshold gets it right
    p[50:, 1] = 0.9
    t = choose_thresholds(p, labels)
    assert 0.05 <= t[0] <= 0.3 and 0.05 < t[1] <= 0.9 and t[2] == 0.5


def test_false_alarm_threshold_is_the_lowest_within_the_budget():
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


def _track_frame(top_arrival: float, sweep: float, amplitude: float, width: int = 8) -> np.ndarray:
    """A (1, 128, 128) frame with a dispersed boxcar pulse `width` pixels wide, f^-2 sweep over
    bottom/top 0.8, arriving at the top of the band at pixel `top_arrival` (may be negative)."""
    f = np.linspace(1.0, 0.8, 128)
    shape = (f**-2 - 1) / (0.8**-2 - 1)
    frame = np.zeros((1, 128, 128), dtype=np.float32)
    for c, t in enumerate(np.rint(top_arrival + sweep * shape).astype(int)):
        rows = np.arange(t, t + width)
        frame[0, rows[(rows >= 0) & (rows < 128)], c] = amplitude
    return frame


def test_boxcar_snr_recovers_an_injected_pulse():
    branch = Dedispersion(128, trials=32, partial_tracks=True, zero_dm=False)
    # injected S/N of a width-8 boxcar in 128 channels at unit pixel noise: a * 128 * 8 / sqrt(128 * 8)
    amplitude = 10.0 / np.sqrt(128 * 8)
    stat = boxcar_snr(branch(torch.as_tensor(_track_frame(30, 64, amplitude))))[0]
    assert stat.max().item() == pytest.approx(
        10.0, rel=0.15
    )  # trial grid, subband averaging and mean removal lose little
    assert stat.argmax().item() == pytest.approx(32 * 64 / 128, abs=2)  # at the trial of its sweep
    assert stat[0].item() < 0.6 * stat.max().item()  # not at zero DM
    # pure noise: unit-noise plane samples, and a search maximum of a few sigma, far below 10
    noise = branch(torch.randn(64, 128, 128))
    covered = branch.coverage_gain > 0
    assert noise[:, covered].std().item() == pytest.approx(1.0, abs=0.1)
    assert 3.0 < boxcar_snr(noise).amax(dim=1).median().item() < 5.5


def test_partial_track_is_found_only_with_partial_tracks():
    # arrives at the top of the band late in the frame and at mid-band after it ends: the frame holds
    # the upper ~56% of the channels
    frame = torch.as_tensor(_track_frame(66, 128, 10.0 / np.sqrt(128 * 8)))
    full = boxcar_snr(Dedispersion(128, partial_tracks=True, zero_dm=False)(frame)).max().item()
    clipped = boxcar_snr(Dedispersion(128, partial_tracks=False, zero_dm=False)(frame)).max().item()
    assert full > 1.5 * clipped and full > 0.8 * 10 * np.sqrt(0.56)  # S/N of the part, coverage-normalised


def test_partial_tracks_configuration_errors():
    with pytest.raises(ValueError, match="max_sweep_fraction <= 1"):
        Dedispersion(128, max_sweep_fraction=1.5, partial_tracks=True)
    with pytest.raises(ValueError, match="min_coverage"):
        Dedispersion(128, partial_tracks=True, min_coverage=0.0)


def test_snr_feature_widens_the_head_and_dropout_is_off_in_eval():
    options = {"trials": 16, "partial_tracks": True}
    plain = FrameClassifier((4, 8), dedispersion=options)
    with_snr = FrameClassifier((4, 8), dedispersion={**options, "snr_feature": True}, dropout=0.5).eval()
    assert with_snr.head.in_features == plain.head.in_features + 16 + 1
    x = torch.randn(3, 1, 128, 128)
    assert torch.equal(with_snr(x), with_snr(x))


def test_schema_rejects_bad_search_settings():
    import yaml

    from twins.core.config import validate_config

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["pulsar"]["train"]["dedispersion"] = {"min_coverage": 0}
    with pytest.raises(Exception, match="min_coverage"):
        validate_config(config, REPO / "workflow/schemas/config.schema.yaml")


def test_time_sample_clipping_removes_an_impulse_and_keeps_a_low_dm_pulse():
    rng = np.random.default_rng(5)
    noise = rng.standard_normal((1, 128, 128)).astype(np.float32)
    pulse = _track_frame(40, 12, 10.0 / np.sqrt(128 * 16), width=16)  # low DM: sweep 12 px, S/N 10
    impulse = np.zeros_like(noise)
    impulse[0, 100:102, :] = 3.0  # undispersed broad-band impulse, 2 pixels long
    common = {"trials": 32, "partial_tracks": True, "excise_channels": 6.0}
    clip = Dedispersion(128, zero_dm=False, impulse_clip=6.0, **common)
    zero_dm = Dedispersion(128, zero_dm=True, **common)
    frame = torch.as_tensor(noise + pulse + impulse)
    kept_clip = boxcar_snr(clip(frame))[0].max().item()
    kept_zero_dm = boxcar_snr(zero_dm(frame))[0].max().item()
    assert kept_clip > 6.0 and kept_clip > 1.5 * kept_zero_dm  # zero-DM removes much of a low-DM pulse
    # the impulse alone leaves nothing above the noise at zero DM once clipped
    assert boxcar_snr(clip(torch.as_tensor(noise + impulse)))[0, 0].item() < 5.0
    assert boxcar_snr(Dedispersion(128, zero_dm=False, **common)(torch.as_tensor(noise + impulse)))[0, 0].item() > 20


def test_group_clipping_removes_a_partial_band_impulse_and_keeps_a_low_dm_pulse():
    rng = np.random.default_rng(6)
    noise = rng.standard_normal((1, 128, 128)).astype(np.float32)
    impulse = np.zeros_like(noise)
    impulse[0, 100:108, :32] = 1.0  # undispersed impulse in the top quarter of the band: band-mean z 4, group z 8
    common = {"trials": 32, "excise_channels": 6.0, "zero_dm": False, "impulse_clip": 6.0}
    whole, grouped = Dedispersion(128, **common), Dedispersion(128, clip_groups=4, **common)
    frame = torch.as_tensor(noise + impulse)
    assert boxcar_snr(whole(frame))[0, 0].item() > 6.0  # escapes the whole-band clip
    assert boxcar_snr(grouped(frame))[0, 0].item() < 4.0
    pulse = _track_frame(40, 12, 10.0 / np.sqrt(128 * 16), width=16)  # low DM: sweep 12 px, S/N 10
    kept = boxcar_snr(grouped(torch.as_tensor(noise + pulse)))[0].max().item()
    assert kept > 0.95 * boxcar_snr(whole(torch.as_tensor(noise + pulse)))[0].max().item() and kept > 6.0
    with pytest.raises(ValueError, match="clip_groups"):
        Dedispersion(128, clip_groups=3, **common)


def test_model_file_is_the_one_format_and_names_the_rule_to_rerun(tmp_path):
    assert get_model() is frame_classifier and get_model("frame_classifier") is frame_classifier
    with pytest.raises(ValueError, match="unknown pulsar model"):
        get_model("resnet")
    # a file of the earlier format (a pickled record): refused without running it, naming the rule
    torch.save({"state_dict": FrameClassifier((4, 8)).state_dict(), "settings": SETTINGS}, tmp_path / "old.pt")
    with pytest.raises(InputFileError, match=r"old\.pt.*pulsar_train"):
        load_classifier(tmp_path / "old.pt")
    with pytest.raises(InputFileError, match=r"missing\.pt.*pulsar_train"):
        load_classifier(tmp_path / "missing.pt")
