"""Artefacts on shared storage, jobs staged through local scratch (the fs storage plugin, needs rsync)."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers import make_workdir, snakemake

pytestmark = pytest.mark.workflow


@pytest.mark.skipif(
    shutil.which("rsync") is None, reason="the fs storage plugin needs rsync (Debian: apt install rsync)"
)
def test_outputs_live_in_the_shared_prefix_and_jobs_use_local_scratch(tmp_path):
    pytest.importorskip("snakemake_storage_plugin_fs")
    (tmp_path / "run").mkdir()
    workdir = make_workdir(tmp_path / "run", {"twins": ["calo"], "calo": {"simulate": {"events": 40, "chunks": 2}}})
    shared, scratch = tmp_path / "shared", tmp_path / "scratch"
    storage = (
        "--default-storage-provider",
        "fs",
        "--default-storage-prefix",
        str(shared),
        "--local-storage-prefix",
        str(scratch),
        "--shared-fs-usage",
        "persistence",
        "software-deployment",
        "sources",
        "source-cache",
    )
    snakemake(workdir, "results/calo/showers.h5", "--cores", "2", *storage, "--configfile", "tiny.yaml")
    for name in ("simulate/chunk_0.root", "simulate/chunk_1.root", "showers.h5"):
        assert (shared / "results/calo" / name).stat().st_size > 0
    assert not (workdir / "results").exists(), "outputs must go to the storage prefix, not the working directory"
    assert (scratch / "fs").is_dir(), "jobs did not stage through the local storage prefix"
    # a second run finds everything in storage: nothing to do
    again = snakemake(workdir, "results/calo/showers.h5", "--cores", "2", *storage, "--configfile", "tiny.yaml")
    assert "Nothing to be done" in again.stdout + again.stderr
