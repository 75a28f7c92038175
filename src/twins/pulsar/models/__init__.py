"""The pulsar twin's models by architecture name, each a module with `train`, `load` and `predict` entry points.

`frame_classifier` (PulsarRFI_NN, the DEFAULT): labels frames of the dynamic spectrum; every model of the
config's pulsar.models (a name -> the dataset it is trained on) is one, differing in training data and
train_by_model settings. `candidate_classifier` (FETCH-style): P(pulse) of a stream search's candidates from
their frequency-time and DM-time images (twins.pulsar.candidates), settings pulsar.candidates.
"""

from __future__ import annotations

from types import ModuleType

import twins.pulsar.models.candidate_classifier as candidate_classifier
import twins.pulsar.models.frame_classifier as frame_classifier

MODELS: dict[str, ModuleType] = {
    frame_classifier.MODEL: frame_classifier,
    candidate_classifier.MODEL: candidate_classifier,
}
DEFAULT = frame_classifier.MODEL


def get_model(architecture: str = DEFAULT) -> ModuleType:
    """The model module of `architecture`; ValueError naming the known ones otherwise."""
    if architecture not in MODELS:
        raise ValueError(f"unknown pulsar model architecture {architecture!r}; choose from {sorted(MODELS)}")
    return MODELS[architecture]
