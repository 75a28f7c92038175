"""The calorimeter generators the workflow can train and sample, by name (config calo.models): the registry.

    gan3d     the 3DGAN (twins.calo.models.gan3d)
    caloinn   the CaloINN normalizing flows (twins.calo.models.caloinn)

`train_model` trains one and draws its loss history, `sample` draws showers from a trained one; both are what
the calo_train and calo_generate steps call. Each model writes its file through twins.core.model_file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twins.calo.models.caloinn.sample import sample_caloinn
from twins.calo.models.caloinn.temperature import sampling_options
from twins.calo.models.caloinn.train import HISTORY_PANELS as CALOINN_HISTORY
from twins.calo.models.caloinn.train import train_caloinn
from twins.calo.models.gan3d.sample import sample_gan3d
from twins.calo.models.gan3d.train import HISTORY_PANELS as GAN3D_HISTORY
from twins.calo.models.gan3d.train import train_gan3d
from twins.core.distributed import launch, process_count
from twins.core.plots import HistoryPanel, plot_history
from twins.core.seeding import derive_seed

log = logging.getLogger(__name__)


def _no_sampling_options(
    settings: dict[str, Any], model_path: str | Path, validation_h5: str | Path | None, seed: int, device: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    return {}, {}


@dataclass(frozen=True)
class GeneratorModel:
    """What the workflow needs of a model.

    train: (train_h5, settings, seed, out_model, out_history, checkpoint_path, device, validation_h5) -> history;
    sample: (model_path, energy GeV (N,), theta rad (N,), batch_size, seed, device, **options) -> (cells float32
        (N, nx, ny, nz) GeV, showers/s);
    sampling_options: (calo.generate slice, model_path, validation_h5, master seed, device) -> (the model's
        sampling options, the record of them written beside the showers);
    history_panels: the panels of its training-history figure (twins.core.plots.plot_history);
    distributed_worker: the module torchrun starts for data-parallel training, or None where the model
        trains in one process only (3DGAN: its batch normalisation would see per-process statistics)."""

    train: Callable[..., Any]
    sample: Callable[..., tuple[np.ndarray, float]]
    history_panels: tuple[HistoryPanel, ...]
    sampling_options: Callable[..., tuple[dict[str, Any], dict[str, Any]]] = _no_sampling_options
    distributed_worker: str | None = None

    def plot_history(self, history_csv: str | Path, out_png: str | Path) -> Path:
        """The training-history figure of a history CSV written by `train`."""
        return plot_history(history_csv, out_png, self.history_panels)


MODELS = {
    "gan3d": GeneratorModel(train_gan3d, sample_gan3d, GAN3D_HISTORY),
    "caloinn": GeneratorModel(
        train_caloinn,
        sample_caloinn,
        CALOINN_HISTORY,
        sampling_options=sampling_options,
        distributed_worker="twins.calo.models.caloinn.distributed_train",
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
    `auto`, chosen from `temperature_grid` on `validation_h5` (see twins.calo.models.caloinn.temperature).
    seed: the master seed; the showers and the temperature scan draw from streams derived from it."""
    entry = get_model(model)
    generate_seed = derive_seed(seed, "calo", "generate", model)
    options, sampling = entry.sampling_options(settings, model_path, validation_h5, seed, device)
    cells, showers_per_second = entry.sample(
        model_path, energy, theta, batch_size=settings["batch_size"], seed=generate_seed, device=device, **options
    )
    return GeneratedShowers(cells, showers_per_second, generate_seed, sampling)
