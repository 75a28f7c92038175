"""Shared test setup. tests/ is a package (each twin's folder too), so every twin can name its modules
test_steps.py, test_models.py, test_workflow.py; shared helpers are imported as tests.helpers."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo() -> Path:
    return REPO
