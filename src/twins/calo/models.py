"""The calorimeter generators the workflow can train and sample, by name (config calo.models)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from twins.calo.generate import generate_showers
from twins.calo.plot_training import plot_history, plot_likelihood_history
from twins.calo.train import train_gan3d
from twins.calo.train_caloinn import generate_caloinn, train_caloinn


@dataclass(frozen=True)
class GeneratorModel:
    """What the workflow needs of a model: train it, sample it (cells in GeV, showers/s), plot its history."""

    train: Callable[..., Any]
    generate: Callable[..., tuple[np.ndarray, float]]
    plot_history: Callable[[str | Path, str | Path], Path]


MODELS = {
    "gan3d": GeneratorModel(train_gan3d, generate_showers, plot_history),
    "caloinn": GeneratorModel(train_caloinn, generate_caloinn, plot_likelihood_history),
}


def get_model(name: str) -> GeneratorModel:
    if name not in MODELS:
        raise ValueError(f"unknown calo model '{name}' (config calo.models); available: {sorted(MODELS)}")
    return MODELS[name]


def train_model(
    model: str, train_h5: str | Path, validation_h5: str | Path, settings: dict[str, Any], seed: int, device: str,
    checkpoint_path: str | Path, out_model: str | Path, out_history: str | Path, out_losses_png: str | Path,
) -> None:
    """Train the generator named `model` and plot its loss history."""
    entry = get_model(model)
    entry.train(
        train_h5, settings, seed, out_model=out_model, out_history=out_history, checkpoint_path=checkpoint_path,
        device=device, validation_h5=validation_h5,
    )
    entry.plot_history(out_history, out_losses_png)
