"""Train the 3DGAN calorimeter generator (config slice `calo.train.gan3d`).

The training step follows DetectorSim-3DGAN: per batch the discriminator is updated once on real and once
on generated showers (labels flipped with a small probability, its auxiliary heads regressing the energy
and angle of both), then the generator is updated `generator_steps` times to be called real and to have
its showers' energy, angle and ECAL sum match the conditions. Losses per part (Keras' names):
    adversarial  binary cross-entropy on the logit
    energy       mean absolute percentage error of the regressed E / E_scale
    angle        mean absolute error of the regressed theta (rad)
    ecal         mean absolute percentage error of the ECAL sum (GeV) of generated showers against the
                 ECAL sum of a training shower drawn together with its (energy, theta)
weighted by `loss_weights` (the original's 3, 0.1, 25, 0.1). The per-epoch history has the unweighted
parts (g_*, d_*) and the weighted totals (generator_loss, discriminator_loss).

Generator inputs are always (E, theta, ECAL sum) triples of one training shower, so the generator learns
the simulated visible fraction of the incident energy, not an assumed one.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from twins.calo.gan3d import Discriminator3D, Generator3D
from twins.calo.model_file import write_model_record
from twins.calo.transform import ShowerTransform
from twins.core.io import InputFileError, open_hdf5, read_datasets
from twins.core.provenance import make_provenance, sha256_file
from twins.core.seeding import derive_seed, seed_everything
from twins.core.training import CheckpointedTraining, select_device

log = logging.getLogger(__name__)

# The defaults are the demo size: about 8 s per epoch for 2000 showers of 12x12x25 cells on two CPU cores,
# 20 epochs in about 3 minutes. The original 3DGAN (51x51x25 cells) is of the order of
# latent_size 256, generator_channels [64, 32, 16], discriminator_channels [16, 32, 32] and 60 epochs.
DEFAULT_SETTINGS: dict[str, Any] = {
    "epochs": 20,
    "batch_size": 64,
    "latent_size": 128,
    "generator_channels": [32, 8, 4],
    "discriminator_channels": [4, 8, 16],
    "kernel_size": 3,
    "dropout": 0.2,
    "optimizer": "rmsprop",  # the original's (alpha 0.9, eps 1e-7); or "adam" (betas 0.5, 0.999)
    "learning_rate_generator": 1.0e-3,
    "learning_rate_discriminator": 1.0e-3,
    "generator_steps": 2,  # generator updates per discriminator update, as the original
    "label_flip": 0.05,  # probability of flipping a real/fake label in the discriminator's update
    "loss_weights": {"adversarial": 3.0, "energy": 0.1, "angle": 25.0, "ecal": 0.1},
    "batchnorm_recalibration": 1024,  # generated showers to re-estimate the generator's BatchNorm statistics
    # 3DGAN's transfer-learning schedule: the first `pretrain_epochs` epochs see only showers with incident
    # energy inside `pretrain_energy_gev`, the rest the whole range (0 = off)
    "pretrain_epochs": 0,
    "pretrain_energy_gev": [100.0, 200.0],
}
ARCHITECTURE_KEYS = ("latent_size", "generator_channels", "kernel_size")
OPTIMIZERS = ("rmsprop", "adam")
TRAIN_DATASETS = ("x", "conditions", "energy", "theta")
MODEL_FORMAT = "twins.calo.gan3d/1"


def resolve_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """The settings with defaults filled in; ValueError naming any unknown key or bad value."""
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(DEFAULT_SETTINGS))
    if unknown:
        raise ValueError(f"unknown calo.train.gan3d key(s) {unknown}; allowed: {sorted(DEFAULT_SETTINGS)}")
    weights = dict(settings.get("loss_weights") or {})
    unknown = sorted(set(weights) - set(DEFAULT_SETTINGS["loss_weights"]))
    if unknown:
        raise ValueError(
            f"unknown calo.train.gan3d.loss_weights key(s) {unknown}; "
            f"allowed: {sorted(DEFAULT_SETTINGS['loss_weights'])}"
        )
    out = {**DEFAULT_SETTINGS, **settings, "loss_weights": {**DEFAULT_SETTINGS["loss_weights"], **weights}}
    out["generator_channels"] = [int(c) for c in out["generator_channels"]]
    out["discriminator_channels"] = [int(c) for c in out["discriminator_channels"]]

    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise ValueError(f"calo.train.gan3d.{key} must be {what}; got {out[key]!r}")

    def is_int(value: Any) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    for key in ("epochs", "batch_size", "latent_size", "kernel_size", "generator_steps"):
        need(is_int(out[key]) and out[key] >= 1, key, "a positive integer")
    need(out["batch_size"] >= 2, "batch_size", "at least 2 (BatchNorm needs two showers)")
    need(out["latent_size"] >= 2, "latent_size", "at least 2")
    need(out["kernel_size"] % 2 == 1, "kernel_size", "odd")
    need(
        is_int(out["batchnorm_recalibration"]) and out["batchnorm_recalibration"] >= 0,
        "batchnorm_recalibration",
        "an integer >= 0",
    )
    need(out["optimizer"] in OPTIMIZERS, "optimizer", f"one of {list(OPTIMIZERS)}")
    for key in ("learning_rate_generator", "learning_rate_discriminator"):
        need(float(out[key]) > 0, key, "positive")
    need(0 <= float(out["dropout"]) < 1, "dropout", "in [0, 1)")
    need(0 <= float(out["label_flip"]) < 0.5, "label_flip", "in [0, 0.5)")
    need(is_int(out["pretrain_epochs"]) and out["pretrain_epochs"] >= 0, "pretrain_epochs", "an integer >= 0")
    window = out["pretrain_energy_gev"]
    need(
        isinstance(window, (list, tuple)) and len(window) == 2 and 0 <= float(window[0]) < float(window[1]),
        "pretrain_energy_gev",
        "[low, high] in GeV with low < high",
    )
    out["pretrain_energy_gev"] = [float(window[0]), float(window[1])]
    for name, value in out["loss_weights"].items():
        if float(value) < 0:
            raise ValueError(f"calo.train.gan3d.loss_weights.{name} must be >= 0; got {value!r}")
    return out


@dataclass
class TrainingShowers:
    """Showers of one preprocessed split, as tensors.

    x: (N, nx, ny, nz) model space; conditions: (N, 2) [E / E_scale, theta rad];
    energy_gev: (N,) incident energy; ecal_gev: (N,) visible energy through the inverse transform.
    """

    x: torch.Tensor
    conditions: torch.Tensor
    energy_gev: torch.Tensor
    ecal_gev: torch.Tensor
    transform: ShowerTransform
    geometry: dict[str, Any]

    def __len__(self) -> int:
        return len(self.x)

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])

    def batch(self, index: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
        """(x, conditions, energy_gev, ecal_gev) of the showers `index`, on `device`."""
        i = torch.from_numpy(np.asarray(index, dtype=np.int64))
        return tuple(t[i].to(device) for t in (self.x, self.conditions, self.energy_gev, self.ecal_gev))


def load_training_showers(path: str | Path) -> TrainingShowers:
    """Read a preprocessed split file; InputFileError naming the file if it is not usable."""
    data = read_datasets(path, TRAIN_DATASETS)
    with open_hdf5(path) as f:
        missing = [a for a in ("transform", "geometry") if a not in f.attrs]
        if missing:
            raise InputFileError(f"{path}: missing attribute(s) {missing}; rerun the calo_preprocess rule")
        transform = ShowerTransform.from_settings(json.loads(f.attrs["transform"]))
        geometry = json.loads(f.attrs["geometry"])
    x = np.asarray(data["x"], dtype=np.float32)
    n = len(x)
    if x.ndim != 4:
        raise InputFileError(f"{path}: dataset 'x' must be (N, nx, ny, nz); got shape {x.shape}")
    if data["conditions"].shape != (n, 2) or len(data["energy"]) != n or len(data["theta"]) != n:
        raise InputFileError(
            f"{path}: 'conditions' must be ({n}, 2) and 'energy', 'theta' ({n},); got "
            f"{data['conditions'].shape}, {data['energy'].shape}, {data['theta'].shape}"
        )
    expected = tuple(int(geometry[k]) for k in ("nx", "ny", "nz") if k in geometry)
    if len(expected) == 3 and expected != x.shape[1:]:
        raise InputFileError(f"{path}: showers are {x.shape[1:]} cells but the geometry attribute says {expected}")
    for name in TRAIN_DATASETS:
        if not np.isfinite(data[name]).all():
            raise InputFileError(f"{path}: dataset '{name}' holds NaN or infinite values; rerun calo_preprocess")
    if (data["energy"] <= 0).any() or (x < 0).any():
        raise InputFileError(f"{path}: incident energies must be positive and 'x' non-negative")
    ecal = transform.inverse(x, data["energy"]).sum(axis=(1, 2, 3), dtype=np.float64)
    keep = ecal > 0
    if not keep.all():
        log.warning("%s: dropping %d showers with no energy above threshold", path, int((~keep).sum()))
    if keep.sum() < 2:
        raise InputFileError(f"{path}: fewer than two showers with visible energy; nothing to train on")
    return TrainingShowers(
        x=torch.from_numpy(x[keep]),
        conditions=torch.from_numpy(np.asarray(data["conditions"], dtype=np.float32)[keep]),
        energy_gev=torch.from_numpy(np.asarray(data["energy"], dtype=np.float32)[keep]),
        ecal_gev=torch.from_numpy(ecal[keep].astype(np.float32)),
        transform=transform,
        geometry=geometry,
    )


def build_generator(settings: dict[str, Any], grid_shape: tuple[int, int, int]) -> Generator3D:
    """The generator described by (resolved or architecture-only) settings."""
    return Generator3D(
        grid_shape,
        latent_size=settings["latent_size"],
        channels=settings["generator_channels"],
        kernel_size=settings["kernel_size"],
    )


def mean_absolute_percentage_error(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Keras' MAPE: 100 * mean |target - prediction| / |target| (targets here are never near 0)."""
    return 100.0 * ((target - prediction).abs() / target.abs().clamp(min=1e-7)).mean()


def _make_optimizer(kind: str, params, lr: float) -> torch.optim.Optimizer:
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))
    return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7)  # Keras RMSprop defaults, as the original


@contextlib.contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """Within the block, torch picks deterministic kernels (warning where it has none)."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


class _GanStep:
    """The losses and updates of one batch; holds the networks, optimizers and random streams."""

    def __init__(self, settings, generator, discriminator, opt_g, opt_d, rng, noise_gen, device) -> None:
        self.s = settings
        self.w = settings["loss_weights"]
        self.g, self.d = generator, discriminator
        self.opt_g, self.opt_d = opt_g, opt_d
        self.rng, self.noise_gen, self.device = rng, noise_gen, device

    def noise(self, n: int) -> torch.Tensor:
        # drawn on the CPU so the stream is the same whatever the device
        return torch.randn(n, self.g.noise_size, generator=self.noise_gen).to(self.device)

    def discriminator_parts(self, x, conditions, energy_gev, real: bool, flip: float):
        labels = np.full(len(x), 1.0 if real else 0.0, dtype=np.float32)
        if flip > 0:
            flipped = self.rng.random(len(x)) < flip
            labels[flipped] = 1.0 - labels[flipped]
        out = self.d(x, energy_gev)
        parts = {
            "adversarial": F.binary_cross_entropy_with_logits(out.logit, torch.from_numpy(labels).to(self.device)),
            "energy": mean_absolute_percentage_error(out.energy, conditions[:, 0]),
            "angle": F.l1_loss(out.theta, conditions[:, 1]),
        }
        return parts, sum(self.w[k] * v for k, v in parts.items())

    def generator_parts(self, noise, conditions, energy_gev, ecal_gev):
        out = self.d(self.g(noise, conditions), energy_gev)
        parts = {
            "adversarial": F.binary_cross_entropy_with_logits(out.logit, torch.ones_like(out.logit)),
            "energy": mean_absolute_percentage_error(out.energy, conditions[:, 0]),
            "angle": F.l1_loss(out.theta, conditions[:, 1]),
            "ecal": mean_absolute_percentage_error(out.ecal_sum_gev, ecal_gev),
        }
        return parts, sum(self.w[k] * v for k, v in parts.items())

    def train_batch(self, data: TrainingShowers, index: np.ndarray, pool: np.ndarray | None = None) -> dict[str, float]:
        """One discriminator and `generator_steps` generator updates; the generator's conditions are drawn
        from `pool` (shower indices; None = all showers)."""
        x, cond, e_gev, _ = data.batch(index, self.device)
        record: dict[str, float] = {}
        # discriminator: one update on real, one on generated showers with the same conditions
        self.d.requires_grad_(True)
        with torch.no_grad():
            fake = self.g(self.noise(len(x)), cond)
        d_total = 0.0
        for real, showers in ((True, x), (False, fake)):
            parts, total = self.discriminator_parts(showers, cond, e_gev, real, self.s["label_flip"])
            self.opt_d.zero_grad(set_to_none=True)
            total.backward()
            self.opt_d.step()
            d_total += total.item() / 2
            for k, v in parts.items():
                record[f"d_{k}"] = record.get(f"d_{k}", 0.0) + v.item() / 2
        record["discriminator_loss"] = d_total
        # generator: conditions (E, theta, ECAL sum) drawn together from the training showers
        self.d.requires_grad_(False)
        steps = self.s["generator_steps"]
        g_total = 0.0
        for _ in range(steps):
            drawn = self.rng.integers(0, len(data) if pool is None else len(pool), size=len(x))
            _, cond_g, e_g, ecal_g = data.batch(drawn if pool is None else pool[drawn], self.device)
            parts, total = self.generator_parts(self.noise(len(x)), cond_g, e_g, ecal_g)
            self.opt_g.zero_grad(set_to_none=True)
            total.backward()
            self.opt_g.step()
            g_total += total.item() / steps
            for k, v in parts.items():
                record[f"g_{k}"] = record.get(f"g_{k}", 0.0) + v.item() / steps
        self.d.requires_grad_(True)
        record["generator_loss"] = g_total
        return record

    @torch.no_grad()
    def evaluate(self, data: TrainingShowers, seed: int) -> dict[str, float]:
        """Weighted losses and the ECAL error on held-out showers: networks in eval mode, fixed noise from
        `seed` (the training streams are not touched), no label flips."""
        self.g.eval()
        self.d.eval()
        noise_gen = torch.Generator().manual_seed(seed)
        sums = {"val_generator_loss": 0.0, "val_discriminator_loss": 0.0, "val_g_ecal": 0.0}
        bs = self.s["batch_size"]
        for start in range(0, len(data), bs):
            x, cond, e_gev, ecal = data.batch(np.arange(start, min(start + bs, len(data))), self.device)
            noise = torch.randn(len(x), self.g.noise_size, generator=noise_gen).to(self.device)
            _, d_real = self.discriminator_parts(x, cond, e_gev, real=True, flip=0.0)
            _, d_fake = self.discriminator_parts(self.g(noise, cond), cond, e_gev, real=False, flip=0.0)
            g_parts, g_total = self.generator_parts(noise, cond, e_gev, ecal)
            sums["val_discriminator_loss"] += (d_real + d_fake).item() / 2 * len(x)
            sums["val_generator_loss"] += g_total.item() * len(x)
            sums["val_g_ecal"] += g_parts["ecal"].item() * len(x)
        self.g.train()
        self.d.train()
        return {k: v / len(data) for k, v in sums.items()}


@torch.no_grad()
def recalibrate_batchnorm(
    generator: Generator3D, data: TrainingShowers, n_showers: int, batch_size: int, seed: int, device: torch.device
) -> None:
    """Re-estimate the generator's BatchNorm statistics as exact averages over `n_showers` generated showers
    (conditions drawn from the training set), instead of the slow running averages of the last updates."""
    norms = [m for m in generator.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms or n_showers <= 0:
        return
    rng = np.random.default_rng(seed)
    noise_gen = torch.Generator().manual_seed(seed)
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    generator.train()
    for start in range(0, n_showers, batch_size):
        n = max(2, min(batch_size, n_showers - start))
        _, cond, _, _ = data.batch(rng.integers(0, len(data), size=n), device)
        generator(torch.randn(n, generator.noise_size, generator=noise_gen).to(device), cond)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    generator.eval()


def _write_model(
    out_model: str | Path,
    generator: Generator3D,
    settings: dict[str, Any],
    transform: ShowerTransform,
    geometry: dict[str, Any],
    condition_ranges: dict[str, list[float]],
    provenance: dict[str, Any],
) -> None:
    record = {
        "format": MODEL_FORMAT,
        "generator_state": {k: v.detach().cpu() for k, v in generator.state_dict().items()},
        "architecture": {k: settings[k] for k in ARCHITECTURE_KEYS},
        "grid_shape": list(generator.grid_shape),
        "transform": transform.to_dict(),
        "geometry": geometry,
        "condition_ranges": condition_ranges,
        "provenance": provenance,
    }
    write_model_record(out_model, record)


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
    settings = resolve_settings(settings)
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

    settings: the `calo.train.gan3d` config slice (see DEFAULT_SETTINGS); unknown keys raise ValueError.
    checkpoint_path: written after every epoch; a rerun with the same settings (bar `epochs`), seed and
        inputs resumes from it and gives the same weights as an uninterrupted run (on the CPU).
    validation_h5: optional held-out split; adds val_* columns to the history.
    out_model: torch.save of {"format", "generator_state", "architecture", "grid_shape", "transform",
        "geometry", "condition_ranges", "provenance"}, written atomically.
    Returns the history, one row per epoch. Raises TrainingDiverged on a non-finite loss.
    """
    settings = resolve_settings(settings)
    torch_device = select_device(device)
    data = load_training_showers(train_h5)
    validation = load_training_showers(validation_h5) if validation_h5 is not None else None
    if validation is not None and validation.grid_shape != data.grid_shape:
        raise InputFileError(
            f"{validation_h5}: showers are {validation.grid_shape} cells but {train_h5} has {data.grid_shape}"
        )
    inputs = [Path(train_h5)] + ([Path(validation_h5)] if validation_h5 is not None else [])
    fingerprint = {  # what a checkpoint must match to be resumed; both keys left out act after the last epoch
        "settings": {k: v for k, v in settings.items() if k not in ("epochs", "batchnorm_recalibration")},
        "seed": int(seed),
        "inputs": [sha256_file(p) for p in inputs],
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
        opt_g = _make_optimizer(settings["optimizer"], generator.parameters(), settings["learning_rate_generator"])
        opt_d = _make_optimizer(
            settings["optimizer"], discriminator.parameters(), settings["learning_rate_discriminator"]
        )
        rng = np.random.default_rng(derive_seed(seed, "calo", "train", "gan3d", "batches"))
        noise_gen = torch.Generator().manual_seed(derive_seed(seed, "calo", "train", "gan3d", "noise"))
        step = _GanStep(settings, generator, discriminator, opt_g, opt_d, rng, noise_gen, torch_device)
        batch_size = min(settings["batch_size"], len(data))
        pretrain_pool = pretraining_showers(data, settings, batch_size)

        def train_epoch(epoch: int) -> dict[str, float]:
            generator.train()
            discriminator.train()
            pool = pretrain_pool if epoch < settings["pretrain_epochs"] else None
            order = rng.permutation(len(data)) if pool is None else rng.permutation(pool)
            n_batches = len(order) // batch_size
            sums: dict[str, float] = {}
            for b in range(n_batches):
                for k, v in step.train_batch(data, order[b * batch_size : (b + 1) * batch_size], pool).items():
                    sums[k] = sums.get(k, 0.0) + v / n_batches
            if validation is not None:
                sums.update(step.evaluate(validation, derive_seed(seed, "calo", "train", "gan3d", "validation")))
            return sums

        training = CheckpointedTraining(
            checkpoint_path,
            out_history,
            modules={"generator": generator, "discriminator": discriminator},
            optimizers={"generator": opt_g, "discriminator": opt_d},
            generators={"batches": rng, "noise": noise_gen},
            fingerprint=fingerprint,
        )
        history = training.run(settings["epochs"], train_epoch)
        recalibrate_batchnorm(
            generator,
            data,
            settings["batchnorm_recalibration"],
            batch_size,
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
