"""Rules virgo_report (example spectrograms, accuracy vs threshold, channel ranking) and virgo_qscan
(the real GW150914 Q-scan)."""

from __future__ import annotations

import html
import logging

import numpy as np
import pandas as pd

from twins.core.io import atomic_path, open_hdf5, read_json, write_json
from twins.core.plots import new_figure, save_figure
from twins.virgo.qtransform import estimate_asd, log_frequencies, q_transform, whiten
from twins.virgo.timeseries import read_gwosc
from twins.virgo.validate import SEED_FIGURES

log = logging.getLogger(__name__)


def gw150914_qscan(path, event_gps: float, settings: dict, preprocess_settings: dict) -> dict:
    """Whiten the real strain (median-Welch ASD of the whole file) and Q-transform 2 s around the event.

    Returns the QGram and its loudest pixel (GPS time, frequency, E)."""
    strain = read_gwosc(path)
    w = preprocess_settings["whitening"]
    asd = estimate_asd(strain, settings["gwosc_fft_length_s"], w["overlap"], w["window"])
    segment = strain.crop(event_gps - 8, event_gps + 8)
    white = whiten(segment, asd, crop=w["crop_s"])
    q = preprocess_settings["qtransform"]
    freqs = log_frequencies(20.0, q["strain_band_hz"][1], 128)
    gram = q_transform(white, freqs, q["q"], n_times=512, window=(event_gps - 1, event_gps + 1))
    return {"gram": gram, "peak": gram.peak(), "asd_200hz": float(asd.at(np.array([200.0]))[0])}


def _image(ax, image, freqs, extent_t, title, vmax=None, cmap="viridis"):
    time_edges = np.linspace(*extent_t, image.shape[1] + 1)
    mesh = ax.pcolormesh(
        time_edges,
        np.geomspace(freqs[0], freqs[-1], image.shape[0] + 1),
        image,
        shading="flat",
        vmin=0,
        vmax=vmax,
        cmap=cmap,
        rasterized=True,
    )
    ax.set_yscale("log")
    ax.set_title(title)
    return mesh


def run_report(settings: dict, generated_h5, metrics_json, curves_csv, ranking_csv, out: dict) -> None:
    metrics = read_json(metrics_json)
    curves = pd.read_csv(curves_csv)
    ranking = pd.read_csv(ranking_csv)

    # examples: the loudest glitches of the test set (aux input, real, generated, residual)
    with open_hdf5(generated_h5, required=("real_energy", "generated_energy", "residual_energy", "inputs")) as f:
        real, gen, res = (f[k][...] for k in ("real_energy", "generated_energy", "residual_energy"))
        inputs = f["inputs"][...]
        labels = f["meta/label"][...].astype(str)
        snr = f["meta/snr"][...]
        s_freqs, a_freqs, offsets = (f.attrs[k] for k in ("strain_frequencies", "aux_frequencies", "time_offsets"))
        channels = str(f.attrs["channels"]).split(",")
    glitches = np.flatnonzero(labels == "glitch")
    backgrounds = np.flatnonzero(labels == "background")
    loudest = glitches[np.argsort(-np.nan_to_num(snr[glitches]))]
    chosen = list(loudest[: settings["n_examples"] - 1]) + list(backgrounds[:1])
    span = (offsets[0] - (offsets[1] - offsets[0]) / 2, offsets[-1] + (offsets[1] - offsets[0]) / 2)
    fig = new_figure((12, 2.6 * len(chosen)))
    axes = fig.subplots(len(chosen), 4, squeeze=False)
    for row, i in enumerate(chosen):
        vmax = float(np.percentile(real[i], 99.9))
        tag = f"S/N {snr[i]:.0f}" if labels[i] == "glitch" else "background"
        _image(axes[row, 0], inputs[i, 0] ** 2, a_freqs, span, f"aux {channels[0]} (E)", cmap="magma")
        _image(axes[row, 1], real[i], s_freqs, span, f"real strain E ({tag})", vmax)
        gen_mesh = _image(axes[row, 2], gen[i], s_freqs, span, "generated E (own scale)")
        fig.colorbar(gen_mesh, ax=axes[row, 2])
        mesh = _image(axes[row, 3], res[i], s_freqs, span, "de-noised residual E", vmax)
        fig.colorbar(mesh, ax=axes[row, 3])
        axes[row, 0].set_ylabel("frequency [Hz]")
    for ax in axes[-1]:
        ax.set_xlabel("time in segment [s]")
    fig.tight_layout()
    save_figure(fig, out["examples"])

    # accuracy vs threshold with the seeds' figures
    fig = new_figure((6, 4))
    ax = fig.add_subplot()
    ax.plot(curves["snr_threshold"], curves["veto_accuracy"], "o-", label="veto accuracy")
    ax.plot(curves["snr_threshold"], curves["denoising_accuracy"], "s-", label="de-noising accuracy")
    ax.plot(
        curves["snr_threshold"], curves["raw_clean_fraction"], ":", color="0.5", label="glitch-free before de-noising"
    )
    for rho, seeds in SEED_FIGURES.items():
        ax.plot([rho], [seeds["veto"]], "*", color="C0", markersize=12, markeredgecolor="k")
        ax.plot([rho], [seeds["denoise"]], "*", color="C1", markersize=12, markeredgecolor="k")
    ax.plot([], [], "*", color="0.6", markeredgecolor="k", label="seeds (interTwin)")
    ax.set_xlabel("threshold S/N = $\\sqrt{2E}$ (E: normalised tile energy)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right")
    save_figure(fig, out["accuracy"])

    # summary: accuracies at the seeds' thresholds, channel ranking, selection, latency
    rows = []
    for key, a in metrics["accuracy"].items():
        rows.append(
            f"<tr><td>{key.replace('snr_', 'S/N ')} (E = {a['energy_threshold']:g})</td>"
            f"<td>{a['veto_accuracy']:.3f} (seeds {a['seeds_veto']})</td>"
            f"<td>{a['denoising_accuracy']:.3f} (seeds {a['seeds_denoising']})</td>"
            f"<td>{a['raw_clean_fraction']:.3f}</td></tr>"
        )
    sel = metrics["channel_selection"]
    lat = metrics["latency"]
    text = (
        "<h3>Veto and de-noising accuracy (held-out simulated test set, "
        f"{metrics['n_test']} spectrograms, glitch = cluster of &ge; {metrics['min_cluster_pixels']} pixels)</h3>"
        "<table><tr><th>threshold</th><th>veto accuracy</th><th>de-noising accuracy</th>"
        "<th>glitch-free before de-noising</th></tr>" + "".join(rows) + "</table>"
        f"<h3>ANNALISA channel ranking</h3>{ranking.to_html(index=False, float_format=lambda v: f'{v:.3f}')}"
        f"<p>precision {sel['precision']:.2f}, recall {sel['recall']:.2f}, decoys selected "
        f"{sel['decoys_selected']}; target met: {sel['target_met']}</p>"
        f"<h3>Latency</h3><p>whitening + Q-transform (strain + {lat['channels']} channels) + inference: "
        f"{lat['real_time_factor']:.0f}&times; real time on {lat['threads']} thread(s) "
        f"({html.escape(str(lat['segments']))} "
        f"segments); target 100&times;</p>"
    )
    with atomic_path(out["summary"]) as tmp:
        tmp.write_text(f"<html><body>{text}</body></html>\n")


def run_qscan(settings: dict, preprocess_settings: dict, gwosc_h5, out: dict) -> None:
    """Rule virgo_qscan: the whitened constant-Q scan of the real GW150914 strain (figure + peak JSON)."""
    scan = gw150914_qscan(gwosc_h5, settings["gwosc_event_gps"], settings, preprocess_settings)
    gram = scan["gram"]
    t_peak, f_peak, e_peak = scan["peak"]
    fig = new_figure((6, 4))
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(
        gram.times - settings["gwosc_event_gps"],
        gram.frequencies,
        gram.energy,
        shading="nearest",
        vmin=0,
        vmax=max(25.0, e_peak),
        rasterized=True,
    )
    ax.set_yscale("log")
    ax.plot([t_peak - settings["gwosc_event_gps"]], [f_peak], "x", color="w")
    ax.set_xlabel(f"time from GPS {settings['gwosc_event_gps']} [s]")
    ax.set_ylabel("frequency [Hz]")
    ax.set_title(f"{gram.name}: GW150914, Q = {gram.q:g}")
    fig.colorbar(mesh, ax=ax, label="normalised energy E")
    save_figure(fig, out["qscan"])
    write_json(
        out["qscan_json"],
        {
            "peak_gps": t_peak,
            "peak_frequency_hz": f_peak,
            "peak_energy": e_peak,
            "peak_snr": float(np.sqrt(2 * e_peak)),
            "asd_200hz": scan["asd_200hz"],
        },
    )
