"""ruff keeps the Python of src/, tests/, tools/ and scripts/ lint-clean and formatted (config in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ["src", "tests", "tools", "scripts"]
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")


@pytest.mark.skipif(
    RUFF is None, reason="ruff is not installed (it comes with the test extra: pip install -e '.[test]')"
)
@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(command):
    result = subprocess.run([RUFF, *command, *FOLDERS], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, f"ruff {' '.join(command)} reports:\n{result.stdout}{result.stderr}"
