"""The candidate classifier at work: P(pulse) of candidate images, and the decision at a threshold."""

from __future__ import annotations

import numpy as np
import torch

from twins.pulsar.models.candidate_classifier.network import CandidateClassifier


def _check_sizes(model: CandidateClassifier, ft, dmt, snr) -> None:
    sizes = model.image_sizes
    expected = (sizes.get("n_freq"), sizes.get("n_time")), (sizes.get("n_dm"), sizes.get("n_time"))
    got = tuple(ft.shape[1:]), tuple(dmt.shape[1:])
    if len(ft) != len(dmt) or ft.ndim != 3 or dmt.ndim != 3 or (snr is not None and len(snr) != len(ft)):
        raise ValueError(
            f"candidate classifier: ft (n, n_freq, n_time), dmt (n, n_dm, n_time) and snr (n,) must describe the "
            f"same candidates, got {tuple(ft.shape)}, {tuple(dmt.shape)}, {None if snr is None else len(snr)}"
        )
    if sizes and got != expected:
        raise ValueError(
            f"candidate classifier: images of (n_freq, n_time) {got[0]} and (n_dm, n_time) {got[1]}, but the model "
            f"was trained on {expected[0]} and {expected[1]}; make them with its pulsar.candidates.images settings"
        )


def logits(model: CandidateClassifier, ft, dmt, snr=None, batch_size: int = 256, device="cpu") -> np.ndarray:
    """Logits (n,) float32 of candidate images ft (n, n_freq, n_time), dmt (n, n_dm, n_time), numpy or tensors;
    snr (n,) when the model uses it. The model is put in eval mode."""
    _check_sizes(model, ft, dmt, snr)
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(ft), batch_size):
            part = slice(start, start + batch_size)
            batch = [torch.as_tensor(x[part], dtype=torch.float32, device=device) for x in (ft, dmt)]
            s = None if snr is None else torch.as_tensor(snr[part], dtype=torch.float32, device=device)
            out.append(model(*batch, s).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def predict_probabilities(
    model: CandidateClassifier, ft, dmt, snr=None, batch_size: int = 256, device="cpu"
) -> np.ndarray:
    """P(pulse) (n,) float64 of candidate images (see `logits`). float64 on purpose: float32 sigmoid saturates
    at 1 for logits above ~17, and a threshold that keeps every validation negative out needs them distinct."""
    z = logits(model, ft, dmt, snr, batch_size, device).astype(np.float64)
    return 1.0 / (1.0 + np.exp(-z))


def decision_threshold(meta: dict, threshold: float | str = "validation") -> float:
    """`threshold` itself if a probability, the model's validation-chosen one (its model file's meta) if
    'validation'."""
    if threshold == "validation":
        return float(meta["threshold"])
    if isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and 0 <= threshold <= 1:
        return float(threshold)
    raise ValueError(
        f"candidate classifier threshold must be a probability in [0, 1] or 'validation', not {threshold!r}"
    )


def decide(probabilities: np.ndarray, meta: dict, threshold: float | str = "validation") -> np.ndarray:
    """(n,) bool: the candidates classified as pulses, P(pulse) >= the threshold (decision_threshold)."""
    return np.asarray(probabilities) >= decision_threshold(meta, threshold)
