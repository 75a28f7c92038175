"""The simulate step: one dataset -> a SIGPROC filterbank file + its ground truth (HDF5).

Truth file: `labels` (n_frames, 3) uint8 [pulse, nb_rfi, bb_rfi], `snr` (n_frames,) injected frame
S/N, `pixel_mask` (nsamples, nchans) uint8 bits (1 pulse, 2 narrow-band, 4 broad-band RFI),
`frame_scan` (n_frames,) scan of each frame; PulsarDT adds `scans` (per-scan pulsar parameters) and
`pulses` (scan, arrival sample, injected whole-band S/N); attributes hold the frame geometry.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import h5py
import numpy as np

from twins.core.io import atomic_path, set_provenance, write_json
from twins.core.provenance import make_provenance
from twins.core.seeding import derive_seed
from twins.pulsar.filterbank import append_spectra, encode_header
from twins.pulsar.frames import FrameGeometry
from twins.pulsar.pulsar_dt import simulate_scan
from twins.pulsar.rfi_gen import generate_frames
from twins.pulsar.telescope import load_telescope
from twins.pulsar.truth import frame_truth

log = logging.getLogger(__name__)


def simulate_dataset(
    name: str,
    settings: dict,
    frames: dict,
    labelling: dict,
    seed: int,
    out_fil: str | Path,
    out_truth: str | Path,
    telescope_path: str | Path | None = None,
) -> dict:
    """Simulate dataset `name` with its generator (pulsar_dt or rfi_gen); return a summary."""
    geometry = FrameGeometry.from_config(frames)
    telescope = load_telescope(telescope_path or settings["telescope"])
    rng = np.random.default_rng(derive_seed(seed, "pulsar", "simulate", name))
    started = time.perf_counter()
    header = telescope.header(source_name=f"{settings['generator']}_{name}")
    with atomic_path(out_fil) as tmp_fil, atomic_path(out_truth) as tmp_truth:
        with open(tmp_fil, "wb") as fil, h5py.File(tmp_truth, "w") as truth:
            fil.write(encode_header(header))
            if settings["generator"] == "pulsar_dt":
                summary = _pulsar_dt(rng, settings, telescope, geometry, labelling, fil, truth)
            else:
                summary = _rfi_gen(rng, settings, telescope, geometry, fil, truth)
            truth.attrs.update(
                frame_size=geometry.size,
                time_downsample=geometry.time_downsample,
                freq_downsample=geometry.freq_downsample,
                generator=settings["generator"],
            )
            set_provenance(
                truth,
                make_provenance(
                    "pulsar_simulate",
                    {"dataset": settings, "frames": frames, "labelling": labelling},
                    seed,
                    dataset=name,
                ),
            )
    summary.update(seconds=time.perf_counter() - started, dataset=name, generator=settings["generator"])
    log.info("simulated %s: %s", name, summary)
    return summary


def _pixel_mask_dataset(truth: h5py.File, nchans: int) -> h5py.Dataset:
    return truth.create_dataset(
        "pixel_mask",
        shape=(0, nchans),
        maxshape=(None, nchans),
        dtype=np.uint8,
        chunks=(4096, nchans),
        compression="lzf",
    )


def _append(dataset: h5py.Dataset, block: np.ndarray) -> None:
    n = dataset.shape[0]
    dataset.resize(n + block.shape[0], axis=0)
    dataset[n:] = block


def _pulsar_dt(rng, settings, telescope, geometry, labelling, fil, truth) -> dict:
    tile = geometry.tile_samples
    scan_samples = int(settings["scan_seconds"] / telescope.tsamp_s) // tile * tile
    geometry.counts(scan_samples, telescope.nchans)  # an error now if a frame cannot fit
    gain = telescope.bandpass_gain(rng)
    pixel_mask = _pixel_mask_dataset(truth, telescope.nchans)
    labels, snrs, frame_scan, scans, pulses = [], [], [], [], []
    for scan_index in range(settings["scans"]):
        scan = simulate_scan(rng, settings, telescope, gain, scan_samples)
        append_spectra(fil, scan.counts, 8)
        _append(pixel_mask, scan.mask)
        scan_labels, scan_snr = frame_truth(
            scan.pulse_signal,
            scan.mask,
            scan.pulsar.dm,
            telescope.frequencies_mhz,
            telescope.tsamp_s,
            geometry,
            labelling,
        )
        labels.append(scan_labels)
        snrs.append(scan_snr)
        frame_scan.append(np.full(len(scan_labels), scan_index, dtype=np.int32))
        p = scan.pulsar
        scans.append(
            (
                p.period,
                p.dm,
                p.tau_1ghz,
                p.spectral_index,
                p.mean_snr,
                len(p.component_sigmas),
                float(p.component_sigmas.max()),
                scan.n_carriers,
                scan.n_impulses,
            )
        )
        pulses += [(scan_index, r["sample"] + scan_index * scan_samples, r["snr"]) for r in scan.pulses]
    labels = np.concatenate(labels)
    truth["labels"], truth["snr"], truth["frame_scan"] = labels, np.concatenate(snrs), np.concatenate(frame_scan)
    truth["scans"] = np.asarray(scans, dtype=np.float64)
    truth["scans"].attrs["columns"] = [
        "period_s",
        "dm",
        "tau_1ghz_s",
        "spectral_index",
        "mean_snr",
        "components",
        "max_component_sigma_s",
        "nb_carriers",
        "bb_impulses",
    ]
    truth["pulses"] = np.asarray(pulses, dtype=np.float64).reshape(-1, 3)
    truth["pulses"].attrs["columns"] = ["scan", "sample", "snr"]
    truth.attrs["scan_samples"] = scan_samples
    return {
        "frames": int(len(labels)),
        "class_counts": labels.sum(axis=0).tolist(),
        "pulses": len(pulses),
        "samples": int(scan_samples * settings["scans"]),
    }


def _rfi_gen(rng, settings, telescope, geometry, fil, truth) -> dict:
    freqs = telescope.frequencies_mhz[: geometry.tile_channels]
    header_nchans = telescope.nchans
    if header_nchans != geometry.tile_channels:
        raise ValueError(
            f"rfi_gen frames are {geometry.tile_channels} channels (frames.size x freq_downsample) but the "
            f"telescope has {header_nchans}; pick a preset or frame geometry that match"
        )
    counts, masks, labels, snrs, combos = generate_frames(
        rng, settings, geometry, freqs, telescope.tsamp_s, telescope.digitiser
    )
    append_spectra(fil, counts, 8)
    _append(_pixel_mask_dataset(truth, telescope.nchans), masks)
    truth["labels"], truth["snr"] = labels, snrs
    truth["frame_scan"] = np.zeros(len(labels), dtype=np.int32)
    truth["combination"] = combos.astype("S")
    return {"frames": int(len(labels)), "class_counts": labels.sum(axis=0).tolist(), "samples": int(counts.shape[0])}


def write_summary(path: str | Path, summary: dict) -> None:
    write_json(path, summary)
