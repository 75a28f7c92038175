"""Candidates matched to injections (exact, DM-offset, spurious, shared) and recall per S/N bin."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from twins.pulsar.dispersion import dispersion_delay
from twins.pulsar.injection import draw_injections, inject
from twins.pulsar.matching import match_candidates, recall_by_snr

# 256 channels from 1712 MHz down to 856 MHz, 0.5 ms samples
HEADER = {"nchans": 256, "fch1": 1710.328125, "foff": -3.34375, "tsamp": 5e-4}
FREQS = HEADER["fch1"] + HEADER["foff"] * np.arange(HEADER["nchans"])
F_TOP, F_BOTTOM = FREQS.max(), FREQS.min()
F_MID = ((F_TOP**-2 + F_BOTTOM**-2) / 2) ** -0.5


def truth_table(samples, dms, width_s=2e-3):
    return pd.DataFrame({"sample": samples, "dm": dms, "width_s": width_s, "snr": 10.0})


def candidates_table(rows):
    """rows: (sample, dm, width in samples, snr)."""
    table = pd.DataFrame(rows, columns=["sample", "dm", "width", "snr"])
    table["time_s"] = table["sample"] * HEADER["tsamp"]
    table["width_s"] = table["width"] * HEADER["tsamp"]
    return table


def same_centre_time(sample, dm, new_dm):
    """The top-of-band arrival sample at `new_dm` of a pulse that crosses F_MID when `sample` at `dm` does."""
    shift = dispersion_delay(dm, F_MID, F_TOP) - dispersion_delay(new_dm, F_MID, F_TOP)
    return int(round(sample + shift / HEADER["tsamp"]))


def test_exact_offset_and_spurious_candidates():
    truth = truth_table([10_000, 30_000, 50_000], [100.0, 500.0, 800.0])
    candidates = candidates_table(
        [
            (10_000, 100.0, 4, 12.0),  # exact
            (same_centre_time(30_000, 500.0, 520.0), 520.0, 4, 9.0),  # 20 off in DM, same time at F_MID
            (same_centre_time(30_000, 500.0, 505.0), 505.0, 4, 11.0),  # a brighter duplicate of the same pulse
            (20_000, 300.0, 4, 30.0),  # spurious: no injection there
            (50_000, 1200.0, 4, 15.0),  # the third injection's time at the top, far off in DM
        ]
    )
    cand_truth, truth_cand = match_candidates(candidates, truth, HEADER)
    np.testing.assert_array_equal(cand_truth, [0, 1, 1, -1, -1])
    np.testing.assert_array_equal(truth_cand, [0, 2, -1])  # the brighter duplicate; the third is missed


def test_dm_tolerance_grows_with_width():
    truth_narrow = truth_table([10_000], [300.0], width_s=1e-3)
    truth_wide = truth_table([10_000], [300.0], width_s=40e-3)
    offset = 300.0 + 30.0  # 10% off: beyond the tolerance of a 1 ms pulse (~16), within that of a 40 ms one (~35)
    candidate = candidates_table([(same_centre_time(10_000, 300.0, offset), offset, 2, 8.0)])
    assert match_candidates(candidate, truth_narrow, HEADER)[1][0] == -1
    assert match_candidates(candidate, truth_wide, HEADER)[1][0] == 0


def test_a_candidate_near_two_injections_goes_to_the_nearer():
    truth = truth_table([10_000, 10_012], [200.0, 200.0])
    candidates = candidates_table([(10_010, 200.0, 4, 10.0)])
    cand_truth, truth_cand = match_candidates(candidates, truth, HEADER)
    np.testing.assert_array_equal(cand_truth, [1])
    np.testing.assert_array_equal(truth_cand, [-1, 0])
    # a second candidate near the first injection: both found
    both = candidates_table([(10_010, 200.0, 4, 10.0), (10_001, 201.0, 4, 7.0)])
    np.testing.assert_array_equal(match_candidates(both, truth, HEADER)[1], [1, 0])


def test_far_in_time_is_no_match_and_empty_inputs_work():
    truth = truth_table([10_000], [200.0])
    far = candidates_table([(10_200, 200.0, 4, 10.0)])  # 100 ms off, pulse 2 ms wide
    assert match_candidates(far, truth, HEADER)[1][0] == -1
    cand_truth, truth_cand = match_candidates(candidates_table([]), truth, HEADER)
    assert cand_truth.shape == (0,) and list(truth_cand) == [-1]
    cand_truth, truth_cand = match_candidates(far, truth.iloc[:0], HEADER)
    assert list(cand_truth) == [-1] and truth_cand.shape == (0,)


def test_injection_truth_matches_itself_as_candidates():
    truth = draw_injections(np.random.default_rng(0), {"per_realisation": 5}, HEADER, 40_000)
    _, truth = inject(np.zeros((40_000, HEADER["nchans"]), np.float32), HEADER, truth, np.ones(HEADER["nchans"]))
    candidates = truth.assign(width=truth["width_samples_best"])[["sample", "dm", "width", "snr"]]
    cand_truth, truth_cand = match_candidates(candidates, truth, HEADER)
    np.testing.assert_array_equal(cand_truth, np.arange(len(truth)))
    np.testing.assert_array_equal(truth_cand, np.arange(len(truth)))


def test_recall_by_snr_counts_and_clopper_pearson_intervals():
    truth = pd.DataFrame({"snr": [5.0, 6.0, 7.0, 9.0, 12.0, 15.0, 20.0]})
    found = np.array([False, False, True, True, True, True, True])
    rows = recall_by_snr(truth, found, [5, 8, 12, 20, 30, 40])
    assert [(r["injected"], r["found"]) for r in rows] == [(3, 1), (1, 1), (2, 2), (1, 1), (0, 0)]
    assert rows[0]["recall"] == pytest.approx(1 / 3)
    assert rows[0]["low"] == pytest.approx(stats.beta.ppf(0.025, 1, 3))
    assert rows[0]["high"] == pytest.approx(stats.beta.ppf(0.975, 2, 2))
    assert rows[2]["high"] == 1.0 and rows[2]["low"] == pytest.approx(0.025 ** (1 / 2))
    assert np.isnan(rows[4]["recall"]) and np.isnan(rows[4]["low"])
    assert recall_by_snr(truth, found, [5, 20])[0]["injected"] == 7  # the last edge is inclusive
    assert rows[1]["snr_min"] == 8 and rows[1]["snr_max"] == 12
    with pytest.raises(ValueError, match="found_mask"):
        recall_by_snr(truth, found[:3], [5, 30])
