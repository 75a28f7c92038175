"""Training sets: the seeded split by scan (twins.core.splits) and the class balancing."""

import numpy as np
import pytest

from twins.pulsar.training_sets import balance_indices, split_frames


def test_balancing_and_splits_are_seeded():
    labels = np.zeros((100, 3), dtype=np.uint8)
    labels[:10, 0] = 1
    idx = balance_indices(labels, np.random.default_rng(0), max_oversample=4)
    assert labels[idx, 0].sum() == 40 and (labels[idx].sum(axis=1) == 0).sum() == 90
    groups = np.repeat(np.arange(10), 10)
    a = split_frames(groups, {"train": 0.6, "validation": 0.2, "test": 0.2}, np.random.default_rng(5))
    b = split_frames(groups, {"train": 0.6, "validation": 0.2, "test": 0.2}, np.random.default_rng(5))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not set(groups[a["train"]]) & set(groups[a["test"]])  # whole scans per split
    assert sum(len(v) for v in a.values()) == 100


def test_few_scans_are_split_frame_by_frame_and_validation_gets_one_at_least():
    fractions = {"train": 0.85, "validation": 0.03, "test": 0.12}
    groups = np.repeat(np.arange(3), 4)  # 3 scans: too few to keep whole, frames split one by one
    parts = split_frames(groups, fractions, np.random.default_rng(0))
    assert [len(parts[k]) for k in ("train", "validation", "test")] == [10, 1, 1]  # validation: round(0.36) -> 1
    # fractions are normalised by their sum: twice them is the same split
    doubled = split_frames(groups, {k: 2 * v for k, v in fractions.items()}, np.random.default_rng(0))
    assert all(np.array_equal(parts[k], doubled[k]) for k in parts)
    with pytest.raises(ValueError, match="too few"):
        split_frames(np.zeros(3, dtype=int), fractions, np.random.default_rng(0))  # nothing left to test
