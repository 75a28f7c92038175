"""tpc_validate: moments of simulated vs generated responses, their profiles against every condition with
a chi^2 per profile, and the speed ratio against the detailed simulator.

The statistical floor: the same profiles and chi^2 for a second, independent simulated sample (the
validation split) against the test split; a perfect generator scores about that.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from twins.core.io import read_json, write_json
from twins.core.plots import (
    GENERATED_COLOUR,
    RATIO_LIMITS,
    REFERENCE_COLOUR,
    hist_with_ratio,
    main_and_ratio_axes,
    new_figure,
    save_figure,
)
from twins.core.provenance import make_provenance
from twins.tpc.dataset import feature_columns, read_segments_h5
from twins.tpc.moments import (
    CONDITION_LABELS,
    CONDITIONS,
    FAST4_CONDITIONS,
    MOMENT_LABELS,
    MOMENTS,
    condition_edges,
    condition_values,
    profile,
    profile_chi2,
    response_moments,
)

log = logging.getLogger(__name__)

CENTRED_MOMENTS = ("pad_time_cov",)


def profile_table(ref_cond, ref_mom, gen_cond, gen_mom, n_bins: int) -> dict[str, dict[str, Any]]:
    """{condition: {moment: {"edges", "reference", "generated", "chi2", "ndf"}}}."""
    table: dict[str, dict[str, Any]] = {}
    for condition in CONDITIONS:
        edges = condition_edges(ref_cond[condition], n_bins)
        table[condition] = {}
        for moment in MOMENTS:
            ref = profile(ref_cond[condition], ref_mom[moment], edges)
            gen = profile(gen_cond[condition], gen_mom[moment], edges)
            chi2, ndf = profile_chi2(ref, gen)
            table[condition][moment] = {"edges": edges, "reference": ref, "generated": gen, "chi2": chi2, "ndf": ndf}
    return table


def chi2_summary(table: dict[str, dict[str, Any]], conditions: Sequence[str]) -> float:
    """chi^2 / ndf summed over every moment profile of the given conditions."""
    chi2 = sum(table[c][m]["chi2"] for c in conditions for m in MOMENTS)
    ndf = sum(table[c][m]["ndf"] for c in conditions for m in MOMENTS)
    return chi2 / max(ndf, 1)


def plot_profiles(table: dict[str, dict[str, Any]], out_png: str | Path, variant: str) -> None:
    """Rows: moments; columns: conditions. Points: mean per bin; bands/dashed lines: mean +- width; ratio
    panel: generated / simulated mean."""
    fig = new_figure(figsize=(3.0 * len(CONDITIONS), 2.9 * len(MOMENTS)))
    grid = fig.add_gridspec(len(MOMENTS), len(CONDITIONS), hspace=0.35, wspace=0.35)
    for col, condition in enumerate(CONDITIONS):
        for row, moment in enumerate(MOMENTS):
            entry = table[condition][moment]
            ax, ax_ratio = main_and_ratio_axes(fig, grid[row, col])
            edges = entry["edges"]
            centres = 0.5 * (edges[:-1] + edges[1:])
            ref, gen = entry["reference"], entry["generated"]
            ax.fill_between(
                centres,
                ref["mean"] - ref["width"],
                ref["mean"] + ref["width"],
                color=REFERENCE_COLOUR,
                alpha=0.25,
                linewidth=0,
            )
            ax.errorbar(
                centres, ref["mean"], ref["mean_err"], fmt="o", color=REFERENCE_COLOUR, markersize=3, label="simulated"
            )
            ax.errorbar(
                centres, gen["mean"], gen["mean_err"], fmt="s", color=GENERATED_COLOUR, markersize=3, label=variant
            )
            for sign in (-1, 1):
                ax.plot(centres, gen["mean"] + sign * gen["width"], "--", color=GENERATED_COLOUR, linewidth=0.8)
            ax.set_title(f"chi2/ndf = {entry['chi2']:.1f}/{entry['ndf']}", fontsize=8)
            if col == 0:
                ax.set_ylabel(MOMENT_LABELS[moment], fontsize=7)
            if row == 0 and col == 0:
                ax.legend(fontsize=7)
            lower_panel(ax_ratio, centres, ref, gen, difference=moment in CENTRED_MOMENTS)
            ax_ratio.set_xlabel(CONDITION_LABELS[condition], fontsize=7)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.04, top=0.98)
    save_figure(fig, out_png)


def lower_panel(ax, centres, ref, gen, difference: bool) -> None:
    """generated / simulated mean, or their difference for moments centred on 0 (a ratio means nothing there)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if difference:
            value, error, level, label = (
                gen["mean"] - ref["mean"],
                np.hypot(gen["mean_err"], ref["mean_err"]),
                0.0,
                "gen.-sim.",
            )
        else:
            value = gen["mean"] / ref["mean"]
            error = np.abs(value) * np.hypot(gen["mean_err"] / gen["mean"], ref["mean_err"] / ref["mean"])
            level, label = 1.0, "gen./sim."
    ax.axhline(level, color=REFERENCE_COLOUR, linewidth=1)
    ax.errorbar(centres, value, error, fmt="o", color=GENERATED_COLOUR, markersize=2)
    if not difference:
        ax.set_ylim(*RATIO_LIMITS)
    ax.set_ylabel(label, fontsize=7)


def plot_moment_distributions(ref_mom, gen_mom, n_bins: int, out_png: str | Path, variant: str) -> None:
    fig = new_figure(figsize=(12.0, 7.0))
    grid = fig.add_gridspec(2, 3, hspace=0.3, wspace=0.3)
    for k, moment in enumerate(MOMENTS):
        ax, ax_ratio = main_and_ratio_axes(fig, grid[k // 3, k % 3])
        ref, gen = ref_mom[moment], gen_mom[moment]
        hist_with_ratio(
            ax,
            ax_ratio,
            ref[np.isfinite(ref)],
            gen[np.isfinite(gen)],
            n_bins,
            ("simulated", variant),
            MOMENT_LABELS[moment],
        )
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.08, top=0.97, wspace=0.35)
    save_figure(fig, out_png)


def plot_examples(
    reference: np.ndarray,
    generated: np.ndarray,
    features: dict[str, np.ndarray],
    n: int,
    out_png: str | Path,
    variant: str,
) -> None:
    """The first n test segments: simulated (top) and generated (bottom) response, same colour scale."""
    n = min(n, len(reference))
    fig = new_figure(figsize=(2.4 * n, 4.2))
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        vmax = max(float(reference[i].max()), float(generated[i].max()), 1.0)
        for row, (image, label) in enumerate(((reference[i], "simulated"), (generated[i], variant))):
            ax = axes[row, i]
            ax.imshow(image, origin="lower", aspect="auto", vmin=0, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(f"{label}\npad", fontsize=8)
        axes[0, i].set_title(
            f"a={features['crossing_angle'][i]:.2f} d={features['dip_angle'][i]:.2f}\n"
            f"L={features['drift_length'][i]:.0f} cm row {int(features['pad_row'][i])}",
            fontsize=7,
        )
        axes[1, i].set_xlabel("time bucket", fontsize=8)
    fig.tight_layout()
    save_figure(fig, out_png)


def simulator_rate(timing_paths: Sequence[str | Path]) -> float:
    """Segments per second of the detailed simulation over all chunks (total segments / total time)."""
    records = [read_json(p) for p in timing_paths]
    return sum(r["segments"] for r in records) / sum(r["seconds"] for r in records)


def validate_variant(
    variant: str,
    reference_h5,
    independent_h5,
    generated_h5,
    simulate_timings,
    generate_timing,
    settings: dict[str, Any],
    outputs: dict[str, str | Path],
) -> dict[str, Any]:
    ref = read_segments_h5(reference_h5)
    ind = read_segments_h5(independent_h5)
    gen = read_segments_h5(generated_h5)
    if gen["response"].shape != ref["response"].shape or not np.array_equal(gen["features"], ref["features"]):
        raise ValueError(
            f"{generated_h5}: generated responses do not match the test segments of {reference_h5}; rerun tpc_generate"
        )
    ref_cond, ind_cond = condition_values(feature_columns(ref)), condition_values(feature_columns(ind))
    ref_mom, ind_mom, gen_mom = (response_moments(d["response"]) for d in (ref, ind, gen))
    n_bins = int(settings["n_bins"])
    table = profile_table(ref_cond, ref_mom, ref_cond, gen_mom, n_bins)
    floor = profile_table(ref_cond, ref_mom, ind_cond, ind_mom, n_bins)
    sim_rate = simulator_rate(simulate_timings)
    gen_rate = read_json(generate_timing)["segments_per_second"]
    metrics = {
        "variant": variant,
        "segments": len(ref["response"]),
        "summary": {
            "chi2_ndf_fast4_conditions": chi2_summary(table, FAST4_CONDITIONS),
            "chi2_ndf_all_conditions": chi2_summary(table, CONDITIONS),
            "chi2_ndf_fast4_conditions_floor": chi2_summary(floor, FAST4_CONDITIONS),
            "chi2_ndf_all_conditions_floor": chi2_summary(floor, CONDITIONS),
            "empty_fraction_simulated": float(np.mean(ref_mom["amplitude"] <= 0)),
            "empty_fraction_generated": float(np.mean(gen_mom["amplitude"] <= 0)),
            "simulator_segments_per_second": sim_rate,
            "generator_segments_per_second": gen_rate,
            "speed_ratio": gen_rate / sim_rate,
        },
        "provenance": make_provenance(
            "tpc_validate",
            settings,
            inputs=[reference_h5, independent_h5, generated_h5, generate_timing, *simulate_timings],
        ),
        "profiles": {
            c: {
                m: {
                    "chi2": table[c][m]["chi2"],
                    "ndf": table[c][m]["ndf"],
                    "chi2_floor": floor[c][m]["chi2"],
                    "ndf_floor": floor[c][m]["ndf"],
                }
                for m in MOMENTS
            }
            for c in CONDITIONS
        },
    }
    plot_profiles(table, outputs["profiles"], variant)
    plot_moment_distributions(ref_mom, gen_mom, n_bins * 4, outputs["moments"], variant)
    plot_examples(
        ref["response"],
        gen["response"],
        feature_columns(ref),
        int(settings["n_examples"]),
        outputs["examples"],
        variant,
    )
    write_json(outputs["metrics"], metrics)
    log.info(
        "%s: chi2/ndf %.3g (Fast4 conditions), %.3g (all); speed ratio %.3g",
        variant,
        metrics["summary"]["chi2_ndf_fast4_conditions"],
        metrics["summary"]["chi2_ndf_all_conditions"],
        metrics["summary"]["speed_ratio"],
    )
    return metrics
