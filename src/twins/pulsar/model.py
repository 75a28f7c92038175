"""PulsarRFI_NN: a small CNN that labels a frame with independent sigmoid outputs (multi-label).

Input (batch, 1, size, size) normalised frames [time, frequency]; output (batch, 3) logits for
(pulse, nb_rfi, bb_rfi). Probabilities are sigmoid(logits); the loss is BCEWithLogits on the
logits (no softmax: the classes are not exclusive). A strided first layer keeps it fast enough for
real-time use; five stages give a receptive field spanning the whole 128-pixel frame, so a
dispersed track can be integrated across the band.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from twins.core.io import InputFileError, atomic_path
from twins.pulsar import CLASSES


class FrameClassifier(nn.Module):
    def __init__(self, channels: tuple[int, ...] = (8, 16, 32, 32), first_stride: int = 4, n_classes: int = len(CLASSES),
                 batch_norm: bool = True):
        super().__init__()

        def block(c_in, c_out, kernel, stride, padding):
            norm = [nn.BatchNorm2d(c_out)] if batch_norm else []
            return [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=not batch_norm), *norm, nn.ReLU()]

        layers: list[nn.Module] = block(1, channels[0], first_stride, first_stride, 0)
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers += block(c_in, c_out, 3, 2, 1)
        layers += block(channels[-1], channels[-1], 3, 1, 1)
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(2 * channels[-1], n_classes)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        h = self.features(frames)
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return self.head(pooled)


def build_model(settings: dict) -> FrameClassifier:
    return FrameClassifier(tuple(settings["channels"]), settings["first_stride"],
                           batch_norm=settings.get("batch_norm", True))


def save_model(path: str | Path, model: FrameClassifier, settings: dict, frames: dict, provenance: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save({"state_dict": model.state_dict(), "settings": settings, "frames": frames,
                    "classes": list(CLASSES), "provenance": provenance}, tmp)


def load_model(path: str | Path) -> tuple[FrameClassifier, dict]:
    """The classifier in eval mode and its stored record (settings, frames geometry, provenance)."""
    try:
        record = torch.load(path, map_location="cpu", weights_only=False)
        model = build_model(record["settings"])
        model.load_state_dict(record["state_dict"])
    except (OSError, RuntimeError, KeyError) as err:
        raise InputFileError(f"{path}: not a pulsar classifier written by pulsar_train ({err}); rerun it") from None
    return model.eval(), record


@torch.no_grad()
def predict_probabilities(model: nn.Module, frames, batch_size: int = 256, device: str | torch.device = "cpu"):
    """Sigmoid probabilities (n, 3) of normalised frames (n, size, size) (numpy or tensor)."""
    out = []
    for start in range(0, len(frames), batch_size):
        batch = torch.as_tensor(frames[start : start + batch_size], dtype=torch.float32, device=device)
        out.append(torch.sigmoid(model(batch[:, None])).cpu())
    return torch.cat(out).numpy() if out else torch.zeros((0, len(CLASSES))).numpy()
