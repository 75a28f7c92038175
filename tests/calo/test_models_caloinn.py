"""CaloINN: preprocessing (round trip, noise, axis alignment, training range), the flows (inverse,
factorisation, ActNorm, the two-flow and layer-wise models), training (determinism, resume, schedules,
settings), model files (errors, files written before newer options), generation, and sampling (temperature,
clip to the training range, the temperature scan and its record)."""

from __future__ import annotations

import dataclasses
import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

import twins.calo.models.caloinn.sample as sample_module
from tests.calo.calo_samples import REPO, toy_showers, write_caloinn_split
from tests.calo.calo_samples import SPARSE_GRID as GRID
from tests.calo.calo_samples import sparse_toy_showers as sparse_showers
from twins.calo.geometry import load_geometry
from twins.calo.models import sample
from twins.calo.models.caloinn.network import CaloINNFlow, LayerwiseShapeFlow, TwoFlowCaloINN, build_flow
from twins.calo.models.caloinn.preprocessing import CaloINNPreprocessing
from twins.calo.models.caloinn.sample import load_caloinn, sample_caloinn
from twins.calo.models.caloinn.temperature import choose_temperature, sampling_settings
from twins.calo.models.caloinn.train import train_caloinn, training_settings
from twins.core.io import InputFileError
from twins.core.model_file import load_model, save_model

THRESHOLD = 1.0e-4
TINY = {"epochs": 2, "batch_size": 16, "blocks": 2, "hidden_features": [16], "bins": 4, "noise_level_gev": 5e-5}


def write_split(path, cells, energy, theta) -> None:
    write_caloinn_split(path, cells, energy, theta, THRESHOLD)


def _model_file(path):
    return load_model(path, "calo", "caloinn", "test")


def _rewritten(path, out, **meta_changes) -> None:
    """The model file `path` written again to `out` with meta keys replaced: a file as an older version wrote it."""
    model_file = _model_file(path)
    save_model(out, "calo", "caloinn", weights=model_file.weights, meta={**model_file.meta, **meta_changes})


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    d = tmp_path_factory.mktemp("caloinn")
    rng = np.random.default_rng(3)
    write_split(d / "train.h5", *sparse_showers(64, rng))
    write_split(d / "validation.h5", *sparse_showers(32, rng))
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


# --- preprocessing, flows, training, generation --------------------------------------------------------


def test_preprocessing_round_trip_exact_without_noise():
    cells, energy, theta = sparse_showers(40, np.random.default_rng(0))
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
    cells, energy, _ = sparse_showers(40, np.random.default_rng(1))
    pre = CaloINNPreprocessing(GRID, cell_threshold_gev=THRESHOLD, noise_level_gev=5e-5)
    cells_t, energy_t = torch.from_numpy(cells).double(), torch.from_numpy(energy)
    features = pre.forward(cells_t, energy_t, torch.Generator().manual_seed(1))
    back = pre.inverse(features, energy_t).numpy()
    assert ((back > 0) == (cells > 0)).all()  # noise in empty cells does not survive the threshold
    np.testing.assert_allclose(back, cells, rtol=1e-3, atol=2e-4)  # layer sums carry the noise


def test_flow_log_prob_finite_and_sample_shape():
    settings = training_settings({"blocks": 2, "hidden_features": 8, "bins": 4, "energy_flow": False})
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
    model_file = _model_file(out / "model.pt")
    assert (model_file.twin, model_file.model, set(model_file.weights)) == ("calo", "caloinn", {"flow"})
    assert tuple(model_file.meta["preprocessing"]["grid_shape"]) == GRID
    assert model_file.meta["provenance"]["epochs_trained"] == 2


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
    straight = _model_file(out / "model.pt").weights["flow"]
    assert any(k.startswith("energy_flow.") for k in straight) and any(k.startswith("shape_flow.") for k in straight)
    assert set(torch.load(resumed / "c.pt", weights_only=True)["optimizers"]) == {"flow", "energy_flow"}
    for k, v in _model_file(resumed / "m.pt").weights["flow"].items():
        torch.testing.assert_close(v, straight[k], rtol=0, atol=0)
    other = train_caloinn(splits / "train.h5", TINY, 12, *[splits / "other" / p for p in ("m", "h", "c")], "cpu")
    assert other["loss"].iloc[0] != history["loss"].iloc[0]


def test_generation_shape_scale_and_determinism(trained):
    out, _ = trained
    energy = np.array([20.0, 50.0, 80.0, 50.0, 30.0])
    theta = np.array([0.0, 0.1, 0.2, 0.1, 0.3])
    cells, rate = sample_caloinn(out / "model.pt", energy, theta, batch_size=2, seed=4, device="cpu")
    assert cells.shape == (5, *GRID) and cells.dtype == np.float32
    assert (cells >= 0).all() and np.isfinite(cells).all() and rate > 0
    assert ((cells == 0) | (cells >= THRESHOLD)).all()
    fraction = cells.sum(axis=(1, 2, 3)) / energy
    assert ((fraction > 0.05) & (fraction < 5)).all()  # GeV scale: the visible energy tracks E_inc
    again, _ = sample_caloinn(out / "model.pt", energy, theta, batch_size=2, seed=4, device="cpu")
    np.testing.assert_array_equal(again, cells)
    rebatched, _ = sample_caloinn(out / "model.pt", energy, theta, batch_size=5, seed=4, device="cpu")
    np.testing.assert_allclose(rebatched, cells, rtol=1e-4, atol=1e-6)  # matmul blocking differs by batch
    other, _ = sample_caloinn(out / "model.pt", energy, theta, batch_size=5, seed=5, device="cpu")
    assert not np.array_equal(other, cells)


def test_model_file_errors(tmp_path, trained):
    with pytest.raises(InputFileError, match="not found"):
        sample_caloinn(tmp_path / "none.pt", [50.0], [0.0], 1, 0, "cpu")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(InputFileError, match="junk.pt"):
        load_caloinn(tmp_path / "junk.pt")
    save_model(tmp_path / "gan.pt", "calo", "gan3d", weights={"generator": {}}, meta={})
    with pytest.raises(InputFileError, match="gan.pt.*not a calo caloinn model"):
        load_caloinn(tmp_path / "gan.pt")
    record = torch.load(trained[0] / "model.pt", weights_only=True)
    torch.save({**record, "version": 0}, tmp_path / "old.pt")
    with pytest.raises(InputFileError, match="old.pt.*version 0"):
        load_caloinn(tmp_path / "old.pt")
    # the format before twins.core.model_file pickled Python objects: refused, never unpickled
    torch.save({"format": "twins.calo.caloinn/1", "preprocessing": CaloINNPreprocessing(GRID)}, tmp_path / "pickle.pt")
    with pytest.raises(InputFileError, match="pickle.pt.*Python objects"):
        load_caloinn(tmp_path / "pickle.pt")


def test_unknown_or_bad_settings_raise():
    with pytest.raises(ValueError, match="calo.train.caloinn.*'hidden' was unexpected"):
        training_settings({"hidden": 3})
    with pytest.raises(ValueError, match="calo.train.caloinn.bins"):
        training_settings({"bins": 1})
    with pytest.raises(ValueError, match="lr_schedule"):
        training_settings({"lr_schedule": "cyclic"})
    assert training_settings({"hidden_features": 32})["hidden_features"] == [32]


def test_actnorm_flow_is_invertible_and_stored(splits):
    settings = training_settings({"blocks": 2, "hidden_features": 8, "bins": 4, "actnorm": True, "energy_flow": False})
    flow = build_flow(settings, 50)
    with torch.no_grad():  # move the ActNorm maps off the identity so the test sees them act
        for p in flow.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x, c = torch.randn(6, 50), torch.randn(6, 2)
    assert torch.isfinite(flow.log_prob(x, c)).all()
    torch.testing.assert_close(flow.sample_from_noise(flow.flow(c).transform(x), c), x, atol=1e-4, rtol=1e-4)
    plain = build_flow(training_settings({"blocks": 2, "hidden_features": 8, "bins": 4, "energy_flow": False}), 50)
    assert len(flow.flow.transform.transforms) == 2 * len(plain.flow.transform.transforms) == 4  # ActNorm per block
    with pytest.raises(ValueError, match="calo.train.caloinn.actnorm"):
        training_settings({"actnorm": "yes"})
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
    settings = training_settings(
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
    cells, _ = sample_caloinn(tmp_path / "m.pt", energy, theta, batch_size=300, seed=1, device="cpu")
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
    meta = _model_file(out / "m.pt").meta
    old = {k: v for k, v in meta["architecture"].items() if not k.startswith("energy_flow")}
    preprocessing = {k: v for k, v in meta["preprocessing"].items() if k != "axis_cells_per_tan"}
    # as written before the two options existed
    _rewritten(out / "m.pt", tmp_path / "old.pt", architecture=old, preprocessing=preprocessing)
    assert isinstance(load_caloinn(tmp_path / "old.pt")[0], CaloINNFlow)
    a, _ = sample_caloinn(out / "m.pt", [50.0, 20.0], [0.1, 0.0], 2, 3, "cpu")
    b, _ = sample_caloinn(tmp_path / "old.pt", [50.0, 20.0], [0.1, 0.0], 2, 3, "cpu")
    np.testing.assert_array_equal(a, b)
    _rewritten(out / "m.pt", tmp_path / "broken.pt", architecture={**old, "energy_flow": True})
    with pytest.raises(InputFileError, match="broken.pt.*architecture"):
        load_caloinn(tmp_path / "broken.pt")


def test_energy_flow_settings_validated():
    with pytest.raises(ValueError, match="calo.train.caloinn.energy_flow'.*boolean"):
        training_settings({"energy_flow": "yes"})
    with pytest.raises(ValueError, match="calo.train.caloinn.energy_flow_bins"):
        training_settings({"energy_flow_bins": 1})
    with pytest.raises(ValueError, match="calo.train.caloinn.energy_flow_hidden_features"):
        training_settings({"energy_flow_hidden_features": []})
    with pytest.raises(ValueError, match="calo.train.caloinn.energy_flow_passes"):
        training_settings({"energy_flow_passes": 0})
    assert training_settings({"energy_flow_hidden_features": 16})["energy_flow_hidden_features"] == [16]
    assert training_settings({})["energy_flow"] is True  # the documented default: two flows


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
    cells, energy, theta = sparse_showers(20, np.random.default_rng(2))
    with h5py.File(tmp_path / "t.h5", "w") as f:
        f["showers"], f["energy"], f["theta"] = cells, energy, theta
        f.attrs["geometry"] = json.dumps(dict(zip(("nx", "ny", "nz"), GRID)))
        f.attrs["transform"] = json.dumps({"cell_threshold_gev": THRESHOLD})
    args = (tmp_path / "m.pt", tmp_path / "h.csv", tmp_path / "c.pt", "cpu")
    with pytest.raises(InputFileError, match="t.h5.*layer_thickness_mm.*align_to_axis: false"):
        train_caloinn(tmp_path / "t.h5", {**TINY, "epochs": 1}, 1, *args)
    train_caloinn(tmp_path / "t.h5", {**TINY, "epochs": 1, "align_to_axis": False}, 1, *args)
    assert load_caloinn(tmp_path / "m.pt")[1].axis_cells_per_tan == []


# --- the layer-wise Flow II (shape_flow: layerwise) -------------------------------------------------------

SMALL = {
    "blocks": 2,
    "hidden_features": 8,
    "bins": 4,
    "energy_flow_transforms": 2,
    "energy_flow_hidden_features": 8,
    "energy_flow_bins": 4,
    "shape_flow": "layerwise",
}
LAYERWISE_TINY = {
    "epochs": 2,
    "batch_size": 16,
    "blocks": 2,
    "hidden_features": [16],
    "bins": 4,
    "noise_level_gev": 5e-5,
    "shape_flow": "layerwise",
}


def _perturbed(flow: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():  # off the identity start, so a wrong reshape or context would show
        for p in flow.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return flow


@pytest.mark.parametrize("previous_layer,offsets", [(False, False), (True, False), (True, True)])
def test_layerwise_flow_inverts_and_factorises_over_layers(previous_layer, offsets):
    torch.manual_seed(0)
    layers, ncell = 5, 9
    settings = {**SMALL, "shape_flow_previous_layer": previous_layer, "axis_offset_conditions": offsets}
    flow = _perturbed(build_flow(training_settings(settings), layers * ncell + layers, layers=layers))
    shape = flow.shape_flow
    assert isinstance(shape, LayerwiseShapeFlow) and shape.features == layers * ncell
    n_cond = 2 + (layers if offsets else 0)
    x, c = torch.randn(6, layers * ncell + layers), torch.randn(6, n_cond)
    cells, layer_vars = flow.split(x)
    context = torch.cat([c, layer_vars], 1)
    # by hand: layer i's flow given [c, layer variables, one-hot(i)(, its own offset)(, layer i-1's cells)]
    per_layer, z = [], []
    for i in range(layers):
        parts = [context, torch.nn.functional.one_hot(torch.full((6,), i), layers).float()]
        if offsets:
            parts.append(c[:, 2 + i : 3 + i])
        if previous_layer:
            parts.append(cells[:, (i - 1) * ncell : i * ncell] if i else torch.zeros(6, ncell))
        ctx = torch.cat(parts, 1)
        xi = cells[:, i * ncell : (i + 1) * ncell]
        per_layer.append(shape.layer_flow.log_prob(xi, ctx))
        with torch.no_grad():
            z.append(shape.layer_flow.flow(ctx).transform(xi))
    torch.testing.assert_close(shape.log_prob(cells, context), torch.stack(per_layer, 1).sum(1))
    torch.testing.assert_close(
        flow.log_prob(x, c),  # Flow I sees (log E, theta) only
        flow.energy_flow.flow(c[:, :2]).log_prob(layer_vars) + torch.stack(per_layer, 1).sum(1),
    )
    with torch.no_grad():
        z_layers = flow.energy_flow.flow(c[:, :2]).transform(layer_vars)
        back = flow.sample_from_noise(torch.cat([torch.cat(z, 1), z_layers], 1), c)
    torch.testing.assert_close(back, x, atol=1e-4, rtol=1e-4)  # sampling is the exact inverse, layer by layer


def test_layerwise_settings_validated():
    with pytest.raises(ValueError, match="calo.train.caloinn.shape_flow'.*is not one of"):
        training_settings({"shape_flow": "per_layer"})
    with pytest.raises(ValueError, match="shape_flow: layerwise needs energy_flow: true"):
        training_settings({"shape_flow": "layerwise", "energy_flow": False})
    with pytest.raises(ValueError, match="calo.train.caloinn.shape_flow_previous_layer"):
        training_settings({"shape_flow_previous_layer": "yes"})
    assert training_settings({})["shape_flow"] == "joint"
    with pytest.raises(ValueError, match="axis_offset_conditions needs align_to_axis: true"):
        training_settings({"axis_offset_conditions": True, "align_to_axis": False})
    with pytest.raises(ValueError, match="calo.train.caloinn.axis_offset_conditions'.*boolean"):
        training_settings({"axis_offset_conditions": 1})


def test_axis_offsets_are_the_remainder_of_the_roll():
    pre = CaloINNPreprocessing((5, 3, 4), axis_cells_per_tan=[0.5, 1.5, 2.5, 3.5], axis_offset_conditions=True)
    theta = torch.tensor([0.0, float(np.arctan(0.5)), float(np.arctan(0.3))], dtype=torch.float64)
    expected = np.tan(theta.numpy())[:, None] * np.array([0.5, 1.5, 2.5, 3.5])
    expected -= np.round(expected)  # e.g. 0.3 * 3.5 = 1.05 cells: rolled by 1, the axis 0.05 cells on
    torch.testing.assert_close(pre.axis_offsets(theta), torch.from_numpy(expected))
    c = pre.encode_conditions(torch.tensor([10.0, 20.0, 50.0], dtype=torch.float64), theta)
    assert c.shape == (3, 2 + 4) and pre.conditions == 6
    torch.testing.assert_close(c[:, 2:], 2 * torch.from_numpy(expected).float())
    with pytest.raises(ValueError, match="axis_offset_conditions needs axis_cells_per_tan"):
        CaloINNPreprocessing((5, 3, 4), axis_offset_conditions=True)


def _layerwise_toy(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cells = rng.gamma(2.0, 1.0, (n, 3, 3, 4)) * rng.uniform(10, 100, n)[:, None, None, None] / 50
    cells *= rng.random(cells.shape) < 0.7
    cells = cells * (cells >= THRESHOLD)
    return cells.astype(np.float32), rng.uniform(10, 100, n), rng.uniform(0, 0.3, n)


@pytest.fixture(scope="module")
def layerwise_splits(tmp_path_factory):
    d = tmp_path_factory.mktemp("layerwise")
    rng = np.random.default_rng(4)
    write_split(d / "train.h5", *_layerwise_toy(48, rng))
    write_split(d / "validation.h5", *_layerwise_toy(16, rng))
    return d


@pytest.mark.parametrize("previous_layer", [False, True])
def test_layerwise_training_deterministic_resumes_and_generates(layerwise_splits, previous_layer):
    # the autoregressive variant also with the axis offsets: every option through training and generation
    settings = {**LAYERWISE_TINY, "shape_flow_previous_layer": previous_layer, "axis_offset_conditions": previous_layer}
    files = {k: layerwise_splits / f"{k}_{previous_layer}" for k in ("straight", "resumed")}
    args = lambda d: (d / "m.pt", d / "h.csv", d / "c.pt", "cpu")  # noqa: E731
    kw = {"validation_h5": layerwise_splits / "validation.h5"}
    straight = train_caloinn(layerwise_splits / "train.h5", settings, 5, *args(files["straight"]), **kw)
    train_caloinn(layerwise_splits / "train.h5", {**settings, "epochs": 1}, 5, *args(files["resumed"]), **kw)
    resumed = train_caloinn(layerwise_splits / "train.h5", settings, 5, *args(files["resumed"]), **kw)
    np.testing.assert_array_equal(resumed["loss"].to_numpy(), straight["loss"].to_numpy())
    assert np.isfinite(straight[["loss", "val_loss"]].to_numpy()).all()
    flow, _, meta = load_caloinn(files["straight"] / "m.pt")
    assert isinstance(flow.shape_flow, LayerwiseShapeFlow) and flow.shape_flow.previous_layer is previous_layer
    assert meta["architecture"]["shape_flow"] == "layerwise"
    assert meta["preprocessing"]["axis_offset_conditions"] is previous_layer
    energy, theta = np.array([20.0, 60.0, 90.0]), np.array([0.0, 0.1, 0.25])
    cells, rate = sample_caloinn(files["straight"] / "m.pt", energy, theta, batch_size=2, seed=3, device="cpu")
    again, _ = sample_caloinn(files["resumed"] / "m.pt", energy, theta, batch_size=2, seed=3, device="cpu")
    np.testing.assert_array_equal(again, cells)  # same weights, same showers
    assert cells.shape == (3, 3, 3, 4) and np.isfinite(cells).all() and rate > 0
    assert ((cells == 0) | (cells >= THRESHOLD)).all()


def test_joint_model_files_from_before_the_option_load(layerwise_splits, tmp_path):
    out = layerwise_splits / "joint"
    train_caloinn(
        layerwise_splits / "train.h5",
        {**LAYERWISE_TINY, "epochs": 1, "shape_flow": "joint"},
        5,
        out / "m.pt",
        out / "h.csv",
        out / "c.pt",
        "cpu",
    )
    meta = _model_file(out / "m.pt").meta
    old = {k: v for k, v in meta["architecture"].items() if not k.startswith("shape_flow")}
    old.pop("axis_offset_conditions")
    preprocessing = {k: v for k, v in meta["preprocessing"].items() if k != "axis_offset_conditions"}
    # as written before `shape_flow` and `axis_offset_conditions`
    _rewritten(out / "m.pt", tmp_path / "old.pt", architecture=old, preprocessing=preprocessing)
    flow = load_caloinn(tmp_path / "old.pt")[0]
    assert isinstance(flow.shape_flow, CaloINNFlow)
    a, _ = sample_caloinn(out / "m.pt", [50.0, 20.0], [0.1, 0.0], 2, 3, "cpu")
    b, _ = sample_caloinn(tmp_path / "old.pt", [50.0, 20.0], [0.1, 0.0], 2, 3, "cpu")
    np.testing.assert_array_equal(a, b)


WIDTHS = np.array([0.35, 0.6, 0.9, 1.3])  # Gaussian transverse width (cells) of layers 0..3


def _widening_showers(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Showers (n, 5, 5, 4): a Gaussian spot per layer whose width grows with depth, its centre displaced at
    random per shower (shared by all layers), so a model that does not learn how cells move together makes
    every layer too wide."""
    energy = rng.uniform(20, 80, n)
    centre = rng.uniform(1.0, 3.0, (n, 2))
    x = np.arange(5) + 0.0
    dx = (x[None, :] - centre[:, :1]) ** 2  # (n, 5)
    dy = (x[None, :] - centre[:, 1:]) ** 2
    r2 = dx[:, :, None] + dy[:, None, :]  # (n, 5, 5)
    spot = np.exp(-r2[..., None] / (2 * WIDTHS**2))  # (n, 5, 5, 4)
    spot *= rng.gamma(20.0, 1 / 20.0, spot.shape)  # cell-to-cell fluctuations
    spot /= spot.sum(axis=(1, 2), keepdims=True)
    cells = spot * (energy[:, None, None, None] * 0.2)
    cells = cells * (cells >= THRESHOLD)
    return cells.astype(np.float32), energy, rng.uniform(0, 0.05, n)


def _layer_widths(cells: np.ndarray) -> np.ndarray:
    """Mean over showers of each layer's transverse spread sqrt(<r^2> - <r>^2) in cells, (nz,)."""
    x = np.arange(cells.shape[1], dtype=float)
    e = cells.astype(float)
    total = np.clip(e.sum(axis=(1, 2)), 1e-12, None)  # (n, nz)
    out = 0.0
    for _axis, coord in ((1, x[None, :, None, None]), (2, x[None, None, :, None])):
        mean = (e * coord).sum(axis=(1, 2)) / total
        out = out + (e * coord**2).sum(axis=(1, 2)) / total - mean**2
    return np.sqrt(np.clip(out, 0, None)).mean(axis=0)


def test_layerwise_flow_learns_layer_dependent_width(tmp_path):
    rng = np.random.default_rng(8)
    write_split(tmp_path / "train.h5", *_widening_showers(300, rng))
    settings = {
        "epochs": 12,
        "batch_size": 16,
        "blocks": 4,
        "hidden_features": [32],
        "bins": 6,
        "noise_level_gev": 5e-5,
        "shape_flow": "layerwise",
        "lr_schedule": "one_cycle",
        "learning_rate": 5e-3,
        "energy_flow_passes": 1,
        "align_to_axis": False,
    }
    train_caloinn(tmp_path / "train.h5", settings, 2, *[tmp_path / p for p in ("m.pt", "h.csv", "c.pt")], "cpu")
    test_cells, energy, theta = _widening_showers(400, rng)
    reference = _layer_widths(test_cells)
    assert reference[-1] > 2 * reference[0]  # the toy is what the test needs: width grows with depth
    cells, _ = sample_caloinn(tmp_path / "m.pt", energy, theta, batch_size=200, seed=1, device="cpu")
    generated = _layer_widths(cells)
    print("widths: generated", generated, "reference", reference)
    assert np.abs(generated / reference - 1).max() < 0.2, (generated, reference)
    # control: every preprocessed cell drawn independently (right marginals, no correlations) makes the layers
    # far too wide, so matching the widths above is learnt, and this test can fail
    pre = CaloINNPreprocessing((5, 5, 4), cell_threshold_gev=THRESHOLD)
    cells_t, energy_t = torch.from_numpy(test_cells).double(), torch.from_numpy(energy)
    x = pre.forward(cells_t, energy_t)
    shuffled = torch.stack([x[torch.from_numpy(rng.permutation(len(x))), k] for k in range(x.shape[1])], 1)
    independent = _layer_widths(pre.inverse(shuffled, energy_t).numpy())
    assert np.abs(independent / reference - 1).max() > 0.4, (independent, reference)


def test_layer_variables_are_the_last_columns_of_forward():
    """Flow I's passes skip the cell fractions: same numbers, same noise draws, as the full preprocessing."""
    cells, energy, theta = _layerwise_toy(20, np.random.default_rng(1))
    cells_t, energy_t, theta_t = torch.from_numpy(cells).double(), torch.from_numpy(energy), torch.from_numpy(theta)
    pre = CaloINNPreprocessing(
        (3, 3, 4), cell_threshold_gev=THRESHOLD, noise_level_gev=5e-5, axis_cells_per_tan=[0.5, 1.5, 2.5, 3.5]
    )
    pre.fit(cells_t, energy_t, theta_t, torch.Generator().manual_seed(0))
    full = pre.forward(cells_t, energy_t, torch.Generator().manual_seed(2), theta_t)
    layers = pre.layer_variables(cells_t, energy_t, torch.Generator().manual_seed(2), theta_t)
    torch.testing.assert_close(layers, full[:, -4:], rtol=0, atol=0)


# --- sampling: temperature and the clip to the training range --------------------------------------------

TEMPERATURE_TINY = {
    "epochs": 2,
    "batch_size": 16,
    "blocks": 2,
    "hidden_features": [16],
    "bins": 4,
    "noise_level_gev": 5e-5,
    "shape_flow": "layerwise",
    "shape_flow_previous_layer": True,
}


def _write_geometry_split(path, sample) -> None:
    """A preprocessed split with a full geometry attribute (the temperature scan computes the features)."""
    geometry = load_geometry(REPO / "resources/calo/geometry_pbwo4.yaml")
    nx, ny, nz = sample.cells.shape[1:]
    geometry = dataclasses.replace(geometry, nx=nx, ny=ny, nz=nz)
    with h5py.File(path, "w") as f:
        f["showers"], f["energy"], f["theta"], f["pdg"] = sample.cells, sample.energy, sample.theta, sample.pdg
        f.attrs["geometry"] = json.dumps(geometry.to_dict())
        f.attrs["transform"] = json.dumps({"cell_threshold_gev": THRESHOLD})


@pytest.fixture(scope="module")
def temperature_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("temperature")
    _write_geometry_split(d / "train.h5", toy_showers(64, seed=1))
    _write_geometry_split(d / "validation.h5", toy_showers(40, seed=2))
    _write_geometry_split(d / "test.h5", toy_showers(40, seed=3))
    train_caloinn(
        d / "train.h5",
        TEMPERATURE_TINY,
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
    cells, _ = sample_caloinn(d / "model.pt", energy, theta, batch_size=64, seed=9, device="cpu", **options)
    return cells


def test_temperature_scales_only_the_cell_fractions(temperature_model):
    default, hot, cold = (
        _generate(temperature_model),
        _generate(temperature_model, 1.0),
        _generate(temperature_model, 0.5),
    )
    np.testing.assert_array_equal(default, hot)  # 1 is the trained density, bit for bit
    # Flow I's noise is untouched: every shower keeps its layer energies (the toy's cells sit far above threshold)
    np.testing.assert_allclose(cold.sum(axis=(1, 2)), hot.sum(axis=(1, 2)), rtol=1e-3)
    assert not np.allclose(cold, hot)

    def fraction_spread(cells):  # shower-to-shower spread of each cell's share of its layer
        fractions = cells / np.maximum(cells.sum(axis=(1, 2), keepdims=True), 1e-12)
        return fractions.std(axis=0).mean()

    assert fraction_spread(cold) < 0.8 * fraction_spread(hot)
    with pytest.raises(ValueError, match="temperature"):
        _generate(temperature_model, 0.0)


def test_choose_temperature_is_the_validation_fpd_minimum(temperature_model):
    grid = [0.5, 0.8, 1.0]
    first = choose_temperature(
        temperature_model / "model.pt", temperature_model / "validation.h5", grid, 64, seed=3, device="cpu"
    )
    again = choose_temperature(
        temperature_model / "model.pt", temperature_model / "validation.h5", grid, 64, seed=3, device="cpu"
    )
    assert first == again  # deterministic
    assert [row["temperature"] for row in first["scan"]] == grid
    assert all(np.isfinite(row["fpd"]) and row["fpd_error"] >= 0 for row in first["scan"])
    assert first["temperature"] == min(first["scan"], key=lambda row: row["fpd"])["temperature"]
    single = choose_temperature(
        temperature_model / "model.pt", temperature_model / "validation.h5", [1.0], 64, seed=3, device="cpu"
    )
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
        sampling_settings(settings)


def test_sampling_records_the_temperature(temperature_model):
    """The registry's `sample` chooses an `auto` temperature on the validation split and returns the record the
    generate step writes beside the showers; a fixed temperature gives the same showers and a short record."""
    with h5py.File(temperature_model / "test.h5") as f:
        energy, theta = f["energy"][:], f["theta"][:]
    base = {"conditions": "test", "batch_size": 64}
    auto = {**base, "caloinn": {"temperature": "auto", "temperature_grid": [0.7, 1.0]}}
    chosen = sample(
        "caloinn", temperature_model / "model.pt", energy, theta, auto, 1, "cpu", temperature_model / "validation.h5"
    )
    sampling = json.loads(json.dumps(chosen.sampling))  # what the timing file holds
    assert sampling["temperature"] in (0.7, 1.0) and len(sampling["scan"]) == 2
    fixed = {**base, "caloinn": {"temperature": sampling["temperature"]}}
    again = sample("caloinn", temperature_model / "model.pt", energy, theta, fixed, 1, "cpu")
    assert again.sampling == {"temperature": sampling["temperature"], "clamp_to_training_range": True}
    assert again.seed == chosen.seed
    np.testing.assert_array_equal(chosen.cells, again.cells)  # the scan leaves the showers alone
    with pytest.raises(ValueError, match="validation split"):
        sample("caloinn", temperature_model / "model.pt", energy, theta, auto, 1, "cpu")


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


def test_generation_clips_wild_samples_to_the_training_range(temperature_model, monkeypatch, caplog):
    """A flow gone wild (every feature at 50 sigma) gives, clipped, the showers of the training range's edge."""

    def wild_flow(path, device="auto"):
        flow, preprocessing, meta = load_caloinn(path, device)
        flow.sample_from_noise = lambda z, c: torch.full_like(z, 50.0)
        return flow, preprocessing, meta

    monkeypatch.setattr(sample_module, "load_caloinn", wild_flow)
    energy, theta = np.array([30.0, 80.0]), np.array([0.05, 0.2])
    clipped, _ = sample_caloinn(
        temperature_model / "model.pt", energy, theta, 2, seed=1, device="cpu", clamp_to_training_range=True
    )
    unclipped, _ = sample_caloinn(temperature_model / "model.pt", energy, theta, 2, seed=1, device="cpu")
    _, preprocessing, _ = load_caloinn(temperature_model / "model.pt", "cpu")
    edge = torch.tensor(preprocessing.feature_max, dtype=torch.float64).expand(2, -1)
    expected = preprocessing.inverse(edge, torch.from_numpy(energy), torch.from_numpy(theta)).float().numpy()
    np.testing.assert_allclose(clipped, expected, rtol=1e-5)
    assert not np.allclose(clipped, unclipped)
    # a model file written before the range was recorded is sampled unclipped, with a warning
    meta = _model_file(temperature_model / "model.pt").meta
    preprocessing = {k: v for k, v in meta["preprocessing"].items() if k not in ("feature_min", "feature_max")}
    _rewritten(temperature_model / "model.pt", temperature_model / "old.pt", preprocessing=preprocessing)
    old, _ = sample_caloinn(
        temperature_model / "old.pt", energy, theta, 2, seed=1, device="cpu", clamp_to_training_range=True
    )
    np.testing.assert_array_equal(old, unclipped)
    assert "no training range" in caplog.text
