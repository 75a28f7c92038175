"""The validation figures (twins.calo.figures) on synthetic shower samples (fixtures in conftest.py)."""

import matplotlib.image

from twins.calo.figures import PLOT_NAMES, plot_validation

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plots_are_written_as_identical_pngs(samples, geo, tmp_path):
    ref, gen = samples["reference"][:150], samples["different"][:150]
    first = plot_validation(ref, gen, geo, tmp_path / "a")
    second = plot_validation(ref, gen, geo, tmp_path / "b")
    assert set(first) == set(PLOT_NAMES)
    for name, path in first.items():
        assert path.name == f"{name}.png"
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        assert b"Matplotlib" not in data, name  # version metadata stripped
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100, name
        assert image.std() > 0, name  # not blank
        assert second[name].read_bytes() == data, name
    assert not list((tmp_path / "a").glob(".*partial"))
