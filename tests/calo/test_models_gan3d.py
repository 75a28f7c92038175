"""The 3DGAN: the networks (shapes on two grids, the fixed ECAL-sum head, gradient flow), training (outputs,
determinism, resume after a kill, NaN guard, settings and input checks) and sampling (shape, GeV through the
inverse transform, timing, determinism, errors)."""

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

import twins.calo.models.gan3d.updates as updates_module
from tests.calo.calo_samples import ANGLED_GRID as GRID
from tests.calo.calo_samples import write_gan3d_split as write_split
from twins.calo.models import get_model
from twins.calo.models.gan3d.network import Discriminator3D, Generator3D
from twins.calo.models.gan3d.sample import load_generator, sample_gan3d
from twins.calo.models.gan3d.train import save_untrained_generator, train_gan3d, training_settings
from twins.calo.transform import ShowerTransform
from twins.core.io import InputFileError
from twins.core.model_file import load_model
from twins.core.training import TrainingDiverged

TINY = {
    "epochs": 2,
    "batch_size": 16,
    "latent_size": 8,
    "generator_channels": [8, 4],
    "discriminator_channels": [4, 8],
    "batchnorm_recalibration": 32,
}


# --- the networks -------------------------------------------------------------------------------------------


def _conditions(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.stack([0.1 + 0.9 * torch.rand(n, generator=gen), 0.3 * torch.rand(n, generator=gen)], dim=1)


@pytest.mark.parametrize(
    "grid, g_channels, d_channels",
    [((12, 12, 25), [16, 8, 4], [4, 8, 8]), ((51, 51, 25), [4, 4, 2], [2, 4])],
)
def test_shapes_on_two_grids(grid, g_channels, d_channels):
    gen = torch.Generator().manual_seed(0)
    g = Generator3D(grid, latent_size=16, channels=g_channels)
    d = Discriminator3D(grid, ShowerTransform(), channels=d_channels)
    cond = _conditions(3, gen)
    showers = g(torch.randn(3, g.noise_size, generator=gen), cond)
    assert showers.shape == (3, *grid)
    assert (showers >= 0).all()
    out = d(showers, 100 * cond[:, 0])
    for field in out:
        assert field.shape == (3,)
        assert torch.isfinite(field).all()


def test_latent_is_noise_times_energy_then_angle():
    g = Generator3D((6, 6, 8), latent_size=5, channels=[4, 2])
    noise = torch.arange(8.0).view(2, 4)
    cond = torch.tensor([[0.5, 0.1], [2.0, -0.2]])
    expected = torch.tensor([[0.0, 0.5, 1.0, 1.5, 0.1], [8.0, 10.0, 12.0, 14.0, -0.2]])
    assert torch.equal(g.latent_input(noise, cond), expected)
    with pytest.raises(ValueError, match="noise must have 4 columns"):
        g(torch.zeros(2, 5), cond)


@pytest.mark.parametrize("normalise_by_incident", [False, True])
def test_ecal_head_is_the_gev_sum_through_the_inverse_transform(normalise_by_incident):
    transform = ShowerTransform(power=0.85, cell_scale=2.0, normalise_by_incident=normalise_by_incident)
    rng = np.random.default_rng(1)
    cells_gev = rng.exponential(0.05, size=(4, 6, 6, 8)) * (rng.random((4, 6, 6, 8)) < 0.5)
    energy = np.array([10.0, 20.0, 50.0, 90.0])
    cells_gev = transform.apply_threshold(cells_gev)
    x = transform.forward(cells_gev, energy)
    d = Discriminator3D((6, 6, 8), transform, channels=[2, 2])
    ecal = d(torch.tensor(x, dtype=torch.float32), torch.tensor(energy, dtype=torch.float32)).ecal_sum_gev
    np.testing.assert_allclose(ecal.detach().numpy(), cells_gev.sum(axis=(1, 2, 3)), rtol=1e-5)
    # fixed head: no parameter of the discriminator changes it
    with torch.no_grad():
        for p in d.parameters():
            p.add_(1.0)
    again = d(torch.tensor(x, dtype=torch.float32), torch.tensor(energy, dtype=torch.float32)).ecal_sum_gev
    assert torch.equal(ecal, again)


def test_gradients_flow_through_every_parameter():
    grid = (8, 8, 10)
    gen = torch.Generator().manual_seed(2)
    g = Generator3D(grid, latent_size=8, channels=[8, 4])
    d = Discriminator3D(grid, ShowerTransform(), channels=[4, 4], dropout=0.0)
    cond = _conditions(6, gen)
    out = d(g(torch.randn(6, g.noise_size, generator=gen), cond), 100 * cond[:, 0])
    loss = out.logit.mean() + out.energy.mean() + out.theta.mean() + out.ecal_sum_gev.mean()
    loss.backward()
    for name, p in [*g.named_parameters(), *d.named_parameters()]:
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_ecal_sum_alone_trains_the_generator():
    """The ECAL head has no weights, so its loss must reach the generator through the showers."""
    grid = (6, 6, 8)
    g = Generator3D(grid, latent_size=4, channels=[4, 2])
    d = Discriminator3D(grid, ShowerTransform(), channels=[2])
    cond = torch.tensor([[0.5, 0.1], [0.8, 0.2]])
    d(g(torch.randn(2, 3), cond), 100 * cond[:, 0]).ecal_sum_gev.sum().backward()
    assert g.to_cells.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in d.parameters())


@pytest.mark.parametrize("kwargs", [{"grid_shape": (12, 12)}, {"channels": []}, {"latent_size": 1}, {"kernel_size": 2}])
def test_bad_generator_arguments_raise(kwargs):
    args = {"grid_shape": (12, 12, 25), "latent_size": 8, "channels": [4, 2], **kwargs}
    with pytest.raises(ValueError):
        Generator3D(**args)


# --- training -----------------------------------------------------------------------------------------------


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
    return load_model(model_path, "calo", "gan3d", "test").weights["generator"]


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
    meta = load_model(paths["out_model"], "calo", "gan3d", "test").meta
    assert meta["grid_shape"] == list(GRID)
    assert meta["architecture"] == {"latent_size": 8, "generator_channels": [8, 4], "kernel_size": 3}
    assert meta["transform"] == ShowerTransform().to_dict()
    assert meta["geometry"]["nz"] == GRID[2]
    assert meta["provenance"]["seed"] == 7
    assert meta["provenance"]["config"]["epochs"] == 2
    assert str(train_h5) in meta["provenance"]["inputs"]
    lo, hi = meta["condition_ranges"]["energy_gev"]
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
    monkeypatch.setattr(updates_module, "mean_absolute_percentage_error", lambda p, t: (p - t).mean() * float("nan"))
    paths["out_model"].unlink()
    with pytest.raises(TrainingDiverged, match="epoch 1"):
        _train(tmp_path, train_h5, "nan")
    assert paths["checkpoint_path"].read_bytes() == checkpoint
    assert torch.load(paths["checkpoint_path"], weights_only=True)["epoch"] == 0
    assert not paths["out_model"].exists()


def test_unknown_settings_keys_raise():
    with pytest.raises(ValueError, match="calo.train.gan3d.*'learning_rate_gen'"):
        training_settings({"learning_rate_gen": 1e-3})
    with pytest.raises(ValueError, match="calo.train.gan3d.loss_weights.*'ecal_sum'"):
        training_settings({"loss_weights": {"ecal_sum": 1.0}})
    with pytest.raises(ValueError, match="calo.train.gan3d.optimizer"):
        training_settings({"optimizer": "sgd"})
    with pytest.raises(ValueError, match="calo.train.gan3d.kernel_size must be odd"):
        training_settings({"kernel_size": 4})
    merged = training_settings({"loss_weights": {"angle": 5.0}})
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
    a = get_model("gan3d").plot_history(paths["out_history"], tmp_path / "a.png")
    b = get_model("gan3d").plot_history(paths["out_history"], tmp_path / "b.png")
    assert a.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert a.read_bytes() == b.read_bytes()


def test_energy_range_pretraining_schedule(tmp_path, data_files, monkeypatch):
    """With pretrain_epochs, the first epochs see only showers inside pretrain_energy_gev."""
    train_h5, _ = data_files
    seen = []
    original = updates_module.GanUpdates.train_batch

    def spy(self, data, index, pool=None):
        seen.append(data.energy_gev[torch.from_numpy(np.asarray(index))].numpy().copy())
        return original(self, data, index, pool)

    monkeypatch.setattr(updates_module.GanUpdates, "train_batch", spy)
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
    with pytest.raises(ValueError, match="pretrain_energy_gev must be \\[low, high\\]"):
        training_settings({"pretrain_energy_gev": [100.0, 50.0]})


# --- sampling -----------------------------------------------------------------------------------------------

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
    cells, rate = sample_gan3d(model_path, energy, theta, batch_size=4, seed=1, device="cpu")
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
    a, _ = sample_gan3d(model_path, energy, theta, batch_size=6, seed=11, device="cpu")
    again, _ = sample_gan3d(model_path, energy, theta, batch_size=6, seed=11, device="cpu")
    rebatched, _ = sample_gan3d(model_path, energy, theta, batch_size=4, seed=11, device="cpu")
    other, _ = sample_gan3d(model_path, energy, theta, batch_size=6, seed=12, device="cpu")
    np.testing.assert_array_equal(a, again)
    np.testing.assert_allclose(rebatched, a, rtol=1e-5, atol=1e-6)  # the noise does not depend on the batching
    assert not np.allclose(a, other, rtol=1e-3, atol=1e-4)


def test_missing_or_corrupt_model_is_named(tmp_path, model_path):
    missing = tmp_path / "no_model.pt"
    with pytest.raises(InputFileError, match="no_model.pt"):
        sample_gan3d(missing, [50.0], [0.1], batch_size=1, seed=0, device="cpu")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(model_path.read_bytes()[:200])
    with pytest.raises(InputFileError, match="corrupt.pt"):
        load_generator(corrupt, "cpu")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(InputFileError, match="foreign.pt.*not a twins-model file.*model gan3d"):
        load_generator(foreign, "cpu")


def test_bad_conditions_raise(model_path):
    with pytest.raises(ValueError, match="same length"):
        sample_gan3d(model_path, [10.0, 20.0], [0.1], batch_size=2, seed=0, device="cpu")
    with pytest.raises(ValueError, match="positive"):
        sample_gan3d(model_path, [-5.0], [0.1], batch_size=2, seed=0, device="cpu")


def test_untrained_generator_file_times_the_architecture(tmp_path):
    path = tmp_path / "untrained.pt"
    settings = {"latent_size": 8, "generator_channels": [8, 4], "epochs": 3}
    save_untrained_generator(path, settings, (6, 6, 9), {"power": 0.85, "split": {"train": 1.0}}, seed=1)
    cells, rate = sample_gan3d(path, [30.0, 60.0, 90.0], [0.0, 0.1, 0.2], batch_size=2, seed=0, device="cpu")
    assert cells.shape == (3, 6, 6, 9)
    assert rate > 0
    assert load_generator(path, "cpu")[2]["provenance"]["trained"] is False
