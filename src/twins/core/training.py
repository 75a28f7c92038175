"""The training loop every twin uses: device choice, progress, history CSV, checkpoint/resume, NaN guard.

A twin supplies `train_epoch(epoch) -> {loss_name: mean value}`; `CheckpointedTraining` does the rest.
A checkpoint holds every module, optimizer, the RNG states and the history, written atomically after
each epoch. It holds only tensors and plain containers, so it is read back with weights_only=True (a
checkpoint file never runs code). Rerunning a killed job with the same settings resumes after the last
finished epoch and ends with the same weights as an uninterrupted run (on CPU).
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from twins.core.interrupt import TrainingInterrupted, stop_requested_by_signals
from twins.core.io import atomic_path
from twins.core.provenance import to_json

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite, or ran away (finite but huge); the last good checkpoint is kept."""


def _rng_state(generators: dict[str, Any]) -> dict[str, Any]:
    name, keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        # numpy's key array as a tensor: the checkpoint then loads with weights_only=True
        "numpy_global": (name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached),
        "torch": torch.get_rng_state(),
        "generators": {},
    }
    if torch.cuda.is_available():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    for name, gen in generators.items():
        if isinstance(gen, np.random.Generator):
            state["generators"][name] = gen.bit_generator.state
        else:  # torch.Generator
            state["generators"][name] = gen.get_state()
    return state


def _set_rng_state(state: dict[str, Any], generators: dict[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, position, has_gauss, cached = state["numpy_global"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])
    for name, gen in generators.items():
        if isinstance(gen, np.random.Generator):
            gen.bit_generator.state = state["generators"][name]
        else:
            gen.set_state(state["generators"][name])


class CheckpointedTraining:
    """Runs epochs with checkpoint/resume.

    modules/optimizers: everything whose state must survive a restart, by name.
    generators: numpy or torch generators the epoch function draws from (shuffling, latent noise).
    fingerprint: what must match for a checkpoint to be resumed (settings except the epoch count,
        input hashes, seed); a checkpoint with another fingerprint is ignored and training starts fresh.
    early_stopping: optional {"monitor": loss name (e.g. "val_loss"), "patience": epochs}; training stops
        when the monitored loss has not improved for `patience` epochs, and the modules end with the
        weights of the best epoch (kept in the checkpoint, so a resumed run stops the same way).
    is_main: False on every rank but 0 of a distributed run: such ranks resume from the checkpoint but
        write nothing (no checkpoint, history or progress bar).
    """

    def __init__(
        self,
        checkpoint_path: str | Path,
        history_path: str | Path,
        modules: dict[str, torch.nn.Module],
        optimizers: dict[str, torch.optim.Optimizer],
        generators: dict[str, Any] | None = None,
        fingerprint: Any = None,
        schedulers: dict[str, Any] | None = None,
        early_stopping: dict[str, Any] | None = None,
        is_main: bool = True,
    ) -> None:
        self.checkpoint_path = Path(checkpoint_path)
        self.history_path = Path(history_path)
        self.modules = modules
        self.optimizers = optimizers
        self.schedulers = schedulers or {}
        self.generators = generators or {}
        self.fingerprint = to_json(fingerprint)
        self.history: list[dict[str, float]] = []
        self.start_epoch = 0
        self.early_stopping = early_stopping
        self.best: dict[str, Any] | None = None  # {"epoch", "value", "modules"} of the best monitored epoch
        self.is_main = is_main

    def _save_checkpoint(self, epoch: int) -> None:
        if not self.is_main:
            return
        state = {
            "epoch": epoch,
            "fingerprint": self.fingerprint,
            "modules": {k: m.state_dict() for k, m in self.modules.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "rng": _rng_state(self.generators),
            "history": self.history,
            "best": self.best,
        }
        with atomic_path(self.checkpoint_path) as tmp:
            torch.save(state, tmp)

    def _write_history(self) -> None:
        if not self.is_main:
            return
        with atomic_path(self.history_path) as tmp:
            pd.DataFrame(self.history).to_csv(tmp, index=False)

    def resume(self, epochs: int) -> int:
        """Load the checkpoint if it matches and holds at most `epochs` epochs; return the first epoch to run."""
        if not self.checkpoint_path.exists():
            return 0
        try:
            state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        except Exception as err:  # a checkpoint cut short by a kill is only written atomically, but be safe
            log.warning("ignoring unreadable checkpoint %s (%s); training from scratch", self.checkpoint_path, err)
            return 0
        if state.get("fingerprint") != self.fingerprint:
            log.info("checkpoint %s is from other settings or inputs; training from scratch", self.checkpoint_path)
            return 0
        if state["epoch"] + 1 > epochs:  # a longer run cannot be cut back to fewer epochs
            log.info(
                "checkpoint %s holds %d epochs, more than the %d asked for; training from scratch",
                self.checkpoint_path,
                state["epoch"] + 1,
                epochs,
            )
            return 0
        for k, m in self.modules.items():
            m.load_state_dict(state["modules"][k])
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][k])
        _set_rng_state(state["rng"], self.generators)
        self.history = state["history"]
        self.best = state.get("best")
        self.start_epoch = state["epoch"] + 1
        log.info("resuming from %s after epoch %d", self.checkpoint_path, state["epoch"])
        return self.start_epoch

    def run(self, epochs: int, train_epoch: Callable[[int], dict[str, float]]) -> pd.DataFrame:
        """Run epochs [resumed epoch, epochs); return the full history (one row per epoch). SIGTERM (SLURM's
        time limit) ends the run after the current epoch's checkpoint with TrainingInterrupted."""
        with stop_requested_by_signals() as stop:
            return self._run(epochs, train_epoch, stop)

    def _run(self, epochs: int, train_epoch: Callable[[int], dict[str, float]], stop) -> pd.DataFrame:
        first = self.resume(epochs)
        if self.early_stopping is not None and first > 0 and self._should_stop(first - 1):
            log.info("checkpoint %s is from a run that stopped early; nothing to train", self.checkpoint_path)
            first = epochs
        if first == epochs:
            log.info("checkpoint already holds all %d epochs; nothing to train", epochs)
        progress = tqdm(
            range(first, epochs), desc="epochs", initial=first, total=epochs, mininterval=5, disable=not self.is_main
        )
        for epoch in progress:
            started = time.perf_counter()
            losses = {k: float(v) for k, v in train_epoch(epoch).items()}
            self._check_losses(epoch, losses)
            row = {"epoch": epoch, **losses, "seconds": time.perf_counter() - started}
            self.history.append(row)
            log.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4g}" for k, v in losses.items()))
            self._track_best(epoch, losses)
            self._save_checkpoint(epoch)
            self._write_history()
            if stop and epoch + 1 < epochs:
                raise TrainingInterrupted(
                    f"stopped by {stop.name} after epoch {epoch} of {epochs}; the checkpoint {self.checkpoint_path} "
                    "holds it, and a rerun with the same settings resumes from there"
                )
            if self.early_stopping is not None and self._should_stop(epoch):
                log.info(
                    "early stopping after epoch %d: %s has not improved since epoch %d",
                    epoch,
                    self.early_stopping["monitor"],
                    self.best["epoch"],
                )
                break
        if self.is_main and not self.history_path.exists():
            self._write_history()
        if self.best is not None:
            for k, m in self.modules.items():
                m.load_state_dict(self.best["modules"][k])
        return pd.DataFrame(self.history)

    def _check_losses(self, epoch: int, losses: dict[str, float]) -> None:
        """TrainingDiverged on a NaN/inf or runaway loss, before the checkpoint would be overwritten."""
        bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
        # Runaway: |loss| > 1e12, or > 1e6 x its scale in the first 3 epochs (median |loss|, at least 1).
        # Healthy runs of every twin stay below ~1e3 and within ~25x of that scale (lattice's first epoch is
        # its largest), so only a blow-up by many orders of magnitude fires it.
        runaway = {}
        for k, v in losses.items():
            early = [abs(row[k]) for row in self.history[:3] if k in row]
            limit = min(1e12, 1e6 * max(1.0, float(np.median(early)))) if early else 1e12
            if k not in bad and abs(v) > limit:
                runaway[k] = v
        if bad or runaway:
            last = f"epoch {epoch - 1}" if self.checkpoint_path.exists() and epoch > 0 else "none"
            what = [f"non-finite loss at epoch {epoch}: {bad}"] if bad else []
            if runaway:
                values = ", ".join(f"{k}={v:.3g}" for k, v in runaway.items())
                what.append(f"runaway loss at epoch {epoch}: {values} (above 1e12, or 1e6 x its early size)")
            raise TrainingDiverged(
                f"{'; '.join(what)}. The last good checkpoint ({last}) is kept at {self.checkpoint_path}, "
                "not overwritten. Check the input data, or lower the learning rate: the learning rate is part "
                "of the settings fingerprint, so a rerun with a lower one ignores this checkpoint and trains "
                "from scratch (a rerun with unchanged settings resumes from it)."
            )

    def _track_best(self, epoch: int, losses: dict[str, float]) -> None:
        if self.early_stopping is None:
            return
        monitor = self.early_stopping["monitor"]
        if monitor not in losses:
            raise KeyError(f"early stopping monitors '{monitor}' but the epoch reported only {sorted(losses)}")
        if self.best is None or losses[monitor] < self.best["value"]:
            self.best = {
                "epoch": epoch,
                "value": losses[monitor],
                "modules": {k: copy.deepcopy(m.state_dict()) for k, m in self.modules.items()},
            }

    def _should_stop(self, epoch: int) -> bool:
        return self.best is not None and epoch - self.best["epoch"] >= int(self.early_stopping["patience"])
