"""The lattice twin's rules as functions: one per rule of workflow/rules/lattice.smk, file wiring only.

Every step has the signature `step(inputs, outputs, params, threads)` (twins.core.steps): inputs and outputs are
the rule's named files; params hold `spec`, the slice of one entry of lattice.ensembles the step depends on
({theory, shape, couplings} and its own hmc, flow or nfmcmc settings), `ensemble` (the {ensemble} wildcard) and,
where the step draws random numbers, `seed`.

The models, nfmcmc, figures and report modules are imported by the steps that use them: the report env needs no
flows, and simulating needs no torch.
"""

from __future__ import annotations

import logging

import numpy as np

from twins.core.io import read_json, write_json
from twins.core.provenance import make_provenance
from twins.core.seeding import derive_seed
from twins.lattice import io, metrics
from twins.lattice.gamma import gamma_method
from twins.lattice.hmc import run_hmc
from twins.lattice.observables import histogram_series, measure
from twins.lattice.theories import make_theory

log = logging.getLogger(__name__)


def simulate(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule lattice_simulate: the HMC chain of one ensemble with its own derived seed.
    outputs: chain (raw .npz: configs, trajectory, accepted, delta_h), timing (JSON: acceptance, step size,
    Creutz's <exp(-dH)>, seconds); params: spec (theory, shape, couplings, hmc), seed, ensemble."""
    spec, ensemble = params["spec"], params["ensemble"]
    theory = make_theory(spec["theory"], spec["shape"], spec["couplings"])
    run_seed = derive_seed(int(params["seed"]), "lattice", "simulate", ensemble)
    chain = run_hmc(theory, spec["hmc"], np.random.default_rng(run_seed))
    io.write_hmc_chain(
        outputs["chain"],
        {
            "configs": chain.configs,
            "trajectory": chain.trajectory,
            "accepted": chain.accepted,
            "delta_h": chain.delta_h,
        },
    )
    creutz = gamma_method(np.exp(-chain.delta_h))
    write_json(
        outputs["timing"],
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


def convert(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule lattice_convert: the raw HMC chain in the documented HDF5 layout (twins.lattice.io).
    inputs: chain (.npz); outputs: ensemble (HDF5); params: spec (theory, shape, couplings, hmc), seed, ensemble."""
    spec, ensemble, seed = params["spec"], params["ensemble"], int(params["seed"])
    data = io.read_hmc_chain(inputs["chain"])
    attrs = {
        **io.theory_attrs(spec),
        "algorithm": f"hmc-{spec['hmc']['integrator']}",
        "ensemble": ensemble,
        "seed": derive_seed(seed, "lattice", "simulate", ensemble),
    }
    io.write_ensemble(
        outputs["ensemble"],
        io.Ensemble(**data, attrs=attrs),
        make_provenance("lattice_convert", spec, seed=seed, inputs=[inputs["chain"]], ensemble=ensemble),
    )


def preprocess(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule lattice_preprocess: observables of the HMC ensemble with Gamma-method errors.
    inputs: ensemble (HDF5); outputs: observables (JSON); params: spec (theory, shape, couplings), ensemble."""
    spec, ensemble = params["spec"], params["ensemble"]
    data = io.read_ensemble(inputs["ensemble"])
    record = make_provenance("lattice_preprocess", spec, inputs=[inputs["ensemble"]], ensemble=ensemble)
    write_json(outputs["observables"], {"observables": measure(spec["theory"], data.configs), "provenance": record})


def train(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule lattice_train: the flow of one ensemble by reverse KL, resumable, and its loss and ESS figure.
    outputs: model, history (CSV), figure (PNG); params: spec (theory, shape, couplings, flow), seed, device,
    ensemble, checkpoint (kept between reruns, not an output)."""
    from twins.lattice.figures import plot_training
    from twins.lattice.models import reverse_kl

    reverse_kl.train(
        params["ensemble"],
        params["spec"],
        int(params["seed"]),
        params["checkpoint"],
        outputs["model"],
        outputs["history"],
        device=params["device"],
        threads=threads,
    )
    plot_training(outputs["history"], outputs["figure"], params["ensemble"])


def generate(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule lattice_generate: the NF-MCMC ensemble from the trained flow, in the same HDF5 layout, and its
    acceptance, ESS and seconds. inputs: model; outputs: ensemble (HDF5), timing (JSON);
    params: spec (theory, shape, couplings, nfmcmc), seed, ensemble."""
    import torch

    from twins.lattice.models import reverse_kl
    from twins.lattice.nfmcmc import effective_sample_size, independence_metropolis

    spec, ensemble, settings = params["spec"], params["ensemble"], params["spec"]["nfmcmc"]
    torch.set_num_threads(max(1, int(threads)))
    trained = reverse_kl.load(inputs["model"])
    run_seed = derive_seed(int(params["seed"]), "lattice", "generate", ensemble)
    chain = independence_metropolis(
        trained.flow, trained.theory, int(settings["n_configs"]), int(settings["batch_size"]), run_seed
    )
    attrs = {**io.theory_attrs(spec), "algorithm": "nf-mcmc", "ensemble": ensemble, "seed": run_seed}
    io.write_ensemble(
        outputs["ensemble"],
        io.Ensemble(chain.configs, np.arange(len(chain.configs)), chain.accepted, attrs),
        make_provenance("lattice_generate", spec, seed=run_seed, inputs=[inputs["model"]], ensemble=ensemble),
    )
    write_json(
        outputs["timing"],
        {
            "ensemble": ensemble,
            "acceptance": chain.acceptance,
            "ess": effective_sample_size(torch.from_numpy(chain.log_weights)),
            "seconds_generation": chain.seconds,
            "seconds_training": trained.training_seconds,
        },
    )
    log.info("%s: NF-MCMC acceptance %.3f", ensemble, chain.acceptance)


def validate(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule lattice_validate: NF-MCMC against HMC and exact results (pulls, acceptance, ESS, tau_int, cost per
    independent configuration) and the m or Q histogram. inputs: hmc, nfmcmc (HDF5), observables (JSON of
    lattice_preprocess), simulate_timing, generate_timing (JSON); outputs: summary (JSON), histogram (PNG);
    params: spec (theory, shape, couplings), ensemble."""
    from twins.lattice.figures import plot_histogram

    spec, ensemble = params["spec"], params["ensemble"]
    hmc_obs = read_json(inputs["observables"])["observables"]
    nf, hmc = io.read_ensemble(inputs["nfmcmc"]), io.read_ensemble(inputs["hmc"])
    nf_obs = measure(spec["theory"], nf.configs)
    rows = metrics.compare_observables(spec["theory"], hmc_obs, nf_obs, metrics.exact_values(spec))
    hist_hmc = histogram_series(spec["theory"], hmc.configs)
    hist_nf = histogram_series(spec["theory"], nf.configs)
    summary = metrics.validation_summary(
        ensemble,
        spec,
        {"hmc": {"observables": hmc_obs, "n": len(hmc.configs)}, "nf": {"observables": nf_obs, "n": len(nf.configs)}},
        read_json(inputs["simulate_timing"]),
        read_json(inputs["generate_timing"]),
        hist_nf,
    )
    record = make_provenance(
        "lattice_validate", spec, inputs=[inputs["hmc"], inputs["nfmcmc"], inputs["observables"]], ensemble=ensemble
    )
    write_json(
        outputs["summary"], {"summary": summary, "observables": rows, "nf_observables": nf_obs, "provenance": record}
    )
    plot_histogram(hist_hmc, hist_nf, spec["theory"], ensemble, outputs["histogram"])


def report(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule lattice_report: the observables and cost tables of every ensemble (HTML page, cost CSV) and the
    acceptance against L. inputs: summaries (list of lattice_validate JSON, in the order of params run);
    outputs: table (HTML), cost (CSV), acceptance (PNG); params: run."""
    from twins.lattice.figures import plot_acceptance_vs_size
    from twins.lattice.report import write_report

    results = [read_json(path) for path in inputs["summaries"]]
    write_report(results, outputs["table"], outputs["cost"])
    plot_acceptance_vs_size([r["summary"] for r in results], outputs["acceptance"])
