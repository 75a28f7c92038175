"""Segments cut around catalogued glitches and background times (rule virgo_convert), and their HDF5 file.

File layout (segments.h5):
    strain            (n, m) float32   strain samples of each segment
    aux               (n, c, m_aux) float32   auxiliary channels
    t0                (n,) float64     GPS start of each segment
    meta/<column>     (n,)             slot, label, gps (glitch time or background centre), snr, ...
    attrs: strain_rate, aux_rate [Hz], strain_name, aux_names, aux_units (JSON), coupled_channels (JSON),
           provenance
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from twins.core.io import InputFileError, atomic_path, get_provenance, open_hdf5, set_provenance
from twins.core.provenance import make_provenance
from twins.core.seeding import derive_seed
from twins.virgo.simulate import read_catalogue
from twins.virgo.timeseries import TimeSeries, read_detector

log = logging.getLogger(__name__)


@dataclass
class SegmentSet:
    """Equal-length segments of strain and auxiliary channels with one metadata row per segment."""

    strain: np.ndarray
    aux: np.ndarray
    t0: np.ndarray
    meta: pd.DataFrame
    strain_rate: float
    aux_rate: float
    strain_name: str
    aux_names: list[str]
    aux_units: list[str]
    coupled_channels: list[str]

    def __len__(self) -> int:
        return len(self.t0)

    @property
    def duration(self) -> float:
        return self.strain.shape[1] / self.strain_rate

    def strain_series(self, i: int) -> TimeSeries:
        return TimeSeries(
            self.strain[i].astype(np.float64), self.t0[i], 1 / self.strain_rate, self.strain_name, "strain"
        )

    def aux_series(self, i: int, channel: int) -> TimeSeries:
        return TimeSeries(
            self.aux[i, channel].astype(np.float64),
            self.t0[i],
            1 / self.aux_rate,
            self.aux_names[channel],
            self.aux_units[channel],
        )


def cut_segments(
    strain: TimeSeries,
    aux: list[TimeSeries],
    catalogue: pd.DataFrame,
    duration: float,
    offset: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut a `duration`-s segment around every catalogue time, shifted by a uniform offset in [-offset, offset]
    so glitches are not always centred. Returns strain (n, m), aux (n, c, m_aux), t0 (n,)."""
    if duration < 6:
        raise ValueError(f"virgo.convert.segment_duration_s must be >= 6 s, got {duration}")
    starts = catalogue["gps"].to_numpy() - duration / 2 + rng.uniform(-offset, offset, len(catalogue))
    starts = np.clip(starts, strain.t0, strain.t_end - duration)
    m, m_aux = int(round(duration * strain.sample_rate)), int(round(duration * aux[0].sample_rate))
    strain_out = np.empty((len(starts), m), np.float32)
    aux_out = np.empty((len(starts), len(aux), m_aux), np.float32)
    for i, start in enumerate(starts):
        j = strain.index_of(start)
        strain_out[i] = strain.data[j : j + m]
        for c, series in enumerate(aux):
            k = series.index_of(start)
            aux_out[i, c] = series.data[k : k + m_aux]
    t0 = strain.t0 + np.array([strain.index_of(s) for s in starts]) * strain.dt
    return strain_out, aux_out, t0


def write_segments(path: Path, segments: SegmentSet, record: dict) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("strain", data=segments.strain)
        f.create_dataset("aux", data=segments.aux)
        f.create_dataset("t0", data=segments.t0)
        meta = f.create_group("meta")
        for column in segments.meta.columns:
            values = segments.meta[column].to_numpy()
            meta.create_dataset(column, data=values.astype("S") if values.dtype == object else values)
        f.attrs.update(
            {
                "strain_rate": segments.strain_rate,
                "aux_rate": segments.aux_rate,
                "strain_name": segments.strain_name,
                "aux_names": json.dumps(segments.aux_names),
                "aux_units": json.dumps(segments.aux_units),
                "coupled_channels": json.dumps(segments.coupled_channels),
            }
        )
        set_provenance(f, record)


def read_segments(path: str | Path) -> SegmentSet:
    with open_hdf5(path, required=("strain", "aux", "t0", "meta")) as f:
        meta = pd.DataFrame({k: (v[...].astype(str) if v.dtype.kind == "S" else v[...]) for k, v in f["meta"].items()})
        try:
            return SegmentSet(
                f["strain"][...],
                f["aux"][...],
                f["t0"][...],
                meta,
                float(f.attrs["strain_rate"]),
                float(f.attrs["aux_rate"]),
                str(f.attrs["strain_name"]),
                json.loads(f.attrs["aux_names"]),
                json.loads(f.attrs["aux_units"]),
                json.loads(f.attrs["coupled_channels"]),
            )
        except KeyError as err:
            raise InputFileError(f"{path}: attribute {err} missing; rerun virgo_convert") from None


def run_convert(settings: dict, detector_h5, seed: int, out_h5) -> None:
    """Rule virgo_convert: segments around every catalogue entry of the simulated detector file."""
    strain, aux = read_detector(detector_h5)
    with open_hdf5(detector_h5, required=("catalogue",)) as f:
        catalogue, coupled = read_catalogue(f["catalogue"])
    rng = np.random.default_rng(derive_seed(seed, "virgo", "convert"))
    data, aux_data, t0 = cut_segments(strain, aux, catalogue, settings["segment_duration_s"], settings["offset_s"], rng)
    segments = SegmentSet(
        data,
        aux_data,
        t0,
        catalogue,
        strain.sample_rate,
        aux[0].sample_rate,
        strain.name,
        [a.name for a in aux],
        [a.unit for a in aux],
        coupled,
    )
    record = make_provenance(
        "virgo_convert", settings, seed=seed, inputs=[detector_h5], upstream=get_provenance(detector_h5)
    )
    with atomic_path(out_h5) as tmp:
        write_segments(tmp, segments, record)
    log.info("wrote %d segments of %.1f s to %s", len(segments), segments.duration, out_h5)
