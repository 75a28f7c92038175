"""CaloINN: preprocessing round trip, flow, training (determinism, resume), generation, settings."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from tests.calo.calo_samples import write_caloinn_split
from twins.calo.caloinn import CaloINNFlow, CaloINNPreprocessing, TwoFlowCaloINN, build_flow, resolve_settings
from twins.calo.train_caloinn import MODEL_FORMAT, generate_caloinn, load_caloinn, train_caloinn
from twins.core.io import InputFileError

GRID = (3, 3, 5)
THRESHOLD = 1.0e-4
TINY = {"epochs": 2, "batch_size": 16, "blocks": 2, "hidden_features": [16], "bins": 4, "noise_level_gev": 5e-5}


def toy_showers(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Showers (n, 3, 3, 5) GeV with a longitudinal profile, sparse cells and some empty layers."""
    energy = rng.uniform(10, 100, n)
    theta = rng.uniform(0, 0.35, n)
    profile = np.array([0.1, 0.35, 0.3, 0.15, 0.05])
    cells = rng.gamma(2.0, 1.0, (n, *GRID)) * profile * (energy * 0.9 / 18)[:, None, None, None]
    cells *= rng.random((n, *GRID)) < 0.7
    cells[: n // 4, :, :, -1] = 0.0  # empty last layer
    cells[1, :, :, 0] = 0.0  # empty first layer
    cells = cells * (cells >= THRESHOLD)
    return cells.astype(np.float32), energy, theta


def write_split(path, cells, energy, theta) -> None:
    write_caloinn_split(path, cells, energy, theta, THRESHOLD)


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    d = tmp_path_factory.mktemp("caloinn")
    rng = np.random.default_rng(3)
    write_split(d / "train.h5", *toy_showers(64, rng))
    write_split(d / "validation.h5", *toy_showers(32, rng))
    return d


@pytest.fixture(scope="module")
def trained(splits):
    out = splits / "straight"
    history = train_caloinn(
        splits / "train.h5",
        TINY,
        11,
        out / "model.pt",
        out / "history.csv",
        out / "ckpt.pt",
        "cpu",
        validation_h5=splits / "validation.h5",
    )
    return out, history


def test_preprocessing_round_trip_exact_without_noise():
    cells, energy, theta = toy_showers(40, np.random.default_rng(0))
    cells_t, energy_t = torch.from_numpy(cells).double(), torch.from_numpy(energy)
    pre = CaloINNPreprocessing(GRID, cell_threshold_gev=THRESHOLD)
    pre.fit(cells_t, energy_t, torch.from_numpy(theta), torch.Generator().manual_seed(0))
    features = pre.forward(cells_t, energy_t)
    assert features.shape == (40, 5 * 9 + 5)
    assert torch.isfinite(features).all()
    back = pre.inverse(features, energy_t)
    assert (cells_t[:, :, :, -1][:10] == 0).all() and (back[:10, :, :, -1] == 0).all()
    np.testing.assert_allclose(back.numpy(), cells, rtol=1e-5, atol=1e-9)


def test_preprocessing_noise_stays_below_threshold():
    cells, energy, _ = toy_showers(40, np.random.default_rng(1))
    pre = CaloINNPreprocessing(GRID, cell_threshold_gev=THRESHOLD, noise_level_gev=5e-5)
    cells_t, energy_t = torch.from_numpy(cells).double(), torch.from_numpy(energy)
    features = pre.forward(cells_t, energy_t, torch.Generator().manual_seed(1))
    back = pre.inverse(features, energy_t).numpy()
    assert ((back > 0) == (cells > 0)).all()  # noise in empty cells does not survive the threshold
    np.testing.assert_allclose(back, cells, rtol=1e-3, atol=2e-4)  # layer sums carry the noise


def test_flow_log_prob_finite_and_sample_shape():
    settings = resolve_settings({"blocks": 2, "hidden_features": 8, "bins": 4, "energy_flow": False})
    flow = build_flow(settings, 50)
    x, c = torch.randn(7, 50), torch.randn(7, 2)
    log_prob = flow.log_prob(x, c)
    assert log_prob.shape == (7,) and torch.isfinite(log_prob).all()
    z = torch.randn(7, 50)
    y = flow.sample_from_noise(z, c)
    assert y.shape == (7, 50)
    torch.testing.assert_close(flow.flow(c).transform(y), z, atol=1e-4, rtol=1e-4)  # an invertible map


def test_training_writes_model_and_history(trained):
    out, history = trained
    assert list(history["epoch"]) == [0, 1]
    assert {"loss", "val_loss", "lr", "shape_loss", "energy_loss", "val_energy_loss"} <= set(history.columns)
    assert np.isfinite(history[["loss", "val_loss"]].to_numpy()).all()
    pd.testing.assert_frame_equal(pd.read_csv(out / "history.csv")[["loss"]], history[["loss"]], atol=1e-6)
    record = torch.load(out / "model.pt", weights_only=False)
    assert record["format"] == MODEL_FORMAT
    assert record["preprocessing"]["grid_shape"] == GRID
    assert record["provenance"]["epochs_trained"] == 2


def test_training_is_deterministic_and_resumes(splits, trained):
    out, history = trained
    again = splits / "again"
    h2 = train_caloinn(
        splits / "train.h5",
        TINY,
        11,
        again / "m.pt",
        again / "h.csv",
        again / "c.pt",
        "cpu",
        validation_h5=splits / "validation.h5",
    )
    np.testing.assert_array_equal(h2["loss"].to_numpy(), history["loss"].to_numpy())
    resumed = splits / "resumed"
    args = (resumed / "m.pt", resumed / "h.csv", resumed / "c.pt", "cpu")
    train_caloinn(splits / "train.h5", {**TINY, "epochs": 1}, 11, *args, validation_h5=splits / "validation.h5")
    h3 = train_caloinn(splits / "train.h5", TINY, 11, *args, validation_h5=splits / "validation.h5")
    np.testing.assert_array_equal(h3["loss"].to_numpy(), history["loss"].to_numpy())
    straight = torch.load(out / "model.pt", weights_only=False)["flow_state"]
    assert any(k.startswith("energy_flow.") for k in straight) and any(k.startswith("shape_flow.") for k in straight)
    assert set(torch.load(resumed / "c.pt", weights_only=False)["optimizers"]) == {"flow", "energy_flow"}
    for k, v in torch.load(resumed / "m.pt", weights_only=False)["flow_state"].items():
        torch.testing.assert_close(v, straight[k], rtol=0, atol=0)
    other = train_caloinn(splits / "train.h5", TINY, 12, *[splits / "other" / p for p in ("m", "h", "c")], "cpu")
    assert other["loss"].iloc[0] != history["loss"].iloc[0]


def test_generation_shape_scale_and_determinism(trained):
    out, _ = trained
    energy = np.array([20.0, 50.0, 80.0, 50.0, 30.0])
    theta = np.array([0.0, 0.1, 0.2, 0.1, 0.3])
    cells, rate = generate_caloinn(out / "model.pt", energy, theta, batch_size=2, seed=4, device="cpu")
    assert cells.shape == (5, *GRID) and cells.dtype == np.float32
    assert (cells >= 0).all() and np.isfinite(cells).all() and rate > 0
    assert ((cells == 0) | (cells >= THRESHOLD)).all()
    fraction = cells.sum(axis=(1, 2, 3)) / energy
    assert ((fraction > 0.05) & (fraction < 5)).all()  # GeV scale: the visible energy tracks E_inc
    again, _ = generate_caloinn(out / "model.pt", energy, theta, batch_size=2, seed=4, device="cpu")
    np.testing.assert_array_equal(again, cells)
    rebatched, _ = generate_caloinn(out / "model.pt", energy, theta, batch_size=5, seed=4, device="cpu")
    np.testing.assert_allclose(rebatched, cells, rtol=1e-4, atol=1e-6)  # matmul blocking differs by batch
    other, _ = generate_caloinn(out / "model.pt", energy, theta, batch_size=5, seed=5, device="cpu")
    assert not np.array_equal(other, cells)


def test_model_file_errors(tmp_path, trained):
    with pytest.raises(InputFileError, match="not found"):
        generate_caloinn(tmp_path / "none.pt", [50.0], [0.0], 1, 0, "cpu")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(InputFileError, match="junk.pt"):
        load_caloinn(tmp_path / "junk.pt")
    torch.save({"format": "twins.calo.gan3d/1", "generator_state": {}}, tmp_path / "gan.pt")
    with pytest.raises(InputFileError, match="not a CaloINN model"):
        load_caloinn(tmp_path / "gan.pt")
    record = torch.load(trained[0] / "model.pt", weights_only=False)
    torch.save({**record, "format": "twins.calo.caloinn/0"}, tmp_path / "old.pt")
    with pytest.raises(InputFileError, match="model format"):
        load_caloinn(tmp_path / "old.pt")


def test_unknown_or_bad_settings_raise():
    with pytest.raises(ValueError, match="unknown calo.train.caloinn key.*'hidden'"):
        resolve_settings({"hidden": 3})
    with pytest.raises(ValueError, match="calo.train.caloinn.bins"):
        resolve_settings({"bins": 1})
    with pytest.raises(ValueError, match="lr_schedule"):
        resolve_settings({"lr_schedule": "cyclic"})
    assert resolve_settings({"hidden_features": 32})["hidden_features"] == [32]


def test_actnorm_flow_is_invertible_and_stored(splits):
    settings = resolve_settings({"blocks": 2, "hidden_features": 8, "bins": 4, "actnorm": True, "energy_flow": False})
    flow = build_flow(settings, 50)
    with torch.no_grad():  # move the ActNorm maps off the identity so the test sees them act
        for p in flow.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x, c = torch.randn(6, 50), torch.randn(6, 2)
    assert torch.isfinite(flow.log_prob(x, c)).all()
    torch.testing.assert_close(flow.sample_from_noise(flow.flow(c).transform(x), c), x, atol=1e-4, rtol=1e-4)
    plain = build_flow(resolve_settings({"blocks": 2, "hidden_features": 8, "bins": 4, "energy_flow": False}), 50)
    assert len(flow.flow.transform.transforms) == 2 * len(plain.flow.transform.transforms) == 4  # ActNorm per block
    with pytest.raises(ValueError, match="calo.train.caloinn.actnorm"):
        resolve_settings({"actnorm": "yes"})
    out = splits / "actnorm"
    settings = {**TINY, "actnorm": True, "epochs": 1}
    train_caloinn(splits / "train.h5", settings, 11, out / "m.pt", out / "h.csv", out / "c.pt", "cpu")
    loaded, _, meta = load_caloinn(out / "m.pt")
    assert meta["architecture"]["actnorm"] is True and len(loaded.shape_flow.flow.transform.transforms) == 4


def test_one_cycle_schedule_warms_up_and_anneals(splits):
    out = splits / "one_cycle"
    settings = {**TINY, "epochs": 4, "lr_schedule": "one_cycle", "learning_rate": 2e-3}
    history = train_caloinn(splits / "train.h5", settings, 11, out / "m.pt", out / "h.csv", out / "c.pt", "cpu")
    lr = history["lr"].to_numpy()  # the rate at the start of every epoch
    assert lr[0] < 2e-3 / 10 and lr.max() > lr[0] * 5 and lr[-1] < lr.max()
    # the schedule spans all epochs: a run with other `epochs` must not resume from this checkpoint
    again = train_caloinn(
        splits / "train.h5", {**settings, "epochs": 5}, 11, out / "m.pt", out / "h.csv", out / "c.pt", "cpu"
    )
    assert len(again) == 5 and again["lr"].iloc[1] != lr[1]


def test_two_flow_model_inverts_and_factorises():
    settings = resolve_settings(
        {
            "blocks": 2,
            "hidden_features": 8,
            "bins": 4,
            "energy_flow_transforms": 2,
            "energy_flow_hidden_features": 8,
            "energy_flow_bins": 4,
        }
    )
    flow = build_flow(settings, 50, layers=5)
    assert isinstance(flow, TwoFlowCaloINN) and flow.cell_features == 45
    with torch.no_grad():  # off the identity start, so a wrong split or context would show
        for p in flow.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x, c = torch.randn(6, 50), torch.randn(6, 2)
    cells, layers = flow.split(x)
    log_prob = flow.log_prob(x, c)
    expected = flow.energy_flow.log_prob(layers, c) + flow.shape_flow.log_prob(cells, torch.cat([c, layers], 1))
    torch.testing.assert_close(log_prob, expected)
    with torch.no_grad():
        z_layers = flow.energy_flow.flow(c).transform(layers)
        z_cells = flow.shape_flow.flow(torch.cat([c, layers], 1)).transform(cells)
        back = flow.sample_from_noise(torch.cat([z_cells, z_layers], 1), c)
    torch.testing.assert_close(back, x, atol=1e-4, rtol=1e-4)  # Flow I first, then Flow II given its layers
    with pytest.raises(ValueError, match="layer variables"):
        build_flow(settings, 50)


def _staggered_showers(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Showers (n, 2, 2, 6) whose depth of start fluctuates: early and late layers anticorrelate strongly."""
    energy = rng.uniform(20, 80, n)
    start = rng.uniform(0.0, 2.5, n)  # the depth (layers) where the shower starts
    depth = np.arange(6) + 0.5 - start[:, None]
    profile = np.where(depth > 0, np.clip(depth, 1e-9, None) ** 2 * np.exp(-depth), 0.0)
    profile = profile / profile.sum(axis=1, keepdims=True) * energy[:, None] * 0.9
    cells = rng.dirichlet(np.ones(4) * 5, (n, 6)).transpose(0, 2, 1).reshape(n, 2, 2, 6) * profile[:, None, None, :]
    cells = cells * (cells >= THRESHOLD)
    return cells.astype(np.float32), energy, rng.uniform(0, 0.3, n)


def _early_late_correlation(cells: np.ndarray, energy: np.ndarray) -> float:
    layers = cells.sum(axis=(1, 2)) / energy[:, None]
    return float(np.corrcoef(layers[:, :2].sum(1), layers[:, 3:].sum(1))[0, 1])


def test_energy_flow_learns_layer_correlations(tmp_path):
    rng = np.random.default_rng(5)
    train = _staggered_showers(400, rng)
    write_split(tmp_path / "train.h5", *train)
    settings = {
        **TINY,
        "epochs": 2,
        "energy_flow_passes": 25,
        "energy_flow_hidden_features": [32, 32],
        "energy_flow_bins": 6,
        "energy_flow_batch_size": 64,
        "lr_schedule": "one_cycle",
    }
    train_caloinn(tmp_path / "train.h5", settings, 3, *[tmp_path / p for p in ("m.pt", "h.csv", "c.pt")], "cpu")
    test_cells, energy, theta = _staggered_showers(600, rng)
    reference = _early_late_correlation(test_cells, energy)
    assert reference < -0.6  # the toy is what the test needs: a strong correlation between layers
    cells, _ = generate_caloinn(tmp_path / "m.pt", energy, theta, batch_size=300, seed=1, device="cpu")
    generated = _early_late_correlation(cells, energy)
    assert abs(generated - reference) < 0.2, (generated, reference)
    # the same layer energies drawn independently per layer lose the correlation: this test can fail
    layer_sums = cells.sum(axis=(1, 2))
    shuffled = np.stack([rng.permutation(layer_sums[:, k]) for k in range(layer_sums.shape[1])], axis=1)
    assert abs(_early_late_correlation(shuffled[:, None, None, :], energy) - reference) > 0.4


def test_single_flow_option_and_files_from_before_it_load(splits, tmp_path):
    out = splits / "single"
    train_caloinn(
        splits / "train.h5",
        {**TINY, "epochs": 1, "energy_flow": False, "align_to_axis": False},
        11,
        out / "m.pt",
        out / "h.csv",
        out / "c.pt",
        "cpu",
    )
    flow, _, meta = load_caloinn(out / "m.pt")
    assert isinstance(flow, CaloINNFlow) and meta["architecture"]["energy_flow"] is False
    record = torch.load(out / "m.pt", weights_only=False)
    old = {k: v for k, v in record["architecture"].items() if not k.startswith("energy_flow")}
    preprocessing = {k: v for k, v in record["preprocessing"].items() if k != "axis_cells_per_tan"}
    # as written before the two options existed
    torch.save({**record, "architecture": old, "preprocessing": preprocessing}, tmp_path / "old.pt")
    assert isinstance(load_caloinn(tmp_path / "old.pt")[0], CaloINNFlow)
    a, _ = generate_caloinn(out / "m.pt", [50.0, 20.0], [0.1, 0.0], 2, 3, "cpu")
    b, _ = generate_caloinn(tmp_path / "old.pt", [50.0, 20.0], [0.1, 0.0], 2, 3, "cpu")
    np.testing.assert_array_equal(a, b)
    torch.save({**record, "architecture": {**old, "energy_flow": True}}, tmp_path / "broken.pt")
    with pytest.raises(InputFileError, match="broken.pt.*architecture"):
        load_caloinn(tmp_path / "broken.pt")


def test_energy_flow_settings_validated():
    with pytest.raises(ValueError, match="calo.train.caloinn.energy_flow must be true or false"):
        resolve_settings({"energy_flow": "yes"})
    with pytest.raises(ValueError, match="calo.train.caloinn.energy_flow_bins"):
        resolve_settings({"energy_flow_bins": 1})
    with pytest.raises(ValueError, match="calo.train.caloinn.energy_flow_hidden_features"):
        resolve_settings({"energy_flow_hidden_features": []})
    with pytest.raises(ValueError, match="calo.train.caloinn.energy_flow_passes"):
        resolve_settings({"energy_flow_passes": 0})
    assert resolve_settings({"energy_flow_hidden_features": 16})["energy_flow_hidden_features"] == [16]
    assert resolve_settings({})["energy_flow"] is True  # the documented default: two flows


def test_axis_alignment_round_trip_and_alignment():
    """Tilted showers: the core moves by one cell in x every layer (tan(theta) * z / cell = layer index here)."""
    n, grid = 6, (5, 3, 4)
    theta = torch.full((n,), float(np.arctan(0.5)), dtype=torch.float64)  # 0.5 * (i + 0.5) * 20 mm / 10 mm
    cells = torch.zeros(n, *grid, dtype=torch.float64)
    for i in range(4):
        cells[:, (1 + i) % 5, 1, i] = 1.0 + i  # the core one cell further in x in every layer
        cells[:, 1 % 5, 0, i] = 0.01  # a tail cell at a fixed place, to see the roll wrap around
    per_tan = [(i + 0.5) * 20.0 / 10.0 for i in range(4)]
    pre = CaloINNPreprocessing(grid, cell_threshold_gev=1e-4, axis_cells_per_tan=per_tan)
    energy = torch.full((n,), 20.0, dtype=torch.float64)
    aligned = pre._roll_to_axis(cells, theta, +1)
    # round(0.5 * (i + 0.5) * 2) = i cells: every layer's core lands in cell 1, the tail wraps
    assert (aligned[:, 1, 1, :] == torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)).all()
    pre.fit(cells, energy, theta, torch.Generator().manual_seed(0))
    back = pre.inverse(pre.forward(cells, energy, None, theta), energy, theta)
    torch.testing.assert_close(back, cells, rtol=1e-6, atol=1e-9)
    unaligned = CaloINNPreprocessing(grid, cell_threshold_gev=1e-4)
    assert not torch.equal(unaligned.raw_features(cells, energy), pre.raw_features(cells, energy, None, theta))
    with pytest.raises(ValueError, match="pass theta"):
        pre.forward(cells, energy)


def test_alignment_needs_the_geometry(tmp_path):
    cells, energy, theta = toy_showers(20, np.random.default_rng(2))
    with h5py.File(tmp_path / "t.h5", "w") as f:
        f["showers"], f["energy"], f["theta"] = cells, energy, theta
        f.attrs["geometry"] = json.dumps(dict(zip(("nx", "ny", "nz"), GRID)))
        f.attrs["transform"] = json.dumps({"cell_threshold_gev": THRESHOLD})
    args = (tmp_path / "m.pt", tmp_path / "h.csv", tmp_path / "c.pt", "cpu")
    with pytest.raises(InputFileError, match="t.h5.*layer_thickness_mm.*align_to_axis: false"):
        train_caloinn(tmp_path / "t.h5", {**TINY, "epochs": 1}, 1, *args)
    train_caloinn(tmp_path / "t.h5", {**TINY, "epochs": 1, "align_to_axis": False}, 1, *args)
    assert load_caloinn(tmp_path / "m.pt")[1].axis_cells_per_tan == []
