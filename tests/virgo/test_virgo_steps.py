"""The library steps chained on a tiny simulation: convert, preprocess, train (resume), generate, validate."""

import json

import numpy as np
import pytest
import torch

from tests.virgo.virgo_fixtures import ASD_FILE, CHANNELS_FILE, PREPROCESS, SIMULATE
from twins.core.io import get_provenance
from twins.virgo.generate import run_generate
from twins.virgo.glitchflow import AttentionGate, GlitchFlow
from twins.virgo.preprocess import read_tframe, run_preprocess
from twins.virgo.segments import read_segments, run_convert
from twins.virgo.simulate import run_simulate
from twins.virgo.train import learning_rate, spectrogram_l1, train_glitchflow
from twins.virgo.validate import run_validate

torch.set_num_threads(1)  # tiny models: threads only contend on the shared CPUs
TRAIN = {"epochs": 2, "batch_size": 4, "learning_rate": 3e-3, "channels": [4, 8]}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("virgo")
    run_simulate(SIMULATE, ASD_FILE, CHANNELS_FILE, 42, d / "detector.h5", d / "catalogue.csv")
    run_convert({"segment_duration_s": 6.0, "offset_s": 0.5}, d / "detector.h5", 42, d / "segments.h5")
    out = {k: d / f"{k}.h5" for k in ("train", "validation", "test", "asd")}
    out.update(ranking=d / "ranking.csv", selection=d / "selection.json")
    run_preprocess(PREPROCESS, d / "segments.h5", 42, out)
    return d, out


def test_segments_are_six_seconds_around_the_catalogue(chain):
    d, _ = chain
    segments = read_segments(d / "segments.h5")
    assert len(segments) == 8 and segments.duration == pytest.approx(6.0)
    assert segments.strain.shape == (8, 6 * 4096) and segments.aux.shape == (8, 8, 6 * 1024)
    offset = segments.meta["gps"].to_numpy() - segments.t0
    assert np.all((offset > 2.4) & (offset < 3.6))  # glitch time within the segment, shifted by <= 0.5 s
    assert get_provenance(d / "segments.h5")["upstream"]["step"] == "virgo_simulate"


def test_preprocess_selects_the_bench_witnesses_and_writes_tframes(chain):
    _, out = chain
    selection = json.loads(out["selection"].read_text())
    assert set(selection["selected"]) <= set(selection["channels"])
    assert set(selection["selected"]) & set(selection["coupled_truth"])
    train = read_tframe(out["train"])
    k, p, r = len(train.channels), len(train.fringe_channels), len(train.power_channels)
    assert set(train.fringe_channels) <= set(train.channels)  # displacement / velocity witnesses only
    assert set(train.power_channels) <= set(train.channels)  # scattered-light power monitors only
    assert train.inputs.shape == (len(train), 2 * k + p + r, 64, 64) and train.target.shape == (len(train), 64, 64)
    assert np.all(train.target >= 0) and np.all(np.abs(train.inputs[:, 1 : 2 * k : 2]) <= np.pi + 1e-6)
    fringe = train.inputs[:, 2 * k : 2 * k + p]
    assert np.all((fringe >= 0) & (fringe <= 1 + 1e-6))
    field = train.inputs[:, 2 * k + p :]
    assert np.all(field >= 0) and np.all(field == field[:, :, :1, :])  # one value per time bin
    sizes = [len(read_tframe(out[s])) for s in ("train", "validation", "test")]
    assert sizes == [4, 2, 2]
    assert (read_tframe(out["test"]).meta.label == "glitch").sum() == 1  # stratified split


def test_glitchflow_shapes_and_attention():
    model = GlitchFlow(n_aux=2, channels=[4, 8, 8], n_fringe=1, n_power=1)
    x = torch.rand(3, 6, 32, 32)
    y = model(x)
    assert y.shape == (3, 32, 32) and torch.all(y >= 0)
    # 3 maps per channel, fringe, log1p(field), fringe x field, frequency coordinate
    assert model.condition(x).shape == (3, 3 * 2 + 1 + 1 + 1 + 1, 32, 32)
    gate = AttentionGate(4, 4, 2)
    skip = torch.rand(1, 4, 8, 8)
    assert gate(skip, torch.zeros(1, 4, 8, 8)).shape == skip.shape
    with pytest.raises(ValueError, match="expects 6 input maps"):
        model(torch.rand(1, 5, 32, 32))


def test_glitchflow_learns_to_map_a_witness_blob_to_the_strain():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = np.zeros((8, 2, 16, 16), np.float32)
    y = np.ones((8, 16, 16), np.float32)
    for i in range(8):
        t = rng.integers(2, 12)
        x[i, 0, 2:4, t : t + 3] = 20.0  # low-frequency witness transient
        y[i, 8:12, t : t + 3] = 5.0  # arch higher up in the strain at the same time
    model = GlitchFlow(1, [8, 16, 16])
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    first = None
    for _ in range(100):
        loss = torch.nn.functional.l1_loss(model(xt), yt)
        first = first or loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first


def test_train_resumes_from_checkpoint_and_generate_validate_run(chain):
    d, out = chain
    paths = dict(
        checkpoint_path=d / "ck.pt",
        out_model=d / "model.pt",
        out_history=d / "hist.csv",
        out_losses_png=d / "losses.png",
    )
    # a constant learning rate, so that raising `epochs` may resume (a cosine schedule would restart)
    constant = {**TRAIN, "lr_schedule": "constant"}
    train_glitchflow({**constant, "epochs": 1}, out["train"], out["validation"], 42, "cpu", **paths)
    train_glitchflow(constant, out["train"], out["validation"], 42, "cpu", **paths)  # resumes after epoch 0
    resumed = torch.load(d / "model.pt", weights_only=False)["model"]
    (d / "ck.pt").unlink()
    train_glitchflow(constant, out["train"], out["validation"], 42, "cpu", **paths)  # straight through
    straight = torch.load(d / "model.pt", weights_only=False)["model"]
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key])

    run_generate(
        {"batch_size": 4, "latency_segments": 2},
        PREPROCESS,
        d / "model.pt",
        out["test"],
        d / "segments.h5",
        out["asd"],
        "cpu",
        d / "generated.h5",
        d / "timing.json",
    )
    timing = json.loads((d / "timing.json").read_text())["latency"]
    assert timing["segments"] == 2 and timing["real_time_factor"] > 0
    run_validate(
        {"snr_thresholds": [3, 6], "min_cluster_pixels": 32},
        d / "generated.h5",
        out["selection"],
        d / "timing.json",
        d / "metrics.json",
        d / "curves.csv",
    )
    metrics = json.loads((d / "metrics.json").read_text())
    assert set(metrics["accuracy"]) == {"snr_3", "snr_6"}
    for a in metrics["accuracy"].values():
        assert 0 <= a["veto_accuracy"] <= 1 and 0 <= a["denoising_accuracy"] <= 1
    assert metrics["channel_selection"]["recall"] > 0


def test_convert_rejects_short_segments(chain):
    d, _ = chain
    with pytest.raises(ValueError, match="segment_duration_s must be >= 6"):
        run_convert({"segment_duration_s": 4.0, "offset_s": 0.5}, d / "detector.h5", 42, d / "short.h5")


def test_l1_domains_and_cosine_schedule():
    real, generated = torch.tensor([[1.0, 10.0]]), torch.tensor([[2.0, 9.0]])
    assert spectrogram_l1(generated, real).item() == pytest.approx(1.0)  # |1| and |1| in amplitude
    assert spectrogram_l1(generated, real, "energy").item() == pytest.approx((3 + 19) / 2)  # loud tile counts more
    with pytest.raises(ValueError, match="loss_domain"):
        spectrogram_l1(generated, real, "log")
    rates = [learning_rate(1e-3, i, 10) for i in range(10)]
    assert rates[0] == pytest.approx(1e-3) and all(a > b for a, b in zip(rates, rates[1:])) and rates[-1] > 0
    assert learning_rate(1e-3, 7, 10, "constant") == 1e-3


def test_cosine_schedule_does_not_resume_when_epochs_change(chain, caplog):
    """The cosine rate of an epoch depends on `epochs`: a checkpoint of a 1-epoch run cannot continue a 2-epoch one."""
    d, out = chain
    paths = dict(
        checkpoint_path=d / "ck_cos.pt",
        out_model=d / "m_cos.pt",
        out_history=d / "h_cos.csv",
        out_losses_png=d / "l_cos.png",
    )
    cosine = {**TRAIN, "lr_schedule": "cosine"}
    train_glitchflow({**cosine, "epochs": 1}, out["train"], out["validation"], 42, "cpu", **paths)
    with caplog.at_level("INFO", logger="twins.core.training"):
        train_glitchflow(cosine, out["train"], out["validation"], 42, "cpu", **paths)
    assert "resuming from" not in caplog.text
