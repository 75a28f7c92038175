"""PulsarRFI_NN: a CNN that labels a frame with independent sigmoid outputs (multi-label), and its model file.

Input (batch, 1, size, size) normalised frames [time, frequency], frequency index 0 the top of the
band; output (batch, 3) logits for (pulse, nb_rfi, bb_rfi). Probabilities are sigmoid(logits); the
loss is BCEWithLogits on the logits (no softmax: the classes are not exclusive).

Two branches feed the head. The image branch (a strided first layer for speed, then stages whose
receptive field spans the frame) sees the RFI geometry: stripes along time or along frequency. The
optional dedispersion branch (dedispersion.Dedispersion) is the physics a pulse search does first: its
DM-time plane makes a faint dispersed track one bright spot that a small CNN finds; learned from scratch,
the image branch needs far more data to integrate such a track along an unknown curve across 128 channels.
With `snr_feature` the head also gets what a single-pulse search thresholds: the best boxcar S/N of each
DM trial (boxcar_snr).

Model file (twins.core.model_file, model "frame_classifier"): weights {"classifier": state dict}; meta
{settings (pulsar.train), frames (geometry), classes, provenance, thresholds (per class, chosen on the
validation split), threshold_choice (how the pulse threshold was chosen)}.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from twins.core.io import InputFileError
from twins.core.model_file import load_model, save_model
from twins.pulsar import CLASSES
from twins.pulsar.models.frame_classifier.dedispersion import Dedispersion, boxcar_snr

MODEL = "frame_classifier"
WRITER = "pulsar_train"


class FrameClassifier(nn.Module):
    def __init__(
        self,
        channels: tuple[int, ...] = (8, 16, 32, 32),
        first_stride: int = 4,
        n_classes: int = len(CLASSES),
        batch_norm: bool = True,
        dedispersion: dict | None = None,
        size: int = 128,
        dropout: float = 0.0,
    ):
        super().__init__()

        def block(c_in, c_out, kernel, stride, padding):
            norm = [nn.BatchNorm2d(c_out)] if batch_norm else []
            return [
                nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=not batch_norm),
                *norm,
                nn.ReLU(),
            ]

        layers: list[nn.Module] = block(1, channels[0], first_stride, first_stride, 0)
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers += block(c_in, c_out, 3, 2, 1)
        layers += block(channels[-1], channels[-1], 3, 1, 1)
        self.features = nn.Sequential(*layers)
        n_features = 2 * channels[-1]
        self.dedispersion = None
        self.snr_feature = False
        if dedispersion and dedispersion.get("enabled", True):
            options = {k: v for k, v in dedispersion.items() if k not in ("channels", "enabled", "snr_feature")}
            self.dedispersion = Dedispersion(size, **options)
            # the matched filter a single-pulse search thresholds, given to the head as it is: per-trial
            # best boxcar S/N and their maximum (the learned parts need not rediscover boxcar sums)
            self.snr_feature = bool(dedispersion.get("snr_feature", False))
            n_features += (self.dedispersion.trials + 1) if self.snr_feature else 0
            width = list(dedispersion.get("channels", (16, 32)))
            # DM-time plane (trials, time): a pulse is a spot elongated along DM, RFI sits at low sweep
            stages: list[nn.Module] = block(1, width[0], 3, 2, 1)
            for c_in, c_out in zip(width[:-1], width[1:]):
                stages += block(c_in, c_out, 3, 2, 1)
            self.dm_features = nn.Sequential(*stages)
            n_features += 2 * width[-1]
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(n_features, n_classes)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        h = self.features(frames)
        pooled = [h.mean(dim=(2, 3)), h.amax(dim=(2, 3))]
        if self.dedispersion is not None:
            plane = self.dedispersion(frames[:, 0])
            g = self.dm_features(plane[:, None])
            pooled += [g.mean(dim=(2, 3)), g.amax(dim=(2, 3))]
            if self.snr_feature:
                # in units of 10 sigma, capped at 3: the decision lies near S/N 5-8, and a linear head fed
                # raw S/N would let bright pulses and residual RFI (S/N 100+) dominate its weight
                per_trial = boxcar_snr(plane).clamp(max=30.0) / 10.0
                pooled += [per_trial, per_trial.amax(dim=1, keepdim=True)]
        return self.head(self.dropout(torch.cat(pooled, dim=1)))


def build_model(settings: dict, size: int = 128) -> FrameClassifier:
    """The classifier of pulsar.train `settings` for frames of `size` pixels (weights freshly initialised)."""
    return FrameClassifier(
        tuple(settings["channels"]),
        settings["first_stride"],
        batch_norm=settings.get("batch_norm", True),
        dedispersion=settings.get("dedispersion"),
        size=size,
        dropout=settings.get("dropout", 0.0),
    )


def save_classifier(
    path: str | Path,
    model: FrameClassifier,
    settings: dict,
    frames: dict,
    provenance: dict,
    thresholds: list[float] | None = None,
    threshold_choice: dict | None = None,
) -> None:
    """`thresholds`: per-class probability thresholds chosen on the validation split (pulsar_train);
    `threshold_choice`: how the pulse threshold was chosen (rule, validation false-alarm rate)."""
    meta = {
        "settings": settings,
        "frames": frames,
        "classes": list(CLASSES),
        "provenance": provenance,
        "thresholds": thresholds if thresholds is not None else [0.5] * len(CLASSES),
        "threshold_choice": threshold_choice or {},
    }
    save_model(path, "pulsar", MODEL, weights={"classifier": model}, meta=meta)


def load_classifier(path: str | Path) -> tuple[FrameClassifier, dict]:
    """The classifier on the CPU in eval mode and its model file's meta (settings, frames geometry,
    thresholds, provenance); InputFileError naming the file and pulsar_train otherwise."""
    record = load_model(path, "pulsar", MODEL, writer=WRITER)
    try:
        model = build_model(record.meta["settings"], int(record.meta["frames"].get("size", 128)))
    except (KeyError, TypeError, ValueError) as err:
        raise InputFileError(f"{path}: not a pulsar classifier written by {WRITER} ({err!r}); rerun it") from None
    return record.load_into("classifier", model), record.meta
