"""CaloINN's sampling: the temperature scales only the cell fractions' noise, narrows their fluctuations, is chosen
as the FPD minimum on the validation split, and is recorded where the workflow's generation writes its timing;
generated features are clipped to the training showers' range."""

from __future__ import annotations

import dataclasses
import json

import h5py
import numpy as np
import pytest
import torch

import twins.calo.train_caloinn as train_caloinn_module
from tests.calo.calo_samples import REPO, toy_showers
from twins.calo.caloinn import CaloINNPreprocessing
from twins.calo.generation_step import generate_to_file
from twins.calo.geometry import load_geometry
from twins.calo.temperature import check_sampling_settings, choose_temperature
from twins.calo.train_caloinn import generate_caloinn, load_caloinn, train_caloinn

THRESHOLD = 1.0e-4
TINY = {
    "epochs": 2,
    "batch_size": 16,
    "blocks": 2,
    "hidden_features": [16],
    "bins": 4,
    "noise_level_gev": 5e-5,
    "shape_flow": "layerwise",
    "shape_flow_previous_layer": True,
}


def _write_split(path, sample) -> None:
    """A preprocessed split with a full geometry attribute (the temperature scan computes the features)."""
    geometry = load_geometry(REPO / "resources/calo/geometry_pbwo4.yaml")
    nx, ny, nz = sample.cells.shape[1:]
    geometry = dataclasses.replace(geometry, nx=nx, ny=ny, nz=nz)
    with h5py.File(path, "w") as f:
        f["showers"], f["energy"], f["theta"], f["pdg"] = sample.cells, sample.energy, sample.theta, sample.pdg
        f.attrs["geometry"] = json.dumps(geometry.to_dict())
        f.attrs["transform"] = json.dumps({"cell_threshold_gev": THRESHOLD})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("temperature")
    _write_split(d / "train.h5", toy_showers(64, seed=1))
    _write_split(d / "validation.h5", toy_showers(40, seed=2))
    _write_split(d / "test.h5", toy_showers(40, seed=3))
    train_caloinn(
        d / "train.h5",
        TINY,
        5,
        d / "model.pt",
        d / "history.csv",
        d / "checkpoint.pt",
        "cpu",
        validation_h5=d / "validation.h5",
    )
    return d


def _generate(d, temperature=None, n=200):
    rng = np.random.default_rng(0)
    energy, theta = rng.uniform(10, 100, n), rng.uniform(0, 0.3, n)
    options = {} if temperature is None else {"temperature": temperature}
    cells, _ = generate_caloinn(d / "model.pt", energy, theta, batch_size=64, seed=9, device="cpu", **options)
    return cells


def test_temperature_scales_only_the_cell_fractions(trained):
    default, hot, cold = _generate(trained), _generate(trained, 1.0), _generate(trained, 0.5)
    np.testing.assert_array_equal(default, hot)  # 1 is the trained density, bit for bit
    # Flow I's noise is untouched: every shower keeps its layer energies (the toy's cells sit far above threshold)
    np.testing.assert_allclose(cold.sum(axis=(1, 2)), hot.sum(axis=(1, 2)), rtol=1e-3)
    assert not np.allclose(cold, hot)

    def fraction_spread(cells):  # shower-to-shower spread of each cell's share of its layer
        fractions = cells / np.maximum(cells.sum(axis=(1, 2), keepdims=True), 1e-12)
        return fractions.std(axis=0).mean()

    assert fraction_spread(cold) < 0.8 * fraction_spread(hot)
    with pytest.raises(ValueError, match="temperature"):
        _generate(trained, 0.0)


def test_choose_temperature_is_the_validation_fpd_minimum(trained):
    grid = [0.5, 0.8, 1.0]
    first = choose_temperature(trained / "model.pt", trained / "validation.h5", grid, 64, seed=3, device="cpu")
    again = choose_temperature(trained / "model.pt", trained / "validation.h5", grid, 64, seed=3, device="cpu")
    assert first == again  # deterministic
    assert [row["temperature"] for row in first["scan"]] == grid
    assert all(np.isfinite(row["fpd"]) and row["fpd_error"] >= 0 for row in first["scan"])
    assert first["temperature"] == min(first["scan"], key=lambda row: row["fpd"])["temperature"]
    single = choose_temperature(trained / "model.pt", trained / "validation.h5", [1.0], 64, seed=3, device="cpu")
    assert single["temperature"] == 1.0


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"temperature": "hot"}, "temperature must be 'auto'"),
        ({"temperature": 0}, "temperature must be"),
        ({"temperature_grid": []}, "temperature_grid"),
        ({"temperature_grid": [1.0, 3.0]}, "temperature_grid"),
        ({"clamp_to_training_range": "yes"}, "clamp_to_training_range"),
    ],
)
def test_sampling_settings_errors_name_the_key(settings, match):
    with pytest.raises(ValueError, match=match):
        check_sampling_settings(settings)


def test_generation_step_records_the_temperature(trained, tmp_path):
    base = {"conditions": "test", "batch_size": 64}
    auto = {**base, "caloinn": {"temperature": "auto", "temperature_grid": [0.7, 1.0]}}
    generate_to_file(
        "caloinn",
        trained / "model.pt",
        trained / "test.h5",
        auto,
        1,
        "cpu",
        tmp_path / "auto.h5",
        tmp_path / "auto.json",
        validation_h5=trained / "validation.h5",
    )
    sampling = json.loads((tmp_path / "auto.json").read_text())["sampling"]
    assert sampling["temperature"] in (0.7, 1.0) and len(sampling["scan"]) == 2
    fixed = {**base, "caloinn": {"temperature": sampling["temperature"]}}
    generate_to_file(
        "caloinn",
        trained / "model.pt",
        trained / "test.h5",
        fixed,
        1,
        "cpu",
        tmp_path / "fixed.h5",
        tmp_path / "fixed.json",
    )
    assert json.loads((tmp_path / "fixed.json").read_text())["sampling"] == {
        "temperature": sampling["temperature"],
        "clamp_to_training_range": True,
    }
    with h5py.File(tmp_path / "auto.h5") as a, h5py.File(tmp_path / "fixed.h5") as b:
        np.testing.assert_array_equal(a["showers"][:], b["showers"][:])  # the scan leaves the showers alone
    with pytest.raises(ValueError, match="validation split"):
        generate_to_file(
            "caloinn", trained / "model.pt", trained / "test.h5", auto, 1, "cpu", tmp_path / "x.h5", tmp_path / "x.json"
        )


def test_fit_records_the_training_range_and_clamp_clips_to_it():
    sample = toy_showers(30, seed=4)
    pre = CaloINNPreprocessing(sample.cells.shape[1:], cell_threshold_gev=THRESHOLD, noise_level_gev=5e-5)
    assert not pre.has_training_range
    cells, energy = torch.from_numpy(sample.cells).double(), torch.from_numpy(sample.energy)
    pre.fit(cells, energy, torch.from_numpy(sample.theta), torch.Generator().manual_seed(0))
    features = pre.forward(cells, energy, torch.Generator().manual_seed(0))  # the draw fit saw
    # the conditions' standardisation is set alongside
    assert pre.condition_mean == pytest.approx([np.log(sample.energy).mean(), sample.theta.mean()])
    assert pre.condition_std == pytest.approx([np.log(sample.energy).std(ddof=1), sample.theta.std(ddof=1)])
    low, high = torch.tensor(pre.feature_min).double(), torch.tensor(pre.feature_max).double()
    torch.testing.assert_close(features.min(dim=0).values, low)
    torch.testing.assert_close(features.max(dim=0).values, high)
    torch.testing.assert_close(pre.clamp_to_training_range(features), features)  # the bulk is untouched
    wild = features.clone()
    wild[0, 3], wild[1, 5] = high[3] + 7.0, low[5] - 7.0
    clipped = pre.clamp_to_training_range(wild)
    assert clipped[0, 3].item() == pytest.approx(high[3].item()) and clipped[1, 5].item() == pytest.approx(
        low[5].item()
    )
    torch.testing.assert_close(clipped[2:], features[2:])
    with pytest.raises(ValueError, match="feature_min/max"):
        CaloINNPreprocessing(sample.cells.shape[1:], feature_min=[0.0], feature_max=[1.0])


def test_generation_clips_wild_samples_to_the_training_range(trained, monkeypatch, caplog):
    """A flow gone wild (every feature at 50 sigma) gives, clipped, the showers of the training range's edge."""

    def wild_flow(path, device="auto"):
        flow, preprocessing, meta = load_caloinn(path, device)
        flow.sample_from_noise = lambda z, c: torch.full_like(z, 50.0)
        return flow, preprocessing, meta

    monkeypatch.setattr(train_caloinn_module, "load_caloinn", wild_flow)
    energy, theta = np.array([30.0, 80.0]), np.array([0.05, 0.2])
    clipped, _ = generate_caloinn(
        trained / "model.pt", energy, theta, 2, seed=1, device="cpu", clamp_to_training_range=True
    )
    unclipped, _ = generate_caloinn(trained / "model.pt", energy, theta, 2, seed=1, device="cpu")
    _, preprocessing, _ = load_caloinn(trained / "model.pt", "cpu")
    edge = torch.tensor(preprocessing.feature_max, dtype=torch.float64).expand(2, -1)
    expected = preprocessing.inverse(edge, torch.from_numpy(energy), torch.from_numpy(theta)).float().numpy()
    np.testing.assert_allclose(clipped, expected, rtol=1e-5)
    assert not np.allclose(clipped, unclipped)
    # a model file written before the range was recorded is sampled unclipped, with a warning
    record = torch.load(trained / "model.pt", weights_only=False)
    record["preprocessing"] = {
        k: v for k, v in record["preprocessing"].items() if k not in ("feature_min", "feature_max")
    }
    torch.save(record, trained / "old.pt")
    old, _ = generate_caloinn(trained / "old.pt", energy, theta, 2, seed=1, device="cpu", clamp_to_training_range=True)
    np.testing.assert_array_equal(old, unclipped)
    assert "no training range" in caplog.text
