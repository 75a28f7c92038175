import json

import h5py
import numpy as np
import pytest
import torch

from tests.calo.calo_samples import TOY_GEOMETRY, toy_showers
from twins.calo.hdf5io import write_showers_h5
from twins.calo.preprocess import preprocess_showers, split_indices
from twins.calo.transform import ShowerTransform

SETTINGS = {
    "cell_threshold_gev": 1e-3,
    "power": 0.85,
    "cell_scale": 1.0,
    "normalise_by_incident": False,
    "energy_scale_gev": 100.0,
    "split": {"train": 0.6, "validation": 0.2, "test": 0.2},
}


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
    with pytest.raises(ValueError, match="unknown calo.preprocess key"):
        ShowerTransform.from_settings({"powr": 0.8})


def test_split_is_seeded_disjoint_and_complete():
    fractions = {"train": 0.7, "validation": 0.1, "test": 0.2}
    a = split_indices(100, fractions, np.random.default_rng(1))
    b = split_indices(100, fractions, np.random.default_rng(1))
    c = split_indices(100, fractions, np.random.default_rng(2))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])
    assert sorted(np.concatenate(list(a.values()))) == list(range(100))
    assert [len(a[k]) for k in ("train", "validation", "test")] == [70, 10, 20]
    with pytest.raises(ValueError, match="sum to 1"):
        split_indices(100, {"train": 0.7, "validation": 0.2, "test": 0.2}, np.random.default_rng(0))


def test_preprocess_writes_splits_with_transform_and_provenance(tmp_path):
    source = tmp_path / "showers.h5"
    sample = toy_showers(50)
    write_showers_h5(source, sample, TOY_GEOMETRY, {"step": "calo_convert"})
    outs = {k: tmp_path / f"{k}.h5" for k in ("train", "validation", "test")}
    counts = preprocess_showers(source, outs, SETTINGS, seed=7)
    assert counts == {"train": 30, "validation": 10, "test": 10}
    with h5py.File(outs["test"]) as f:
        transform = ShowerTransform(**json.loads(f.attrs["transform"]))
        x, showers, energy = f["x"][...], f["showers"][...], f["energy"][...]
        assert f["conditions"].shape == (10, 2)
        np.testing.assert_allclose(f["conditions"][:, 0], energy / 100.0, rtol=1e-6)
    assert showers.min() == 0 or showers[showers > 0].min() >= 1e-3  # threshold applied
    np.testing.assert_allclose(transform.inverse(x, energy), showers, rtol=1e-4, atol=1e-6)
    before = outs["train"].read_bytes()
    preprocess_showers(source, outs, SETTINGS, seed=7)
    assert outs["train"].read_bytes() == before  # same input and seed: identical file
