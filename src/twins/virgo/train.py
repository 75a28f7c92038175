"""Rule virgo_train: fit GlitchFlow (aux spectrograms -> strain amplitude spectrogram) with an L1 loss."""

from __future__ import annotations

import logging

import torch

from twins.core.io import atomic_path, get_provenance
from twins.core.plots import new_figure, save_figure
from twins.core.provenance import make_provenance, sha256_file
from twins.core.seeding import derive_seed, seed_everything
from twins.core.training import CheckpointedTraining, select_device
from twins.virgo.glitchflow import GlitchFlow
from twins.virgo.preprocess import read_tframe

log = logging.getLogger(__name__)


def build_model(n_aux: int, settings: dict, n_fringe: int = 0) -> GlitchFlow:
    return GlitchFlow(n_aux, settings["channels"], n_fringe)


def load_model(path, device: torch.device | str = "cpu") -> tuple[GlitchFlow, dict]:
    state = torch.load(path, map_location=device, weights_only=False)
    model = build_model(len(state["channels"]), state["settings"], len(state["fringe_channels"])).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    return model, state


def train_glitchflow(settings: dict, train_h5, validation_h5, seed: int, device: str, checkpoint_path,
                     out_model, out_history, out_losses_png, threads: int = 1) -> None:
    # torch's CPU threads spin-wait: more threads than free cores slow training down many times over
    torch.set_num_threads(threads)
    rng = seed_everything(derive_seed(seed, "virgo", "train"))
    train, validation = read_tframe(train_h5), read_tframe(validation_h5)
    dev = select_device(device)
    model = build_model(len(train.channels), settings, len(train.fringe_channels)).to(dev)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings["learning_rate"])
    x_train, y_train = torch.from_numpy(train.inputs), torch.from_numpy(train.target)
    x_val, y_val = torch.from_numpy(validation.inputs).to(dev), torch.from_numpy(validation.target).to(dev)
    batch = settings["batch_size"]
    log.info("GlitchFlow: %d parameters, %d training / %d validation spectrograms, device %s",
             sum(p.numel() for p in model.parameters()), len(train), len(validation), dev)

    def epoch(_: int) -> dict[str, float]:
        model.train()
        order = rng.permutation(len(x_train))
        total = 0.0
        for start in range(0, len(order), batch):
            idx = order[start: start + batch]
            if len(idx) < 2:  # batch-norm needs two samples
                continue
            xb, yb = x_train[idx].to(dev), y_train[idx].to(dev)
            loss = torch.nn.functional.l1_loss(model(xb), yb)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            val = torch.nn.functional.l1_loss(model(x_val), y_val).item() if len(x_val) > 1 else float("nan")
        return {"loss": total / len(order), "val_loss": val}

    fingerprint = {"settings": {k: v for k, v in settings.items() if k != "epochs"}, "seed": seed,
                   "inputs": [sha256_file(train_h5), sha256_file(validation_h5)]}
    training = CheckpointedTraining(checkpoint_path, out_history, {"model": model}, {"optimiser": optimiser},
                                    generators={"shuffle": rng}, fingerprint=fingerprint)
    history = training.run(settings["epochs"], epoch)
    record = make_provenance("virgo_train", settings, seed=seed, inputs=[train_h5, validation_h5],
                             upstream=get_provenance(train_h5))
    with atomic_path(out_model) as tmp:
        torch.save({"model": {k: v.cpu() for k, v in model.state_dict().items()}, "settings": settings,
                    "channels": train.channels,
                    "fringe_channels": list(train.fringe_channels), "provenance": record}, tmp)
    fig = new_figure((5, 3.5))
    ax = fig.add_subplot()
    ax.plot(history["epoch"], history["loss"], label="train")
    ax.plot(history["epoch"], history["val_loss"], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("L1 loss (strain amplitude $\\sqrt{E}$)")
    ax.legend()
    save_figure(fig, out_losses_png)
