"""Start the cluster run of test_slurm_profile when the tests are collected, so it overlaps the suite."""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: only when its tests will run
def pytest_collection_modifyitems(session, config, items):
    if any(item.nodeid.startswith("tests/slurm/test_slurm_profile.py") for item in items):
        from tests.slurm.test_slurm_profile import start_cluster_run

        start_cluster_run()
