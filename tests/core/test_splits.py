"""The one split function: plain, remainder, grouped and stratified cuts."""

import numpy as np
import pytest

from twins.core.splits import split_indices

FRACTIONS = {"train": 0.7, "validation": 0.1, "test": 0.2}


def test_parts_are_disjoint_cover_everything_and_follow_the_fractions():
    parts = split_indices(1000, FRACTIONS, np.random.default_rng(1))
    assert [len(parts[k]) for k in FRACTIONS] == [700, 100, 200]
    assert np.array_equal(np.sort(np.concatenate(list(parts.values()))), np.arange(1000))
    assert all(np.all(np.diff(p) > 0) for p in parts.values())


def test_the_cut_is_one_permutation_in_the_order_of_the_fractions():
    """What calo and the classifier test did before the one split function: permute, cut train | validation | test."""
    order = np.random.default_rng(7).permutation(50)
    parts = split_indices(50, FRACTIONS, np.random.default_rng(7), sort=False)
    assert np.array_equal(parts["train"], order[:35]) and np.array_equal(parts["validation"], order[35:40])
    assert np.array_equal(parts["test"], order[40:])


def test_remainder_part_is_cut_last_and_none_leaves_the_rest_unused():
    order = np.random.default_rng(3).permutation(20)
    parts = split_indices(
        20, {"train": 0.5, "validation": 0.25, "test": 0.25}, np.random.default_rng(3), remainder="train", sort=False
    )
    assert np.array_equal(parts["validation"], order[:5]) and np.array_equal(parts["train"], order[10:])
    partial = split_indices(
        100, {"train": 0.5, "validation": 0.1, "test": 0.1}, np.random.default_rng(3), remainder=None
    )
    assert sum(len(p) for p in partial.values()) == 70


def test_groups_stay_together():
    groups = np.repeat(np.arange(20), 5)
    parts = split_indices(len(groups), FRACTIONS, np.random.default_rng(2), groups=groups)
    seen = [set(groups[p]) for p in parts.values()]
    assert all(not (a & b) for i, a in enumerate(seen) for b in seen[i + 1 :])
    assert sum(len(s) for s in seen) == 20 and len(parts["train"]) == 14 * 5


def test_stratified_parts_keep_the_label_proportions():
    labels = np.array([0] * 80 + [1] * 20)
    parts = split_indices(
        100,
        {"train": 0.6, "validation": 0.2, "test": 0.2},
        np.random.default_rng(4),
        remainder="train",
        stratify=labels,
    )
    assert [int(labels[parts[k]].sum()) for k in ("train", "validation", "test")] == [12, 4, 4]


@pytest.mark.parametrize(
    "fractions, match",
    [
        ({"train": 0.7, "validation": 0.2, "test": 0.2}, "sum to 1"),
        ({"train": 1.0, "validation": 0.0, "test": 0.0}, "positive"),
    ],
)
def test_bad_fractions_are_named(fractions, match):
    with pytest.raises(ValueError, match=match):
        split_indices(10, fractions, np.random.default_rng(0))


def test_too_few_items_name_the_empty_part():
    with pytest.raises(ValueError, match=r"3 showers are too few.*\['validation'\]"):
        split_indices(3, FRACTIONS, np.random.default_rng(0), what="showers")
