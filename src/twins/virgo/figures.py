"""The virgo twin's figures: training losses, test-set example spectrograms, accuracy vs threshold, and the
GW150914 Q-scan (all through twins.core.plots)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from twins.core.config import resolve
from twins.core.plots import HistoryPanel, new_figure, plot_history, save_figure
from twins.virgo.io import GeneratedSet
from twins.virgo.metrics import SEED_FIGURES
from twins.virgo.qtransform import QGram

LOSS_LABELS = {
    "amplitude": "L1 loss (strain amplitude $\\sqrt{E}$)",
    "energy": "L1 loss (strain energy $E$)",
}


def training_losses(history: pd.DataFrame | str | Path, out_png: str | Path, settings: dict | None) -> Path:
    """Training and validation L1 per epoch (history columns loss, val_loss), labelled with the loss domain
    of settings (config virgo.train)."""
    loss_domain = resolve("virgo.train", settings)["loss_domain"]
    panel = HistoryPanel(("loss", "val_loss"), ylabel=LOSS_LABELS[loss_domain])
    return plot_history(history, out_png, [panel])


def _image(ax: Axes, image: np.ndarray, freqs: np.ndarray, extent_t, title: str, vmax=None, cmap="viridis"):
    """A spectrogram (F, T) on log-spaced frequency rows from freqs[0] to freqs[-1] over the time span extent_t."""
    time_edges = np.linspace(*extent_t, image.shape[1] + 1)
    mesh = ax.pcolormesh(
        time_edges,
        np.geomspace(freqs[0], freqs[-1], image.shape[0] + 1),
        image,
        shading="flat",
        vmin=0,
        vmax=vmax,
        cmap=cmap,
        rasterized=True,
    )
    ax.set_yscale("log")
    ax.set_title(title)
    return mesh


def example_segments(generated: GeneratedSet, n_examples: int) -> list[int]:
    """The loudest n_examples - 1 glitches of the test set (by catalogue S/N) and its first background segment."""
    labels, snr = generated.meta["label"].to_numpy(), generated.meta["snr"].to_numpy()
    glitches = np.flatnonzero(labels == "glitch")
    backgrounds = np.flatnonzero(labels == "background")
    loudest = glitches[np.argsort(-np.nan_to_num(snr[glitches]))]
    return list(loudest[: n_examples - 1]) + list(backgrounds[:1])


def examples(generated: GeneratedSet, n_examples: int, out_png: str | Path) -> Path:
    """One row per example segment: the first selected aux channel's energy (an input), the real strain
    energy, the generated energy (own scale) and the de-noised residual (on the real strain's scale)."""
    labels, snr = generated.meta["label"].to_numpy(), generated.meta["snr"].to_numpy()
    offsets = generated.time_offsets
    chosen = example_segments(generated, n_examples)
    span = (offsets[0] - (offsets[1] - offsets[0]) / 2, offsets[-1] + (offsets[1] - offsets[0]) / 2)
    s_freqs, a_freqs = generated.strain_frequencies, generated.aux_frequencies
    fig = new_figure((12, 2.6 * len(chosen)))
    axes = fig.subplots(len(chosen), 4, squeeze=False)
    for row, i in enumerate(chosen):
        real = generated.real_energy[i]
        vmax = float(np.percentile(real, 99.9))
        tag = f"S/N {snr[i]:.0f}" if labels[i] == "glitch" else "background"
        channel = generated.channels[0]
        _image(axes[row, 0], generated.inputs[i, 0] ** 2, a_freqs, span, f"aux {channel} (E)", cmap="magma")
        _image(axes[row, 1], real, s_freqs, span, f"real strain E ({tag})", vmax)
        gen_mesh = _image(axes[row, 2], generated.generated_energy[i], s_freqs, span, "generated E (own scale)")
        fig.colorbar(gen_mesh, ax=axes[row, 2])
        mesh = _image(axes[row, 3], generated.residual_energy[i], s_freqs, span, "de-noised residual E", vmax)
        fig.colorbar(mesh, ax=axes[row, 3])
        axes[row, 0].set_ylabel("frequency [Hz]")
    for ax in axes[-1]:
        ax.set_xlabel("time in segment [s]")
    fig.tight_layout()
    return save_figure(fig, out_png)


def accuracy_vs_threshold(curves: pd.DataFrame, out_png: str | Path) -> Path:
    """Veto and de-noising accuracy against the S/N threshold, the glitch-free fraction before de-noising,
    and the seeds' figures as stars."""
    fig = new_figure((6, 4))
    ax = fig.add_subplot()
    ax.plot(curves["snr_threshold"], curves["veto_accuracy"], "o-", label="veto accuracy")
    ax.plot(curves["snr_threshold"], curves["denoising_accuracy"], "s-", label="de-noising accuracy")
    ax.plot(
        curves["snr_threshold"], curves["raw_clean_fraction"], ":", color="0.5", label="glitch-free before de-noising"
    )
    for rho, seeds in SEED_FIGURES.items():
        ax.plot([rho], [seeds["veto"]], "*", color="C0", markersize=12, markeredgecolor="k")
        ax.plot([rho], [seeds["denoise"]], "*", color="C1", markersize=12, markeredgecolor="k")
    ax.plot([], [], "*", color="0.6", markeredgecolor="k", label="seeds (interTwin)")
    ax.set_xlabel("threshold S/N = $\\sqrt{2E}$ (E: normalised tile energy)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right")
    return save_figure(fig, out_png)


def qscan(gram: QGram, event_gps: float, out_png: str | Path) -> Path:
    """The whitened constant-Q scan around an event (time from event_gps), its loudest tile marked."""
    t_peak, f_peak, e_peak = gram.peak()
    fig = new_figure((6, 4))
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(
        gram.times - event_gps,
        gram.frequencies,
        gram.energy,
        shading="nearest",
        vmin=0,
        vmax=max(25.0, e_peak),
        rasterized=True,
    )
    ax.set_yscale("log")
    ax.plot([t_peak - event_gps], [f_peak], "x", color="w")
    ax.set_xlabel(f"time from GPS {event_gps} [s]")
    ax.set_ylabel("frequency [Hz]")
    ax.set_title(f"{gram.name}: GW150914, Q = {gram.q:g}")
    fig.colorbar(mesh, ax=ax, label="normalised energy E")
    return save_figure(fig, out_png)
