"""Figures of the lattice twin: training history (loss and ESS), the m or Q histogram of HMC against NF-MCMC,
and the NF-MCMC acceptance against the lattice size (through twins.core.plots)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from twins.core.plots import GENERATED_COLOUR, REFERENCE_COLOUR, HistoryPanel, new_figure, plot_history, save_figure

TRAINING_PANELS = (
    HistoryPanel(("loss",), ylabel=r"reverse KL loss $\langle \log q + S \rangle$"),
    HistoryPanel(("ess",), ylabel="ESS / N", ylim=(0.0, 1.0)),
)


def plot_training(history: pd.DataFrame | str | Path, path: str | Path, ensemble: str) -> Path:
    """Reverse-KL loss and ESS of fresh samples per epoch, side by side."""
    return plot_history(history, path, TRAINING_PANELS, title=ensemble)


def plot_histogram(
    hmc_series: np.ndarray, nf_series: np.ndarray, theory_name: str, ensemble: str, path: str | Path
) -> None:
    """Density of the magnetisation per site m (phi^4) or the topological charge Q (U(1), unit bins centred on
    the integers) of the HMC (n,) and NF-MCMC (n',) chains."""
    fig = new_figure((5.5, 4.0))
    ax = fig.subplots()
    label = "magnetisation per site m" if theory_name == "phi4" else "topological charge Q"
    if theory_name == "u1":
        q_max = int(max(np.abs(hmc_series).max(), np.abs(nf_series).max(), 1))
        bins = np.arange(-q_max - 0.5, q_max + 1.0)
    else:
        bins = np.histogram_bin_edges(np.concatenate([hmc_series, nf_series]), bins=40)
    ax.hist(hmc_series, bins=bins, density=True, color=REFERENCE_COLOUR, alpha=0.4, label="HMC")
    ax.hist(nf_series, bins=bins, density=True, histtype="step", color=GENERATED_COLOUR, linewidth=1.5, label="NF-MCMC")
    ax.set_xlabel(label)
    ax.set_ylabel("density")
    ax.set_title(ensemble)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def couplings_label(summary: dict) -> str:
    """'phi4 form=hopping, kappa=0.25, lam=0.5' from a validation summary."""
    return f"{summary['theory']} " + ", ".join(f"{k}={v}" for k, v in sorted(summary["couplings"].items()))


def plot_acceptance_vs_size(summaries: list[dict], path: str | Path) -> None:
    """NF-MCMC acceptance against the linear lattice size L, one line per theory and couplings."""
    groups: dict[str, list[tuple[int, float]]] = {}
    for s in summaries:
        groups.setdefault(couplings_label(s), []).append((max(s["shape"]), s["nf_acceptance"]))
    fig = new_figure((5.5, 4.0))
    ax = fig.subplots()
    for i, (label, points) in enumerate(sorted(groups.items())):
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", color=f"C{i}", label=label)
    ax.set_xlabel("lattice size L")
    ax.set_ylabel("NF-MCMC acceptance")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
