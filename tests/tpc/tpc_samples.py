"""Constants shared by the TPC tests (a uniquely named module: other test folders have a conftest too)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DETECTOR_FILE = REPO / "resources" / "tpc" / "mpd_padrow.yaml"
SIMULATE = {
    "particle": "pion",
    "pt_gev": {"min": 0.15, "max": 2.0},
    "eta_max": 1.0,
    "vertex": {"sigma_xy_cm": 0.1, "sigma_z_cm": 25.0},
    "max_crossing_angle_deg": 60.0,
}
