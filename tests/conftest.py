"""Shared test setup: the repository path and the workflow test helpers on sys.path."""

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# every twin's workflow tests share tests/workflow/helpers.py
sys.path.insert(0, str(REPO / "tests" / "workflow"))


@pytest.fixture
def repo() -> Path:
    return REPO
