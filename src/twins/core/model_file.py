"""One file format for the trained models of every twin: a tagged, versioned record that loads without
running code from the file.

A model file is `torch.save` of a plain dict
    {"format": "twins-model", "version": 1, "twin": "calo", "model": "gan3d",
     "weights": {module name: state dict of tensors}, "meta": "<canonical JSON>"}
and is read back with `torch.load(weights_only=True)`, which refuses anything but tensors and plain
containers: a `.pt` from elsewhere cannot execute code here. `meta` holds everything else a model needs to be
rebuilt and used (architecture, settings, data transforms, condition ranges, provenance) as JSON, so numpy
arrays come back as lists.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from twins.core.device import describe
from twins.core.io import InputFileError, atomic_path
from twins.core.provenance import to_json

FORMAT = "twins-model"
VERSION = 1


@dataclass
class ModelFile:
    """A loaded model file: twin and model name, the state dicts by module name, and the JSON metadata."""

    twin: str
    model: str
    weights: dict[str, dict[str, torch.Tensor]]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    device: dict[str, str] = field(default_factory=dict)  # where the weights were computed (empty: not recorded)

    def load_into(self, name: str, module: torch.nn.Module, device: str | torch.device = "cpu") -> torch.nn.Module:
        """`module` with the state dict `name` loaded, moved to `device`, in eval mode; InputFileError naming
        the file when the weights do not fit the module (the file's architecture and this code disagree)."""
        if name not in self.weights:
            raise InputFileError(
                f"{self.path}: no weights '{name}' in this {self.model} model (has {sorted(self.weights)})"
            )
        try:
            module.load_state_dict(self.weights[name])
        except RuntimeError as err:
            raise InputFileError(
                f"{self.path}: weights '{name}' do not fit the recorded architecture ({err})"
            ) from None
        return module.to(device).eval()


def _state_dict(value: torch.nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state = value.state_dict() if isinstance(value, torch.nn.Module) else value
    return {key: tensor.detach().cpu() for key, tensor in state.items()}


def _weights_device(weights: Mapping[str, torch.nn.Module | Mapping[str, torch.Tensor]]) -> torch.device:
    for value in weights.values():
        state = value.state_dict() if isinstance(value, torch.nn.Module) else value
        for tensor in state.values():
            return tensor.device
    return torch.device("cpu")


def save_model(
    path: str | Path,
    twin: str,
    model: str,
    weights: Mapping[str, torch.nn.Module | Mapping[str, torch.Tensor]],
    meta: Mapping[str, Any],
) -> Path:
    """Write a model file atomically. weights: modules or state dicts by name (moved to the CPU);
    meta: anything JSON can hold (numpy values become numbers and lists)."""
    record = {
        "format": FORMAT,
        "version": VERSION,
        "twin": twin,
        "model": model,
        "weights": {name: _state_dict(value) for name, value in weights.items()},
        "meta": to_json(dict(meta)),
        # where the weights were computed (provenance: a "GPU" job that trained on the CPU shows here)
        "device": to_json(describe(_weights_device(weights))),
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(record, tmp)
    return path


def load_model(path: str | Path, twin: str, models: str | Iterable[str], writer: str) -> ModelFile:
    """Read a model file of `twin` holding one of `models`; InputFileError naming the file and the rule to
    rerun (`writer`) when it is missing, unreadable, of another format or version, or of another model."""
    path = Path(path)
    accepted = (models,) if isinstance(models, str) else tuple(models)
    if not path.exists():
        raise InputFileError(f"{path}: model file not found; run {writer} first")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise InputFileError(
            f"{path}: not a {FORMAT} file (it holds Python objects beyond tensors, as model files of earlier "
            f"versions did, and those are not loaded: they could run code); delete it and rerun {writer}"
        ) from None
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise InputFileError(
            f"{path}: cannot be read as a model file ({type(err).__name__}: {err}); delete it and rerun {writer}"
        ) from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise InputFileError(f"{path}: not a {FORMAT} file (no format tag); expected one written by {writer}")
    if record.get("version") != VERSION:
        raise InputFileError(
            f"{path}: {FORMAT} version {record.get('version')}; this code reads version {VERSION}: rerun {writer}"
        )
    if record.get("twin") != twin or record.get("model") not in accepted:
        raise InputFileError(
            f"{path}: a {record.get('twin')} {record.get('model')} model, not a {twin} {' or '.join(accepted)} "
            f"model; expected one written by {writer}"
        )
    device = json.loads(record["device"]) if "device" in record else {}
    return ModelFile(twin, record["model"], record["weights"], json.loads(record["meta"]), path, device)
