"""The calorimeter metrics table of the report (twins.calo.report): a column per model, the quality goals."""

import pytest

from twins.calo.report import metrics_frame, quality_goals, write_metrics_table


def test_metrics_table_has_a_column_per_model(tmp_path):
    metrics = {}
    for model, sp in (("gan3d", 0.2), ("other", 0.1)):
        metrics[model] = {
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
    frame = metrics_frame(metrics)
    assert list(frame.columns) == ["gan3d", "other"]
    assert frame.loc[("e_ratio", "jsd"), "other"] == 0.05
    assert frame.loc[("E 10-40 GeV", "separation_power_e_ratio"), "gan3d"] == 0.2
    write_metrics_table(metrics, tmp_path / "m.html", tmp_path / "m.csv")
    assert "separation_power_e_ratio" in (tmp_path / "m.html").read_text()


def test_quality_goals_compare_auc_and_fpd_with_the_goals(tmp_path):
    metrics = {
        model: {
            "summary": {
                "classifier_auc_low_level": auc,
                "classifier_auc_low_level_floor": 0.49,
                "fpd": fpd,
                "fpd_floor": 3.3,
            }
        }
        for model, auc, fpd in (("good", 0.70, 16.0), ("bad", 0.98, 300.0))
    }
    goals = quality_goals(metrics)
    assert goals.loc["good", "AUC met"] and goals.loc["good", "FPD met"]
    assert not goals.loc["bad", "AUC met"] and not goals.loc["bad", "FPD met"]
    assert goals.loc["bad", "FPD goal (5x floor)"] == pytest.approx(16.5)
    write_metrics_table(metrics, tmp_path / "m.html", tmp_path / "m.csv")
    assert "Quality goals" in (tmp_path / "m.html").read_text()
