"""ROOT files written by any Geant4 application, read through a mapping into the shower HDF5 layout of
twins.calo.io (rule calo_convert with calo.convert.source: external).

A mapping (config slice calo.convert.external, without its `files`) says where the foreign file keeps what the
twin needs; the schema (workflow/schemas/calo.schema.yaml, $defs/external_root) holds every key's default and
range, docs/external_geant4.md shows real layouts:

    tree             TTree name
    cells_branch     branch with the cell energies: one fixed-size array per event, flat
                     (nx*ny*nz numbers) or multi-dimensional, or a variable-length vector whose
                     length is always nx*ny*nz
    cells_shape      [nx, ny, nz], the grid in x, y, z order (z = depth, layer 0 at the front)
    cells_order      axis order of the stored array, a permutation of "xyz": "zxy" means the
                     stored array is [nz][nx][ny] (z slowest). The stored shape is cells_shape
                     permuted by cells_order.
    cells_index_branches  null (dense layout, above) or {x: name, y: name, z: name}: a sparse
                     layout, where cells_branch is a variable-length list of the non-empty cells'
                     energies and these integer branches (same length) give each one's cell index
                     (as Geant4's Par04 example writes EnergyCell with rhoCell, phiCell, zCell);
                     cells_order must then stay xyz; repeated indices are summed
    cells_unit       eV | keV | MeV | GeV
    cells_transform  none | log10 (stored values are log10 of the energy in cells_unit)
    cells_floor      with log10 only: stored values <= floor are empty cells (0 GeV); null = none
    energy_branch | energy_value     primary energy, a scalar branch or one constant
    energy_unit      eV | keV | MeV | GeV
    theta_branch | theta_value       incidence angle, a scalar branch or one constant (default 0)
    theta_unit       rad | deg
    particle         e- | e+ | gamma (the PDG id written for every shower)
    geometry         the calorimeter the cells belong to: a mapping with the CaloGeometry fields
                     (material inline, or a name looked up in `materials_file`), or the path of a
                     geometry YAML file; its nx, ny, nz must equal cells_shape

settings (like calo.convert): step_size — events read per step (bounds peak memory);
chunk_showers — HDF5 chunk length along the shower axis.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import uproot

from twins.calo.geometry import CaloGeometry, geometry_from_dict, load_geometry, load_materials
from twins.calo.io import ShowerHDF5Writer
from twins.calo.primaries import PARTICLE_PDG
from twins.calo.showers import ShowerSample
from twins.core.config import resolve
from twins.core.io import InputFileError
from twins.core.provenance import make_provenance

log = logging.getLogger(__name__)

ENERGY_UNITS_GEV = {"eV": 1e-9, "keV": 1e-6, "MeV": 1e-3, "GeV": 1.0}
ANGLE_UNITS_RAD = {"rad": 1.0, "deg": math.pi / 180.0}

_KEY = "calo.convert.external"
# The schema requires the slice's `files`; a mapping comes without them (the rule's input lists them).
_FILES_GIVEN_APART = ["<the files to import, given separately>"]


def _finite(value: Any, key: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{_KEY}.{key} must be a finite number, got {value!r}")
    return float(value)


def _geometry(value: Any) -> CaloGeometry:
    if isinstance(value, (str, Path)):
        return load_geometry(value)
    value = dict(value)
    materials_file = value.pop("materials_file", None)
    materials = load_materials(materials_file) if materials_file is not None else None
    return geometry_from_dict(value, materials, where=f"{_KEY}.geometry")


def validate_mapping(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Check the mapping against the schema and the rules across its keys; return it complete: the schema's
    defaults filled in, every optional key present (None where unset), `geometry` a CaloGeometry, `cells_shape`
    a tuple (nx, ny, nz). Raises ValueError (ConfigError for the schema's checks) naming the key and what is
    allowed."""
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{_KEY} must be a mapping, got {type(mapping).__name__}")
    m = resolve(_KEY, {"files": _FILES_GIVEN_APART, **mapping})
    del m["files"]
    for key in ("energy_branch", "energy_value", "theta_branch", "theta_value"):
        m.setdefault(key, None)
    for key in ("tree", "cells_branch", "energy_branch", "theta_branch"):
        if m[key] is not None and not m[key]:
            raise ValueError(f"{_KEY}.{key} must be a non-empty string (a name in the ROOT file), got {m[key]!r}")
    m["cells_shape"] = tuple(int(n) for n in m["cells_shape"])
    index = m["cells_index_branches"]
    if index is not None:
        if sorted(index) != ["x", "y", "z"] or not all(index.values()):
            raise ValueError(
                f"{_KEY}.cells_index_branches must be null or a mapping {{x: branch, y: branch, z: branch}} "
                f"of integer index branches, got {index!r}"
            )
        if m["cells_order"] != "xyz":
            raise ValueError(f"{_KEY}.cells_order must stay 'xyz' with cells_index_branches (indices name the axes)")
    if m["cells_floor"] is not None:
        if m["cells_transform"] != "log10":
            raise ValueError(f"{_KEY}.cells_floor is only meaningful with cells_transform: log10; set it to null")
        m["cells_floor"] = _finite(m["cells_floor"], "cells_floor")
    if (m["energy_branch"] is None) == (m["energy_value"] is None):
        raise ValueError(f"{_KEY}: give exactly one of energy_branch (a branch name) and energy_value (a constant)")
    if m["energy_value"] is not None:
        _finite(m["energy_value"], "energy_value")
    if m["theta_branch"] is not None and m["theta_value"] is not None:
        raise ValueError(f"{_KEY}: give at most one of theta_branch and theta_value (neither means theta = 0)")
    if m["theta_value"] is not None:
        _finite(m["theta_value"], "theta_value")
    m["geometry"] = _geometry(m["geometry"])
    if m["geometry"].shape != m["cells_shape"]:
        raise ValueError(
            f"{_KEY}: cells_shape {list(m['cells_shape'])} differs from the geometry's (nx, ny, nz) = "
            f"{list(m['geometry'].shape)}; they must describe the same grid"
        )
    return m


def stored_shape(m: Mapping[str, Any]) -> tuple[int, int, int]:
    """Shape of one event's cell array as stored: cells_shape permuted into cells_order."""
    nx, ny, nz = m["cells_shape"]
    size = {"x": nx, "y": ny, "z": nz}
    return tuple(size[axis] for axis in m["cells_order"])


def describe_root_file(f) -> str:
    """What a ROOT file holds: its TTrees with entries and branches (name: C++ type), other keys."""
    lines = []
    for key, classname in f.classnames().items():
        name = key.split(";")[0]
        if classname in ("TTree", "TNtuple", "TNtupleD"):
            tree = f[key]
            branches = ", ".join(f"{b.name}: {b.typename}" for b in tree.branches) or "no branches"
            lines.append(f"  TTree '{name}' ({tree.num_entries} entries): {branches}")
        else:
            lines.append(f"  {classname} '{name}'")
    return "\n".join(dict.fromkeys(lines)) or "  (no objects)"


def _unreadable(path: Path, err: Exception) -> str:
    return f"{path}: not a readable ROOT file ({type(err).__name__}: {err}); it is truncated or corrupt"


def _open_tree(path: str | Path, m: Mapping[str, Any]):
    """Open `path` and check the tree and branches of the mapping; return (file, tree)."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: file not found")
    try:
        f = uproot.open(path)
    except Exception as err:  # uproot raises several types for damaged files
        raise InputFileError(_unreadable(path, err)) from None
    try:
        names = {k.split(";")[0]: c for k, c in f.classnames().items()}
        if names.get(m["tree"]) not in ("TTree", "TNtuple", "TNtupleD"):
            raise InputFileError(
                f"{path}: no TTree '{m['tree']}' ({_KEY}.tree); the file contains:\n{describe_root_file(f)}"
            )
        tree = f[m["tree"]]
        for key, name in _branch_names(m):
            if name not in tree.keys():
                raise InputFileError(
                    f"{path}: TTree '{m['tree']}' has no branch '{name}' ({_KEY}.{key}); "
                    f"the file contains:\n{describe_root_file(f)}"
                )
        _check_cells_type(path, f, tree[m["cells_branch"]], m)
    except InputFileError:
        f.close()
        raise
    except Exception as err:  # a damaged file fails anywhere in its directory or TTree header
        f.close()
        raise InputFileError(_unreadable(path, err)) from None
    return f, tree


def _branch_names(m: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(mapping key, branch name) of every branch the mapping reads."""
    names = [(k, m[k]) for k in ("cells_branch", "energy_branch", "theta_branch") if m[k] is not None]
    for axis, name in (m["cells_index_branches"] or {}).items():
        names.append((f"cells_index_branches.{axis}", name))
    return names


def _check_cells_type(path: Path, f, branch, m: Mapping[str, Any]) -> None:
    """A fixed-size cells branch must hold nx*ny*nz numbers; a multi-dim one must have the stored shape.
    A sparse layout needs variable-length cells and index branches."""
    inner = getattr(branch.interpretation, "inner_shape", None)
    if m["cells_index_branches"] is not None:
        tree = branch.tree
        for name in (m["cells_branch"], *m["cells_index_branches"].values()):
            if getattr(tree[name].interpretation, "inner_shape", None) is not None:
                raise InputFileError(
                    f"{path}: branch '{name}' is {tree[name].typename}, one fixed-size value per event; a sparse "
                    f"layout (cells_index_branches) needs variable-length branches; the file contains:\n"
                    f"{describe_root_file(f)}"
                )
        return
    if inner is None:  # a variable-length branch (std::vector, C array with a counter): checked per event
        return
    want = stored_shape(m)
    size = int(np.prod(inner)) if len(inner) else 1
    if size != int(np.prod(want)) or (len(inner) > 1 and tuple(inner) != want):
        raise InputFileError(
            f"{path}: branch '{branch.name}' is {branch.typename} (shape {list(inner)} per event), but "
            f"{_KEY}.cells_shape {list(m['cells_shape'])} with cells_order '{m['cells_order']}' needs "
            f"{list(want)} ({int(np.prod(want))} numbers) per event; the file contains:\n{describe_root_file(f)}"
        )


def _to_gev(path: Path, values: np.ndarray, first: int, m: Mapping[str, Any]) -> np.ndarray:
    """Stored cell values (events first) -> float64 GeV: undo the transform, apply floor and unit."""
    values = np.asarray(values, dtype=np.float64)
    if m["cells_transform"] == "log10":
        empty = np.isneginf(values)
        if m["cells_floor"] is not None:
            empty |= values <= m["cells_floor"]
        values = np.where(empty, 0.0, np.power(10.0, np.where(empty, 0.0, values)))
    if not np.all(np.isfinite(values)):
        where = np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))
        ev = first + (int(where[0]) if len(where) else 0)
        raise InputFileError(f"{path}: branch '{m['cells_branch']}' entry {ev} holds non-finite cell values")
    return values * ENERGY_UNITS_GEV[m["cells_unit"]]


def _sparse_cells_to_gev(path: Path, arrays: dict, first: int, m: Mapping[str, Any]) -> np.ndarray:
    """Sparse cells of one step (energies + index branches) -> float32 (n, nx, ny, nz) GeV."""
    shape = m["cells_shape"]
    raw = arrays[m["cells_branch"]]
    n = len(raw)
    counts = np.array([len(v) for v in raw], dtype=np.int64)
    flat = np.zeros(int(counts.sum()), dtype=np.int64)
    for axis, size in zip("xyz", shape):
        name = m["cells_index_branches"][axis]
        index = arrays[name]
        lengths = np.array([len(v) for v in index], dtype=np.int64)
        if np.any(lengths != counts):
            ev = first + int(np.flatnonzero(lengths != counts)[0])
            raise InputFileError(
                f"{path}: entry {ev}: index branch '{name}' has {lengths[ev - first]} values but "
                f"'{m['cells_branch']}' has {counts[ev - first]}; they must list the same cells"
            )
        idx = np.concatenate([np.asarray(v, dtype=np.int64) for v in index]) if n else np.zeros(0, np.int64)
        bad = (idx < 0) | (idx >= size)
        if np.any(bad):
            ev = first + int(np.searchsorted(np.cumsum(counts), np.flatnonzero(bad)[0], side="right"))
            raise InputFileError(
                f"{path}: entry {ev}: index branch '{name}' holds {idx[bad][0]}, outside [0, {size - 1}] "
                f"({_KEY}.cells_shape {list(shape)} axis {axis})"
            )
        flat = flat * size + idx
    values = np.concatenate([np.asarray(v, dtype=np.float64) for v in raw]) if n else np.zeros(0)
    energy = _to_gev(path, values[None, :], first, m)[0]
    flat += np.repeat(np.arange(n, dtype=np.int64), counts) * int(np.prod(shape))
    dense = np.bincount(flat, weights=energy, minlength=n * int(np.prod(shape)))
    return dense.reshape(n, *shape).astype(np.float32)


def _cells_to_gev(path: Path, arrays: dict, first: int, m: Mapping[str, Any]) -> np.ndarray:
    """Stored cells of one step -> float32 (n, nx, ny, nz) GeV."""
    if m["cells_index_branches"] is not None:
        return _sparse_cells_to_gev(path, arrays, first, m)
    raw = arrays[m["cells_branch"]]
    want = stored_shape(m)
    n_cells = int(np.prod(want))
    if raw.dtype == object:  # variable-length per event: every event must have nx*ny*nz numbers
        lengths = np.array([len(np.ravel(v)) for v in raw])
        bad = np.flatnonzero(lengths != n_cells)
        if len(bad):
            raise InputFileError(
                f"{path}: branch '{m['cells_branch']}' entry {first + bad[0]} has {lengths[bad[0]]} numbers, but "
                f"{_KEY}.cells_shape {list(m['cells_shape'])} needs {n_cells} per event"
            )
        raw = np.stack([np.ravel(v) for v in raw]) if len(raw) else np.zeros((0, n_cells))
    values = _to_gev(path, np.asarray(raw, dtype=np.float64).reshape(len(raw), *want), first, m)
    # Stored axes are in cells_order; move them to x, y, z (event axis stays first).
    axes = [1 + m["cells_order"].index(a) for a in "xyz"]
    return np.ascontiguousarray(values.transpose(0, *axes), dtype=np.float32)


def _scalar(path: Path, arrays: dict, m: Mapping[str, Any], quantity: str, n: int) -> np.ndarray:
    branch, value = m[f"{quantity}_branch"], m[f"{quantity}_value"]
    if branch is None:
        return np.full(n, 0.0 if value is None else float(value), dtype=np.float64)
    raw = arrays[branch]
    if raw.dtype == object or raw.ndim != 1:
        raise InputFileError(
            f"{path}: branch '{branch}' ({_KEY}.{quantity}_branch) must hold one number per event; "
            f"it holds arrays (shape {list(np.shape(raw[0])) if len(raw) else '?'} per event)"
        )
    return raw.astype(np.float64)


def _iterate(path: Path, tree, branches: list[str], step_size: int):
    """tree.iterate in steps, with read errors of a damaged file turned into InputFileError."""
    steps = tree.iterate(branches, step_size=step_size, library="np")
    while True:
        try:
            arrays = next(steps)
        except StopIteration:
            return
        except Exception as err:
            raise InputFileError(f"{path}: reading TTree '{tree.name}' failed: " + _unreadable(path, err)) from None
        yield arrays


def import_external_root(
    root_files: Sequence[str | Path], mapping: Mapping[str, Any], out_h5: str | Path, settings: Mapping[str, Any]
) -> int:
    """Convert foreign Geant4 ROOT files into one shower HDF5 file (twins.calo.io layout); return the number
    of showers. settings: the calo.convert slice (schema defaults for keys left out); reads its `step_size`
    events at a time, so memory does not grow with the file; all files are checked before anything is
    written, and `out_h5` appears only when all succeeded."""
    if not root_files:
        raise ValueError(f"{_KEY}: no ROOT files to import")
    m = validate_mapping(mapping)
    convert = resolve("calo.convert", settings)
    step_size = int(convert["step_size"])
    for path in root_files:  # validate every file before writing anything
        f, _ = _open_tree(path, m)
        f.close()
    geometry: CaloGeometry = m["geometry"]
    e_scale = ENERGY_UNITS_GEV[m["energy_unit"]]
    t_scale = ANGLE_UNITS_RAD[m["theta_unit"]]
    pdg = PARTICLE_PDG[m["particle"]]
    branches = list(dict.fromkeys(name for _, name in _branch_names(m)))
    writer = ShowerHDF5Writer(out_h5, geometry.shape, chunk_showers=int(convert["chunk_showers"]))
    try:
        for path in root_files:
            path = Path(path)
            f, tree = _open_tree(path, m)
            with f:
                first = 0
                for arrays in _iterate(path, tree, branches, step_size):
                    n = len(arrays[m["cells_branch"]])
                    cells = _cells_to_gev(path, arrays, first, m)
                    energy = _scalar(path, arrays, m, "energy", n) * e_scale
                    theta = _scalar(path, arrays, m, "theta", n) * t_scale
                    if np.any(~np.isfinite(energy) | (energy <= 0)):
                        ev = first + int(np.flatnonzero(~np.isfinite(energy) | (energy <= 0))[0])
                        raise InputFileError(f"{path}: entry {ev} has primary energy {energy[ev - first]} GeV, not > 0")
                    writer.append(ShowerSample(cells, energy, theta, np.full(n, pdg, dtype=np.int32)))
                    first += n
    except BaseException:
        writer.abort()
        raise
    n = writer.n
    record = {**mapping, "geometry": geometry.to_dict()}
    writer.close(
        geometry.to_dict(),
        make_provenance("calo_import_external", {"mapping": record, **dict(settings)}, inputs=root_files),
    )
    log.info("imported %d showers from %d foreign ROOT files to %s", n, len(root_files), out_h5)
    return n
