"""Benchmark of the TPC twin: detailed simulator vs GAN generation speed (same CPU, one run, one thread
each), the chi^2 summary of Fast4 and Fast6 and the demo's run time, against the targets of issue #7.

Usage:  .venv/bin/python tools/benchmark_tpc.py [--segments 5000] [--workdir .] [--configfile my.yaml]
            [--out benchmarks/tpc_benchmark.json]
--workdir: where a tpc run left results/ and benchmarks/ (the trained models, chi2 table and rule timings
are read from there; without models an untrained generator of the configured architecture is timed,
as speed does not depend on the weights). Writes a JSON file and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from twins.core.config import validate_config  # noqa: E402

TARGETS = {"speed_ratio_min": 10.0, "demo_minutes_max": 8.0}
# rules of one demo run in the order they run; parallel ones (chunks, variants) count by their slowest
CHAIN = ("simulate", "convert", "preprocess", "train", "generate", "validate", "report")


def load_config(configfile: str | None) -> dict:
    import yaml

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    if configfile:
        override = yaml.safe_load(Path(configfile).read_text())
        for key, value in override.items():
            config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return validate_config(config, REPO / "workflow/schemas/config.schema.yaml")


def simulator_speed(tpc: dict, n: int):
    from twins.tpc.detector import load_detector
    from twins.tpc.padrow import PadRowSimulator
    from twins.tpc.tracks import sample_segments

    detector = load_detector(REPO / tpc["detector"])
    rng = np.random.default_rng(1)
    segments = sample_segments(n, detector, tpc["simulate"], rng)
    simulator = PadRowSimulator(detector)
    simulator.simulate({k: v[:200] for k, v in segments.items()}, rng)  # warm-up, as for the generator
    started = time.perf_counter()
    simulator.simulate(segments, rng)
    return n / (time.perf_counter() - started), detector, segments


def generator_speeds(tpc: dict, detector, segments, workdir: Path) -> dict[str, dict]:
    import torch

    from twins.tpc.encoding import encode, fit_scales, raw_encoding
    from twins.tpc.models import get_model
    from twins.tpc.models.wgan_gp import build_networks, sample_responses

    torch.set_num_threads(1)
    speeds = {}
    for variant in tpc["variants"]:
        model = get_model(variant)
        path = workdir / f"results/tpc/models/{variant}/model.pt"
        if path.exists():
            generator, meta = model.load(path, torch.device("cpu"))
            scales, source = meta["scales"], str(path)
        else:
            scales = fit_scales(raw_encoding(segments, detector))
            generator, _ = build_networks(tpc["train"], detector.window_shape, len(model.columns))
            generator.eval()
            source = "untrained generator of the configured architecture"
        conditions = encode(segments, detector, scales)[:, model.columns]
        _, rate = sample_responses(
            generator, conditions, detector.zero_suppression_adc, tpc["generate"]["batch_size"], 0, torch.device("cpu")
        )
        speeds[variant] = {"segments_per_second": rate, "model": source}
    return speeds


def chi2_summary(workdir: Path) -> dict | None:
    path = workdir / "results/tpc/report/chi2.csv"
    if not path.exists():
        return None
    import pandas as pd

    frame = pd.read_csv(path, index_col=[0, 1])
    summary = frame.loc["summary"]
    return {
        column: {
            key: float(summary.loc[key, column]) for key in ("chi2_ndf_fast4_conditions", "chi2_ndf_all_conditions")
        }
        for column in frame.columns
    }


def demo_seconds(workdir: Path) -> dict | None:
    """Wall and CPU seconds of the slowest job of each step, summed along the chain, from Snakemake's
    benchmark files (a 2-core run overlaps the chunks and the variants)."""
    folder = workdir / "benchmarks/tpc"
    if not folder.exists():
        return None
    import pandas as pd

    wall = cpu = 0.0
    for step in CHAIN:
        files = sorted(folder.glob(f"{step}*.tsv"))
        if not files:
            return None
        frames = [pd.read_csv(f, sep="\t") for f in files]
        wall += max(float(f["s"].iloc[-1]) for f in frames)
        cpu += max(float(f["cpu_time"].iloc[-1]) for f in frames)
    return {"critical_path_wall_seconds": wall, "critical_path_cpu_seconds": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=5000)
    parser.add_argument("--workdir", default=str(REPO))
    parser.add_argument("--configfile", default=None, help="override merged over config/config.yaml")
    parser.add_argument("--out", default=str(REPO / "benchmarks/tpc_benchmark.json"))
    args = parser.parse_args()
    workdir = Path(args.workdir)
    tpc = load_config(args.configfile)["tpc"]
    sim_rate, detector, segments = simulator_speed(tpc, args.segments)
    generators = generator_speeds(tpc, detector, segments, workdir)
    chi2 = chi2_summary(workdir)
    demo = demo_seconds(workdir)
    result = {
        "segments": args.segments,
        "simulator_segments_per_second": sim_rate,
        "generators": {v: {**g, "speed_ratio": g["segments_per_second"] / sim_rate} for v, g in generators.items()},
        "chi2": chi2,
        "demo": demo,
        # other processes on the machine stretch the wall times (not the CPU times) of the demo jobs
        "load_average_1min": os.getloadavg()[0],
        "targets": {
            "speed_ratio_at_least_10": all(
                g["segments_per_second"] / sim_rate >= TARGETS["speed_ratio_min"] for g in generators.values()
            ),
            "fast6_at_least_as_good_as_fast4": None
            if not chi2 or not {"fast4", "fast6"} <= set(chi2)
            else chi2["fast6"]["chi2_ndf_all_conditions"] <= chi2["fast4"]["chi2_ndf_all_conditions"],
            "demo_within_8_minutes": None
            if demo is None
            else demo["critical_path_wall_seconds"] <= 60 * TARGETS["demo_minutes_max"],
            "demo_cpu_critical_path_within_8_minutes": None
            if demo is None
            else demo["critical_path_cpu_seconds"] <= 60 * TARGETS["demo_minutes_max"],
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"{'quantity':45s} value")
    print(f"{'detailed simulator [segments/s]':45s} {sim_rate:.4g}")
    for variant, g in result["generators"].items():
        print(f"{variant + ' generator [segments/s]':45s} {g['segments_per_second']:.4g}  (x{g['speed_ratio']:.0f})")
    for variant, values in (chi2 or {}).items():
        for key, value in values.items():
            print(f"{variant + ' ' + key:45s} {value:.4g}")
    if demo:
        print(
            f"{'demo critical path wall / cpu [s]':45s} {demo['critical_path_wall_seconds']:.0f} / "
            f"{demo['critical_path_cpu_seconds']:.0f}"
        )
    for key, ok in result["targets"].items():
        print(f"{'target ' + key:45s} {ok}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
