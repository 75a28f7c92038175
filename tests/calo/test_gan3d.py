"""The 3DGAN networks: shapes on two grids, the fixed ECAL-sum head, gradient flow."""

import numpy as np
import pytest
import torch

from twins.calo.gan3d import Discriminator3D, Generator3D
from twins.calo.transform import ShowerTransform


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
