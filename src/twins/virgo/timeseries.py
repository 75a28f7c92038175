"""A sampled channel that carries its metadata, and its HDF5 layout (GWOSC-like).

Layout of one channel in a file (the same as GWOSC's `strain/Strain`):
    <group>/<dataset>   the samples, with attributes Xstart (GPS s of the first sample),
                        Xspacing (s between samples), Xunits, name (channel name).
A simulated detector file holds `strain/Strain` (the strain channel, exactly as GWOSC) and one group
`channels/<n>/data` per auxiliary channel. `read_gwosc` reads real GWOSC files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from twins.core.io import InputFileError, open_hdf5


@dataclass
class TimeSeries:
    """Uniformly sampled data of one channel.

    data: (n,) samples in `unit`; t0: GPS time of data[0] in s; dt: sample spacing in s.
    """

    data: np.ndarray
    t0: float
    dt: float
    name: str = ""
    unit: str = ""
    attrs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data)
        if self.data.ndim != 1:
            raise ValueError(f"TimeSeries {self.name!r}: data must be 1-D, got shape {self.data.shape}")
        if not self.dt > 0:
            raise ValueError(f"TimeSeries {self.name!r}: sample spacing dt must be > 0, got {self.dt}")

    @property
    def sample_rate(self) -> float:
        return 1.0 / self.dt

    @property
    def duration(self) -> float:
        return len(self.data) * self.dt

    @property
    def t_end(self) -> float:
        return self.t0 + self.duration

    @property
    def times(self) -> np.ndarray:
        return self.t0 + np.arange(len(self.data)) * self.dt

    def index_of(self, gps: float) -> int:
        return int(round((gps - self.t0) / self.dt))

    def crop(self, start: float, end: float) -> TimeSeries:
        """The samples with GPS time in [start, end); raises when that is outside the series."""
        i0, i1 = self.index_of(start), self.index_of(end)
        if i0 < 0 or i1 > len(self.data) or i1 <= i0:
            raise ValueError(
                f"TimeSeries {self.name!r}: cannot crop [{start}, {end}) from data covering [{self.t0}, {self.t_end})"
            )
        return TimeSeries(self.data[i0:i1], self.t0 + i0 * self.dt, self.dt, self.name, self.unit, dict(self.attrs))


def write_series(group: h5py.Group, dataset: str, series: TimeSeries, dtype=np.float32) -> None:
    """Write one channel as `group/dataset` with GWOSC attributes (Xstart, Xspacing, Xunits, name)."""
    dset = group.create_dataset(dataset, data=series.data.astype(dtype))
    dset.attrs["Xstart"] = float(series.t0)
    dset.attrs["Xspacing"] = float(series.dt)
    dset.attrs["Xunits"] = "second"
    dset.attrs["Yunits"] = series.unit
    dset.attrs["name"] = series.name


def read_series(dset: h5py.Dataset, name: str | None = None, unit: str | None = None) -> TimeSeries:
    """A TimeSeries from a dataset carrying Xstart/Xspacing attributes."""
    for key in ("Xstart", "Xspacing"):
        if key not in dset.attrs:
            raise InputFileError(f"{dset.file.filename}:{dset.name}: attribute {key} missing (not a GWOSC-like series)")
    stored_unit = dset.attrs.get("Yunits", "")
    stored_name = dset.attrs.get("name", dset.name)
    return TimeSeries(
        dset[...].astype(np.float64),
        float(dset.attrs["Xstart"]),
        float(dset.attrs["Xspacing"]),
        name=name or (stored_name.decode() if isinstance(stored_name, bytes) else str(stored_name)),
        unit=unit or (stored_unit.decode() if isinstance(stored_unit, bytes) else str(stored_unit)),
    )


def read_gwosc(path: str | Path) -> TimeSeries:
    """The strain of a GWOSC HDF5 file (`strain/Strain`, Xstart, Xspacing), named after its detector.

    Works on real GWOSC releases (e.g. H-H1_LOSC_4_V2-1126259446-32.hdf5) and on this twin's files.
    """
    with open_hdf5(path, required=("strain/Strain",)) as f:
        detector = f["meta/Detector"][()].decode() if "meta/Detector" in f else "V1"
        series = read_series(f["strain/Strain"], unit="strain")
        if not series.name or series.name == "/strain/Strain":
            series.name = f"{detector}:GWOSC-STRAIN"
        if not np.all(np.isfinite(series.data)):
            raise InputFileError(f"{path}: strain/Strain holds non-finite samples (a data gap); pick another stretch")
        return series


def write_detector(path: Path, strain: TimeSeries, channels: list[TimeSeries]) -> None:
    """Write strain (GWOSC `strain/Strain`) and every auxiliary channel (`channels/<i>/data`)."""
    with h5py.File(path, "w") as f:
        write_series(f.create_group("strain"), "Strain", strain)
        f.create_group("meta").create_dataset("Detector", data=np.bytes_(strain.name.split(":")[0]))
        aux = f.create_group("channels")
        for i, series in enumerate(channels):
            write_series(aux.create_group(f"{i:02d}"), "data", series)


def read_detector(path: str | Path) -> tuple[TimeSeries, list[TimeSeries]]:
    """Strain and auxiliary channels of a file written by `write_detector`."""
    with open_hdf5(path, required=("strain/Strain", "channels")) as f:
        strain = read_series(f["strain/Strain"])
        channels = [read_series(f["channels"][key]["data"]) for key in sorted(f["channels"])]
    return strain, channels
