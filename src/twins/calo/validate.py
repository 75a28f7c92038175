"""CaloChallenge-style validation of generated showers against reference (simulated) showers.

`validate_showers` returns a JSON-able metrics dict: for every high-level feature the separation power
and Jensen-Shannon divergence of shared-binning histograms and the error of the first two moments;
the CaloChallenge classifier test (a calibrated network, AUC and JSD) on low-level (voxel) and
high-level inputs, plus a quick sklearn classifier AUC; the Fréchet and kernel physics distances (FPD,
KPD) on the high-level features; metrics per incident-energy bin; optionally the same metrics for
simulation vs an independent simulated sample (the statistical floor); the speed ratio; and a `summary`,
which adds the mean correlation of neighbouring layers' energies (`layer_correlation`, and
`layer_correlation_reference` of the simulation).
`plot_validation` draws the matching figures. Both know nothing of Snakemake.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import LogNorm

from twins.calo.features import DEFAULT_HIT_THRESHOLD_GEV, ShowerFeatures, check_grid, shower_features
from twins.calo.showers import ShowerSample
from twins.core.classifier import ClassifierSettings, classifier_test
from twins.core.metrics import (
    CLASSIFIER_KINDS,
    classifier_auc,
    histogram,
    jensen_shannon_divergence,
    relative_moment_error,
    separation_power,
    shared_bins,
)
from twins.core.physics_distances import fpd, kpd
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
    # incident-energy bin edges in GeV for metrics["per_energy_bin"] and e_ratio_per_energy_bin.png;
    # None: three bins at the reference sample's energy terciles
    "energy_bins_gev": None,
    "classifier": {
        # quick sklearn classifier (metrics["classifier"]["sklearn"])
        "kind": "hgb",  # 'hgb' (gradient-boosted trees) or 'mlp'
        "test_fraction": 0.3,  # held-out fraction for its AUC
        "max_iter": 200,  # boosting rounds / MLP epochs
        "n_threads": 1,  # threads for every fit: sklearn, torch, FPD/KPD BLAS (give the rule's `threads`)
        # CaloChallenge-style network (twins.core.classifier.ClassifierSettings), on low- and high-level inputs
        "nn": {
            "hidden": 128,  # units per hidden layer
            "n_layers": 2,  # hidden layers
            "epochs": 40,  # the epoch with the lowest validation loss is kept
            "batch_size": 128,
            "learning_rate": 1.0e-3,  # Adam
            "train_fraction": 0.6,  # fixed split; validation also calibrates, the rest is the test set
            "validation_fraction": 0.2,
        },
    },
    # Fréchet physics distance on the standardised high-level features (twins.core.physics_distances.fpd)
    "fpd": {"min_samples": 200, "max_samples": 600, "num_points": 5, "num_batches": 10},
    # kernel physics distance, cubic-kernel unbiased MMD^2 (twins.core.physics_distances.kpd)
    "kpd": {"batch_size": 300, "num_batches": 10},
}
MIN_SHOWERS_PER_ENERGY_BIN_CLASSIFIER = 20  # per sample; fewer give classifier_auc_high_level = None

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
    "e_ratio_per_energy_bin",
)


def _overlay(resolved: dict, defaults: dict, value: Any, path: str) -> None:
    """Copy the mapping `value` into `resolved`, recursing into nested mappings; unknown keys raise."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValueError(f"calo validation setting '{path}' must be a mapping; got {value!r}")
    for key, sub_value in value.items():
        name = f"{path}.{key}" if path else key
        if key not in defaults:
            raise ValueError(f"calo validation setting '{name}' is unknown; allowed keys are {sorted(defaults)}")
        if isinstance(defaults[key], dict):
            _overlay(resolved[key], defaults[key], sub_value, name)
        else:
            resolved[key] = sub_value


def _positive_int(value: Any, name: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"calo validation setting '{name}' must be an integer >= {minimum}; got {value!r}")


def resolve_settings(settings: dict | None) -> dict[str, Any]:
    """DEFAULT_SETTINGS overlaid with `settings`; an unknown or invalid key raises ValueError."""
    resolved = copy.deepcopy(DEFAULT_SETTINGS)
    _overlay(resolved, DEFAULT_SETTINGS, dict(settings or {}), "")
    _positive_int(resolved["n_bins"], "n_bins", 2)
    if not float(resolved["hit_threshold_gev"]) >= 0:
        raise ValueError(
            f"calo validation setting 'hit_threshold_gev' must be >= 0 GeV; got {resolved['hit_threshold_gev']!r}"
        )
    edges = resolved["energy_bins_gev"]
    if edges is not None:
        arr = np.asarray(edges, dtype=np.float64) if isinstance(edges, (list, tuple)) else np.empty(0)
        if arr.ndim != 1 or len(arr) < 2 or not np.all(np.isfinite(arr)) or np.any(np.diff(arr) <= 0) or arr[0] < 0:
            raise ValueError(
                f"calo validation setting 'energy_bins_gev' must be a list of >= 2 increasing non-negative "
                f"energies in GeV (or null for terciles); got {edges!r}"
            )
        resolved["energy_bins_gev"] = [float(e) for e in arr]
    cls = resolved["classifier"]
    if cls["kind"] not in CLASSIFIER_KINDS:
        raise ValueError(
            f"calo validation setting 'classifier.kind' is {cls['kind']!r}; use one of {list(CLASSIFIER_KINDS)}"
        )
    if not 0.0 < float(cls["test_fraction"]) < 1.0:
        raise ValueError(
            f"calo validation setting 'classifier.test_fraction' must lie in (0, 1); got {cls['test_fraction']!r}"
        )
    _positive_int(cls["max_iter"], "classifier.max_iter")
    _positive_int(cls["n_threads"], "classifier.n_threads")
    try:
        ClassifierSettings(**cls["nn"], n_threads=cls["n_threads"])
    except (ValueError, TypeError) as err:
        raise ValueError(f"calo validation setting 'classifier.nn' is invalid: {err}") from err
    for key in ("min_samples", "max_samples", "num_batches"):
        _positive_int(resolved["fpd"][key], f"fpd.{key}")
    _positive_int(resolved["fpd"]["num_points"], "fpd.num_points", 3)
    if resolved["fpd"]["min_samples"] >= resolved["fpd"]["max_samples"]:
        raise ValueError(
            f"calo validation setting 'fpd.min_samples' ({resolved['fpd']['min_samples']}) must be below "
            f"'fpd.max_samples' ({resolved['fpd']['max_samples']})"
        )
    _positive_int(resolved["kpd"]["batch_size"], "kpd.batch_size", 2)
    _positive_int(resolved["kpd"]["num_batches"], "kpd.num_batches")
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


def neighbour_layer_correlation(features: ShowerFeatures, min_fraction: float = 0.01) -> float | None:
    """Mean Pearson correlation of E_i / E_inc with E_{i+1} / E_inc over neighbouring layer pairs that both hold
    at least `min_fraction` of E_inc on average: how the layers of one shower move together (the fluctuating
    depth of the shower), which per-layer histograms cannot see. None with fewer than two such layers."""
    fractions = features.layer_energy_gev / features.incident_energy_gev[:, None]
    active = fractions.mean(axis=0) >= min_fraction
    pairs = [i for i in range(fractions.shape[1] - 1) if active[i] and active[i + 1]]
    if len(fractions) < 3 or not pairs:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(fractions.T)
    values = [corr[i, i + 1] for i in pairs if np.isfinite(corr[i, i + 1])]
    return float(np.mean(values)) if values else None


def energy_bin_edges(reference_energy_gev: np.ndarray, settings: dict) -> np.ndarray:
    """Incident-energy bin edges in GeV: settings['energy_bins_gev'], or the reference's terciles."""
    if settings["energy_bins_gev"] is not None:
        return np.asarray(settings["energy_bins_gev"], dtype=np.float64)
    edges = np.quantile(np.asarray(reference_energy_gev, dtype=np.float64), [0.0, 1 / 3, 2 / 3, 1.0])
    return np.unique(edges) if len(np.unique(edges)) >= 2 else np.array([edges[0] * 0.5, edges[0] * 2.0])


def _energy_bin_masks(energy: np.ndarray, edges: np.ndarray) -> list[np.ndarray]:
    """Boolean masks per bin [lo, hi), the last bin closed at its upper edge."""
    masks = []
    for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        upper = energy <= hi if k == len(edges) - 2 else energy < hi
        masks.append((energy >= lo) & upper)
    return masks


def _nn_settings(resolved: dict) -> dict:
    return {**resolved["classifier"]["nn"], "n_threads": int(resolved["classifier"]["n_threads"])}


def _compare_all(
    reference: ShowerSample,
    generated: ShowerSample,
    ref_features: ShowerFeatures,
    gen_features: ShowerFeatures,
    resolved: dict,
    seed: int,
    key: str,
) -> dict[str, Any]:
    """Histogram metrics, both network classifier tests, FPD and KPD of one pair of samples."""
    features = compare_features(ref_features, gen_features, int(resolved["n_bins"]))
    ref_high, names = ref_features.high_level_matrix()
    gen_high, _ = gen_features.high_level_matrix()
    nn = _nn_settings(resolved)
    n_threads = int(resolved["classifier"]["n_threads"])
    low = classifier_test(
        ref_features.low_level_matrix(reference.cells),
        gen_features.low_level_matrix(generated.cells),
        seed=derive_seed(seed, "calo", "validate", key, "classifier", "low_level"),
        settings=nn,
    )
    high = classifier_test(
        ref_high, gen_high, seed=derive_seed(seed, "calo", "validate", key, "classifier", "high_level"), settings=nn
    )
    fpd_value, fpd_error = fpd(
        ref_high,
        gen_high,
        seed=derive_seed(seed, "calo", "validate", key, "fpd"),
        **resolved["fpd"],
        n_threads=n_threads,
    )
    kpd_value, kpd_error = kpd(
        ref_high,
        gen_high,
        seed=derive_seed(seed, "calo", "validate", key, "kpd"),
        **resolved["kpd"],
        n_threads=n_threads,
    )
    for label, result in (("low-level", low), ("high-level", high)):
        log.info("%s: %s classifier AUC %.4f, JSD %.4f", key, label, result["auc"], result["jsd"])
    log.info("%s: FPD %.4g +- %.2g, KPD %.4g +- %.2g", key, fpd_value, fpd_error, kpd_value, kpd_error)
    sep = {name: m["separation_power"] for name, m in features.items()}
    return {
        "n_reference": len(reference),
        "n_generated": len(generated),
        "features": features,
        "mean_separation_power": float(np.mean(list(sep.values()))),
        "worst_feature": max(sep, key=sep.get),
        "classifier": {"low_level": low, "high_level": high, "high_level_feature_names": names},
        "fpd": {"value": fpd_value, "error": fpd_error, "n_features": len(names)},
        "kpd": {"value": kpd_value, "error": kpd_error, "n_features": len(names)},
    }


def _per_energy_bin(
    ref_features: ShowerFeatures, gen_features: ShowerFeatures, resolved: dict, seed: int
) -> list[dict[str, Any]]:
    """e_ratio and longitudinal-profile separation power and the high-level classifier AUC per
    incident-energy bin; a bin with no shower in one sample gets None for its metrics."""
    edges = energy_bin_edges(ref_features.incident_energy_gev, resolved)
    ref_masks = _energy_bin_masks(ref_features.incident_energy_gev, edges)
    gen_masks = _energy_bin_masks(gen_features.incident_energy_gev, edges)
    out = []
    for k, (ref_mask, gen_mask) in enumerate(zip(ref_masks, gen_masks)):
        n_ref, n_gen = int(ref_mask.sum()), int(gen_mask.sum())
        row: dict[str, Any] = {
            "energy_min_gev": float(edges[k]),
            "energy_max_gev": float(edges[k + 1]),
            "n_reference": n_ref,
            "n_generated": n_gen,
            "separation_power_e_ratio": None,
            "separation_power_longitudinal_profile": None,
            "classifier_auc_high_level": None,
        }
        if n_ref and n_gen:
            ref, gen = ref_features.select(ref_mask), gen_features.select(gen_mask)
            row["separation_power_e_ratio"] = _compare_samples(ref.e_ratio, gen.e_ratio, int(resolved["n_bins"]))[
                "separation_power"
            ]
            row["separation_power_longitudinal_profile"] = _compare_profiles(
                ref.layer_depth_x0, ref.longitudinal_profile, gen.longitudinal_profile
            )["separation_power"]
            if min(n_ref, n_gen) >= MIN_SHOWERS_PER_ENERGY_BIN_CLASSIFIER:
                row["classifier_auc_high_level"] = classifier_test(
                    ref.high_level_matrix()[0],
                    gen.high_level_matrix()[0],
                    seed=derive_seed(seed, "calo", "validate", "energy_bin", k),
                    settings=_nn_settings(resolved),
                )["auc"]
        out.append(row)
    return out


def validate_showers(
    reference: ShowerSample,
    generated: ShowerSample,
    geometry,
    settings: dict,
    seed: int,
    simulator_showers_per_s: float | None = None,
    generator_showers_per_s: float | None = None,
    independent_reference: ShowerSample | None = None,
) -> dict[str, Any]:
    """Compare generated showers with reference showers on the same geometry; return the metrics dict.

    settings: see DEFAULT_SETTINGS; missing keys take the defaults, unknown keys raise ValueError.
    seed: master seed; every split, subsample and initialisation derives from it, so the result is
    deterministic. The speeds (showers per second) give summary.speed_ratio = generator / simulator.
    independent_reference: a second simulated sample, disjoint from `reference`; when given, the same
    metrics are computed for reference vs it (subsampled to at most len(generated) showers, so the
    histograms have the generated sample's statistics) under metrics["floor"]: the values a perfect
    generator would reach with these sample sizes.

    Returns {n_reference, n_generated, settings, features{name: {...}}, classifier{auc, kind, low_level,
    high_level, sklearn, ...}, fpd{value, error}, kpd{value, error}, per_energy_bin[...], floor{...} or
    None, speed{...}, summary{...}}; all values are plain Python numbers, strings, lists or None.
    """
    resolved = resolve_settings(settings)
    check_grid(reference, geometry, "reference")
    check_grid(generated, geometry, "generated")
    if independent_reference is not None:
        check_grid(independent_reference, geometry, "independent reference")
    for name, speed in (
        ("simulator_showers_per_s", simulator_showers_per_s),
        ("generator_showers_per_s", generator_showers_per_s),
    ):
        if speed is not None and not speed > 0:
            raise ValueError(f"{name} must be a positive number of showers per second; got {speed!r}")
    threshold = float(resolved["hit_threshold_gev"])
    ref_features = shower_features(reference, geometry, hit_threshold_gev=threshold)
    gen_features = shower_features(generated, geometry, hit_threshold_gev=threshold)
    log.info("validating %d generated against %d reference showers", len(generated), len(reference))

    main = _compare_all(reference, generated, ref_features, gen_features, resolved, seed, "generated")
    features = main["features"]

    cls = resolved["classifier"]
    ref_matrix, names = ref_features.high_level_matrix()
    gen_matrix, _ = gen_features.high_level_matrix()
    sklearn_auc = classifier_auc(
        ref_matrix,
        gen_matrix,
        seed=derive_seed(seed, "calo", "validate", "classifier"),
        kind=cls["kind"],
        test_fraction=float(cls["test_fraction"]),
        max_iter=int(cls["max_iter"]),
        n_threads=int(cls["n_threads"]),
    )
    log.info("sklearn classifier (%s) AUC on %d high-level features: %.4f", cls["kind"], len(names), sklearn_auc)
    per_energy_bin = _per_energy_bin(ref_features, gen_features, resolved, seed)

    floor = None
    if independent_reference is not None:
        indep = independent_reference
        if len(indep) > len(generated):
            rng = np.random.default_rng(derive_seed(seed, "calo", "validate", "floor", "subsample"))
            indep = indep[np.sort(rng.choice(len(indep), len(generated), replace=False))]
        indep_features = shower_features(indep, geometry, hit_threshold_gev=threshold)
        floor = _compare_all(reference, indep, ref_features, indep_features, resolved, seed, "floor")

    speed_ratio = None
    if simulator_showers_per_s is not None and generator_showers_per_s is not None:
        speed_ratio = float(generator_showers_per_s) / float(simulator_showers_per_s)

    low, high = main["classifier"]["low_level"], main["classifier"]["high_level"]

    def from_floor(*keys: str) -> Any:
        if floor is None:
            return None
        value: Any = floor
        for key in keys:
            value = value[key]
        return value

    return {
        "n_reference": len(reference),
        "n_generated": len(generated),
        "settings": resolved,
        "features": features,
        "classifier": {
            "auc": high["auc"],
            "kind": "nn",
            "n_features": len(names),
            "feature_names": names,
            "low_level": low,
            "high_level": high,
            "sklearn": {"auc": sklearn_auc, "kind": cls["kind"]},
        },
        "fpd": main["fpd"],
        "kpd": main["kpd"],
        "per_energy_bin": per_energy_bin,
        "floor": floor,
        "speed": {
            "simulator_showers_per_s": None if simulator_showers_per_s is None else float(simulator_showers_per_s),
            "generator_showers_per_s": None if generator_showers_per_s is None else float(generator_showers_per_s),
            "speed_ratio": speed_ratio,
        },
        "summary": {
            "separation_power_e_ratio": features["e_ratio"]["separation_power"],
            "separation_power_longitudinal_profile": features["longitudinal_profile"]["separation_power"],
            "mean_separation_power": main["mean_separation_power"],
            "mean_jsd": float(np.mean([m["jsd"] for m in features.values()])),
            "worst_feature": main["worst_feature"],
            "classifier_auc": high["auc"],
            "classifier_auc_low_level": low["auc"],
            "classifier_auc_high_level": high["auc"],
            "classifier_jsd_low_level": low["jsd"],
            "classifier_jsd_high_level": high["jsd"],
            "fpd": main["fpd"]["value"],
            "fpd_error": main["fpd"]["error"],
            "kpd": main["kpd"]["value"],
            "kpd_error": main["kpd"]["error"],
            "speed_ratio": speed_ratio,
            "mean_separation_power_floor": from_floor("mean_separation_power"),
            "separation_power_e_ratio_floor": from_floor("features", "e_ratio", "separation_power"),
            "classifier_auc_floor": from_floor("classifier", "high_level", "auc"),
            "classifier_auc_low_level_floor": from_floor("classifier", "low_level", "auc"),
            "fpd_floor": from_floor("fpd", "value"),
            "kpd_floor": from_floor("kpd", "value"),
            "layer_correlation": neighbour_layer_correlation(gen_features),
            "layer_correlation_reference": neighbour_layer_correlation(ref_features),
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


def _plot_e_ratio_per_energy_bin(ref, gen, edges: np.ndarray, labels, path: Path) -> Path:
    """Mean and standard deviation of E_dep / E_inc per incident-energy bin: reference as boxes spanning
    the bin (height = mean +- std), generated as points with error bars at the bin's mean energy."""
    fig = new_figure(figsize=(6.0, 4.5))
    ax = fig.add_subplot()
    for k, (ref_mask, gen_mask) in enumerate(
        zip(_energy_bin_masks(ref.incident_energy_gev, edges), _energy_bin_masks(gen.incident_energy_gev, edges))
    ):
        lo, hi = edges[k], edges[k + 1]
        if ref_mask.any():
            mean, std = ref.e_ratio[ref_mask].mean(), ref.e_ratio[ref_mask].std()
            ax.fill_between([lo, hi], mean - std, mean + std, color=REFERENCE_COLOUR, alpha=0.3, linewidth=0)
            ax.plot(
                [lo, hi], [mean, mean], color=REFERENCE_COLOUR, label=f"{labels[0]} (mean ± std)" if k == 0 else None
            )
        if gen_mask.any():
            e_mean = gen.incident_energy_gev[gen_mask].mean()
            ax.errorbar(
                e_mean,
                gen.e_ratio[gen_mask].mean(),
                yerr=gen.e_ratio[gen_mask].std(),
                fmt="o",
                markersize=4,
                color=GENERATED_COLOUR,
                linewidth=1,
                label=labels[1] if k == 0 else None,
            )
    ax.set_xlabel("incident energy [GeV]")
    ax.set_ylabel(r"$E_\mathrm{dep} / E_\mathrm{inc}$")
    ax.legend()
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
    average_shower (x-y, x-z, y-z projections of the mean shower, reference over generated),
    e_ratio_per_energy_bin (mean and spread of E_dep / E_inc in the incident-energy bins).
    settings: the same slice as validate_showers (n_bins, hit_threshold_gev, energy_bins_gev); defaults
    otherwise.
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
    edges = energy_bin_edges(ref.incident_energy_gev, resolved)
    _plot_e_ratio_per_energy_bin(ref, gen, edges, labels, paths["e_ratio_per_energy_bin"])
    return paths
