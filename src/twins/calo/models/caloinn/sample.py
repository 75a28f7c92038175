"""Generate calorimeter showers in GeV with a trained CaloINN flow, and time it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from twins.calo.models.caloinn.network import CaloINNFlow, TwoFlowCaloINN, build_flow
from twins.calo.models.caloinn.preprocessing import CaloINNPreprocessing
from twins.calo.models.caloinn.train import MODEL, TWIN, WRITER
from twins.calo.models.sampling import checked_conditions, timed_batches, warn_if_extrapolating
from twins.core.device import select_device
from twins.core.io import InputFileError
from twins.core.model_file import load_model

log = logging.getLogger(__name__)


def load_caloinn(
    model_path: str | Path, device: str | torch.device = "cpu"
) -> tuple[CaloINNFlow | TwoFlowCaloINN, CaloINNPreprocessing, dict[str, Any]]:
    """Rebuild the flow of a model file written by `train_caloinn`, in eval mode on `device`: the two-flow
    model where its architecture says `energy_flow`, else (also for files written before the option) the
    single coupling flow.

    Returns (flow, preprocessing, meta); meta holds the file's architecture, preprocessing, geometry,
    condition_ranges and provenance. InputFileError naming the file when it is missing, unreadable or not a
    CaloINN model file.
    """
    model_file = load_model(model_path, TWIN, MODEL, WRITER)
    meta = model_file.meta
    preprocessing = CaloINNPreprocessing(**meta["preprocessing"])
    try:
        flow = build_flow(meta["architecture"], preprocessing.features, preprocessing.layers)
    except (KeyError, ValueError) as err:
        raise InputFileError(
            f"{model_path}: its architecture record cannot be rebuilt ({err}); rerun {WRITER}"
        ) from None
    model_file.load_into("flow", flow, select_device(device) if isinstance(device, str) else device)
    return flow, preprocessing, meta


@torch.no_grad()
def sample_caloinn(
    model_path: str | Path,
    energy: np.ndarray,
    theta: np.ndarray,
    batch_size: int,
    seed: int,
    device: str = "auto",
    temperature: float = 1.0,
    clamp_to_training_range: bool = False,
) -> tuple[np.ndarray, float]:
    """Showers at the given incident energies (GeV, (N,)) and angles (rad, (N,)), as
    twins.calo.models.gan3d.sample.sample_gan3d.

    temperature: the scale of the cell fractions' base-space noise (Flow II's; the layer energies' is left
    alone): 1 samples the trained density, below 1 draws fewer showers from its tails (see
    twins.calo.models.caloinn.temperature).
    clamp_to_training_range: clip every generated feature to the range the training showers spanned
    (`CaloINNPreprocessing.clamp_to_training_range`); model files written before the range was recorded
    are sampled unclipped, with a warning.

    Returns (cells, showers_per_second): cells float32 (N, nx, ny, nz) in GeV through the inverse
    preprocessing (cell threshold reapplied); the throughput counts the flow, the inverse preprocessing and
    the copy to host memory, timed after one untimed warm-up batch. The base-space noise is drawn on the
    CPU from `seed` (bit-identical on CPU; GPU kernels may differ in the last bits).
    """
    energy, theta = checked_conditions(energy, theta, batch_size)
    torch_device = select_device(device)
    flow, preprocessing, meta = load_caloinn(model_path, torch_device)
    warn_if_extrapolating(energy, meta)
    energy_t, theta_t = torch.from_numpy(energy), torch.from_numpy(theta)
    conditions = preprocessing.encode_conditions(energy_t, theta_t)
    if not 0 < float(temperature) <= 2:
        raise ValueError(f"the CaloINN sampling temperature must be in (0, 2]; got {temperature!r}")
    noise = torch.randn(len(energy), preprocessing.features, generator=torch.Generator().manual_seed(int(seed)))
    noise[:, : preprocessing.features - preprocessing.layers] *= float(temperature)  # the cell fractions' part
    cells = np.empty((len(energy), *preprocessing.grid_shape), dtype=np.float32)
    if clamp_to_training_range and not preprocessing.has_training_range:
        log.warning("%s records no training range (written before it was); sampling without the clamp", model_path)
        clamp_to_training_range = False

    def run_batch(sl: slice) -> torch.Tensor:
        x = flow.sample_from_noise(noise[sl].to(torch_device), conditions[sl].to(torch_device))
        if clamp_to_training_range:
            x = preprocessing.clamp_to_training_range(x)
        return preprocessing.inverse(x.double(), energy_t[sl].to(torch_device), theta_t[sl]).float().cpu()

    rate = timed_batches(cells, batch_size, run_batch, torch_device)
    return cells, rate
