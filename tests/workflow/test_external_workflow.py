"""External Geant4 ROOT files through the whole calo chain, on a grid that is not the built-in one."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.helpers import REPO, planned_jobs, snakemake

pytestmark = pytest.mark.workflow


def test_external_geant4_files_replace_the_simulation(tmp_path):
    """calo.convert.source: external — no simulate job; the whole chain runs on the imported showers of a
    grid that is not the built-in one (8 x 6 x 10 cells, stored z-major in MeV)."""
    import numpy as np
    import uproot

    from twins.calo.hdf5io import read_showers_h5

    nx, ny, nz, n = 8, 6, 10, 120
    rng = np.random.default_rng(0)
    energy = rng.uniform(10, 100, n)
    depth = np.arange(nz) + 0.5
    profile = depth**2 * np.exp(-depth / 2.0)
    lateral = np.exp(-0.5 * ((np.arange(nx)[:, None] - 3.5) ** 2 + (np.arange(ny)[None] - 2.5) ** 2))
    cells = energy[:, None, None, None] * (profile / profile.sum()) * (lateral / lateral.sum())[None, ..., None]
    stored = (1000.0 * cells * rng.lognormal(0, 0.1, cells.shape)).transpose(0, 3, 1, 2).astype("f4")
    foreign = tmp_path / "g4.root"
    with uproot.recreate(foreign) as f:
        f.mktree("hits", {"edep_mev": ("f4", (nz * nx * ny,)), "e0": "f8"})
        f["hits"].extend({"edep_mev": stored.reshape(n, -1), "e0": energy})
    geometry = {
        "name": "g4_block",
        "material": "PbWO4",
        "materials_file": str(REPO / "resources/calo/materials.yaml"),
        "nx": nx,
        "ny": ny,
        "nz": nz,
        "cell_size_x_mm": 10.0,
        "cell_size_y_mm": 10.0,
        "layer_thickness_mm": 8.9,
    }
    config = {
        "twins": ["calo"],
        "calo": {
            "convert": {
                "source": "external",
                "external": {
                    "files": [str(foreign)],
                    "tree": "hits",
                    "cells_branch": "edep_mev",
                    "cells_shape": [nx, ny, nz],
                    "cells_order": "zxy",
                    "cells_unit": "MeV",
                    "energy_branch": "e0",
                    "geometry": geometry,
                },
            },
            "models": ["gan3d", "caloinn"],
            "train": {
                "gan3d": {
                    "epochs": 1,
                    "batch_size": 16,
                    "latent_size": 8,
                    "generator_channels": [4],
                    "discriminator_channels": [4],
                    "batchnorm_recalibration": 64,
                },
                "caloinn": {"epochs": 1, "batch_size": 16, "blocks": 2, "hidden_features": [8], "bins": 4},
            },
            "validate": {
                "n_bins": 8,
                "classifier": {"nn": {"epochs": 2}},
                "fpd": {"min_samples": 10, "max_samples": 20},
                "kpd": {"batch_size": 10},
            },
        },
    }
    (tmp_path / "config").symlink_to(REPO / "config")
    (tmp_path / "external.yaml").write_text(yaml.safe_dump(config))
    jobs = planned_jobs(snakemake(tmp_path, "-n", "--configfile", "external.yaml").stdout)
    assert "calo_simulate" not in jobs and jobs["calo_convert"] == 1 and jobs["calo_train"] == 2
    snakemake(tmp_path, "--cores", "2", "--configfile", "external.yaml")
    showers = read_showers_h5(tmp_path / "results/calo/showers.h5")
    assert showers.cells.shape == (n, nx, ny, nz)
    np.testing.assert_allclose(showers.cells[0], stored[0].transpose(1, 2, 0) / 1000.0, rtol=1e-6)
    for model in ("gan3d", "caloinn"):
        generated = read_showers_h5(tmp_path / f"results/calo/generate/{model}.h5")
        assert generated.cells.shape[1:] == (nx, ny, nz)
        metrics = json.loads((tmp_path / f"results/calo/validate/{model}/metrics.json").read_text())
        assert metrics["summary"]["speed_ratio"] is None  # no simulator timing for external data
