"""Calorimeter material and voxel geometry, read from the YAML files in resources/calo/.

Coordinates (mm): the beam enters at the centre of the front face; x = y = 0 on the grid's centre
line, z = 0 on the front face and z grows with depth. Cells are indexed (ix, iy, iz), iz = 0 at the
front. A geometry file names its material, which is looked up in a materials file (by default
`materials.yaml` beside the geometry file), or gives the material inline as a mapping.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

DEFAULT_MATERIALS_FILE = "materials.yaml"


@dataclass(frozen=True)
class Material:
    """An absorber medium, as the shower parameterisation sees it.

    z_eff: effective atomic number; for compounds the mass-fraction-weighted sum of Z (the GFlash
        convention, Grindhammer & Peters, arXiv:hep-ex/0001020).
    radiation_length_mm: X0 in mm; moliere_radius_mm: R_M in mm.
    critical_energy_mev: electron critical energy E_c in MeV (PDG definition, Rossi).
    density_g_cm3: density in g/cm^3.
    source: citation for the numbers.
    """

    name: str
    z_eff: float
    radiation_length_mm: float
    moliere_radius_mm: float
    critical_energy_mev: float
    density_g_cm3: float
    source: str


@dataclass(frozen=True)
class CaloGeometry:
    """A box of `material` cut into nx x ny x nz cells (x, y transverse; z = depth).

    sampling_fraction: visible / deposited energy; 1 for a homogeneous calorimeter.
    stochastic_term, constant_term: a and c of the energy resolution sigma/E = a/sqrt(E[GeV]) (+) c
        (added in quadrature); they are dimensionless fractions (0.03 means 3 %/sqrt(E)).
    """

    name: str
    material: Material
    nx: int
    ny: int
    nz: int
    cell_size_x_mm: float
    cell_size_y_mm: float
    layer_thickness_mm: float
    sampling_fraction: float = 1.0
    stochastic_term: float = 0.03
    constant_term: float = 0.005

    @property
    def shape(self) -> tuple[int, int, int]:
        """(nx, ny, nz), the shape of one shower's cell array."""
        return (self.nx, self.ny, self.nz)

    @property
    def size_mm(self) -> tuple[float, float, float]:
        """Full extent of the grid (x, y, z) in mm."""
        return (
            self.nx * self.cell_size_x_mm,
            self.ny * self.cell_size_y_mm,
            self.nz * self.layer_thickness_mm,
        )

    def resolution(self, energy_gev: np.ndarray | float) -> np.ndarray:
        """Relative energy resolution sigma/E = a/sqrt(E) (+) c at `energy_gev` (GeV)."""
        e = np.asarray(energy_gev, dtype=np.float64)
        return np.sqrt(self.stochastic_term**2 / e + self.constant_term**2)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict with the material inline; `geometry_from_dict` rebuilds the same geometry."""
        d = asdict(self)
        d["material"] = asdict(self.material)
        return d

    def cell_centres_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cell-centre coordinates x (nx,), y (ny,), z (nz,) in mm; x = y = 0 on the grid's centre
        line, z = 0 on the front face."""
        x = (np.arange(self.nx) + 0.5) * self.cell_size_x_mm - 0.5 * self.nx * self.cell_size_x_mm
        y = (np.arange(self.ny) + 0.5) * self.cell_size_y_mm - 0.5 * self.ny * self.cell_size_y_mm
        z = (np.arange(self.nz) + 0.5) * self.layer_thickness_mm
        return x, y, z


_MATERIAL_KEYS = tuple(f.name for f in fields(Material))
_MATERIAL_NUMBERS = ("z_eff", "radiation_length_mm", "moliere_radius_mm", "critical_energy_mev", "density_g_cm3")
_GEOMETRY_KEYS = tuple(f.name for f in fields(CaloGeometry))
_GEOMETRY_INTS = ("nx", "ny", "nz")
_GEOMETRY_LENGTHS = ("cell_size_x_mm", "cell_size_y_mm", "layer_thickness_mm")


def _number(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{where}: {key} must be a finite number, got {value!r}")
    return float(value)


def material_from_dict(d: Mapping[str, Any], where: str = "material") -> Material:
    """Build a Material from a mapping with the Material fields; `name` may be left out if `where`
    ends with it (as for an entry of a materials file). Raises ValueError naming the key."""
    if not isinstance(d, Mapping):
        raise ValueError(f"{where}: expected a mapping with keys {list(_MATERIAL_KEYS)}, got {type(d).__name__}")
    unknown = sorted(set(d) - set(_MATERIAL_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed keys are {list(_MATERIAL_KEYS)}")
    missing = [k for k in _MATERIAL_KEYS if k not in d]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}; a material needs {list(_MATERIAL_KEYS)}")
    values: dict[str, Any] = {}
    for key in _MATERIAL_NUMBERS:
        values[key] = _number(d[key], key, where)
        if values[key] <= 0:
            raise ValueError(f"{where}: {key} must be > 0, got {d[key]!r}")
    if values["z_eff"] < 1:
        raise ValueError(f"{where}: z_eff must be >= 1 (an atomic number), got {d['z_eff']!r}")
    for key in ("name", "source"):
        if not isinstance(d[key], str) or not d[key].strip():
            raise ValueError(f"{where}: {key} must be a non-empty string, got {d[key]!r}")
    return Material(name=d["name"], source=d["source"], **values)


def load_materials(path: str | Path) -> dict[str, Material]:
    """Read a materials YAML file: a mapping name -> {z_eff, radiation_length_mm, ...}."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"materials file {path} does not exist")
    with path.open() as f:
        raw = yaml.safe_load(f)
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError(f"{path}: expected a non-empty mapping of material name -> properties")
    materials = {}
    for name, props in raw.items():
        if not isinstance(props, Mapping):
            raise ValueError(f"{path}: entry {name!r} must be a mapping of properties")
        materials[str(name)] = material_from_dict({"name": str(name), **props}, where=f"{path}: {name}")
    return materials


def geometry_from_dict(
    d: Mapping[str, Any], materials: Mapping[str, Material] | None = None, where: str = "geometry"
) -> CaloGeometry:
    """Build and validate a CaloGeometry from a mapping (the inverse of `CaloGeometry.to_dict`).

    `material` is either a mapping with the Material fields, or a name looked up in `materials`.
    Raises ValueError naming the offending key and the allowed values.
    """
    if not isinstance(d, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(d).__name__}")
    unknown = sorted(set(d) - set(_GEOMETRY_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed keys are {list(_GEOMETRY_KEYS)}")
    required = [k for k in _GEOMETRY_KEYS if k not in ("sampling_fraction", "stochastic_term", "constant_term")]
    missing = [k for k in required if k not in d]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}")

    mat = d["material"]
    if isinstance(mat, Material):
        material = mat
    elif isinstance(mat, str):
        if materials is None:
            raise ValueError(
                f"{where}: material {mat!r} is a name but no materials file was given; "
                "use load_geometry(path) or give the material inline as a mapping"
            )
        if mat not in materials:
            raise ValueError(f"{where}: unknown material {mat!r}; allowed values are {sorted(materials)}")
        material = materials[mat]
    else:
        material = material_from_dict(mat, where=f"{where}: material")

    if not isinstance(d["name"], str) or not d["name"].strip():
        raise ValueError(f"{where}: name must be a non-empty string, got {d['name']!r}")
    values: dict[str, Any] = {}
    for key in _GEOMETRY_INTS:
        v = d[key]
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"{where}: {key} must be an integer >= 1, got {v!r}")
        values[key] = int(v)
    for key in _GEOMETRY_LENGTHS:
        values[key] = _number(d[key], key, where)
        if values[key] <= 0:
            raise ValueError(f"{where}: {key} must be > 0 mm, got {d[key]!r}")
    if "sampling_fraction" in d:
        values["sampling_fraction"] = _number(d["sampling_fraction"], "sampling_fraction", where)
        if not 0 < values["sampling_fraction"] <= 1:
            raise ValueError(
                f"{where}: sampling_fraction must be in (0, 1] (1 for a homogeneous calorimeter), "
                f"got {d['sampling_fraction']!r}"
            )
    for key in ("stochastic_term", "constant_term"):
        if key in d:
            values[key] = _number(d[key], key, where)
            if not 0 <= values[key] < 1:
                raise ValueError(f"{where}: {key} must be a fraction in [0, 1) (0.03 means 3 %), got {d[key]!r}")
    return CaloGeometry(name=d["name"], material=material, **values)


def materials_file_of(path: str | Path) -> Path | None:
    """The materials file a geometry file looks its material up in (None: the material is inline)."""
    path = Path(path)
    with open(path) as f:
        raw = yaml.safe_load(f)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("material"), str):
        return None
    return path.parent / (raw.get("materials_file") or DEFAULT_MATERIALS_FILE)


def load_geometry(path: str | Path) -> CaloGeometry:
    """Read a geometry YAML file.

    Keys: the CaloGeometry fields, with `material` a name in the materials file or an inline mapping,
    plus optional `materials_file` (default materials.yaml, relative to the geometry file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"geometry file {path} does not exist (config key calo.geometry)")
    with path.open() as f:
        raw = yaml.safe_load(f)
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path}: expected a mapping of geometry keys, got {type(raw).__name__}")
    raw = dict(raw)
    materials_file = raw.pop("materials_file", None)
    materials = None
    if isinstance(raw.get("material"), str):
        mpath = path.parent / (materials_file or DEFAULT_MATERIALS_FILE)
        if not mpath.is_file():
            raise FileNotFoundError(
                f"{path}: material {raw['material']!r} is looked up in {mpath}, which does not exist; "
                "set materials_file or give the material inline"
            )
        materials = load_materials(mpath)
    return geometry_from_dict(raw, materials, where=str(path))
