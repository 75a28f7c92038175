"""The virgo twin's data types and file layouts: channels, the simulated detector, segments, noise ASDs,
GlitchFlow's spectrogram sets (TFrames) and the generated test set.

One channel (GWOSC-like, the same as GWOSC's `strain/Strain`):
    <group>/<dataset>   the samples, with attributes Xstart (GPS s of the first sample), Xspacing (s between
                        samples), Xunits, Yunits, name (channel name).
detector.h5 (rule virgo_simulate): `strain/Strain` (the strain channel, exactly as GWOSC), `meta/Detector`,
    one group `channels/<nn>/data` per auxiliary channel, and `catalogue/<column>` (one row per slot: slot,
    label, gps, snr, fringe_frequency_hz, motion_frequency_hz, amplitude_m, coupling; attribute
    coupled_channels, JSON). `read_gwosc` reads real GWOSC files too.
segments.h5 (rule virgo_convert):
    strain (n, m) float32, aux (n, c, m_aux) float32, t0 (n,) float64 GPS start of each segment,
    meta/<column> (n,) the catalogue row of each segment;
    attrs: strain_rate, aux_rate [Hz], strain_name, aux_names, aux_units (JSON), coupled_channels (JSON).
asd.h5 (rule virgo_preprocess): strain/{frequencies, asd}, aux/<nn>/{frequencies, asd} (attribute name).
train/validation/test.h5 (rule virgo_preprocess), a TFrame:
    inputs (n, 2k + p + r, F, T) float32: amplitude sqrt(E) and phase [rad] of the k selected aux channels,
        order [amp_0, phase_0, amp_1, phase_1, ...], then the fringe maps (scattering.fringe_map, on the
        strain's frequency axis) of the p selected displacement/velocity witnesses, then the scattered-field
        maps (scattering.field_map) of the r selected scattered-power monitors
    target (n, F, T) float32: strain amplitude sqrt(E)
    meta/* (n,): segment index, slot, label, gps, snr, t0
    attrs: strain_frequencies, aux_frequencies [Hz], time_offsets [s from segment start], channels,
        fringe_channels, power_channels (JSON), q
generate/test.h5 (rule virgo_generate): real_energy, generated_energy, residual_energy (n, F, T) float32,
    inputs (the test TFrame's), meta/*; attrs strain_frequencies, aux_frequencies, time_offsets, channels
    (comma-separated).
Energies are normalised Q-tile energies E (white noise: mean 1), so S/N = sqrt(2E) = sqrt(2) * amplitude.
Every file carries the provenance attribute of twins.core.io.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from twins.core.io import InputFileError, atomic_path, open_hdf5, set_provenance

GENERATED_ENERGIES = ("real_energy", "generated_energy", "residual_energy")


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


@dataclass
class ASD:
    """One-sided amplitude spectral density: frequencies (m,) [Hz], values (m,) [unit/sqrt(Hz)]."""

    frequencies: np.ndarray
    values: np.ndarray
    name: str = ""

    def at(self, frequencies: np.ndarray) -> np.ndarray:
        return np.interp(frequencies, self.frequencies, self.values)


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    """A table as CSV without the index, written atomically (pandas' full float precision)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def read_csv(path: str | Path, writer: str) -> pd.DataFrame:
    """A CSV table; InputFileError naming the file and the rule that writes it when it is missing or empty."""
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError) as err:
        raise InputFileError(f"{path}: cannot read the table ({err}); rerun {writer}") from None


# ---- channels and the detector file ----------------------------------------------------------------------


def write_series(group: h5py.Group, dataset: str, series: TimeSeries, dtype=np.float32) -> None:
    """Write one channel as `group/dataset` with GWOSC attributes (Xstart, Xspacing, Xunits, name)."""
    dset = group.create_dataset(dataset, data=series.data.astype(dtype))
    dset.attrs["Xstart"] = float(series.t0)
    dset.attrs["Xspacing"] = float(series.dt)
    dset.attrs["Xunits"] = "second"
    dset.attrs["Yunits"] = series.unit
    dset.attrs["name"] = series.name


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_series(dset: h5py.Dataset, name: str | None = None, unit: str | None = None) -> TimeSeries:
    """A TimeSeries from a dataset carrying Xstart/Xspacing attributes."""
    for key in ("Xstart", "Xspacing"):
        if key not in dset.attrs:
            raise InputFileError(f"{dset.file.filename}:{dset.name}: attribute {key} missing (not a GWOSC-like series)")
    return TimeSeries(
        dset[...].astype(np.float64),
        float(dset.attrs["Xstart"]),
        float(dset.attrs["Xspacing"]),
        name=name or _text(dset.attrs.get("name", dset.name)),
        unit=unit or _text(dset.attrs.get("Yunits", "")),
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


def _write_table(group: h5py.Group, frame: pd.DataFrame) -> None:
    """One dataset per column of `frame` (text columns as byte strings)."""
    for column in frame.columns:
        values = frame[column].to_numpy()
        group.create_dataset(column, data=values.astype("S") if values.dtype == object else values)


def _read_table(group: h5py.Group) -> pd.DataFrame:
    return pd.DataFrame({k: (v[...].astype(str) if v.dtype.kind == "S" else v[...]) for k, v in group.items()})


def write_catalogue(group: h5py.Group, catalogue: pd.DataFrame, coupled: list[str]) -> None:
    """Store the catalogue's columns as datasets of `group`, the coupled channel names as an attribute."""
    _write_table(group, catalogue)
    group.attrs["coupled_channels"] = json.dumps(coupled)


def read_catalogue(group: h5py.Group) -> tuple[pd.DataFrame, list[str]]:
    """The catalogue (sorted by slot) and the coupled channel names stored by `write_catalogue`."""
    frame = _read_table(group)
    return frame.sort_values("slot").reset_index(drop=True), json.loads(group.attrs["coupled_channels"])


def write_detector_file(
    path: str | Path,
    strain: TimeSeries,
    aux: list[TimeSeries],
    catalogue: pd.DataFrame,
    coupled: list[str],
    record: dict,
) -> None:
    """detector.h5 (module docstring), written atomically: the channels, the catalogue and provenance."""
    with atomic_path(path) as tmp:
        write_detector(tmp, strain, aux)
        with h5py.File(tmp, "a") as f:
            write_catalogue(f.create_group("catalogue"), catalogue, coupled)
            set_provenance(f, record)


def read_detector_catalogue(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """The glitch catalogue and the coupled channel names of a detector.h5."""
    with open_hdf5(path, required=("catalogue",)) as f:
        return read_catalogue(f["catalogue"])


# ---- segments ----------------------------------------------------------------------------------------------


@dataclass
class SegmentSet:
    """Equal-length segments of strain (n, m) and auxiliary channels (n, c, m_aux) with their GPS starts t0
    (n,) and one metadata row per segment."""

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

    def channel_indices(self, names: list[str]) -> list[int]:
        """Positions of the named auxiliary channels."""
        return [self.aux_names.index(name) for name in names]


def write_segments(path: str | Path, segments: SegmentSet, record: dict) -> None:
    """segments.h5 (module docstring), written atomically."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("strain", data=segments.strain)
        f.create_dataset("aux", data=segments.aux)
        f.create_dataset("t0", data=segments.t0)
        _write_table(f.create_group("meta"), segments.meta)
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
        meta = _read_table(f["meta"])
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


# ---- noise ASDs --------------------------------------------------------------------------------------------


def write_asds(path: str | Path, strain: ASD, aux: list[ASD], names: list[str], record: dict) -> None:
    """asd.h5 (module docstring), written atomically."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("strain/frequencies", data=strain.frequencies)
        f.create_dataset("strain/asd", data=strain.values)
        for c, (a, name) in enumerate(zip(aux, names)):
            f.create_dataset(f"aux/{c:02d}/frequencies", data=a.frequencies)
            f.create_dataset(f"aux/{c:02d}/asd", data=a.values)
            f[f"aux/{c:02d}"].attrs["name"] = name
        set_provenance(f, record)


def read_asds(path: str | Path) -> tuple[ASD, list[ASD]]:
    with open_hdf5(path, required=("strain/asd", "aux")) as f:
        strain = ASD(f["strain/frequencies"][...], f["strain/asd"][...], "strain")
        aux = [
            ASD(f[f"aux/{k}/frequencies"][...], f[f"aux/{k}/asd"][...], str(f[f"aux/{k}"].attrs["name"]))
            for k in sorted(f["aux"])
        ]
    return strain, aux


# ---- TFrames: GlitchFlow's data sets ----------------------------------------------------------------------


@dataclass
class TFrame:
    """Spectrogram tensors with metadata (shapes in the module docstring)."""

    inputs: np.ndarray
    target: np.ndarray
    meta: pd.DataFrame
    strain_frequencies: np.ndarray
    aux_frequencies: np.ndarray
    time_offsets: np.ndarray
    channels: list[str]
    q: float
    fringe_channels: list[str] = ()
    power_channels: list[str] = ()

    def __len__(self) -> int:
        return len(self.target)


def write_tframe(path: str | Path, frame: TFrame, record: dict) -> None:
    """A TFrame file (module docstring), written atomically."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("inputs", data=frame.inputs.astype(np.float32))
        f.create_dataset("target", data=frame.target.astype(np.float32))
        _write_table(f.create_group("meta"), frame.meta)
        f.attrs.update(
            {
                "strain_frequencies": frame.strain_frequencies,
                "aux_frequencies": frame.aux_frequencies,
                "time_offsets": frame.time_offsets,
                "channels": json.dumps(frame.channels),
                "q": frame.q,
                "fringe_channels": json.dumps(list(frame.fringe_channels)),
                "power_channels": json.dumps(list(frame.power_channels)),
            }
        )
        set_provenance(f, record)


def read_tframe(path: str | Path) -> TFrame:
    with open_hdf5(path, required=("inputs", "target", "meta")) as f:
        return TFrame(
            f["inputs"][...],
            f["target"][...],
            _read_table(f["meta"]),
            f.attrs["strain_frequencies"],
            f.attrs["aux_frequencies"],
            f.attrs["time_offsets"],
            json.loads(f.attrs["channels"]),
            float(f.attrs["q"]),
            json.loads(f.attrs["fringe_channels"]),
            json.loads(f.attrs.get("power_channels", "[]")),
        )


# ---- the generated test set --------------------------------------------------------------------------------


@dataclass
class GeneratedSet:
    """GlitchFlow's test-set output: real, generated and de-noised (residual) strain energies (n, F, T), the
    test metadata, the axes, the selected channels and (when read with inputs) the test inputs."""

    real_energy: np.ndarray
    generated_energy: np.ndarray
    residual_energy: np.ndarray
    meta: pd.DataFrame
    strain_frequencies: np.ndarray
    aux_frequencies: np.ndarray
    time_offsets: np.ndarray
    channels: list[str]
    inputs: np.ndarray | None = None


def write_generated(path: str | Path, generated: GeneratedSet, record: dict) -> None:
    """generate/test.h5 (module docstring), written atomically; energies stored as float32."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name in GENERATED_ENERGIES:
            f.create_dataset(name, data=getattr(generated, name).astype(np.float32))
        f.create_dataset("inputs", data=generated.inputs)
        _write_table(f.create_group("meta"), generated.meta)
        f.attrs.update(
            {
                "strain_frequencies": generated.strain_frequencies,
                "aux_frequencies": generated.aux_frequencies,
                "time_offsets": generated.time_offsets,
                "channels": ",".join(generated.channels),
            }
        )
        set_provenance(f, record)


def read_generated(path: str | Path, with_inputs: bool = False) -> GeneratedSet:
    """The generated test set; the (large) inputs only when `with_inputs`."""
    required = GENERATED_ENERGIES + (("inputs",) if with_inputs else ())
    with open_hdf5(path, required=required) as f:
        energies = [f[name][...] for name in GENERATED_ENERGIES]
        return GeneratedSet(
            *energies,
            _read_table(f["meta"]),
            f.attrs["strain_frequencies"],
            f.attrs["aux_frequencies"],
            f.attrs["time_offsets"],
            str(f.attrs["channels"]).split(","),
            f["inputs"][...] if with_inputs else None,
        )
