"""The latency of the online veto / de-noising chain: from raw segments through whitening, Q-transform and
the witness maps to GlitchFlow's generated strain spectrograms, timed on the wall clock."""

from __future__ import annotations

import time

import numpy as np
import torch

from twins.virgo.io import ASD, SegmentSet
from twins.virgo.models import glitchflow
from twins.virgo.spectrograms import SpectrogramSettings, WitnessChannels, segment_qgrams, witness_inputs


def pipeline_latency(
    model: glitchflow.GlitchFlow,
    segments: SegmentSet,
    strain_asd: ASD,
    aux_asds: list[ASD],
    witnesses: WitnessChannels,
    spec: SpectrogramSettings,
    indices: np.ndarray,
    device: torch.device,
    batch_size: int,
) -> dict:
    """Time the online chain on the raw segments `indices`: whitening + Q-transform of strain and the selected
    channels, fringe and field maps, then GlitchFlow inference in batches of `batch_size`. Returns the
    segments, the seconds of data (the cropped spectrogram span), the wall seconds, their ratio
    real_time_factor (seconds of data per second), the channel count and torch's thread count."""
    started = time.perf_counter()
    inputs = []
    for i in indices:
        segment_qgrams(segments.strain_series(i), strain_asd, spec.strain_band, spec)
        inputs.append(witness_inputs(segments, i, witnesses, spec, aux_asds))
    glitchflow.sample(model, np.stack(inputs), batch_size, device)
    seconds = time.perf_counter() - started
    data_seconds = len(indices) * (segments.duration - 2 * spec.crop)
    return {
        "segments": int(len(indices)),
        "data_seconds": data_seconds,
        "wall_seconds": seconds,
        "real_time_factor": data_seconds / seconds if seconds > 0 else float("inf"),
        "channels": len(witnesses.channels),
        "threads": torch.get_num_threads(),
    }
