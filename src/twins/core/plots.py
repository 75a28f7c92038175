"""Plotting style shared by the twins: one look, reference-vs-generated panels, training histories,
reproducible files.

Figures are made with `new_figure` (a bare matplotlib Figure, no pyplot state, Agg rendering) and
written with `save_figure`, which strips the metadata matplotlib would stamp into the file (its version,
dates), so identical data give byte-identical PNG/PDF/SVG files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from twins.core.io import InputFileError, atomic_path
from twins.core.metrics import histogram, shared_bins

REFERENCE_COLOUR = "0.35"
GENERATED_COLOUR = "#d62728"
RATIO_LIMITS = (0.5, 1.5)

STYLE = {
    "font.size": 10,
    "axes.labelsize": 10,
    "axes.titlesize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "axes.grid": False,
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "image.cmap": "viridis",
    "svg.hashsalt": "twins",  # fixed ids in SVG output
    "pdf.compression": 6,
}

# Keys each format would otherwise fill with the matplotlib version or the current date.
_STRIPPED_METADATA = {
    "png": {"Software": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
    "svg": {"Creator": None, "Date": None},
}


def use_style() -> None:
    """Apply the house style to matplotlib's global rcParams."""
    matplotlib.rcParams.update(STYLE)


def new_figure(figsize: tuple[float, float] = (6.0, 4.5), **kwargs) -> Figure:
    """A figure in the house style, detached from pyplot (nothing to close, no GUI backend)."""
    use_style()
    return Figure(figsize=figsize, **kwargs)


def main_and_ratio_axes(fig: Figure, subplot_spec=None) -> tuple[Axes, Axes]:
    """A main panel over a ratio panel a third its height, sharing the x axis."""
    if subplot_spec is None:
        grid = fig.add_gridspec(2, 1, height_ratios=(3, 1), hspace=0.05)
    else:
        grid = subplot_spec.subgridspec(2, 1, height_ratios=(3, 1), hspace=0.05)
    ax_main = fig.add_subplot(grid[0])
    ax_ratio = fig.add_subplot(grid[1], sharex=ax_main)
    ax_main.tick_params(labelbottom=False)
    return ax_main, ax_ratio


def steps_with_ratio(
    ax_main: Axes,
    ax_ratio: Axes,
    edges: np.ndarray,
    reference: np.ndarray,
    generated: np.ndarray,
    labels: Sequence[str],
    xlabel: str,
    ylabel: str,
    reference_err: np.ndarray | None = None,
    generated_err: np.ndarray | None = None,
    log: bool = False,
) -> None:
    """Draw two binned curves (values per bin, (n_bins,)) and their ratio generated / reference.

    The reference is a filled step, the generated curve a line with optional error bars; the ratio
    panel shows generated / reference with the propagated errors, 1 marked, limited to RATIO_LIMITS.
    log=True makes the x axis logarithmic.
    """
    edges = np.asarray(edges, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    gen = np.asarray(generated, dtype=np.float64)
    centres = np.sqrt(edges[:-1] * edges[1:]) if log else 0.5 * (edges[:-1] + edges[1:])
    ax_main.stairs(ref, edges, fill=True, color=REFERENCE_COLOUR, alpha=0.35, label=labels[0])
    ax_main.stairs(gen, edges, color=GENERATED_COLOUR, linewidth=1.5, label=labels[1])
    if generated_err is not None:
        ax_main.errorbar(centres, gen, yerr=generated_err, fmt="none", ecolor=GENERATED_COLOUR, linewidth=1)
    ax_main.set_ylabel(ylabel)
    ax_main.legend()

    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ref > 0, gen / ref, np.nan)
        rel2 = np.zeros_like(ref)
        if reference_err is not None:
            rel2 = rel2 + np.where(ref > 0, (np.asarray(reference_err) / ref) ** 2, 0.0)
        if generated_err is not None:
            rel2 = rel2 + np.where(gen > 0, (np.asarray(generated_err) / gen) ** 2, 0.0)
        ratio_err = np.abs(ratio) * np.sqrt(rel2)
    ax_ratio.axhline(1.0, color=REFERENCE_COLOUR, linewidth=1)
    ax_ratio.errorbar(centres, ratio, yerr=ratio_err, fmt="o", markersize=2.5, color=GENERATED_COLOUR, linewidth=1)
    lo, hi = RATIO_LIMITS
    margin = 0.04 * (hi - lo)
    for outside, level, marker in ((ratio > hi, hi - margin, "^"), (ratio < lo, lo + margin, "v")):
        if np.any(outside):  # mark ratios off the panel at its edge
            ax_ratio.plot(centres[outside], np.full(outside.sum(), level), marker, color=GENERATED_COLOUR, markersize=4)
    ax_ratio.set_ylim(lo, hi)
    ax_ratio.set_ylabel("gen. / ref.")
    ax_ratio.set_xlabel(xlabel)
    if log:
        ax_main.set_xscale("log")


def hist_with_ratio(
    ax_main: Axes,
    ax_ratio: Axes,
    reference: np.ndarray,
    generated: np.ndarray,
    bins: int | np.ndarray,
    labels: Sequence[str],
    xlabel: str,
    log: bool = False,
) -> dict[str, np.ndarray]:
    """Histogram two samples (1-D, any length) with shared bins, normalised to unit area, plus their ratio.

    bins: number of bins (shared_bins over both samples, logarithmic if log) or the edges themselves.
    Error bars are the Poisson errors of the counts. Returns {'edges', 'reference', 'generated'} with
    the normalised densities, (n_bins,) each.
    """
    reference = np.ravel(reference)
    generated = np.ravel(generated)
    edges = shared_bins(reference, generated, bins, log=log) if np.ndim(bins) == 0 else np.asarray(bins, float)
    widths = np.diff(edges)
    out = {"edges": edges}
    errors = {}
    for name, sample in (("reference", reference), ("generated", generated)):
        counts = histogram(sample, edges)
        norm = max(counts.sum(), 1.0) * widths
        out[name] = counts / norm
        errors[name] = np.sqrt(counts) / norm
    steps_with_ratio(
        ax_main,
        ax_ratio,
        edges,
        out["reference"],
        out["generated"],
        labels,
        xlabel,
        "normalised entries",
        reference_err=errors["reference"],
        generated_err=errors["generated"],
        log=log,
    )
    return out


def save_figure(fig: Figure, path: str | Path, dpi: int | None = None) -> Path:
    """Write `fig` to `path` atomically (format from the suffix), without version or date metadata,
    so the same figure always gives the same bytes. Returns the path."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if not fmt:
        raise ValueError(f"{path}: figure path needs a suffix naming the format, e.g. .png or .pdf")
    metadata = _STRIPPED_METADATA.get(fmt)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)
    return path


@dataclass(frozen=True)
class HistoryPanel:
    """One panel of a training-history figure.

    columns: history columns drawn in this order; missing ones are skipped, and a name ending in '*' draws
        every column with that prefix (sorted). The first column drawn is bold, 'val_' columns are dashed.
    ylabel, title: the panel's labels; log: logarithmic y axis (values clipped at 1e-6); ylim: fixed limits.
    """

    columns: tuple[str, ...]
    ylabel: str = "loss"
    title: str = ""
    log: bool = False
    ylim: tuple[float, float] | None = None

    def present(self, history: pd.DataFrame) -> list[str]:
        chosen: list[str] = []
        for name in self.columns:
            if name.endswith("*"):
                chosen += sorted(c for c in history.columns if c.startswith(name[:-1]) and c not in chosen)
            elif name in history.columns and name not in chosen:
                chosen.append(name)
        return chosen


def read_history(path: str | Path) -> pd.DataFrame:
    """A training history CSV (one row per epoch, an 'epoch' column); InputFileError naming the file otherwise."""
    try:
        history = pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError) as err:
        raise InputFileError(f"{path}: cannot read the training history ({err})") from None
    if "epoch" not in history or history.empty:
        raise InputFileError(f"{path}: no 'epoch' column or no rows; not a training history")
    return history


def plot_history(
    history: pd.DataFrame | str | Path,
    out_png: str | Path,
    panels: Sequence[HistoryPanel],
    title: str | None = None,
) -> Path:
    """Losses (and other per-epoch figures) against the epoch, one panel per HistoryPanel, side by side."""
    if not isinstance(history, pd.DataFrame):
        history = read_history(history)
    fig = new_figure(figsize=(1.0 + 4.5 * len(panels), 4.0))
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, panel in zip(axes, panels):
        columns = panel.present(history)
        for k, column in enumerate(columns):
            style = {"linewidth": 2.0} if k == 0 else {}
            if column.startswith("val_"):
                style["linestyle"] = "--"
            values = history[column].clip(lower=1e-6) if panel.log else history[column]
            ax.plot(history["epoch"], values, marker="o", markersize=3, label=column, **style)
        if panel.log:
            ax.set_yscale("log")
        if panel.ylim is not None:
            ax.set_ylim(*panel.ylim)
        ax.set_xlabel("epoch")
        ax.set_ylabel(panel.ylabel)
        if panel.title:
            ax.set_title(panel.title)
        if columns:
            ax.legend(ncol=2 if len(columns) > 4 else 1)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, out_png)
