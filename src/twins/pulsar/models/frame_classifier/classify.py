"""The classifier at work: probabilities of normalised frames and the per-class decision thresholds."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from twins.pulsar import CLASSES


@torch.no_grad()
def predict_probabilities(model: nn.Module, frames, batch_size: int = 256, device: str | torch.device = "cpu"):
    """Sigmoid probabilities (n, 3) of normalised frames (n, size, size) (numpy or tensor)."""
    out = []
    for start in range(0, len(frames), batch_size):
        batch = torch.as_tensor(frames[start : start + batch_size], dtype=torch.float32, device=device)
        out.append(torch.sigmoid(model(batch[:, None])).cpu())
    return torch.cat(out).numpy() if out else torch.zeros((0, len(CLASSES))).numpy()


def decision_thresholds(meta: dict, threshold: float | str) -> np.ndarray:
    """Per-class thresholds (3,): `threshold` itself if a number, the model's validation-chosen ones (its
    model file's meta) if 'validation'."""
    if threshold == "validation":
        return np.asarray(meta.get("thresholds", [0.5] * len(CLASSES)), dtype=np.float32)
    if isinstance(threshold, (int, float)) and 0 <= threshold <= 1:
        return np.full(len(CLASSES), threshold, dtype=np.float32)
    raise ValueError(f"pulsar.generate.threshold must be a probability in [0, 1] or 'validation', not {threshold!r}")


def decide_labels(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Multi-hot labels (n, 3) uint8: each class where its probability reaches its threshold."""
    return (probabilities >= thresholds).astype(np.uint8)
