"""High-level features of calorimeter showers, in the spirit of the CaloChallenge HighLevelFeatures.

All features are per shower and vectorised over the sample (showers are processed in chunks so
that memory stays bounded). Units: energies in GeV, lengths in mm, depth in radiation lengths X0.
Per layer, the centre of energy and the width are the energy-weighted mean and standard deviation of
the cell-centre coordinates; a layer without energy gets 0 for both (as in the CaloChallenge code).
The lateral (radial) profile is measured around the shower axis, taken per layer as that layer's
centre of energy, so tilted showers (theta != 0) are not smeared out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from twins.calo.showers import ShowerSample

LOG_FLOOR_GEV = 1.0e-8  # added before log10 of layer energies, so empty layers stay finite


@dataclass
class ShowerFeatures:
    """High-level features of N showers on an (nx, ny, nz) grid.

    incident_energy_gev: (N,) primary energy
    deposited_energy_gev: (N,) visible energy summed over all cells
    e_ratio:             (N,) deposited / incident energy
    layer_energy_gev:    (N, nz) energy per layer (layer 0 at the front)
    layer_depth_x0:      (nz,) depth of each layer's centre from the front face, in X0
    depth_centroid_x0:   (N,) energy-weighted mean depth, in X0
    centre_x_mm, centre_y_mm: (N, nz) centre of energy per layer (x = y = 0 at the grid centre)
    width_x_mm, width_y_mm:   (N, nz) energy-weighted standard deviation per layer
    radial_edges_mm:     (n_r + 1,) radial bin edges around the per-layer shower axis
    radial_energy_gev:   (N, n_r) energy per radial bin, summed over layers; cells beyond the last
                         edge are counted in the last bin
    mean_radius_mm:      (N,) energy-weighted mean distance of the cells from the shower axis
    n_hit:               (N,) number of cells above hit_threshold_gev
    cell_energies_gev:   (M,) float32, energies of all cells above hit_threshold_gev (all showers)
    hit_threshold_gev:   the threshold used for n_hit and cell_energies_gev
    """

    incident_energy_gev: np.ndarray
    deposited_energy_gev: np.ndarray
    e_ratio: np.ndarray
    layer_energy_gev: np.ndarray
    layer_depth_x0: np.ndarray
    depth_centroid_x0: np.ndarray
    centre_x_mm: np.ndarray
    centre_y_mm: np.ndarray
    width_x_mm: np.ndarray
    width_y_mm: np.ndarray
    radial_edges_mm: np.ndarray
    radial_energy_gev: np.ndarray
    mean_radius_mm: np.ndarray
    n_hit: np.ndarray
    cell_energies_gev: np.ndarray
    hit_threshold_gev: float

    def __len__(self) -> int:
        return len(self.e_ratio)

    @property
    def longitudinal_profile(self) -> np.ndarray:
        """(nz,) fraction of the sample's deposited energy in each layer (sums to 1): the mean shower
        profile in depth, i.e. the distribution of the depth of deposited energy."""
        return _normalised(self.layer_energy_gev.sum(axis=0))

    @property
    def radial_profile(self) -> np.ndarray:
        """(n_r,) fraction of the sample's deposited energy in each radial bin (sums to 1)."""
        return _normalised(self.radial_energy_gev.sum(axis=0))

    def select(self, mask: np.ndarray) -> ShowerFeatures:
        """The features of a subset of the showers; mask: (N,) booleans or an index array (kept in order).

        cell_energies_gev is cut per shower using n_hit, since it lists the hit cells shower by shower."""
        index = np.asarray(mask)
        index = np.flatnonzero(index) if index.dtype == bool else np.sort(index.astype(np.int64))
        if index.size and (index[0] < 0 or index[-1] >= len(self)):
            raise ValueError(
                f"ShowerFeatures.select: indices must lie in [0, {len(self)}); got {index.min()}..{index.max()}"
            )
        offsets = np.concatenate([[0], np.cumsum(self.n_hit)])
        cells = [self.cell_energies_gev[offsets[i] : offsets[i + 1]] for i in index]
        per_shower = {
            name: getattr(self, name)[index]
            for name in (
                "incident_energy_gev",
                "deposited_energy_gev",
                "e_ratio",
                "layer_energy_gev",
                "depth_centroid_x0",
                "centre_x_mm",
                "centre_y_mm",
                "width_x_mm",
                "width_y_mm",
                "radial_energy_gev",
                "mean_radius_mm",
                "n_hit",
            )
        }
        return ShowerFeatures(
            **per_shower,
            layer_depth_x0=self.layer_depth_x0,
            radial_edges_mm=self.radial_edges_mm,
            cell_energies_gev=np.concatenate(cells) if cells else np.empty(0, np.float32),
            hit_threshold_gev=self.hit_threshold_gev,
        )

    def low_level_matrix(self, cells: np.ndarray) -> np.ndarray:
        """Classifier inputs from the voxels, as in the CaloChallenge: (N, nx*ny*nz + 1) float64 holding
        every cell energy divided by the incident energy, then log10 of the incident energy in GeV.

        cells: (N, nx, ny, nz) energies in GeV of the same showers (ShowerSample.cells)."""
        cells = np.asarray(cells)
        if len(cells) != len(self):
            raise ValueError(f"low_level_matrix: cells hold {len(cells)} showers but the features {len(self)}")
        flat = cells.reshape(len(cells), -1).astype(np.float64) / self.incident_energy_gev[:, None]
        return np.concatenate([flat, np.log10(self.incident_energy_gev)[:, None]], axis=1)

    def high_level_matrix(self) -> tuple[np.ndarray, list[str]]:
        """Per-shower feature vectors for a classifier test, (N, F) float64, and the F column names.

        Columns: log10 incident energy, e_ratio, log10(layer energy + 1e-8 GeV) per layer, centre of
        energy x and y per layer, width x and y per layer, depth centroid, mean radius, n_hit (the
        CaloChallenge high-level set, plus the last three).
        """
        nz = self.layer_energy_gev.shape[1]
        columns = [
            np.log10(self.incident_energy_gev)[:, None],
            self.e_ratio[:, None],
            np.log10(self.layer_energy_gev + LOG_FLOOR_GEV),
            self.centre_x_mm,
            self.centre_y_mm,
            self.width_x_mm,
            self.width_y_mm,
            self.depth_centroid_x0[:, None],
            self.mean_radius_mm[:, None],
            self.n_hit[:, None].astype(np.float64),
        ]
        names = ["log10_incident_energy", "e_ratio"]
        for stem in ("log10_layer_energy", "centre_x", "centre_y", "width_x", "width_y"):
            names += [f"{stem}_{layer}" for layer in range(nz)]
        names += ["depth_centroid_x0", "mean_radius_mm", "n_hit"]
        return np.concatenate(columns, axis=1).astype(np.float64), names


def _normalised(values: np.ndarray) -> np.ndarray:
    total = values.sum()
    return values / total if total > 0 else np.zeros_like(values, dtype=np.float64)


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den where den > 0, else 0."""
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def default_radial_edges_mm(geometry) -> np.ndarray:
    """Radial bins one (larger) cell pitch wide, out to half the diagonal of the grid's front face."""
    pitch = max(float(geometry.cell_size_x_mm), float(geometry.cell_size_y_mm))
    r_max = 0.5 * math.hypot(geometry.nx * geometry.cell_size_x_mm, geometry.ny * geometry.cell_size_y_mm)
    return pitch * np.arange(math.ceil(r_max / pitch) + 1, dtype=np.float64)


def check_grid(sample: ShowerSample, geometry, name: str = "sample") -> None:
    """Raise if the sample's (nx, ny, nz) differs from the geometry's."""
    grid = (geometry.nx, geometry.ny, geometry.nz)
    if tuple(sample.cells.shape[1:]) != grid:
        raise ValueError(
            f"{name} showers have cells of shape {tuple(sample.cells.shape[1:])} but the geometry is "
            f"(nx, ny, nz) = {grid}; compare showers made with this geometry"
        )


def shower_features(
    sample: ShowerSample,
    geometry,
    *,
    hit_threshold_gev: float,
    radial_edges_mm: np.ndarray | None = None,
    chunk_size: int = 256,
) -> ShowerFeatures:
    """Compute the high-level features of every shower in `sample` (see ShowerFeatures for fields).

    geometry: needs nx, ny, nz, cell_size_x_mm, cell_size_y_mm, layer_thickness_mm,
    material.radiation_length_mm and cell_centres_mm() -> (x (nx,), y (ny,), z (nz,)) in mm.
    hit_threshold_gev: cells above it count for n_hit and cell_energies_gev (the workflow passes
    calo.validate.hit_threshold_gev; keep it equal to the readout threshold).
    radial_edges_mm: increasing edges starting at 0; default one cell pitch per bin.
    """
    check_grid(sample, geometry)
    if hit_threshold_gev < 0:
        raise ValueError(f"hit_threshold_gev must be >= 0; got {hit_threshold_gev}")
    incident = np.asarray(sample.energy, dtype=np.float64)
    if np.any(~np.isfinite(incident)) or np.any(incident <= 0):
        raise ValueError("ShowerSample.energy (incident energy, GeV) must be finite and positive for every shower")
    edges = default_radial_edges_mm(geometry) if radial_edges_mm is None else np.asarray(radial_edges_mm, float)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0) or edges[0] != 0:
        raise ValueError(f"radial_edges_mm must be increasing and start at 0; got {edges}")

    x, y, _ = (np.asarray(c, dtype=np.float64) for c in geometry.cell_centres_mm())
    nz, n, n_r = geometry.nz, len(sample), len(edges) - 1
    per_shower = {
        **{name: np.empty((n, nz)) for name in ("layer_energy", "centre_x", "centre_y", "width_x", "width_y")},
        "radial_energy": np.empty((n, n_r)),
        "mean_radius": np.empty(n),
        "n_hit": np.empty(n, dtype=np.int64),
    }
    cell_energies = []
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        cells = np.asarray(sample.cells[start:stop], dtype=np.float64)  # (c, nx, ny, nz)
        for name, values in _chunk_features(cells, x, y, edges).items():
            per_shower[name][start:stop] = values
        hit = cells > hit_threshold_gev
        per_shower["n_hit"][start:stop] = hit.sum(axis=(1, 2, 3))
        cell_energies.append(cells[hit].astype(np.float32))

    layer_energy = per_shower["layer_energy"]
    layer_depth_x0 = (np.arange(nz) + 0.5) * geometry.layer_thickness_mm / geometry.material.radiation_length_mm
    deposited = layer_energy.sum(axis=1)
    return ShowerFeatures(
        incident_energy_gev=incident,
        deposited_energy_gev=deposited,
        e_ratio=deposited / incident,
        layer_energy_gev=layer_energy,
        layer_depth_x0=layer_depth_x0,
        depth_centroid_x0=_safe_divide(layer_energy @ layer_depth_x0, deposited),
        centre_x_mm=per_shower["centre_x"],
        centre_y_mm=per_shower["centre_y"],
        width_x_mm=per_shower["width_x"],
        width_y_mm=per_shower["width_y"],
        radial_edges_mm=edges,
        radial_energy_gev=per_shower["radial_energy"],
        mean_radius_mm=per_shower["mean_radius"],
        n_hit=per_shower["n_hit"],
        cell_energies_gev=np.concatenate(cell_energies) if cell_energies else np.empty(0, np.float32),
        hit_threshold_gev=float(hit_threshold_gev),
    )


def _chunk_features(cells: np.ndarray, x: np.ndarray, y: np.ndarray, edges: np.ndarray) -> dict[str, np.ndarray]:
    """Per-layer moments and the radial profile of a chunk of showers, cells float64 (c, nx, ny, nz) GeV on cell
    centres x (nx,), y (ny,) mm: layer_energy, centre_x/y and width_x/y (c, nz), radial_energy (c, n_r) around
    each layer's centre of energy, mean_radius (c,)."""
    n_r = len(edges) - 1
    e_layer = cells.sum(axis=(1, 2))  # (c, nz)
    e_x = cells.sum(axis=2)  # (c, nx, nz)
    e_y = cells.sum(axis=1)  # (c, ny, nz)
    cx = _safe_divide(np.einsum("cxz,x->cz", e_x, x), e_layer)
    cy = _safe_divide(np.einsum("cyz,y->cz", e_y, y), e_layer)
    wx2 = _safe_divide(np.einsum("cxz,x->cz", e_x, x**2), e_layer) - cx**2
    wy2 = _safe_divide(np.einsum("cyz,y->cz", e_y, y**2), e_layer) - cy**2

    # distance of every cell from the layer's centre of energy
    dx2 = (x[None, :, None] - cx[:, None, :]) ** 2  # (c, nx, nz)
    dy2 = (y[None, :, None] - cy[:, None, :]) ** 2  # (c, ny, nz)
    r = np.sqrt(dx2[:, :, None, :] + dy2[:, None, :, :])  # (c, nx, ny, nz)
    r_bin = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, n_r - 1)
    c = len(cells)
    flat_bin = (np.arange(c)[:, None, None, None] * n_r + r_bin).ravel()
    radial = np.bincount(flat_bin, weights=cells.ravel(), minlength=c * n_r)
    e_total = e_layer.sum(axis=1)
    return {
        "layer_energy": e_layer,
        "centre_x": cx,
        "centre_y": cy,
        "width_x": np.sqrt(np.clip(wx2, 0.0, None)),
        "width_y": np.sqrt(np.clip(wy2, 0.0, None)),
        "radial_energy": radial.reshape(c, n_r),
        "mean_radius": _safe_divide((cells * r).sum(axis=(1, 2, 3)), e_total),
    }
