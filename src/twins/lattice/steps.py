"""The lattice twin's workflow steps, one plain function per rule (rule scripts only unpack Snakemake).

An ensemble spec is one entry of config lattice.ensembles: {theory, shape, couplings, hmc, flow, nfmcmc}.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from twins.core.io import atomic_path, read_json, write_json
from twins.core.provenance import make_provenance
from twins.core.seeding import derive_seed
from twins.lattice.exact import free_field, u1_exact
from twins.lattice.gamma import gamma_method
from twins.lattice.hmc import run_hmc
from twins.lattice.io import Ensemble, read_ensemble, write_ensemble
from twins.lattice.observables import COMPARED, histogram_series, measure
from twins.lattice.theories import make_theory, phi4_to_hopping

log = logging.getLogger(__name__)


def theory_attrs(spec: dict) -> dict:
    """Metadata every ensemble file carries about its theory."""
    theory = make_theory(spec["theory"], spec["shape"], spec["couplings"])
    attrs = {"theory": spec["theory"], "shape": list(theory.shape), "couplings": dict(spec["couplings"])}
    if theory.name == "phi4":
        kappa, lam_h = phi4_to_hopping(theory.m2, theory.lam, theory.dim)
        attrs["couplings_albergo"] = {"m2": theory.m2, "lam": theory.lam}
        attrs["couplings_hopping"] = {"kappa": kappa, "lam": lam_h}
    return attrs


def simulate(ensemble: str, spec: dict, seed: int, out_chain: str | Path, out_timing: str | Path) -> None:
    """HMC chain of one ensemble -> raw .npz (configs, trajectory, accepted, delta_h) and a timing JSON."""
    theory = make_theory(spec["theory"], spec["shape"], spec["couplings"])
    run_seed = derive_seed(seed, "lattice", "simulate", ensemble)
    chain = run_hmc(theory, spec["hmc"], np.random.default_rng(run_seed))
    with atomic_path(out_chain) as tmp:
        with open(tmp, "wb") as stream:
            np.savez(
                stream,
                configs=chain.configs,
                trajectory=chain.trajectory,
                accepted=chain.accepted,
                delta_h=chain.delta_h,
            )
    creutz = gamma_method(np.exp(-chain.delta_h))
    write_json(
        out_timing,
        {
            "ensemble": ensemble,
            "seed": run_seed,
            "acceptance": chain.acceptance,
            "step_size": chain.step_size,
            "n_steps": chain.n_steps,
            "mean_delta_h": float(np.mean(chain.delta_h)),
            "creutz": creutz.as_dict(),
            "seconds_thermalisation": chain.seconds_thermalisation,
            "seconds_production": chain.seconds_production,
        },
    )
    log.info("%s: acceptance %.3f, <exp(-dH)> = %.4f +- %.4f", ensemble, chain.acceptance, creutz.value, creutz.error)


def convert(ensemble: str, spec: dict, seed: int, chain_npz: str | Path, out_h5: str | Path) -> None:
    """Raw HMC chain -> the documented HDF5 layout (twins.lattice.io)."""
    with np.load(chain_npz) as raw:
        data = {k: raw[k] for k in ("configs", "trajectory", "accepted")}
    attrs = {
        **theory_attrs(spec),
        "algorithm": f"hmc-{spec['hmc']['integrator']}",
        "ensemble": ensemble,
        "seed": derive_seed(seed, "lattice", "simulate", ensemble),
    }
    write_ensemble(
        out_h5,
        Ensemble(**data, attrs=attrs),
        make_provenance("lattice_convert", spec, seed=seed, inputs=[chain_npz], ensemble=ensemble),
    )


def preprocess(ensemble: str, spec: dict, hmc_h5: str | Path, out_json: str | Path) -> None:
    """Observables of the HMC ensemble with Gamma-method errors."""
    data = read_ensemble(hmc_h5)
    record = make_provenance("lattice_preprocess", spec, inputs=[hmc_h5], ensemble=ensemble)
    write_json(out_json, {"observables": measure(spec["theory"], data.configs), "provenance": record})


def generate(
    ensemble: str, spec: dict, seed: int, model: str | Path, out_h5: str | Path, out_timing: str | Path
) -> None:
    """NF-MCMC ensemble from the trained flow, in the same HDF5 layout, plus acceptance/ESS/timing JSON."""
    import torch

    from twins.lattice.flows import effective_sample_size
    from twins.lattice.generate import independence_metropolis
    from twins.lattice.train import load_flow

    torch.set_num_threads(1)
    flow, theory, model_spec, training_seconds = load_flow(model)
    run_seed = derive_seed(seed, "lattice", "generate", ensemble)
    settings = spec["nfmcmc"]
    chain = independence_metropolis(flow, theory, int(settings["n_configs"]), int(settings["batch_size"]), run_seed)
    attrs = {**theory_attrs(spec), "algorithm": "nf-mcmc", "ensemble": ensemble, "seed": run_seed}
    write_ensemble(
        out_h5,
        Ensemble(chain.configs, np.arange(len(chain.configs)), chain.accepted, attrs),
        make_provenance("lattice_generate", spec, seed=run_seed, inputs=[model], ensemble=ensemble),
    )
    write_json(
        out_timing,
        {
            "ensemble": ensemble,
            "acceptance": chain.acceptance,
            "ess": effective_sample_size(torch.from_numpy(chain.log_weights)),
            "seconds_generation": chain.seconds,
            "seconds_training": training_seconds,
        },
    )
    log.info("%s: NF-MCMC acceptance %.3f", ensemble, chain.acceptance)


def exact_values(spec: dict) -> dict[str, float]:
    """Exact finite-volume values where they exist (free phi^4, 2D U(1)); {} otherwise."""
    theory = make_theory(spec["theory"], spec["shape"], spec["couplings"])
    if theory.name == "u1":
        exact = u1_exact(theory.beta, theory.volume)
        return {"plaquette": exact["plaquette"], "chi_t": exact["chi_t"], "q": 0.0}
    if theory.lam == 0:
        return {**free_field(theory.shape, theory.m2), "m": 0.0}
    return {"m": 0.0}  # Z2 symmetry: exact on any finite lattice


def pull(a: dict, b: dict | float) -> float:
    """(a - b) / combined error; b an exact number (no error) or another {value, error}."""
    b_value, b_error = (b, 0.0) if isinstance(b, (int, float)) else (b["value"], b["error"])
    err = math.hypot(a["error"], b_error)
    return (a["value"] - b_value) / err if err > 0 else float("nan")


def cost_per_independent(seconds: float, n: int, tau_int: float) -> float:
    """Seconds per effectively independent configuration, N_eff = N / (2 tau_int) (Wolff's tau)."""
    return seconds * 2 * tau_int / n


def validate(ensemble: str, spec: dict, hmc_h5, nf_h5, hmc_json, sim_timing, gen_timing, out_json, out_figure) -> dict:
    """Compare NF-MCMC with HMC and exact results: pulls, acceptance, ESS, tau_int, cost per independent config."""
    from twins.core.plots import new_figure, save_figure

    hmc_obs = read_json(hmc_json)["observables"]
    nf = read_ensemble(nf_h5)
    hmc = read_ensemble(hmc_h5)
    nf_obs = measure(spec["theory"], nf.configs)
    exact = exact_values(spec)
    sim, gen = read_json(sim_timing), read_json(gen_timing)
    rows = []
    for name in COMPARED[spec["theory"]]:
        row = {
            "observable": name,
            "hmc": hmc_obs[name],
            "nfmcmc": nf_obs[name],
            "pull_nf_hmc": pull(nf_obs[name], hmc_obs[name]),
        }
        if name in exact:
            row.update(
                exact=exact[name],
                pull_hmc_exact=pull(hmc_obs[name], exact[name]),
                pull_nf_exact=pull(nf_obs[name], exact[name]),
            )
        rows.append(row)
    tau_hmc = max(hmc_obs[n]["tau_int"] for n in COMPARED[spec["theory"]])
    tau_nf = max(nf_obs[n]["tau_int"] for n in COMPARED[spec["theory"]])
    hmc_seconds = sim["seconds_thermalisation"] + sim["seconds_production"]
    nf_seconds = gen["seconds_training"] + gen["seconds_generation"]
    hist_hmc = histogram_series(spec["theory"], hmc.configs)
    hist_nf = histogram_series(spec["theory"], nf.configs)
    summary = {
        "ensemble": ensemble,
        "theory": spec["theory"],
        "shape": list(spec["shape"]),
        "couplings": dict(spec["couplings"]),
        "hmc_acceptance": sim["acceptance"],
        "creutz": sim["creutz"],
        "nf_acceptance": gen["acceptance"],
        "nf_ess": gen["ess"],
        "tau_int_hmc": tau_hmc,
        "tau_int_nf": tau_nf,
        "seconds_hmc": hmc_seconds,
        "seconds_nf_training": gen["seconds_training"],
        "seconds_nf_generation": gen["seconds_generation"],
        "cost_hmc": cost_per_independent(hmc_seconds, len(hmc.configs), tau_hmc),
        "cost_nf": cost_per_independent(nf_seconds, len(nf.configs), tau_nf),
        "cost_nf_without_training": cost_per_independent(gen["seconds_generation"], len(nf.configs), tau_nf),
        # mode collapse check: a flow stuck in one vacuum gives a one-signed magnetisation / charge
        "nf_fraction_positive": float(np.mean(hist_nf > 0)),
        "nf_fraction_negative": float(np.mean(hist_nf < 0)),
    }
    if spec["theory"] == "u1":
        summary["q_integer"] = True  # measure() raises otherwise
    record = make_provenance("lattice_validate", spec, inputs=[hmc_h5, nf_h5, hmc_json], ensemble=ensemble)
    write_json(out_json, {"summary": summary, "observables": rows, "nf_observables": nf_obs, "provenance": record})

    fig = new_figure((5.5, 4.0))
    ax = fig.subplots()
    label = "magnetisation per site m" if spec["theory"] == "phi4" else "topological charge Q"
    if spec["theory"] == "u1":
        q_max = int(max(np.abs(hist_hmc).max(), np.abs(hist_nf).max(), 1))
        bins = np.arange(-q_max - 0.5, q_max + 1.0)
    else:
        bins = np.histogram_bin_edges(np.concatenate([hist_hmc, hist_nf]), bins=40)
    ax.hist(hist_hmc, bins=bins, density=True, color="0.35", alpha=0.4, label="HMC")
    ax.hist(hist_nf, bins=bins, density=True, histtype="step", color="#d62728", linewidth=1.5, label="NF-MCMC")
    ax.set_xlabel(label)
    ax.set_ylabel("density")
    ax.set_title(ensemble)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, out_figure)
    return summary
