"""What workflow/rules/pulsar.smk needs from Python: targets, input functions, config slices (no Snakemake imports)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

from twins.core.config import ConfigError, resolve
from twins.core.workflow import results

# pulsar.generate keys each rule reads (the rest names the observations)
GENERATE_KEYS = ("threshold", "batch_size", "mask_flagged_channels")
VALIDATE_GENERATE_KEYS = ("threshold", "batch_size")


def targets(config: dict) -> list[str]:
    """The pulsar twin's final outputs (rule pulsar_all)."""
    return [results("pulsar/report/metrics.html")]


def available_real_files(config: dict) -> dict[str, dict]:
    """The configured real filterbank files that exist here. The real data (../shared/data/) are not on
    every machine: a missing file is left out of the run with a warning naming it, so the simulated
    part of the twin still runs; a missing mask only drops the flagging check of that file."""
    available = {}
    for name, entry in config["pulsar"]["generate"]["real"].items():
        if not Path(entry["path"]).exists():
            print(
                f"pulsar: real file '{name}' not found at {entry['path']}; it is left out of this run", file=sys.stderr
            )
            continue
        mask = entry.get("mask")
        if mask and not Path(mask).exists():
            print(f"pulsar: mask {mask} of '{name}' not found; its channel flagging is not checked", file=sys.stderr)
            entry = {**entry, "mask": None}
        available[name] = entry
    return available


def observations(config: dict) -> list[str]:
    """Names of the whole observations pulsar_generate processes: simulated datasets, then real files."""
    p = config["pulsar"]
    unknown = [d for d in p["generate"]["simulated"] if d not in p["datasets"]]
    if unknown:
        raise ValueError(f"pulsar.generate.simulated names {unknown}, not in pulsar.datasets {sorted(p['datasets'])}")
    clash = set(p["generate"]["simulated"]) & set(p["generate"]["real"])
    if clash:
        raise ValueError(f"pulsar.generate: {sorted(clash)} named both simulated and real; rename the real entry")
    return list(p["generate"]["simulated"]) + list(available_real_files(config))


def observation_file(config: dict, name: str, external=str) -> str:
    """The filterbank of observation `name`: a real file's path (wrapped in `external`: the rule file passes
    its `external_file`, so a user's file is never looked up under a storage prefix), else
    pulsar_simulate's output."""
    real = config["pulsar"]["generate"]["real"]
    return external(real[name]["path"]) if name in real else results(f"pulsar/simulate/{name}.fil")


def observation_downsample(config: dict, name: str) -> dict | None:
    """Downsampling of a real file (its own channelisation); None: the model's."""
    real = config["pulsar"]["generate"]["real"]
    if name not in real:
        return None
    return {k: real[name][k] for k in ("time_downsample", "freq_downsample")}


def observation_masks(config: dict) -> dict:
    """Observation -> its flagging-truth mask file (None: no check), for the real files present."""
    return {name: entry.get("mask") for name, entry in available_real_files(config).items()}


def training_dataset(config: dict, model: str) -> str:
    """The dataset `model` trains on (pulsar.models)."""
    dataset = config["pulsar"]["models"][model]
    if dataset not in config["pulsar"]["datasets"]:
        raise ValueError(f"pulsar.models.{model} trains on '{dataset}', not in pulsar.datasets")
    return dataset


def training_split(config: dict, model: str, part: str) -> str:
    """The preprocessed `part` (train, validation) of the dataset `model` trains on."""
    return results(f"pulsar/preprocess/{training_dataset(config, model)}/{part}.h5")


def example_frames(config: dict) -> str:
    """The test split the report draws example frames from: the first dataset's."""
    return results(f"pulsar/preprocess/{next(iter(config['pulsar']['datasets']))}/test.h5")


def generate_settings(config: dict, keys: tuple[str, ...] = GENERATE_KEYS) -> dict:
    """The pulsar.generate keys a rule reads (not the observation lists, which change its inputs instead)."""
    return {k: v for k, v in config["pulsar"]["generate"].items() if k in keys}


def _merged(base: dict, override: dict) -> dict:
    """`base` with `override`'s keys replaced, nested mappings key by key."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def model_train_settings(config: dict, model: str) -> dict:
    """`pulsar.train` with the model's `pulsar.train_by_model` entry merged in, resolved against the schema of
    pulsar.train (twins.core.config.resolve: its defaults and checks).

    One model's override is its own rule parameter: changing it retrains that model only."""
    p = config["pulsar"]
    unknown = sorted(set(p["train_by_model"]) - set(p["models"]))
    if unknown:
        raise ValueError(f"pulsar.train_by_model names {unknown}, not in pulsar.models {sorted(p['models'])}")
    try:
        return resolve("pulsar.train", _merged(p["train"], p["train_by_model"].get(model, {})))
    except ConfigError as err:
        raise ConfigError(
            f"pulsar.train_by_model.{model}: merged over pulsar.train, it breaks the train schema "
            f"(allowed keys are those of pulsar.train): {err}"
        ) from None


def backgrounds(config: dict) -> dict[str, dict]:
    """The injection backgrounds of pulsar.candidates that are here: simulated ones (a telescope preset) always,
    real files only where they exist (left out with a warning otherwise, like the real observations)."""
    found = {}
    for name, entry in config["pulsar"]["candidates"]["backgrounds"].items():
        if "path" in entry and not Path(entry["path"]).exists():
            print(
                f"pulsar: background '{name}' not found at {entry['path']}; it is left out of this run", file=sys.stderr
            )
            continue
        found[name] = entry
    return found


def background_file(config: dict, name: str, external=str) -> str:
    """The file behind background `name`: the real observation, or the telescope preset of a simulated one."""
    entry = config["pulsar"]["candidates"]["backgrounds"][name]
    return external(entry["path"] if "path" in entry else entry["telescope"])


def candidate_settings(config: dict) -> dict:
    """The pulsar.candidates keys pulsar_inject reads (not the backgrounds, its own param, nor train/classify)."""
    keys = ("splits", "realisations", "injection", "images", "matching", "side_lobes")
    return {k: v for k, v in config["pulsar"]["candidates"].items() if k in keys}


def simulated_observations(config: dict) -> list[str]:
    """The simulated observations (their truth lists every pulse)."""
    return list(config["pulsar"]["generate"]["simulated"])


def observation_truths(config: dict) -> list[str]:
    """pulsar_simulate's truth file of every simulated observation, in the order of simulated_observations."""
    return [results(f"pulsar/simulate/{name}_truth.h5") for name in simulated_observations(config)]


def observation_streams(config: dict) -> list[str]:
    """pulsar_simulate's filterbank of every simulated observation, in the order of simulated_observations: the
    validation measures each true pulse's S/N on it."""
    return [results(f"pulsar/simulate/{name}.fil") for name in simulated_observations(config)]


def observation_test_ranges(config: dict) -> dict[str, list[float]]:
    """Real observation -> the fraction [start, stop] of it no training saw: the test split of the background
    that shares its file, else the whole file."""
    candidates = config["pulsar"]["candidates"]
    splits = candidates["splits"]
    used = {str(Path(e["path"]).resolve()) for e in candidates["backgrounds"].values() if "path" in e}
    ranges = {}
    for name, entry in available_real_files(config).items():
        start = splits["train"] + splits["validation"] if str(Path(entry["path"]).resolve()) in used else 0.0
        ranges[name] = [start, 1.0]
    return ranges
