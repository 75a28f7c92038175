"""Preprocess simulated showers for training: threshold, scaling, condition encoding, seeded split.

Each split file holds both the showers in GeV (`showers`, the reference for validation) and the model-space
tensor `x` with its `conditions`; the transform is stored as an attribute so generated showers can be
brought back to GeV.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from twins.calo.hdf5io import HDF5_COMPRESSION, SHOWER_DATASETS, read_geometry_attr
from twins.calo.transform import ShowerTransform
from twins.core.io import atomic_path, read_datasets, set_provenance
from twins.core.provenance import make_provenance, to_json

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


def split_indices(n: int, fractions: dict[str, float], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Shuffle 0..n-1 and cut it by the fractions of train/validation/test (they must sum to 1)."""
    if set(fractions) != set(SPLITS):
        raise ValueError(f"calo.preprocess split must have exactly the keys {list(SPLITS)}; got {sorted(fractions)}")
    total = sum(fractions.values())
    if abs(total - 1) > 1e-6 or min(fractions.values()) <= 0:
        raise ValueError(f"calo.preprocess split fractions must be positive and sum to 1; got {fractions}")
    order = rng.permutation(n)
    n_train = int(round(fractions["train"] * n))
    n_val = int(round(fractions["validation"] * n))
    if min(n_train, n_val, n - n_train - n_val) < 1:
        raise ValueError(f"{n} showers are too few for the split {fractions}; simulate more events")
    cut = {"train": order[:n_train], "validation": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}
    return {k: np.sort(v) for k, v in cut.items()}


def preprocess_showers(
    in_h5: str | Path, out_paths: dict[str, str | Path], settings: dict[str, Any], seed: int
) -> dict[str, int]:
    """Write train/validation/test files; return the number of showers in each."""
    settings = dict(settings)
    fractions = settings.pop("split")
    transform = ShowerTransform.from_settings(settings)
    data = read_datasets(in_h5, SHOWER_DATASETS)
    geometry = read_geometry_attr(in_h5)
    cells = transform.apply_threshold(data["showers"])
    x = transform.forward(cells, data["energy"]).astype(np.float32)
    conditions = transform.encode_conditions(data["energy"], data["theta"])
    parts = split_indices(len(cells), fractions, np.random.default_rng(seed))
    record = make_provenance("calo_preprocess", {**settings, "split": fractions}, seed=seed, inputs=[in_h5])
    for split, index in parts.items():
        with atomic_path(out_paths[split]) as tmp, h5py.File(tmp, "w", track_order=True) as f:
            for name, values in (
                ("showers", cells[index]),
                ("x", x[index]),
                ("conditions", conditions[index]),
                ("energy", data["energy"][index]),
                ("theta", data["theta"][index]),
                ("pdg", data["pdg"][index]),
            ):
                f.create_dataset(name, data=values, track_times=False, **HDF5_COMPRESSION)
            f.attrs["transform"] = to_json(transform.to_dict())
            f.attrs["geometry"] = to_json(geometry)
            f.attrs["split"] = split
            set_provenance(f, record)
        log.info("%s: %d showers -> %s", split, len(index), out_paths[split])
    return {k: len(v) for k, v in parts.items()}
