"""The one way every twin cuts a data set into train / validation / test parts.

The twins differ only in what they keep together (all frames of one scan), what they balance (each label
drawn in the same proportions) and which part takes what rounding leaves over; those are the options here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def split_indices(
    n: int,
    fractions: Mapping[str, float],
    rng: np.random.Generator,
    *,
    remainder: str | None = "test",
    groups: np.ndarray | None = None,
    stratify: np.ndarray | None = None,
    sort: bool = True,
    what: str = "items",
) -> dict[str, np.ndarray]:
    """Disjoint index arrays into range(n), one per key of `fractions`, drawn with `rng`.

    One random permutation of the units is cut into consecutive parts: each part but `remainder` gets
    round(fraction * units) units, in the order of `fractions`; the `remainder` part (cut last) takes
    what is left, so the fractions must sum to 1. remainder=None gives every part its rounded share and
    leaves the rest unused (fractions may then sum to less than 1).

    groups: (n,) group labels; the units are the distinct groups, and all items of a group land in one
        part (e.g. every frame of one scan).
    stratify: (n,) class labels; each class is permuted and cut on its own (in sorted label order), so
        every part holds the classes in the same proportions.
    sort: return each part's indices in increasing order (else in the drawn order).
    what: the name of the items in error messages ("showers", "segments", ...).

    ValueError naming the fractions when they do not add up or leave a part empty.
    """
    fractions = {name: float(value) for name, value in fractions.items()}
    if remainder is not None and remainder not in fractions:
        raise ValueError(f"split remainder '{remainder}' is not one of the parts {list(fractions)}")
    total = sum(fractions.values())
    if min(fractions.values()) <= 0 or (abs(total - 1) > 1e-6 if remainder else total > 1 + 1e-9):
        rule = "sum to 1" if remainder else "sum to at most 1"
        raise ValueError(f"split fractions must be positive and {rule}; got {fractions}")
    if groups is not None and stratify is not None:
        raise ValueError("split by groups or stratified by labels, not both")

    if stratify is not None:
        labels = np.asarray(stratify)
        per_class = [_cut(np.flatnonzero(labels == label), fractions, rng, remainder) for label in np.unique(labels)]
        parts = {name: np.concatenate([cut[name] for cut in per_class]) for name in fractions}
    elif groups is not None:
        groups = np.asarray(groups)
        chosen = _cut(np.unique(groups), fractions, rng, remainder)
        parts = {name: np.flatnonzero(np.isin(groups, keys)) for name, keys in chosen.items()}
    else:
        parts = _cut(np.arange(n), fractions, rng, remainder)

    empty = [name for name, part in parts.items() if len(part) == 0]
    if empty:
        raise ValueError(f"{n} {what} are too few for the split {fractions}: part(s) {empty} would be empty")
    return {name: np.sort(part) if sort else part for name, part in parts.items()}


def _cut(
    units: np.ndarray, fractions: dict[str, float], rng: np.random.Generator, remainder: str | None
) -> dict[str, np.ndarray]:
    """A permutation of `units` cut by the fractions, the remainder part last."""
    order = rng.permutation(units)
    names = [name for name in fractions if name != remainder] + ([remainder] if remainder else [])
    parts, start = {}, 0
    for name in names:
        stop = len(order) if name == remainder else start + int(round(fractions[name] * len(order)))
        parts[name] = order[start:stop]
        start = stop
    return {name: parts[name] for name in fractions}
