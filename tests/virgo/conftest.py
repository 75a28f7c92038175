"""Fixtures of the virgo tests: the resource files, tiny settings, and the library chain run once."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from tests.virgo.settings import ASD_FILE, CHANNELS_FILE, CONVERT, PREPROCESS, SIMULATE, TRAIN
from twins.virgo import steps


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny models: more torch threads only contend on the shared CPUs (and spin-wait)."""
    torch.set_num_threads(1)


@pytest.fixture
def asd_file() -> Path:
    return ASD_FILE


@pytest.fixture
def channels_file() -> Path:
    return CHANNELS_FILE


@pytest.fixture
def simulate_settings() -> dict:
    """The tiny simulation (64 s, 8 slots), a fresh copy per test."""
    return copy.deepcopy(SIMULATE)


@pytest.fixture
def preprocess_settings() -> dict:
    return copy.deepcopy(PREPROCESS)


@pytest.fixture
def train_settings() -> dict:
    """Two epochs of a two-level GlitchFlow (other keys from the schema)."""
    return copy.deepcopy(TRAIN)


@pytest.fixture(scope="session")
def chain(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """The simulate, convert and preprocess steps run once on the tiny settings (seed 42): the folder and the
    preprocess outputs by name (train, validation, test, asd, ranking, selection)."""
    d = tmp_path_factory.mktemp("virgo")
    steps.simulate(
        {"asd": str(ASD_FILE), "channels": str(CHANNELS_FILE)},
        {"detector": str(d / "detector.h5"), "catalogue": str(d / "catalogue.csv")},
        {"simulate": SIMULATE, "seed": 42},
    )
    steps.convert(
        {"detector": str(d / "detector.h5")}, {"segments": str(d / "segments.h5")}, {"convert": CONVERT, "seed": 42}
    )
    out = {k: d / f"{k}.h5" for k in ("train", "validation", "test", "asd")}
    out.update(ranking=d / "ranking.csv", selection=d / "selection.json")
    steps.preprocess(
        {"segments": str(d / "segments.h5")},
        {k: str(v) for k, v in out.items()},
        {"preprocess": PREPROCESS, "seed": 42},
    )
    return d, out
