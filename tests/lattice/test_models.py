"""The flows: exact log densities, the odd option, the registry, reverse-KL training with resume and NaN guard,
and the model file."""

import math

import numpy as np
import pytest
import torch

from tests.lattice.lattice_samples import FLOW_SPEC, randomise
from twins.core.io import InputFileError
from twins.core.model_file import load_model, save_model
from twins.core.training import TrainingDiverged
from twins.lattice.models import build_flow, get_model, reverse_kl, torch_action
from twins.lattice.models.phi4_flow import Phi4Flow
from twins.lattice.models.u1_flow import U1Flow
from twins.lattice.theories import U1, Phi4, make_theory


def jacobian_log_q(flow, prior_log_density, z):
    """log q(x) by change of variables with the full autograd Jacobian of z -> x."""

    def push(flat):
        x = flat.reshape(1, *z.shape)
        for layer in flow.couplings:
            x, _ = layer(x)
        return x.reshape(-1)

    jac = torch.autograd.functional.jacobian(push, z.reshape(-1))
    return prior_log_density - torch.linalg.slogdet(jac)[1]


def test_phi4_flow_log_density_is_exact():
    flow = randomise(Phi4Flow((4, 4), layers=4, hidden=[4], kernel=3, odd=False))
    torch.manual_seed(0)
    x, log_q = flow.sample(1)
    torch.manual_seed(0)
    z = torch.randn((1, 4, 4), dtype=torch.float64)[0]
    prior = -0.5 * (z**2).sum() - 8 * math.log(2 * math.pi)
    assert float(log_q[0].detach()) == pytest.approx(float(jacobian_log_q(flow, prior, z)), rel=1e-8)


def test_u1_flow_log_density_is_exact_and_charge_integer():
    flow = randomise(U1Flow((4, 4), layers=4, hidden=[4], kernel=3, mixture=3), seed=1)
    torch.manual_seed(1)
    theta, log_q = flow.sample(3)
    torch.manual_seed(1)
    z = 2 * math.pi * torch.rand((3, 2, 4, 4), dtype=torch.float64) - math.pi
    prior = -32 * math.log(2 * math.pi)
    for i in range(3):
        assert float(log_q[i].detach()) == pytest.approx(float(jacobian_log_q(flow, prior, z[i])), rel=1e-8)
    q = U1.topological_charge(theta.detach().numpy())
    np.testing.assert_allclose(q, np.round(q), atol=1e-9)
    assert float(theta.detach().abs().max()) <= math.pi


def test_odd_flow_is_odd_and_its_density_symmetric():
    flow = randomise(Phi4Flow((4, 4), layers=4, hidden=[4], kernel=3, odd=True), seed=2)
    z = torch.randn((5, 4, 4), dtype=torch.float64)
    outputs = []
    for sign in (1, -1):
        x, log_det = sign * z, torch.zeros(5, dtype=torch.float64)
        for layer in flow.couplings:
            x, ld = layer(x)
            log_det = log_det + ld
        outputs.append((x, log_det))
    torch.testing.assert_close(outputs[1][0], -outputs[0][0])
    torch.testing.assert_close(outputs[1][1], outputs[0][1])


def test_registry_builds_the_flow_of_each_theory_and_its_torch_action_matches_numpy():
    phi4 = make_theory("phi4", [4, 4], {"m2": -1.0, "lam": 1.0})
    u1 = make_theory("u1", [4, 4], {"beta": 1.3})
    assert isinstance(build_flow(phi4, FLOW_SPEC["flow"]), Phi4Flow)
    assert isinstance(build_flow(u1, FLOW_SPEC["flow"]), U1Flow)
    rng = np.random.default_rng(0)
    for theory in (phi4, u1):
        x = rng.uniform(-math.pi, math.pi, (3, *theory.field_shape()))
        np.testing.assert_allclose(
            torch_action(theory, torch.from_numpy(x)).numpy(), theory.action(x), rtol=1e-10, atol=1e-10
        )
    with pytest.raises(ValueError, match="xy"):
        get_model("xy")


def run(tmp_path, name, spec=FLOW_SPEC):
    return reverse_kl.train(name, spec, 7, tmp_path / "ck.pt", tmp_path / f"{name}.pt", tmp_path / f"{name}.csv")


def test_training_lowers_the_loss_and_resumes_after_a_kill(tmp_path, monkeypatch):
    run(tmp_path / "a", "x")
    history = np.loadtxt(tmp_path / "a/x.csv", delimiter=",", skiprows=1)
    assert history[-1, 1] < history[0, 1] and np.all((history[:, 2] > 0) & (history[:, 2] <= 1))

    calls = {"n": 0}
    real = reverse_kl.effective_sample_size

    def killed_in_second_epoch(log_w):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real(log_w)

    monkeypatch.setattr(reverse_kl, "effective_sample_size", killed_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", "x")
    monkeypatch.setattr(reverse_kl, "effective_sample_size", real)
    run(tmp_path / "b", "x")
    a = load_model(tmp_path / "a/x.pt", "lattice", "phi4", "test").weights["flow"]
    b = load_model(tmp_path / "b/x.pt", "lattice", "phi4", "test").weights["flow"]
    for key in a:
        torch.testing.assert_close(a[key], b[key])


def test_non_finite_loss_stops_training(tmp_path, monkeypatch):
    monkeypatch.setattr(reverse_kl, "torch_action", lambda theory, x: torch.full((x.shape[0],), math.nan))
    with pytest.raises(TrainingDiverged):
        run(tmp_path, "nan")


def test_model_file_gives_the_flow_in_float64_and_refuses_other_models(trained_u1, tmp_path):
    trained = reverse_kl.load(trained_u1)
    assert trained.training_seconds > 0 and trained.spec["couplings"] == {"beta": 1.0}
    assert isinstance(trained.theory, U1) and not trained.flow.training
    assert all(p.dtype == torch.float64 for p in trained.flow.parameters())
    other = tmp_path / "other.pt"
    save_model(other, "tpc", "fast4", weights={}, meta={})
    with pytest.raises(InputFileError, match="lattice_train"):
        reverse_kl.load(other)
    with pytest.raises(InputFileError, match="lattice_train"):
        reverse_kl.load(tmp_path / "missing.pt")


def test_missing_flow_settings_take_the_schema_defaults(tmp_path):
    spec = {**FLOW_SPEC, "flow": {"layers": 2, "hidden": [4], "epochs": 1, "steps_per_epoch": 1, "batch_size": 4}}
    run(tmp_path, "defaults", spec)
    flow = reverse_kl.load(tmp_path / "defaults.pt")
    assert flow.spec["flow"]["ess_samples"] == 256 and flow.spec["flow"]["kernel"] == 3
    assert isinstance(flow.theory, Phi4)
