"""Benchmark of the pulsar twin against issue #5's targets; writes benchmarks/pulsar_benchmark.json.

Reads the validation metrics of a finished run (default results/pulsar/validate/<model>/metrics.json),
re-measures the classifier throughput on 2 CPU threads, checks the dispersion sweep and the
channel flagging of the real Parkes file, and prints a table.
Usage: python tools/benchmark_pulsar.py [--workdir DIR] [--model dt] [--frames 4096]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from twins.core.io import write_json
from twins.pulsar.dispersion import dispersion_delay
from twins.pulsar.filterbank import read_filterbank
from twins.pulsar.flagging import flag_channels
from twins.pulsar.io import read_channel_mask
from twins.pulsar.metrics import precision_recall, throughput
from twins.pulsar.models.frame_classifier.network import load_classifier
from twins.pulsar.pulsar_dt import Pulsar, add_pulses, pulse_templates
from twins.pulsar.telescope import load_telescope

REPO = Path(__file__).resolve().parents[1]


def dispersion_check() -> float:
    """Largest |measured - predicted| arrival sample over the band for DM 5..60 (noiseless pulse)."""
    telescope = load_telescope(REPO / "resources/pulsar/effelsberg_lband.yaml")
    worst = 0.0
    for dm in (5.0, 20.0, 60.0):
        pulsar = Pulsar(1.0, dm, np.array([0.0]), np.array([5e-5]), np.array([1.0]), 0.0, 0.0, 50.0, 0.0)
        templates, shifts, pre = pulse_templates(pulsar, telescope)
        signal = np.zeros((int(2.0 / telescope.tsamp_s), telescope.nchans), dtype=np.float32)
        first = add_pulses(signal, np.random.default_rng(0), pulsar, templates, shifts, pre, telescope.tsamp_s)[0]
        window = signal[first["sample"] : first["sample"] + int(0.2 / telescope.tsamp_s)]
        freqs = telescope.frequencies_mhz
        expected = dispersion_delay(dm, freqs, freqs.max()) / telescope.tsamp_s
        worst = max(worst, float(np.abs(window.argmax(axis=0) - expected).max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=str(REPO))
    parser.add_argument("--model", default="dt")
    parser.add_argument("--frames", type=int, default=4096)
    args = parser.parse_args()
    workdir = Path(args.workdir)
    metrics = json.loads((workdir / f"results/pulsar/validate/{args.model}/metrics.json").read_text())
    model, record = load_classifier(workdir / f"results/pulsar/models/{args.model}/model.pt")
    speed = throughput(model, int(record["frames"]["size"]), args.frames, 256, 2, 0)
    geometry = record["frames"]
    frame_seconds = geometry["size"] * geometry["time_downsample"] * 6.4e-5
    per_second = max(256 // (geometry["size"] * geometry["freq_downsample"]), 1) / frame_seconds
    parkes = REPO.parent / "shared/data/pulsar/parkes_8bit_1.fil"
    started = time.perf_counter()
    flags, _ = flag_channels(read_filterbank(parkes).data)
    flagging = precision_recall(flags, read_channel_mask(parkes.with_name("parkes_8bit_1_mask.h5")))
    flag_seconds = time.perf_counter() - started
    home = metrics["datasets"][metrics["trained_on"]]
    demo_seconds = None
    start_end = [workdir / "start", workdir / "end"]
    if all(p.exists() for p in start_end):
        demo_seconds = int(start_end[1].read_text()) - int(start_end[0].read_text())
    rows = {
        "pulse accuracy, S/N >= 7 (target >= 0.99)": home["pulse_accuracy_snr_ge_7"],
        "  its 95% Wilson interval (test-set size)": home.get("pulse_accuracy_snr_ge_7_ci95"),
        "pulse false-positive rate (frames without a pulse label)": home.get("pulse_false_positive_rate"),
        "  of it on frames with no pulse signal": home.get("pulse_false_positive_rate_no_signal"),
        "  of it on frames with a pulse below the labelling S/N": home.get(
            "pulse_false_positive_rate_sub_threshold_pulse"
        ),
        "pulse accuracy, S/N >= 7, by frame type (rfi_free, nb_rfi, bb_rfi)": home.get(
            "pulse_accuracy_snr_ge_7_by_frame_type"
        ),
        "decision thresholds (pulse, nb_rfi, bb_rfi), chosen on validation": metrics.get("thresholds"),
        "other pulse thresholds: accuracy S/N >= 7 / false positives with no pulse signal": {
            p["threshold"]: f"{p['pulse_accuracy_snr_ge_7']:.4f} / {p['pulse_false_positive_rate_no_signal']:.4f}"
            for p in home.get("operating_points", [])
            if p["pulse_accuracy_snr_ge_7"] is not None and p["pulse_false_positive_rate_no_signal"] is not None
        },
        "S/N from which pulse recall stays >= 90%": home["snr_recall_drops_below_90"],
        "frames/s, normalise + classify, 2 threads": speed["frames_per_s"],
        "real-time factor, 256 ch x 64 us (target >= 100)": speed["frames_per_s"] / per_second,
        "real-time factor, classifier only": speed["classify_only_frames_per_s"] / per_second,
        "channel flagging F1 on Parkes (target >= 0.9)": flagging["f1"],
        "dispersion sweep max error, samples (target <= 1)": dispersion_check(),
        "demo wall time, s (target <= 600)": demo_seconds,
    }
    for name, d in metrics["datasets"].items():
        rows[f"cross-domain: {args.model} on {name}, exact match"] = d["exact_match"]
    for obs, o in metrics["observations"].items():
        rows[f"reduction factor on {obs}"] = o["reduction_factor"]
        rows[f"frames kept on {obs}"] = f"{o['frames_kept']} of {o['frames']}"
    out = {
        "rows": rows,
        "throughput": speed,
        "flagging": flagging,
        "flagging_seconds": flag_seconds,
        "geometry": geometry,
        "metrics_file": str(workdir / f"results/pulsar/validate/{args.model}/metrics.json"),
    }
    write_json(REPO / "benchmarks/pulsar_benchmark.json", out)
    width = max(len(k) for k in rows)
    for k, v in rows.items():
        print(f"{k:<{width}}  {v if not isinstance(v, float) else f'{v:.4g}'}")
    print(f"\npulse recall / accuracy vs injected S/N ({metrics['trained_on']} test split)")
    for r in home["accuracy_vs_snr"]:
        if r["frames"]:
            print(
                f"  S/N {r['snr_min']:>4}-{r['snr_max']:<4} frames {r['frames']:>4}  recall {r['recall']:.3f}  "
                f"accuracy {r['accuracy']:.3f}"
            )


if __name__ == "__main__":
    main()
