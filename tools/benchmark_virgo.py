"""Benchmark of the virgo twin against the issue's targets.

Usage:  .venv/bin/python tools/benchmark_virgo.py [--results DIR] [--segments 64] [--threads 1]
            [--out benchmarks/virgo_benchmark.json]
DIR is the working directory of a finished virgo run (default: this repository). The latency is measured
here, fresh: whitening + Q-transform (strain and the selected channels) + GlitchFlow inference on raw
test segments; accuracies, channel selection and step run times are read from that run's outputs.
Writes a JSON file and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import torch  # noqa: E402

from twins.core.config import defaults  # noqa: E402
from twins.core.io import write_json  # noqa: E402
from twins.core.provenance import code_version  # noqa: E402
from twins.virgo.io import read_asds, read_segments, read_tframe  # noqa: E402
from twins.virgo.latency import pipeline_latency  # noqa: E402
from twins.virgo.metrics import SEED_FIGURES  # noqa: E402
from twins.virgo.models import glitchflow  # noqa: E402
from twins.virgo.spectrograms import SpectrogramSettings, WitnessChannels  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=REPO)
    parser.add_argument("--segments", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/virgo_benchmark.json")
    args = parser.parse_args()
    res = args.results / "results/virgo"
    for needed in ("validate/metrics.json", "models/glitchflow/model.pt", "segments.h5"):
        if not (res / needed).exists():
            sys.exit(f"{res / needed} missing: run the virgo chain first (snakemake with twins: [virgo])")
    torch.set_num_threads(args.threads)
    metrics = json.loads((res / "validate/metrics.json").read_text())
    preprocess_settings = json.loads((res / "preprocess/selection.json").read_text())["provenance"]["config"]
    spec = SpectrogramSettings.from_config(preprocess_settings)
    model, _ = glitchflow.load(res / "models/glitchflow/model.pt")
    test = read_tframe(res / "preprocess/test.h5")
    segments = read_segments(res / "segments.h5")
    strain_asd, aux_asds = read_asds(res / "preprocess/asd.h5")
    witnesses = WitnessChannels.of_frame(segments, test)
    indices = np.resize(test.meta["segment"].to_numpy(), args.segments)
    batch_size = defaults("virgo.generate")["batch_size"]  # GlitchFlow's inference batches, as in virgo_generate
    cpu = torch.device("cpu")
    pipeline_latency(model, segments, strain_asd, aux_asds, witnesses, spec, indices[:4], cpu, batch_size)  # warm-up
    latency = pipeline_latency(model, segments, strain_asd, aux_asds, witnesses, spec, indices, cpu, batch_size)

    runtimes = {}
    for tsv in sorted((args.results / "benchmarks/virgo").glob("*.tsv")):
        runtimes[tsv.stem] = float(pd.read_csv(tsv, sep="\t")["s"].iloc[0])
    selection = metrics["channel_selection"]
    record = {
        "code": code_version(),
        "conditions": {"threads": args.threads, "segments_timed": int(len(indices)), "results": str(args.results)},
        "accuracy": metrics["accuracy"],
        "channel_selection": selection,
        "latency": {**latency, "target": 100.0, "met": latency["real_time_factor"] >= 100.0},
        "demo_step_seconds": runtimes,
        "demo_total_seconds": sum(runtimes.values()),
        "demo_target_seconds": 600,
    }
    write_json(args.out, record)

    rows = []
    for rho in SEED_FIGURES:
        a = metrics["accuracy"][f"snr_{rho:g}"]
        rows.append(
            (f"veto accuracy at S/N {rho:g} (E={rho**2 / 2:g})", f"{a['veto_accuracy']:.3f}", f">= {a['seeds_veto']}")
        )
        rows.append(
            (f"de-noising accuracy at S/N {rho:g}", f"{a['denoising_accuracy']:.3f}", f">= {a['seeds_denoising']}")
        )
    rows.append(("coupled channels recovered (recall)", f"{selection['recall']:.2f}", "1.00"))
    rows.append(("decoys above threshold", str(selection["decoys_selected"]), "<= 1"))
    rows.append(("latency (s of data / s)", f"{latency['real_time_factor']:.0f}", ">= 100"))
    rows.append(("demo run time, sum of steps [s]", f"{record['demo_total_seconds']:.0f}", "<= 600"))
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'measured':>9}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>9}  {target}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
