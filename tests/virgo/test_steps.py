"""The virgo steps on a tiny simulation: the files each writes, chained simulate -> ... -> report."""

import json

import h5py
import numpy as np
import pytest

from tests.virgo.settings import ASD_FILE, CHANNELS_FILE, GW150914, PREPROCESS
from twins.core.config import ConfigError, defaults
from twins.core.io import get_provenance
from twins.virgo import steps
from twins.virgo.io import read_catalogue, read_detector, read_gwosc, read_segments, read_tframe


def test_simulate_writes_gwosc_layout_catalogue_and_provenance(tmp_path, simulate_settings):
    out = tmp_path / "detector.h5"
    steps.simulate(
        {"asd": str(ASD_FILE), "channels": str(CHANNELS_FILE)},
        {"detector": str(out), "catalogue": str(tmp_path / "catalogue.csv")},
        {"simulate": simulate_settings, "seed": 42},
    )
    strain = read_gwosc(out)  # the GWOSC reader reads our files too
    assert strain.t0 == simulate_settings["gps_start"] and strain.dt == 1 / 4096
    strain2, aux = read_detector(out)
    assert aux[0].unit == "m" and aux[0].name == "V1:SBE_SDB1_LVDT_Z"
    with h5py.File(out) as f:
        assert f["strain/Strain"].attrs["Xspacing"] == 1 / 4096
        catalogue, coupled = read_catalogue(f["catalogue"])
    assert len(catalogue) == 8 and len(coupled) == 4
    record = get_provenance(out)
    assert record["step"] == "virgo_simulate" and record["master_seed"] == 42 and len(record["inputs"]) == 2


def test_segments_are_six_seconds_around_the_catalogue(chain):
    d, _ = chain
    segments = read_segments(d / "segments.h5")
    assert len(segments) == 8 and segments.duration == pytest.approx(6.0)
    assert segments.strain.shape == (8, 6 * 4096) and segments.aux.shape == (8, 8, 6 * 1024)
    offset = segments.meta["gps"].to_numpy() - segments.t0
    assert np.all((offset > 2.4) & (offset < 3.6))  # glitch time within the segment, shifted by <= 0.5 s
    assert get_provenance(d / "segments.h5")["upstream"]["step"] == "virgo_simulate"


def test_convert_rejects_short_segments(chain):
    d, _ = chain
    with pytest.raises(ConfigError, match=r"virgo\.convert\.segment_duration_s.*minimum 6"):
        steps.convert(
            {"detector": str(d / "detector.h5")},
            {"segments": str(d / "short.h5")},
            {"convert": {"segment_duration_s": 4.0, "offset_s": 0.5}, "seed": 42},
        )


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


def test_train_generate_validate_report_run(chain, train_settings):
    d, out = chain
    model = {"model": str(d / "model.pt"), "history": str(d / "hist.csv"), "losses": str(d / "losses.png")}
    steps.train(
        {"train": str(out["train"]), "validation": str(out["validation"])},
        model,
        {"train": train_settings, "seed": 42, "device": "cpu", "checkpoint": str(d / "ck.pt")},
    )
    assert (d / "losses.png").stat().st_size > 1000
    generated = {"generated": str(d / "generated.h5"), "timing": str(d / "timing.json")}
    steps.generate(
        {"model": model["model"], "test": str(out["test"]), "segments": str(d / "segments.h5"), "asd": str(out["asd"])},
        generated,
        {"generate": {"batch_size": 4, "latency_segments": 2}, "preprocess": PREPROCESS, "device": "cpu"},
    )
    timing = json.loads((d / "timing.json").read_text())["latency"]
    assert timing["segments"] == 2 and timing["real_time_factor"] > 0
    validated = {"metrics": str(d / "metrics.json"), "curves": str(d / "curves.csv")}
    steps.validate(
        {"generated": generated["generated"], "selection": str(out["selection"]), "timing": generated["timing"]},
        validated,
        {"validate": {"snr_thresholds": [3, 6], "min_cluster_pixels": 32}},
    )
    metrics = json.loads((d / "metrics.json").read_text())
    assert set(metrics["accuracy"]) == {"snr_3", "snr_6"}
    for a in metrics["accuracy"].values():
        assert 0 <= a["veto_accuracy"] <= 1 and 0 <= a["denoising_accuracy"] <= 1
    assert metrics["channel_selection"]["recall"] > 0
    figures = {name: str(d / f"{name}.{suffix}") for name, suffix in (("summary", "html"), ("examples", "png"))}
    steps.report(
        {**validated, "generated": generated["generated"], "ranking": str(out["ranking"])},
        {**figures, "accuracy": str(d / "accuracy.png")},
        {"report": {**defaults("virgo.report"), "n_examples": 2}},
    )
    html = (d / "summary.html").read_text()
    assert "V1:SBE_SDB1_LVDT_Z" in html and "Latency" in html and "seeds 0.85" in html


@pytest.mark.skipif(not GW150914.exists(), reason="shared GW150914 file not available (../shared/data/gw)")
def test_qscan_finds_the_gw150914_chirp(tmp_path):
    out = {"qscan": str(tmp_path / "qscan.png"), "qscan_json": str(tmp_path / "qscan.json")}
    steps.qscan({"gwosc": str(GW150914)}, out, {"report": defaults("virgo.report"), "preprocess": PREPROCESS})
    qscan = json.loads((tmp_path / "qscan.json").read_text())
    assert abs(qscan["peak_gps"] - 1126259462.4) < 0.1 and 30 < qscan["peak_frequency_hz"] < 400
    assert qscan["peak_snr"] > 6 and (tmp_path / "qscan.png").stat().st_size > 1000
