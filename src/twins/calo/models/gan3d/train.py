"""Train the 3DGAN calorimeter generator (config slice `calo.train.gan3d`) and write its model file.

The training step follows DetectorSim-3DGAN: per batch the discriminator is updated once on real and once
on generated showers (labels flipped with a small probability, its auxiliary heads regressing the energy
and angle of both), then the generator is updated `generator_steps` times to be called real and to have
its showers' energy, angle and ECAL sum match the conditions (losses in twins.calo.models.gan3d.updates),
weighted by `loss_weights` (the original's 3, 0.1, 25, 0.1). The per-epoch history has the unweighted
parts (g_*, d_*) and the weighted totals (generator_loss, discriminator_loss).

Generator inputs are always (E, theta, ECAL sum) triples of one training shower, so the generator learns
the simulated visible fraction of the incident energy, not an assumed one.

The schema's defaults (workflow/schemas/calo.schema.yaml, $defs/gan3d) are the demo size: about 8 s per epoch
for 2000 showers of 12x12x25 cells on two CPU cores, 20 epochs in about 3 minutes. The original 3DGAN
(51x51x25 cells) is of the order of latent_size 256, generator_channels [64, 32, 16], discriminator_channels
[16, 32, 32] and 60 epochs. `optimizer` rmsprop is the original's (alpha 0.9, eps 1e-7), adam uses betas
(0.5, 0.999); `batchnorm_recalibration` generated showers re-estimate the generator's BatchNorm statistics
after training; `pretrain_epochs` > 0 is 3DGAN's transfer-learning schedule (the first epochs see only the
showers inside `pretrain_energy_gev`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from twins.calo.models.determinism import deterministic_algorithms
from twins.calo.models.gan3d.network import Discriminator3D, Generator3D
from twins.calo.models.gan3d.training_data import TrainingShowers, load_training_showers
from twins.calo.models.gan3d.updates import GanUpdates, make_optimizer, recalibrate_batchnorm
from twins.calo.transform import ShowerTransform
from twins.core.config import resolve
from twins.core.device import select_device
from twins.core.io import InputFileError
from twins.core.model_file import save_model
from twins.core.plots import HistoryPanel
from twins.core.provenance import make_provenance, sha256_file
from twins.core.seeding import derive_seed, seed_everything
from twins.core.training import CheckpointedTraining

log = logging.getLogger(__name__)

TWIN, MODEL = "calo", "gan3d"
WRITER = "the calo_train rule (model gan3d)"
SETTINGS_KEY = "calo.train.gan3d"
ARCHITECTURE_KEYS = ("latent_size", "generator_channels", "kernel_size")
# the training-history figure: weighted totals (bold), their validation values (dashed) and the unweighted parts
HISTORY_PANELS = (
    HistoryPanel(("generator_loss", "val_generator_loss", "g_*"), title="generator", log=True),
    HistoryPanel(("discriminator_loss", "val_discriminator_loss", "d_*"), title="discriminator", log=True),
)


def training_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """The `calo.train.gan3d` slice with the schema's defaults and checks (twins.core.config.resolve; ConfigError
    naming the key), and the checks the schema cannot express (ValueError naming the key)."""
    out = resolve(SETTINGS_KEY, settings)
    if out["kernel_size"] % 2 != 1:
        raise ValueError(f"{SETTINGS_KEY}.kernel_size must be odd; got {out['kernel_size']!r}")
    low, high = (float(e) for e in out["pretrain_energy_gev"])
    if not low < high:
        raise ValueError(
            f"{SETTINGS_KEY}.pretrain_energy_gev must be [low, high] in GeV with low < high; "
            f"got {out['pretrain_energy_gev']!r}"
        )
    out["pretrain_energy_gev"] = [low, high]
    return out


def build_generator(settings: dict[str, Any], grid_shape: tuple[int, int, int]) -> Generator3D:
    """The generator described by (resolved or architecture-only) settings."""
    return Generator3D(
        grid_shape,
        latent_size=settings["latent_size"],
        channels=settings["generator_channels"],
        kernel_size=settings["kernel_size"],
    )


def _write_model(
    out_model: str | Path,
    generator: Generator3D,
    settings: dict[str, Any],
    transform: ShowerTransform,
    geometry: dict[str, Any],
    condition_ranges: dict[str, list[float]],
    provenance: dict[str, Any],
) -> None:
    meta = {
        "architecture": {k: settings[k] for k in ARCHITECTURE_KEYS},
        "grid_shape": list(generator.grid_shape),
        "transform": transform.to_dict(),
        "geometry": geometry,
        "condition_ranges": condition_ranges,
        "provenance": provenance,
    }
    save_model(out_model, TWIN, MODEL, weights={"generator": generator}, meta=meta)


def save_untrained_generator(
    out_model: str | Path,
    settings: dict[str, Any],
    grid_shape: tuple[int, int, int],
    transform_settings: dict[str, Any],
    seed: int,
) -> None:
    """A model file with a freshly initialised generator, for timing the architecture without training.

    transform_settings: the `calo.preprocess` slice (keys other than the transform's are ignored).
    """
    settings = training_settings(settings)
    transform = ShowerTransform.from_settings(
        {k: v for k, v in transform_settings.items() if k in ShowerTransform.__dataclass_fields__}
    )
    torch.manual_seed(derive_seed(seed, "calo", "train", "gan3d", "init"))
    generator = build_generator(settings, tuple(int(n) for n in grid_shape)).eval()
    nx, ny, nz = generator.grid_shape
    _write_model(
        out_model,
        generator,
        settings,
        transform,
        {"nx": nx, "ny": ny, "nz": nz},
        condition_ranges={},
        provenance=make_provenance("calo_untrained_gan3d", settings, seed=seed, trained=False),
    )


def pretraining_showers(data: TrainingShowers, settings: dict[str, Any], batch_size: int) -> np.ndarray | None:
    """Indices of the showers inside pretrain_energy_gev, or None when the schedule is off."""
    if settings["pretrain_epochs"] == 0:
        return None
    low, high = settings["pretrain_energy_gev"]
    energy = data.energy_gev.cpu().numpy()
    pool = np.flatnonzero((energy >= low) & (energy <= high))
    if len(pool) < batch_size:
        raise ValueError(
            f"calo.train.gan3d.pretrain_energy_gev {[low, high]} holds {len(pool)} training showers, fewer than "
            f"one batch ({batch_size}); widen the range or set pretrain_epochs: 0"
        )
    return pool


def _load_splits(
    train_h5: str | Path, validation_h5: str | Path | None
) -> tuple[TrainingShowers, TrainingShowers | None, list[Path]]:
    """(training showers, validation showers or None, the input paths)."""
    data = load_training_showers(train_h5)
    validation = load_training_showers(validation_h5) if validation_h5 is not None else None
    if validation is not None and validation.grid_shape != data.grid_shape:
        raise InputFileError(
            f"{validation_h5}: showers are {validation.grid_shape} cells but {train_h5} has {data.grid_shape}"
        )
    return data, validation, [Path(train_h5)] + ([Path(validation_h5)] if validation_h5 is not None else [])


def _run_epochs(
    settings: dict[str, Any],
    seed: int,
    networks: tuple[Generator3D, Discriminator3D],
    data: TrainingShowers,
    validation: TrainingShowers | None,
    device: torch.device,
    training_files: dict[str, Any],
) -> pd.DataFrame:
    """Train the networks for `epochs` through CheckpointedTraining (resuming from its checkpoint); the history.

    training_files: {"checkpoint_path", "history_path", "fingerprint"} of CheckpointedTraining."""
    generator, discriminator = networks
    opt_g = make_optimizer(settings["optimizer"], generator.parameters(), settings["learning_rate_generator"])
    opt_d = make_optimizer(settings["optimizer"], discriminator.parameters(), settings["learning_rate_discriminator"])
    rng = np.random.default_rng(derive_seed(seed, "calo", "train", "gan3d", "batches"))
    noise_gen = torch.Generator().manual_seed(derive_seed(seed, "calo", "train", "gan3d", "noise"))
    updates = GanUpdates(settings, generator, discriminator, opt_g, opt_d, rng, noise_gen, device)
    batch_size = min(settings["batch_size"], len(data))
    pretrain_pool = pretraining_showers(data, settings, batch_size)

    def train_epoch(epoch: int) -> dict[str, float]:
        pool = pretrain_pool if epoch < settings["pretrain_epochs"] else None
        sums = updates.train_epoch(data, batch_size, pool)
        if validation is not None:
            sums.update(updates.evaluate(validation, derive_seed(seed, "calo", "train", "gan3d", "validation")))
        return sums

    training = CheckpointedTraining(
        training_files["checkpoint_path"],
        training_files["history_path"],
        modules={"generator": generator, "discriminator": discriminator},
        optimizers={"generator": opt_g, "discriminator": opt_d},
        generators={"batches": rng, "noise": noise_gen},
        fingerprint=training_files["fingerprint"],
    )
    return training.run(settings["epochs"], train_epoch)


def train_gan3d(
    train_h5: str | Path,
    settings: dict[str, Any],
    seed: int,
    out_model: str | Path,
    out_history: str | Path,
    checkpoint_path: str | Path,
    device: str = "auto",
    validation_h5: str | Path | None = None,
) -> pd.DataFrame:
    """Train the 3DGAN on a preprocessed split file; write the model file and the history CSV.

    settings: the `calo.train.gan3d` config slice (defaults and checks from the schema, $defs/gan3d).
    checkpoint_path: written after every epoch; a rerun with the same settings (bar `epochs`), seed and
        inputs resumes from it and gives the same weights as an uninterrupted run (on the CPU).
    validation_h5: optional held-out split; adds val_* columns to the history.
    out_model: a twins.core.model_file record (twin calo, model gan3d): weights {"generator"}, meta
        {"architecture", "grid_shape", "transform", "geometry", "condition_ranges", "provenance"}.
    Returns the history, one row per epoch. Raises TrainingDiverged on a non-finite loss.
    """
    settings = training_settings(settings)
    torch_device = select_device(device)
    data, validation, inputs = _load_splits(train_h5, validation_h5)
    training_files = {
        "checkpoint_path": checkpoint_path,
        "history_path": out_history,
        # what a checkpoint must match to be resumed; both keys left out act after the last epoch
        "fingerprint": {
            "settings": {k: v for k, v in settings.items() if k not in ("epochs", "batchnorm_recalibration")},
            "seed": int(seed),
            "inputs": [sha256_file(p) for p in inputs],
        },
    }
    with deterministic_algorithms():
        seed_everything(derive_seed(seed, "calo", "train", "gan3d", "init"))
        generator = build_generator(settings, data.grid_shape).to(torch_device)
        discriminator = Discriminator3D(
            data.grid_shape,
            data.transform,
            channels=settings["discriminator_channels"],
            kernel_size=settings["kernel_size"],
            dropout=settings["dropout"],
        ).to(torch_device)
        networks = (generator, discriminator)
        history = _run_epochs(settings, seed, networks, data, validation, torch_device, training_files)
        recalibrate_batchnorm(
            generator,
            data,
            settings["batchnorm_recalibration"],
            min(settings["batch_size"], len(data)),
            derive_seed(seed, "calo", "train", "gan3d", "batchnorm"),
            torch_device,
        )
    conditions = data.conditions.numpy()
    _write_model(
        out_model,
        generator,
        settings,
        data.transform,
        data.geometry,
        condition_ranges={
            "energy_gev": [float(data.energy_gev.min()), float(data.energy_gev.max())],
            "theta_rad": [float(conditions[:, 1].min()), float(conditions[:, 1].max())],
        },
        provenance=make_provenance("calo_train_gan3d", settings, seed=seed, inputs=inputs, epochs_trained=len(history)),
    )
    log.info("wrote %s after %d epochs", out_model, len(history))
    return history
