"""CaloINN's sampling settings (config slice `calo.generate.caloinn`): the temperature, chosen on the validation
split, and the clip to the training range.

A flow trained by maximum likelihood on a few thousand showers covers the data's support generously: its
rare draws from the base distribution's tails land where the data have almost no showers. On the demo
these are single hot cells several cells from the core that carry a large share of their layer, so the
layer's centre of energy moves by a whole cell (50 standard deviations of the simulated spread) in about
1 % of the showers; those few showers dominate the Fréchet physics distance. Scaling Flow II's base noise
by a temperature T < 1 (Kingma & Dhariwal, arXiv:1807.03039, section 5) draws fewer of them, at the price of
slightly narrower fluctuations everywhere; T = 1 samples the trained density. Clipping every generated feature
to the training showers' range (`CaloINNPreprocessing.clamp_to_training_range`, on by default) removes the hot
cells without narrowing anything else; with it the demo's validation scan picks T = 1 (FPD 26 / 14 / 7.6 / 7.4 at
T = 0.85 / 0.9 / 0.95 / 1), without it T = 0.95.

`choose_temperature` samples the validation split's conditions at every temperature of a grid and keeps the
one whose showers are closest to the validation showers in FPD on the high-level features (the same
features and distance as the validation step). The test split plays no part, so its metrics stay honest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from twins.calo.features import shower_features
from twins.calo.geometry import geometry_from_dict
from twins.calo.models.caloinn.sample import sample_caloinn
from twins.calo.models.caloinn.training_data import load_split_showers
from twins.calo.showers import ShowerSample
from twins.core.config import ConfigError, resolve
from twins.core.physics_distances import fpd
from twins.core.seeding import derive_seed

log = logging.getLogger(__name__)

SETTINGS_KEY = "calo.generate.caloinn"
TEMPERATURE_FIX = (
    f"{SETTINGS_KEY}.temperature must be 'auto' (chosen from temperature_grid on the validation split) or a number "
    "in (0, 2]"
)


def sampling_settings(settings: dict[str, Any] | None) -> tuple[bool, float | str, list[float]]:
    """(clamp_to_training_range, temperature, sorted temperature grid) of the `calo.generate.caloinn` slice, with
    the schema's defaults and checks (ConfigError naming the key, and for the temperature what is allowed)."""
    try:
        out = resolve(SETTINGS_KEY, settings)
    except ConfigError as err:
        if f"'{SETTINGS_KEY}.temperature'" in str(err):
            raise ConfigError(f"{err}\n{TEMPERATURE_FIX}") from None
        raise
    return out["clamp_to_training_range"], out["temperature"], sorted(float(t) for t in out["temperature_grid"])


def sampling_options(
    settings: dict[str, Any],
    model_path: str | Path,
    validation_h5: str | Path | None,
    seed: int,
    device: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(keyword arguments of sample_caloinn, the sampling record) for the `calo.generate` slice `settings`.

    The record holds the temperature and clamp_to_training_range, and with temperature `auto` the scan on
    `validation_h5` (choose_temperature, drawing from a stream derived from the master `seed`)."""
    clamp, temperature, grid = sampling_settings(settings.get("caloinn") or {})
    record: dict[str, Any] = {}
    if temperature == "auto":
        if validation_h5 is None:
            raise ValueError(f"{SETTINGS_KEY}.temperature: auto needs the validation split file")
        record = choose_temperature(
            model_path,
            validation_h5,
            grid,
            settings["batch_size"],
            seed=derive_seed(seed, "calo", "generate", "caloinn", "temperature"),
            device=device,
            clamp_to_training_range=clamp,
        )
        temperature = record["temperature"]
    record.update(temperature=float(temperature), clamp_to_training_range=clamp)
    return {"temperature": float(temperature), "clamp_to_training_range": clamp}, record


def choose_temperature(
    model_path: str | Path,
    validation_h5: str | Path,
    grid: Sequence[float],
    batch_size: int,
    seed: int,
    device: str = "auto",
    clamp_to_training_range: bool = True,
) -> dict[str, Any]:
    """The grid temperature whose showers, at the validation split's conditions, have the smallest FPD to it.

    Returns {"temperature", "scan": [{"temperature", "fpd", "fpd_error"}, ...]}. The hit threshold of the
    features is the split's cell threshold. Deterministic for a given seed (the same base noise at every T).
    """
    cells, energy, theta, geometry_dict, threshold = load_split_showers(validation_h5)
    geometry = geometry_from_dict(geometry_dict)
    energy_np, theta_np = energy.numpy().astype(np.float64), theta.numpy().astype(np.float64)
    pdg = np.zeros(len(energy_np), dtype=np.int32)
    reference = ShowerSample(cells.numpy().astype(np.float32), energy_np, theta_np, pdg)
    ref_high, _ = shower_features(reference, geometry, hit_threshold_gev=threshold).high_level_matrix()
    scan = []
    for temperature in grid:
        generated, _ = sample_caloinn(
            model_path,
            energy_np,
            theta_np,
            batch_size=batch_size,
            seed=derive_seed(seed, "sample"),
            device=device,
            temperature=temperature,
            clamp_to_training_range=clamp_to_training_range,
        )
        sample = ShowerSample(generated, energy_np, theta_np, pdg)
        gen_high, _ = shower_features(sample, geometry, hit_threshold_gev=threshold).high_level_matrix()
        value, error = fpd(ref_high, gen_high, seed=derive_seed(seed, "fpd"))
        log.info("temperature %.3f: FPD to the validation split %.3g +- %.2g", temperature, value, error)
        scan.append({"temperature": float(temperature), "fpd": value, "fpd_error": error})
    best = min(scan, key=lambda row: row["fpd"])
    log.info("chose the sampling temperature %.3f on the validation split", best["temperature"])
    return {"temperature": best["temperature"], "scan": scan}
