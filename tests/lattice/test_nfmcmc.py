"""NF-MCMC: a reproducible exact chain from a trained flow; a perfect proposal is always accepted."""

import numpy as np
import pytest
import torch

from tests.lattice.lattice_samples import randomise
from twins.lattice.models import reverse_kl, torch_action
from twins.lattice.models.phi4_flow import Phi4Flow
from twins.lattice.nfmcmc import effective_sample_size, independence_metropolis
from twins.lattice.theories import Phi4, wrap_angle


def test_u1_training_and_nfmcmc_chain(trained_u1):
    trained = reverse_kl.load(trained_u1)
    assert trained.training_seconds > 0
    chain = independence_metropolis(trained.flow, trained.theory, 200, 64, seed=3)
    assert chain.configs.shape == (200, 2, 4, 4) and 0 < chain.acceptance < 1
    again = independence_metropolis(trained.flow, trained.theory, 200, 64, seed=3)
    np.testing.assert_array_equal(chain.configs, again.configs)
    # every chain element is one of the proposals, kept or replaced as the accept flags say
    assert np.array_equal(np.diff(np.flatnonzero(chain.accepted)) > 0, np.ones(chain.accepted.sum() - 1, bool))
    assert np.all(np.abs(wrap_angle(chain.configs) - chain.configs) < 1e-12)


def test_perfect_proposal_is_always_accepted():
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
