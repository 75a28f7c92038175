"""Paths of the real data the pulsar tests read (../shared/data/pulsar: Parkes; tests skip without it)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "pulsar"
PARKES = DATA / "parkes_8bit_1.fil"
PARKES_MASK = DATA / "parkes_8bit_1_mask.h5"
