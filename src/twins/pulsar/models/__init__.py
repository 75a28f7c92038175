"""The pulsar twin's models by architecture name, each a module with `train`, `load` and `predict` entry points.

Every model of the config's pulsar.models (a name -> the dataset it is trained on) is a frame classifier
(PulsarRFI_NN, `frame_classifier`); the models differ in their training data and train_by_model settings.
"""

from __future__ import annotations

from types import ModuleType

import twins.pulsar.models.frame_classifier as frame_classifier

MODELS: dict[str, ModuleType] = {frame_classifier.MODEL: frame_classifier}
DEFAULT = frame_classifier.MODEL


def get_model(architecture: str = DEFAULT) -> ModuleType:
    """The model module of `architecture`; ValueError naming the known ones otherwise."""
    if architecture not in MODELS:
        raise ValueError(f"unknown pulsar model architecture {architecture!r}; choose from {sorted(MODELS)}")
    return MODELS[architecture]
