"""Telescope presets (resources/pulsar/*.yaml): channelisation, bandpass gain, digitiser, RFI bands."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

REQUIRED = ("name", "telescope_id", "nchans", "fch1_mhz", "foff_mhz", "tsamp_s", "bandpass", "digitiser")


@dataclass(frozen=True)
class Telescope:
    """A receiver/backend setup. Frequencies in MHz (channel centres), times in seconds."""

    name: str
    telescope_id: int
    machine_id: int
    nchans: int
    fch1_mhz: float
    foff_mhz: float
    tsamp_s: float
    bandpass: dict
    digitiser: dict
    rfi_bands_mhz: tuple = ()

    @property
    def frequencies_mhz(self) -> np.ndarray:
        return self.fch1_mhz + self.foff_mhz * np.arange(self.nchans)

    def bandpass_gain(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """Per-channel gain (nchans,): smooth knots x edge roll-off x optional channel ripple."""
        position = np.arange(self.nchans) / max(self.nchans - 1, 1)
        knots = np.asarray(self.bandpass["knots"], dtype=float)
        gain = np.interp(position, knots[:, 0], knots[:, 1])
        edge = float(self.bandpass.get("rolloff_fraction", 0.0))
        if edge > 0:
            distance = np.minimum(position, 1 - position) / edge
            # the filter edge: gain falls to 30% at the band edge
            gain *= 0.3 + 0.7 * np.sin(0.5 * np.pi * np.clip(distance, 0, 1)) ** 2
        ripple = float(self.bandpass.get("ripple_fraction", 0.0))
        if rng is not None and ripple > 0:
            gain *= 1 + ripple * rng.standard_normal(self.nchans)
        return gain

    def header(self, source_name: str, tstart_mjd: float = 60000.0) -> dict:
        """SIGPROC header keywords of an 8-bit file from this setup."""
        return {
            "source_name": source_name,
            "telescope_id": self.telescope_id,
            "machine_id": self.machine_id,
            "data_type": 1,
            "fch1": self.fch1_mhz,
            "foff": self.foff_mhz,
            "nchans": self.nchans,
            "nbeams": 1,
            "ibeam": 0,
            "nbits": 8,
            "tstart": tstart_mjd,
            "tsamp": self.tsamp_s,
            "nifs": 1,
        }


def load_telescope(path: str | Path) -> Telescope:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"telescope preset {path} not found; presets live in resources/pulsar/")
    spec = yaml.safe_load(path.read_text())
    missing = [k for k in REQUIRED if k not in spec]
    if missing:
        raise ValueError(f"{path}: telescope preset lacks {missing}")
    spec.setdefault("machine_id", 0)
    spec["rfi_bands_mhz"] = tuple(tuple(b) for b in spec.get("rfi_bands_mhz", ()))
    return Telescope(**spec)
