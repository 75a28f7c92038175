"""3DGAN training: outputs, determinism, resume after a kill, NaN guard, settings and input checks."""

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

import twins.calo.train as train_module
from twins.calo.plot_training import plot_history
from twins.calo.train import resolve_settings, train_gan3d
from twins.calo.transform import ShowerTransform
from twins.core.io import InputFileError
from twins.core.training import TrainingDiverged

GRID = (8, 8, 10)
TINY = {
    "epochs": 2,
    "batch_size": 16,
    "latent_size": 8,
    "generator_channels": [8, 4],
    "discriminator_channels": [4, 8],
    "batchnorm_recalibration": 32,
}


def toy_showers(n: int, seed: int, grid=GRID) -> dict[str, np.ndarray]:
    """Shower-like cells in GeV: gamma-distribution longitudinal profile peaking deeper at higher energy,
    Gaussian transverse spread widening with depth, shifted along x by the incidence angle."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = grid
    energy = rng.uniform(10.0, 100.0, n)
    theta = rng.uniform(0.0, 0.3, n)
    depth = np.arange(nz) + 0.5
    t_max = 0.25 * nz * (1 + 0.2 * np.log(energy / 10.0)) * rng.normal(1.0, 0.05, n)
    b = 0.5
    a = b * t_max + 1.0
    profile = depth ** (a[:, None] - 1) * np.exp(-b * depth)
    profile = 0.95 * profile / profile.sum(axis=1, keepdims=True)
    cx = nx / 2 + np.tan(theta)[:, None] * depth / 2.5
    sigma = 0.6 + 0.05 * depth
    ix = np.arange(nx)[None, :, None] + 0.5
    iy = np.arange(ny)[None, :, None] + 0.5
    wx = np.exp(-0.5 * ((ix - cx[:, None, :]) / sigma) ** 2)
    wy = np.exp(-0.5 * ((iy - ny / 2) / sigma) ** 2) * np.ones((n, 1, 1))
    transverse = wx[:, :, None, :] * wy[:, None, :, :]
    transverse /= transverse.sum(axis=(1, 2), keepdims=True)
    cells = energy[:, None, None, None] * profile[:, None, None, :] * transverse
    cells = cells * rng.gamma(20.0, 1 / 20.0, cells.shape)  # cell-to-cell fluctuations
    return {"cells": cells.astype(np.float32), "energy": energy, "theta": theta}


DEFAULT_TRANSFORM = ShowerTransform()


def write_split(path, n: int, seed: int, grid=GRID, transform=DEFAULT_TRANSFORM):
    data = toy_showers(n, seed, grid)
    cells = transform.apply_threshold(data["cells"])
    with h5py.File(path, "w") as f:
        f["x"] = transform.forward(cells, data["energy"]).astype(np.float32)
        f["showers"] = cells
        f["conditions"] = transform.encode_conditions(data["energy"], data["theta"])
        f["energy"] = data["energy"]
        f["theta"] = data["theta"]
        f["pdg"] = np.full(n, 11, np.int32)
        f.attrs["transform"] = json.dumps(transform.to_dict())
        f.attrs["geometry"] = json.dumps({"nx": grid[0], "ny": grid[1], "nz": grid[2]})
    return path


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("gan3d_data")
    return write_split(root / "train.h5", 64, seed=1), write_split(root / "validation.h5", 24, seed=2)


def _train(tmp_path, train_h5, tag="run", settings=TINY, seed=7, **kwargs):
    paths = {
        "out_model": tmp_path / f"{tag}_model.pt",
        "out_history": tmp_path / f"{tag}_history.csv",
        "checkpoint_path": tmp_path / f"{tag}_checkpoint.pt",
    }
    history = train_gan3d(train_h5, dict(settings), seed, device="cpu", **paths, **kwargs)
    return history, paths


def _weights(model_path):
    return torch.load(model_path, weights_only=False)["generator_state"]


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_two_epochs_write_model_and_history(tmp_path, data_files):
    train_h5, validation_h5 = data_files
    history, paths = _train(tmp_path, train_h5, validation_h5=validation_h5)
    csv = pd.read_csv(paths["out_history"])
    assert list(csv["epoch"]) == [0, 1]
    for column in (
        "generator_loss",
        "discriminator_loss",
        "g_adversarial",
        "g_energy",
        "g_angle",
        "g_ecal",
        "d_adversarial",
        "d_energy",
        "d_angle",
        "val_generator_loss",
        "val_discriminator_loss",
    ):
        assert np.isfinite(csv[column]).all(), column
    assert len(history) == 2
    record = torch.load(paths["out_model"], weights_only=False)
    assert record["grid_shape"] == list(GRID)
    assert record["architecture"] == {"latent_size": 8, "generator_channels": [8, 4], "kernel_size": 3}
    assert record["transform"] == ShowerTransform().to_dict()
    assert record["geometry"]["nz"] == GRID[2]
    assert record["provenance"]["seed"] == 7
    assert record["provenance"]["config"]["epochs"] == 2
    assert str(train_h5) in record["provenance"]["inputs"]
    lo, hi = record["condition_ranges"]["energy_gev"]
    assert 10 <= lo < hi <= 100
    assert not list(tmp_path.glob(".*partial"))


def test_same_seed_same_weights_other_seed_other_weights(tmp_path, data_files):
    train_h5, _ = data_files
    _, a = _train(tmp_path, train_h5, "a")
    _, b = _train(tmp_path, train_h5, "b")
    _, c = _train(tmp_path, train_h5, "c", seed=8)
    _assert_same_weights(_weights(a["out_model"]), _weights(b["out_model"]))
    wa, wc = _weights(a["out_model"]), _weights(c["out_model"])
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)


def test_killed_run_resumes_to_the_same_weights(tmp_path, data_files):
    train_h5, _ = data_files
    straight, s = _train(tmp_path, train_h5, "straight")
    first, r = _train(tmp_path, train_h5, "resumed", settings={**TINY, "epochs": 1})
    resumed, r = _train(tmp_path, train_h5, "resumed")
    # epoch 0 came from the checkpoint (its timing is the first run's), not from a second training
    assert resumed["seconds"].iloc[0] == first["seconds"].iloc[0]
    assert len(resumed) == 2
    _assert_same_weights(_weights(s["out_model"]), _weights(r["out_model"]))
    losses = [c for c in straight if c != "seconds"]
    pd.testing.assert_frame_equal(straight[losses], resumed[losses])


def test_non_finite_loss_raises_and_keeps_the_last_checkpoint(tmp_path, data_files, monkeypatch):
    train_h5, _ = data_files
    _, paths = _train(tmp_path, train_h5, "nan", settings={**TINY, "epochs": 1})
    checkpoint = paths["checkpoint_path"].read_bytes()
    monkeypatch.setattr(train_module, "mean_absolute_percentage_error", lambda p, t: (p - t).mean() * float("nan"))
    paths["out_model"].unlink()
    with pytest.raises(TrainingDiverged, match="epoch 1"):
        _train(tmp_path, train_h5, "nan")
    assert paths["checkpoint_path"].read_bytes() == checkpoint
    assert torch.load(paths["checkpoint_path"], weights_only=False)["epoch"] == 0
    assert not paths["out_model"].exists()


def test_unknown_settings_keys_raise():
    with pytest.raises(ValueError, match="learning_rate_gen"):
        resolve_settings({"learning_rate_gen": 1e-3})
    with pytest.raises(ValueError, match="ecal_sum"):
        resolve_settings({"loss_weights": {"ecal_sum": 1.0}})
    with pytest.raises(ValueError, match="optimizer"):
        resolve_settings({"optimizer": "sgd"})
    merged = resolve_settings({"loss_weights": {"angle": 5.0}})
    assert merged["loss_weights"] == {"adversarial": 3.0, "energy": 0.1, "angle": 5.0, "ecal": 0.1}


def test_bad_input_files_are_named(tmp_path, data_files):
    missing = tmp_path / "nowhere.h5"
    with pytest.raises(InputFileError, match="nowhere.h5"):
        _train(tmp_path, missing)
    corrupt = write_split(tmp_path / "nan.h5", 32, seed=3)
    with h5py.File(corrupt, "a") as f:
        f["x"][0, 0, 0, 0] = np.nan
    with pytest.raises(InputFileError, match="nan.h5.*'x'"):
        _train(tmp_path, corrupt)


def test_history_plot_is_reproducible(tmp_path, data_files):
    _, paths = _train(tmp_path, data_files[0], settings={**TINY, "epochs": 1})
    a = plot_history(paths["out_history"], tmp_path / "a.png")
    b = plot_history(paths["out_history"], tmp_path / "b.png")
    assert a.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert a.read_bytes() == b.read_bytes()


def test_energy_range_pretraining_schedule(tmp_path, data_files, monkeypatch):
    """With pretrain_epochs, the first epochs see only showers inside pretrain_energy_gev."""
    from twins.calo import train as train_module

    train_h5, _ = data_files
    seen = []
    original = train_module._GanStep.train_batch

    def spy(self, data, index, pool=None):
        seen.append(data.energy_gev[torch.from_numpy(np.asarray(index))].numpy().copy())
        return original(self, data, index, pool)

    monkeypatch.setattr(train_module._GanStep, "train_batch", spy)
    settings = {**TINY, "epochs": 2, "batch_size": 8, "pretrain_epochs": 1, "pretrain_energy_gev": [40.0, 100.0]}
    _train(tmp_path, train_h5, "pre", settings=settings)
    with h5py.File(train_h5) as f:
        all_energies = f["energy"][...]
    first_epoch_batches = int(((all_energies >= 40) & (all_energies <= 100)).sum()) // 8
    assert 0 < first_epoch_batches < len(seen)
    assert np.concatenate(seen[:first_epoch_batches]).min() >= 40.0
    assert np.concatenate(seen[first_epoch_batches:]).min() < 40.0  # the second epoch sees the whole range
    with pytest.raises(ValueError, match="pretrain_energy_gev"):
        _train(tmp_path, train_h5, "bad", settings={**settings, "pretrain_energy_gev": [99.0, 100.0]})
