"""validate_showers (twins.calo.metrics) on synthetic shower samples (fixtures in conftest.py)."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from twins.calo.metrics import neighbour_layer_correlation, validate_showers, validation_settings
from twins.calo.showers import ShowerSample

SETTINGS = {
    "n_bins": 20,
    "hit_threshold_gev": 1.0e-5,
    "energy_bins_gev": [10.0, 25.0, 50.0],
    "classifier": {"kind": "hgb", "test_fraction": 0.3, "nn": {"epochs": 25}},
    "fpd": {"min_samples": 150, "max_samples": 400},
    "kpd": {"batch_size": 200},
}


@pytest.fixture(scope="module")
def metrics_same(samples, geo):
    return validate_showers(
        samples["reference"],
        samples["same"],
        geo,
        SETTINGS,
        seed=7,
        simulator_showers_per_s=20.0,
        generator_showers_per_s=5000.0,
        independent_reference=samples["independent"],
    )


@pytest.fixture(scope="module")
def metrics_different(samples, geo):
    return validate_showers(samples["reference"], samples["different"], geo, SETTINGS, seed=7)


def test_metrics_have_the_documented_keys_and_ranges(metrics_same, geo):
    assert set(metrics_same["summary"]) == {
        "separation_power_e_ratio",
        "separation_power_longitudinal_profile",
        "mean_separation_power",
        "mean_jsd",
        "worst_feature",
        "classifier_auc",
        "speed_ratio",
        "classifier_auc_low_level",
        "classifier_auc_high_level",
        "classifier_jsd_low_level",
        "classifier_jsd_high_level",
        "fpd",
        "fpd_error",
        "kpd",
        "kpd_error",
        "mean_separation_power_floor",
        "separation_power_e_ratio_floor",
        "classifier_auc_floor",
        "classifier_auc_low_level_floor",
        "fpd_floor",
        "kpd_floor",
        "layer_correlation",
        "layer_correlation_reference",
    }
    assert set(metrics_same["features"]) == {
        "e_ratio",
        "depth_centroid",
        "mean_radius",
        "n_hit",
        "longitudinal_profile",
        "radial_profile",
        "layer_energy",
        "centre_of_energy_x",
        "centre_of_energy_y",
        "width_x",
        "width_y",
        "cell_spectrum",
    }
    for name, m in metrics_same["features"].items():
        assert 0.0 <= m["separation_power"] <= 1.0, name
        assert 0.0 <= m["jsd"] <= 1.0, name
        assert set(m["moments"]) == {"mean", "std", "mean_shift"}, name
    for name in ("layer_energy", "centre_of_energy_x", "width_y"):
        assert len(metrics_same["features"][name]["per_layer"]["separation_power"]) == geo.nz
    assert metrics_same["n_reference"] == metrics_same["n_generated"] == 400
    assert 0.0 <= metrics_same["summary"]["classifier_auc"] <= 1.0
    assert metrics_same["summary"]["speed_ratio"] == pytest.approx(250.0)
    assert metrics_same["settings"]["classifier"]["max_iter"] == 200  # default filled in
    assert metrics_same["settings"]["classifier"]["nn"]["hidden"] == 128  # nested default filled in
    for level, n_features in (("low_level", geo.nx * geo.ny * geo.nz + 1), ("high_level", 3 + 5 * geo.nz + 2)):
        result = metrics_same["classifier"][level]
        assert result["n_features"] == n_features, level
        assert 1 <= result["best_epoch"] <= 25, level
        assert result["n_train"] + result["n_validation"] + result["n_test"] == 800, level
    # the floor compares against at most len(generated) independent showers
    assert metrics_same["floor"]["n_generated"] == 400
    json.dumps(metrics_same, allow_nan=False)  # JSON-able, no NaN or infinity


def test_same_distribution_scores_as_indistinguishable(metrics_same):
    summary = metrics_same["summary"]
    assert summary["mean_separation_power"] < 0.06
    assert summary["separation_power_e_ratio"] < 0.08
    assert summary["separation_power_longitudinal_profile"] < 0.005
    assert abs(summary["classifier_auc"] - 0.5) < 0.1
    assert abs(summary["classifier_auc_low_level"] - 0.5) < 0.1
    assert abs(summary["classifier_jsd_high_level"]) < 0.15
    assert abs(summary["fpd"]) < 3 * summary["fpd_error"] + 0.05
    assert abs(summary["kpd"]) < 3 * summary["kpd_error"] + 0.01
    assert metrics_same["features"]["e_ratio"]["moments"]["mean"] < 0.02
    # generated and the independent simulation are both draws of the reference's distribution
    assert abs(summary["classifier_auc_floor"] - 0.5) < 0.1
    assert abs(summary["fpd_floor"]) < 3 * metrics_same["floor"]["fpd"]["error"] + 0.05


def test_different_distribution_is_detected(metrics_same, metrics_different):
    same, diff = metrics_same["summary"], metrics_different["summary"]
    assert diff["classifier_auc"] > 0.95
    assert diff["classifier_auc_low_level"] > 0.9
    assert diff["classifier_jsd_high_level"] > 0.5
    assert diff["fpd"] > 10 * diff["fpd_error"] and diff["fpd"] > 10 * abs(same["fpd_floor"]) + 1
    assert diff["kpd"] > 10 * diff["kpd_error"] and diff["kpd"] > 10 * abs(same["kpd_floor"]) + 0.01
    assert diff["fpd_floor"] is None and metrics_different["floor"] is None
    assert diff["mean_separation_power"] > 3 * same["mean_separation_power"]
    assert diff["separation_power_longitudinal_profile"] > 10 * same["separation_power_longitudinal_profile"]
    # deeper and wider showers: the depth centroid and the widths move most, the centres stay
    features = metrics_different["features"]
    assert features["depth_centroid"]["separation_power"] > 0.3
    assert features["width_x"]["separation_power"] > 0.3
    assert features["centre_of_energy_x"]["separation_power"] < 0.1
    assert diff["speed_ratio"] is None


def test_per_energy_bin_counts_and_scores(samples, metrics_same, metrics_different):
    energy = samples["reference"].energy
    for metrics in (metrics_same, metrics_different):
        bins = metrics["per_energy_bin"]
        assert [(b["energy_min_gev"], b["energy_max_gev"]) for b in bins] == [(10.0, 25.0), (25.0, 50.0)]
        assert [b["n_reference"] for b in bins] == [int(np.sum(energy < 25.0)), int(np.sum(energy >= 25.0))]
        assert sum(b["n_generated"] for b in bins) == metrics["n_generated"]
    for same, diff in zip(metrics_same["per_energy_bin"], metrics_different["per_energy_bin"]):
        assert diff["separation_power_longitudinal_profile"] > 10 * same["separation_power_longitudinal_profile"]
        assert diff["classifier_auc_high_level"] > 0.9 > 0.65 > same["classifier_auc_high_level"]


def test_per_energy_bin_defaults_to_terciles_and_leaves_empty_bins_unscored(samples, geo):
    ref, gen = samples["reference"][:90], samples["same"][:90]
    settings = {"n_bins": 10, "classifier": {"nn": {"epochs": 2}}, "fpd": {"min_samples": 30, "max_samples": 90}}
    bins = validate_showers(ref, gen, geo, settings, seed=1)["per_energy_bin"]
    assert [b["n_reference"] for b in bins] == [30, 30, 30]
    assert bins[0]["energy_min_gev"] == ref.energy.min() and bins[-1]["energy_max_gev"] == ref.energy.max()
    settings["energy_bins_gev"] = [60.0, 80.0, 100.0]  # no shower above 50 GeV
    bins = validate_showers(ref, gen, geo, settings, seed=1)["per_energy_bin"]
    assert [b["n_reference"] for b in bins] == [0, 0]
    assert bins[0]["separation_power_e_ratio"] is None and bins[0]["classifier_auc_high_level"] is None


def test_floor_compares_the_reference_with_the_independent_simulation(samples, geo, metrics_different):
    metrics = validate_showers(
        samples["reference"], samples["different"], geo, SETTINGS, seed=7, independent_reference=samples["independent"]
    )
    summary, floor = metrics["summary"], metrics["floor"]
    # the generated-sample metrics do not depend on whether a floor is asked for
    assert {k: v for k, v in summary.items() if "floor" not in k} == {
        k: v for k, v in metrics_different["summary"].items() if "floor" not in k
    }
    assert floor["n_reference"] == 400 and floor["n_generated"] == 400  # 500 independent showers subsampled
    assert summary["classifier_auc"] > 0.95 and abs(summary["classifier_auc_floor"] - 0.5) < 0.1
    assert abs(summary["classifier_auc_low_level_floor"] - 0.5) < 0.12
    assert summary["fpd"] > 100 * abs(summary["fpd_floor"])
    assert summary["mean_separation_power"] > 5 * summary["mean_separation_power_floor"]
    assert floor["features"]["e_ratio"]["separation_power"] == summary["separation_power_e_ratio_floor"]


def test_validation_is_deterministic(samples, geo, metrics_different):
    again = validate_showers(samples["reference"], samples["different"], geo, SETTINGS, seed=7)
    assert json.dumps(again, sort_keys=True) == json.dumps(metrics_different, sort_keys=True)


def test_unknown_or_invalid_settings_raise(samples, geo):
    ref = samples["reference"][:50]
    with pytest.raises(
        ValueError, match=r"config key 'calo.validate': Additional properties .*\('n_bin' was unexpected\)"
    ):
        validate_showers(ref, ref, geo, {"n_bin": 30}, seed=0)
    with pytest.raises(
        ValueError, match=r"'calo.validate.classifier': Additional properties .*\('epochs' was unexpected\)"
    ):
        validate_showers(ref, ref, geo, {"classifier": {"epochs": 3}}, seed=0)
    with pytest.raises(ValueError, match=r"calo.validate.classifier.kind"):
        validation_settings({"classifier": {"kind": "bdt"}})
    with pytest.raises(ValueError, match=r"calo.validate.n_bins"):
        validation_settings({"n_bins": 1})
    with pytest.raises(
        ValueError, match=r"'calo.validate.classifier.nn': Additional properties .*\('depth' was unexpected\)"
    ):
        validation_settings({"classifier": {"nn": {"depth": 3}}})
    with pytest.raises(ValueError, match=r"calo.validate.classifier.nn"):
        validation_settings({"classifier": {"nn": {"train_fraction": 0.9, "validation_fraction": 0.2}}})
    with pytest.raises(ValueError, match=r"'calo.validate.fpd': Additional properties .*\('n' was unexpected\)"):
        validation_settings({"fpd": {"n": 3}})
    with pytest.raises(ValueError, match=r"calo.validate.fpd.num_points"):
        validation_settings({"fpd": {"num_points": 2}})
    with pytest.raises(ValueError, match=r"calo.validate.kpd.batch_size"):
        validation_settings({"kpd": {"batch_size": 1}})
    for edges in ([30.0], [30.0, 10.0], "10,30"):
        with pytest.raises(ValueError, match=r"calo.validate.energy_bins_gev"):
            validation_settings({"energy_bins_gev": edges})
    with pytest.raises(ValueError, match="generator_showers_per_s"):
        validate_showers(ref, ref, geo, {}, seed=0, simulator_showers_per_s=1.0, generator_showers_per_s=0.0)


def test_geometry_mismatch_raises(samples, geo):
    ref = samples["reference"][:20]
    shallow = ShowerSample(ref.cells[:, :, :, :4], ref.energy, ref.theta, ref.pdg)
    with pytest.raises(ValueError, match="generated showers have cells of shape"):
        validate_showers(ref, shallow, geo, {}, seed=0)


def test_neighbour_layer_correlation_sees_how_layers_move_together():
    rng = np.random.default_rng(0)
    n, nz = 2000, 6
    depth = rng.normal(0.0, 1.0, n)  # one shared fluctuation per shower: layers move together
    correlated = 0.1 + 0.03 * depth[:, None] + 0.005 * rng.normal(size=(n, nz))
    independent = 0.1 + 0.03 * rng.normal(size=(n, nz))
    incident = np.full(n, 1.0)
    as_features = lambda layers: SimpleNamespace(layer_energy_gev=layers, incident_energy_gev=incident)  # noqa: E731
    assert neighbour_layer_correlation(as_features(correlated)) > 0.9
    assert abs(neighbour_layer_correlation(as_features(independent))) < 0.1
    assert neighbour_layer_correlation(as_features(np.full((n, nz), 1e-4))) is None  # no layer above 1 %


def test_settings_take_the_schema_defaults_and_the_jobs_threads():
    settings = validation_settings(None, threads=3)
    assert settings["hit_threshold_gev"] == 1.0e-4  # the schema's default, not a copy in code
    assert settings["classifier"]["n_threads"] == 3 and settings["classifier"]["nn"]["epochs"] == 40
    with pytest.raises(ValueError, match="thread count"):
        validation_settings(None, threads=0)
