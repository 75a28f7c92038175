"""Plot training histories: the 3DGAN's generator and discriminator losses, a flow's likelihood."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from twins.core.io import InputFileError
from twins.core.plots import new_figure, save_figure

PANELS = (
    ("generator", "g_", "generator_loss", "val_generator_loss"),
    ("discriminator", "d_", "discriminator_loss", "val_discriminator_loss"),
)


def read_history(history_csv: str | Path) -> pd.DataFrame:
    try:
        history = pd.read_csv(history_csv)
    except (FileNotFoundError, pd.errors.EmptyDataError) as err:
        raise InputFileError(f"{history_csv}: cannot read the training history ({err})") from None
    if "epoch" not in history or history.empty:
        raise InputFileError(f"{history_csv}: no 'epoch' column or no rows; not a training history")
    return history


def plot_likelihood_history(history_csv: str | Path, out_png: str | Path) -> Path:
    """A normalizing flow's training and validation loss (negative log-likelihood, may be negative); for the
    two-flow CaloINN also each flow's own loss (shape_loss, energy_loss, val_energy_loss)."""
    history = read_history(history_csv)
    fig = new_figure(figsize=(6.0, 4.0))
    ax = fig.subplots()
    for column, style in (
        ("loss", {"linewidth": 2.0}),
        ("val_loss", {"linestyle": "--"}),
        ("shape_loss", {"linewidth": 1.0}),
        ("energy_loss", {"linewidth": 1.0}),
        ("val_energy_loss", {"linewidth": 1.0, "linestyle": "--"}),
    ):
        if column in history:
            ax.plot(history["epoch"], history[column], marker="o", markersize=3, label=column, **style)
    ax.set_xlabel("epoch")
    ax.set_ylabel("negative log-likelihood per feature [nats]")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, out_png)


def plot_history(history_csv: str | Path, out_png: str | Path) -> Path:
    """Two panels (generator, discriminator): the weighted total, its validation value if logged, and
    the unweighted parts (MAPE in %, angle MAE in rad, cross-entropy), on a log axis. Same CSV, same bytes."""
    history = read_history(history_csv)
    fig = new_figure(figsize=(10.0, 4.0))
    axes = fig.subplots(1, 2)
    for ax, (title, prefix, total, validation) in zip(axes, PANELS):
        columns = [c for c in (total, validation) if c in history] + sorted(c for c in history if c.startswith(prefix))
        for column in columns:
            style = {"linewidth": 2.0} if column == total else {"linestyle": "--"} if column == validation else {}
            ax.plot(history["epoch"], history[column].clip(lower=1e-6), marker="o", markersize=3, label=column, **style)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_title(title)
        ax.legend(ncol=2)
    fig.tight_layout()
    return save_figure(fig, out_png)
