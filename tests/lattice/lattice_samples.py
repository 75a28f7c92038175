"""Settings and helpers shared by the lattice tests: small ensemble specs and randomised flows."""

import torch

# An ensemble spec with every flow setting given (lattice_train's params spec).
FLOW_SPEC = {
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
U1_FLOW_SPEC = {**FLOW_SPEC, "theory": "u1", "couplings": {"beta": 1.0}}

# An ensemble spec for lattice_simulate and lattice_convert: a short leapfrog chain with thinning.
HMC_SPEC = {
    "theory": "phi4",
    "shape": [4, 4],
    "couplings": {"form": "hopping", "kappa": 0.25, "lam": 0.5},
    "hmc": {
        "integrator": "leapfrog",
        "trajectory_length": 1.0,
        "target_acceptance": 0.8,
        "initial_step_size": 0.1,
        "thermalisation": 20,
        "n_configs": 30,
        "thinning": 2,
    },
}


def randomise(flow, seed=0):
    """The flow with every parameter drawn from N(0, 0.3^2), in float64: a non-trivial map to test exactly."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    return flow.double()
