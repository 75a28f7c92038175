"""GlitchFlow's spectrogram data sets: segments whitened and Q-transformed, ANNALISA's channel choice, the
stratified split, and the TFrames (inputs and target; layout in twins.virgo.io).

Energies are normalised Q-tile energies E (white noise: mean 1), so S/N = sqrt(2E) = sqrt(2) * amplitude.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twins.core.config import resolve
from twins.core.splits import split_indices
from twins.virgo.annalisa import coincidence_table, selected_channels
from twins.virgo.io import ASD, SegmentSet, TFrame, TimeSeries
from twins.virgo.qtransform import QGram, estimate_asd, log_frequencies, q_transform, whiten
from twins.virgo.scattering import POWER_UNIT, WITNESS_UNITS, field_map, fringe_map

log = logging.getLogger(__name__)
SPLIT_PARTS = ("train", "validation", "test")


@dataclass
class SpectrogramSettings:
    """Whitening and Q-transform settings (config virgo.preprocess.whitening / .qtransform): FFT length [s],
    overlap fraction, window, crop [s] at each end, Q, strain and aux bands [Hz], tiles in frequency and time."""

    fft_length: float
    overlap: float
    window: str
    crop: float
    q: float
    strain_band: tuple[float, float]
    aux_band: tuple[float, float]
    n_frequencies: int
    n_times: int

    @classmethod
    def from_config(cls, settings: dict | None) -> SpectrogramSettings:
        """From config virgo.preprocess (schema defaults filled in)."""
        settings = resolve("virgo.preprocess", settings)
        w, q = settings["whitening"], settings["qtransform"]
        return cls(
            w["fft_length_s"],
            w["overlap"],
            w["window"],
            w["crop_s"],
            q["q"],
            tuple(q["strain_band_hz"]),
            tuple(q["aux_band_hz"]),
            q["n_frequencies"],
            q["n_times"],
        )

    @property
    def strain_frequencies(self) -> np.ndarray:
        return log_frequencies(*self.strain_band, self.n_frequencies)

    @property
    def aux_frequencies(self) -> np.ndarray:
        return log_frequencies(*self.aux_band, self.n_frequencies)


def channel_asds(segments: SegmentSet, spec: SpectrogramSettings) -> tuple[ASD, list[ASD]]:
    """Median-Welch ASD of strain and of every aux channel over the background segments."""
    background = np.flatnonzero(segments.meta["label"].to_numpy() == "background")
    if len(background) == 0:
        raise ValueError("no background segments to estimate the noise ASD from; raise virgo.simulate.duration_s")
    strain_asd = estimate_asd(
        [segments.strain_series(i) for i in background], spec.fft_length, spec.overlap, spec.window
    )
    aux_asds = [
        estimate_asd([segments.aux_series(i, c) for i in background], spec.fft_length, spec.overlap, spec.window)
        for c in range(len(segments.aux_names))
    ]
    return strain_asd, aux_asds


def segment_qgrams(series: TimeSeries, asd: ASD, band: tuple[float, float], spec: SpectrogramSettings) -> QGram:
    """Whiten one segment's series and Q-transform it over the cropped window: a QGram (F, T)."""
    white = whiten(series, asd, crop=spec.crop)
    freqs = log_frequencies(band[0], band[1], spec.n_frequencies)
    return q_transform(white, freqs, spec.q, n_times=spec.n_times, window=(white.t0, white.t_end))


def all_spectrograms(
    segments: SegmentSet,
    strain_asd: ASD,
    aux_asds: list[ASD],
    spec: SpectrogramSettings,
    channels: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strain energy (n, F, T), aux energy and phase (n, C, F, T) of every segment."""
    channels = list(range(len(segments.aux_names))) if channels is None else channels
    n, f, t = len(segments), spec.n_frequencies, spec.n_times
    strain_e = np.empty((n, f, t), np.float32)
    aux_e = np.empty((n, len(channels), f, t), np.float32)
    aux_p = np.empty_like(aux_e)
    for i in range(n):
        strain_e[i] = segment_qgrams(segments.strain_series(i), strain_asd, spec.strain_band, spec).energy
        for j, c in enumerate(channels):
            g = segment_qgrams(segments.aux_series(i, c), aux_asds[c], spec.aux_band, spec)
            aux_e[i, j], aux_p[i, j] = g.energy, g.phase
    return strain_e, aux_e, aux_p


@dataclass
class WitnessChannels:
    """Positions (in the segments' aux channels) of the selected channels, of the displacement/velocity
    witnesses among them (fringe maps) and of the scattered-power monitors among them (field maps)."""

    channels: list[int]
    fringe: list[int]
    power: list[int]

    @classmethod
    def of(cls, segments: SegmentSet, selected: list[str]) -> WitnessChannels:
        chosen = segments.channel_indices(selected)
        fringe = [c for c in chosen if segments.aux_units[c] in WITNESS_UNITS]
        power = [c for c in chosen if segments.aux_units[c] == POWER_UNIT]
        return cls(chosen, fringe, power)

    @classmethod
    def of_frame(cls, segments: SegmentSet, frame: TFrame) -> WitnessChannels:
        """The channels a TFrame was made with."""
        return cls(
            segments.channel_indices(frame.channels),
            segments.channel_indices(frame.fringe_channels),
            segments.channel_indices(frame.power_channels),
        )


def witness_inputs(
    segments: SegmentSet, i: int, witnesses: WitnessChannels, spec: SpectrogramSettings, aux_asds: list[ASD]
) -> np.ndarray:
    """GlitchFlow's input maps (2k + p + r, F, T) for segment i: amplitude and phase of each selected channel,
    the fringe map of each witness on the strain's frequency axis, then the scattered-field map of each power
    monitor (the same value in every frequency row)."""
    k, p = len(witnesses.channels), len(witnesses.fringe)
    out = np.empty((2 * k + p + len(witnesses.power), spec.n_frequencies, spec.n_times), np.float32)
    for j, c in enumerate(witnesses.channels):
        g = segment_qgrams(segments.aux_series(i, c), aux_asds[c], spec.aux_band, spec)
        out[2 * j], out[2 * j + 1] = g.amplitude, g.phase
    window = (segments.t0[i] + spec.crop, segments.t0[i] + segments.duration - spec.crop)
    for j, c in enumerate(witnesses.fringe):
        out[2 * k + j] = fringe_map(segments.aux_series(i, c), spec.strain_frequencies, window, spec.n_times)
    for j, c in enumerate(witnesses.power):
        out[2 * k + p + j] = field_map(segments.aux_series(i, c), aux_asds[c], window, spec.n_times)[None, :]
    return out


def stratified_split(labels: np.ndarray, fractions: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Seeded split stratified by label: {'train', 'validation', 'test'} -> sorted indices. Each label's
    segments are permuted and cut validation | test | train (the rest), as config virgo.preprocess.split says."""
    ordered = {name: fractions[name] for name in ("validation", "test", "train")}  # the cut order
    try:
        parts = split_indices(len(labels), ordered, rng, remainder="train", stratify=labels, what="segments")
    except ValueError as err:
        raise ValueError(f"virgo.preprocess.split: {err}") from None
    return {name: parts[name] for name in SPLIT_PARTS}


@dataclass
class Preprocessed:
    """What rule virgo_preprocess writes: the TFrames by split part, the noise ASDs, ANNALISA's ranking (one
    row per channel, with the simulator's truth in coupled_truth) and the selected channel names."""

    frames: dict[str, TFrame]
    strain_asd: ASD
    aux_asds: list[ASD]
    ranking: pd.DataFrame
    selected: list[str]


def rank_channels(
    segments: SegmentSet, strain_e: np.ndarray, aux_e: np.ndarray, spec: SpectrogramSettings, annalisa: dict
) -> pd.DataFrame:
    """ANNALISA's coincidence ranking of the aux channels on the given spectrograms, with the truth column."""
    bin_seconds = (segments.duration - 2 * spec.crop) / spec.n_times
    table = coincidence_table(strain_e, aux_e, segments.aux_names, bin_seconds, annalisa)
    table["coupled_truth"] = table["channel"].isin(segments.coupled_channels)
    return table


def tframe(
    segments: SegmentSet,
    idx: np.ndarray,
    strain_e: np.ndarray,
    selected: list[str],
    spec: SpectrogramSettings,
    aux_asds: list[ASD],
) -> TFrame:
    """The TFrame of the segments `idx`: witness inputs, strain amplitude target, metadata and axes."""
    witnesses = WitnessChannels.of(segments, selected)
    inputs = np.stack([witness_inputs(segments, i, witnesses, spec, aux_asds) for i in idx])
    meta = segments.meta.iloc[idx].reset_index(drop=True).assign(segment=idx, t0=segments.t0[idx])
    bin_seconds = (segments.duration - 2 * spec.crop) / spec.n_times
    return TFrame(
        inputs,
        np.sqrt(strain_e[idx]),
        meta,
        spec.strain_frequencies,
        spec.aux_frequencies,
        spec.crop + (np.arange(spec.n_times) + 0.5) * bin_seconds,
        selected,
        spec.q,
        [segments.aux_names[c] for c in witnesses.fringe],
        [segments.aux_names[c] for c in witnesses.power],
    )


def preprocess_segments(segments: SegmentSet, settings: dict | None, rng: np.random.Generator) -> Preprocessed:
    """Whiten and Q-transform every segment, split (stratified by label, drawn from `rng`), select channels with
    ANNALISA on the training part, and build the TFrames (settings: config virgo.preprocess)."""
    settings = resolve("virgo.preprocess", settings)
    spec = SpectrogramSettings.from_config(settings)
    strain_asd, aux_asds = channel_asds(segments, spec)
    log.info("Q-transforming %d segments x (strain + %d aux channels)", len(segments), len(segments.aux_names))
    strain_e, aux_e, _ = all_spectrograms(segments, strain_asd, aux_asds, spec)
    split = stratified_split(segments.meta["label"].to_numpy(), settings["split"], rng)
    ranking = rank_channels(segments, strain_e[split["train"]], aux_e[split["train"]], spec, settings["annalisa"])
    selected = selected_channels(ranking, settings["annalisa"]["keep_fraction"])
    log.info("ANNALISA ranking:\n%s", ranking.to_string(index=False))
    frames = {name: tframe(segments, split[name], strain_e, selected, spec, aux_asds) for name in SPLIT_PARTS}
    return Preprocessed(frames, strain_asd, aux_asds, ranking, selected)
