"""The training history of a TPC GAN: critic and generator losses and the Wasserstein estimates."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from twins.core.io import InputFileError
from twins.core.plots import new_figure, save_figure


def plot_history(history_csv: str | Path, out_png: str | Path) -> Path:
    try:
        history = pd.read_csv(history_csv)
    except (FileNotFoundError, pd.errors.EmptyDataError) as err:
        raise InputFileError(f"{history_csv}: cannot read the training history ({err})") from None
    fig = new_figure(figsize=(10.0, 4.0))
    left, right = fig.subplots(1, 2)
    for column in ("critic_loss", "generator_loss"):
        left.plot(history["epoch"], history[column], marker="o", markersize=3, label=column)
    for column in ("wasserstein", "val_wasserstein"):
        right.plot(history["epoch"], history[column], marker="o", markersize=3, label=column)
    left.set_ylabel("loss")
    right.set_ylabel("critic estimate of the Wasserstein distance")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    return save_figure(fig, out_png)
