"""Generate calorimeter showers in GeV with a trained 3DGAN generator, and time it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from twins.calo.models.gan3d.network import Generator3D
from twins.calo.models.gan3d.train import MODEL, TWIN, WRITER, build_generator
from twins.calo.models.sampling import checked_conditions, timed_batches, warn_if_extrapolating
from twins.calo.transform import ShowerTransform
from twins.core.device import select_device
from twins.core.model_file import load_model

log = logging.getLogger(__name__)


def load_generator(
    model_path: str | Path, device: str | torch.device = "cpu"
) -> tuple[Generator3D, ShowerTransform, dict[str, Any]]:
    """Rebuild the generator of a model file written by `train_gan3d`, in eval mode on `device`.

    Returns (generator, transform, meta); meta holds the file's geometry, condition_ranges, architecture,
    grid_shape, transform and provenance. InputFileError naming the file when it is missing, unreadable or
    not a 3DGAN model file.
    """
    model_file = load_model(model_path, TWIN, MODEL, WRITER)
    meta = model_file.meta
    generator = build_generator(meta["architecture"], tuple(meta["grid_shape"]))
    model_file.load_into("generator", generator, select_device(device) if isinstance(device, str) else device)
    return generator, ShowerTransform(**meta["transform"]), meta


@torch.no_grad()
def sample_gan3d(
    model_path: str | Path,
    energy: np.ndarray,
    theta: np.ndarray,
    batch_size: int,
    seed: int,
    device: str = "auto",
) -> tuple[np.ndarray, float]:
    """Showers at the given incident energies (GeV, (N,)) and angles (rad, (N,)).

    Returns (cells, showers_per_second): cells float32 (N, nx, ny, nz) in GeV through the inverse transform;
    the throughput counts the generator, the inverse transform and the copy to host memory, timed after
    one untimed warm-up batch. The latent noise is drawn on the CPU from `seed`, so the showers depend
    only on the seed and conditions (bit-identical on CPU at the same batch size; GPU kernels may differ in
    the last bits).
    """
    energy, theta = checked_conditions(energy, theta, batch_size)
    torch_device = select_device(device)
    generator, transform, meta = load_generator(model_path, torch_device)
    warn_if_extrapolating(energy, meta)

    conditions = torch.from_numpy(transform.encode_conditions(energy, theta))
    energy_t = torch.from_numpy(energy.astype(np.float32))
    noise = torch.randn(len(energy), generator.noise_size, generator=torch.Generator().manual_seed(int(seed)))
    cells = np.empty((len(energy), *generator.grid_shape), dtype=np.float32)

    def run_batch(sl: slice) -> torch.Tensor:
        x = generator(noise[sl].to(torch_device), conditions[sl].to(torch_device))
        return transform.inverse(x, energy_t[sl].to(torch_device)).cpu()

    rate = timed_batches(cells, batch_size, run_batch, torch_device)
    return cells, rate
