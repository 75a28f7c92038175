"""Rule virgo_train: fit GlitchFlow (aux spectrograms -> strain amplitude spectrogram) with an L1 loss,
keeping the weights of the epoch with the lowest validation L1 (early stopping after `patience` epochs)."""

from __future__ import annotations

import logging
import math

import torch

from twins.core.io import atomic_path, get_provenance
from twins.core.plots import new_figure, save_figure
from twins.core.provenance import make_provenance, sha256_file
from twins.core.seeding import derive_seed, seed_everything
from twins.core.training import CheckpointedTraining, select_device
from twins.virgo.glitchflow import GlitchFlow
from twins.virgo.preprocess import read_tframe

log = logging.getLogger(__name__)


def spectrogram_l1(generated: torch.Tensor, real: torch.Tensor, domain: str = "amplitude") -> torch.Tensor:
    """L1 between amplitude spectrograms sqrt(E) (domain "amplitude") or between their energies E ("energy").

    Both have the same optimum (the median commutes with squaring), but in energy a tile's error counts in
    proportion to its amplitude, so training spends itself on the loud arches rather than on noise tiles."""
    if domain == "energy":
        return torch.nn.functional.l1_loss(generated**2, real**2)
    if domain != "amplitude":
        raise ValueError(f"virgo.train.loss_domain must be amplitude or energy, got {domain!r}")
    return torch.nn.functional.l1_loss(generated, real)


def learning_rate(base: float, index: int, epochs: int, schedule: str = "cosine") -> float:
    """Learning rate of epoch `index` (from 0): constant, or cosine decay from base to 0 over `epochs`.
    A function of the epoch alone, so a resumed training continues the same schedule."""
    if schedule == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * index / epochs))
    if schedule != "constant":
        raise ValueError(f"virgo.train.lr_schedule must be constant or cosine, got {schedule!r}")
    return base


def build_model(n_aux: int, settings: dict, n_fringe: int = 0, n_power: int = 0) -> GlitchFlow:
    return GlitchFlow(n_aux, settings["channels"], n_fringe, n_power)


def load_model(path, device: torch.device | str = "cpu") -> tuple[GlitchFlow, dict]:
    state = torch.load(path, map_location=device, weights_only=False)
    model = build_model(
        len(state["channels"]), state["settings"], len(state["fringe_channels"]), len(state.get("power_channels", []))
    ).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    return model, state


def train_glitchflow(
    settings: dict,
    train_h5,
    validation_h5,
    seed: int,
    device: str,
    checkpoint_path,
    out_model,
    out_history,
    out_losses_png,
    threads: int = 1,
) -> None:
    # torch's CPU threads spin-wait: more threads than free cores slow training down many times over
    torch.set_num_threads(threads)
    rng = seed_everything(derive_seed(seed, "virgo", "train"))
    train, validation = read_tframe(train_h5), read_tframe(validation_h5)
    dev = select_device(device)
    model = build_model(len(train.channels), settings, len(train.fringe_channels), len(train.power_channels)).to(dev)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings["learning_rate"])
    x_train, y_train = torch.from_numpy(train.inputs), torch.from_numpy(train.target)
    x_val, y_val = torch.from_numpy(validation.inputs).to(dev), torch.from_numpy(validation.target).to(dev)
    batch = settings["batch_size"]
    domain, schedule = settings.get("loss_domain", "amplitude"), settings.get("lr_schedule", "cosine")
    log.info(
        "GlitchFlow: %d parameters, %d training / %d validation spectrograms, device %s",
        sum(p.numel() for p in model.parameters()),
        len(train),
        len(validation),
        dev,
    )

    def epoch(index: int) -> dict[str, float]:
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(settings["learning_rate"], index, settings["epochs"], schedule)
        model.train()
        order = rng.permutation(len(x_train))
        total = 0.0
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            if len(idx) < 2:  # batch-norm needs two samples
                continue
            xb, yb = x_train[idx].to(dev), y_train[idx].to(dev)
            loss = spectrogram_l1(model(xb), yb, domain)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            val = spectrogram_l1(model(x_val), y_val, domain).item() if len(x_val) > 1 else float("nan")
        return {"loss": total / len(order), "val_loss": val}

    # a cosine schedule spans all epochs, so changing `epochs` cannot resume it (a constant one can)
    resumable_keys = ("epochs",) if schedule == "constant" else ()
    fingerprint = {
        "settings": {k: v for k, v in settings.items() if k not in resumable_keys},
        "seed": seed,
        "inputs": [sha256_file(train_h5), sha256_file(validation_h5)],
    }
    # the validation L1 picks the epoch: small demo sets overfit if trained to the last epoch
    patience = settings.get("patience", 10)
    stopping = {"monitor": "val_loss", "patience": patience} if patience else None
    training = CheckpointedTraining(
        checkpoint_path,
        out_history,
        {"model": model},
        {"optimiser": optimiser},
        generators={"shuffle": rng},
        fingerprint=fingerprint,
        early_stopping=stopping,
    )
    history = training.run(settings["epochs"], epoch)
    record = make_provenance(
        "virgo_train", settings, seed=seed, inputs=[train_h5, validation_h5], upstream=get_provenance(train_h5)
    )
    with atomic_path(out_model) as tmp:
        torch.save(
            {
                "model": {k: v.cpu() for k, v in model.state_dict().items()},
                "settings": settings,
                "channels": train.channels,
                "fringe_channels": list(train.fringe_channels),
                "power_channels": list(train.power_channels),
                "provenance": record,
            },
            tmp,
        )
    fig = new_figure((5, 3.5))
    ax = fig.add_subplot()
    ax.plot(history["epoch"], history["loss"], label="train")
    ax.plot(history["epoch"], history["val_loss"], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("L1 loss (strain energy $E$)" if domain == "energy" else "L1 loss (strain amplitude $\\sqrt{E}$)")
    ax.legend()
    save_figure(fig, out_losses_png)
