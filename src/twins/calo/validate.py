"""CaloChallenge-style validation of generated showers against reference (simulated) showers.

`validate_showers` returns a JSON-able metrics dict: for every high-level feature the separation power
and Jensen-Shannon divergence of shared-binning histograms and the error of the first two moments,
a classifier test (held-out ROC AUC on the high-level features), the speed ratio, and a `summary`.
`plot_validation` draws the matching figures. Both know nothing of Snakemake.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.colors import LogNorm

from twins.calo.features import DEFAULT_HIT_THRESHOLD_GEV, ShowerFeatures, check_grid, shower_features
from twins.calo.showers import ShowerSample
from twins.core.metrics import (
    CLASSIFIER_KINDS,
    classifier_auc,
    histogram,
    jensen_shannon_divergence,
    relative_moment_error,
    separation_power,
    shared_bins,
)
from twins.core.plots import (
    GENERATED_COLOUR,
    REFERENCE_COLOUR,
    hist_with_ratio,
    main_and_ratio_axes,
    new_figure,
    save_figure,
    steps_with_ratio,
)
from twins.core.seeding import derive_seed

log = logging.getLogger(__name__)

DEFAULT_SETTINGS: dict[str, Any] = {
    "n_bins": 30,  # bins per feature histogram (shared by reference and generated)
    "hit_threshold_gev": DEFAULT_HIT_THRESHOLD_GEV,  # cells above this count for n_hit and the spectrum
    "classifier": {
        "kind": "hgb",  # 'hgb' (gradient-boosted trees) or 'mlp'
        "test_fraction": 0.3,  # held-out fraction for the AUC
        "max_iter": 200,  # boosting rounds / MLP epochs
        "n_threads": 1,  # threads while fitting (give the rule's `threads`)
    },
}

# Scalar features compared as 1-D histograms: name -> (ShowerFeatures attribute, log-spaced bins)
SCALAR_FEATURES = {
    "e_ratio": ("e_ratio", False),
    "depth_centroid": ("depth_centroid_x0", False),
    "mean_radius": ("mean_radius_mm", False),
    "n_hit": ("n_hit", False),
}
# Per-layer features, (N, nz) each, compared layer by layer
LAYER_FEATURES = {
    "layer_energy": "layer_energy_gev",
    "centre_of_energy_x": "centre_x_mm",
    "centre_of_energy_y": "centre_y_mm",
    "width_x": "width_x_mm",
    "width_y": "width_y_mm",
}

PLOT_NAMES = (
    "e_ratio",
    "longitudinal_profile",
    "radial_profile",
    "centre_of_energy",
    "shower_width",
    "n_hit",
    "cell_spectrum",
    "average_shower",
)


def resolve_settings(settings: dict | None) -> dict[str, Any]:
    """DEFAULT_SETTINGS overlaid with `settings`; an unknown or invalid key raises ValueError."""
    resolved = copy.deepcopy(DEFAULT_SETTINGS)
    settings = dict(settings or {})
    for key, value in settings.items():
        if key not in DEFAULT_SETTINGS:
            raise ValueError(f"calo validation setting '{key}' is unknown; allowed keys are {sorted(DEFAULT_SETTINGS)}")
        if key == "classifier":
            if value is not None and not isinstance(value, dict):
                raise ValueError(f"calo validation setting 'classifier' must be a mapping; got {value!r}")
            for sub, sub_value in (value or {}).items():
                if sub not in DEFAULT_SETTINGS["classifier"]:
                    raise ValueError(
                        f"calo validation setting 'classifier.{sub}' is unknown; "
                        f"allowed keys are {sorted(DEFAULT_SETTINGS['classifier'])}"
                    )
                resolved["classifier"][sub] = sub_value
        else:
            resolved[key] = value
    n_bins = resolved["n_bins"]
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 2:
        raise ValueError(f"calo validation setting 'n_bins' must be an integer >= 2; got {n_bins!r}")
    if not float(resolved["hit_threshold_gev"]) >= 0:
        raise ValueError(
            f"calo validation setting 'hit_threshold_gev' must be >= 0 GeV; got {resolved['hit_threshold_gev']!r}"
        )
    cls = resolved["classifier"]
    if cls["kind"] not in CLASSIFIER_KINDS:
        raise ValueError(
            f"calo validation setting 'classifier.kind' is {cls['kind']!r}; use one of {list(CLASSIFIER_KINDS)}"
        )
    if not 0.0 < float(cls["test_fraction"]) < 1.0:
        raise ValueError(
            f"calo validation setting 'classifier.test_fraction' must lie in (0, 1); got {cls['test_fraction']!r}"
        )
    if int(cls["max_iter"]) < 1:
        raise ValueError(f"calo validation setting 'classifier.max_iter' must be >= 1; got {cls['max_iter']!r}")
    if int(cls["n_threads"]) < 1:
        raise ValueError(f"calo validation setting 'classifier.n_threads' must be >= 1; got {cls['n_threads']!r}")
    return resolved


def _compare_samples(ref: np.ndarray, gen: np.ndarray, n_bins: int, log: bool = False) -> dict[str, Any]:
    """Separation power, JSD and moment errors of two 1-D samples in shared bins."""
    ref, gen = np.ravel(ref), np.ravel(gen)
    ref, gen = ref[np.isfinite(ref)], gen[np.isfinite(gen)]
    if log:
        ref, gen = ref[ref > 0], gen[gen > 0]
    if ref.size == 0 or gen.size == 0:  # one or both samples empty: nothing or everything differs
        differ = float(ref.size != gen.size)
        return {"separation_power": differ, "jsd": differ, "moments": {"mean": None, "std": None, "mean_shift": None}}
    edges = shared_bins(ref, gen, n_bins, log=log)
    p, q = histogram(ref, edges), histogram(gen, edges)
    return {
        "separation_power": separation_power(p, q),
        "jsd": jensen_shannon_divergence(p, q),
        "moments": relative_moment_error(ref, gen),
    }


def _compare_profiles(centres: np.ndarray, p: np.ndarray, q: np.ndarray) -> dict[str, Any]:
    """Compare two binned distributions (e.g. mean energy per layer): separation power, JSD and the
    errors of their weighted mean and standard deviation over `centres`."""
    if p.sum() <= 0 or q.sum() <= 0:
        differ = float((p.sum() > 0) != (q.sum() > 0))
        return {"separation_power": differ, "jsd": differ, "moments": {"mean": None, "std": None, "mean_shift": None}}
    p, q = p / p.sum(), q / q.sum()
    mean_p, mean_q = centres @ p, centres @ q
    std_p = np.sqrt(max((centres - mean_p) ** 2 @ p, 0.0))
    std_q = np.sqrt(max((centres - mean_q) ** 2 @ q, 0.0))
    return {
        "separation_power": separation_power(p, q),
        "jsd": jensen_shannon_divergence(p, q),
        "moments": {
            "mean": float(abs(mean_q - mean_p) / abs(mean_p)) if mean_p != 0 else None,
            "std": float(abs(std_q - std_p) / std_p) if std_p > 0 else None,
            "mean_shift": float(abs(mean_q - mean_p) / std_p) if std_p > 0 else None,
        },
    }


def _mean_of(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return float(np.mean(finite)) if finite else None


def _compare_layers(ref: np.ndarray, gen: np.ndarray, active: np.ndarray, n_bins: int) -> dict[str, Any]:
    """Per-layer comparison of an (N, nz) feature; the headline numbers average the active layers."""
    per_layer = [_compare_samples(ref[:, k], gen[:, k], n_bins) for k in range(ref.shape[1])]
    used = [m for m, keep in zip(per_layer, active) if keep]
    return {
        "separation_power": _mean_of([m["separation_power"] for m in used]) or 0.0,
        "jsd": _mean_of([m["jsd"] for m in used]) or 0.0,
        "moments": {key: _mean_of([m["moments"][key] for m in used]) for key in ("mean", "std", "mean_shift")},
        "per_layer": {
            "separation_power": [m["separation_power"] for m in per_layer],
            "jsd": [m["jsd"] for m in per_layer],
            "mean_relative_error": [m["moments"]["mean"] for m in per_layer],
        },
    }


def compare_features(ref: ShowerFeatures, gen: ShowerFeatures, n_bins: int) -> dict[str, dict[str, Any]]:
    """Feature name -> {separation_power, jsd, moments{mean, std, mean_shift}[, per_layer]}."""
    out: dict[str, dict[str, Any]] = {}
    for name, (attr, log_bins) in SCALAR_FEATURES.items():
        out[name] = _compare_samples(getattr(ref, attr), getattr(gen, attr), n_bins, log=log_bins)
    out["longitudinal_profile"] = _compare_profiles(
        ref.layer_depth_x0, ref.longitudinal_profile, gen.longitudinal_profile
    )
    r_edges = ref.radial_edges_mm
    out["radial_profile"] = _compare_profiles(
        0.5 * (r_edges[:-1] + r_edges[1:]), ref.radial_profile, gen.radial_profile
    )
    # a layer counts in the averages if either sample deposits energy there
    active = (ref.layer_energy_gev.sum(axis=0) > 0) | (gen.layer_energy_gev.sum(axis=0) > 0)
    for name, attr in LAYER_FEATURES.items():
        out[name] = _compare_layers(getattr(ref, attr), getattr(gen, attr), active, n_bins)
    out["cell_spectrum"] = _compare_samples(ref.cell_energies_gev, gen.cell_energies_gev, n_bins, log=True)
    return out


def validate_showers(
    reference: ShowerSample,
    generated: ShowerSample,
    geometry,
    settings: dict,
    seed: int,
    simulator_showers_per_s: float | None = None,
    generator_showers_per_s: float | None = None,
) -> dict[str, Any]:
    """Compare generated showers with reference showers on the same geometry; return the metrics dict.

    settings: see DEFAULT_SETTINGS (n_bins, hit_threshold_gev, classifier{kind, test_fraction, max_iter,
    n_threads}); missing keys take the defaults, unknown keys raise ValueError.
    seed: master seed; the classifier's split and initialisation derive from it, so the result is
    deterministic. The speeds (showers per second) give summary.speed_ratio = generator / simulator.

    Returns {n_reference, n_generated, settings, features{name: {...}}, classifier{...}, speed{...},
    summary{...}}; all values are plain Python numbers, strings, lists or None.
    """
    resolved = resolve_settings(settings)
    check_grid(reference, geometry, "reference")
    check_grid(generated, geometry, "generated")
    threshold = float(resolved["hit_threshold_gev"])
    ref_features = shower_features(reference, geometry, hit_threshold_gev=threshold)
    gen_features = shower_features(generated, geometry, hit_threshold_gev=threshold)
    log.info("validating %d generated against %d reference showers", len(generated), len(reference))

    features = compare_features(ref_features, gen_features, int(resolved["n_bins"]))

    cls = resolved["classifier"]
    ref_matrix, names = ref_features.high_level_matrix()
    gen_matrix, _ = gen_features.high_level_matrix()
    auc = classifier_auc(
        ref_matrix,
        gen_matrix,
        seed=derive_seed(seed, "calo", "validate", "classifier"),
        kind=cls["kind"],
        test_fraction=float(cls["test_fraction"]),
        max_iter=int(cls["max_iter"]),
        n_threads=int(cls["n_threads"]),
    )
    log.info("classifier (%s) AUC on %d high-level features: %.4f", cls["kind"], len(names), auc)

    speed_ratio = None
    for name, speed in (
        ("simulator_showers_per_s", simulator_showers_per_s),
        ("generator_showers_per_s", generator_showers_per_s),
    ):
        if speed is not None and not speed > 0:
            raise ValueError(f"{name} must be a positive number of showers per second; got {speed!r}")
    if simulator_showers_per_s is not None and generator_showers_per_s is not None:
        speed_ratio = float(generator_showers_per_s) / float(simulator_showers_per_s)

    sep = {name: m["separation_power"] for name, m in features.items()}
    worst = max(sep, key=sep.get)
    return {
        "n_reference": len(reference),
        "n_generated": len(generated),
        "settings": resolved,
        "features": features,
        "classifier": {"auc": auc, "kind": cls["kind"], "n_features": len(names), "feature_names": names},
        "speed": {
            "simulator_showers_per_s": None if simulator_showers_per_s is None else float(simulator_showers_per_s),
            "generator_showers_per_s": None if generator_showers_per_s is None else float(generator_showers_per_s),
            "speed_ratio": speed_ratio,
        },
        "summary": {
            "separation_power_e_ratio": features["e_ratio"]["separation_power"],
            "separation_power_longitudinal_profile": features["longitudinal_profile"]["separation_power"],
            "mean_separation_power": float(np.mean(list(sep.values()))),
            "mean_jsd": float(np.mean([m["jsd"] for m in features.values()])),
            "worst_feature": worst,
            "classifier_auc": auc,
            "speed_ratio": speed_ratio,
        },
    }


# ---------------------------------------------------------------------------------------------- plots


def _layer_band(ax, depth: np.ndarray, ref: np.ndarray, gen: np.ndarray, active: np.ndarray, labels, ylabel: str):
    """Mean +- standard deviation over showers per layer: reference as a band, generated as points."""
    d = depth[active]
    mean_r, std_r = ref.mean(axis=0)[active], ref.std(axis=0)[active]
    mean_g, std_g = gen.mean(axis=0)[active], gen.std(axis=0)[active]
    ax.fill_between(d, mean_r - std_r, mean_r + std_r, step="mid", color=REFERENCE_COLOUR, alpha=0.3, linewidth=0)
    ax.step(d, mean_r, where="mid", color=REFERENCE_COLOUR, label=f"{labels[0]} (mean ± std)")
    ax.errorbar(d, mean_g, yerr=std_g, fmt="o", markersize=3, color=GENERATED_COLOUR, linewidth=1, label=labels[1])
    ax.set_ylabel(ylabel)
    ax.set_xlabel(r"depth [$X_0$]")
    ax.legend()


def _plot_per_layer(ref, gen, labels, stems: tuple[str, str], ylabel: str, path: Path) -> Path:
    fig = new_figure(figsize=(10.0, 4.0), layout="constrained")
    axes = fig.subplots(1, 2)
    active = (ref.layer_energy_gev.sum(axis=0) > 0) | (gen.layer_energy_gev.sum(axis=0) > 0)
    for ax, stem, axis in zip(axes, stems, "xy"):
        _layer_band(ax, ref.layer_depth_x0, getattr(ref, stem), getattr(gen, stem), active, labels, ylabel.format(axis))
    return save_figure(fig, path)


def _plot_hist(ref, gen, bins, labels, xlabel, path: Path, log: bool = False, log_y: bool = False) -> Path:
    fig = new_figure(figsize=(6.0, 5.0))
    ax_main, ax_ratio = main_and_ratio_axes(fig)
    hist_with_ratio(ax_main, ax_ratio, ref, gen, bins, labels, xlabel, log=log)
    if log_y:
        ax_main.set_yscale("log")
    return save_figure(fig, path)


def _plot_profile(edges, ref_energy, gen_energy, labels, xlabel, path: Path, log_y=False, moliere_mm=None) -> Path:
    """Mean energy fraction per bin (sample sums of (N, n_bins) energies), with standard errors."""
    fig = new_figure(figsize=(6.0, 5.0))
    ax_main, ax_ratio = main_and_ratio_axes(fig)
    values, errors = [], []
    for energy in (ref_energy, gen_energy):
        total = max(energy.sum(), np.finfo(float).tiny)
        values.append(energy.sum(axis=0) / total)
        errors.append(energy.std(axis=0) * np.sqrt(len(energy)) / total)
    steps_with_ratio(
        ax_main,
        ax_ratio,
        edges,
        values[0],
        values[1],
        labels,
        xlabel,
        "fraction of deposited energy",
        reference_err=errors[0],
        generated_err=errors[1],
    )
    if log_y:
        ax_main.set_yscale("log")
    if moliere_mm:
        top = ax_main.secondary_xaxis("top", functions=(lambda r: r / moliere_mm, lambda u: u * moliere_mm))
        top.set_xlabel(r"radius [$R_M$]")
    return save_figure(fig, path)


def _plot_average_shower(reference, generated, geometry, labels, path: Path) -> Path:
    """Mean shower of each sample projected on x-y, x-z and y-z (energy summed along the third axis)."""
    half_x = 0.5 * geometry.nx * geometry.cell_size_x_mm
    half_y = 0.5 * geometry.ny * geometry.cell_size_y_mm
    depth = geometry.nz * geometry.layer_thickness_mm
    means = [np.asarray(s.cells, dtype=np.float64).mean(axis=0) for s in (reference, generated)]
    projections = (  # (image with rows = vertical axis, extent, xlabel, ylabel)
        (lambda m: m.sum(axis=2).T, (-half_x, half_x, -half_y, half_y), "x [mm]", "y [mm]"),
        (lambda m: m.sum(axis=1).T, (-half_x, half_x, 0.0, depth), "x [mm]", "depth z [mm]"),
        (lambda m: m.sum(axis=0).T, (-half_y, half_y, 0.0, depth), "y [mm]", "depth z [mm]"),
    )
    fig = new_figure(figsize=(12.0, 7.5), layout="constrained")
    axes = fig.subplots(2, 3)
    for col, (project, extent, xlabel, ylabel) in enumerate(projections):
        images = [project(m) for m in means]
        vmax = max(float(img.max()) for img in images)
        vmax = vmax if vmax > 0 else 1.0
        norm = LogNorm(vmin=vmax * 1e-6, vmax=vmax)
        for row, (img, label) in enumerate(zip(images, labels)):
            ax = axes[row, col]
            shown = ax.imshow(
                np.where(img > 0, img, np.nan),
                origin="lower",
                extent=extent,
                aspect="auto",
                norm=norm,
                interpolation="nearest",
            )
            ax.set_title(label)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
        fig.colorbar(shown, ax=axes[:, col], label="mean energy [GeV]", location="bottom", shrink=0.8)
    return save_figure(fig, path)


def plot_validation(
    reference: ShowerSample,
    generated: ShowerSample,
    geometry,
    out_dir: str | Path,
    labels: tuple[str, str] = ("Geant4-like simulation", "3DGAN"),
    *,
    settings: dict | None = None,
) -> dict[str, Path]:
    """Write the validation figures (PNG) into `out_dir`; return figure name -> path.

    Names (files are <name>.png): e_ratio, n_hit, cell_spectrum (histograms with a generated/reference
    ratio panel), longitudinal_profile, radial_profile, centre_of_energy and shower_width (per layer),
    average_shower (x-y, x-z, y-z projections of the mean shower, reference over generated).
    settings: the same slice as validate_showers (n_bins, hit_threshold_gev); defaults otherwise.
    Identical inputs give byte-identical files.
    """
    resolved = resolve_settings(settings)
    check_grid(reference, geometry, "reference")
    check_grid(generated, geometry, "generated")
    threshold, n_bins = float(resolved["hit_threshold_gev"]), int(resolved["n_bins"])
    ref = shower_features(reference, geometry, hit_threshold_gev=threshold)
    gen = shower_features(generated, geometry, hit_threshold_gev=threshold)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"{name}.png" for name in PLOT_NAMES}

    _plot_hist(ref.e_ratio, gen.e_ratio, n_bins, labels, r"$E_\mathrm{dep} / E_\mathrm{inc}$", paths["e_ratio"])
    hit_edges = shared_bins(ref.n_hit, gen.n_hit, n_bins)
    _plot_hist(ref.n_hit, gen.n_hit, hit_edges, labels, f"cells above {threshold * 1e6:g} keV", paths["n_hit"])
    cell_bins: int | np.ndarray = n_bins
    if not (ref.cell_energies_gev.size or gen.cell_energies_gev.size):  # no hit cell at all: an empty decade
        floor = threshold if threshold > 0 else 1e-6
        cell_bins = np.geomspace(floor, 10 * floor, n_bins + 1)
    _plot_hist(
        ref.cell_energies_gev,
        gen.cell_energies_gev,
        cell_bins,
        labels,
        "cell energy [GeV]",
        paths["cell_spectrum"],
        log=True,
        log_y=True,
    )
    layer_edges_x0 = np.arange(geometry.nz + 1) * geometry.layer_thickness_mm / geometry.material.radiation_length_mm
    _plot_profile(
        layer_edges_x0,
        ref.layer_energy_gev,
        gen.layer_energy_gev,
        labels,
        r"depth [$X_0$]",
        paths["longitudinal_profile"],
    )
    _plot_profile(
        ref.radial_edges_mm,
        ref.radial_energy_gev,
        gen.radial_energy_gev,
        labels,
        "radius from shower axis [mm]",
        paths["radial_profile"],
        log_y=True,
        moliere_mm=float(geometry.material.moliere_radius_mm),
    )
    _plot_per_layer(
        ref, gen, labels, ("centre_x_mm", "centre_y_mm"), "centre of energy {} [mm]", paths["centre_of_energy"]
    )
    _plot_per_layer(ref, gen, labels, ("width_x_mm", "width_y_mm"), "shower width in {} [mm]", paths["shower_width"])
    _plot_average_shower(reference, generated, geometry, labels, paths["average_shower"])
    return paths
