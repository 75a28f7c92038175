"""The lattice report: observable table with pulls, cost per independent configuration (HTML page through
twins.core.report, cost table also as CSV)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from twins.core.report import escape, table, write_csv, write_page

TITLE = "Lattice twin"
COST_COLUMNS = (
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
)


def _fmt(obs: dict | None) -> str:
    return "" if obs is None else f"{obs['value']:.5g} ± {obs['error']:.2g} (τ={obs['tau_int']:.1f})"


def observable_table(results: list[dict]) -> pd.DataFrame:
    """One row per ensemble and observable: HMC, NF-MCMC (value ± error (tau_int)), exact value and pulls."""
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
    """One row per ensemble: acceptance, ESS, tau_int, seconds and cost per independent configuration."""
    return pd.DataFrame([{k: res["summary"][k] for k in COST_COLUMNS} for res in results])


def write_report(results: list[dict], out_html: str | Path, out_csv: str | Path) -> None:
    """The page (observables, costs, run summaries) and the cost table as CSV, from lattice_validate's records."""
    costs = cost_table(results)
    # full precision in the CSV, as pandas writes it: the machine-readable figures are not rounded
    write_csv(out_csv, costs, index=False, float_format=None)
    summaries = json.dumps([r["summary"] for r in results], indent=1, sort_keys=True)
    write_page(
        out_html,
        TITLE,
        [
            "<h3>Observables (value ± Γ-method error, τ_int in Wolff's convention)</h3>",
            table(observable_table(results), digits=6, index=False),
            "<h3>Acceptance, ESS and cost per independent configuration (seconds; NF includes training)</h3>",
            table(costs, digits=4, index=False),
            f"<h3>Run summaries</h3><pre>{escape(summaries)}</pre>",
        ],
    )
