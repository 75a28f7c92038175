"""Figures of the TPC twin: moment profiles, moment distributions, example responses, training losses and the
Fast4/Fast6 comparison, all in the house style of twins.core.plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twins.core.plots import (
    GENERATED_COLOUR,
    RATIO_LIMITS,
    REFERENCE_COLOUR,
    HistoryPanel,
    hist_with_ratio,
    main_and_ratio_axes,
    new_figure,
    plot_history,
    save_figure,
)
from twins.tpc.metrics import CONDITION_LABELS, CONDITIONS, MOMENT_LABELS, MOMENTS

# moments centred on 0, whose ratio means nothing: their lower panel shows the difference instead
CENTRED_MOMENTS = ("pad_time_cov",)
LOSS_PANELS = (
    HistoryPanel(("critic_loss", "generator_loss"), ylabel="loss"),
    HistoryPanel(("wasserstein", "val_wasserstein"), ylabel="critic estimate of the Wasserstein distance"),
)
COMPARISON_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def plot_losses(history_csv: str | Path, out_png: str | Path) -> Path:
    """Critic and generator losses (left) and the critic's Wasserstein estimates, training and validation
    (right), per epoch of a tpc_train history."""
    return plot_history(history_csv, out_png, LOSS_PANELS)


def plot_profiles(table: dict[str, dict[str, Any]], out_png: str | Path, variant: str) -> None:
    """Rows: moments; columns: conditions (`twins.tpc.metrics.profile_table`). Points: mean per bin; band
    (simulated) and dashed lines (generated): mean +- width; ratio panel: generated / simulated mean."""
    fig = new_figure(figsize=(3.0 * len(CONDITIONS), 2.9 * len(MOMENTS)))
    grid = fig.add_gridspec(len(MOMENTS), len(CONDITIONS), hspace=0.35, wspace=0.35)
    for col, condition in enumerate(CONDITIONS):
        for row, moment in enumerate(MOMENTS):
            entry = table[condition][moment]
            ax, ax_ratio = main_and_ratio_axes(fig, grid[row, col])
            edges = entry["edges"]
            centres = 0.5 * (edges[:-1] + edges[1:])
            ref, gen = entry["reference"], entry["generated"]
            _profile_panel(ax, centres, ref, gen, variant)
            ax.set_title(f"chi2/ndf = {entry['chi2']:.1f}/{entry['ndf']}", fontsize=8)
            if col == 0:
                ax.set_ylabel(MOMENT_LABELS[moment], fontsize=7)
            if row == 0 and col == 0:
                ax.legend(fontsize=7)
            _lower_panel(ax_ratio, centres, ref, gen, difference=moment in CENTRED_MOMENTS)
            ax_ratio.set_xlabel(CONDITION_LABELS[condition], fontsize=7)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.04, top=0.98)
    save_figure(fig, out_png)


def _profile_panel(ax, centres: np.ndarray, ref: dict, gen: dict, variant: str) -> None:
    """One profile: the simulated mean with its band of +- width, the generated mean with dashed +- width."""
    ax.fill_between(
        centres,
        ref["mean"] - ref["width"],
        ref["mean"] + ref["width"],
        color=REFERENCE_COLOUR,
        alpha=0.25,
        linewidth=0,
    )
    ax.errorbar(centres, ref["mean"], ref["mean_err"], fmt="o", color=REFERENCE_COLOUR, markersize=3, label="simulated")
    ax.errorbar(centres, gen["mean"], gen["mean_err"], fmt="s", color=GENERATED_COLOUR, markersize=3, label=variant)
    for sign in (-1, 1):
        ax.plot(centres, gen["mean"] + sign * gen["width"], "--", color=GENERATED_COLOUR, linewidth=0.8)


def _lower_panel(ax, centres: np.ndarray, ref: dict, gen: dict, difference: bool) -> None:
    """generated / simulated mean, or their difference for moments centred on 0 (a ratio means nothing there)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if difference:
            value, error, level, label = (
                gen["mean"] - ref["mean"],
                np.hypot(gen["mean_err"], ref["mean_err"]),
                0.0,
                "gen.-sim.",
            )
        else:
            value = gen["mean"] / ref["mean"]
            error = np.abs(value) * np.hypot(gen["mean_err"] / gen["mean"], ref["mean_err"] / ref["mean"])
            level, label = 1.0, "gen./sim."
    ax.axhline(level, color=REFERENCE_COLOUR, linewidth=1)
    ax.errorbar(centres, value, error, fmt="o", color=GENERATED_COLOUR, markersize=2)
    if not difference:
        ax.set_ylim(*RATIO_LIMITS)
    ax.set_ylabel(label, fontsize=7)


def plot_moment_distributions(
    ref_mom: dict[str, np.ndarray], gen_mom: dict[str, np.ndarray], n_bins: int, out_png: str | Path, variant: str
) -> None:
    """Histograms of every moment over the test set, simulated vs generated, with their ratio (NaN moments of
    empty responses left out)."""
    fig = new_figure(figsize=(12.0, 7.0))
    grid = fig.add_gridspec(2, 3, hspace=0.3, wspace=0.3)
    for k, moment in enumerate(MOMENTS):
        ax, ax_ratio = main_and_ratio_axes(fig, grid[k // 3, k % 3])
        ref, gen = ref_mom[moment], gen_mom[moment]
        hist_with_ratio(
            ax,
            ax_ratio,
            ref[np.isfinite(ref)],
            gen[np.isfinite(gen)],
            n_bins,
            ("simulated", variant),
            MOMENT_LABELS[moment],
        )
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.08, top=0.97, wspace=0.35)
    save_figure(fig, out_png)


def plot_examples(
    reference: np.ndarray,
    generated: np.ndarray,
    features: dict[str, np.ndarray],
    n: int,
    out_png: str | Path,
    variant: str,
) -> None:
    """The first n test segments: simulated (top) and generated (bottom) response (N, pads, buckets), same
    colour scale per column; titles give the segment's features."""
    n = min(n, len(reference))
    fig = new_figure(figsize=(2.4 * n, 4.2))
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        vmax = max(float(reference[i].max()), float(generated[i].max()), 1.0)
        for row, (image, label) in enumerate(((reference[i], "simulated"), (generated[i], variant))):
            ax = axes[row, i]
            ax.imshow(image, origin="lower", aspect="auto", vmin=0, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(f"{label}\npad", fontsize=8)
        axes[0, i].set_title(
            f"a={features['crossing_angle'][i]:.2f} d={features['dip_angle'][i]:.2f}\n"
            f"L={features['drift_length'][i]:.0f} cm row {int(features['pad_row'][i])}",
            fontsize=7,
        )
        axes[1, i].set_xlabel("time bucket", fontsize=8)
    fig.tight_layout()
    save_figure(fig, out_png)


def plot_comparison(frame: pd.DataFrame, out_png: str | Path) -> None:
    """chi^2/ndf per condition (all moments pooled as the mean of their chi^2/ndf) for every variant and the
    floor (the columns of `twins.tpc.report.chi2_frame`), on a log axis."""
    names = list(frame.columns)
    fig = new_figure(figsize=(9.0, 4.0))
    ax = fig.subplots()
    x = np.arange(len(CONDITIONS))
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        values = [frame.loc[c, name].loc[list(MOMENTS)].mean() for c in CONDITIONS]
        colour = REFERENCE_COLOUR if name == "simulation floor" else COMPARISON_COLOURS[k % len(COMPARISON_COLOURS)]
        ax.bar(x + (k - (len(names) - 1) / 2) * width, values, width, label=name, color=colour)
    ax.set_xticks(x, CONDITIONS)
    ax.set_yscale("log")
    ax.set_ylabel("mean chi2/ndf of the moment profiles")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, out_png)
