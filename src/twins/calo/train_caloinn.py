"""Train the CaloINN flow (config slice `calo.train.caloinn`) and generate showers with it.

Training maximises the likelihood of the preprocessed showers (see twins.calo.caloinn) given the
conditions; the loss is the negative log-likelihood in nats per feature, with fresh dequantisation noise
for every batch. With a validation file, `val_loss` (fixed noise) is computed every epoch and training
stops early after `patience` epochs without improvement, keeping the best weights.

Under torchrun (twins.core.distributed) every rank prepares the same whole batch and trains on its
slice; DistributedDataParallel averages the gradients, so the run follows the one-process run with the
same `batch_size` (the effective batch), and only rank 0 writes files.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from twins.calo.caloinn import (
    ARCHITECTURE_KEYS,
    CaloINNFlow,
    CaloINNPreprocessing,
    TwoFlowCaloINN,
    build_flow,
    nats_per_feature,
    resolve_settings,
)
from twins.calo.model_file import load_weights, read_model_record, write_model_record
from twins.calo.sampling import checked_conditions, timed_batches, warn_if_extrapolating
from twins.calo.train import deterministic_algorithms
from twins.core.distributed import DistributedContext
from twins.core.io import InputFileError, open_hdf5, read_datasets
from twins.core.provenance import make_provenance, sha256_file
from twins.core.seeding import derive_seed, seed_everything
from twins.core.training import CheckpointedTraining, select_device

log = logging.getLogger(__name__)

MODEL_FORMAT = "twins.calo.caloinn/1"
MODEL_KEYS = ("format", "flow_state", "architecture", "preprocessing")
SHOWER_DATASETS = ("showers", "energy", "theta")


def load_split_showers(path: str | Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict, float]:
    """(cells (N, nx, ny, nz) GeV float64, energy (N,) GeV, theta (N,) rad, geometry, cell threshold GeV) of a
    preprocessed split file; showers without visible energy are dropped. InputFileError naming the file."""
    data = read_datasets(path, SHOWER_DATASETS)
    with open_hdf5(path) as f:
        if "geometry" not in f.attrs:
            raise InputFileError(f"{path}: missing attribute 'geometry'; rerun the calo_preprocess rule")
        geometry = json.loads(f.attrs["geometry"])
        transform = json.loads(f.attrs["transform"]) if "transform" in f.attrs else {}
    cells, energy, theta = (np.asarray(data[k], dtype=np.float64) for k in SHOWER_DATASETS)
    n = len(cells)
    if cells.ndim != 4 or energy.shape != (n,) or theta.shape != (n,):
        raise InputFileError(
            f"{path}: 'showers' must be (N, nx, ny, nz) and 'energy', 'theta' (N,); got "
            f"{cells.shape}, {energy.shape}, {theta.shape}"
        )
    expected = tuple(int(geometry[k]) for k in ("nx", "ny", "nz") if k in geometry)
    if len(expected) == 3 and expected != cells.shape[1:]:
        raise InputFileError(f"{path}: showers are {cells.shape[1:]} cells but the geometry attribute says {expected}")
    for name, values in zip(SHOWER_DATASETS, (cells, energy, theta)):
        if not np.isfinite(values).all():
            raise InputFileError(f"{path}: dataset '{name}' holds NaN or infinite values; rerun calo_preprocess")
    if (energy <= 0).any() or (cells < 0).any():
        raise InputFileError(f"{path}: incident energies must be positive and 'showers' non-negative")
    keep = cells.sum(axis=(1, 2, 3)) > 0
    if not keep.all():
        log.warning("%s: dropping %d showers with no visible energy", path, int((~keep).sum()))
    if keep.sum() < 2:
        raise InputFileError(f"{path}: fewer than two showers with visible energy; nothing to train on")
    threshold = float(transform.get("cell_threshold_gev", 0.0))
    as_t = torch.from_numpy
    return as_t(cells[keep]), as_t(energy[keep]), as_t(theta[keep]), geometry, threshold


def axis_cells_per_tan(geometry: dict, layers: int, path: str | Path) -> list[float]:
    """z_i / cell_size_x for every layer (z_i: depth of the layer's centre), from a split file's geometry
    attribute; InputFileError naming what is missing and the fix."""
    missing = [k for k in ("layer_thickness_mm", "cell_size_x_mm") if k not in geometry]
    if missing:
        raise InputFileError(
            f"{path}: the geometry attribute lacks {missing}, which calo.train.caloinn.align_to_axis needs; "
            "give the geometry those fields or set align_to_axis: false"
        )
    thickness, cell = float(geometry["layer_thickness_mm"]), float(geometry["cell_size_x_mm"])
    if thickness <= 0 or cell <= 0:
        raise InputFileError(f"{path}: geometry layer_thickness_mm and cell_size_x_mm must be positive")
    return [(i + 0.5) * thickness / cell for i in range(layers)]


def _write_model(out_model, flow, settings, preprocessing, geometry, condition_ranges, provenance) -> None:
    record = {
        "format": MODEL_FORMAT,
        "flow_state": {k: v.detach().cpu() for k, v in flow.state_dict().items()},
        "architecture": {k: settings[k] for k in ARCHITECTURE_KEYS},
        "preprocessing": preprocessing.to_dict(),
        "geometry": geometry,
        "condition_ranges": condition_ranges,
        "provenance": provenance,
    }
    write_model_record(out_model, record)


def train_caloinn(
    train_h5: str | Path,
    settings: dict[str, Any],
    seed: int,
    out_model: str | Path,
    out_history: str | Path,
    checkpoint_path: str | Path,
    device: str = "auto",
    validation_h5: str | Path | None = None,
) -> pd.DataFrame:
    """Train CaloINN on a preprocessed split file (its 'showers' in GeV); write the model file and history CSV.

    settings: the `calo.train.caloinn` slice (see twins.calo.caloinn.DEFAULT_SETTINGS); unknown keys raise.
    checkpoint_path: written after every epoch; a rerun with the same settings (bar `epochs`), seed and
        inputs resumes from it and gives the same weights as an uninterrupted run (on the CPU).
    validation_h5: optional held-out split; adds `val_loss` and early stopping on it.
    With `energy_flow` (two flows), every epoch trains Flow II on the cell fractions for one pass and then
    Flow I on the layer variables for `energy_flow_passes` passes, each with its own optimiser and schedule;
    the history adds `shape_loss`, `energy_loss` (and `val_energy_loss`) in nats per feature of each flow,
    `loss` and `val_loss` stay those of the whole model; the checkpoint holds both flows and optimisers.
    out_model: torch.save of {"format": "twins.calo.caloinn/1", "flow_state", "architecture",
        "preprocessing", "geometry", "condition_ranges", "provenance"}, written atomically.
    Returns the history (epoch, loss, [val_loss,] lr, seconds), one row per epoch.
    """
    settings = resolve_settings(settings)
    context = DistributedContext.from_environment()
    torch_device = context.device(select_device(device))
    cells, energy, theta, geometry, threshold = load_split_showers(train_h5)
    validation = load_split_showers(validation_h5) if validation_h5 is not None else None
    if validation is not None and validation[0].shape[1:] != cells.shape[1:]:
        raise InputFileError(
            f"{validation_h5}: showers are {tuple(validation[0].shape[1:])} cells but {train_h5} has "
            f"{tuple(cells.shape[1:])}"
        )
    if settings["noise_level_gev"] > threshold > 0:
        log.warning(
            "noise_level_gev %.3g is above the cell threshold %.3g GeV: dequantisation noise can survive generation",
            settings["noise_level_gev"],
            threshold,
        )
    inputs = [Path(train_h5)] + ([Path(validation_h5)] if validation_h5 is not None else [])
    # a one-cycle schedule spans all epochs, so changing `epochs` cannot resume it
    resumable_keys = ("patience", "processes")
    if settings["lr_schedule"] != "one_cycle":
        resumable_keys += ("epochs",)
    fingerprint = {
        "settings": {k: v for k, v in settings.items() if k not in resumable_keys},
        "seed": int(seed),
        "inputs": [sha256_file(p) for p in inputs],
    }

    def key(*k: str) -> int:
        return derive_seed(seed, "calo", "train", "caloinn", *k)

    preprocessing = CaloINNPreprocessing(
        tuple(cells.shape[1:]),
        cell_threshold_gev=threshold,
        noise_level_gev=float(settings["noise_level_gev"]),
        logit_alpha=float(settings["logit_alpha"]),
        axis_cells_per_tan=axis_cells_per_tan(geometry, cells.shape[3], train_h5) if settings["align_to_axis"] else [],
        axis_offset_conditions=settings["axis_offset_conditions"],
    )
    preprocessing.fit(cells, energy, theta, torch.Generator().manual_seed(key("fit")))
    conditions = preprocessing.encode_conditions(energy, theta)
    val_features = val_conditions = None
    if validation is not None:
        val_features = preprocessing.forward(
            validation[0], validation[1], torch.Generator().manual_seed(key("validation")), validation[2]
        ).float()
        val_conditions = preprocessing.encode_conditions(validation[1], validation[2])

    with deterministic_algorithms():
        seed_everything(key("init"))
        flow = build_flow(settings, preprocessing.features, preprocessing.layers).to(torch_device)
        two_flows = isinstance(flow, TwoFlowCaloINN)
        # with two flows the optimiser of the main loop trains Flow II only; Flow I has its own passes below
        main_flow = flow.shape_flow if two_flows else flow
        optimizer = torch.optim.Adam(main_flow.parameters(), lr=float(settings["learning_rate"]))
        rng = np.random.default_rng(key("batches"))
        noise_gen = torch.Generator().manual_seed(key("noise"))
        batch_size = min(settings["batch_size"], len(cells))
        n_batches = len(cells) // batch_size
        per_batch = settings["lr_schedule"] == "one_cycle"

        def make_scheduler(opt, lr: float, steps_per_epoch: int):
            if per_batch:  # warm up to lr over 30 % of the steps, then anneal (Smith & Topin 2017)
                total = settings["epochs"] * steps_per_epoch
                return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total)
            gamma = float(settings["lr_decay"]) if settings["lr_schedule"] == "exponential" else 1.0
            return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)

        scheduler = make_scheduler(optimizer, float(settings["learning_rate"]), n_batches)
        optimizers, schedulers = {"flow": optimizer}, {"flow": scheduler}
        generators = {"batches": rng, "noise": noise_gen}
        mine = context.shard(batch_size)  # this rank's rows of every batch
        model = context.wrap(_LogProb(main_flow))  # DDP hooks forward(): log_prob goes through it
        if two_flows:
            energy_lr = float(settings["energy_flow_learning_rate"])
            energy_optimizer = torch.optim.Adam(flow.energy_flow.parameters(), lr=energy_lr)
            energy_batch_size = min(settings["energy_flow_batch_size"], len(cells))
            energy_batches = len(cells) // energy_batch_size
            energy_scheduler = make_scheduler(
                energy_optimizer, energy_lr, energy_batches * settings["energy_flow_passes"]
            )
            energy_rng = np.random.default_rng(key("energy_batches"))
            optimizers["energy_flow"], schedulers["energy_flow"] = energy_optimizer, energy_scheduler
            generators["energy_batches"] = energy_rng
            energy_mine = context.shard(energy_batch_size)
            energy_model = context.wrap(_LogProb(flow.energy_flow))

        def step(opt, sched, module, loss) -> None:
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if settings["grad_clip"] > 0:
                torch.nn.utils.clip_grad_norm_(module.parameters(), float(settings["grad_clip"]))
            opt.step()
            if per_batch:
                sched.step()

        def train_energy_flow() -> float:
            """`energy_flow_passes` passes of Flow I over the training set; its mean loss of the last pass."""
            total = 0.0
            for _ in range(settings["energy_flow_passes"]):
                order = torch.from_numpy(energy_rng.permutation(len(cells)))
                total = 0.0
                for b in range(energy_batches):
                    i = order[b * energy_batch_size : (b + 1) * energy_batch_size]
                    x = preprocessing.layer_variables(cells[i], energy[i], noise_gen, theta[i])[energy_mine]
                    layers = x.float().to(torch_device)
                    c = conditions[i][energy_mine].to(torch_device)
                    loss = nats_per_feature(energy_model(layers, c), layers.shape[1])
                    step(energy_optimizer, energy_scheduler, flow.energy_flow, loss)
                    total += loss.item() / energy_batches
            if not per_batch:
                energy_scheduler.step()
            return context.mean(total)

        def train_epoch(epoch: int) -> dict[str, float]:
            flow.train()
            order = torch.from_numpy(rng.permutation(len(cells)))
            lr = optimizer.param_groups[0]["lr"]
            total = 0.0
            for b in range(n_batches):
                i = order[b * batch_size : (b + 1) * batch_size]
                # preprocessed in float64: logit(1 - alpha) is 1 in float32 for the small alpha; every rank
                # draws the noise of the whole batch so the random streams stay those of one process
                x = preprocessing.forward(cells[i], energy[i], noise_gen, theta[i])[mine].float().to(torch_device)
                c = conditions[i][mine].to(torch_device)
                if two_flows:  # Flow II learns on the true layer variables (teacher forcing)
                    fractions, layers = flow.split(x)
                    loss = nats_per_feature(model(fractions, flow.shape_context(c, layers)), flow.cell_features)
                else:
                    loss = nats_per_feature(model(x, c), preprocessing.features)
                step(optimizer, scheduler, main_flow, loss)
                total += loss.item() / n_batches
            if not per_batch:
                scheduler.step()
            record = {"loss": context.mean(total), "lr": lr}
            if two_flows:  # loss: of both flows together, in nats per feature as for the single flow
                energy_loss = train_energy_flow()
                record = {
                    "loss": (record["loss"] * flow.cell_features + energy_loss * preprocessing.layers)
                    / preprocessing.features,
                    "shape_loss": record["loss"],
                    "energy_loss": energy_loss,
                    "lr": lr,
                }
            if val_features is not None:
                record.update(_evaluate(flow, val_features, val_conditions, batch_size, torch_device))
            return record

        training = CheckpointedTraining(
            checkpoint_path,
            out_history,
            modules={"flow": flow},
            optimizers=optimizers,
            schedulers=schedulers,
            generators=generators,
            fingerprint=fingerprint,
            early_stopping={"monitor": "val_loss", "patience": settings["patience"]} if validation else None,
            is_main=context.is_main,
        )
        history = training.run(settings["epochs"], train_epoch)

    if not context.is_main:
        return history

    _write_model(
        out_model,
        flow,
        settings,
        preprocessing,
        geometry,
        condition_ranges={
            "energy_gev": [float(energy.min()), float(energy.max())],
            "theta_rad": [float(theta.min()), float(theta.max())],
        },
        provenance=make_provenance(
            "calo_train_caloinn", settings, seed=seed, inputs=inputs, epochs_trained=len(history)
        ),
    )
    log.info("wrote %s after %d epochs", out_model, len(history))
    return history


class _LogProb(torch.nn.Module):
    """The flow's log-density as forward(), so DistributedDataParallel can synchronise its gradients."""

    def __init__(self, flow: CaloINNFlow) -> None:
        super().__init__()
        self.flow = flow

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.flow.log_prob(x, c)


@torch.no_grad()
def _evaluate(
    flow: CaloINNFlow | TwoFlowCaloINN, features: torch.Tensor, conditions: torch.Tensor, batch_size: int, device
) -> dict[str, float]:
    """{"val_loss": nats per feature of the whole model[, "val_energy_loss": of Flow I per layer variable]}."""
    flow.eval()
    total = energy_total = 0.0
    two_flows = isinstance(flow, TwoFlowCaloINN)
    for start in range(0, len(features), batch_size):
        x, c = features[start : start + batch_size].to(device), conditions[start : start + batch_size].to(device)
        total += nats_per_feature(flow.log_prob(x, c), features.shape[1]).item() * len(x)
        if two_flows:
            layers = flow.split(x)[1]
            energy_total += nats_per_feature(flow.energy_flow.log_prob(layers, c), layers.shape[1]).item() * len(x)
    flow.train()
    out = {"val_loss": total / len(features)}
    if two_flows:
        out["val_energy_loss"] = energy_total / len(features)
    return out


def load_caloinn(
    model_path: str | Path, device: str | torch.device = "cpu"
) -> tuple[CaloINNFlow | TwoFlowCaloINN, CaloINNPreprocessing, dict]:
    """Rebuild the flow of a model file written by `train_caloinn`, in eval mode on `device`: the two-flow
    model where its architecture says `energy_flow`, else (also for files written before the option) the
    single coupling flow.

    Returns (flow, preprocessing, meta); meta holds the file's geometry, condition_ranges, architecture and
    provenance. InputFileError naming the file when it is missing, unreadable or not a CaloINN model.
    """
    record = read_model_record(model_path, MODEL_KEYS, MODEL_FORMAT, "CaloINN", "train_caloinn")
    preprocessing = CaloINNPreprocessing(**record["preprocessing"])
    try:
        flow = build_flow(record["architecture"], preprocessing.features, preprocessing.layers)
    except (KeyError, ValueError) as err:
        raise InputFileError(
            f"{model_path}: its architecture record cannot be rebuilt ({err}); rerun train_caloinn"
        ) from None
    load_weights(flow, record["flow_state"], model_path, device)
    meta = {k: v for k, v in record.items() if k != "flow_state"}
    return flow, preprocessing, meta


@torch.no_grad()
def generate_caloinn(
    model_path: str | Path,
    energy: np.ndarray,
    theta: np.ndarray,
    batch_size: int,
    seed: int,
    device: str = "auto",
    temperature: float = 1.0,
    clamp_to_training_range: bool = False,
) -> tuple[np.ndarray, float]:
    """Showers at the given incident energies (GeV, (N,)) and angles (rad, (N,)), as
    twins.calo.generate.generate_showers.

    temperature: the scale of the cell fractions' base-space noise (Flow II's; the layer energies' is left
    alone): 1 samples the trained density, below 1 draws fewer showers from its tails (see
    twins.calo.temperature).
    clamp_to_training_range: clip every generated feature to the range the training showers spanned
    (`CaloINNPreprocessing.clamp_to_training_range`); model files written before the range was recorded
    are sampled unclipped, with a warning.

    Returns (cells, showers_per_second): cells float32 (N, nx, ny, nz) in GeV through the inverse
    preprocessing (cell threshold reapplied); the throughput counts the flow, the inverse preprocessing and
    the copy to host memory, timed after one untimed warm-up batch. The base-space noise is drawn on the
    CPU from `seed` (bit-identical on CPU; GPU kernels may differ in the last bits).
    """
    energy, theta = checked_conditions(energy, theta, batch_size)
    torch_device = select_device(device)
    flow, preprocessing, meta = load_caloinn(model_path, torch_device)
    warn_if_extrapolating(energy, meta)
    energy_t, theta_t = torch.from_numpy(energy), torch.from_numpy(theta)
    conditions = preprocessing.encode_conditions(energy_t, theta_t)
    if not 0 < float(temperature) <= 2:
        raise ValueError(f"the CaloINN sampling temperature must be in (0, 2]; got {temperature!r}")
    noise = torch.randn(len(energy), preprocessing.features, generator=torch.Generator().manual_seed(int(seed)))
    noise[:, : preprocessing.features - preprocessing.layers] *= float(temperature)  # the cell fractions' part
    cells = np.empty((len(energy), *preprocessing.grid_shape), dtype=np.float32)
    if clamp_to_training_range and not preprocessing.has_training_range:
        log.warning("%s records no training range (written before it was); sampling without the clamp", model_path)
        clamp_to_training_range = False

    def run_batch(sl: slice) -> torch.Tensor:
        x = flow.sample_from_noise(noise[sl].to(torch_device), conditions[sl].to(torch_device))
        if clamp_to_training_range:
            x = preprocessing.clamp_to_training_range(x)
        return preprocessing.inverse(x.double(), energy_t[sl].to(torch_device), theta_t[sl]).float().cpu()

    rate = timed_batches(cells, batch_size, run_batch, torch_device)
    return cells, rate
