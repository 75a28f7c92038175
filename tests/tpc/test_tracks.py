import numpy as np
import pytest

from tests.tpc.tpc_samples import SIMULATE
from twins.tpc.tracks import FEATURES, GEV_PER_TESLA_METRE, chunk_segments, cross_rows, sample_segments, sample_tracks


def test_segments_lie_in_the_drift_volume_and_are_reproducible(detector, segments):
    assert set(FEATURES) <= set(segments) and len(segments["pt"]) == 400
    assert np.all((segments["drift_length"] > 0) & (segments["drift_length"] <= detector.max_drift_cm))
    assert np.all(np.abs(segments["crossing_angle"]) < np.radians(60))
    assert np.all((segments["pad_row"] >= 0) & (segments["pad_row"] < detector.n_rows))
    again = sample_segments(400, detector, SIMULATE, np.random.default_rng(3))
    for key in FEATURES:
        np.testing.assert_array_equal(segments[key], again[key])


def test_crossing_angle_follows_the_helix_curvature(detector):
    """A track from the origin meets radius r at an angle to the radial direction with sin = r / (2R)."""
    settings = {**SIMULATE, "vertex": {"sigma_xy_cm": 0.0, "sigma_z_cm": 0.0}}
    rng = np.random.default_rng(0)
    tracks = sample_tracks(3000, settings, rng)
    rows = rng.integers(0, detector.n_rows, 3000)
    seg = cross_rows(tracks, rows, detector, np.radians(89), 0.13957)
    ok = np.isfinite(seg["drift_length"])
    d = detector.row_distances_cm[rows][ok]
    x = seg["pad_coordinate"][ok] * detector.pad_pitch_cm
    radius = tracks["pt"][ok] / (GEV_PER_TESLA_METRE * detector.magnetic_field_t) * 100
    to_radial = seg["crossing_angle"][ok] - np.arctan2(x, d)
    np.testing.assert_allclose(np.abs(np.sin(to_radial)), np.hypot(x, d) / (2 * radius), atol=1e-6)
    # low-pT tracks never reach the outer rows: 2R must exceed the row's radius
    assert np.all(2 * radius > d)
    # the drift length follows the dip: z = s tan(dip) from a vertex at z = 0
    assert ok.mean() > 0.3


def test_unknown_particle_is_refused(detector):
    with pytest.raises(ValueError, match="particle"):
        sample_segments(10, detector, {**SIMULATE, "particle": "muon"}, np.random.default_rng(0))


def test_chunks_split_the_total():
    assert [chunk_segments(7, 3, c) for c in range(3)] == [3, 2, 2]
    with pytest.raises(ValueError, match="tpc.simulate.chunks"):
        chunk_segments(7, 3, 3)
