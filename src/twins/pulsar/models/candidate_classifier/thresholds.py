"""The P(pulse) threshold of the candidate classifier, chosen on the validation split (never on a test split).

Rule: a threshold that accepts no validation negative, if it keeps recall >= min_recall on the
validation pulses of (injected) S/N >= min_recall_snr: a candidate list is read by people, and each false alarm
costs them more than a pulse far below the detection threshold is worth. Otherwise, with priority "recall" (the
default: a pulse lost is lost for good, a false alarm costs a look), the highest threshold that keeps that recall,
its false alarms recorded; with priority "false_alarms" the lowest threshold that accepts at most
max_false_alarm_rate of the negatives (maximum recall within that budget), recorded as a missed recall target.
The threshold lies midway,
in logit, between the highest negative it must reject and the next pulse above it, not right at that negative:
a test negative a little above the validation ones is then still rejected when the gap allows.
"""

from __future__ import annotations

import logging
import math

import numpy as np

log = logging.getLogger(__name__)


def _logit(p: float) -> float:
    p = min(max(p, 1e-300), 1 - 1e-16)
    return math.log(p) - math.log1p(-p)


def threshold_above(p_negative: np.ndarray, p_positive: np.ndarray, allowed: int) -> float:
    """The lowest threshold (decision p >= t) that accepts at most `allowed` of the negatives, moved midway (in
    logit) to the next positive probability above the highest negative it rejects; 0 when all may pass."""
    ranked = np.sort(np.asarray(p_negative, dtype=np.float64))[::-1]
    if allowed >= len(ranked):
        return 0.0
    rejected = float(ranked[allowed])
    above = np.asarray(p_positive, dtype=np.float64)
    above = above[above > rejected]
    if not above.size:
        return float(np.nextafter(rejected, 2.0))
    t = 1.0 / (1.0 + math.exp(-(_logit(rejected) + _logit(float(above.min()))) / 2))
    return t if rejected < t <= float(above.min()) else float(np.nextafter(rejected, 2.0))


def threshold_for_recall(p_targets: np.ndarray, min_recall: float) -> float:
    """The highest threshold (decision p >= t) that accepts at least min_recall of the target pulses."""
    ranked = np.sort(np.asarray(p_targets, dtype=np.float64))
    missable = int(math.floor((1.0 - min_recall) * len(ranked) + 1e-9))
    return float(ranked[min(missable, len(ranked) - 1)])


def figures(probabilities: np.ndarray, labels: np.ndarray, strong: np.ndarray, threshold: float) -> dict:
    """Validation figures at `threshold`: counts, false alarms and their rate, recall of all pulses and of the
    `strong` ones (bool (n,): S/N >= min_recall_snr; None when there are none), accuracy."""
    accepted = np.asarray(probabilities) >= threshold
    positive = np.asarray(labels) == 1
    strong = strong & positive
    return {
        "candidates": int(len(labels)),
        "positives": int(positive.sum()),
        "negatives": int((~positive).sum()),
        "false_alarms": int((accepted & ~positive).sum()),
        "false_alarm_rate": float((accepted & ~positive).sum() / max((~positive).sum(), 1)),
        "recall": float((accepted & positive).sum() / max(positive.sum(), 1)),
        "strong_positives": int(strong.sum()),
        "recall_strong": float((accepted & strong).sum() / strong.sum()) if strong.any() else None,
        "accuracy": float((accepted == positive).mean()),
    }


def choose_threshold(
    probabilities: np.ndarray, labels: np.ndarray, recall_snr: np.ndarray, settings: dict
) -> tuple[float, dict, dict]:
    """(threshold, choice record, validation figures at it) for validation P(pulse) (n,), labels (n,) 1 = pulse
    and the S/N (n,) that selects the pulses the recall target is about (injected S/N when the set has it).
    settings: max_false_alarm_rate, min_recall_snr, min_recall (pulsar.candidates.train)."""
    p = np.asarray(probabilities, dtype=np.float64)
    positive = np.asarray(labels) == 1
    if positive.all() or not positive.any():
        raise ValueError(
            f"candidate classifier threshold: the validation split holds {int(positive.sum())} pulses and "
            f"{int((~positive).sum())} negatives; it needs both (false alarms and recall are measured on it)"
        )
    with np.errstate(invalid="ignore"):
        strong = np.asarray(recall_snr, dtype=float) >= settings["min_recall_snr"]
    choice = {key: settings[key] for key in ("max_false_alarm_rate", "min_recall_snr", "min_recall")}
    choice["priority"] = settings.get("priority", "recall")
    threshold = threshold_above(p[~positive], p[positive], 0)
    found = figures(p, labels, strong, threshold)
    # no strong pulse in the split: the target applies to all of them
    recall = found["recall_strong"] if found["strong_positives"] else found["recall"]
    if recall >= settings["min_recall"]:
        return threshold, {"rule": "zero_false_alarms", **choice}, found
    if settings.get("priority", "recall") == "recall":
        targets = p[positive & strong] if found["strong_positives"] else p[positive]
        threshold = threshold_for_recall(targets, settings["min_recall"])
        found = figures(p, labels, strong, threshold)
        log.warning(
            "candidate classifier: no validation false alarm only at recall %.4f < %.4f of the pulses of S/N >= %g; "
            "priority recall: threshold %.6g keeps it, at %d of %d validation negatives accepted",
            recall,
            settings["min_recall"],
            settings["min_recall_snr"],
            threshold,
            found["false_alarms"],
            found["negatives"],
        )
        return threshold, {"rule": "recall_target", "zero_false_alarm_recall": recall, **choice}, found
    allowed = int(math.floor(settings["max_false_alarm_rate"] * found["negatives"] + 1e-9))
    threshold = threshold_above(p[~positive], p[positive], allowed)
    found = figures(p, labels, strong, threshold)
    log.warning(
        "candidate classifier: no validation false alarm only at recall %.4f < %.4f of the pulses of S/N >= %g; "
        "threshold %.6g accepts at most %d of %d negatives (max_false_alarm_rate %g): recall %.4f",
        recall,
        settings["min_recall"],
        settings["min_recall_snr"],
        threshold,
        allowed,
        found["negatives"],
        settings["max_false_alarm_rate"],
        found["recall_strong"] if found["strong_positives"] else found["recall"],
    )
    return threshold, {"rule": "false_alarm_budget", "zero_false_alarm_recall": recall, **choice}, found
