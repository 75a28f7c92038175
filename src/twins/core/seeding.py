"""Seeds: one master seed in the config, independent derived streams for every job and purpose."""

from __future__ import annotations

import hashlib
import random

import numpy as np


def derive_seed(seed: int, *keys: str | int) -> int:
    """A 32-bit seed derived from `seed` and the keys (e.g. ("calo", "simulate", chunk)).

    Distinct keys give statistically independent streams (numpy SeedSequence), so scattered jobs
    never share random numbers and a job's stream does not depend on how many others exist.
    """
    key_words = [int.from_bytes(hashlib.sha256(str(k).encode()).digest()[:4], "little") for k in keys]
    return int(np.random.SeedSequence([int(seed), *key_words]).generate_state(1)[0])


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy's legacy global state and torch; return a numpy Generator for the caller."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # steps without torch (simulate, convert) do not need it
        pass
    else:
        torch.manual_seed(seed)
    return np.random.default_rng(seed)
