"""Paths of the real data the pulsar tests read (../shared/data/pulsar: Parkes; tests skip without it)."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "pulsar"
PARKES = DATA / "parkes_8bit_1.fil"
PARKES_MASK = DATA / "parkes_8bit_1_mask.h5"
# the same 2.1 s as PARKES requantised to 1, 2 and 4 bits, and the 2.1 s before it as 4-bit PSRFITS
PARKES_BITS = {nbits: DATA / f"parkes_{nbits}bit.fil" for nbits in (1, 2, 4)}
PARKES_PSRFITS = DATA / "parkes_4bit.sf"


def require(*paths: Path) -> None:
    """Skip the calling test when a real file is not on this machine."""
    for path in paths:
        if not path.exists():
            pytest.skip(f"real data {path} not present (see ../shared/data/README.md)")
