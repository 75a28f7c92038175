"""Reverse-KL training of a lattice flow with checkpoint/resume (twins.core.training.CheckpointedTraining), and
the model file (twins.core.model_file) it writes.

Loss = E_q[log q(x) + S(x)] (= KL(q || p) - log Z) estimated on `batch_size` fresh flow samples per step.
One epoch = `steps_per_epoch` optimizer steps; after every epoch the ESS is measured on `ess_samples`
fresh samples and logged with the loss. Adam with a cosine learning-rate schedule over the whole run
(its state is checkpointed, so the fingerprint holds every setting, the epoch count included).
Gradients are clipped; the couplings' scales are tanh-bounded; a non-finite loss stops the run with the
last good checkpoint kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from twins.core.config import resolve
from twins.core.device import select_device
from twins.core.model_file import load_model, save_model
from twins.core.provenance import make_provenance
from twins.core.seeding import derive_seed, seed_everything
from twins.core.training import CheckpointedTraining
from twins.lattice.models import MODELS, build_flow, torch_action
from twins.lattice.nfmcmc import effective_sample_size
from twins.lattice.theories import U1, Phi4, make_theory

log = logging.getLogger(__name__)

SETTINGS_KEY = "lattice.ensembles.<ensemble>.flow"
WRITER = "rule lattice_train"
SPEC_KEYS = ("theory", "shape", "couplings", "flow")


@dataclass
class TrainedFlow:
    """A trained flow (float64, CPU, eval mode) with its theory, ensemble spec and training wall time."""

    flow: nn.Module
    theory: Phi4 | U1
    spec: dict
    training_seconds: float


def train(
    ensemble: str,
    spec: dict,
    seed: int,
    checkpoint_path: str | Path,
    out_model: str | Path,
    out_history: str | Path,
    device: str = "cpu",
    threads: int = 1,
) -> dict:
    """Train the flow of ensemble `ensemble` (spec: theory, shape, couplings, flow; missing flow settings take the
    schema's defaults), write the model file and the history CSV (epoch, loss, ess, seconds).

    Returns {"seconds": training wall time summed over epochs, "final_ess": ...}.
    """
    torch.set_num_threads(max(1, int(threads)))
    spec = {**spec, "flow": resolve(SETTINGS_KEY, spec["flow"])}
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
    trainer = CheckpointedTraining(
        checkpoint_path,
        out_history,
        modules={"flow": flow},
        optimizers={"adam": optimizer},
        schedulers={"cosine": scheduler},
        generators={"samples": generator},
        fingerprint={"spec": {k: spec[k] for k in SPEC_KEYS}, "seed": run_seed},
    )

    def train_epoch(epoch: int) -> dict[str, float]:
        return reverse_kl_epoch(flow, theory, settings, optimizer, scheduler, generator)

    history = trainer.run(int(settings["epochs"]), train_epoch)
    seconds = float(history["seconds"].sum()) if len(history) else 0.0
    record = make_provenance("lattice_train", spec, seed=run_seed, ensemble=ensemble)
    save_model(
        out_model,
        "lattice",
        spec["theory"],
        weights={"flow": flow},
        meta={"spec": spec, "training_seconds": seconds, "provenance": record},
    )
    final_ess = float(history["ess"].iloc[-1]) if len(history) else float("nan")
    log.info("trained %s in %.1f s, final ESS %.3f", ensemble, seconds, final_ess)
    return {"seconds": seconds, "final_ess": final_ess}


def reverse_kl_epoch(flow, theory, settings: dict, optimizer, scheduler, generator) -> dict[str, float]:
    """`steps_per_epoch` optimizer steps on fresh samples, then the ESS of `ess_samples` fresh samples."""
    losses = []
    for _ in range(int(settings["steps_per_epoch"])):
        x, log_q = flow.sample(int(settings["batch_size"]), generator)
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


def load(path: str | Path) -> TrainedFlow:
    """The flow of a model file written by `train`, in float64 on the CPU (exact log q for Metropolis)."""
    model = load_model(path, "lattice", tuple(MODELS), WRITER)
    spec = model.meta["spec"]
    theory = make_theory(spec["theory"], spec["shape"], spec["couplings"])
    flow = model.load_into("flow", build_flow(theory, spec["flow"]))
    return TrainedFlow(flow.double().eval(), theory, spec, float(model.meta["training_seconds"]))
