"""The TPC generators by name (the config's tpc.variants): Fast4 and Fast6 are the one conditional WGAN-GP of
`wgan_gp` with two sets of conditions, each with `train` and `sample` entry points."""

from __future__ import annotations

from twins.tpc.encoding import ENCODED
from twins.tpc.models.wgan_gp import ConditionalWGAN

MODELS = {
    # crossing angle, dip angle, drift length and the pad and bucket phases
    "fast4": ConditionalWGAN("fast4", ENCODED[:5]),
    # those and log pT, pad row
    "fast6": ConditionalWGAN("fast6", ENCODED),
}


def get_model(name: str) -> ConditionalWGAN:
    """The model of variant `name`; ValueError naming the known ones otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown tpc variant {name!r}; choose from {sorted(MODELS)}")
    return MODELS[name]
