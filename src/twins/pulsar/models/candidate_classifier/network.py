"""The candidate classifier: a two-branch CNN on FETCH's two images of a single-pulse candidate, and its model file.

Inputs (twins.pulsar.candidates): ft (batch, n_freq, n_time) the data dedispersed at the candidate DM, row 0 the
highest frequency; dmt (batch, n_dm, n_time) the bow-tie, row n_dm // 2 the candidate DM; both normalised and
centred on the candidate. Optional snr (batch,): the search's S/N, fed as log10(S/N) to the head when
settings['snr_feature'] (off by default: a set whose negatives sit just above the search threshold and whose
positives reach far above it lets the head learn the threshold instead of the images). Output: logits (batch,);
P(pulse) = sigmoid(logit).

Each branch is conv-BN-ReLU-maxpool stages, then an adaptive average pool to a 4 x 4 grid that keeps where
things are: a pulse is the knot at the centre of the DM-time image, a zero-DM impulse's peak sits at its top,
and global pooling would lose that. Inputs are clipped to +-input_clip sigma first: a bright pulse and bright
RFI differ in shape, not in how many hundred sigma they reach.

Model file (twins.core.model_file, model "candidate_classifier"): weights {"classifier": state dict}; meta
{settings (pulsar.candidates.train), images ({n_freq, n_time, n_dm} and the image settings the training set
recorded), provenance, threshold (P(pulse) threshold chosen on validation), threshold_choice, validation
(figures at that threshold)}.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from twins.core.io import InputFileError
from twins.core.model_file import load_model, save_model

MODEL = "candidate_classifier"
WRITER = "pulsar_train_candidates"
POOLED_GRID = (4, 4)  # cells (frequency or DM, time) each branch keeps: coarse position survives the pooling


class Branch(nn.Module):
    """(batch, rows, n_time) image -> (batch, channels[-1] * 16) features."""

    def __init__(self, channels: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out in zip((1, *channels[:-1]), channels):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            layers.append(nn.MaxPool2d(2))
        layers += [nn.AdaptiveAvgPool2d(POOLED_GRID), nn.Flatten()]
        self.layers = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.layers(image[:, None])


class CandidateClassifier(nn.Module):
    def __init__(
        self,
        channels: tuple[int, ...] = (8, 16, 32),
        hidden: int = 32,
        dropout: float = 0.0,
        snr_feature: bool = False,
        input_clip: float = 20.0,
        image_sizes: dict | None = None,
    ):
        super().__init__()
        self.ft_branch = Branch(tuple(channels))
        self.dmt_branch = Branch(tuple(channels))
        self.snr_feature = bool(snr_feature)
        self.input_clip = float(input_clip)
        self.image_sizes = dict(image_sizes or {})  # {n_freq, n_time, n_dm} it was trained on; checked by predict
        n_features = 2 * channels[-1] * POOLED_GRID[0] * POOLED_GRID[1] + int(self.snr_feature)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, ft: torch.Tensor, dmt: torch.Tensor, snr: torch.Tensor | None = None) -> torch.Tensor:
        clip = self.input_clip
        features = [self.ft_branch(ft.clamp(-clip, clip)), self.dmt_branch(dmt.clamp(-clip, clip))]
        if self.snr_feature:
            if snr is None:
                raise ValueError("this candidate classifier was trained with snr_feature: pass the candidates' S/N")
            features.append(torch.log10(snr.clamp(min=1.0))[:, None])
        return self.head(torch.cat(features, dim=1))[:, 0]


def build_model(settings: dict, image_sizes: dict | None = None) -> CandidateClassifier:
    """The classifier of pulsar.candidates.train `settings` (weights freshly initialised)."""
    return CandidateClassifier(
        tuple(settings["channels"]),
        int(settings["hidden"]),
        float(settings.get("dropout", 0.0)),
        bool(settings.get("snr_feature", False)),
        float(settings.get("input_clip", 20.0)),
        image_sizes,
    )


def save_classifier(path: str | Path, model: CandidateClassifier, meta: dict) -> None:
    """Write the model file; `meta` holds settings, images, provenance, threshold, threshold_choice, validation."""
    save_model(path, "pulsar", MODEL, weights={"classifier": model}, meta=meta)


def load_classifier(path: str | Path) -> tuple[CandidateClassifier, dict]:
    """The classifier on the CPU in eval mode and its model file's meta; InputFileError naming the file and the
    rule to rerun otherwise."""
    record = load_model(path, "pulsar", MODEL, writer=WRITER)
    try:
        model = build_model(record.meta["settings"], record.meta["images"])
    except (KeyError, TypeError, ValueError) as err:
        raise InputFileError(f"{path}: not a candidate classifier written by {WRITER} ({err!r}); rerun it") from None
    return record.load_into("classifier", model), record.meta
