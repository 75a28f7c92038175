"""The 3DGAN's losses and parameter updates of one batch, its held-out evaluation and the BatchNorm recalibration.

Losses per part (Keras' names), weighted by `loss_weights`:
    adversarial  binary cross-entropy on the logit
    energy       mean absolute percentage error of the regressed E / E_scale
    angle        mean absolute error of the regressed theta (rad)
    ecal         mean absolute percentage error of the ECAL sum (GeV) of generated showers against the
                 ECAL sum of a training shower drawn together with its (energy, theta)
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from twins.calo.models.gan3d.network import Generator3D
from twins.calo.models.gan3d.training_data import TrainingShowers


def mean_absolute_percentage_error(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Keras' MAPE: 100 * mean |target - prediction| / |target| (targets here are never near 0)."""
    return 100.0 * ((target - prediction).abs() / target.abs().clamp(min=1e-7)).mean()


def make_optimizer(kind: str, params, lr: float) -> torch.optim.Optimizer:
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))
    return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7)  # Keras RMSprop defaults, as the original


class GanUpdates:
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

    def train_epoch(self, data: TrainingShowers, batch_size: int, pool: np.ndarray | None) -> dict[str, float]:
        """One pass over the showers (or over `pool`, the pretraining showers) in a shuffled order: the mean of
        every loss over its batches."""
        self.g.train()
        self.d.train()
        order = self.rng.permutation(len(data)) if pool is None else self.rng.permutation(pool)
        n_batches = len(order) // batch_size
        sums: dict[str, float] = {}
        for b in range(n_batches):
            for k, v in self.train_batch(data, order[b * batch_size : (b + 1) * batch_size], pool).items():
                sums[k] = sums.get(k, 0.0) + v / n_batches
        return sums

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
