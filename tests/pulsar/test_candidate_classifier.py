"""The FETCH-style candidate classifier (twins.pulsar.models.candidate_classifier): it learns dispersed pulses
from noise, zero-DM impulses and narrow-band lines on small synthetic image sets; a killed training resumes to
the same weights; the model file round-trips; the threshold rule; the training-set errors name file and dataset."""

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from twins.core.io import InputFileError
from twins.pulsar.candidates import candidate_images
from twins.pulsar.dispersion import dispersion_delay
from twins.pulsar.models import candidate_classifier, get_model
from twins.pulsar.models.candidate_classifier.network import CandidateClassifier, load_classifier
from twins.pulsar.models.candidate_classifier.thresholds import choose_threshold
from twins.pulsar.models.candidate_classifier.train import shift_time, train_classifier

torch.set_num_threads(1)

NCHANS, TSAMP, SPACING = 64, 1e-3, 400
FREQS = 1500.0 - 300.0 / NCHANS * (np.arange(NCHANS) + 0.5)
IMAGES = {"n_freq": 32, "n_time": 32, "n_dm": 32}
SETTINGS = {"channels": [4, 8], "hidden": 16, "dropout": 0.0, "epochs": 8, "batch_size": 32, "learning_rate": 3e-3}
SETTINGS["snr_feature"] = False  # images alone: what these tests are about
PULSE, NOISE, IMPULSE, LINE = range(4)


def synthetic_set(path, n_per_kind, seed):
    """A training-set HDF5 file of 4 n_per_kind candidates, one stream a kind: dispersed pulses (label 1, S/N
    8-25), noise, zero-DM broad-band impulses and narrow-band lines (label 0) at random DMs 20-120 and widths
    2-8 samples. Returns the kinds (n,)."""
    rng = np.random.default_rng(seed)
    kinds = rng.permutation(np.repeat(np.arange(4), n_per_kind))
    n = len(kinds)
    data = rng.standard_normal((SPACING * (n + 1), NCHANS), dtype=np.float32)
    samples, widths = SPACING * (np.arange(n) + 1) - 150, 2 ** rng.integers(1, 4, n)
    dms, snr = rng.uniform(20, 120, n), rng.uniform(8, 25, n)
    for i, (kind, w) in enumerate(zip(kinds, widths)):
        amplitude = snr[i] / np.sqrt(NCHANS * w)
        if kind == PULSE:
            arrival = samples[i] - w // 2 + np.rint(dispersion_delay(dms[i], FREQS, FREQS.max()) / TSAMP)
            for c, t in enumerate(arrival.astype(int)):
                data[t : t + w, c] += amplitude
        elif kind == IMPULSE:
            data[samples[i] - w // 2 : samples[i] - w // 2 + w] += amplitude
        elif kind == LINE:
            c = rng.integers(0, NCHANS - 2)
            data[samples[i] - 150 : samples[i] + 250, c : c + 2] += rng.uniform(0.5, 1.5)
    table = pd.DataFrame({"sample": samples, "dm": dms, "width": widths})
    ft, dmt = candidate_images(data, FREQS, TSAMP, table, IMAGES)
    label = (kinds == PULSE).astype(np.uint8)
    with h5py.File(path, "w") as f:
        f["ft"], f["dmt"], f["label"] = ft.astype(np.float16), dmt.astype(np.float16), label
        f["snr"] = (snr + rng.normal(0, 1, n)).astype(np.float32)
        f["injected_snr"] = np.where(label == 1, snr, np.nan).astype(np.float32)
    return kinds


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("candidates")
    kinds = synthetic_set(root / "train.h5", 75, 0), synthetic_set(root / "val.h5", 25, 1)
    return root, kinds


@pytest.fixture(scope="module")
def trained(sets):
    root, _ = sets
    summary = train_classifier(
        root / "train.h5", root / "val.h5", SETTINGS, 1, "cpu", root / "a.pt", root / "a_model.pt", root / "a.csv"
    )
    return root, summary


def test_learns_pulses_from_noise_impulses_and_lines(sets, trained):
    root, (_, val_kinds) = sets
    _, summary = trained
    history = pd.read_csv(root / "a.csv")
    assert history["val_loss"].iloc[-1] < 0.5 * history["val_loss"].iloc[0]
    model, meta = candidate_classifier.load(root / "a_model.pt")
    with h5py.File(root / "val.h5") as f:
        ft, dmt, label = f["ft"][...], f["dmt"][...], f["label"][...]
    p = candidate_classifier.predict(model, ft, dmt)
    accepted = candidate_classifier.decide(p, meta)
    assert (accepted == (label == 1)).mean() >= 0.95
    for kind in (NOISE, IMPULSE, LINE):  # each kind of negative is rejected
        assert accepted[val_kinds == kind].mean() <= 0.1, kind
    assert meta["threshold"] == summary["threshold"] and meta["validation"]["accuracy"] >= 0.95
    assert meta["threshold_choice"]["rule"] == "zero_false_alarms" and meta["validation"]["false_alarms"] == 0
    assert meta["threshold_choice"]["recall_snr_source"] == "injected_snr"
    assert np.array_equal(candidate_classifier.decide(p, meta, 0.0), np.ones(len(p), dtype=bool))
    with pytest.raises(ValueError, match="probability in \\[0, 1\\] or 'validation'"):
        candidate_classifier.decide(p, meta, 1.5)


def test_model_file_round_trips_and_names_the_rule(trained, tmp_path):
    root, _ = trained
    assert get_model("candidate_classifier") is candidate_classifier and get_model().MODEL == "frame_classifier"
    model, meta = load_classifier(root / "a_model.pt")
    again, meta_again = load_classifier(root / "a_model.pt")
    x = torch.randn(5, 32, 32)
    assert torch.equal(model(x, x), again(x, x)) and meta == meta_again
    assert meta["images"] == IMAGES and meta["provenance"]["step"] == candidate_classifier.WRITER
    assert meta["settings"]["channels"] == [4, 8] and not model.training
    with pytest.raises(ValueError, match="trained on"):  # images of another size
        candidate_classifier.predict(model, np.zeros((2, 64, 32)), np.zeros((2, 32, 32)))
    with pytest.raises(InputFileError, match=r"missing\.pt.*pulsar_train_candidates"):
        load_classifier(tmp_path / "missing.pt")
    with pytest.raises(InputFileError, match="frame_classifier"):  # another model's file
        get_model("frame_classifier").load(root / "a_model.pt")


def test_a_killed_training_resumes_to_the_same_weights(sets, trained):
    root, _ = sets
    args = dict(train_h5=root / "train.h5", validation_h5=root / "val.h5", seed=1, device="cpu")
    short = {**SETTINGS, "epochs": 3}
    train_classifier(
        settings=short, checkpoint_path=root / "c.pt", out_model=root / "c.pt_m", out_history=root / "c.csv", **args
    )
    # two epochs, then "killed": a rerun asking for three resumes and ends with the same weights
    for epochs in (2, 3):
        train_classifier(
            settings={**short, "epochs": epochs},
            checkpoint_path=root / "d.pt",
            out_model=root / "d.pt_m",
            out_history=root / "d.csv",
            **args,
        )
    c, _ = load_classifier(root / "c.pt_m")
    d, _ = load_classifier(root / "d.pt_m")
    for pc, pd_ in zip(c.state_dict().values(), d.state_dict().values()):
        torch.testing.assert_close(pc, pd_)
    # another threshold rule is a new choice on the same weights, not a new training
    history = pd.read_csv(root / "c.csv")
    summary = train_classifier(
        settings={**short, "min_recall": 1.0, "max_false_alarm_rate": 0.1},
        checkpoint_path=root / "c.pt",
        out_model=root / "e.pt_m",
        out_history=root / "e.csv",
        **args,
    )
    e, meta = load_classifier(root / "e.pt_m")
    assert all(torch.equal(a, b) for a, b in zip(c.state_dict().values(), e.state_dict().values()))
    pd.testing.assert_frame_equal(pd.read_csv(root / "e.csv"), history)
    assert meta["threshold_choice"]["max_false_alarm_rate"] == 0.1 and summary["epochs"] == 3


def test_threshold_is_zero_false_alarms_when_recall_allows_else_the_budget():
    settings = {"max_false_alarm_rate": 0.1, "min_recall_snr": 7.0, "min_recall": 0.99}
    labels = np.array([0] * 100 + [1] * 100)
    snr = np.concatenate([np.full(100, np.nan), np.full(90, 12.0), np.full(10, 4.0)])
    p = np.concatenate([np.linspace(0.0, 0.4, 100), np.full(90, 0.9), np.full(10, 0.2)])
    t, choice, found = choose_threshold(p, labels, snr, settings)
    # separable above S/N 7: the faint pulses (S/N 4) among the negatives do not count against the recall
    assert 0.4 < t <= 0.9 and choice["rule"] == "zero_false_alarms"
    assert found["false_alarms"] == 0 and found["recall_strong"] == 1.0 and found["recall"] == 0.9
    p[:5] = 0.95  # five confident negatives: zero false alarms costs all the recall, the budget allows ten
    t, choice, found = choose_threshold(p, labels, snr, {**settings, "priority": "false_alarms"})
    assert choice["rule"] == "false_alarm_budget" and choice["zero_false_alarm_recall"] == 0.0
    assert 0.4 < t <= 0.9 and found["false_alarm_rate"] == 0.05 and found["recall_strong"] == 1.0
    p[5:15] = 0.95  # fifteen: the budget would cost the recall; priority recall keeps it and records the cost
    t, choice, found = choose_threshold(p, labels, snr, settings)
    assert choice["rule"] == "recall_target" and choice["priority"] == "recall"
    assert found["recall_strong"] == 1.0 and found["false_alarms"] == 15 and t == 0.9
    with pytest.raises(ValueError, match="it needs both"):
        choose_threshold(p[100:], labels[100:], snr[100:], settings)


def test_a_training_set_without_dmt_is_named(tmp_path):
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["ft"], f["label"], f["snr"] = np.zeros((4, 8, 8)), np.zeros(4, dtype=np.uint8), np.zeros(4)
    with pytest.raises(InputFileError, match=r"bad\.h5.*missing dataset\(s\) \['dmt'\]"):
        train_classifier(
            tmp_path / "bad.h5", tmp_path / "bad.h5", SETTINGS, 1, "cpu", tmp_path / "c", tmp_path / "m", tmp_path / "h"
        )


def test_time_shift_augmentation_and_the_snr_input():
    images = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(2, 3, 5)
    shifted = shift_time(images, torch.tensor([1, -2]))
    assert torch.equal(shifted[0], torch.roll(images[0], 1, dims=1))
    assert torch.equal(shifted[1], torch.roll(images[1], -2, dims=1))
    model = CandidateClassifier((4,), 8, snr_feature=True).eval()
    x = torch.randn(3, 16, 16)
    assert model(x, x, torch.tensor([5.0, 10.0, 100.0])).shape == (3,)
    with pytest.raises(ValueError, match="snr_feature"):
        model(x, x)
