"""CaloChallenge-style validation maths: generated against reference (simulated) showers, no file I/O.

`validate_showers` returns a JSON-able metrics dict: for every high-level feature the separation power
and Jensen-Shannon divergence of shared-binning histograms and the error of the first two moments;
the CaloChallenge classifier test (a calibrated network, AUC and JSD) on low-level (voxel) and
high-level inputs, plus a quick sklearn classifier AUC; the Fréchet and kernel physics distances (FPD,
KPD) on the high-level features; metrics per incident-energy bin; optionally the same metrics for
simulation vs an independent simulated sample (the statistical floor); the speed ratio; and a `summary`,
which adds the mean correlation of neighbouring layers' energies (`layer_correlation`, and
`layer_correlation_reference` of the simulation). Settings are the calo.validate slice (schema defaults
through `validation_settings`). twins.calo.figures draws the matching figures.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from twins.calo.features import ShowerFeatures, check_grid, shower_features
from twins.calo.showers import ShowerSample
from twins.core.classifier import ClassifierSettings, classifier_test
from twins.core.config import resolve
from twins.core.metrics import (
    classifier_auc,
    histogram,
    jensen_shannon_divergence,
    relative_moment_error,
    separation_power,
    shared_bins,
)
from twins.core.physics_distances import fpd, kpd
from twins.core.seeding import derive_seed

log = logging.getLogger(__name__)

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

_KEY = "calo.validate"


def validation_settings(settings: Mapping[str, Any] | None, threads: int = 1) -> dict[str, Any]:
    """The calo.validate slice with the schema's defaults filled in and checked (ConfigError, a ValueError,
    naming the key), the rules across keys the schema cannot express, and `classifier.n_threads` = threads:
    the threads of every fit (sklearn, torch, the FPD/KPD BLAS), which the metrics record."""
    resolved = resolve(_KEY, settings)
    edges = resolved["energy_bins_gev"]
    if edges is not None:
        arr = np.asarray(edges, dtype=np.float64)
        if not np.all(np.isfinite(arr)) or np.any(np.diff(arr) <= 0):
            raise ValueError(
                f"{_KEY}.energy_bins_gev must be a list of >= 2 increasing non-negative energies in GeV "
                f"(or null for terciles); got {edges!r}"
            )
        resolved["energy_bins_gev"] = [float(e) for e in arr]
    if isinstance(threads, bool) or int(threads) != threads or threads < 1:
        raise ValueError(f"the validation's thread count must be an integer >= 1; got {threads!r}")
    resolved["classifier"]["n_threads"] = int(threads)
    try:
        ClassifierSettings(**resolved["classifier"]["nn"], n_threads=int(threads))
    except (ValueError, TypeError) as err:
        raise ValueError(f"{_KEY}.classifier.nn is invalid: {err}") from err
    if resolved["fpd"]["min_samples"] >= resolved["fpd"]["max_samples"]:
        raise ValueError(
            f"{_KEY}.fpd.min_samples ({resolved['fpd']['min_samples']}) must be below "
            f"{_KEY}.fpd.max_samples ({resolved['fpd']['max_samples']})"
        )
    return resolved


def simulation_speed(timings: Sequence[Mapping[str, Any]]) -> float | None:
    """Showers per second of the simulator over all chunks (total showers / total seconds) from the chunks'
    timing records; None for external data, which has no simulation timing."""
    if not timings:
        return None
    return sum(t["showers"] for t in timings) / sum(t["seconds"] for t in timings)


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


def energy_bin_masks(energy: np.ndarray, edges: np.ndarray) -> list[np.ndarray]:
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
    ref_masks = energy_bin_masks(ref_features.incident_energy_gev, edges)
    gen_masks = energy_bin_masks(gen_features.incident_energy_gev, edges)
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
    settings: Mapping[str, Any] | None,
    seed: int,
    simulator_showers_per_s: float | None = None,
    generator_showers_per_s: float | None = None,
    independent_reference: ShowerSample | None = None,
    threads: int = 1,
) -> dict[str, Any]:
    """Compare generated showers with reference showers on the same geometry; return the metrics dict.

    settings: the calo.validate slice; missing keys take the schema's defaults, unknown keys raise ValueError.
    seed: master seed; every split, subsample and initialisation derives from it, so the result is
    deterministic (at a given thread count: `threads` of every fit). The speeds (showers per second) give
    summary.speed_ratio = generator / simulator.
    independent_reference: a second simulated sample, disjoint from `reference`; when given, the same
    metrics are computed for reference vs it (subsampled to at most len(generated) showers, so the
    histograms have the generated sample's statistics) under metrics["floor"]: the values a perfect
    generator would reach with these sample sizes.

    Returns {n_reference, n_generated, settings, features{name: {...}}, classifier{auc, kind, low_level,
    high_level, sklearn, ...}, fpd{value, error}, kpd{value, error}, per_energy_bin[...], floor{...} or
    None, speed{...}, summary{...}}; all values are plain Python numbers, strings, lists or None.
    """
    resolved = validation_settings(settings, threads)
    _check_inputs(
        reference, generated, independent_reference, geometry, simulator_showers_per_s, generator_showers_per_s
    )
    threshold = float(resolved["hit_threshold_gev"])
    ref_features = shower_features(reference, geometry, hit_threshold_gev=threshold)
    gen_features = shower_features(generated, geometry, hit_threshold_gev=threshold)
    log.info("validating %d generated against %d reference showers", len(generated), len(reference))

    main = _compare_all(reference, generated, ref_features, gen_features, resolved, seed, "generated")
    sklearn_auc = _sklearn_auc(ref_features, gen_features, resolved, seed)
    per_energy_bin = _per_energy_bin(ref_features, gen_features, resolved, seed)
    floor = None
    if independent_reference is not None:
        floor = _floor(reference, independent_reference, len(generated), ref_features, geometry, resolved, seed)
    speed = {
        "simulator_showers_per_s": None if simulator_showers_per_s is None else float(simulator_showers_per_s),
        "generator_showers_per_s": None if generator_showers_per_s is None else float(generator_showers_per_s),
        "speed_ratio": None,
    }
    if simulator_showers_per_s is not None and generator_showers_per_s is not None:
        speed["speed_ratio"] = float(generator_showers_per_s) / float(simulator_showers_per_s)

    names = main["classifier"]["high_level_feature_names"]
    low, high = main["classifier"]["low_level"], main["classifier"]["high_level"]
    return {
        "n_reference": len(reference),
        "n_generated": len(generated),
        "settings": resolved,
        "features": main["features"],
        "classifier": {
            "auc": high["auc"],
            "kind": "nn",
            "n_features": len(names),
            "feature_names": names,
            "low_level": low,
            "high_level": high,
            "sklearn": {"auc": sklearn_auc, "kind": resolved["classifier"]["kind"]},
        },
        "fpd": main["fpd"],
        "kpd": main["kpd"],
        "per_energy_bin": per_energy_bin,
        "floor": floor,
        "speed": speed,
        "summary": _summary(main, floor, speed["speed_ratio"], ref_features, gen_features),
    }


def _check_inputs(reference, generated, independent, geometry, simulator_showers_per_s, generator_showers_per_s):
    """Every sample on the geometry's grid; speeds, where given, positive."""
    check_grid(reference, geometry, "reference")
    check_grid(generated, geometry, "generated")
    if independent is not None:
        check_grid(independent, geometry, "independent reference")
    for name, speed in (
        ("simulator_showers_per_s", simulator_showers_per_s),
        ("generator_showers_per_s", generator_showers_per_s),
    ):
        if speed is not None and not speed > 0:
            raise ValueError(f"{name} must be a positive number of showers per second; got {speed!r}")


def _sklearn_auc(ref_features: ShowerFeatures, gen_features: ShowerFeatures, resolved: dict, seed: int) -> float:
    """The quick sklearn cross-check of the classifier test, on the high-level features."""
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
    log.info("sklearn classifier (%s) AUC on %d high-level features: %.4f", cls["kind"], len(names), auc)
    return auc


def _floor(
    reference: ShowerSample,
    independent: ShowerSample,
    n_generated: int,
    ref_features: ShowerFeatures,
    geometry,
    resolved: dict,
    seed: int,
) -> dict[str, Any]:
    """The metrics of the reference against the independent simulation, subsampled to n_generated showers."""
    if len(independent) > n_generated:
        rng = np.random.default_rng(derive_seed(seed, "calo", "validate", "floor", "subsample"))
        independent = independent[np.sort(rng.choice(len(independent), n_generated, replace=False))]
    features = shower_features(independent, geometry, hit_threshold_gev=float(resolved["hit_threshold_gev"]))
    return _compare_all(reference, independent, ref_features, features, resolved, seed, "floor")


def _from_floor(floor: dict | None, *keys: str) -> Any:
    """floor[keys[0]][keys[1]]...; None without a floor."""
    if floor is None:
        return None
    value: Any = floor
    for key in keys:
        value = value[key]
    return value


def _summary(
    main: dict,
    floor: dict | None,
    speed_ratio: float | None,
    ref_features: ShowerFeatures,
    gen_features: ShowerFeatures,
) -> dict[str, Any]:
    """The headline numbers of the report's table."""
    features = main["features"]
    low, high = main["classifier"]["low_level"], main["classifier"]["high_level"]
    return {
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
        "mean_separation_power_floor": _from_floor(floor, "mean_separation_power"),
        "separation_power_e_ratio_floor": _from_floor(floor, "features", "e_ratio", "separation_power"),
        "classifier_auc_floor": _from_floor(floor, "classifier", "high_level", "auc"),
        "classifier_auc_low_level_floor": _from_floor(floor, "classifier", "low_level", "auc"),
        "fpd_floor": _from_floor(floor, "fpd", "value"),
        "kpd_floor": _from_floor(floor, "kpd", "value"),
        "layer_correlation": neighbour_layer_correlation(gen_features),
        "layer_correlation_reference": neighbour_layer_correlation(ref_features),
    }
