"""The pad-row detector description (resources/tpc/*.yaml) as one object with derived quantities.

Units: cm, ns, fC, ADC counts. Rows are numbered from the beam axis outwards, 0..n_rows-1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ELECTRON_CHARGE_FC = 1.602176634e-4

REQUIRED = (
    "name",
    "magnetic_field_t",
    "sectors",
    "first_row_distance_cm",
    "pad_pitch_cm",
    "row_groups",
    "max_drift_cm",
    "drift_velocity_cm_per_us",
    "time_bucket_ns",
    "diffusion_transverse_cm_per_sqrt_cm",
    "diffusion_longitudinal_cm_per_sqrt_cm",
    "ionisation",
    "gas_gain",
    "polya_theta",
    "pad_response_sigma_cm",
    "shaping",
    "noise_adc",
    "zero_suppression_adc",
    "adc_max",
    "window",
)
POSITIVE = (
    "magnetic_field_t",
    "first_row_distance_cm",
    "pad_pitch_cm",
    "max_drift_cm",
    "drift_velocity_cm_per_us",
    "time_bucket_ns",
    "gas_gain",
    "pad_response_sigma_cm",
    "adc_max",
)


class DetectorError(ValueError):
    """The detector file is missing a key or holds an impossible value."""


@dataclass(frozen=True)
class PadRowDetector:
    name: str
    magnetic_field_t: float
    sectors: int
    first_row_distance_cm: float
    pad_pitch_cm: float
    row_groups: list
    max_drift_cm: float
    drift_velocity_cm_per_us: float
    time_bucket_ns: float
    diffusion_transverse_cm_per_sqrt_cm: float
    diffusion_longitudinal_cm_per_sqrt_cm: float
    ionisation: dict
    gas_gain: float
    polya_theta: float
    pad_response_sigma_cm: float
    shaping: dict
    noise_adc: float
    zero_suppression_adc: float
    adc_max: float
    window: dict
    _rows: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_rows(self) -> int:
        return sum(int(g["rows"]) for g in self.row_groups)

    @property
    def pad_lengths_cm(self) -> np.ndarray:
        """(n_rows,) radial extent of each row's pads."""
        return np.concatenate([np.full(int(g["rows"]), float(g["pad_length_cm"])) for g in self.row_groups])

    @property
    def row_distances_cm(self) -> np.ndarray:
        """(n_rows,) distance of each row's centre line from the beam axis (rows abut)."""
        lengths = self.pad_lengths_cm
        edges = self.first_row_distance_cm - lengths[0] / 2 + np.concatenate([[0.0], np.cumsum(lengths)])
        return 0.5 * (edges[:-1] + edges[1:])

    @property
    def drift_per_bucket_cm(self) -> float:
        """Drift distance that takes one time bucket."""
        return self.drift_velocity_cm_per_us * self.time_bucket_ns * 1e-3

    @property
    def window_shape(self) -> tuple[int, int]:
        return int(self.window["pads"]), int(self.window["time_buckets"])

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record.pop("_rows")
        return record


def detector_from_dict(record: dict[str, Any], source: str = "detector") -> PadRowDetector:
    """Check and build a detector; DetectorError naming the key and the file on a bad value."""
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise DetectorError(f"{source}: missing key(s) {missing}; see resources/tpc/mpd_padrow.yaml")
    bad = [k for k in POSITIVE if not float(record[k]) > 0]
    if bad:
        raise DetectorError(f"{source}: {bad} must be positive")
    if not record["row_groups"] or any(
        int(g["rows"]) < 1 or float(g["pad_length_cm"]) <= 0 for g in record["row_groups"]
    ):
        raise DetectorError(f"{source}: row_groups must list {{rows >= 1, pad_length_cm > 0}} entries")
    probs = record["ionisation"]["cluster_size_probabilities"]
    if not probs or min(probs) < 0 or sum(probs) > 1:
        raise DetectorError(f"{source}: ionisation.cluster_size_probabilities must be non-negative, summing to <= 1")
    window = record["window"]
    if not (0 <= window["pads_before"] < window["pads"] and 0 <= window["buckets_before"] < window["time_buckets"]):
        raise DetectorError(f"{source}: window.pads_before/buckets_before must lie inside the window")
    if record["polya_theta"] <= -1:
        raise DetectorError(f"{source}: polya_theta must exceed -1")
    return PadRowDetector(**{k: record[k] for k in REQUIRED})


def load_detector(path: str | Path) -> PadRowDetector:
    path = Path(path)
    if not path.exists():
        raise DetectorError(f"{path}: detector file not found; tpc.detector must name a file in resources/tpc/")
    return detector_from_dict(yaml.safe_load(path.read_text()), str(path))
