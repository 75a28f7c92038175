"""Digital twin of a detector with scattered-light glitches: strain, auxiliary channels, glitch catalogue.

Physics
- Strain noise: stationary Gaussian noise with the analytic Advanced-Virgo-like PSD (noise.load_psd_fit).
- Bench motion: x(t) = microseism (band-limited, 0.1-0.5 Hz) + transients
  A_i exp(-(t-t_i)^2 / 2 s_i^2) sin(2 pi f_i (t - t_i) + phi_i), f_i of order 1 Hz.
- Scattered light recombining with the main beam adds h_sc(t) = G(t) sin(4 pi (x0 + x(t)) / lambda),
  lambda = 1064 nm: the fringe frequency is 2|v(t)|/lambda, so the transients draw arches in the
  time-frequency plane. A_i is set by the arch's peak fringe frequency, A_i = f_fringe lambda / (4 pi f_i).
  G(t) = sum_i G_i exp(-(t-t_i)^2 / 2 (2 s_i)^2): the light reaching the scatterer varies slowly;
  G_i is scaled so the glitch has the drawn optimal (matched-filter) S/N in the strain noise.
- Auxiliary sensors (resources/virgo/channels.yaml) see the bench (coupled), the common microseism only,
  or an independent subsystem with its own transients (decoys), through their response plus white noise.
- The scattered-light power monitor (source "scatter", like the photodiodes of Virgo's instrumented
  baffles) records the power P_sc(t) of the stray light reaching the scatterer. The recombining field is
  proportional to the square root of that power, so P_sc(t) = P_ref (G(t) / G_ref)^2: this is the channel
  that carries how loud a glitch is, while the motion witnesses carry where its arches lie.
Time is cut into slots; half the slots (shuffled) hold a glitch near their centre, the others are quiet
stretches for the background class.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import yaml
from scipy import interpolate, signal

from twins.core.io import atomic_path, set_provenance
from twins.core.provenance import make_provenance
from twins.core.seeding import derive_seed
from twins.virgo.noise import band_limited_noise, coloured_noise, load_psd_fit
from twins.virgo.timeseries import TimeSeries, write_detector

log = logging.getLogger(__name__)

LASER_WAVELENGTH_M = 1064e-9
STRAIN_CHANNEL = "V1:Hrec_hoft_16384Hz"
KINDS = ("displacement", "velocity", "acceleration", "magnetic", "power")
SOURCES = ("bench", "scatter", "microseism", "other")


@dataclass
class ChannelSpec:
    """One auxiliary sensor: name, kind (see KINDS), unit, source (see SOURCES), white noise ASD, response.

    Coupled (ground truth) are the bench-motion witnesses and the scattered-light power monitor."""

    name: str
    kind: str
    unit: str
    source: str
    noise: float
    response: dict

    @property
    def coupled(self) -> bool:
        return self.source in ("bench", "scatter")


def load_channels(path: str | Path) -> list[ChannelSpec]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: channel list not found; use resources/virgo/channels.yaml")
    specs = []
    for i, entry in enumerate(yaml.safe_load(path.read_text())):
        try:
            spec = ChannelSpec(**entry)
        except TypeError as err:
            raise ValueError(
                f"{path}: channel #{i}: {err}; keys are name, kind, unit, source, noise, response"
            ) from None
        if spec.kind not in KINDS or spec.source not in SOURCES:
            raise ValueError(f"{path}: channel {spec.name}: kind must be one of {KINDS}, source one of {SOURCES}")
        if (spec.kind == "power") != (spec.source == "scatter"):
            raise ValueError(f"{path}: channel {spec.name}: kind power goes with source scatter (and only with it)")
        specs.append(spec)
    return specs


@dataclass
class Transients:
    """Gaussian-enveloped oscillations of a surface: times [s from start], amplitudes [m], frequencies [Hz],
    widths (envelope sigma) [s], phases [rad]; all (n,)."""

    times: np.ndarray
    amplitudes: np.ndarray
    frequencies: np.ndarray
    widths: np.ndarray
    phases: np.ndarray

    def add_to(self, t: np.ndarray, out: np.ndarray, derivative: int = 0) -> None:
        """Add the displacement (derivative 0), velocity (1) or acceleration (2) on the uniform grid t."""
        for t_i, a, f, s, p in zip(self.times, self.amplitudes, self.frequencies, self.widths, self.phases):
            i0, i1 = np.searchsorted(t, [t_i - 6 * s, t_i + 6 * s])
            if i1 <= i0:
                continue
            u = t[i0:i1] - t_i
            env = np.exp(-0.5 * (u / s) ** 2)
            denv = -u / s**2 * env
            w = 2 * np.pi * f
            osc, dosc = np.sin(w * u + p), w * np.cos(w * u + p)
            if derivative == 0:
                out[i0:i1] += a * env * osc
            elif derivative == 1:
                out[i0:i1] += a * (denv * osc + env * dosc)
            else:
                ddenv = (u**2 / s**4 - 1 / s**2) * env
                out[i0:i1] += a * (ddenv * osc + 2 * denv * dosc - w**2 * env * osc)


def draw_transients(rng: np.random.Generator, times: np.ndarray, settings: dict) -> Transients:
    """Transients at `times` whose arches peak at a fringe frequency drawn log-uniformly in settings."""
    n = len(times)
    freq = rng.uniform(*settings["motion_frequency_hz"], n)
    fringe = np.exp(rng.uniform(*np.log(settings["fringe_frequency_hz"]), n))
    widths = rng.uniform(*settings["width_s"], n)
    amplitudes = fringe * LASER_WAVELENGTH_M / (4 * np.pi * freq)
    return Transients(np.asarray(times, float), amplitudes, freq, widths, rng.uniform(0, 2 * np.pi, n))


class Microseism:
    """Band-limited ground motion drawn on a coarse grid and spline-interpolated (x, v, a at any time)."""

    def __init__(self, duration: float, settings: dict, rng: np.random.Generator, rate: float = 16.0) -> None:
        n = int(duration * rate) + 64
        coarse_t = (np.arange(n) - 32) / rate
        x = band_limited_noise(n, rate, *settings["band_hz"], settings["rms_m"], rng)
        self.spline = interpolate.CubicSpline(coarse_t, x)

    def __call__(self, t: np.ndarray, derivative: int = 0) -> np.ndarray:
        return self.spline(t, derivative)


def optimal_snr(h: np.ndarray, dt: float, psd: Callable[[np.ndarray], np.ndarray], f_low: float = 10.0) -> float:
    """Matched-filter S/N of h in noise of one-sided PSD psd: rho^2 = 4 sum |h~(f)|^2 / S(f) df (f >= f_low)."""
    spectrum = np.fft.rfft(h) * dt
    freqs = np.fft.rfftfreq(len(h), dt)
    keep = freqs >= f_low
    df = 1.0 / (len(h) * dt)
    return float(np.sqrt(4.0 * np.sum(np.abs(spectrum[keep]) ** 2 / psd(freqs[keep])) * df))


def sensor_output(
    spec: ChannelSpec, t: np.ndarray, motion: Callable[[np.ndarray, int], np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """What a sensor records: the observable of `motion` for its kind, through its response, plus white noise."""
    fs = 1.0 / (t[1] - t[0])
    derivative = {"displacement": 0, "velocity": 1, "acceleration": 2, "magnetic": 0, "power": 0}[spec.kind]
    data = motion(t, derivative)
    response = spec.response.get("type", "flat")
    if response == "geophone":
        w0, zeta = 2 * np.pi * spec.response["f0_hz"], spec.response["damping"]
        b, a = signal.bilinear([1.0, 0.0, 0.0], [1.0, 2 * zeta * w0, w0**2], fs)
        data = signal.lfilter(b, a, data)
    elif response == "lowpass":
        b, a = signal.butter(2, min(spec.response["fc_hz"], 0.45 * fs), fs=fs)
        data = signal.lfilter(b, a, data)
    elif response == "scatter_monitor":
        data = spec.response["power_w"] * (data / spec.response["coupling_ref"]) ** 2
    elif response != "flat":
        raise ValueError(
            f"channel {spec.name}: unknown response type {response!r}; use flat, geophone, lowpass or scatter_monitor"
        )
    return data + spec.noise * np.sqrt(fs / 2.0) * rng.standard_normal(len(t))


def _sine_gaussians(t: np.ndarray, times, freqs, qs, amplitudes) -> np.ndarray:
    out = np.zeros_like(t)
    for t_i, f, q, a in zip(times, freqs, qs, amplitudes):
        tau = q / (np.sqrt(2) * np.pi * f)
        i0, i1 = np.searchsorted(t, [t_i - 5 * tau, t_i + 5 * tau])
        u = t[i0:i1] - t_i
        out[i0:i1] += a * np.exp(-((u / tau) ** 2)) * np.sin(2 * np.pi * f * u)
    return out


def simulate_detector(settings: dict[str, Any], asd_file: str | Path, channels_file: str | Path, seed: int):
    """Simulate strain and auxiliary channels.

    Returns (strain TimeSeries, [aux TimeSeries], catalogue DataFrame with one row per slot:
    slot, label ('glitch'/'background'), gps, snr, fringe_frequency_hz, motion_frequency_hz,
    amplitude_m, coupling; and the list of truly coupled channel names).
    """
    rng = np.random.default_rng(seed)
    psd = load_psd_fit(asd_file)
    specs = load_channels(channels_file)
    fs, fs_aux = float(settings["sample_rate"]), float(settings["aux_sample_rate"])
    slot = float(settings["slot_duration_s"])
    n_slots = int(settings["duration_s"] // slot)
    if n_slots < 2:
        raise ValueError(f"virgo.simulate.duration_s {settings['duration_s']} holds fewer than 2 slots of {slot} s")
    duration = n_slots * slot
    gps0 = float(settings["gps_start"])

    labels = np.array(["glitch"] * (n_slots // 2) + ["background"] * (n_slots - n_slots // 2))
    rng.shuffle(labels)
    jitter = float(settings["time_jitter_s"])
    centres = (np.arange(n_slots) + 0.5) * slot + rng.uniform(-jitter, jitter, n_slots)
    is_glitch = labels == "glitch"
    glitch_settings = settings["glitch"]
    bench = draw_transients(rng, centres[is_glitch], glitch_settings)
    snr = np.exp(rng.uniform(*np.log(glitch_settings["snr"]), is_glitch.sum()))
    x0 = rng.uniform(0, LASER_WAVELENGTH_M / 2, is_glitch.sum())
    microseism = Microseism(duration, settings["microseism"], rng)

    # strain: noise + scattered light, glitch by glitch on a local window
    t = np.arange(int(round(duration * fs))) / fs
    log.info("simulating %d s of strain at %g Hz: %d glitches", duration, fs, is_glitch.sum())
    strain = coloured_noise(len(t), fs, psd, rng)
    couplings = np.empty(is_glitch.sum())
    for i in range(is_glitch.sum()):
        s = bench.widths[i]
        i0, i1 = np.searchsorted(t, [bench.times[i] - 8 * s - 0.5, bench.times[i] + 8 * s + 0.5])
        local_t = t[i0:i1]
        x = microseism(local_t)
        one = Transients(
            *(
                np.atleast_1d(v[i])
                for v in (bench.times, bench.amplitudes, bench.frequencies, bench.widths, bench.phases)
            )
        )
        one.add_to(local_t, x)
        gate = np.exp(-0.5 * ((local_t - bench.times[i]) / (2 * s)) ** 2)
        unit = gate * np.sin(4 * np.pi * (x0[i] + x) / LASER_WAVELENGTH_M)
        couplings[i] = snr[i] / optimal_snr(unit, 1 / fs, psd)
        strain[i0:i1] += couplings[i] * unit
    del t

    def coupling_envelope(tt, d=0, couplings=couplings):
        """G(t) = sum_i G_i exp(-(t - t_i)^2 / 2 (2 s_i)^2): the field the scatterer sends back."""
        out = np.zeros_like(tt)
        for t_i, s_i, g_i in zip(bench.times, bench.widths, couplings):
            j0, j1 = np.searchsorted(tt, [t_i - 16 * s_i, t_i + 16 * s_i])
            out[j0:j1] += g_i * np.exp(-0.5 * ((tt[j0:j1] - t_i) / (2 * s_i)) ** 2)
        return out

    # auxiliary sensors
    t_aux = np.arange(int(round(duration * fs_aux))) / fs_aux
    other_settings = settings["decoys"]
    aux = []
    for spec in specs:
        channel_rng = np.random.default_rng(rng.integers(2**63))
        if spec.source == "bench":

            def motion(tt, d):
                out = microseism(tt, d)
                bench.add_to(tt, out, d)
                return out
        elif spec.source == "scatter":
            motion = coupling_envelope  # sensor_output turns the field into the monitored power
        elif spec.source == "microseism":

            def motion(tt, d):
                return microseism(tt, d)
        elif spec.kind == "magnetic":
            n_bursts = channel_rng.poisson(other_settings["rate_per_slot"] * n_slots)
            bursts = (
                np.sort(channel_rng.uniform(0, duration, n_bursts)),
                channel_rng.uniform(10, 120, n_bursts),
                channel_rng.uniform(4, 12, n_bursts),
            )
            size = other_settings["magnetic_burst_t"] * np.exp(channel_rng.uniform(0, np.log(10), n_bursts))

            def motion(tt, d, bursts=bursts, size=size):
                return _sine_gaussians(tt, *bursts, size) + 1e-11 * np.sin(2 * np.pi * 50.0 * tt)
        else:
            own_micro = Microseism(duration, settings["microseism"], channel_rng)
            n_own = channel_rng.poisson(other_settings["rate_per_slot"] * n_slots)
            own = draw_transients(channel_rng, np.sort(channel_rng.uniform(0, duration, n_own)), glitch_settings)

            def motion(tt, d, own=own, own_micro=own_micro):
                out = own_micro(tt, d)
                own.add_to(tt, out, d)
                return out

        data = sensor_output(spec, t_aux, motion, channel_rng)
        aux.append(TimeSeries(data, gps0, 1 / fs_aux, spec.name, spec.unit, {"kind": spec.kind, "source": spec.source}))

    catalogue = pd.DataFrame(
        {
            "slot": np.arange(n_slots),
            "label": labels,
            "gps": gps0 + centres,
            "snr": np.nan,
            "fringe_frequency_hz": np.nan,
            "motion_frequency_hz": np.nan,
            "amplitude_m": np.nan,
            "coupling": np.nan,
        }
    )
    catalogue.loc[is_glitch, "snr"] = snr
    peak_fringe = 4 * np.pi * bench.frequencies * bench.amplitudes / LASER_WAVELENGTH_M  # 2 v_max / lambda
    catalogue.loc[is_glitch, "fringe_frequency_hz"] = peak_fringe
    catalogue.loc[is_glitch, "motion_frequency_hz"] = bench.frequencies
    catalogue.loc[is_glitch, "amplitude_m"] = bench.amplitudes
    catalogue.loc[is_glitch, "coupling"] = couplings
    strain_series = TimeSeries(strain, gps0, 1 / fs, STRAIN_CHANNEL, "strain")
    return strain_series, aux, catalogue, [s.name for s in specs if s.coupled]


def write_catalogue(group, catalogue: pd.DataFrame, coupled: list[str]) -> None:
    """Store the catalogue's columns as datasets of `group`, the coupled channel names as an attribute."""
    for column in catalogue.columns:
        values = catalogue[column].to_numpy()
        group.create_dataset(column, data=values.astype("S") if values.dtype == object else values)
    group.attrs["coupled_channels"] = json.dumps(coupled)


def read_catalogue(group) -> tuple[pd.DataFrame, list[str]]:
    columns = {k: group[k][...] for k in group}
    frame = pd.DataFrame({k: (v.astype(str) if v.dtype.kind == "S" else v) for k, v in columns.items()})
    return frame.sort_values("slot").reset_index(drop=True), json.loads(group.attrs["coupled_channels"])


def run_simulate(settings: dict, asd_file, channels_file, seed: int, out_h5, out_catalogue) -> None:
    """Rule virgo_simulate: simulate and write the detector file (GWOSC-like) and the catalogue CSV."""
    sim_seed = derive_seed(seed, "virgo", "simulate")
    strain, aux, catalogue, coupled = simulate_detector(settings, asd_file, channels_file, sim_seed)
    record = make_provenance(
        "virgo_simulate", settings, seed=sim_seed, inputs=[asd_file, channels_file], master_seed=seed
    )
    with atomic_path(out_h5) as tmp:
        write_detector(tmp, strain, aux)
        with h5py.File(tmp, "a") as f:
            write_catalogue(f.create_group("catalogue"), catalogue, coupled)
            set_provenance(f, record)
    with atomic_path(out_catalogue) as tmp:
        catalogue.to_csv(tmp, index=False)
    log.info(
        "wrote %s: %d glitches, %d background slots; coupled: %s",
        out_h5,
        (catalogue.label == "glitch").sum(),
        (catalogue.label == "background").sum(),
        coupled,
    )
