"""The calorimeter twin's validation figures: generated against simulated showers, in the house style.

Training-loss figures are drawn with twins.core.plots.plot_history where each model trains.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm

from twins.calo.features import check_grid, shower_features
from twins.calo.metrics import energy_bin_edges, energy_bin_masks, validation_settings
from twins.calo.showers import ShowerSample
from twins.core.metrics import shared_bins
from twins.core.plots import (
    GENERATED_COLOUR,
    REFERENCE_COLOUR,
    hist_with_ratio,
    main_and_ratio_axes,
    new_figure,
    save_figure,
    steps_with_ratio,
)

PLOT_NAMES = (
    "e_ratio",
    "longitudinal_profile",
    "radial_profile",
    "centre_of_energy",
    "shower_width",
    "n_hit",
    "cell_spectrum",
    "average_shower",
    "e_ratio_per_energy_bin",
)


def _layer_band(ax, depth: np.ndarray, ref: np.ndarray, gen: np.ndarray, active: np.ndarray, labels, ylabel: str):
    """Mean +- standard deviation over showers per layer: reference as a band, generated as points."""
    d = depth[active]
    mean_r, std_r = ref.mean(axis=0)[active], ref.std(axis=0)[active]
    mean_g, std_g = gen.mean(axis=0)[active], gen.std(axis=0)[active]
    ax.fill_between(d, mean_r - std_r, mean_r + std_r, step="mid", color=REFERENCE_COLOUR, alpha=0.3, linewidth=0)
    ax.step(d, mean_r, where="mid", color=REFERENCE_COLOUR, label=f"{labels[0]} (mean ± std)")
    ax.errorbar(d, mean_g, yerr=std_g, fmt="o", markersize=3, color=GENERATED_COLOUR, linewidth=1, label=labels[1])
    ax.set_ylabel(ylabel)
    ax.set_xlabel(r"depth [$X_0$]")
    ax.legend()


def _plot_per_layer(ref, gen, labels, stems: tuple[str, str], ylabel: str, path: Path) -> Path:
    fig = new_figure(figsize=(10.0, 4.0), layout="constrained")
    axes = fig.subplots(1, 2)
    active = (ref.layer_energy_gev.sum(axis=0) > 0) | (gen.layer_energy_gev.sum(axis=0) > 0)
    for ax, stem, axis in zip(axes, stems, "xy"):
        _layer_band(ax, ref.layer_depth_x0, getattr(ref, stem), getattr(gen, stem), active, labels, ylabel.format(axis))
    return save_figure(fig, path)


def _plot_hist(ref, gen, bins, labels, xlabel, path: Path, log: bool = False, log_y: bool = False) -> Path:
    fig = new_figure(figsize=(6.0, 5.0))
    ax_main, ax_ratio = main_and_ratio_axes(fig)
    hist_with_ratio(ax_main, ax_ratio, ref, gen, bins, labels, xlabel, log=log)
    if log_y:
        ax_main.set_yscale("log")
    return save_figure(fig, path)


def _plot_profile(edges, ref_energy, gen_energy, labels, xlabel, path: Path, log_y=False, moliere_mm=None) -> Path:
    """Mean energy fraction per bin (sample sums of (N, n_bins) energies), with standard errors."""
    fig = new_figure(figsize=(6.0, 5.0))
    ax_main, ax_ratio = main_and_ratio_axes(fig)
    values, errors = [], []
    for energy in (ref_energy, gen_energy):
        total = max(energy.sum(), np.finfo(float).tiny)
        values.append(energy.sum(axis=0) / total)
        errors.append(energy.std(axis=0) * np.sqrt(len(energy)) / total)
    steps_with_ratio(
        ax_main,
        ax_ratio,
        edges,
        values[0],
        values[1],
        labels,
        xlabel,
        "fraction of deposited energy",
        reference_err=errors[0],
        generated_err=errors[1],
    )
    if log_y:
        ax_main.set_yscale("log")
    if moliere_mm:
        top = ax_main.secondary_xaxis("top", functions=(lambda r: r / moliere_mm, lambda u: u * moliere_mm))
        top.set_xlabel(r"radius [$R_M$]")
    return save_figure(fig, path)


def _plot_average_shower(reference, generated, geometry, labels, path: Path) -> Path:
    """Mean shower of each sample projected on x-y, x-z and y-z (energy summed along the third axis)."""
    half_x = 0.5 * geometry.nx * geometry.cell_size_x_mm
    half_y = 0.5 * geometry.ny * geometry.cell_size_y_mm
    depth = geometry.nz * geometry.layer_thickness_mm
    means = [np.asarray(s.cells, dtype=np.float64).mean(axis=0) for s in (reference, generated)]
    projections = (  # (image with rows = vertical axis, extent, xlabel, ylabel)
        (lambda m: m.sum(axis=2).T, (-half_x, half_x, -half_y, half_y), "x [mm]", "y [mm]"),
        (lambda m: m.sum(axis=1).T, (-half_x, half_x, 0.0, depth), "x [mm]", "depth z [mm]"),
        (lambda m: m.sum(axis=0).T, (-half_y, half_y, 0.0, depth), "y [mm]", "depth z [mm]"),
    )
    fig = new_figure(figsize=(12.0, 7.5), layout="constrained")
    axes = fig.subplots(2, 3)
    for col, (project, extent, xlabel, ylabel) in enumerate(projections):
        images = [project(m) for m in means]
        vmax = max(float(img.max()) for img in images)
        vmax = vmax if vmax > 0 else 1.0
        norm = LogNorm(vmin=vmax * 1e-6, vmax=vmax)
        for row, (img, label) in enumerate(zip(images, labels)):
            ax = axes[row, col]
            shown = ax.imshow(
                np.where(img > 0, img, np.nan),
                origin="lower",
                extent=extent,
                aspect="auto",
                norm=norm,
                interpolation="nearest",
            )
            ax.set_title(label)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
        fig.colorbar(shown, ax=axes[:, col], label="mean energy [GeV]", location="bottom", shrink=0.8)
    return save_figure(fig, path)


def _plot_e_ratio_per_energy_bin(ref, gen, edges: np.ndarray, labels, path: Path) -> Path:
    """Mean and standard deviation of E_dep / E_inc per incident-energy bin: reference as boxes spanning
    the bin (height = mean +- std), generated as points with error bars at the bin's mean energy."""
    fig = new_figure(figsize=(6.0, 4.5))
    ax = fig.add_subplot()
    for k, (ref_mask, gen_mask) in enumerate(
        zip(energy_bin_masks(ref.incident_energy_gev, edges), energy_bin_masks(gen.incident_energy_gev, edges))
    ):
        lo, hi = edges[k], edges[k + 1]
        if ref_mask.any():
            mean, std = ref.e_ratio[ref_mask].mean(), ref.e_ratio[ref_mask].std()
            ax.fill_between([lo, hi], mean - std, mean + std, color=REFERENCE_COLOUR, alpha=0.3, linewidth=0)
            ax.plot(
                [lo, hi], [mean, mean], color=REFERENCE_COLOUR, label=f"{labels[0]} (mean ± std)" if k == 0 else None
            )
        if gen_mask.any():
            e_mean = gen.incident_energy_gev[gen_mask].mean()
            ax.errorbar(
                e_mean,
                gen.e_ratio[gen_mask].mean(),
                yerr=gen.e_ratio[gen_mask].std(),
                fmt="o",
                markersize=4,
                color=GENERATED_COLOUR,
                linewidth=1,
                label=labels[1] if k == 0 else None,
            )
    ax.set_xlabel("incident energy [GeV]")
    ax.set_ylabel(r"$E_\mathrm{dep} / E_\mathrm{inc}$")
    ax.legend()
    return save_figure(fig, path)


def plot_validation(
    reference: ShowerSample,
    generated: ShowerSample,
    geometry,
    out_dir: str | Path,
    labels: tuple[str, str] = ("Geant4-like simulation", "3DGAN"),
    *,
    settings: dict | None = None,
) -> dict[str, Path]:
    """Write the validation figures (PNG) into `out_dir`; return figure name -> path.

    Names (files are <name>.png): e_ratio, n_hit, cell_spectrum (histograms with a generated/reference
    ratio panel), longitudinal_profile, radial_profile, centre_of_energy and shower_width (per layer),
    average_shower (x-y, x-z, y-z projections of the mean shower, reference over generated),
    e_ratio_per_energy_bin (mean and spread of E_dep / E_inc in the incident-energy bins).
    settings: the calo.validate slice, as validate_showers takes it (n_bins, hit_threshold_gev and
    energy_bins_gev are used); keys left out take the schema's defaults.
    Identical inputs give byte-identical files.
    """
    resolved = validation_settings(settings)
    check_grid(reference, geometry, "reference")
    check_grid(generated, geometry, "generated")
    threshold, n_bins = float(resolved["hit_threshold_gev"]), int(resolved["n_bins"])
    ref = shower_features(reference, geometry, hit_threshold_gev=threshold)
    gen = shower_features(generated, geometry, hit_threshold_gev=threshold)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"{name}.png" for name in PLOT_NAMES}

    _plot_hist(ref.e_ratio, gen.e_ratio, n_bins, labels, r"$E_\mathrm{dep} / E_\mathrm{inc}$", paths["e_ratio"])
    hit_edges = shared_bins(ref.n_hit, gen.n_hit, n_bins)
    _plot_hist(ref.n_hit, gen.n_hit, hit_edges, labels, f"cells above {threshold * 1e6:g} keV", paths["n_hit"])
    cell_bins: int | np.ndarray = n_bins
    if not (ref.cell_energies_gev.size or gen.cell_energies_gev.size):  # no hit cell at all: an empty decade
        floor = threshold if threshold > 0 else 1e-6
        cell_bins = np.geomspace(floor, 10 * floor, n_bins + 1)
    _plot_hist(
        ref.cell_energies_gev,
        gen.cell_energies_gev,
        cell_bins,
        labels,
        "cell energy [GeV]",
        paths["cell_spectrum"],
        log=True,
        log_y=True,
    )
    layer_edges_x0 = np.arange(geometry.nz + 1) * geometry.layer_thickness_mm / geometry.material.radiation_length_mm
    _plot_profile(
        layer_edges_x0,
        ref.layer_energy_gev,
        gen.layer_energy_gev,
        labels,
        r"depth [$X_0$]",
        paths["longitudinal_profile"],
    )
    _plot_profile(
        ref.radial_edges_mm,
        ref.radial_energy_gev,
        gen.radial_energy_gev,
        labels,
        "radius from shower axis [mm]",
        paths["radial_profile"],
        log_y=True,
        moliere_mm=float(geometry.material.moliere_radius_mm),
    )
    _plot_per_layer(
        ref, gen, labels, ("centre_x_mm", "centre_y_mm"), "centre of energy {} [mm]", paths["centre_of_energy"]
    )
    _plot_per_layer(ref, gen, labels, ("width_x_mm", "width_y_mm"), "shower width in {} [mm]", paths["shower_width"])
    _plot_average_shower(reference, generated, geometry, labels, paths["average_shower"])
    edges = energy_bin_edges(ref.incident_energy_gev, resolved)
    _plot_e_ratio_per_energy_bin(ref, gen, edges, labels, paths["e_ratio_per_energy_bin"])
    return paths
