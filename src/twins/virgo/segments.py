"""Segments cut around the catalogued glitches and background times of the simulated detector (the data set
of rule virgo_convert; its file layout is twins.virgo.io.SegmentSet)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from twins.core.config import resolve
from twins.virgo.io import SegmentSet, TimeSeries


def cut_segments(
    strain: TimeSeries,
    aux: list[TimeSeries],
    catalogue: pd.DataFrame,
    settings: dict | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut a segment_duration_s segment around every catalogue time, shifted by a uniform offset in
    [-offset_s, offset_s] so glitches are not always centred (settings: config virgo.convert, schema defaults
    filled in). Returns strain (n, m) float32, aux (n, c, m_aux) float32, t0 (n,) GPS start [s]."""
    settings = resolve("virgo.convert", settings)
    duration, offset = settings["segment_duration_s"], settings["offset_s"]
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


def segment_set(
    strain: TimeSeries,
    aux: list[TimeSeries],
    catalogue: pd.DataFrame,
    coupled: list[str],
    settings: dict | None,
    rng: np.random.Generator,
) -> SegmentSet:
    """The segments around every catalogue entry (cut_segments) with the catalogue rows as their metadata."""
    data, aux_data, t0 = cut_segments(strain, aux, catalogue, settings, rng)
    return SegmentSet(
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
