"""The virgo twin's summary page (rule virgo_report): accuracies at the seeds' thresholds, the ANNALISA
channel ranking with the simulator's truth, and the latency of the online chain (through twins.core.report)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from twins.core.report import escape, table, write_page

TITLE = "Virgo twin (GlitchFlow): veto, de-noising and channel selection"


def accuracy_table(metrics: dict) -> pd.DataFrame:
    """One row per seeds' threshold: veto and de-noising accuracy (with the seeds' figures) and the
    glitch-free fraction before de-noising."""
    rows = []
    for key, a in metrics["accuracy"].items():
        rows.append(
            {
                "threshold": f"{key.replace('snr_', 'S/N ')} (E = {a['energy_threshold']:g})",
                "veto accuracy": f"{a['veto_accuracy']:.3f} (seeds {a['seeds_veto']})",
                "de-noising accuracy": f"{a['denoising_accuracy']:.3f} (seeds {a['seeds_denoising']})",
                "glitch-free before de-noising": f"{a['raw_clean_fraction']:.3f}",
            }
        )
    return pd.DataFrame(rows)


def summary_sections(metrics: dict, ranking: pd.DataFrame) -> list[str]:
    """The page's sections (HTML fragments): accuracies, channel ranking and selection scores, latency."""
    sel, lat = metrics["channel_selection"], metrics["latency"]
    return [
        "<h3>Veto and de-noising accuracy (held-out simulated test set, "
        f"{metrics['n_test']} spectrograms, glitch = cluster of &ge; {metrics['min_cluster_pixels']} pixels)</h3>",
        table(accuracy_table(metrics), index=False),
        "<h3>ANNALISA channel ranking</h3>",
        table(ranking, digits=3, index=False),
        f"<p>precision {sel['precision']:.2f}, recall {sel['recall']:.2f}, decoys selected "
        f"{sel['decoys_selected']}; target met: {sel['target_met']}</p>",
        f"<h3>Latency</h3><p>whitening + Q-transform (strain + {lat['channels']} channels) + inference: "
        f"{lat['real_time_factor']:.0f}&times; real time on {lat['threads']} thread(s) "
        f"({escape(str(lat['segments']))} segments); target 100&times;</p>",
    ]


def write_summary(path: str | Path, metrics: dict, ranking: pd.DataFrame) -> Path:
    """summary.html: the metrics of rule virgo_validate and the ranking of rule virgo_preprocess as one page."""
    return write_page(path, TITLE, summary_sections(metrics, ranking))
