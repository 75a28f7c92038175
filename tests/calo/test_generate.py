"""Shower generation with a trained 3DGAN: shape, GeV through the inverse transform, timing, determinism, errors."""

import json

import h5py
import numpy as np
import pytest
import torch

from twins.calo.generate import generate_showers, load_generator
from twins.calo.train import save_untrained_generator, train_gan3d
from twins.calo.transform import ShowerTransform
from twins.core.io import InputFileError

GRID = (8, 8, 10)
TRANSFORM = ShowerTransform(power=0.85, cell_threshold_gev=1e-3)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A tiny generator trained for two epochs on showers with an exponential longitudinal profile."""
    root = tmp_path_factory.mktemp("gan3d_model")
    rng = np.random.default_rng(5)
    n = 48
    energy = rng.uniform(10.0, 100.0, n)
    theta = rng.uniform(0.0, 0.3, n)
    profile = np.exp(-0.3 * np.arange(GRID[2]))
    transverse = np.exp(-0.5 * ((np.arange(GRID[0]) - 3.5) / 1.2) ** 2)
    cells = energy[:, None, None, None] * np.einsum("x,y,z->xyz", transverse, transverse, profile)[None]
    cells = TRANSFORM.apply_threshold(
        cells
        / cells.sum(axis=(1, 2, 3), keepdims=True)
        * energy[:, None, None, None]
        * rng.gamma(10.0, 0.1, cells.shape)
    )
    with h5py.File(root / "train.h5", "w") as f:
        f["x"] = TRANSFORM.forward(cells, energy).astype(np.float32)
        f["conditions"] = TRANSFORM.encode_conditions(energy, theta)
        f["energy"] = energy
        f["theta"] = theta
        f.attrs["transform"] = json.dumps(TRANSFORM.to_dict())
        f.attrs["geometry"] = json.dumps({"nx": GRID[0], "ny": GRID[1], "nz": GRID[2]})
    settings = {
        "epochs": 2,
        "batch_size": 16,
        "latent_size": 8,
        "generator_channels": [8, 4],
        "discriminator_channels": [4, 4],
        "batchnorm_recalibration": 32,
    }
    train_gan3d(root / "train.h5", settings, 3, root / "model.pt", root / "history.csv", root / "ckpt.pt", "cpu")
    return root / "model.pt"


def test_shape_gev_and_throughput(model_path):
    energy = np.linspace(20.0, 80.0, 10)
    theta = np.full(10, 0.1)
    cells, rate = generate_showers(model_path, energy, theta, batch_size=4, seed=1, device="cpu")
    assert cells.shape == (10, *GRID)
    assert cells.dtype == np.float32
    assert (cells >= 0).all()
    assert not ((cells > 0) & (cells < TRANSFORM.cell_threshold_gev)).any()  # readout threshold reapplied
    assert np.isfinite(rate) and rate > 0
    # the cells are the generator's output brought back to GeV: (x / scale)^(1/power), not model space
    generator, transform, meta = load_generator(model_path, "cpu")
    assert transform == TRANSFORM
    noise = torch.randn(10, generator.noise_size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        x = generator(noise, torch.from_numpy(transform.encode_conditions(energy, theta))).numpy()
    expected = np.clip(x, 0, None) ** (1 / 0.85)
    expected[expected < TRANSFORM.cell_threshold_gev] = 0
    np.testing.assert_allclose(cells, expected, rtol=1e-5, atol=1e-6)
    assert meta["geometry"]["nx"] == GRID[0]


def test_same_seed_same_showers(model_path):
    """Same seed and batch size: bit-equal. Another batch size draws the same noise, so the showers agree to
    float32 rounding only: CPU convolution kernels block a batch differently by its size (seen: 1.8e-7)."""
    energy, theta = np.full(6, 50.0), np.full(6, 0.2)
    a, _ = generate_showers(model_path, energy, theta, batch_size=6, seed=11, device="cpu")
    again, _ = generate_showers(model_path, energy, theta, batch_size=6, seed=11, device="cpu")
    rebatched, _ = generate_showers(model_path, energy, theta, batch_size=4, seed=11, device="cpu")
    other, _ = generate_showers(model_path, energy, theta, batch_size=6, seed=12, device="cpu")
    np.testing.assert_array_equal(a, again)
    np.testing.assert_allclose(rebatched, a, rtol=1e-5, atol=1e-6)  # the noise does not depend on the batching
    assert not np.allclose(a, other, rtol=1e-3, atol=1e-4)


def test_missing_or_corrupt_model_is_named(tmp_path, model_path):
    missing = tmp_path / "no_model.pt"
    with pytest.raises(InputFileError, match="no_model.pt"):
        generate_showers(missing, [50.0], [0.1], batch_size=1, seed=0, device="cpu")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(model_path.read_bytes()[:200])
    with pytest.raises(InputFileError, match="corrupt.pt"):
        load_generator(corrupt, "cpu")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(InputFileError, match="foreign.pt.*not a 3DGAN model"):
        load_generator(foreign, "cpu")


def test_bad_conditions_raise(model_path):
    with pytest.raises(ValueError, match="same length"):
        generate_showers(model_path, [10.0, 20.0], [0.1], batch_size=2, seed=0, device="cpu")
    with pytest.raises(ValueError, match="positive"):
        generate_showers(model_path, [-5.0], [0.1], batch_size=2, seed=0, device="cpu")


def test_untrained_generator_file_times_the_architecture(tmp_path):
    path = tmp_path / "untrained.pt"
    settings = {"latent_size": 8, "generator_channels": [8, 4], "epochs": 3}
    save_untrained_generator(path, settings, (6, 6, 9), {"power": 0.85, "split": {"train": 1.0}}, seed=1)
    cells, rate = generate_showers(path, [30.0, 60.0, 90.0], [0.0, 0.1, 0.2], batch_size=2, seed=0, device="cpu")
    assert cells.shape == (3, 6, 6, 9)
    assert rate > 0
    assert load_generator(path, "cpu")[2]["provenance"]["trained"] is False
