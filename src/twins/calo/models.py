"""The calorimeter generators the workflow can train, by name (config calo.models)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twins.calo.plot_training import plot_history
from twins.calo.train import train_gan3d

MODELS = ("gan3d",)


def train_model(
    model: str, train_h5: str | Path, validation_h5: str | Path, settings: dict[str, Any], seed: int, device: str,
    checkpoint_path: str | Path, out_model: str | Path, out_history: str | Path, out_losses_png: str | Path,
) -> None:
    """Train the generator named `model` and plot its loss history."""
    if model != "gan3d":
        raise ValueError(f"unknown calo model '{model}'; available: {list(MODELS)}")
    train_gan3d(
        train_h5, settings, seed, out_model=out_model, out_history=out_history, checkpoint_path=checkpoint_path,
        device=device, validation_h5=validation_h5,
    )
    plot_history(out_history, out_losses_png)
