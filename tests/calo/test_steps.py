"""The steps behind the rules (twins.calo.steps), called as the rule scripts call them: plain dicts of files and
params, no Snakemake."""

import json

import h5py
import numpy as np
import pytest

from tests.calo.calo_samples import REPO, TOY_GEOMETRY, toy_showers
from twins.calo import steps
from twins.calo.geometry import load_geometry
from twins.calo.io import (
    iterate_root_showers,
    read_root_metadata,
    read_showers_h5,
    write_showers_h5,
    write_showers_root,
)
from twins.calo.simulators import chunk_events
from twins.calo.transform import ShowerTransform
from twins.core.config import defaults
from twins.core.io import get_provenance

SIMULATE = {
    "backend": "gflash",
    "events": 10,
    "chunks": 3,
    "particle": "e-",
    "energy_gev": {"spectrum": "uniform", "min": 10, "max": 20},
    "incidence_angle_deg": {"min": 0, "max": 10},
}
PREPROCESS = {
    "cell_threshold_gev": 1e-3,
    "power": 0.85,
    "cell_scale": 1.0,
    "normalise_by_incident": False,
    "energy_scale_gev": 100.0,
    "split": {"train": 0.6, "validation": 0.2, "test": 0.2},
}
SPLITS = ("train", "validation", "test")


def test_chunk_events_spread_the_total():
    assert [chunk_events(7, 3, k) for k in range(3)] == [3, 2, 2]
    assert sum(chunk_events(1000, 7, k) for k in range(7)) == 1000
    with pytest.raises(ValueError, match="calo.simulate.chunks"):
        chunk_events(10, 2, 2)


def test_simulate_chunks_have_distinct_seeds_and_provenance(tmp_path):
    geometry = REPO / "resources/calo/geometry_pbwo4.yaml"
    for k in (0, 1):
        steps.simulate(
            {"geometry": str(geometry)},
            {"showers": str(tmp_path / f"c{k}.root"), "timing": str(tmp_path / f"c{k}.json")},
            {"simulate": SIMULATE, "seed": 42, "chunk": k},
        )
    meta = read_root_metadata(tmp_path / "c0.root")
    assert meta["entries"] == 4 and read_root_metadata(tmp_path / "c1.root")["entries"] == 3
    energies = [
        np.concatenate([s.energy for s in iterate_root_showers(p, step_size=10)])
        for p in (tmp_path / "c0.root", tmp_path / "c1.root")
    ]
    assert not np.isin(energies[0], energies[1]).any()
    assert meta["provenance"]["chunk"] == 0 and meta["provenance"]["config"] == SIMULATE
    assert str(geometry) in meta["provenance"]["inputs"]
    timing = json.loads((tmp_path / "c1.json").read_text())
    assert timing["showers"] == 3 and timing["backend"] == "gflash" and timing["showers_per_second"] > 0


def test_convert_merges_the_simulated_chunks_and_their_timings(tmp_path):
    chunks, timings = [], []
    for k, n in enumerate((6, 4)):
        chunks.append(str(tmp_path / f"chunk_{k}.root"))
        write_showers_root(chunks[-1], toy_showers(n, seed=k), TOY_GEOMETRY, {"chunk": k})
        timings.append(str(tmp_path / f"chunk_{k}.json"))
        (tmp_path / f"chunk_{k}.json").write_text(json.dumps({"showers": n, "seconds": 1.0 + k}))
    outputs = {"showers": str(tmp_path / "showers.h5"), "timing": str(tmp_path / "timing.json")}
    steps.convert({"showers": chunks, "timing": timings}, outputs, {"convert": defaults("calo.convert")})
    assert json.loads((tmp_path / "timing.json").read_text()) == [
        {"showers": 6, "seconds": 1.0},
        {"showers": 4, "seconds": 2.0},
    ]
    merged = read_showers_h5(tmp_path / "showers.h5")
    np.testing.assert_array_equal(merged.cells[6:], toy_showers(4, seed=1).cells)
    assert [u["chunk"] for u in get_provenance(tmp_path / "showers.h5")["upstream"]] == [0, 1]


def _preprocess(source, outs):
    steps.preprocess(
        {"showers": str(source)}, {k: str(v) for k, v in outs.items()}, {"preprocess": PREPROCESS, "seed": 7}
    )


def test_preprocess_writes_splits_with_transform_and_provenance(tmp_path):
    source = tmp_path / "showers.h5"
    sample = toy_showers(50)
    write_showers_h5(source, sample, TOY_GEOMETRY, {"step": "calo_convert"})
    outs = {k: tmp_path / f"{k}.h5" for k in SPLITS}
    _preprocess(source, outs)
    counts = {k: len(read_showers_h5(outs[k])) for k in SPLITS}
    assert counts == {"train": 30, "validation": 10, "test": 10}
    with h5py.File(outs["test"]) as f:
        transform = ShowerTransform(**json.loads(f.attrs["transform"]))
        x, showers, energy = f["x"][...], f["showers"][...], f["energy"][...]
        assert f["conditions"].shape == (10, 2)
        np.testing.assert_allclose(f["conditions"][:, 0], energy / 100.0, rtol=1e-6)
        assert list(f) == ["showers", "x", "conditions", "energy", "theta", "pdg"] and f.attrs["split"] == "test"
    assert showers.min() == 0 or showers[showers > 0].min() >= 1e-3  # threshold applied
    np.testing.assert_allclose(transform.inverse(x, energy), showers, rtol=1e-4, atol=1e-6)
    assert get_provenance(outs["test"])["config"] == PREPROCESS
    before = outs["train"].read_bytes()
    _preprocess(source, outs)
    assert outs["train"].read_bytes() == before  # same input and seed: identical file


def test_validate_writes_metrics_and_every_figure(tmp_path):
    """The validate step's wiring: the files, the simulator's and generator's speeds, the model's name, the
    job's threads and the figures the rule declares."""
    files = {"reference": toy_showers(60, seed=1), "independent": toy_showers(70, seed=2)}
    files["generated"] = toy_showers(60, seed=3)
    files["generated"].energy = files["reference"].energy
    geometry = {**load_geometry(REPO / "resources/calo/geometry_pbwo4.yaml").to_dict(), "nx": 4, "ny": 4, "nz": 6}
    inputs = {}
    for name, sample in files.items():
        inputs[name] = str(tmp_path / f"{name}.h5")
        write_showers_h5(inputs[name], sample, geometry, {})
    timings = [{"showers": 30, "seconds": 3.0}, {"showers": 30, "seconds": 1.0}]  # what calo_convert gathers
    (tmp_path / "sim.json").write_text(json.dumps(timings))
    (tmp_path / "gen.json").write_text(json.dumps({"showers": 60, "showers_per_second": 150.0}))
    inputs |= {"simulate_timing": str(tmp_path / "sim.json")}
    inputs |= {"generate_timing": str(tmp_path / "gen.json")}
    names = ("e_ratio", "n_hit", "average_shower")
    outputs = {name: str(tmp_path / "out" / f"{name}.png") for name in names}
    outputs["metrics"] = str(tmp_path / "out" / "metrics.json")
    settings = {
        **defaults("calo.validate"),
        "n_bins": 8,
        "classifier": {"max_iter": 10, "nn": {"epochs": 2}},
        "fpd": {"min_samples": 10, "max_samples": 30, "num_points": 3, "num_batches": 2},
        "kpd": {"batch_size": 10, "num_batches": 2},
    }
    steps.validate(inputs, outputs, {"validate": settings, "seed": 3, "model": "toy"}, threads=2)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["model"] == "toy" and metrics["conditions_matched"] is True
    assert metrics["summary"]["speed_ratio"] == pytest.approx(150.0 / 15.0)
    assert metrics["settings"]["classifier"]["n_threads"] == 2
    assert metrics["floor"]["n_generated"] == 60 and metrics["provenance"]["step"] == "calo_validate"
    assert all((tmp_path / "out" / f"{name}.png").stat().st_size > 0 for name in names)


def test_report_collects_the_models_in_order(tmp_path):
    paths = []
    for model, sp in (("gan3d", 0.2), ("caloinn", 0.1)):
        paths.append(str(tmp_path / f"{model}.json"))
        (tmp_path / f"{model}.json").write_text(json.dumps({"summary": {"separation_power_e_ratio": sp}}))
    outputs = {"table": str(tmp_path / "m.html"), "csv": str(tmp_path / "m.csv")}
    steps.report({"metrics": paths}, outputs, {"models": ["gan3d", "caloinn"]})
    assert (tmp_path / "m.csv").read_text().splitlines()[0] == "feature,metric,gan3d,caloinn"
    assert "Quality goals" in (tmp_path / "m.html").read_text()
