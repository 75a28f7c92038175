"""The lattice report: observable table with pulls, cost per independent configuration, acceptance vs L."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from twins.core.io import atomic_path, read_json
from twins.core.plots import new_figure, save_figure


def _fmt(obs: dict | None) -> str:
    return "" if obs is None else f"{obs['value']:.5g} ± {obs['error']:.2g} (τ={obs['tau_int']:.1f})"


def observable_table(results: list[dict]) -> pd.DataFrame:
    rows = []
    for res in results:
        for row in res["observables"]:
            rows.append(
                {
                    "ensemble": res["summary"]["ensemble"],
                    "observable": row["observable"],
                    "HMC": _fmt(row["hmc"]),
                    "NF-MCMC": _fmt(row["nfmcmc"]),
                    "exact": f"{row['exact']:.5g}" if "exact" in row else "",
                    "pull NF-HMC": round(row["pull_nf_hmc"], 2),
                    "pull HMC-exact": round(row["pull_hmc_exact"], 2) if "exact" in row else "",
                    "pull NF-exact": round(row["pull_nf_exact"], 2) if "exact" in row else "",
                }
            )
    return pd.DataFrame(rows)


def cost_table(results: list[dict]) -> pd.DataFrame:
    keys = [
        "ensemble",
        "hmc_acceptance",
        "nf_acceptance",
        "nf_ess",
        "tau_int_hmc",
        "tau_int_nf",
        "seconds_hmc",
        "seconds_nf_training",
        "seconds_nf_generation",
        "cost_hmc",
        "cost_nf",
        "cost_nf_without_training",
        "nf_fraction_positive",
    ]
    return pd.DataFrame([{k: res["summary"][k] for k in keys} for res in results])


def couplings_label(summary: dict) -> str:
    return f"{summary['theory']} " + ", ".join(f"{k}={v}" for k, v in sorted(summary["couplings"].items()))


def plot_acceptance_vs_size(results: list[dict], path: str | Path) -> None:
    """NF-MCMC acceptance against the linear lattice size L, one line per theory and couplings."""
    groups: dict[str, list[tuple[int, float]]] = {}
    for res in results:
        s = res["summary"]
        groups.setdefault(couplings_label(s), []).append((max(s["shape"]), s["nf_acceptance"]))
    fig = new_figure((5.5, 4.0))
    ax = fig.subplots()
    for i, (label, points) in enumerate(sorted(groups.items())):
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", color=f"C{i}", label=label)
    ax.set_xlabel("lattice size L")
    ax.set_ylabel("NF-MCMC acceptance")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def make_report(validation_jsons: list[str | Path], out_html, out_csv, out_acceptance) -> None:
    results = [read_json(p) for p in validation_jsons]
    observables = observable_table(results)
    costs = cost_table(results)
    with atomic_path(out_csv) as tmp:
        costs.to_csv(tmp, index=False)
    plot_acceptance_vs_size(results, out_acceptance)
    body = (
        "<h2>Observables (value ± Γ-method error, τ_int in Wolff's convention)</h2>"
        + observables.to_html(index=False, escape=True)
        + "<h2>Acceptance, ESS and cost per independent configuration (seconds; NF includes training)</h2>"
        + costs.to_html(index=False, float_format=lambda v: f"{v:.4g}")
        + "<h2>Run summaries</h2><pre>"
        + html.escape(json.dumps([r["summary"] for r in results], indent=1, sort_keys=True))
        + "</pre>"
    )
    with atomic_path(out_html) as tmp:
        tmp.write_text(
            f"<html><head><meta charset='utf-8'><title>Lattice twin</title></head><body>{body}</body></html>\n"
        )
