"""The invertible map between showers in GeV and the generators' model space (twins.calo.transform)."""

import numpy as np
import pytest
import torch

from tests.calo.calo_samples import toy_showers
from twins.calo.transform import ShowerTransform


@pytest.mark.parametrize("normalise", [False, True])
def test_transform_inverts_to_gev_for_numpy_and_torch(normalise):
    sample = toy_showers(8)
    transform = ShowerTransform(cell_threshold_gev=1e-3, normalise_by_incident=normalise, cell_scale=3.0)
    x = transform.forward(sample.cells, sample.energy)
    expected = transform.apply_threshold(sample.cells)
    np.testing.assert_allclose(transform.inverse(x, sample.energy), expected, rtol=1e-4, atol=1e-6)
    back = transform.inverse(torch.from_numpy(x), torch.from_numpy(sample.energy))
    np.testing.assert_allclose(back.numpy(), expected, rtol=1e-4, atol=1e-6)
    assert transform.inverse(-np.ones((1, 1, 1, 1)), np.ones(1)).min() == 0  # negative outputs clipped


def test_transform_rejects_bad_settings():
    with pytest.raises(ValueError, match="calo.preprocess.power"):
        ShowerTransform(power=0)
    with pytest.raises(
        ValueError, match=r"config key 'calo.preprocess': Additional properties .*'powr' was unexpected"
    ):
        ShowerTransform.from_settings({"powr": 0.8})
