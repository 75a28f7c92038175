import numpy as np
import pytest

from twins.tpc.encoding import inverse_log_transform, log_transform, split_segments


def test_splits_are_disjoint_seeded_and_checked():
    a = split_segments(100, {"train": 0.7, "validation": 0.1, "test": 0.2}, seed=5)
    b = split_segments(100, {"train": 0.7, "validation": 0.1, "test": 0.2}, seed=5)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert len(np.unique(np.concatenate(list(a.values())))) == 100
    with pytest.raises(ValueError, match="sum"):
        split_segments(100, {"train": 0.8, "validation": 0.2, "test": 0.2}, seed=5)


def test_split_keeps_its_draws_and_leaves_the_rounding_unused():
    """The permutation of derive_seed(seed, "tpc", "split"), cut train | validation | test by rounded shares
    whatever the order of the keys: the preprocessed files of earlier runs stay bit-identical."""
    from twins.core.seeding import derive_seed

    parts = split_segments(7, {"test": 0.3, "validation": 0.3, "train": 0.3}, seed=5)
    order = np.random.default_rng(derive_seed(5, "tpc", "split")).permutation(7)
    assert [list(parts[k]) for k in ("train", "validation", "test")] == [
        sorted(order[0:2]),
        sorted(order[2:4]),
        sorted(order[4:6]),
    ]
    with pytest.raises(ValueError, match="tpc.preprocess.split"):
        split_segments(3, {"train": 0.8, "validation": 0.1, "test": 0.1}, seed=5)


def test_log_transform_inverts():
    x = np.array([0.0, 3.0, 1023.0], dtype=np.float32)
    np.testing.assert_allclose(inverse_log_transform(log_transform(x)), x, rtol=1e-5)
    assert inverse_log_transform(np.array([-0.3]))[0] == 0.0
