"""ANNALISA: coincidence ranking of the auxiliary channels and the selection it makes."""

import numpy as np
import pandas as pd
import pytest

from twins.virgo.annalisa import coincidence_table, selected_channels


def _spectrograms(rng, n, spikes, f=8, t=32):
    """Exponential (white-noise) energies with a loud block at the given (segment, time bin)s."""
    energy = rng.exponential(1.0, (n, f, t))
    for seg, tb in spikes:
        energy[seg, 2:5, tb : tb + 2] = 100.0
    return energy


def test_coupled_channel_ranks_first_and_decoys_are_dropped():
    rng = np.random.default_rng(0)
    n = 40
    times = [(s, rng.integers(2, 28)) for s in range(0, n, 2)]  # glitches in every other segment
    strain = _spectrograms(rng, n, times)
    coupled = _spectrograms(rng, n, [(s, tb + 1) for s, tb in times])  # within the window
    decoy = _spectrograms(rng, n, [(s + 1, tb) for s, tb in times])  # spikes, but never together with strain
    quiet = _spectrograms(rng, n, [])
    aux = np.stack([decoy, quiet, coupled], axis=1)
    table = coincidence_table(
        strain, aux, ["decoy", "quiet", "coupled"], bin_seconds=0.0625, settings={"window_s": 0.125}
    )
    assert table.iloc[0]["channel"] == "coupled" and table.iloc[0]["coincident_fraction"] == 1.0
    assert table.set_index("channel").loc["decoy", "coincident_fraction"] == 0.0
    assert table["selected"].tolist() == [True, False, False]
    assert list(table["rank"]) == [1, 2, 3]


def test_an_empty_selection_names_the_threshold_to_lower():
    table = pd.DataFrame({"channel": ["a", "b"], "coincident_fraction": [0.3, 0.1], "selected": [False, False]})
    with pytest.raises(ValueError, match="virgo.preprocess.annalisa.keep_fraction 0.5"):
        selected_channels(table, 0.5)
    assert selected_channels(table.assign(selected=[True, False]), 0.2) == ["a"]
