"""Model files of the calorimeter generators: one torch-saved dict with a `format` tag, written atomically
and read back with errors that name the file and the rule that writes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from twins.core.io import InputFileError, atomic_path


def write_model_record(out_model: str | Path, record: dict[str, Any]) -> None:
    with atomic_path(out_model) as tmp:
        torch.save(record, tmp)


def read_model_record(
    model_path: str | Path, required: tuple[str, ...], model_format: str, model: str, writer: str
) -> dict[str, Any]:
    """The record of `model_path`, checked to hold `required` keys and `model_format`.

    model: the model's name in messages (e.g. "3DGAN"); writer: what writes such files (e.g. "train_gan3d")."""
    path = Path(model_path)
    if not path.exists():
        raise InputFileError(f"{path}: model file not found; run the calo_train rule ({writer}) first")
    try:
        record = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise InputFileError(
            f"{path}: cannot be read as a torch model file ({type(err).__name__}: {err}); "
            f"delete it and rerun the calo_train rule ({writer})"
        ) from None
    missing = [k for k in required if not isinstance(record, dict) or k not in record]
    if missing:
        raise InputFileError(f"{path}: not a {model} model file (missing {missing}); expected one written by {writer}")
    if record["format"] != model_format:
        raise InputFileError(f"{path}: model format {record['format']!r}; this code reads {model_format!r}")
    return record


def load_weights(
    module: torch.nn.Module, state: dict[str, Any], model_path: str | Path, device: str | torch.device
) -> torch.nn.Module:
    """`module` with `state` loaded, on `device`, in eval mode; InputFileError if the weights do not fit."""
    from twins.core.training import select_device

    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise InputFileError(f"{model_path}: weights do not fit the recorded architecture ({err})") from None
    return module.to(select_device(device) if isinstance(device, str) else device).eval()
