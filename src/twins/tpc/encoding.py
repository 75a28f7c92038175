"""What the GAN sees: seeded train/validation/test splits, log10(1 + ADC) responses and encoded features.

Encoded features (float32, standardised with the training split's mean and width where noted):
    crossing_angle, dip_angle, drift_length       standardised
    pad_fraction, bucket_fraction                 fractional pad coordinate and drift time in buckets,
                                                  minus 0.5 (the anchor, TPC-FastSim, found them essential:
                                                  the response shape repeats with the pad and bucket phase)
    log_pt, pad_row                               standardised (Fast6 only)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twins.core.config import resolve
from twins.core.seeding import derive_seed
from twins.core.splits import split_indices
from twins.tpc.detector import PadRowDetector
from twins.tpc.padrow import fractional_bucket, fractional_pad

ENCODED = ("crossing_angle", "dip_angle", "drift_length", "pad_fraction", "bucket_fraction", "log_pt", "pad_row")
STANDARDISED = ("crossing_angle", "dip_angle", "drift_length", "log_pt", "pad_row")
SPLITS = ("train", "validation", "test")


def log_transform(response: np.ndarray) -> np.ndarray:
    """ADC counts -> log10(1 + ADC), float32 (negative counts taken as 0)."""
    return np.log10(1.0 + np.maximum(response, 0.0)).astype(np.float32)


def inverse_log_transform(log_response: np.ndarray) -> np.ndarray:
    """log10(1 + ADC) -> ADC counts, float32, clipped at 0 (a negative log value means an empty sample)."""
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
    """{'columns', 'mean': [...], 'std': [...]} per ENCODED column; fractions keep mean 0 and width 1."""
    mean = [float(raw[k].mean()) if k in STANDARDISED else 0.0 for k in ENCODED]
    std = [float(raw[k].std()) or 1.0 if k in STANDARDISED else 1.0 for k in ENCODED]
    return {"columns": list(ENCODED), "mean": mean, "std": std}


def encode(features: dict[str, np.ndarray], detector: PadRowDetector, scales: dict[str, list]) -> np.ndarray:
    """(N, len(ENCODED)) float32 model inputs."""
    raw = raw_encoding(features, detector)
    columns = [(raw[k] - m) / s for k, m, s in zip(scales["columns"], scales["mean"], scales["std"])]
    return np.stack(columns, axis=1).astype(np.float32)


def split_segments(n: int, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Disjoint sorted index sets {split: indices} of the SPLITS, cut in that order from one permutation drawn
    from derive_seed(seed, "tpc", "split"); each takes its rounded share and what rounding leaves is unused,
    so the fractions may sum to less than 1. ValueError naming tpc.preprocess.split otherwise."""
    rng = np.random.default_rng(derive_seed(seed, "tpc", "split"))
    try:
        return split_indices(n, {k: fractions[k] for k in SPLITS}, rng, remainder=None, what="segments")
    except ValueError as err:
        raise ValueError(f"tpc.preprocess.split: {err}") from None


def split_and_encode(
    response: np.ndarray,
    features: np.ndarray,
    columns: dict[str, np.ndarray],
    detector: PadRowDetector,
    settings: dict[str, Any],
    seed: int,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, list]]:
    """Split the segments (response (N, pads, buckets) ADC; features (N, 6) and the same as columns {name: (N,)})
    and encode every split with the training split's scales.

    settings: the tpc.preprocess slice (schema defaults filled in here). Returns ({split: {"response",
    "features", "log_response", "encoded"}}, scales)."""
    settings = resolve("tpc.preprocess", settings)
    parts = split_segments(len(response), settings["split"], seed)
    scales = fit_scales(raw_encoding({k: v[parts["train"]] for k, v in columns.items()}, detector))
    arrays = {}
    for split, index in parts.items():
        arrays[split] = {
            "response": response[index],
            "features": features[index],
            "log_response": log_transform(response[index]),
            "encoded": encode({k: v[index] for k, v in columns.items()}, detector, scales),
        }
    return arrays, scales
