"""The calorimeter generators the workflow can train and sample, by name (config calo.models)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twins.calo.generate import generate_showers
from twins.calo.plot_training import plot_history, plot_likelihood_history
from twins.calo.temperature import check_sampling_settings, choose_temperature
from twins.calo.train import train_gan3d
from twins.calo.train_caloinn import generate_caloinn, train_caloinn
from twins.core.distributed import launch, process_count
from twins.core.seeding import derive_seed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneratorModel:
    """What the workflow needs of a model: train it, sample it (cells in GeV, showers/s), plot its history.

    distributed_worker: the module torchrun starts for data-parallel training, or None where the model
    trains in one process only (3DGAN: its batch normalisation would see per-process statistics)."""

    train: Callable[..., Any]
    generate: Callable[..., tuple[np.ndarray, float]]
    plot_history: Callable[[str | Path, str | Path], Path]
    distributed_worker: str | None = None


MODELS = {
    "gan3d": GeneratorModel(train_gan3d, generate_showers, plot_history),
    "caloinn": GeneratorModel(
        train_caloinn, generate_caloinn, plot_likelihood_history, distributed_worker="twins.calo.distributed_train"
    ),
}


def get_model(name: str) -> GeneratorModel:
    if name not in MODELS:
        raise ValueError(f"unknown calo model '{name}' (config calo.models); available: {sorted(MODELS)}")
    return MODELS[name]


def train_model(
    model: str,
    train_h5: str | Path,
    validation_h5: str | Path,
    settings: dict[str, Any],
    seed: int,
    device: str,
    checkpoint_path: str | Path,
    out_model: str | Path,
    out_history: str | Path,
    out_losses_png: str | Path,
    gpus: int = 0,
    threads: int = 1,
) -> None:
    """Train the generator named `model` and plot its loss history.

    gpus, threads: what the job was given (resources.gpu, threads). With `processes` > 1 in the settings,
    or more than one visible GPU, training runs in that many torchrun processes."""
    entry = get_model(model)
    arguments = dict(
        train_h5=str(train_h5),
        settings=settings,
        seed=seed,
        out_model=str(out_model),
        out_history=str(out_history),
        checkpoint_path=str(checkpoint_path),
        device=device,
        validation_h5=str(validation_h5),
    )
    processes = process_count(settings.get("processes", 1), gpus)
    if processes > 1 and entry.distributed_worker is None:
        log.warning("%s trains in one process only; ignoring the %d GPUs of this job", model, gpus)
        processes = 1
    if processes > 1:
        launch(entry.distributed_worker, arguments, processes, threads_per_process=max(1, threads // processes))
    else:
        entry.train(**arguments)
    entry.plot_history(out_history, out_losses_png)


@dataclass
class GeneratedShowers:
    """What `sample` returns: cells float32 (N, nx, ny, nz) in GeV, the throughput (showers/s), the seed the
    showers were drawn with, and the sampling record (CaloINN: temperature, clip, the `auto` scan)."""

    cells: np.ndarray
    showers_per_second: float
    seed: int
    sampling: dict[str, Any]


def sample(
    model: str,
    model_path: str | Path,
    energy: np.ndarray,
    theta: np.ndarray,
    settings: dict[str, Any],
    seed: int,
    device: str,
    validation_h5: str | Path | None = None,
) -> GeneratedShowers:
    """Showers of the trained `model` at the incident energies (GeV) and angles (rad).

    settings: the `calo.generate` slice; its `caloinn` sub-slice sets CaloINN's sampling: whether generated
    features are clipped to the training range (`clamp_to_training_range`) and the temperature, a number or
    `auto`, chosen from `temperature_grid` on `validation_h5` (see twins.calo.temperature). seed: the master
    seed; the showers and the temperature scan draw from streams derived from it."""
    generate_seed = derive_seed(seed, "calo", "generate", model)
    options: dict[str, Any] = {}
    sampling: dict[str, Any] = {}
    if model == "caloinn":
        clamp, temperature, grid = check_sampling_settings(settings.get("caloinn") or {})
        if temperature == "auto":
            if validation_h5 is None:
                raise ValueError("calo.generate.caloinn.temperature: auto needs the validation split file")
            sampling = choose_temperature(
                model_path,
                validation_h5,
                grid,
                settings["batch_size"],
                seed=derive_seed(seed, "calo", "generate", model, "temperature"),
                device=device,
                clamp_to_training_range=clamp,
            )
            temperature = sampling["temperature"]
        options = {"temperature": float(temperature), "clamp_to_training_range": clamp}
        sampling.update(temperature=float(temperature), clamp_to_training_range=clamp)
    cells, showers_per_second = get_model(model).generate(
        model_path, energy, theta, batch_size=settings["batch_size"], seed=generate_seed, device=device, **options
    )
    return GeneratedShowers(cells, showers_per_second, generate_seed, sampling)
