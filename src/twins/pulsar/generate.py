"""The generate step: classify every frame of a whole filterbank observation -> the reduced product.

Writes per-frame probabilities/labels (HDF5), the reduced data product (only frames labelled pulse,
with their times and bands), a candidate list (CSV) and a summary JSON (frame counts, reduction
factor = all frames / kept frames, channel flags, timings).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch

from twins.core.io import atomic_path, set_provenance, write_json
from twins.core.provenance import make_provenance
from twins.pulsar import CLASSES
from twins.pulsar.convert import frame_coordinates
from twins.pulsar.filterbank import read_filterbank
from twins.pulsar.frames import FrameGeometry, cut_frames
from twins.pulsar.model import decision_thresholds, load_model, predict_probabilities
from twins.pulsar.preprocess import flag_channels, normalise_frames

log = logging.getLogger(__name__)


def mask_channels(frames: np.ndarray, flags: np.ndarray, geometry: FrameGeometry) -> None:
    """Zero (the normalised median level) every frame pixel column that holds a flagged channel, in place.

    RFI excision before the search, as pulsar pipelines do: a real carrier is rarely steady (it
    flickers, drifts, saturates) and, left in, makes frames look like a pulse to a classifier that
    never saw such a carrier. `frames` (n, time, freq) time-major as cut_frames gives them.
    """
    size, fd = geometry.size, geometry.freq_downsample
    n_freq_tiles = len(flags) // (size * fd)
    pixel_flags = flags[: n_freq_tiles * size * fd].reshape(n_freq_tiles, size, fd).any(axis=2)
    tiles = frames.reshape(-1, n_freq_tiles, *frames.shape[1:])
    for f in range(n_freq_tiles):
        tiles[:, f][:, :, pixel_flags[f]] = 0.0


def classify_observation(
    fil: str | Path,
    model_path: str | Path,
    settings: dict,
    preprocess: dict,
    flagging: dict,
    observation: str,
    out_labels: str | Path,
    out_reduced: str | Path,
    out_candidates: str | Path,
    out_summary: str | Path,
    downsample: dict | None = None,
    threads: int = 2,
) -> dict:
    """Run the classifier over `fil`. `downsample` ({time_downsample, freq_downsample}) overrides the
    model's for files of another channelisation (the frame size is the model's). With
    settings['mask_flagged_channels'] the channels flagged from the whole observation's statistics are
    zeroed in the normalised frames before classification (labels then describe the cleaned frames)."""
    torch.set_num_threads(threads)
    model, record = load_model(model_path)
    geometry = FrameGeometry.from_config({**record["frames"], **(downsample or {})})
    fb = read_filterbank(fil)
    flags, _ = flag_channels(fb.data, flagging["statistics"], flagging["threshold"])
    started = time.perf_counter()
    raw = cut_frames(fb.data, geometry)
    cut_s = time.perf_counter() - started
    normalised = normalise_frames(raw, preprocess["smooth_channels"], preprocess["clip_sigma"], threads=threads)
    masked = bool(settings["mask_flagged_channels"])
    if masked:
        mask_channels(normalised, flags, geometry)
    norm_s = time.perf_counter() - started - cut_s
    probabilities = predict_probabilities(model, normalised, settings["batch_size"])
    classify_s = time.perf_counter() - started - cut_s - norm_s
    thresholds = decision_thresholds(record, settings["threshold"])
    labels = (probabilities >= thresholds).astype(np.uint8)
    t, f = frame_coordinates(fb, geometry)
    kept = np.flatnonzero(labels[:, 0])
    provenance = make_provenance(
        "pulsar_generate", settings, inputs=[fil, model_path], observation=observation, geometry=vars(geometry)
    )
    with atomic_path(out_labels) as tmp, h5py.File(tmp, "w") as out:
        out["probabilities"], out["labels"], out["frame_time_s"], out["frame_freq_mhz"] = probabilities, labels, t, f
        out["channel_flags"] = flags
        out.attrs["classes"] = list(CLASSES)
        set_provenance(out, provenance)
    with atomic_path(out_reduced) as tmp, h5py.File(tmp, "w") as out:
        out.create_dataset("frames", data=raw[kept].astype(np.float16), shape=(len(kept), *raw.shape[1:]))
        out["frame_index"], out["frame_time_s"], out["frame_freq_mhz"] = kept, t[kept], f[kept]
        set_provenance(out, provenance)
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
    with atomic_path(out_candidates) as tmp:
        candidates.to_csv(tmp, index=False, float_format="%.6g")
    n = len(labels)
    summary = {
        "observation": observation,
        "file": str(fil),
        "header": fb.header,
        "geometry": vars(geometry),
        "thresholds": thresholds.tolist(),
        "masked_flagged_channels": masked,
        "frames": n,
        "frames_kept": int(len(kept)),
        "kept_fraction": len(kept) / n,
        "reduction_factor": n / max(len(kept), 1),
        "reduction_factor_is_lower_bound": len(kept) == 0,
        "label_counts": dict(zip(CLASSES, labels.sum(axis=0).tolist())),
        "none_frames": int((labels.sum(axis=1) == 0).sum()),
        "channel_flags": np.flatnonzero(flags).tolist(),
        "channels_flagged": int(flags.sum()),
        "seconds": {"cut_downsample": cut_s, "normalise": norm_s, "classify": classify_s},
        "observation_seconds": fb.data.shape[0] * fb.tsamp,
        "threads": threads,
    }
    write_json(out_summary, summary)
    log.info("%s: %d frames, %d kept (reduction x%.1f)", observation, n, len(kept), summary["reduction_factor"])
    return summary
