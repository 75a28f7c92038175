"""High-level shower features on hand-built showers with known answers."""

import numpy as np
import pytest

from tests.calo.stand_ins import stand_in_geometry
from twins.calo.features import default_radial_edges_mm, shower_features
from twins.calo.showers import ShowerSample

NX, NY, NZ = 6, 4, 5
PITCH_X, PITCH_Y, THICKNESS, X0 = 5.0, 4.0, 3.0, 6.0


HIT_THRESHOLD_GEV = 1.0e-5  # 10 keV


def make_geometry(nx=NX, ny=NY, nz=NZ):
    return stand_in_geometry(nx, ny, nz, PITCH_X, PITCH_Y, THICKNESS, x0=X0, moliere_mm=15.0)


def sample(cells, energy):
    cells = np.asarray(cells, dtype=np.float32)
    n = len(cells)
    return ShowerSample(cells, np.full(n, float(energy)), np.zeros(n), np.full(n, 22, np.int32))


def test_single_cell_gives_its_position_and_zero_width():
    cells = np.zeros((1, NX, NY, NZ))
    cells[0, 4, 1, 2] = 2.5
    f = shower_features(sample(cells, 10.0), make_geometry(), hit_threshold_gev=HIT_THRESHOLD_GEV)
    # cell (4, 1): x = (4 - 2.5) * 5 = 7.5 mm, y = (1 - 1.5) * 4 = -2 mm
    assert f.centre_x_mm[0, 2] == pytest.approx(7.5)
    assert f.centre_y_mm[0, 2] == pytest.approx(-2.0)
    assert f.width_x_mm[0, 2] == pytest.approx(0.0, abs=1e-6)
    assert f.width_y_mm[0, 2] == pytest.approx(0.0, abs=1e-6)
    assert np.all(f.centre_x_mm[0, [0, 1, 3, 4]] == 0)  # empty layers are 0 by convention
    assert f.e_ratio[0] == pytest.approx(0.25)
    assert f.layer_energy_gev[0].tolist() == pytest.approx([0, 0, 2.5, 0, 0])
    assert f.depth_centroid_x0[0] == pytest.approx(2.5 * THICKNESS / X0)
    assert f.n_hit[0] == 1
    assert f.cell_energies_gev.tolist() == [2.5]
    assert f.mean_radius_mm[0] == pytest.approx(0.0, abs=1e-6)  # the axis passes through the cell
    assert f.radial_energy_gev[0, 0] == pytest.approx(2.5)


def test_two_cells_give_midpoint_and_half_separation_width():
    cells = np.zeros((1, NX, NY, NZ))
    cells[0, 1, 2, 0] = 1.0  # x = -7.5 mm
    cells[0, 5, 2, 0] = 1.0  # x = +12.5 mm
    f = shower_features(sample(cells, 4.0), make_geometry(), hit_threshold_gev=HIT_THRESHOLD_GEV)
    assert f.centre_x_mm[0, 0] == pytest.approx(2.5)
    assert f.width_x_mm[0, 0] == pytest.approx(10.0)
    assert f.centre_y_mm[0, 0] == pytest.approx(2.0)
    assert f.width_y_mm[0, 0] == pytest.approx(0.0, abs=1e-6)
    # both cells lie 10 mm from the axis: the bin [10, 15) of the 5 mm radial bins
    assert f.mean_radius_mm[0] == pytest.approx(10.0)
    expected = np.zeros(len(f.radial_edges_mm) - 1)
    expected[2] = 2.0
    assert f.radial_energy_gev[0] == pytest.approx(expected)


def test_layer_split_gives_e_ratio_and_longitudinal_profile():
    cells = np.zeros((2, NX, NY, NZ))
    cells[0, 2, 2, 0] = 3.0
    cells[0, 3, 1, 2] = 7.0
    cells[1, 2, 2, 0] = 1.0
    cells[1, 2, 2, 2] = 1.0
    f = shower_features(sample(cells, 20.0), make_geometry(), hit_threshold_gev=HIT_THRESHOLD_GEV)
    assert f.e_ratio.tolist() == pytest.approx([0.5, 0.1])
    assert f.layer_energy_gev[0].tolist() == pytest.approx([3, 0, 7, 0, 0])
    # energy-weighted over the sample: 4 GeV in layer 0, 8 GeV in layer 2, of 12 GeV
    assert f.longitudinal_profile.tolist() == pytest.approx([1 / 3, 0, 2 / 3, 0, 0])
    assert f.longitudinal_profile.sum() == pytest.approx(1.0)
    assert f.depth_centroid_x0[0] == pytest.approx((0.3 * 0.5 + 0.7 * 2.5) * THICKNESS / X0)


def test_hit_threshold_selects_cells():
    cells = np.zeros((1, NX, NY, NZ))
    cells[0, 0, 0, 0] = 5e-6
    cells[0, 1, 0, 0] = 2e-5
    cells[0, 2, 0, 0] = 1.0
    geo = make_geometry()
    assert shower_features(sample(cells, 1.0), geo, hit_threshold_gev=HIT_THRESHOLD_GEV).n_hit.tolist() == [2]  # 10 keV
    low = shower_features(sample(cells, 1.0), geo, hit_threshold_gev=1e-6)
    assert low.n_hit.tolist() == [3]
    assert sorted(low.cell_energies_gev.tolist()) == pytest.approx([5e-6, 2e-5, 1.0])


def test_tilted_pencil_shower_is_narrow_around_its_axis():
    cells = np.zeros((1, NX, NY, NZ))
    for layer in range(NZ):
        cells[0, layer, 1, layer] = 1.0  # moves one cell in x per layer
    f = shower_features(sample(cells, 5.0), make_geometry(), hit_threshold_gev=HIT_THRESHOLD_GEV)
    assert f.centre_x_mm[0].tolist() == pytest.approx([-12.5, -7.5, -2.5, 2.5, 7.5])
    assert f.mean_radius_mm[0] == pytest.approx(0.0, abs=1e-6)
    assert f.radial_profile[0] == pytest.approx(1.0)


def test_chunking_does_not_change_results():
    rng = np.random.default_rng(0)
    cells = rng.gamma(0.3, 0.01, size=(11, NX, NY, NZ)) * (rng.random((11, NX, NY, NZ)) < 0.6)
    s = sample(cells, 3.0)
    whole = shower_features(s, make_geometry(), chunk_size=256, hit_threshold_gev=HIT_THRESHOLD_GEV)
    pieces = shower_features(s, make_geometry(), chunk_size=3, hit_threshold_gev=HIT_THRESHOLD_GEV)
    for name in ("e_ratio", "centre_x_mm", "width_y_mm", "radial_energy_gev", "mean_radius_mm", "n_hit"):
        assert np.allclose(getattr(whole, name), getattr(pieces, name)), name
    assert np.array_equal(np.sort(whole.cell_energies_gev), np.sort(pieces.cell_energies_gev))
    matrix, names = whole.high_level_matrix()
    assert matrix.shape == (11, 2 + 5 * NZ + 3) and len(names) == matrix.shape[1]
    assert np.all(np.isfinite(matrix))


def test_default_radial_edges_cover_the_grid():
    edges = default_radial_edges_mm(make_geometry())
    half_diagonal = 0.5 * np.hypot(NX * PITCH_X, NY * PITCH_Y)
    assert edges[0] == 0 and edges[-1] >= half_diagonal > edges[-2]
    assert np.allclose(np.diff(edges), max(PITCH_X, PITCH_Y))


def test_bad_inputs_raise():
    geo = make_geometry()
    with pytest.raises(ValueError, match=r"\(nx, ny, nz\)"):
        shower_features(sample(np.zeros((1, NX, NY, NZ + 1)), 1.0), geo, hit_threshold_gev=HIT_THRESHOLD_GEV)
    with pytest.raises(ValueError, match="incident energy"):
        shower_features(sample(np.zeros((1, NX, NY, NZ)), 0.0), geo, hit_threshold_gev=HIT_THRESHOLD_GEV)
    with pytest.raises(ValueError, match="radial_edges_mm"):
        shower_features(
            sample(np.zeros((1, NX, NY, NZ)), 1.0), geo, hit_threshold_gev=HIT_THRESHOLD_GEV, radial_edges_mm=[1.0, 2.0]
        )
    with pytest.raises(TypeError, match="hit_threshold_gev"):  # no default to drift from the schema's
        shower_features(sample(np.zeros((1, NX, NY, NZ)), 1.0), geo)


def random_sample(n, seed):
    rng = np.random.default_rng(seed)
    cells = rng.exponential(1.0, (n, NX, NY, NZ)) * (rng.random((n, NX, NY, NZ)) < 0.3)
    energy = rng.uniform(5.0, 50.0, n)
    return ShowerSample(cells.astype(np.float32), energy, np.zeros(n), np.full(n, 11, np.int32))


def test_select_matches_features_of_the_selected_showers():
    geo = make_geometry()
    showers = random_sample(12, seed=3)
    features = shower_features(showers, geo, hit_threshold_gev=0.5, chunk_size=5)
    for mask in (showers.energy > 25.0, np.array([7, 1, 10])):
        subset = features.select(mask)
        direct = shower_features(showers[np.sort(mask) if mask.dtype != bool else mask], geo, hit_threshold_gev=0.5)
        for name in ("e_ratio", "layer_energy_gev", "centre_x_mm", "width_y_mm", "radial_energy_gev", "n_hit"):
            np.testing.assert_array_equal(getattr(subset, name), getattr(direct, name), err_msg=name)
        np.testing.assert_array_equal(subset.cell_energies_gev, direct.cell_energies_gev)
        assert len(subset) == len(direct)
    assert len(features.select(np.zeros(12, bool)).cell_energies_gev) == 0
    with pytest.raises(ValueError, match="indices must lie"):
        features.select(np.array([12]))


def test_low_level_matrix_is_cells_over_incident_energy_and_log_energy():
    geo = make_geometry()
    showers = random_sample(4, seed=5)
    features = shower_features(showers, geo, hit_threshold_gev=HIT_THRESHOLD_GEV)
    matrix = features.low_level_matrix(showers.cells)
    assert matrix.shape == (4, NX * NY * NZ + 1)
    np.testing.assert_allclose(matrix[:, -1], np.log10(showers.energy))
    np.testing.assert_allclose(matrix[2, :-1], showers.cells[2].ravel() / showers.energy[2], rtol=1e-6)
    assert matrix[:, :-1].sum(axis=1) == pytest.approx(features.e_ratio, rel=1e-5)
    with pytest.raises(ValueError, match="cells hold 3 showers"):
        features.low_level_matrix(showers.cells[:3])
