"""ANNALISA channel selection: which auxiliary channels witness the strain's glitches.

For every segment, a channel's spike mask is the set of time bins whose loudest Q-tile exceeds the
threshold (normalised tile energy E >= snr^2 / 2). A strain spike (connected run of spike bins) is
coincident with a channel when the channel has a spike bin within +-`window` seconds of it. A channel's
score is the fraction of strain spikes it coincides with; the overlap of the masks is their Jaccard index.
The chance score is what a channel with the same spike duty cycle but no coupling would get.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from twins.core.config import resolve


def spike_mask(energy: np.ndarray, snr_threshold: float) -> np.ndarray:
    """(n_seg, n_time) bool: time bins whose loudest tile has S/N = sqrt(2E) >= snr_threshold.

    energy: (n_seg, n_freq, n_time) normalised tile energies.
    """
    return energy.max(axis=1) >= snr_threshold**2 / 2.0


def coincidence_table(
    strain_energy: np.ndarray,
    aux_energy: np.ndarray,
    names: list[str],
    bin_seconds: float,
    settings: dict | None = None,
) -> pd.DataFrame:
    """Rank auxiliary channels by coincidence with strain spikes.

    strain_energy: (n_seg, n_freq, n_time); aux_energy: (n_seg, n_channels, n_freq_aux, n_time) on the same
    time bins of width bin_seconds [s]. settings: config virgo.preprocess.annalisa (strain_snr, aux_snr,
    window_s, keep_fraction; schema defaults filled in). Returns one row per channel, best first: rank,
    channel, coincident_fraction, mask_overlap (Jaccard), chance_fraction, aux_spikes, strain_spikes, selected.
    """
    settings = resolve("virgo.preprocess.annalisa", settings)
    strain_mask = spike_mask(strain_energy, settings["strain_snr"])
    labels, n_spikes = ndimage.label(strain_mask, structure=[[0, 0, 0], [1, 1, 1], [0, 0, 0]])
    reach = int(np.ceil(settings["window_s"] / bin_seconds))
    rows = []
    for c, name in enumerate(names):
        mask = spike_mask(aux_energy[:, c], settings["aux_snr"])
        widened = ndimage.binary_dilation(mask, structure=np.ones((1, 2 * reach + 1), bool)) if reach else mask
        hit = np.unique(labels[widened & (labels > 0)])
        union = np.logical_or(strain_mask, mask).sum()
        rows.append(
            {
                "channel": name,
                "coincident_fraction": len(hit) / n_spikes if n_spikes else 0.0,
                "mask_overlap": float(np.logical_and(strain_mask, mask).sum() / union) if union else 0.0,
                "chance_fraction": float(widened.mean()),
                "aux_spikes": int(ndimage.label(mask, structure=[[0, 0, 0], [1, 1, 1], [0, 0, 0]])[1]),
                "strain_spikes": int(n_spikes),
            }
        )
    table = pd.DataFrame(rows).sort_values(["coincident_fraction", "mask_overlap"], ascending=False)
    table["selected"] = table["coincident_fraction"] >= settings["keep_fraction"]
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table.reset_index(drop=True)


def selected_channels(table: pd.DataFrame, keep_fraction: float) -> list[str]:
    """The channels `coincidence_table` selected, best first; ValueError naming the threshold when none is."""
    selected = table.loc[table["selected"], "channel"].tolist()
    if not selected:
        raise ValueError(
            f"ANNALISA kept no channel (best coincident fraction {table['coincident_fraction'].max():.2f} < "
            f"virgo.preprocess.annalisa.keep_fraction {keep_fraction}); lower it or the S/N thresholds"
        )
    return selected
