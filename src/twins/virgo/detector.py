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

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import interpolate, signal

from twins.core.config import resolve
from twins.virgo.io import TimeSeries
from twins.virgo.noise import band_limited_noise, coloured_noise, load_psd_fit
from twins.virgo.scattering import LASER_WAVELENGTH_M

log = logging.getLogger(__name__)

STRAIN_CHANNEL = "V1:Hrec_hoft_16384Hz"
KINDS = ("displacement", "velocity", "acceleration", "magnetic", "power")
SOURCES = ("bench", "scatter", "microseism", "other")
Motion = Callable[[np.ndarray, int], np.ndarray]  # (times [s], derivative 0/1/2) -> what a sensor observes


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

    def one(self, i: int) -> Transients:
        """The i-th transient alone."""
        return Transients(
            *(np.atleast_1d(v[i]) for v in (self.times, self.amplitudes, self.frequencies, self.widths, self.phases))
        )


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


def sensor_output(spec: ChannelSpec, t: np.ndarray, motion: Motion, rng: np.random.Generator) -> np.ndarray:
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


@dataclass
class Glitches:
    """The slots and the glitches drawn into them: labels (n_slots,) 'glitch'/'background', slot centres
    [s from start] (n_slots,), the bench transients, optimal S/N and scatterer offsets x0 [m] of the glitches."""

    labels: np.ndarray
    centres: np.ndarray
    bench: Transients
    snr: np.ndarray
    x0: np.ndarray

    @property
    def is_glitch(self) -> np.ndarray:
        return self.labels == "glitch"


def draw_glitches(rng: np.random.Generator, n_slots: int, settings: dict) -> Glitches:
    """Half the slots (shuffled) hold a glitch, at a jittered slot centre."""
    slot = float(settings["slot_duration_s"])
    labels = np.array(["glitch"] * (n_slots // 2) + ["background"] * (n_slots - n_slots // 2))
    rng.shuffle(labels)
    jitter = float(settings["time_jitter_s"])
    centres = (np.arange(n_slots) + 0.5) * slot + rng.uniform(-jitter, jitter, n_slots)
    n_glitches = int((labels == "glitch").sum())
    bench = draw_transients(rng, centres[labels == "glitch"], settings["glitch"])
    snr = np.exp(rng.uniform(*np.log(settings["glitch"]["snr"]), n_glitches))
    x0 = rng.uniform(0, LASER_WAVELENGTH_M / 2, n_glitches)
    return Glitches(labels, centres, bench, snr, x0)


def glitch_strain(
    strain: np.ndarray, fs: float, glitches: Glitches, microseism: Microseism, psd: Callable
) -> np.ndarray:
    """Add the scattered light of every glitch to `strain` (in place, on a local window per glitch); return
    the couplings G_i that give each glitch its drawn optimal S/N."""
    t = np.arange(len(strain)) / fs
    bench = glitches.bench
    couplings = np.empty(len(bench.times))
    for i in range(len(bench.times)):
        s = bench.widths[i]
        i0, i1 = np.searchsorted(t, [bench.times[i] - 8 * s - 0.5, bench.times[i] + 8 * s + 0.5])
        local_t = t[i0:i1]
        x = microseism(local_t)
        bench.one(i).add_to(local_t, x)
        gate = np.exp(-0.5 * ((local_t - bench.times[i]) / (2 * s)) ** 2)
        unit = gate * np.sin(4 * np.pi * (glitches.x0[i] + x) / LASER_WAVELENGTH_M)
        couplings[i] = glitches.snr[i] / optimal_snr(unit, 1 / fs, psd)
        strain[i0:i1] += couplings[i] * unit
    return couplings


@dataclass
class ScatteredField:
    """G(t) = sum_i G_i exp(-(t - t_i)^2 / 2 (2 s_i)^2): the field the scatterer sends back (a Motion whose
    derivative argument is ignored: the power monitor sees the field itself)."""

    bench: Transients
    couplings: np.ndarray

    def __call__(self, tt: np.ndarray, derivative: int = 0) -> np.ndarray:
        out = np.zeros_like(tt)
        for t_i, s_i, g_i in zip(self.bench.times, self.bench.widths, self.couplings):
            j0, j1 = np.searchsorted(tt, [t_i - 16 * s_i, t_i + 16 * s_i])
            out[j0:j1] += g_i * np.exp(-0.5 * ((tt[j0:j1] - t_i) / (2 * s_i)) ** 2)
        return out


@dataclass
class Scene:
    """What the sensors can see: the bench transients, the common microseism, the scattered field, and
    what a decoy needs to draw its own (duration [s], slot count, settings)."""

    bench: Transients
    microseism: Microseism
    field: ScatteredField
    duration: float
    n_slots: int
    settings: dict


def sensor_motion(spec: ChannelSpec, scene: Scene, rng: np.random.Generator) -> Motion:
    """The motion a sensor observes; a decoy of source 'other' draws its own from `rng` (the sensor's stream)."""
    if spec.source == "bench":

        def bench_motion(tt, d):
            out = scene.microseism(tt, d)
            scene.bench.add_to(tt, out, d)
            return out

        return bench_motion
    if spec.source == "scatter":
        return scene.field  # sensor_output turns the field into the monitored power
    if spec.source == "microseism":
        return lambda tt, d: scene.microseism(tt, d)
    decoys = scene.settings["decoys"]
    if spec.kind == "magnetic":
        n_bursts = rng.poisson(decoys["rate_per_slot"] * scene.n_slots)
        bursts = (
            np.sort(rng.uniform(0, scene.duration, n_bursts)),
            rng.uniform(10, 120, n_bursts),
            rng.uniform(4, 12, n_bursts),
        )
        size = decoys["magnetic_burst_t"] * np.exp(rng.uniform(0, np.log(10), n_bursts))
        return lambda tt, d: _sine_gaussians(tt, *bursts, size) + 1e-11 * np.sin(2 * np.pi * 50.0 * tt)
    own_micro = Microseism(scene.duration, scene.settings["microseism"], rng)
    n_own = rng.poisson(decoys["rate_per_slot"] * scene.n_slots)
    own = draw_transients(rng, np.sort(rng.uniform(0, scene.duration, n_own)), scene.settings["glitch"])

    def decoy_motion(tt, d):
        out = own_micro(tt, d)
        own.add_to(tt, out, d)
        return out

    return decoy_motion


def glitch_catalogue(glitches: Glitches, couplings: np.ndarray, gps0: float) -> pd.DataFrame:
    """One row per slot: slot, label, gps, and for glitches snr, fringe_frequency_hz (2 v_max / lambda),
    motion_frequency_hz, amplitude_m, coupling (NaN for background slots)."""
    bench, is_glitch = glitches.bench, glitches.is_glitch
    catalogue = pd.DataFrame(
        {
            "slot": np.arange(len(glitches.labels)),
            "label": glitches.labels,
            "gps": gps0 + glitches.centres,
            "snr": np.nan,
            "fringe_frequency_hz": np.nan,
            "motion_frequency_hz": np.nan,
            "amplitude_m": np.nan,
            "coupling": np.nan,
        }
    )
    catalogue.loc[is_glitch, "snr"] = glitches.snr
    catalogue.loc[is_glitch, "fringe_frequency_hz"] = (
        4 * np.pi * bench.frequencies * bench.amplitudes / LASER_WAVELENGTH_M
    )
    catalogue.loc[is_glitch, "motion_frequency_hz"] = bench.frequencies
    catalogue.loc[is_glitch, "amplitude_m"] = bench.amplitudes
    catalogue.loc[is_glitch, "coupling"] = couplings
    return catalogue


def simulate_detector(settings: dict[str, Any], asd_file: str | Path, channels_file: str | Path, seed: int):
    """Simulate strain and auxiliary channels (settings: config virgo.simulate, schema defaults filled in).

    Returns (strain TimeSeries, [aux TimeSeries], catalogue DataFrame with one row per slot (glitch_catalogue),
    and the list of truly coupled channel names).
    """
    settings = resolve("virgo.simulate", settings)
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

    glitches = draw_glitches(rng, n_slots, settings)
    microseism = Microseism(duration, settings["microseism"], rng)
    log.info("simulating %d s of strain at %g Hz: %d glitches", duration, fs, glitches.is_glitch.sum())
    strain = coloured_noise(int(round(duration * fs)), fs, psd, rng)
    couplings = glitch_strain(strain, fs, glitches, microseism, psd)

    scene = Scene(glitches.bench, microseism, ScatteredField(glitches.bench, couplings), duration, n_slots, settings)
    t_aux = np.arange(int(round(duration * fs_aux))) / fs_aux
    aux = []
    for spec in specs:
        channel_rng = np.random.default_rng(rng.integers(2**63))
        data = sensor_output(spec, t_aux, sensor_motion(spec, scene, channel_rng), channel_rng)
        aux.append(TimeSeries(data, gps0, 1 / fs_aux, spec.name, spec.unit, {"kind": spec.kind, "source": spec.source}))

    catalogue = glitch_catalogue(glitches, couplings, gps0)
    strain_series = TimeSeries(strain, gps0, 1 / fs, STRAIN_CHANNEL, "strain")
    return strain_series, aux, catalogue, [s.name for s in specs if s.coupled]
