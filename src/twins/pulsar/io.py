"""The pulsar twin's HDF5 and CSV file layouts (observations: SIGPROC in twins.pulsar.filterbank, PSRFITS in
twins.pulsar.psrfits).

pulsar_simulate   `<dataset>.fil` (8-bit filterbank) and `<dataset>_truth.h5`: `labels` (n_frames, 3) uint8
                  [pulse, nb_rfi, bb_rfi], `snr` (n_frames,) injected frame S/N, `pixel_mask` (nsamples, nchans)
                  uint8 bits (1 pulse, 2 narrow-band, 4 broad-band RFI), `frame_scan` (n_frames,) scan of each
                  frame; PulsarDT adds `scans` (per-scan pulsar parameters) and `pulses` (scan, arrival sample,
                  injected whole-band S/N), RFI_Gen `combination`; attributes hold the frame geometry.
pulsar_convert    `frames/<dataset>.h5`: `frames` (n, size, size) float16 (downsampled 8-bit counts, [frame,
                  time, frequency]), `labels`, `snr`, `frame_scan`, `frame_time_s` (n,) start time of each frame,
                  `frame_freq_mhz` (n,) top frequency of its band, and the header keywords as attributes.
pulsar_preprocess `preprocess/<dataset>/<part>.h5`: normalised `frames` (float16), `labels`, `snr`, `frame_scan`,
                  `source_index` (rows of the frames file).
pulsar_generate   `<observation>_labels.h5` (per-frame `probabilities`, `labels`, times, bands, `channel_flags`),
                  `<observation>_reduced.h5` (the frames labelled pulse, raw), `<observation>_candidates.csv`.
Every HDF5 file carries its provenance; readers name the file and the rule to rerun.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import h5py
import numpy as np
import pandas as pd

from twins.core.io import atomic_path, open_hdf5, set_provenance
from twins.pulsar import CLASSES
from twins.pulsar.filterbank import Filterbank, append_spectra, encode_header, is_psrfits, read_filterbank
from twins.pulsar.frames import FrameGeometry, frame_coordinates
from twins.pulsar.truth import SimulatedTruth

FRAME_TRUTH = ("labels", "snr", "frame_scan")


class SimulationFiles:
    """The filterbank and the truth file of pulsar_simulate, open for writing: spectra are appended scan by
    scan (`write_spectra`), the per-frame truth is written at the end (`write_truth`)."""

    def __init__(self, fil: BinaryIO, truth: h5py.File, nchans: int):
        self.fil, self.truth = fil, truth
        self.pixel_mask = truth.create_dataset(
            "pixel_mask",
            shape=(0, nchans),
            maxshape=(None, nchans),
            dtype=np.uint8,
            chunks=(4096, nchans),
            compression="lzf",
        )

    def write_spectra(self, counts: np.ndarray, pixel_mask: np.ndarray) -> None:
        """Append (nsamples, nchans) 8-bit counts to the filterbank and their pixel-mask bits to the truth."""
        append_spectra(self.fil, counts, 8)
        n = self.pixel_mask.shape[0]
        self.pixel_mask.resize(n + pixel_mask.shape[0], axis=0)
        self.pixel_mask[n:] = pixel_mask

    def write_truth(self, truth: SimulatedTruth, attrs: dict, provenance: dict) -> None:
        """The simulator's per-frame truth, the table columns and the attributes (frame geometry, generator)."""
        for name, values in truth.datasets.items():
            self.truth[name] = values
        for name, columns in truth.columns.items():
            self.truth[name].attrs["columns"] = columns
        self.truth.attrs.update({**truth.attrs, **attrs})
        set_provenance(self.truth, provenance)


def read_observation(path: str | Path, max_samples: int | None = None) -> Filterbank:
    """A SIGPROC filterbank or PSRFITS search-mode file (told by its first bytes), whole or its first
    `max_samples` spectra, as a Filterbank."""
    if Path(path).is_file() and is_psrfits(path):
        from twins.pulsar.psrfits import read_psrfits  # astropy, only for PSRFITS

        return read_psrfits(path, max_samples)
    return read_filterbank(path, max_samples)


@contextlib.contextmanager
def simulation_files(
    out_fil: str | Path, out_truth: str | Path, header: dict, nchans: int
) -> Iterator[SimulationFiles]:
    """Both files of pulsar_simulate, the filterbank header already written; atomic: a failure leaves neither."""
    with atomic_path(out_fil) as tmp_fil, atomic_path(out_truth) as tmp_truth:
        with open(tmp_fil, "wb") as fil, h5py.File(tmp_truth, "w") as truth:
            fil.write(encode_header(header))
            yield SimulationFiles(fil, truth, nchans)


def read_frame_truth(path: str | Path, geometry: FrameGeometry) -> dict[str, np.ndarray]:
    """`labels`, `snr` and `frame_scan` of a truth file, which must have been made for `geometry`."""
    with open_hdf5(path, required=FRAME_TRUTH) as t:
        made_with = (t.attrs["frame_size"], t.attrs["time_downsample"], t.attrs["freq_downsample"])
        if tuple(int(v) for v in made_with) != (geometry.size, geometry.time_downsample, geometry.freq_downsample):
            raise ValueError(f"{path}: truth made for frames {made_with}, not {geometry}; rerun pulsar_simulate")
        return {name: t[name][...] for name in FRAME_TRUTH}


def write_frames(
    path: str | Path, frames: np.ndarray, fb: Filterbank, geometry: FrameGeometry, extra: dict, provenance: dict
) -> None:
    """The frames file of pulsar_convert: `frames` (n, size, size) with their times, bands and `extra` datasets."""
    t, f = frame_coordinates(fb.data.shape[0], fb.frequencies_mhz, fb.tsamp, geometry)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as out:
        out.create_dataset("frames", data=frames.astype(np.float16), chunks=(1, *frames.shape[1:]), compression="lzf")
        out["frame_time_s"], out["frame_freq_mhz"] = t, f
        for name, value in extra.items():
            out[name] = value
        out.attrs.update({k: v for k, v in fb.header.items()})
        out.attrs.update(
            frame_size=geometry.size, time_downsample=geometry.time_downsample, freq_downsample=geometry.freq_downsample
        )
        set_provenance(out, provenance)


def write_split(path: str | Path, normalised: np.ndarray, data: dict, rows: np.ndarray, provenance: dict) -> None:
    """One part of pulsar_preprocess: the normalised frames of `rows` (indices into the frames file, repeats
    allowed) as float16, with their truth (`data`: the frames file's datasets) and the rows themselves."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset(
            "frames", data=normalised[rows].astype(np.float16), chunks=(1, *normalised.shape[1:]), compression="lzf"
        )
        for key in FRAME_TRUTH:
            f[key] = data[key][rows]
        f["source_index"] = rows
        set_provenance(f, provenance)


def write_frame_labels(
    path: str | Path, probabilities: np.ndarray, labels: np.ndarray, coordinates: tuple, flags: np.ndarray, provenance
) -> None:
    """Per-frame classification of a whole observation: probabilities and labels (n, 3), times and bands,
    and the observation's channel flags (nchans,)."""
    t, f = coordinates
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as out:
        out["probabilities"], out["labels"], out["frame_time_s"], out["frame_freq_mhz"] = probabilities, labels, t, f
        out["channel_flags"] = flags
        out.attrs["classes"] = list(CLASSES)
        set_provenance(out, provenance)


def write_reduced(path: str | Path, raw: np.ndarray, kept: np.ndarray, coordinates: tuple, provenance) -> None:
    """The reduced data product: the raw frames of the `kept` indices, their indices, times and bands. Frames are
    float16 (downsampled counts of <= 8-bit files), float32 where values lie beyond float16's range (scaled
    PSRFITS intensities, 16-bit counts)."""
    t, f = coordinates
    frames = raw[kept]
    fits_float16 = not frames.size or float(np.abs(frames).max()) <= float(np.finfo(np.float16).max)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as out:
        dtype = np.float16 if fits_float16 else np.float32
        out.create_dataset("frames", data=frames.astype(dtype), shape=(len(kept), *raw.shape[1:]))
        out["frame_index"], out["frame_time_s"], out["frame_freq_mhz"] = kept, t[kept], f[kept]
        set_provenance(out, provenance)


def write_candidates(path: str | Path, kept: np.ndarray, coordinates: tuple, probabilities: np.ndarray) -> None:
    """The candidate list (CSV): the kept frames, most probable pulse first."""
    t, f = coordinates
    candidates = pd.DataFrame(
        {
            "frame": kept,
            "time_s": t[kept],
            "freq_top_mhz": f[kept],
            "p_pulse": probabilities[kept, 0],
            "p_nb_rfi": probabilities[kept, 1],
            "p_bb_rfi": probabilities[kept, 2],
        }
    ).sort_values("p_pulse", ascending=False)
    with atomic_path(path) as tmp:
        candidates.to_csv(tmp, index=False, float_format="%.6g")


def read_channel_mask(path: str | Path) -> np.ndarray:
    """The per-channel flagging truth `chan_mask` (nchans,) bool of a real observation's mask file."""
    with open_hdf5(path, required=("chan_mask",)) as f:
        return f["chan_mask"][...].astype(bool)


def _write_table(group: h5py.Group, table: pd.DataFrame) -> None:
    for column in table.columns:
        group[column] = table[column].to_numpy()


def _read_table(group: h5py.Group) -> pd.DataFrame:
    return pd.DataFrame({name: group[name][...] for name in group})


def write_candidate_set(path: str | Path, built: dict, attrs: dict, provenance: dict) -> None:
    """The labelled candidate set of pulsar_inject (twins.pulsar.candidate_sets): `ft` (n, n_freq, n_time) and
    `dmt` (n, n_dm, n_time) float16 images, `label` (n,) uint8 (1: an injected pulse), `snr` (search S/N),
    `injected_snr` (NaN for RFI/noise), the candidate table (group `candidates`: sample, time_s, dm, width,
    width_s, snr, members, dm_low, dm_high, realisation, label, injection, injected_snr) and the injection truth (group
    `injections`, with `found` and the row of its best `candidate`, -1 if missed); `attrs` as JSON attributes."""
    table = built["candidates"]
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as out:
        for name in ("ft", "dmt"):
            images = built[name].astype(np.float16)
            out.create_dataset(name, data=images, chunks=(1, *images.shape[1:]) if len(images) else None)
        out["label"] = table["label"].to_numpy(np.uint8) if len(table) else np.zeros(0, np.uint8)
        out["snr"] = table["snr"].to_numpy(np.float32) if len(table) else np.zeros(0, np.float32)
        out["injected_snr"] = table["injected_snr"].to_numpy(np.float32) if len(table) else np.zeros(0, np.float32)
        _write_table(out.create_group("candidates"), table)
        _write_table(out.create_group("injections"), built["injections"])
        for key, value in attrs.items():
            out.attrs[key] = json.dumps(value)
        set_provenance(out, provenance)


def read_candidate_set(path: str | Path) -> dict:
    """pulsar_inject's file: {ft, dmt (float32), candidates, injections (DataFrames), attrs (decoded JSON)}."""
    with open_hdf5(path, required=("ft", "dmt", "candidates", "injections")) as f:
        return {
            "ft": f["ft"][...].astype(np.float32),
            "dmt": f["dmt"][...].astype(np.float32),
            "candidates": _read_table(f["candidates"]),
            "injections": _read_table(f["injections"]),
            "attrs": {k: json.loads(v) for k, v in f.attrs.items() if k != "provenance"},
        }


def write_search_candidates(path: str | Path, candidates: pd.DataFrame) -> None:
    """pulsar_search's candidate list (CSV): every search candidate with its P(pulse) and decision, by time."""
    with atomic_path(path) as tmp:
        candidates.sort_values("sample").to_csv(tmp, index=False, float_format="%.6g")


def write_search_reduced(path: str | Path, fb: Filterbank, observed, provenance: dict) -> None:
    """pulsar_search's reduced product: `kept_ranges` (k, 2) [start, stop) samples, the raw data of each range
    (`segments/<i>`, (stop - start, nchans), the file's dtype, channel 0 the highest frequency) and the
    accepted candidates (`accepted`: their table rows; `ft`, `dmt`: their images); header keywords as attributes."""
    accepted = np.flatnonzero(observed.candidates["accepted"].to_numpy()) if len(observed.candidates) else []
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as out:
        out["kept_ranges"] = observed.kept.reshape(-1, 2)
        segments = out.create_group("segments")
        for i, (start, stop) in enumerate(observed.kept):
            segments.create_dataset(str(i), data=fb.data[start:stop], compression="lzf")
        out["accepted"] = np.asarray(accepted, dtype=np.int64)
        out["ft"] = observed.ft[accepted].astype(np.float16)
        out["dmt"] = observed.dmt[accepted].astype(np.float16)
        out.attrs.update({k: v for k, v in fb.header.items()})
        set_provenance(out, provenance)
