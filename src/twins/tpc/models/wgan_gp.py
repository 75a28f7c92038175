"""The conditional WGAN-GP of pad-row responses (after TPC-FastSim's fully connected 8x16 baseline): networks,
training and sampling. Fast4 and Fast6 are this model with two sets of conditions (`twins.tpc.models`).

Conventions: responses x (N, pads, time_buckets) in log10(1 + ADC) space; conditions c (N, k) float32
encoded features (`twins.tpc.encoding`, the model's columns of them); noise z (N, latent_size) standard normal.
The generator is an MLP on [z, c] with a linear output (negative values mean 0 ADC after the inverse
transform); the critic is an MLP on [flattened x, c] with a scalar Wasserstein score (no sigmoid).

One epoch: the critic sees every training batch once; after every `n_critic` critic steps the generator takes
one step. Checkpoint/resume and the NaN guard come from core.training, the model file from core.model_file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from twins.core.config import resolve
from twins.core.device import select_device
from twins.core.io import get_provenance
from twins.core.model_file import load_model, save_model
from twins.core.provenance import make_provenance, sha256_file
from twins.core.seeding import derive_seed, seed_everything
from twins.core.training import CheckpointedTraining
from twins.tpc.encoding import ENCODED, inverse_log_transform
from twins.tpc.io import read_segments_h5

log = logging.getLogger(__name__)

LEAKY_SLOPE = 0.2
BETAS = (0.5, 0.9)
TWIN = "tpc"
WRITER = "tpc_train"


def _mlp(n_in: int, hidden: Sequence[int], n_out: int) -> nn.Sequential:
    hidden = [int(h) for h in hidden]
    if not hidden or min(hidden) < 1:
        raise ValueError(f"hidden layer widths must be a non-empty list of positive integers; got {hidden}")
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(n_in, width), nn.LeakyReLU(LEAKY_SLOPE)]
        n_in = width
    layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class ResponseGenerator(nn.Module):
    def __init__(self, shape: Sequence[int], n_conditions: int, latent_size: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        self.latent_size = int(latent_size)
        self.n_conditions = int(n_conditions)
        self.net = _mlp(self.latent_size + self.n_conditions, hidden, self.shape[0] * self.shape[1])

    def forward(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """noise (N, latent_size), conditions (N, k) -> responses (N, pads, buckets), log space."""
        return self.net(torch.cat([noise, conditions], dim=1)).view(-1, *self.shape)


class ResponseCritic(nn.Module):
    def __init__(self, shape: Sequence[int], n_conditions: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        self.net = _mlp(self.shape[0] * self.shape[1] + int(n_conditions), hidden, 1)

    def forward(self, x: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """x (N, pads, buckets), conditions (N, k) -> scores (N,)."""
        return self.net(torch.cat([x.flatten(1), conditions], dim=1)).squeeze(1)


def gradient_penalty(
    critic: ResponseCritic,
    real: torch.Tensor,
    fake: torch.Tensor,
    conditions: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP term (Gulrajani et al. 2017): mean (|grad_x critic| - 1)^2 on random interpolates."""
    eps = torch.rand(len(real), 1, 1, generator=generator).to(real.device)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed, conditions).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()


def build_networks(
    settings: dict[str, Any], shape: tuple[int, int], n_conditions: int
) -> tuple[ResponseGenerator, ResponseCritic]:
    """Generator and critic of the tpc.train architecture keys, for responses of `shape` (pads, buckets)."""
    generator = ResponseGenerator(shape, n_conditions, settings["latent_size"], settings["generator_hidden"])
    critic = ResponseCritic(shape, n_conditions, settings["critic_hidden"])
    return generator, critic


def load_training_arrays(path: str | Path, columns: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(log responses (N, pads, buckets), conditions (N, k): the encoded `columns`) as float32 tensors, and
    the file's metadata."""
    data = read_segments_h5(path, ("log_response", "encoded"))
    if data["columns"]["encoded"] != list(ENCODED):
        raise ValueError(f"{path}: encoded columns {data['columns']['encoded']}; this code expects {list(ENCODED)}")
    conditions = data["encoded"][:, list(columns)]
    return torch.from_numpy(data["log_response"]), torch.from_numpy(conditions), data


class WassersteinTraining:
    """The state of one training run and its epoch: networks, optimisers, data and the random streams
    (`rng` shuffles, `noise` draws latent vectors and interpolation weights, `val_noise` is fixed)."""

    def __init__(
        self,
        settings: dict[str, Any],
        run_seed: int,
        device: torch.device,
        train: tuple[torch.Tensor, torch.Tensor],
        validation: tuple[torch.Tensor, torch.Tensor],
    ) -> None:
        """settings: the tpc.train slice; train, validation: (log responses (N, pads, buckets), conditions (N, k))."""
        self.x_train, self.c_train = train
        self.x_val, self.c_val = validation
        self.device = device
        self.generator, self.critic = build_networks(settings, tuple(self.x_train.shape[1:]), self.c_train.shape[1])
        self.generator.to(device)
        self.critic.to(device)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=settings["lr_generator"], betas=BETAS)
        self.opt_c = torch.optim.Adam(self.critic.parameters(), lr=settings["lr_critic"], betas=BETAS)
        self.noise = torch.Generator().manual_seed(run_seed)
        self.batch, self.n_critic = int(settings["batch_size"]), int(settings["n_critic"])
        self.gp_lambda = float(settings["gp_lambda"])
        self.val_noise = torch.randn(
            len(self.x_val), self.generator.latent_size, generator=torch.Generator().manual_seed(run_seed + 1)
        )

    def _latent(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.generator.latent_size, generator=self.noise).to(self.device)

    def critic_step(self, real: torch.Tensor, cond: torch.Tensor) -> tuple[float, float]:
        """One critic update on a batch; returns (critic loss, Wasserstein estimate)."""
        with torch.no_grad():
            fake = self.generator(self._latent(len(real)), cond)
        distance = self.critic(real, cond).mean() - self.critic(fake, cond).mean()
        loss = -distance + self.gp_lambda * gradient_penalty(self.critic, real, fake, cond, self.noise)
        self.opt_c.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_c.step()
        return loss.item(), distance.item()

    def generator_step(self, cond: torch.Tensor) -> float:
        """One generator update at the batch's conditions; returns the generator loss."""
        loss = -self.critic(self.generator(self._latent(len(cond)), cond), cond).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        return loss.item()

    def train_epoch(self, rng: np.random.Generator) -> dict[str, float]:
        """One pass over the shuffled training batches (a short last batch is dropped), then the validation
        distance: {"critic_loss", "generator_loss", "wasserstein", "val_wasserstein"}."""
        self.generator.train()
        self.critic.train()
        order = torch.from_numpy(rng.permutation(len(self.x_train)))
        c_losses, g_losses, distances = [], [], []
        for step, start in enumerate(range(0, len(order) - self.batch + 1, self.batch)):
            idx = order[start : start + self.batch]
            cond = self.c_train[idx].to(self.device)
            loss_c, distance = self.critic_step(self.x_train[idx].to(self.device), cond)
            c_losses.append(loss_c)
            distances.append(distance)
            if (step + 1) % self.n_critic == 0:
                g_losses.append(self.generator_step(cond))
        return {
            "critic_loss": np.mean(c_losses),
            "generator_loss": np.mean(g_losses) if g_losses else np.nan,
            "wasserstein": np.mean(distances),
            "val_wasserstein": self.validation_distance(),
        }

    @torch.no_grad()
    def validation_distance(self) -> float:
        """The critic's Wasserstein estimate between the validation split and generated responses at its
        conditions, with fixed noise."""
        self.generator.eval()
        self.critic.eval()
        cond = self.c_val.to(self.device)
        fake = self.generator(self.val_noise.to(self.device), cond)
        return float(self.critic(self.x_val.to(self.device), cond).mean() - self.critic(fake, cond).mean())


@torch.no_grad()
def sample_responses(
    generator: ResponseGenerator,
    conditions: np.ndarray,
    zero_suppression_adc: float,
    batch_size: int,
    seed: int,
    device: torch.device,
) -> tuple[np.ndarray, float]:
    """Responses in ADC (N, pads, buckets) for encoded conditions (N, k); returns (responses, segments/s).

    The rate covers noise, generator, inverse transform and zero suppression, after one untimed warm-up batch."""
    conditions_t = torch.from_numpy(np.ascontiguousarray(conditions, dtype=np.float32))
    noise = torch.randn(len(conditions_t), generator.latent_size, generator=torch.Generator().manual_seed(int(seed)))
    out = np.empty((len(conditions_t), *generator.shape), dtype=np.float32)

    def run(sl: slice) -> np.ndarray:
        x = generator(noise[sl].to(device), conditions_t[sl].to(device)).cpu().numpy()
        adc = inverse_log_transform(x)
        adc[adc < zero_suppression_adc] = 0.0
        return adc

    run(slice(0, batch_size))
    started = time.perf_counter()
    for start in range(0, len(out), batch_size):
        sl = slice(start, start + batch_size)
        out[sl] = run(sl)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    rate = len(out) / max(time.perf_counter() - started, 1e-9)
    return out, rate


@dataclass(frozen=True)
class ConditionalWGAN:
    """The conditional WGAN-GP conditioned on the encoded features `conditions` (names in ENCODED); `name` is
    the variant (fast4, fast6), the model name in its file and the key of its random streams."""

    name: str
    conditions: tuple[str, ...]

    @property
    def columns(self) -> list[int]:
        """Indices of the conditions among the encoded columns."""
        return [ENCODED.index(c) for c in self.conditions]

    def train(
        self,
        train_h5: str | Path,
        validation_h5: str | Path,
        settings: dict[str, Any],
        seed: int,
        device: str,
        checkpoint_path: str | Path,
        out_model: str | Path,
        out_history: str | Path,
        threads: int = 1,
    ) -> None:
        """Train on tpc_preprocess's splits (settings: the tpc.train slice, schema defaults filled in here),
        resuming from `checkpoint_path`; write the model file and the history CSV (one row per epoch)."""
        settings = resolve("tpc.train", settings)
        torch.set_num_threads(max(1, int(threads)))
        run_seed = derive_seed(seed, TWIN, "train", self.name)
        rng = seed_everything(run_seed)  # before the networks: their initial weights come from torch's global stream
        torch_device = select_device(device)
        x_train, c_train, meta = load_training_arrays(train_h5, self.columns)
        x_val, c_val, _ = load_training_arrays(validation_h5, self.columns)
        run = WassersteinTraining(settings, run_seed, torch_device, (x_train, c_train), (x_val, c_val))
        if len(x_train) < run.batch * run.n_critic:
            raise ValueError(
                f"{train_h5}: {len(x_train)} training segments are fewer than batch_size x n_critic "
                f"({run.batch} x {run.n_critic}); lower tpc.train.batch_size or simulate more segments"
            )
        fingerprint = {
            "settings": {k: v for k, v in settings.items() if k != "epochs"},
            "variant": self.name,
            "seed": run_seed,
            "inputs": [sha256_file(train_h5), sha256_file(validation_h5)],
        }
        CheckpointedTraining(
            checkpoint_path,
            out_history,
            modules={"generator": run.generator, "critic": run.critic},
            optimizers={"generator": run.opt_g, "critic": run.opt_c},
            generators={"numpy": rng, "noise": run.noise},
            fingerprint=fingerprint,
        ).run(int(settings["epochs"]), lambda epoch: run.train_epoch(rng))
        provenance = make_provenance(
            WRITER,
            settings,
            seed=run_seed,
            inputs=[train_h5, validation_h5],
            variant=self.name,
            upstream=get_provenance(train_h5),
        )
        save_model(out_model, TWIN, self.name, {"generator": run.generator}, self._meta(settings, meta, provenance))
        log.info("wrote %s", out_model)

    def _meta(self, settings: dict[str, Any], data: dict[str, Any], provenance: dict[str, Any]) -> dict[str, Any]:
        """What sampling needs besides the weights: architecture, response shape, encoding scales, detector."""
        return {
            "variant": self.name,
            "features": list(self.conditions),
            "shape": list(data["log_response"].shape[1:]),
            "architecture": {k: settings[k] for k in ("latent_size", "generator_hidden", "critic_hidden")},
            "scales": data["attrs"]["scales"],
            "detector": data["detector"],
            "provenance": provenance,
        }

    def load(self, model_path: str | Path, device: torch.device) -> tuple[ResponseGenerator, dict[str, Any]]:
        """The generator of this variant's model file in eval mode on `device`, and the file's metadata;
        InputFileError naming the file and tpc_train when it is missing, foreign or of another variant."""
        model = load_model(model_path, TWIN, self.name, WRITER)
        arch = model.meta["architecture"]
        generator = ResponseGenerator(
            model.meta["shape"], len(model.meta["features"]), arch["latent_size"], arch["generator_hidden"]
        )
        return model.load_into("generator", generator, device), model.meta

    def sample(
        self,
        model_path: str | Path,
        encoded: np.ndarray,
        settings: dict[str, Any],
        seed: int,
        device: str,
        threads: int = 1,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Responses in ADC (N, pads, buckets) at the encoded features (N, len(ENCODED)) of tpc_preprocess, with
        the timing record {"variant", "segments", "segments_per_second", "device", "threads"}.
        settings: the tpc.generate slice (schema defaults filled in here)."""
        settings = resolve("tpc.generate", settings)
        torch.set_num_threads(max(1, int(threads)))
        torch_device = select_device(device)
        generator, meta = self.load(model_path, torch_device)
        zero_suppression = meta["detector"]["zero_suppression_adc"]
        responses, rate = sample_responses(
            generator, encoded[:, self.columns], zero_suppression, int(settings["batch_size"]), seed, torch_device
        )
        timing = {
            "variant": self.name,
            "segments": len(responses),
            "segments_per_second": rate,
            "device": str(torch_device),
            "threads": torch.get_num_threads(),
        }
        return responses, timing
