"""The classifier's decision thresholds, chosen on the validation split (never on the test split that
reports accuracy): maximum accuracy for the RFI classes, a false-alarm budget (or maximum accuracy) for
the pulse class."""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 4)


def choose_thresholds(probabilities: np.ndarray, labels: np.ndarray, grid=THRESHOLD_GRID) -> list[float]:
    """Per class, the probability threshold with the highest accuracy on validation frames (ties: the
    one closest to 0.5). Chosen on the validation split, never on the test split that reports accuracy."""
    out = []
    for c in range(labels.shape[1]):
        accuracy = np.array([((probabilities[:, c] >= t) == labels[:, c]).mean() for t in grid])
        best = np.flatnonzero(accuracy >= accuracy.max() - 1e-12)
        out.append(float(grid[best[np.argmin(np.abs(grid[best] - 0.5))]]))
    return out


def false_alarm_threshold(p_pulse: np.ndarray, snr: np.ndarray, max_rate: float, grid=THRESHOLD_GRID) -> dict:
    """The lowest pulse threshold whose false-alarm rate on validation frames with no pulse signal (S/N 0:
    noise and RFI only) stays within `max_rate`, as a search sets its S/N threshold by the false alarms it can
    afford. Unlike maximum accuracy this does not depend on the simulation's share of pulse frames (a third
    here, far more than in a real stream) nor on the frames near the labelling S/N, which are coin flips."""
    noise = np.asarray(snr) <= 0
    if not noise.any():
        raise ValueError(
            "pulsar.train.pulse_threshold: the validation split has no frame without pulse signal to "
            "measure false alarms on; use rule 'accuracy' or a dataset with noise/RFI-only frames"
        )
    if noise.sum() * max_rate < 1:
        log.warning(
            "only %d validation frames without pulse signal: a false-alarm rate of %.3g is below one frame, so "
            "the pulse threshold is the lowest that keeps none of them",
            noise.sum(),
            max_rate,
        )
    rates = np.array([(p_pulse[noise] >= t).mean() for t in grid])
    within = np.flatnonzero(rates <= max_rate)
    if not within.size:
        log.warning(
            "no pulse threshold up to %.2f keeps false alarms within %.3g (%.3g at best); using %.2f",
            grid[-1],
            max_rate,
            rates[-1],
            grid[-1],
        )
    index = int(within[0]) if within.size else len(grid) - 1
    return {
        "threshold": float(grid[index]),
        "validation_false_alarm_rate": float(rates[index]),
        "validation_frames_no_signal": int(noise.sum()),
    }


def decide_thresholds(
    probabilities: np.ndarray, labels: np.ndarray, snr: np.ndarray, rule: dict
) -> tuple[list[float], dict]:
    """Per-class thresholds on validation frames: maximum accuracy for the RFI classes; for the pulse class
    `rule['rule']` 'false_alarm' (false_alarm_threshold at `max_false_alarm_rate`) or 'accuracy'.
    Returns (thresholds, a record of the choice)."""
    thresholds = choose_thresholds(probabilities, labels)
    choice = {"rule": rule["rule"]}
    if rule["rule"] == "false_alarm":
        found = false_alarm_threshold(probabilities[:, 0], snr, rule["max_false_alarm_rate"])
        thresholds[0] = found.pop("threshold")
        choice.update(max_false_alarm_rate=rule["max_false_alarm_rate"], **found)
    elif rule["rule"] != "accuracy":
        raise ValueError(f"pulsar.train.pulse_threshold.rule must be 'false_alarm' or 'accuracy', not {rule['rule']!r}")
    return thresholds, choice
