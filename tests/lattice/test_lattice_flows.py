"""Flows: exact log densities, the odd option, training with resume, NaN guard, NF-MCMC."""

import math

import numpy as np
import pytest
import torch

from twins.core.training import TrainingDiverged
from twins.lattice import train as train_module
from twins.lattice.flows import Phi4Flow, U1Flow, effective_sample_size, torch_action
from twins.lattice.generate import independence_metropolis
from twins.lattice.theories import U1, Phi4, wrap_angle
from twins.lattice.train import load_flow, train_flow

torch.set_num_threads(1)


def randomise(flow, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    return flow.double()


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


SPEC = {
    "theory": "phi4",
    "shape": [4, 4],
    "couplings": {"form": "albergo", "m2": -1.0, "lam": 1.0},
    "flow": {
        "layers": 2,
        "hidden": [4],
        "kernel": 3,
        "odd": False,
        "mixture": 2,
        "learning_rate": 0.01,
        "epochs": 3,
        "steps_per_epoch": 5,
        "batch_size": 16,
        "ess_samples": 64,
        "grad_clip": 10.0,
    },
}


def run(tmp_path, name, spec=SPEC):
    return train_flow(name, spec, 7, tmp_path / "ck.pt", tmp_path / f"{name}.pt", tmp_path / f"{name}.csv")


def test_training_lowers_the_loss_and_resumes_after_a_kill(tmp_path, monkeypatch):
    run(tmp_path / "a", "x")
    history = np.loadtxt(tmp_path / "a/x.csv", delimiter=",", skiprows=1)
    assert history[-1, 1] < history[0, 1] and np.all((history[:, 2] > 0) & (history[:, 2] <= 1))

    calls = {"n": 0}
    real = train_module.effective_sample_size

    def killed_in_second_epoch(log_w):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real(log_w)

    monkeypatch.setattr(train_module, "effective_sample_size", killed_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", "x")
    monkeypatch.setattr(train_module, "effective_sample_size", real)
    run(tmp_path / "b", "x")
    a = torch.load(tmp_path / "a/x.pt", weights_only=False)["state_dict"]
    b = torch.load(tmp_path / "b/x.pt", weights_only=False)["state_dict"]
    for key in a:
        torch.testing.assert_close(a[key], b[key])


def test_non_finite_loss_stops_training(tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "torch_action", lambda theory, x: torch.full((x.shape[0],), math.nan))
    with pytest.raises(TrainingDiverged):
        run(tmp_path, "nan")


def test_u1_training_and_nfmcmc_chain(tmp_path):
    spec = {**SPEC, "theory": "u1", "couplings": {"beta": 1.0}}
    run(tmp_path, "u1", spec)
    flow, theory, _, seconds = load_flow(tmp_path / "u1.pt")
    assert seconds > 0
    chain = independence_metropolis(flow, theory, 200, 64, seed=3)
    assert chain.configs.shape == (200, 2, 4, 4) and 0 < chain.acceptance < 1
    again = independence_metropolis(flow, theory, 200, 64, seed=3)
    np.testing.assert_array_equal(chain.configs, again.configs)
    # every chain element is one of the proposals, kept or replaced as the accept flags say
    assert np.array_equal(np.diff(np.flatnonzero(chain.accepted)) > 0, np.ones(chain.accepted.sum() - 1, bool))
    assert np.all(np.abs(wrap_angle(chain.configs) - chain.configs) < 1e-12)


def test_perfect_proposal_is_always_accepted(monkeypatch):
    """If log q = -S up to a constant, every independence-Metropolis proposal is accepted."""
    flow = randomise(Phi4Flow((4, 4), layers=2, hidden=[4], kernel=3, odd=False))
    theory = Phi4((4, 4), -1.0, 1.0)

    class Exact(torch.nn.Module):
        def sample(self, n, generator=None):
            x, log_q = flow.sample(n, generator)
            return x, -torch_action(theory, x) + 3.0

    chain = independence_metropolis(Exact(), theory, 100, 30, seed=0)
    assert chain.acceptance == 1.0
    assert effective_sample_size(torch.zeros(10)) == pytest.approx(1.0)
