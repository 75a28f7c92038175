"""Data-parallel CaloINN training on the CPU: per-epoch wall time with 2 gloo processes vs 1, one run.

Writes benchmarks/ddp_benchmark.json and prints a table. Both runs train the same flow on the same toy
showers with the same effective batch; the weights must agree (max |difference| is reported too).
Usage: python tools/benchmark_ddp.py [--showers 1024] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.calo.calo_samples import write_caloinn_split  # noqa: E402  (the toy split writer of the tests)
from twins.calo.models import train_model  # noqa: E402
from twins.core.model_file import load_model  # noqa: E402

GRID = (3, 3, 5)


def toy(n: int, rng: np.random.Generator):
    energy = rng.uniform(10, 100, n)
    theta = rng.uniform(0, 0.35, n)
    profile = np.array([0.1, 0.35, 0.3, 0.15, 0.05])
    cells = rng.gamma(2.0, 1.0, (n, *GRID)) * profile * (energy * 0.9 / 18)[:, None, None, None]
    cells *= rng.random((n, *GRID)) < 0.7
    return (cells * (cells >= 1e-4)).astype(np.float32), energy, theta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--showers", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/ddp_benchmark.json")
    args = parser.parse_args()
    settings = {"epochs": args.epochs, "batch_size": 64, "blocks": 4, "hidden_features": [128], "bins": 8}
    rows, states = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_caloinn_split(tmp / "train.h5", *toy(args.showers, np.random.default_rng(0)), 1e-4)
        write_caloinn_split(tmp / "validation.h5", *toy(args.showers // 4, np.random.default_rng(1)), 1e-4)
        for processes in (1, 2):
            out = tmp / f"p{processes}"
            train_model(
                "caloinn",
                tmp / "train.h5",
                tmp / "validation.h5",
                {**settings, "processes": processes},
                seed=1,
                device="cpu",
                checkpoint_path=out / "ckpt.pt",
                out_model=out / "model.pt",
                out_history=out / "history.csv",
                out_losses_png=out / "losses.png",
                threads=2,
            )
            history = pd.read_csv(out / "history.csv")
            states[processes] = load_model(out / "model.pt", "calo", "caloinn", "benchmark_ddp").weights["flow"]
            rows.append(
                {
                    "processes": processes,
                    "seconds_per_epoch": float(history["seconds"].median()),
                    "final_loss": float(history["loss"].iloc[-1]),
                }
            )
    diff = max(float((states[1][k].double() - states[2][k].double()).abs().max()) for k in states[1])
    result = {
        "showers": args.showers,
        "epochs": args.epochs,
        "settings": settings,
        "runs": rows,
        "speedup_2_vs_1": rows[0]["seconds_per_epoch"] / rows[1]["seconds_per_epoch"],
        "max_weight_difference": diff,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"{'processes':>9} {'s/epoch':>9} {'final loss':>11}")
    for row in rows:
        print(f"{row['processes']:>9} {row['seconds_per_epoch']:>9.2f} {row['final_loss']:>11.4f}")
    print(f"speed-up 2 vs 1: {result['speedup_2_vs_1']:.2f}x; max |weight difference| {diff:.2e}; -> {args.out}")


if __name__ == "__main__":
    main()
