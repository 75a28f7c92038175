"""Benchmark of the calorimeter twin: simulator vs generator speeds, convert peak memory, dry-run time.

Usage:  .venv/bin/python tools/benchmark_calo.py [--showers 500] [--out benchmarks/calo_benchmark.json]
Writes a JSON file and prints a table. Every figure comes from this one run on this machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from twins.calo.geometry import load_geometry  # noqa: E402
from twins.calo.simulators import simulate_showers  # noqa: E402
from twins.core.config import validate_config  # noqa: E402

# Peak RSS of a fresh process converting the files. The high-water mark is reset first (Linux
# clear_refs 5): a child can otherwise report its parent's peak, which holds the trained models.
CONVERT_PEAK_MEMORY = """
import re, sys
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
sys.path.insert(0, {src!r})
from twins.calo.io import convert_root_to_hdf5
convert_root_to_hdf5({files!r}, {out!r}, {{"step_size": 200}})
print(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
"""


def default_config() -> dict:
    import yaml

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    return validate_config(config, REPO / "workflow/schemas/config.schema.yaml")


def simulator_speed(config: dict, n: int) -> tuple[float, object]:
    geometry = load_geometry(REPO / config["calo"]["geometry"])
    started = time.perf_counter()
    sample = simulate_showers(geometry, config["calo"]["simulate"], n, np.random.default_rng(1))
    return n / (time.perf_counter() - started), (geometry, sample)


def generator_speeds(config: dict, sample, workdir: Path) -> dict[str, tuple[float, str]]:
    """Showers/s of every generator at the demo conditions, sampled through twins.calo.models.sample (as the
    calo_generate step does): the trained demo model where the demo ran; for the 3DGAN otherwise an untrained
    generator of the demo architecture (speed does not depend on weights)."""
    from twins.calo import models

    validation = REPO / "results/calo/preprocess/validation.h5"  # CaloINN's temperature `auto` is chosen on it
    speeds = {}
    for name in models.MODELS:
        model = REPO / f"results/calo/models/{name}/model.pt"
        source = "trained demo model"
        if not model.exists():
            if name != "gan3d":
                continue
            from twins.calo.models.gan3d.train import save_untrained_generator

            model = workdir / "untrained.pt"
            save_untrained_generator(
                model, config["calo"]["train"]["gan3d"], sample.cells.shape[1:], config["calo"]["preprocess"], seed=1
            )
            source = "untrained generator at the demo architecture"
        settings = {**config["calo"]["generate"], "batch_size": 256}
        generated = models.sample(
            name, model, sample.energy, sample.theta, settings, seed=1, device="cpu", validation_h5=validation
        )
        speeds[name] = (generated.showers_per_second, source)
    return speeds


def convert_peak_memory_mb(geometry, n: int, workdir: Path) -> float:
    from twins.calo.io import write_showers_root

    rng = np.random.default_rng(2)
    files = []
    base = simulate_showers(
        geometry,
        {
            "backend": "gflash",
            "particle": "e-",
            "energy_gev": {"spectrum": "uniform", "min": 10, "max": 100},
            "incidence_angle_deg": {"min": 0, "max": 20},
        },
        250,
        rng,
    )
    for k in range(max(1, n // 250)):
        path = workdir / f"mem_{n}_{k}.root"
        write_showers_root(path, base, geometry.to_dict(), {"step": "benchmark"})
        files.append(str(path))
    code = CONVERT_PEAK_MEMORY.format(src=str(REPO / "src"), files=files, out=str(workdir / f"mem_{n}.h5"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return int(out.strip().splitlines()[-1]) / 1024


def dry_run_seconds() -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--forceall", "-q", "rules"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--showers", type=int, default=500, help="showers for the speed measurements")
    parser.add_argument("--out", default=str(REPO / "benchmarks/calo_benchmark.json"))
    args = parser.parse_args()
    config = default_config()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sim_speed, (geometry, sample) = simulator_speed(config, args.showers)
        speeds = generator_speeds(config, sample, workdir)
        small, large = 500, 4000
        mem_small = convert_peak_memory_mb(geometry, small, workdir)
        mem_large = convert_peak_memory_mb(geometry, large, workdir)
    results = {
        "showers": args.showers,
        "simulator_showers_per_s": sim_speed,
        "generators": {
            name: {"showers_per_s": speed, "model": source, "speed_ratio_over_simulator": speed / sim_speed}
            for name, (speed, source) in speeds.items()
        },
        "convert_peak_rss_mb": {str(small): mem_small, str(large): mem_large},
        "convert_peak_rss_ratio_large_over_small": mem_large / mem_small,
        "dry_run_seconds": dry_run_seconds(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    rows = [
        ("simulator (GFlash, 1 core)", f"{sim_speed:.1f} showers/s"),
        *(
            row
            for name, (speed, source) in speeds.items()
            for row in (
                (f"{name} ({source})", f"{speed:.1f} showers/s"),
                (f"speed ratio {name} / simulator", f"{speed / sim_speed:.2f}"),
            )
        ),
        (f"convert peak RSS, {small} showers", f"{mem_small:.0f} MB"),
        (f"convert peak RSS, {large} showers", f"{mem_large:.0f} MB"),
        ("peak RSS ratio (8x the showers)", f"{mem_large / mem_small:.2f}"),
        ("dry-run of the whole DAG", f"{results['dry_run_seconds']:.2f} s"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
