"""CaloINN's layer-wise Flow II (`shape_flow: layerwise`): exact inverse and factorisation, training (determinism,
resume), settings, older model files, and learning a layer-dependent transverse width."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.calo.calo_samples import write_caloinn_split
from twins.calo.caloinn import CaloINNFlow, CaloINNPreprocessing, LayerwiseShapeFlow, build_flow, resolve_settings
from twins.calo.train_caloinn import generate_caloinn, load_caloinn, train_caloinn

THRESHOLD = 1.0e-4
SMALL = {
    "blocks": 2,
    "hidden_features": 8,
    "bins": 4,
    "energy_flow_transforms": 2,
    "energy_flow_hidden_features": 8,
    "energy_flow_bins": 4,
    "shape_flow": "layerwise",
}
TINY = {
    "epochs": 2,
    "batch_size": 16,
    "blocks": 2,
    "hidden_features": [16],
    "bins": 4,
    "noise_level_gev": 5e-5,
    "shape_flow": "layerwise",
}


def _write(path, cells, energy, theta) -> None:
    write_caloinn_split(path, cells, energy, theta, THRESHOLD)


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
    flow = _perturbed(build_flow(resolve_settings(settings), layers * ncell + layers, layers=layers))
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
    with pytest.raises(ValueError, match="calo.train.caloinn.shape_flow must be one of"):
        resolve_settings({"shape_flow": "per_layer"})
    with pytest.raises(ValueError, match="shape_flow: layerwise needs energy_flow: true"):
        resolve_settings({"shape_flow": "layerwise", "energy_flow": False})
    with pytest.raises(ValueError, match="calo.train.caloinn.shape_flow_previous_layer"):
        resolve_settings({"shape_flow_previous_layer": "yes"})
    assert resolve_settings({})["shape_flow"] == "joint"
    with pytest.raises(ValueError, match="axis_offset_conditions needs align_to_axis: true"):
        resolve_settings({"axis_offset_conditions": True, "align_to_axis": False})
    with pytest.raises(ValueError, match="calo.train.caloinn.axis_offset_conditions must be true or false"):
        resolve_settings({"axis_offset_conditions": 1})


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


def _toy(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cells = rng.gamma(2.0, 1.0, (n, 3, 3, 4)) * rng.uniform(10, 100, n)[:, None, None, None] / 50
    cells *= rng.random(cells.shape) < 0.7
    cells = cells * (cells >= THRESHOLD)
    return cells.astype(np.float32), rng.uniform(10, 100, n), rng.uniform(0, 0.3, n)


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    d = tmp_path_factory.mktemp("layerwise")
    rng = np.random.default_rng(4)
    _write(d / "train.h5", *_toy(48, rng))
    _write(d / "validation.h5", *_toy(16, rng))
    return d


@pytest.mark.parametrize("previous_layer", [False, True])
def test_layerwise_training_deterministic_resumes_and_generates(splits, previous_layer):
    # the autoregressive variant also with the axis offsets: every option through training and generation
    settings = {**TINY, "shape_flow_previous_layer": previous_layer, "axis_offset_conditions": previous_layer}
    files = {k: splits / f"{k}_{previous_layer}" for k in ("straight", "resumed")}
    args = lambda d: (d / "m.pt", d / "h.csv", d / "c.pt", "cpu")  # noqa: E731
    kw = {"validation_h5": splits / "validation.h5"}
    straight = train_caloinn(splits / "train.h5", settings, 5, *args(files["straight"]), **kw)
    train_caloinn(splits / "train.h5", {**settings, "epochs": 1}, 5, *args(files["resumed"]), **kw)
    resumed = train_caloinn(splits / "train.h5", settings, 5, *args(files["resumed"]), **kw)
    np.testing.assert_array_equal(resumed["loss"].to_numpy(), straight["loss"].to_numpy())
    assert np.isfinite(straight[["loss", "val_loss"]].to_numpy()).all()
    flow, _, meta = load_caloinn(files["straight"] / "m.pt")
    assert isinstance(flow.shape_flow, LayerwiseShapeFlow) and flow.shape_flow.previous_layer is previous_layer
    assert meta["architecture"]["shape_flow"] == "layerwise"
    assert meta["preprocessing"]["axis_offset_conditions"] is previous_layer
    energy, theta = np.array([20.0, 60.0, 90.0]), np.array([0.0, 0.1, 0.25])
    cells, rate = generate_caloinn(files["straight"] / "m.pt", energy, theta, batch_size=2, seed=3, device="cpu")
    again, _ = generate_caloinn(files["resumed"] / "m.pt", energy, theta, batch_size=2, seed=3, device="cpu")
    np.testing.assert_array_equal(again, cells)  # same weights, same showers
    assert cells.shape == (3, 3, 3, 4) and np.isfinite(cells).all() and rate > 0
    assert ((cells == 0) | (cells >= THRESHOLD)).all()


def test_joint_model_files_from_before_the_option_load(splits, tmp_path):
    out = splits / "joint"
    train_caloinn(
        splits / "train.h5",
        {**TINY, "epochs": 1, "shape_flow": "joint"},
        5,
        out / "m.pt",
        out / "h.csv",
        out / "c.pt",
        "cpu",
    )
    record = torch.load(out / "m.pt", weights_only=False)
    old = {k: v for k, v in record["architecture"].items() if not k.startswith("shape_flow")}
    old.pop("axis_offset_conditions")
    preprocessing = {k: v for k, v in record["preprocessing"].items() if k != "axis_offset_conditions"}
    # as written before `shape_flow` and `axis_offset_conditions`
    torch.save({**record, "architecture": old, "preprocessing": preprocessing}, tmp_path / "old.pt")
    flow = load_caloinn(tmp_path / "old.pt")[0]
    assert isinstance(flow.shape_flow, CaloINNFlow)
    a, _ = generate_caloinn(out / "m.pt", [50.0, 20.0], [0.1, 0.0], 2, 3, "cpu")
    b, _ = generate_caloinn(tmp_path / "old.pt", [50.0, 20.0], [0.1, 0.0], 2, 3, "cpu")
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
    _write(tmp_path / "train.h5", *_widening_showers(300, rng))
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
    cells, _ = generate_caloinn(tmp_path / "m.pt", energy, theta, batch_size=200, seed=1, device="cpu")
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
    cells, energy, theta = _toy(20, np.random.default_rng(1))
    cells_t, energy_t, theta_t = torch.from_numpy(cells).double(), torch.from_numpy(energy), torch.from_numpy(theta)
    pre = CaloINNPreprocessing(
        (3, 3, 4), cell_threshold_gev=THRESHOLD, noise_level_gev=5e-5, axis_cells_per_tan=[0.5, 1.5, 2.5, 3.5]
    )
    pre.fit(cells_t, energy_t, theta_t, torch.Generator().manual_seed(0))
    full = pre.forward(cells_t, energy_t, torch.Generator().manual_seed(2), theta_t)
    layers = pre.layer_variables(cells_t, energy_t, torch.Generator().manual_seed(2), theta_t)
    torch.testing.assert_close(layers, full[:, -4:], rtol=0, atol=0)
