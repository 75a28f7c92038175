"""The shower sample and its seeded train/validation/test split (twins.calo.showers)."""

import numpy as np
import pytest

from twins.calo.showers import split_showers


def test_split_is_seeded_disjoint_and_complete():
    fractions = {"train": 0.7, "validation": 0.1, "test": 0.2}
    a = split_showers(100, fractions, np.random.default_rng(1))
    b = split_showers(100, fractions, np.random.default_rng(1))
    c = split_showers(100, fractions, np.random.default_rng(2))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])
    assert sorted(np.concatenate(list(a.values()))) == list(range(100))
    assert [len(a[k]) for k in ("train", "validation", "test")] == [70, 10, 20]
    with pytest.raises(ValueError, match="calo.preprocess.split: .*sum to 1"):
        split_showers(100, {"train": 0.7, "validation": 0.2, "test": 0.2}, np.random.default_rng(0))


def test_split_cuts_one_permutation_train_validation_test_whatever_the_key_order():
    """The cut of the preprocessed files: one rng.permutation(n), train and validation their rounded shares in
    that order, test the rest (so same seed, same files as before the shared split function)."""
    n, fractions = 53, {"test": 0.2, "validation": 0.13, "train": 0.67}
    order = np.random.default_rng(5).permutation(n)
    n_train, n_val = round(0.67 * n), round(0.13 * n)
    expected = {
        "train": order[:n_train],
        "validation": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
    parts = split_showers(n, fractions, np.random.default_rng(5))
    for name, index in expected.items():
        np.testing.assert_array_equal(parts[name], np.sort(index))


def test_too_few_showers_say_to_simulate_more():
    with pytest.raises(ValueError, match=r"would be empty.*simulate more events \(calo.simulate.events\)"):
        split_showers(3, {"train": 0.7, "validation": 0.1, "test": 0.2}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="exactly the keys"):
        split_showers(10, {"train": 0.8, "test": 0.2}, np.random.default_rng(0))
