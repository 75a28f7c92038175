"""The file-level step functions behind the rules (production, generation conditions, metrics table)."""

import json

import numpy as np
import pytest

from tests.calo.calo_samples import REPO, TOY_GEOMETRY, toy_showers
from twins.calo.generation_step import generation_conditions
from twins.calo.hdf5io import write_showers_h5
from twins.calo.production import chunk_events, simulate_chunk
from twins.calo.report import metrics_frame, quality_goals, write_metrics_table
from twins.calo.rootio import read_root_metadata

SIMULATE = {
    "backend": "gflash",
    "events": 7,
    "chunks": 3,
    "particle": "e-",
    "energy_gev": {"spectrum": "uniform", "min": 10, "max": 20},
    "incidence_angle_deg": {"min": 0, "max": 10},
}


def test_chunk_events_spread_the_total():
    assert [chunk_events(7, 3, k) for k in range(3)] == [3, 2, 2]
    assert sum(chunk_events(1000, 7, k) for k in range(7)) == 1000
    with pytest.raises(ValueError, match="calo.simulate.chunks"):
        chunk_events(10, 2, 2)


def test_simulate_chunks_have_distinct_seeds_and_provenance(tmp_path):
    geometry = REPO / "resources/calo/geometry_pbwo4.yaml"
    samples = [
        simulate_chunk(geometry, SIMULATE, 42, k, tmp_path / f"c{k}.root", tmp_path / f"c{k}.json") for k in (0, 1)
    ]
    assert len(samples[0]) == 3 and len(samples[1]) == 2
    assert not np.isin(samples[0].energy, samples[1].energy).any()
    meta = read_root_metadata(tmp_path / "c0.root")
    assert meta["provenance"]["chunk"] == 0 and meta["provenance"]["config"] == SIMULATE
    assert str(geometry) in meta["provenance"]["inputs"]
    assert json.loads((tmp_path / "c1.json").read_text())["showers"] == 2


def test_generation_conditions_from_test_set_or_grid(tmp_path):
    test = tmp_path / "test.h5"
    sample = toy_showers(5)
    write_showers_h5(test, sample, TOY_GEOMETRY, {})
    energy, theta, pdg = generation_conditions(test, {"conditions": "test"})
    np.testing.assert_array_equal(energy, sample.energy)
    grid = {"energy_gev": [10, 50], "incidence_angle_deg": [0, 30], "showers_per_point": 3}
    energy, theta, pdg = generation_conditions(test, {"conditions": "grid", "grid": grid})
    assert len(energy) == 12 and sorted(set(energy)) == [10, 50]
    np.testing.assert_allclose(sorted(set(np.round(theta, 6))), [0, round(np.pi / 6, 6)])
    assert set(pdg) == {11}


def test_metrics_table_has_a_column_per_model(tmp_path):
    paths = {}
    for model, sp in (("gan3d", 0.2), ("other", 0.1)):
        paths[model] = tmp_path / f"{model}.json"
        paths[model].write_text(
            json.dumps(
                {
                    "summary": {"separation_power_e_ratio": sp, "worst_feature": "n_hit", "fpd_floor": None},
                    "per_energy_bin": [
                        {
                            "energy_min_gev": 10.0,
                            "energy_max_gev": 40.0,
                            "n_reference": 5,
                            "separation_power_e_ratio": sp,
                            "classifier_auc_high_level": None,
                        }
                    ],
                    "features": {"e_ratio": {"separation_power": sp, "jsd": sp / 2, "moments": {"mean": 0.1}}},
                }
            )
        )
    frame = metrics_frame(paths)
    assert list(frame.columns) == ["gan3d", "other"]
    assert frame.loc[("e_ratio", "jsd"), "other"] == 0.05
    assert frame.loc[("E 10-40 GeV", "separation_power_e_ratio"), "gan3d"] == 0.2
    write_metrics_table(paths, tmp_path / "m.html", tmp_path / "m.csv")
    assert "separation_power_e_ratio" in (tmp_path / "m.html").read_text()


def test_quality_goals_compare_auc_and_fpd_with_the_goals(tmp_path):
    paths = {}
    for model, auc, fpd in (("good", 0.70, 16.0), ("bad", 0.98, 300.0)):
        paths[model] = tmp_path / f"{model}.json"
        paths[model].write_text(
            json.dumps(
                {
                    "summary": {
                        "classifier_auc_low_level": auc,
                        "classifier_auc_low_level_floor": 0.49,
                        "fpd": fpd,
                        "fpd_floor": 3.3,
                    }
                }
            )
        )
    goals = quality_goals(paths)
    assert goals.loc["good", "AUC met"] and goals.loc["good", "FPD met"]
    assert not goals.loc["bad", "AUC met"] and not goals.loc["bad", "FPD met"]
    assert goals.loc["bad", "FPD goal (5x floor)"] == pytest.approx(16.5)
    write_metrics_table(paths, tmp_path / "m.html", tmp_path / "m.csv")
    assert "Quality goals" in (tmp_path / "m.html").read_text()
