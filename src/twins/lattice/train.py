"""Reverse-KL training of a lattice flow with checkpoint/resume (twins.core.training.CheckpointedTraining).

Loss = E_q[log q(x) + S(x)] (= KL(q || p) - log Z) estimated on `batch_size` fresh flow samples per step.
One epoch = `steps_per_epoch` optimizer steps; after every epoch the ESS is measured on `ess_samples`
fresh samples and logged with the loss. Adam with a cosine learning-rate schedule over the whole run
(its state is checkpointed, so the fingerprint holds every setting, the epoch count included).
Gradients are clipped; the couplings' scales are tanh-bounded; a non-finite loss stops the run with the
last good checkpoint kept.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from twins.core.io import atomic_path
from twins.core.plots import new_figure, save_figure
from twins.core.provenance import make_provenance
from twins.core.seeding import derive_seed, seed_everything
from twins.core.training import CheckpointedTraining, select_device
from twins.lattice.flows import build_flow, effective_sample_size, torch_action
from twins.lattice.theories import make_theory

log = logging.getLogger(__name__)


def train_flow(
    ensemble: str,
    spec: dict,
    seed: int,
    checkpoint_path: str | Path,
    out_model: str | Path,
    out_history: str | Path,
    out_figure: str | Path | None = None,
    device: str = "cpu",
    threads: int = 1,
) -> dict:
    """Train the flow of ensemble `ensemble` (spec: theory, shape, couplings, flow) and write the model file.

    Returns {"seconds": training wall time summed over epochs, "final_ess": ...}.
    """
    torch.set_num_threads(max(1, int(threads)))
    theory = make_theory(spec["theory"], spec["shape"], spec["couplings"])
    settings = spec["flow"]
    run_seed = derive_seed(seed, "lattice", "train", ensemble)
    seed_everything(run_seed)
    dev = select_device(device)
    flow = build_flow(theory, settings).to(dev)
    optimizer = torch.optim.Adam(flow.parameters(), lr=float(settings["learning_rate"]))
    total_steps = int(settings["epochs"]) * int(settings["steps_per_epoch"])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    generator = torch.Generator(device=dev).manual_seed(run_seed)
    fingerprint = {"spec": {k: spec[k] for k in ("theory", "shape", "couplings", "flow")}, "seed": run_seed}
    trainer = CheckpointedTraining(
        checkpoint_path,
        out_history,
        modules={"flow": flow},
        optimizers={"adam": optimizer},
        schedulers={"cosine": scheduler},
        generators={"samples": generator},
        fingerprint=fingerprint,
    )
    batch = int(settings["batch_size"])

    def train_epoch(epoch: int) -> dict[str, float]:
        losses = []
        for _ in range(int(settings["steps_per_epoch"])):
            x, log_q = flow.sample(batch, generator)
            loss = (log_q + torch_action(theory, x)).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(flow.parameters(), float(settings["grad_clip"]))
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
        with torch.no_grad():
            x, log_q = flow.sample(int(settings["ess_samples"]), generator)
            ess = effective_sample_size(-torch_action(theory, x) - log_q)
        return {"loss": float(np.mean(losses)), "ess": ess}

    history = trainer.run(int(settings["epochs"]), train_epoch)
    seconds = float(history["seconds"].sum()) if len(history) else 0.0
    record = make_provenance("lattice_train", spec, seed=run_seed, ensemble=ensemble)
    with atomic_path(out_model) as tmp:
        torch.save(
            {"state_dict": flow.state_dict(), "spec": spec, "training_seconds": seconds, "provenance": record}, tmp
        )
    if out_figure is not None:
        plot_history(history, ensemble, out_figure)
    final_ess = float(history["ess"].iloc[-1]) if len(history) else float("nan")
    log.info("trained %s in %.1f s, final ESS %.3f", ensemble, seconds, final_ess)
    return {"seconds": seconds, "final_ess": final_ess}


def load_flow(path: str | Path):
    """(flow in float64 on the CPU, theory, spec, training seconds) from a model file of train_flow."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: model file not found; run rule lattice_train first")
    state = torch.load(path, map_location="cpu", weights_only=False)
    spec = state["spec"]
    theory = make_theory(spec["theory"], spec["shape"], spec["couplings"])
    flow = build_flow(theory, spec["flow"])
    flow.load_state_dict(state["state_dict"])
    return flow.double().eval(), theory, spec, float(state["training_seconds"])


def plot_history(history, ensemble: str, path: str | Path) -> None:
    fig = new_figure((7.0, 3.2))
    ax_loss, ax_ess = fig.subplots(1, 2)
    ax_loss.plot(history["epoch"], history["loss"], color="C0")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel(r"reverse KL loss $\langle \log q + S \rangle$")
    ax_ess.plot(history["epoch"], history["ess"], color="C3")
    ax_ess.set_xlabel("epoch")
    ax_ess.set_ylabel("ESS / N")
    ax_ess.set_ylim(0, 1)
    fig.suptitle(ensemble)
    fig.tight_layout()
    save_figure(fig, path)
