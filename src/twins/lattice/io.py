"""The lattice twin's files: the raw HMC chain (.npz, lattice_simulate -> lattice_convert) and the ensemble
HDF5 layout, readable by any HDF5 code:

/configs       float64 (n, *field_shape)  phi^4: phi_x in our convention (twins.lattice.theories);
                                          U(1): link angles theta[mu, x0, x1] in [-pi, pi), radians
/trajectory    int64 (n,)                 HMC trajectory number, or NF-MCMC step number, of each config
/accepted      bool (m,)                  accept flag of every trajectory / proposal of the chain
attrs: theory ("phi4" | "u1"), shape (lattice extents), couplings (JSON, as configured),
       couplings_albergo (JSON {m2, lam}, phi^4 only), algorithm ("hmc-leapfrog", "hmc-omelyan",
       "nf-mcmc"), seed, ensemble, layout_version, provenance (JSON, twins.core.provenance)

The raw chain: configs (n, *field_shape), trajectory (n,), accepted (m,), delta_h (m,) of every trajectory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from twins.core.io import InputFileError, atomic_path, open_hdf5, set_provenance
from twins.lattice.theories import make_theory, phi4_to_hopping

LAYOUT_VERSION = 1
DATASETS = ("configs", "trajectory", "accepted")
CHAIN_ARRAYS = ("configs", "trajectory", "accepted", "delta_h")


@dataclass
class Ensemble:
    configs: np.ndarray
    trajectory: np.ndarray
    accepted: np.ndarray
    attrs: dict


def write_ensemble(path: str | Path, ensemble: Ensemble, provenance: dict) -> None:
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("configs", data=np.asarray(ensemble.configs, dtype=np.float64), compression="gzip")
            f.create_dataset("trajectory", data=np.asarray(ensemble.trajectory, dtype=np.int64))
            f.create_dataset("accepted", data=np.asarray(ensemble.accepted, dtype=bool))
            for key, value in ensemble.attrs.items():
                f.attrs[key] = json.dumps(value) if isinstance(value, dict) else value
            f.attrs["layout_version"] = LAYOUT_VERSION
            set_provenance(f, provenance)


def read_ensemble(path: str | Path) -> Ensemble:
    with open_hdf5(path, required=DATASETS) as f:
        attrs = {}
        for key, value in f.attrs.items():
            if isinstance(value, str) and value.startswith("{"):
                value = json.loads(value)
            elif isinstance(value, np.ndarray):
                value = value.tolist()
            elif isinstance(value, np.generic):
                value = value.item()
            attrs[key] = value
        if attrs.get("layout_version") != LAYOUT_VERSION:
            raise InputFileError(
                f"{path}: layout_version {attrs.get('layout_version')} is not {LAYOUT_VERSION}; "
                "rerun the rule that wrote it"
            )
        return Ensemble(f["configs"][...], f["trajectory"][...], f["accepted"][...], attrs)


def theory_attrs(spec: dict) -> dict:
    """Metadata every ensemble file carries about its theory (spec: theory, shape, couplings)."""
    theory = make_theory(spec["theory"], spec["shape"], spec["couplings"])
    attrs = {"theory": spec["theory"], "shape": list(theory.shape), "couplings": dict(spec["couplings"])}
    if theory.name == "phi4":
        kappa, lam_h = phi4_to_hopping(theory.m2, theory.lam, theory.dim)
        attrs["couplings_albergo"] = {"m2": theory.m2, "lam": theory.lam}
        attrs["couplings_hopping"] = {"kappa": kappa, "lam": lam_h}
    return attrs


def write_hmc_chain(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """The raw HMC chain {configs, trajectory, accepted, delta_h} as an .npz file, written atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as stream:
            np.savez(stream, **{name: arrays[name] for name in CHAIN_ARRAYS})


def read_hmc_chain(path: str | Path, names: tuple[str, ...] = DATASETS) -> dict[str, np.ndarray]:
    """Arrays `names` of a raw HMC chain file; InputFileError naming the file and the rule to rerun."""
    try:
        with np.load(path) as raw:
            missing = [name for name in names if name not in raw.files]
            if not missing:
                return {name: raw[name] for name in names}
    except (OSError, ValueError) as err:
        raise InputFileError(f"{path}: cannot read the HMC chain ({err}); rerun rule lattice_simulate") from None
    raise InputFileError(f"{path}: HMC chain lacks arrays {missing}; rerun rule lattice_simulate")
