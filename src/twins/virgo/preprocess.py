"""Rule virgo_preprocess: whitening, Q-transform spectrograms, ANNALISA selection, TFrame datasets.

A TFrame file (train/validation/test.h5) holds
    inputs   (n, 2k + p + r, F, T) float32  amplitude sqrt(E) and phase [rad] of the k selected aux
                                    channels, order [amp_0, phase_0, amp_1, phase_1, ...], then the fringe
                                    maps (scattering.fringe_map, on the strain's frequency axis) of the p
                                    selected displacement/velocity witnesses, then the scattered-field maps
                                    (scattering.field_map) of the r selected scattered-power monitors (W)
    target   (n, F, T) float32      strain amplitude sqrt(E)
    meta/*   (n,)                   segment index, slot, label, gps, snr, t0
    attrs:   strain_frequencies, aux_frequencies [Hz], time_offsets [s from segment start], channels and
             fringe_channels, power_channels (JSON), q
Energies are normalised Q-tile energies E (white noise: mean 1), so S/N = sqrt(2E) = sqrt(2) * amplitude.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from twins.core.io import atomic_path, get_provenance, open_hdf5, set_provenance, write_json
from twins.core.provenance import make_provenance
from twins.core.seeding import derive_seed
from twins.virgo.annalisa import coincidence_table
from twins.virgo.qtransform import ASD, estimate_asd, log_frequencies, q_transform, whiten
from twins.virgo.scattering import POWER_UNIT, WITNESS_UNITS, field_map, fringe_map
from twins.virgo.segments import SegmentSet, read_segments

log = logging.getLogger(__name__)


@dataclass
class SpectrogramSettings:
    """Whitening and Q-transform settings (config virgo.preprocess.whitening / .qtransform)."""

    fft_length: float = 2.0
    overlap: float = 0.5
    window: str = "hann"
    crop: float = 1.0
    q: float = 12.0
    strain_band: tuple[float, float] = (8.0, 500.0)
    aux_band: tuple[float, float] = (1.0, 32.0)
    n_frequencies: int = 64
    n_times: int = 64

    @classmethod
    def from_config(cls, settings: dict) -> SpectrogramSettings:
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


def segment_qgrams(series, asd: ASD, band, spec: SpectrogramSettings):
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
):
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


def witness_inputs(
    segments: SegmentSet,
    i: int,
    channels: list[int],
    fringe: list[int],
    spec: SpectrogramSettings,
    aux_asds: list[ASD],
    power: list[int] = (),
) -> np.ndarray:
    """GlitchFlow's input maps (2k + p + r, F, T) for segment i: amplitude and phase of each channel in
    `channels`, the fringe map of each channel in `fringe` on the strain's frequency axis, then the
    scattered-field map of each power monitor in `power` (the same value in every frequency row)."""
    out = np.empty((2 * len(channels) + len(fringe) + len(power), spec.n_frequencies, spec.n_times), np.float32)
    for j, c in enumerate(channels):
        g = segment_qgrams(segments.aux_series(i, c), aux_asds[c], spec.aux_band, spec)
        out[2 * j], out[2 * j + 1] = g.amplitude, g.phase
    window = (segments.t0[i] + spec.crop, segments.t0[i] + segments.duration - spec.crop)
    strain_freqs = log_frequencies(*spec.strain_band, spec.n_frequencies)
    for j, c in enumerate(fringe):
        out[2 * len(channels) + j] = fringe_map(segments.aux_series(i, c), strain_freqs, window, spec.n_times)
    for j, c in enumerate(power):
        field = field_map(segments.aux_series(i, c), aux_asds[c], window, spec.n_times)
        out[2 * len(channels) + len(fringe) + j] = field[None, :]
    return out


def split_indices(labels: np.ndarray, fractions: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Seeded split stratified by label: {'train', 'validation', 'test'} -> sorted indices."""
    total = fractions["train"] + fractions["validation"] + fractions["test"]
    if abs(total - 1) > 1e-6:
        raise ValueError(f"virgo.preprocess.split fractions must sum to 1, got {total}")
    parts = {k: [] for k in ("train", "validation", "test")}
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n_val, n_test = int(round(fractions["validation"] * len(idx))), int(round(fractions["test"] * len(idx)))
        parts["validation"].append(idx[:n_val])
        parts["test"].append(idx[n_val : n_val + n_test])
        parts["train"].append(idx[n_val + n_test :])
    return {k: np.sort(np.concatenate(v)) for k, v in parts.items()}


def write_asds(path: Path, strain: ASD, aux: list[ASD], names: list[str]) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("strain/frequencies", data=strain.frequencies)
        f.create_dataset("strain/asd", data=strain.values)
        for c, (a, name) in enumerate(zip(aux, names)):
            f.create_dataset(f"aux/{c:02d}/frequencies", data=a.frequencies)
            f.create_dataset(f"aux/{c:02d}/asd", data=a.values)
            f[f"aux/{c:02d}"].attrs["name"] = name


def read_asds(path) -> tuple[ASD, list[ASD]]:
    with open_hdf5(path, required=("strain/asd", "aux")) as f:
        strain = ASD(f["strain/frequencies"][...], f["strain/asd"][...], "strain")
        aux = [
            ASD(f[f"aux/{k}/frequencies"][...], f[f"aux/{k}/asd"][...], str(f[f"aux/{k}"].attrs["name"]))
            for k in sorted(f["aux"])
        ]
    return strain, aux


@dataclass
class TFrame:
    """Spectrogram tensors with metadata (see module docstring for shapes)."""

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


def write_tframe(path: Path, frame: TFrame, record: dict) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("inputs", data=frame.inputs.astype(np.float32))
        f.create_dataset("target", data=frame.target.astype(np.float32))
        meta = f.create_group("meta")
        for column in frame.meta.columns:
            values = frame.meta[column].to_numpy()
            meta.create_dataset(column, data=values.astype("S") if values.dtype == object else values)
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


def read_tframe(path) -> TFrame:
    with open_hdf5(path, required=("inputs", "target", "meta")) as f:
        meta = pd.DataFrame({k: (v[...].astype(str) if v.dtype.kind == "S" else v[...]) for k, v in f["meta"].items()})
        return TFrame(
            f["inputs"][...],
            f["target"][...],
            meta,
            f.attrs["strain_frequencies"],
            f.attrs["aux_frequencies"],
            f.attrs["time_offsets"],
            json.loads(f.attrs["channels"]),
            float(f.attrs["q"]),
            json.loads(f.attrs["fringe_channels"]),
            json.loads(f.attrs.get("power_channels", "[]")),
        )


def run_preprocess(settings: dict, segments_h5, seed: int, out: dict) -> None:
    """Rule virgo_preprocess. out: paths for train, validation, test, asd, ranking (CSV), selection (JSON)."""
    spec = SpectrogramSettings.from_config(settings)
    segments = read_segments(segments_h5)
    strain_asd, aux_asds = channel_asds(segments, spec)
    log.info("Q-transforming %d segments x (strain + %d aux channels)", len(segments), len(segments.aux_names))
    strain_e, aux_e, aux_p = all_spectrograms(segments, strain_asd, aux_asds, spec)
    rng = np.random.default_rng(derive_seed(seed, "virgo", "preprocess"))
    split = split_indices(segments.meta["label"].to_numpy(), settings["split"], rng)

    a = settings["annalisa"]
    bin_seconds = (segments.duration - 2 * spec.crop) / spec.n_times
    table = coincidence_table(
        strain_e[split["train"]],
        aux_e[split["train"]],
        segments.aux_names,
        bin_seconds,
        a["strain_snr"],
        a["aux_snr"],
        a["window_s"],
        a["keep_fraction"],
    )
    table["coupled_truth"] = table["channel"].isin(segments.coupled_channels)
    selected = table.loc[table["selected"], "channel"].tolist()
    if not selected:
        raise ValueError(
            f"ANNALISA kept no channel (best coincident fraction {table['coincident_fraction'].max():.2f} < "
            f"virgo.preprocess.annalisa.keep_fraction {a['keep_fraction']}); lower it or the S/N thresholds"
        )
    log.info("ANNALISA ranking:\n%s", table.to_string(index=False))
    chosen = [segments.aux_names.index(name) for name in selected]
    fringe = [c for c in chosen if segments.aux_units[c] in WITNESS_UNITS]
    power = [c for c in chosen if segments.aux_units[c] == POWER_UNIT]

    upstream = get_provenance(segments_h5)
    base = make_provenance("virgo_preprocess", settings, seed=seed, inputs=[segments_h5], upstream=upstream)
    time_offsets = spec.crop + (np.arange(spec.n_times) + 0.5) * bin_seconds
    strain_freqs = log_frequencies(*spec.strain_band, spec.n_frequencies)
    aux_freqs = log_frequencies(*spec.aux_band, spec.n_frequencies)
    for name in ("train", "validation", "test"):
        idx = split[name]
        inputs = np.stack([witness_inputs(segments, i, chosen, fringe, spec, aux_asds, power) for i in idx])
        meta = segments.meta.iloc[idx].reset_index(drop=True).assign(segment=idx, t0=segments.t0[idx])
        frame = TFrame(
            inputs,
            np.sqrt(strain_e[idx]),
            meta,
            strain_freqs,
            aux_freqs,
            time_offsets,
            selected,
            spec.q,
            [segments.aux_names[c] for c in fringe],
            [segments.aux_names[c] for c in power],
        )
        with atomic_path(out[name]) as tmp:
            write_tframe(tmp, frame, {**base, "split": name})
    with atomic_path(out["asd"]) as tmp:
        write_asds(tmp, strain_asd, aux_asds, segments.aux_names)
        with h5py.File(tmp, "a") as f:
            set_provenance(f, base)
    with atomic_path(out["ranking"]) as tmp:
        table.to_csv(tmp, index=False)
    write_json(
        out["selection"],
        {
            "selected": selected,
            "coupled_truth": segments.coupled_channels,
            "channels": segments.aux_names,
            "provenance": base,
        },
    )
