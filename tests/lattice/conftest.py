"""Fixtures of the lattice tests: torch on one thread, a trained U(1) flow."""

import pytest
import torch

from tests.lattice.lattice_samples import U1_FLOW_SPEC
from twins.lattice.models import reverse_kl


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Training and sampling on one thread: same numbers on any machine with the same library."""
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained_u1(tmp_path_factory):
    """The model file of a U(1) flow trained for 3 short epochs (seed 7)."""
    path = tmp_path_factory.mktemp("lattice_u1")
    reverse_kl.train("u1", U1_FLOW_SPEC, 7, path / "ck.pt", path / "u1.pt", path / "u1.csv")
    return path / "u1.pt"
