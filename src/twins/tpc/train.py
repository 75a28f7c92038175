"""tpc_train: WGAN-GP training of a conditional response generator for one variant (fast4 or fast6).

One epoch: the critic sees every training batch once; after every `n_critic` critic steps the
generator takes one step. Checkpoint/resume and the NaN guard come from core.training.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from twins.core.io import atomic_path, get_provenance
from twins.core.provenance import make_provenance, sha256_file
from twins.core.seeding import derive_seed, seed_everything
from twins.core.training import CheckpointedTraining, select_device
from twins.tpc.dataset import read_segments_h5
from twins.tpc.gan import ResponseCritic, ResponseGenerator, gradient_penalty
from twins.tpc.preprocess import ENCODED, VARIANT_FEATURES

log = logging.getLogger(__name__)

MODEL_FORMAT = "tpc-wgan-gp-1"
BETAS = (0.5, 0.9)


def variant_columns(variant: str) -> list[int]:
    """Indices of the variant's features among the encoded columns."""
    if variant not in VARIANT_FEATURES:
        raise ValueError(f"unknown tpc variant {variant!r}; choose from {sorted(VARIANT_FEATURES)}")
    return [ENCODED.index(name) for name in VARIANT_FEATURES[variant]]


def load_training_arrays(path: str | Path, variant: str) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(log responses (N, pads, buckets), conditions (N, k)) as float32 tensors, and the file's metadata."""
    data = read_segments_h5(path, ("log_response", "encoded"))
    if data["columns"]["encoded"] != list(ENCODED):
        raise ValueError(f"{path}: encoded columns {data['columns']['encoded']}; this code expects {list(ENCODED)}")
    conditions = data["encoded"][:, variant_columns(variant)]
    return torch.from_numpy(data["log_response"]), torch.from_numpy(conditions), data


def build_networks(settings: dict[str, Any], shape: tuple[int, int], n_conditions: int):
    generator = ResponseGenerator(shape, n_conditions, settings["latent_size"], settings["generator_hidden"])
    critic = ResponseCritic(shape, n_conditions, settings["critic_hidden"])
    return generator, critic


def train_variant(
    variant: str,
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
    torch.set_num_threads(max(1, int(threads)))
    run_seed = derive_seed(seed, "tpc", "train", variant)
    rng = seed_everything(run_seed)
    torch_device = select_device(device)
    x_train, c_train, meta = load_training_arrays(train_h5, variant)
    x_val, c_val, _ = load_training_arrays(validation_h5, variant)
    shape = tuple(x_train.shape[1:])
    generator, critic = build_networks(settings, shape, c_train.shape[1])
    generator.to(torch_device)
    critic.to(torch_device)
    opt_g = torch.optim.Adam(generator.parameters(), lr=settings["lr_generator"], betas=BETAS)
    opt_c = torch.optim.Adam(critic.parameters(), lr=settings["lr_critic"], betas=BETAS)
    noise_gen = torch.Generator().manual_seed(run_seed)
    batch, n_critic, gp_lambda = int(settings["batch_size"]), int(settings["n_critic"]), float(settings["gp_lambda"])
    val_noise = torch.randn(len(x_val), generator.latent_size, generator=torch.Generator().manual_seed(run_seed + 1))

    def train_epoch(epoch: int) -> dict[str, float]:
        generator.train()
        critic.train()
        order = torch.from_numpy(rng.permutation(len(x_train)))
        c_losses, g_losses, distances = [], [], []
        for step, start in enumerate(range(0, len(order) - batch + 1, batch)):
            idx = order[start : start + batch]
            real, cond = x_train[idx].to(torch_device), c_train[idx].to(torch_device)
            z = torch.randn(len(idx), generator.latent_size, generator=noise_gen).to(torch_device)
            with torch.no_grad():
                fake = generator(z, cond)
            distance = critic(real, cond).mean() - critic(fake, cond).mean()
            loss_c = -distance + gp_lambda * gradient_penalty(critic, real, fake, cond, noise_gen)
            opt_c.zero_grad(set_to_none=True)
            loss_c.backward()
            opt_c.step()
            c_losses.append(loss_c.item())
            distances.append(distance.item())
            if (step + 1) % n_critic == 0:
                z = torch.randn(len(idx), generator.latent_size, generator=noise_gen).to(torch_device)
                loss_g = -critic(generator(z, cond), cond).mean()
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
                g_losses.append(loss_g.item())
        return {
            "critic_loss": np.mean(c_losses),
            "generator_loss": np.mean(g_losses) if g_losses else np.nan,
            "wasserstein": np.mean(distances),
            "val_wasserstein": validation_distance(),
        }

    @torch.no_grad()
    def validation_distance() -> float:
        generator.eval()
        critic.eval()
        fake = generator(val_noise.to(torch_device), c_val.to(torch_device))
        return float(
            critic(x_val.to(torch_device), c_val.to(torch_device)).mean() - critic(fake, c_val.to(torch_device)).mean()
        )

    if len(x_train) < batch * n_critic:
        raise ValueError(
            f"{train_h5}: {len(x_train)} training segments are fewer than batch_size x n_critic "
            f"({batch} x {n_critic}); lower tpc.train.batch_size or simulate more segments"
        )
    fingerprint = {
        "settings": {k: v for k, v in settings.items() if k != "epochs"},
        "variant": variant,
        "seed": run_seed,
        "inputs": [sha256_file(train_h5), sha256_file(validation_h5)],
    }
    training = CheckpointedTraining(
        checkpoint_path,
        out_history,
        modules={"generator": generator, "critic": critic},
        optimizers={"generator": opt_g, "critic": opt_c},
        generators={"numpy": rng, "noise": noise_gen},
        fingerprint=fingerprint,
    )
    training.run(int(settings["epochs"]), train_epoch)
    record = {
        "format": MODEL_FORMAT,
        "variant": variant,
        "features": list(VARIANT_FEATURES[variant]),
        "shape": list(shape),
        "architecture": {k: settings[k] for k in ("latent_size", "generator_hidden", "critic_hidden")},
        "generator_state": {k: v.cpu() for k, v in generator.state_dict().items()},
        "scales": meta["attrs"]["scales"],
        "detector": meta["detector"],
        "provenance": make_provenance(
            "tpc_train",
            settings,
            seed=run_seed,
            inputs=[train_h5, validation_h5],
            variant=variant,
            upstream=get_provenance(train_h5),
        ),
    }
    with atomic_path(out_model) as tmp:
        torch.save(record, tmp)
    log.info("wrote %s", out_model)
