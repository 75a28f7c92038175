"""Train the CaloINN flow (config slice `calo.train.caloinn`) and write its model file.

Training maximises the likelihood of the preprocessed showers (twins.calo.models.caloinn.preprocessing) given
the conditions; the loss is the negative log-likelihood in nats per feature, with fresh dequantisation noise
for every batch. With a validation file, `val_loss` (fixed noise) is computed every epoch and training
stops early after `patience` epochs without improvement, keeping the best weights.

Under torchrun (twins.core.distributed) every rank prepares the same whole batch and trains on its
slice; DistributedDataParallel averages the gradients, so the run follows the one-process run with the
same `batch_size` (the effective batch), and only rank 0 writes files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from twins.calo.models.caloinn.network import (
    ARCHITECTURE_KEYS,
    CaloINNFlow,
    TwoFlowCaloINN,
    build_flow,
    nats_per_feature,
)
from twins.calo.models.caloinn.preprocessing import CaloINNPreprocessing
from twins.calo.models.caloinn.training_data import axis_cells_per_tan, load_split_showers
from twins.calo.models.determinism import deterministic_algorithms
from twins.core.config import resolve
from twins.core.device import select_device
from twins.core.distributed import DistributedContext
from twins.core.io import InputFileError
from twins.core.model_file import save_model
from twins.core.plots import HistoryPanel
from twins.core.provenance import make_provenance, sha256_file
from twins.core.seeding import derive_seed, seed_everything
from twins.core.training import CheckpointedTraining

log = logging.getLogger(__name__)

TWIN, MODEL = "calo", "caloinn"
WRITER = "the calo_train rule (model caloinn)"
SETTINGS_KEY = "calo.train.caloinn"
# the training-history figure: the whole model's loss (bold), Flow II's and Flow I's, validation values dashed
HISTORY_PANELS = (
    HistoryPanel(
        ("loss", "val_loss", "shape_loss", "energy_loss", "val_energy_loss"),
        ylabel="negative log-likelihood per feature [nats]",
    ),
)


def training_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """The `calo.train.caloinn` slice with the schema's defaults and checks (twins.core.config.resolve; ConfigError
    naming the key) and the cross-field checks the schema cannot express (ValueError naming the keys and the fix).
    A single hidden layer may be given as its width (`hidden_features: 32` is [32])."""
    settings = dict(settings or {})
    for key in ("hidden_features", "energy_flow_hidden_features"):
        value = settings.get(key)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            settings[key] = [int(value)]
    out = resolve(SETTINGS_KEY, settings)
    if out["axis_offset_conditions"] and not out["align_to_axis"]:
        raise ValueError(
            f"{SETTINGS_KEY}.axis_offset_conditions needs align_to_axis: true (the offsets are what the roll "
            "leaves over); set align_to_axis: true or axis_offset_conditions: false"
        )
    if out["shape_flow"] == "layerwise" and not out["energy_flow"]:
        raise ValueError(
            f"{SETTINGS_KEY}.shape_flow: layerwise needs energy_flow: true (each layer's flow is conditioned "
            "on the layer energies that Flow I samples); set energy_flow: true or shape_flow: joint"
        )
    return out


def _key(seed: int, *keys: str) -> int:
    return derive_seed(seed, "calo", "train", "caloinn", *keys)


@dataclass
class FlowTrainingData:
    """What the flows train on: the training showers (cells (N, nx, ny, nz) GeV float64, energy (N,) GeV, theta
    (N,) rad), their standardised conditions (N, C), the preprocessing fitted to them, the split's geometry, the
    input files, and the validation features (M, F) and conditions (M, C) (None without a validation file)."""

    cells: torch.Tensor
    energy: torch.Tensor
    theta: torch.Tensor
    conditions: torch.Tensor
    preprocessing: CaloINNPreprocessing
    geometry: dict[str, Any]
    inputs: list[Path]
    val_features: torch.Tensor | None = None
    val_conditions: torch.Tensor | None = None


def _prepare(
    train_h5: str | Path, validation_h5: str | Path | None, settings: dict[str, Any], seed: int
) -> FlowTrainingData:
    """Read the split files and fit the preprocessing to the training showers (one draw of the noise)."""
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
    preprocessing = CaloINNPreprocessing(
        tuple(cells.shape[1:]),
        cell_threshold_gev=threshold,
        noise_level_gev=float(settings["noise_level_gev"]),
        logit_alpha=float(settings["logit_alpha"]),
        axis_cells_per_tan=axis_cells_per_tan(geometry, cells.shape[3], train_h5) if settings["align_to_axis"] else [],
        axis_offset_conditions=settings["axis_offset_conditions"],
    )
    preprocessing.fit(cells, energy, theta, torch.Generator().manual_seed(_key(seed, "fit")))
    data = FlowTrainingData(
        cells, energy, theta, preprocessing.encode_conditions(energy, theta), preprocessing, geometry, [Path(train_h5)]
    )
    if validation is not None:
        data.inputs.append(Path(validation_h5))
        noise = torch.Generator().manual_seed(_key(seed, "validation"))
        data.val_features = preprocessing.forward(validation[0], validation[1], noise, validation[2]).float()
        data.val_conditions = preprocessing.encode_conditions(validation[1], validation[2])
    return data


def _fingerprint(settings: dict[str, Any], seed: int, inputs: list[Path]) -> dict[str, Any]:
    """What a checkpoint must match to be resumed."""
    resumable_keys = ("patience", "processes")
    if settings["lr_schedule"] != "one_cycle":  # a one-cycle schedule spans all epochs: `epochs` cannot change
        resumable_keys += ("epochs",)
    return {
        "settings": {k: v for k, v in settings.items() if k not in resumable_keys},
        "seed": int(seed),
        "inputs": [sha256_file(p) for p in inputs],
    }


class _LogProb(torch.nn.Module):
    """The flow's log-density as forward(), so DistributedDataParallel can synchronise its gradients."""

    def __init__(self, flow: torch.nn.Module) -> None:
        super().__init__()
        self.flow = flow

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.flow.log_prob(x, c)


@dataclass
class _FlowOptimisation:
    """One flow's optimiser, learning-rate schedule and batches: Flow II (or the single flow) in the main loop,
    or Flow I in its own passes. model: the flow's log-density as forward(), DDP-wrapped under torchrun;
    shard: this rank's rows of every batch."""

    module: torch.nn.Module
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    rng: np.random.Generator
    batch_size: int
    batches: int
    shard: slice


def _optimisation(
    module: torch.nn.Module,
    lr: float,
    batch_size: int,
    n_showers: int,
    passes: int,
    rng: np.random.Generator,
    settings: dict[str, Any],
    context: DistributedContext,
) -> _FlowOptimisation:
    """Adam on `module` with the configured schedule; `passes` over the showers per epoch."""
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    batches = n_showers // batch_size
    if settings["lr_schedule"] == "one_cycle":  # warm up to lr over 30 % of the steps, then anneal (Smith & Topin)
        total = settings["epochs"] * batches * passes
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total)
    else:
        gamma = float(settings["lr_decay"]) if settings["lr_schedule"] == "exponential" else 1.0
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
    model = context.wrap(_LogProb(module))  # DDP hooks forward(): log_prob goes through it
    return _FlowOptimisation(module, model, optimizer, scheduler, rng, batch_size, batches, context.shard(batch_size))


class _CaloINNEpochs:
    """The epochs of CaloINN training: one pass of Flow II (or of the single flow) over the training showers,
    then, with two flows, `energy_flow_passes` passes of Flow I, each with its own optimiser and schedule;
    then the validation loss. Called by CheckpointedTraining with the epoch number."""

    def __init__(self, flow, data: FlowTrainingData, settings, seed: int, context, device: torch.device) -> None:
        self.flow, self.data, self.settings, self.context, self.device = flow, data, settings, context, device
        self.two_flows = isinstance(flow, TwoFlowCaloINN)
        self.per_batch = settings["lr_schedule"] == "one_cycle"
        n = len(data.cells)
        # with two flows the main loop trains Flow II only; Flow I has its own passes
        self.main = _optimisation(
            flow.shape_flow if self.two_flows else flow,
            float(settings["learning_rate"]),
            min(settings["batch_size"], n),
            n,
            1,
            np.random.default_rng(_key(seed, "batches")),
            settings,
            context,
        )
        self.noise_gen = torch.Generator().manual_seed(_key(seed, "noise"))
        self.energy = None
        if self.two_flows:
            self.energy = _optimisation(
                flow.energy_flow,
                float(settings["energy_flow_learning_rate"]),
                min(settings["energy_flow_batch_size"], n),
                n,
                settings["energy_flow_passes"],
                np.random.default_rng(_key(seed, "energy_batches")),
                settings,
                context,
            )

    def state(self) -> dict[str, dict[str, Any]]:
        """The optimizers, schedulers and random generators a checkpoint keeps, by name."""
        state = {
            "optimizers": {"flow": self.main.optimizer},
            "schedulers": {"flow": self.main.scheduler},
            "generators": {"batches": self.main.rng, "noise": self.noise_gen},
        }
        if self.energy is not None:
            state["optimizers"]["energy_flow"] = self.energy.optimizer
            state["schedulers"]["energy_flow"] = self.energy.scheduler
            state["generators"]["energy_batches"] = self.energy.rng
        return state

    def _step(self, stage: _FlowOptimisation, loss: torch.Tensor) -> None:
        stage.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.settings["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(stage.module.parameters(), float(self.settings["grad_clip"]))
        stage.optimizer.step()
        if self.per_batch:
            stage.scheduler.step()

    def _main_pass(self) -> float:
        """One pass of Flow II (or the single flow); this rank's mean loss in nats per feature."""
        m, d, flow = self.main, self.data, self.flow
        order = torch.from_numpy(m.rng.permutation(len(d.cells)))
        total = 0.0
        for b in range(m.batches):
            i = order[b * m.batch_size : (b + 1) * m.batch_size]
            # preprocessed in float64: logit(1 - alpha) is 1 in float32 for the small alpha; every rank
            # draws the noise of the whole batch so the random streams stay those of one process
            x = d.preprocessing.forward(d.cells[i], d.energy[i], self.noise_gen, d.theta[i])[m.shard]
            x = x.float().to(self.device)
            c = d.conditions[i][m.shard].to(self.device)
            if self.two_flows:  # Flow II learns on the true layer variables (teacher forcing)
                fractions, layers = flow.split(x)
                loss = nats_per_feature(m.model(fractions, flow.shape_context(c, layers)), flow.cell_features)
            else:
                loss = nats_per_feature(m.model(x, c), d.preprocessing.features)
            self._step(m, loss)
            total += loss.item() / m.batches
        if not self.per_batch:
            m.scheduler.step()
        return total

    def _energy_passes(self) -> float:
        """`energy_flow_passes` passes of Flow I over the training set; its mean loss of the last pass."""
        e, d = self.energy, self.data
        total = 0.0
        for _ in range(self.settings["energy_flow_passes"]):
            order = torch.from_numpy(e.rng.permutation(len(d.cells)))
            total = 0.0
            for b in range(e.batches):
                i = order[b * e.batch_size : (b + 1) * e.batch_size]
                x = d.preprocessing.layer_variables(d.cells[i], d.energy[i], self.noise_gen, d.theta[i])[e.shard]
                layers = x.float().to(self.device)
                c = d.conditions[i][e.shard].to(self.device)
                loss = nats_per_feature(e.model(layers, c), layers.shape[1])
                self._step(e, loss)
                total += loss.item() / e.batches
        if not self.per_batch:
            e.scheduler.step()
        return self.context.mean(total)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """The history row of one epoch: loss, [shape_loss, energy_loss,] lr[, val_loss[, val_energy_loss]]."""
        self.flow.train()
        lr = self.main.optimizer.param_groups[0]["lr"]
        record = {"loss": self.context.mean(self._main_pass()), "lr": lr}
        if self.two_flows:  # loss: of both flows together, in nats per feature as for the single flow
            energy_loss = self._energy_passes()
            pre = self.data.preprocessing
            record = {
                "loss": (record["loss"] * self.flow.cell_features + energy_loss * pre.layers) / pre.features,
                "shape_loss": record["loss"],
                "energy_loss": energy_loss,
                "lr": lr,
            }
        if self.data.val_features is not None:
            record.update(
                _evaluate(
                    self.flow, self.data.val_features, self.data.val_conditions, self.main.batch_size, self.device
                )
            )
        return record


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


def _write_model(out_model, flow, settings, data: FlowTrainingData, epochs_trained: int, seed: int) -> None:
    meta = {
        "architecture": {k: settings[k] for k in ARCHITECTURE_KEYS},
        "preprocessing": data.preprocessing.to_dict(),
        "geometry": data.geometry,
        "condition_ranges": {
            "energy_gev": [float(data.energy.min()), float(data.energy.max())],
            "theta_rad": [float(data.theta.min()), float(data.theta.max())],
        },
        "provenance": make_provenance(
            "calo_train_caloinn", settings, seed=seed, inputs=data.inputs, epochs_trained=epochs_trained
        ),
    }
    save_model(out_model, TWIN, MODEL, weights={"flow": flow}, meta=meta)


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

    settings: the `calo.train.caloinn` slice (defaults and checks from the schema, $defs/caloinn).
    checkpoint_path: written after every epoch; a rerun with the same settings (bar `epochs`), seed and
        inputs resumes from it and gives the same weights as an uninterrupted run (on the CPU).
    validation_h5: optional held-out split; adds `val_loss` and early stopping on it.
    With `energy_flow` (two flows), every epoch trains Flow II on the cell fractions for one pass and then
    Flow I on the layer variables for `energy_flow_passes` passes, each with its own optimiser and schedule;
    the history adds `shape_loss`, `energy_loss` (and `val_energy_loss`) in nats per feature of each flow,
    `loss` and `val_loss` stay those of the whole model; the checkpoint holds both flows and optimisers.
    out_model: a twins.core.model_file record (twin calo, model caloinn): weights {"flow"}, meta
        {"architecture", "preprocessing", "geometry", "condition_ranges", "provenance"}.
    Returns the history (epoch, loss, [val_loss,] lr, seconds), one row per epoch.
    """
    settings = training_settings(settings)
    context = DistributedContext.from_environment()
    torch_device = context.device(select_device(device))
    data = _prepare(train_h5, validation_h5, settings, seed)
    with deterministic_algorithms():
        seed_everything(_key(seed, "init"))
        flow = build_flow(settings, data.preprocessing.features, data.preprocessing.layers).to(torch_device)
        epochs = _CaloINNEpochs(flow, data, settings, seed, context, torch_device)
        training = CheckpointedTraining(
            checkpoint_path,
            out_history,
            modules={"flow": flow},
            **epochs.state(),
            fingerprint=_fingerprint(settings, seed, data.inputs),
            early_stopping={"monitor": "val_loss", "patience": settings["patience"]}
            if data.val_features is not None
            else None,
            is_main=context.is_main,
        )
        history = training.run(settings["epochs"], epochs.train_epoch)
    if context.is_main:
        _write_model(out_model, flow, settings, data, len(history), seed)
        log.info("wrote %s after %d epochs", out_model, len(history))
    return history
