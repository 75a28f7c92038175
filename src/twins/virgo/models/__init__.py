"""The virgo twin's models by name: each entry is a module with `train` (TFrame files -> model file and
history), `load` (model file -> network) and `sample` (inputs -> generated strain spectrograms)."""

from __future__ import annotations

from types import ModuleType

from twins.virgo.models import glitchflow

MODELS: dict[str, ModuleType] = {glitchflow.NAME: glitchflow}


def get_model(name: str) -> ModuleType:
    """The model module registered as `name`."""
    if name not in MODELS:
        raise ValueError(f"unknown virgo model '{name}'; available: {sorted(MODELS)}")
    return MODELS[name]
