"""GlitchFlow: a U-Net with residual blocks and attention-gated skip connections.

Maps the selected auxiliary channels' Q-transform amplitude + phase spectrograms, the p predicted
fringe maps and the r scattered-field maps, (B, 2k + p + r, F, T), to the strain's amplitude spectrogram
sqrt(E), (B, F, T). F and T must be divisible by 2**(levels-1).
Inputs are conditioned inside the model: amplitudes (which span decades in loud witnesses) go through
log1p, phases through (sin, cos); every fringe map is also multiplied by every field map, because an
arch's amplitude is the scattered field (how loud) where the fringe frequency lies (where), a product a
stack of ReLU convolutions only approximates; a last map holds the row's log-frequency in [-1, 1] so the
network can learn the strain noise's frequency dependence (convolutions alone are translation invariant).
Callers pass the TFrame tensors unchanged.

Training (rule virgo_train) fits the U-Net with an L1 loss, keeping the weights of the epoch with the lowest
validation L1 (early stopping after `patience` epochs); the model file (twins.core.model_file) holds the
weights "model" and the meta settings, channels, fringe_channels, power_channels and provenance.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from twins.core.config import resolve
from twins.core.device import select_device
from twins.core.io import get_provenance
from twins.core.model_file import ModelFile, load_model, save_model
from twins.core.provenance import make_provenance, sha256_file
from twins.core.seeding import derive_seed, seed_everything
from twins.core.training import CheckpointedTraining
from twins.virgo.io import TFrame, read_tframe

log = logging.getLogger(__name__)

NAME = "glitchflow"
WRITER = "virgo_train"


class ResidualBlock(nn.Module):
    """Two 3x3 conv + batch-norm + ReLU layers with an identity (or 1x1) shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class AttentionGate(nn.Module):
    """Additive attention (Oktay et al. 2018): the decoder's gating signal weighs the skip features
    pixel by pixel, alpha = sigmoid(psi(relu(W_x x + W_g g))), so the skip passes only where it matters."""

    def __init__(self, c_skip: int, c_gate: int, c_inner: int) -> None:
        super().__init__()
        self.w_x = nn.Conv2d(c_skip, c_inner, 1)
        self.w_g = nn.Conv2d(c_gate, c_inner, 1)
        self.psi = nn.Conv2d(c_inner, 1, 1)

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        alpha = torch.sigmoid(self.psi(F.relu(self.w_x(skip) + self.w_g(gate))))
        return skip * alpha


class GlitchFlow(nn.Module):
    """U-Net: channels[i] features at level i (resolution halves per level)."""

    def __init__(self, n_aux: int, channels: list[int], n_fringe: int = 0, n_power: int = 0) -> None:
        super().__init__()
        channels = list(channels)
        self.n_aux, self.n_fringe, self.n_power = n_aux, n_fringe, n_power
        self.n_inputs = 2 * n_aux + n_fringe + n_power
        self.levels = len(channels)
        self.encoders = nn.ModuleList()
        # log1p(amplitude), sin(phase), cos(phase) per channel; fringe maps; log1p(field) maps;
        # fringe x field products; the frequency coordinate
        c_prev = 3 * n_aux + n_fringe + n_power + n_fringe * n_power + 1
        for c in channels:
            self.encoders.append(ResidualBlock(c_prev, c))
            c_prev = c
        self.ups, self.gates, self.decoders = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for c_skip in reversed(channels[:-1]):
            self.ups.append(nn.ConvTranspose2d(c_prev, c_skip, 2, stride=2))
            self.gates.append(AttentionGate(c_skip, c_skip, max(c_skip // 2, 1)))
            self.decoders.append(ResidualBlock(2 * c_skip, c_skip))
            c_prev = c_skip
        self.head = nn.Conv2d(c_prev, 1, 1)

    def condition(self, x: torch.Tensor) -> torch.Tensor:
        pairs = x[:, : 2 * self.n_aux]
        amplitude, phase = pairs[:, 0::2], pairs[:, 1::2]
        start = 2 * self.n_aux
        fringe = x[:, start : start + self.n_fringe]
        field = x[:, start + self.n_fringe : start + self.n_fringe + self.n_power]
        products = (fringe[:, :, None] * field[:, None, :]).flatten(1, 2)
        rows = torch.linspace(-1.0, 1.0, x.shape[2], device=x.device, dtype=x.dtype)
        coordinate = rows[None, None, :, None].expand(x.shape[0], 1, x.shape[2], x.shape[3])
        return torch.cat(
            [
                torch.log1p(amplitude),
                torch.sin(phase),
                torch.cos(phase),
                fringe,
                torch.log1p(field),
                products,
                coordinate,
            ],
            dim=1,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.n_inputs:
            raise ValueError(
                f"GlitchFlow expects {self.n_inputs} input maps (amplitude+phase of {self.n_aux} "
                f"channels, {self.n_fringe} fringe maps, {self.n_power} field maps), got {x.shape[1]}"
            )
        h = self.condition(x)
        skips = []
        for i, encoder in enumerate(self.encoders):
            h = encoder(h if i == 0 else F.max_pool2d(h, 2))
            skips.append(h)
        for up, gate, decoder, skip in zip(self.ups, self.gates, self.decoders, reversed(skips[:-1])):
            h = up(h)
            h = decoder(torch.cat([gate(skip, h), h], dim=1))
        return F.softplus(self.head(h)).squeeze(1)


def build_model(n_aux: int, settings: dict, n_fringe: int = 0, n_power: int = 0) -> GlitchFlow:
    """GlitchFlow for k = n_aux channels, p fringe and r field maps, U-Net features settings["channels"]."""
    return GlitchFlow(n_aux, settings["channels"], n_fringe, n_power)


def spectrogram_l1(generated: torch.Tensor, real: torch.Tensor, domain: str) -> torch.Tensor:
    """L1 between amplitude spectrograms sqrt(E) (domain "amplitude") or between their energies E ("energy").

    Both have the same optimum (the median commutes with squaring), but in energy a tile's error counts in
    proportion to its amplitude, so training spends itself on the loud arches rather than on noise tiles."""
    if domain == "energy":
        return torch.nn.functional.l1_loss(generated**2, real**2)
    if domain != "amplitude":
        raise ValueError(f"virgo.train.loss_domain must be amplitude or energy, got {domain!r}")
    return torch.nn.functional.l1_loss(generated, real)


def learning_rate(base: float, index: int, epochs: int, schedule: str) -> float:
    """Learning rate of epoch `index` (from 0): "constant", or "cosine" decay from base to 0 over `epochs`.
    A function of the epoch alone, so a resumed training continues the same schedule."""
    if schedule == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * index / epochs))
    if schedule != "constant":
        raise ValueError(f"virgo.train.lr_schedule must be constant or cosine, got {schedule!r}")
    return base


def epoch_function(
    model: GlitchFlow,
    optimiser: torch.optim.Optimizer,
    train: TFrame,
    validation: TFrame,
    settings: dict,
    rng: np.random.Generator,
    device: torch.device,
):
    """train_epoch(index) -> {"loss", "val_loss"} for CheckpointedTraining: one shuffled pass over the
    training set (batches of settings["batch_size"], drawn from `rng`), then the validation L1."""
    x_train, y_train = torch.from_numpy(train.inputs), torch.from_numpy(train.target)
    x_val, y_val = torch.from_numpy(validation.inputs).to(device), torch.from_numpy(validation.target).to(device)
    batch, domain = settings["batch_size"], settings["loss_domain"]

    def epoch(index: int) -> dict[str, float]:
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(settings["learning_rate"], index, settings["epochs"], settings["lr_schedule"])
        model.train()
        order = rng.permutation(len(x_train))
        total = 0.0
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            if len(idx) < 2:  # batch-norm needs two samples
                continue
            xb, yb = x_train[idx].to(device), y_train[idx].to(device)
            loss = spectrogram_l1(model(xb), yb, domain)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            val = spectrogram_l1(model(x_val), y_val, domain).item() if len(x_val) > 1 else float("nan")
        return {"loss": total / len(order), "val_loss": val}

    return epoch


def checkpointed_training(
    model: GlitchFlow,
    optimiser: torch.optim.Optimizer,
    rng: np.random.Generator,
    settings: dict,
    seed: int,
    inputs: list[str | Path],
    checkpoint_path: str | Path,
    out_history: str | Path,
) -> CheckpointedTraining:
    """The training loop with checkpoint/resume and early stopping on the validation L1."""
    # a cosine schedule spans all epochs, so changing `epochs` cannot resume it (a constant one can)
    resumable_keys = ("epochs",) if settings["lr_schedule"] == "constant" else ()
    fingerprint = {
        "settings": {k: v for k, v in settings.items() if k not in resumable_keys},
        "seed": seed,
        "inputs": [sha256_file(path) for path in inputs],
    }
    # the validation L1 picks the epoch: small demo sets overfit if trained to the last epoch
    patience = settings["patience"]
    stopping = {"monitor": "val_loss", "patience": patience} if patience else None
    return CheckpointedTraining(
        checkpoint_path,
        out_history,
        {"model": model},
        {"optimiser": optimiser},
        generators={"shuffle": rng},
        fingerprint=fingerprint,
        early_stopping=stopping,
    )


def train(
    train_h5: str | Path,
    validation_h5: str | Path,
    settings: dict | None,
    seed: int,
    device: str,
    checkpoint_path: str | Path,
    out_model: str | Path,
    out_history: str | Path,
    threads: int = 1,
) -> pd.DataFrame:
    """Fit GlitchFlow (aux spectrograms -> strain amplitude spectrogram) on the TFrames; write the model file
    and the history CSV (one row per epoch: loss, val_loss); return the history.

    settings: config virgo.train (schema defaults filled in); seed: the master seed; a checkpoint at
    checkpoint_path from the same settings, seed and inputs is resumed."""
    settings = resolve("virgo.train", settings)
    # torch's CPU threads spin-wait: more threads than free cores slow training down many times over
    torch.set_num_threads(threads)
    rng = seed_everything(derive_seed(seed, "virgo", "train"))
    train_set, validation = read_tframe(train_h5), read_tframe(validation_h5)
    dev = select_device(device)
    model = build_model(
        len(train_set.channels), settings, len(train_set.fringe_channels), len(train_set.power_channels)
    ).to(dev)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings["learning_rate"])
    log.info(
        "GlitchFlow: %d parameters, %d training / %d validation spectrograms, device %s",
        sum(p.numel() for p in model.parameters()),
        len(train_set),
        len(validation),
        dev,
    )
    epoch = epoch_function(model, optimiser, train_set, validation, settings, rng, dev)
    training = checkpointed_training(
        model, optimiser, rng, settings, seed, [train_h5, validation_h5], checkpoint_path, out_history
    )
    history = training.run(settings["epochs"], epoch)
    record = make_provenance(
        WRITER, settings, seed=seed, inputs=[train_h5, validation_h5], upstream=get_provenance(train_h5)
    )
    meta = {
        "settings": settings,
        "channels": train_set.channels,
        "fringe_channels": list(train_set.fringe_channels),
        "power_channels": list(train_set.power_channels),
        "provenance": record,
    }
    save_model(out_model, "virgo", NAME, weights={"model": model}, meta=meta)
    return history


def load(path: str | Path, device: torch.device | str = "cpu") -> tuple[GlitchFlow, ModelFile]:
    """The trained GlitchFlow of a model file (on `device`, in eval mode) and the file (meta: settings, channels,
    fringe_channels, power_channels, provenance)."""
    record = load_model(path, "virgo", NAME, WRITER)
    meta = record.meta
    model = build_model(
        len(meta["channels"]), meta["settings"], len(meta["fringe_channels"]), len(meta["power_channels"])
    )
    return record.load_into("model", model, device), record


def sample(model: GlitchFlow, inputs: np.ndarray, batch_size: int, device: torch.device) -> np.ndarray:
    """Generated strain amplitude spectrograms sqrt(E) (n, F, T) for TFrame inputs (n, 2k + p + r, F, T).
    GlitchFlow is a regression network: the same inputs always give the same output."""
    out = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            out.append(model(torch.from_numpy(inputs[start : start + batch_size]).to(device)).cpu().numpy())
    return np.concatenate(out) if out else np.empty((0,) + inputs.shape[2:], np.float32)
