"""The convert step: filterbank -> HDF5 frames (our reader), with the simulator's per-frame truth.

Output: `frames` (n, size, size) float16 (downsampled 8-bit counts, [frame, time, frequency]),
`labels` (n, 3) uint8, `snr` (n,), `frame_scan` (n,), `frame_time_s` (n,) start time of each frame,
`frame_freq_mhz` (n,) top frequency of its band, and the header keywords as attributes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np

from twins.core.io import atomic_path, open_hdf5, set_provenance
from twins.core.provenance import make_provenance
from twins.pulsar.filterbank import Filterbank, read_filterbank
from twins.pulsar.frames import FrameGeometry, cut_frames

log = logging.getLogger(__name__)


def frame_coordinates(fb: Filterbank, geometry: FrameGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Start time (s) and top-channel frequency (MHz) of every frame, frame index time-major."""
    nt, nf = geometry.counts(*fb.data.shape)
    t = np.repeat(np.arange(nt) * geometry.tile_samples * fb.tsamp, nf)
    f = np.tile(fb.frequencies_mhz[np.arange(nf) * geometry.tile_channels], nt)
    return t, f


def write_frames(
    path: str | Path, frames: np.ndarray, fb: Filterbank, geometry: FrameGeometry, extra: dict, provenance: dict
) -> None:
    t, f = frame_coordinates(fb, geometry)
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


def convert_dataset(fil: str | Path, truth: str | Path, frames: dict, out_h5: str | Path) -> int:
    """Cut a simulated filterbank into frames and attach its truth; return the number of frames."""
    geometry = FrameGeometry.from_config(frames)
    fb = read_filterbank(fil)
    with open_hdf5(truth, required=("labels", "snr", "frame_scan")) as t:
        made_with = (t.attrs["frame_size"], t.attrs["time_downsample"], t.attrs["freq_downsample"])
        if tuple(int(v) for v in made_with) != (geometry.size, geometry.time_downsample, geometry.freq_downsample):
            raise ValueError(f"{truth}: truth made for frames {made_with}, not {geometry}; rerun pulsar_simulate")
        extra = {name: t[name][...] for name in ("labels", "snr", "frame_scan")}
    cut = cut_frames(fb.data, geometry)
    if len(cut) != len(extra["labels"]):
        raise ValueError(f"{fil}: {len(cut)} frames but {truth} labels {len(extra['labels'])}; rerun pulsar_simulate")
    write_frames(out_h5, cut, fb, geometry, extra, make_provenance("pulsar_convert", frames, inputs=[fil, truth]))
    log.info("%s: %d frames of %s", fil, len(cut), geometry)
    return len(cut)
