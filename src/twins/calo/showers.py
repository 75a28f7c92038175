"""The in-memory shower sample that every calorimeter step passes around, and its train/validation/test split."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from twins.core.splits import split_indices

SPLITS = ("train", "validation", "test")


@dataclass
class ShowerSample:
    """Showers with their primary conditions.

    cells:  float32 (N, nx, ny, nz), visible energy per cell in GeV (z = depth, layer 0 at the front)
    energy: float64 (N,), incident (primary) energy in GeV
    theta:  float64 (N,), incidence angle in rad, measured from the calorimeter normal in the x-z plane
    pdg:    int32 (N,), PDG id of the primary (11 electron, 22 photon, -11 positron)
    """

    cells: np.ndarray
    energy: np.ndarray
    theta: np.ndarray
    pdg: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.cells)
        if self.cells.ndim != 4:
            raise ValueError(f"ShowerSample.cells must be (N, nx, ny, nz); got shape {self.cells.shape}")
        for name in ("energy", "theta", "pdg"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"ShowerSample.{name} has {len(getattr(self, name))} entries but cells has {n} showers"
                )

    def __len__(self) -> int:
        return len(self.cells)

    def __getitem__(self, index) -> ShowerSample:
        return ShowerSample(self.cells[index], self.energy[index], self.theta[index], self.pdg[index])


def split_showers(n: int, fractions: Mapping[str, float], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Sorted index arrays of the train, validation and test showers among n: one permutation drawn from `rng`
    cut in that order, train and validation taking their rounded fractions and test the rest (calo.preprocess.split,
    which must hold exactly these three keys and sum to 1). ValueError names the key and the fix."""
    if set(fractions) != set(SPLITS):
        raise ValueError(f"calo.preprocess.split must have exactly the keys {list(SPLITS)}; got {sorted(fractions)}")
    try:  # the cut order is fixed, whatever order the config lists the parts in
        return split_indices(n, {name: fractions[name] for name in SPLITS}, rng, remainder="test", what="showers")
    except ValueError as err:
        fix = "; simulate more events (calo.simulate.events)" if "too few" in str(err) else ""
        raise ValueError(f"calo.preprocess.split: {err}{fix}") from None
