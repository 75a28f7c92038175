"""tpc_preprocess: seeded train/validation/test splits, log10(1 + ADC) responses and encoded features.

Encoded features (float32, standardised with the training split's mean and width where noted):
    crossing_angle, dip_angle, drift_length       standardised
    pad_fraction, bucket_fraction                 fractional pad coordinate and drift time in buckets,
                                                  minus 0.5 (the anchor, TPC-FastSim, found them essential:
                                                  the response shape repeats with the pad and bucket phase)
    log_pt, pad_row                               standardised (Fast6 only)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from twins.core.io import get_provenance
from twins.core.provenance import make_provenance
from twins.core.seeding import derive_seed
from twins.tpc.dataset import feature_columns, read_segments_h5, write_segments_h5
from twins.tpc.detector import PadRowDetector, detector_from_dict
from twins.tpc.padrow import fractional_bucket, fractional_pad

log = logging.getLogger(__name__)

ENCODED = ("crossing_angle", "dip_angle", "drift_length", "pad_fraction", "bucket_fraction", "log_pt", "pad_row")
VARIANT_FEATURES = {"fast4": ENCODED[:5], "fast6": ENCODED}
STANDARDISED = ("crossing_angle", "dip_angle", "drift_length", "log_pt", "pad_row")
SPLITS = ("train", "validation", "test")


def log_transform(response: np.ndarray) -> np.ndarray:
    return np.log10(1.0 + np.maximum(response, 0.0)).astype(np.float32)


def inverse_log_transform(log_response: np.ndarray) -> np.ndarray:
    return np.maximum(10.0 ** np.asarray(log_response, dtype=np.float64) - 1.0, 0.0).astype(np.float32)


def raw_encoding(features: dict[str, np.ndarray], detector: PadRowDetector) -> dict[str, np.ndarray]:
    """The encoded columns before standardisation, {name: (N,)}."""
    return {
        "crossing_angle": features["crossing_angle"],
        "dip_angle": features["dip_angle"],
        "drift_length": features["drift_length"],
        "pad_fraction": fractional_pad(features["pad_coordinate"]) - 0.5,
        "bucket_fraction": fractional_bucket(features["drift_length"], detector) - 0.5,
        "log_pt": np.log(features["pt"]),
        "pad_row": features["pad_row"].astype(np.float64),
    }


def fit_scales(raw: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """{'mean': [...], 'std': [...]} per ENCODED column; fractions keep mean 0 and width 1."""
    mean = [float(raw[k].mean()) if k in STANDARDISED else 0.0 for k in ENCODED]
    std = [float(raw[k].std()) or 1.0 if k in STANDARDISED else 1.0 for k in ENCODED]
    return {"columns": list(ENCODED), "mean": mean, "std": std}


def encode(features: dict[str, np.ndarray], detector: PadRowDetector, scales: dict[str, list]) -> np.ndarray:
    """(N, len(ENCODED)) float32 model inputs."""
    raw = raw_encoding(features, detector)
    columns = [(raw[k] - m) / s for k, m, s in zip(scales["columns"], scales["mean"], scales["std"])]
    return np.stack(columns, axis=1).astype(np.float32)


def split_indices(n: int, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Disjoint sorted index sets from a seeded permutation; fractions must sum to at most 1."""
    total = sum(fractions[k] for k in SPLITS)
    if total > 1 + 1e-9:
        raise ValueError(f"tpc.preprocess.split fractions sum to {total:.3g} > 1")
    order = np.random.default_rng(derive_seed(seed, "tpc", "split")).permutation(n)
    counts = [int(round(fractions[k] * n)) for k in SPLITS]
    if min(counts) < 1:
        raise ValueError(f"tpc.preprocess.split leaves an empty split for {n} segments: {counts}")
    bounds = np.cumsum([0, *counts])
    return {k: np.sort(order[bounds[i] : bounds[i + 1]]) for i, k in enumerate(SPLITS)}


def preprocess(segments_h5: str | Path, outputs: dict[str, str | Path], settings: dict[str, Any], seed: int) -> None:
    data = read_segments_h5(segments_h5)
    detector = detector_from_dict(data["detector"], str(segments_h5))
    features = feature_columns(data)
    parts = split_indices(len(data["response"]), settings["split"], seed)
    scales = fit_scales(raw_encoding({k: v[parts["train"]] for k, v in features.items()}, detector))
    upstream = get_provenance(segments_h5)
    for split in SPLITS:
        index = parts[split]
        part = {k: v[index] for k, v in features.items()}
        arrays = {
            "response": data["response"][index],
            "features": data["features"][index],
            "log_response": log_transform(data["response"][index]),
            "encoded": encode(part, detector, scales),
        }
        record = make_provenance(
            "tpc_preprocess", settings, seed=seed, inputs=[segments_h5], split=split, upstream=upstream
        )
        write_segments_h5(
            outputs[split],
            arrays,
            data["detector"],
            record,
            columns={"encoded": list(ENCODED)},
            attrs={"scales": scales},
        )
        log.info("%s: %d segments", split, len(index))
