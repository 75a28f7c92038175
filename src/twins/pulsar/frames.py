"""Frame geometry: cutting a (time, chan) dynamic spectrum into square frames with downsampling.

A frame is `size` x `size` pixels (time, frequency) after averaging `time_downsample` samples and
`freq_downsample` channels, so it covers a raw tile of (size * time_downsample) samples by
(size * freq_downsample) channels. Tiles are laid out time-major: frame index = time_tile * n_freq_tiles
+ freq_tile; the remainder of samples/channels that does not fill a tile is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrameGeometry:
    size: int = 128
    time_downsample: int = 1
    freq_downsample: int = 1

    @classmethod
    def from_config(cls, frames: dict) -> FrameGeometry:
        return cls(int(frames["size"]), int(frames["time_downsample"]), int(frames["freq_downsample"]))

    @property
    def tile_samples(self) -> int:
        return self.size * self.time_downsample

    @property
    def tile_channels(self) -> int:
        return self.size * self.freq_downsample

    def counts(self, nsamples: int, nchans: int) -> tuple[int, int]:
        """(time tiles, frequency tiles) that fit; an error if not even one fits."""
        nt, nf = nsamples // self.tile_samples, nchans // self.tile_channels
        if nf == 0 or nt == 0:
            raise ValueError(
                f"a {self.size}x{self.size} frame with downsampling (time {self.time_downsample}, "
                f"freq {self.freq_downsample}) needs {self.tile_samples} samples x {self.tile_channels} channels; "
                f"the data have {nsamples} x {nchans}: lower frames.size or the downsampling"
            )
        return nt, nf


def cut_frames(data: np.ndarray, geometry: FrameGeometry) -> np.ndarray:
    """(nsamples, nchans) -> (n_frames, size, size) float32 frames, [frame, time, frequency]."""
    nt, nf = geometry.counts(*data.shape)
    s, td, fd = geometry.size, geometry.time_downsample, geometry.freq_downsample
    out = np.empty((nt, nf, s, s), dtype=np.float32)
    step = 64  # time tiles per block: float32 copies of a whole long observation would not fit in memory
    for t0 in range(0, nt, step):
        n = min(step, nt - t0)
        block = np.asarray(data[t0 * s * td : (t0 + n) * s * td, : nf * s * fd], dtype=np.float32)
        out[t0 : t0 + n] = block.reshape(n, s, td, nf, s, fd).mean(axis=(2, 5), dtype=np.float32).transpose(0, 2, 1, 3)
    return out.reshape(nt * nf, s, s)


def tile_slices(index: int, n_freq_tiles: int, geometry: FrameGeometry) -> tuple[slice, slice]:
    """Raw (time, channel) slices of frame `index`."""
    t, f = divmod(index, n_freq_tiles)
    ts, fs = geometry.tile_samples, geometry.tile_channels
    return slice(t * ts, (t + 1) * ts), slice(f * fs, (f + 1) * fs)


def frame_coordinates(
    nsamples: int, frequencies_mhz: np.ndarray, tsamp_s: float, geometry: FrameGeometry
) -> tuple[np.ndarray, np.ndarray]:
    """Start time (s) and top-channel frequency (MHz) of every frame of (nsamples, len(frequencies_mhz)) data,
    frame index time-major as cut_frames orders them; (n_frames,) each."""
    nt, nf = geometry.counts(nsamples, len(frequencies_mhz))
    t = np.repeat(np.arange(nt) * geometry.tile_samples * tsamp_s, nf)
    f = np.tile(frequencies_mhz[np.arange(nf) * geometry.tile_channels], nt)
    return t, f
