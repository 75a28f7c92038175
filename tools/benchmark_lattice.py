"""Benchmark of the lattice twin against the targets of issue #4, from one demo run.

Usage:  .venv/bin/python tools/benchmark_lattice.py [--configfile FILE] [--workdir DIR] [--reuse]
                                                    [--out benchmarks/lattice_benchmark.json]
Runs the lattice demo slice (the `lattice` key of config/config.yaml, or of --configfile) with
Snakemake on 2 cores in a scratch directory (or --workdir; --reuse evaluates a finished run there without
rerunning), then writes a JSON file and prints a table: NF-MCMC acceptance and chi_2 at the Albergo point,
HMC chi_2 against the tutorial's 0.75(1), U(1) pulls against the exact finite-volume values, acceptance vs
L, cost per independent configuration, <m> at the ordered point, and the demo's wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TUTORIAL_CHI2 = (0.75, 0.01)  # Albergo et al.'s HMC reference at m2 = -4, lam = 8, L = 8


def run_demo(workdir: Path, configfile: Path) -> float:
    for name in ("config", "resources"):
        if not (workdir / name).exists():
            (workdir / name).symlink_to(REPO / name)
    demo = yaml.safe_load(configfile.read_text())
    (workdir / "demo.yaml").write_text(yaml.safe_dump({"twins": ["lattice"], "lattice": demo["lattice"]}))
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "workflow/Snakefile"),
            "--cores",
            "2",
            "--configfile",
            "demo.yaml",
        ],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - started


def pull_of(row: dict, key: str) -> float | None:
    value = row.get(key)
    return None if value is None else round(float(value), 2)


def evaluate(workdir: Path) -> dict:
    results = {}
    for path in sorted((workdir / "results/lattice/validate").glob("*.json")):
        results[path.stem] = json.loads(path.read_text())
    out = {"ensembles": {}}
    for name, res in results.items():
        s = res["summary"]
        rows = {r["observable"]: r for r in res["observables"]}
        entry = {
            k: s[k]
            for k in (
                "theory",
                "shape",
                "couplings",
                "hmc_acceptance",
                "nf_acceptance",
                "nf_ess",
                "tau_int_hmc",
                "tau_int_nf",
                "cost_hmc",
                "cost_nf",
                "cost_nf_without_training",
                "seconds_nf_training",
                "nf_fraction_positive",
            )
        }
        entry["observables"] = {
            k: {
                "hmc": r["hmc"]["value"],
                "hmc_err": r["hmc"]["error"],
                "nf": r["nfmcmc"]["value"],
                "nf_err": r["nfmcmc"]["error"],
                "exact": r.get("exact"),
                "pull_nf_hmc": pull_of(r, "pull_nf_hmc"),
                "pull_hmc_exact": pull_of(r, "pull_hmc_exact"),
                "pull_nf_exact": pull_of(r, "pull_nf_exact"),
            }
            for k, r in rows.items()
        }
        if (
            s["theory"] == "phi4"
            and s["couplings"].get("form", "albergo") == "albergo"
            and s["couplings"].get("m2") == -4.0
            and s["couplings"].get("lam") == 8.0
        ):
            chi2 = rows["chi2"]["hmc"]
            combined = (chi2["error"] ** 2 + TUTORIAL_CHI2[1] ** 2) ** 0.5
            entry["hmc_chi2_pull_vs_tutorial"] = round((chi2["value"] - TUTORIAL_CHI2[0]) / combined, 2)
        out["ensembles"][name] = entry
    return out


def print_table(report: dict) -> None:
    print(
        f"{'ensemble':<20} {'acc HMC':>8} {'acc NF':>7} {'ESS':>6} {'tau HMC':>8} {'tau NF':>7} "
        f"{'cost HMC/s':>11} {'cost NF/s':>10}"
    )
    for name, e in report["ensembles"].items():
        print(
            f"{name:<20} {e['hmc_acceptance']:8.3f} {e['nf_acceptance']:7.3f} {e['nf_ess']:6.3f} "
            f"{e['tau_int_hmc']:8.2f} {e['tau_int_nf']:7.2f} {e['cost_hmc']:11.2e} {e['cost_nf']:10.2e}"
        )
    print()
    print(
        f"{'ensemble':<20} {'observable':<10} {'HMC':>20} {'NF-MCMC':>20} {'exact':>9} {'pull NF-HMC':>11} "
        f"{'HMC-ex':>7} {'NF-ex':>6}"
    )
    for name, e in report["ensembles"].items():
        for obs, o in e["observables"].items():
            exact = "" if o["exact"] is None else f"{o['exact']:.5f}"
            print(
                f"{name:<20} {obs:<10} {o['hmc']:>11.5f} ±{o['hmc_err']:<7.5f} {o['nf']:>11.5f} ±{o['nf_err']:<7.5f}"
                f" {exact:>9} {o['pull_nf_hmc']!s:>11} {o['pull_hmc_exact']!s:>7} {o['pull_nf_exact']!s:>6}"
            )
        if "hmc_chi2_pull_vs_tutorial" in e:
            print(f"{name:<20} HMC chi2 vs tutorial 0.75(1): pull {e['hmc_chi2_pull_vs_tutorial']}")
    if report.get("demo_seconds") is not None:
        print(f"\ndemo wall time: {report['demo_seconds']:.0f} s on 2 cores (target <= 600 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", type=Path, default=REPO / "config/config.yaml")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="evaluate a finished run in --workdir")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/lattice_benchmark.json")
    parser.add_argument(
        "--demo-seconds",
        type=float,
        default=None,
        help="with --reuse: the wall time the reused run took, measured outside",
    )
    parser.add_argument("--conditions", default="one demo run with snakemake --cores 2 on this machine")
    args = parser.parse_args()
    if args.reuse and args.workdir is None:
        parser.error("--reuse needs --workdir")
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        seconds = None if args.reuse else run_demo(workdir, args.configfile)
        report = evaluate(workdir)
    report["demo_seconds"] = seconds if seconds is not None else args.demo_seconds
    report["conditions"] = args.conditions
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    print_table(report)


if __name__ == "__main__":
    main()
