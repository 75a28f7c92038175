"""The classifier's fixed (not learned) dedispersion branch and the single-pulse search statistic on its
DM-time plane.

A pulse search first dedisperses: an incoherent dedispersion of the frame over trial dispersion sweeps
(cold-plasma f^-2 law) gives a DM-time plane in noise units, where a faint dispersed track of S/N 7 becomes
one bright spot that a small CNN finds; `boxcar_snr` is what a single-pulse search thresholds on that plane.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from twins.pulsar import snr


class Dedispersion(nn.Module):
    """Incoherent dedispersion of (batch, time, freq) frames over `trials` dispersion sweeps, from 0 to
    `max_sweep_fraction` of the frame's length.

    The frame is first averaged over `time_average` x `freq_average` pixels (subbands: cheap, and the
    sweep within a subband stays small); channel c of a trial with sweep s (time between the
    top and the bottom of the band) is shifted earlier by s * (f_c^-2 - f_top^-2) / (f_bot^-2 - f_top^-2)
    relative to mid-band, where f_bot / f_top = `bottom_to_top_frequency`. The shifts are fractional
    (a phase ramp in the Fourier domain; the time axis is zero-padded to twice its length, so nothing
    wraps). With `zero_dm` the subbands are first zero-DM filtered and their mean level removed,
    the standard RFI excision before a search. Output (batch, trials, time / time_average): channel
    sums scaled to unit noise for unit pixel noise, each trial's mean over time removed (a steady
    narrow-band carrier adds the same offset to every time of a trial).

    With `excise_channels` (> 0) each frame's narrow-band RFI subbands are zeroed first, as a search
    pipeline excises RFI channels: a subband whose mean or variance over the frame's time (after the
    zero-DM filter) lies more than `excise_channels` robust standard deviations (MAD) from the median
    over the frame's subbands. An intermittent carrier (a step within the frame) survives the subband
    mean removal and dedisperses into long streaks a small CNN can take for a pulse; a pulse, spread
    over all subbands, rarely moves one subband that far. Only this branch is excised: the image
    branch must still see the carrier to label nb_rfi.

    With `partial_tracks` the plane covers every mid-band arrival time at which some subband of the
    trial's track lies in the frame: (batch, trials, 2 * time / time_average), times from -1/4 to 7/4
    of the frame. A pulse whose top-band arrival precedes the frame (or whose bottom-band arrival
    follows it) is then one spot too, as the truth S/N counts the part of the track the frame holds;
    without it such tracks fall outside the plane. Each sample is scaled to unit noise by its coverage
    (the fraction of subbands whose shifted sample lies in the frame); samples covered by fewer than
    `min_coverage` of the subbands are zeroed (too few channels: noise, not a track).

    With `impulse_clip` (> 0) time samples whose band mean (over the kept subbands, in noise units)
    exceeds `impulse_clip` sigma are zeroed in every subband: time-sample clipping, the other standard
    excision of broad-band impulses. Unlike the zero-DM filter it leaves a dispersed pulse whole: on
    PulsarDT test frames zero-DM keeps a median 0.51 of a DM 3-6 pulse's S/N and 0.71 at DM 6-10,
    clipping at 6 sigma 0.82 and 0.89. Use it with zero_dm off (each subband's mean is still removed).
    With `clip_groups` (> 1) the same test also runs on each of that many contiguous groups of subbands,
    zeroing only the group's samples: an impulse confined to part of the band is diluted in the whole-band
    mean and escapes the whole-band clip, while an undispersed pulse's S/N per group is only
    1/sqrt(groups) of its total, so the group clip removes no pulse that the whole-band clip keeps.
    """

    def __init__(
        self,
        size: int,
        trials: int = 32,
        max_sweep_fraction: float = 1.0,
        bottom_to_top_frequency: float = 0.8,
        time_average: int = 2,
        freq_average: int = 4,
        zero_dm: bool = True,
        excise_channels: float = 0.0,
        partial_tracks: bool = False,
        min_coverage: float = 0.5,
        impulse_clip: float = 0.0,
        clip_groups: int = 1,
    ):
        super().__init__()
        self.impulse_clip = impulse_clip
        if clip_groups < 1 or (size // freq_average) % clip_groups:
            raise ValueError(
                f"dedispersion.clip_groups {clip_groups} must be >= 1 and divide the "
                f"{size // freq_average} subbands (frame size / freq_average)"
            )
        self.clip_groups = clip_groups
        if partial_tracks and not (max_sweep_fraction <= 1 and 0 < min_coverage <= 1):
            raise ValueError(
                f"dedispersion.partial_tracks needs max_sweep_fraction <= 1 (not {max_sweep_fraction}) and "
                f"min_coverage in (0, 1] (not {min_coverage}): a longer sweep would wrap around the plane"
            )
        self.partial_tracks = partial_tracks
        self.zero_dm = zero_dm
        self.excise_channels = excise_channels
        if size % time_average or size % freq_average:
            raise ValueError(
                f"dedispersion: time_average {time_average} and freq_average {freq_average} must divide "
                f"the frame size {size}"
            )
        if not 0 < bottom_to_top_frequency < 1:
            raise ValueError(f"dedispersion.bottom_to_top_frequency must lie in (0, 1), not {bottom_to_top_frequency}")
        self.time_average, self.freq_average = time_average, freq_average
        n_t, n_f = size // time_average, size // freq_average
        self.n_t, self.n_fft = n_t, 2 * n_t
        # subband centres on a frequency axis running from the top (1) down to bottom_to_top_frequency
        f = 1 - (1 - bottom_to_top_frequency) * (np.arange(n_f) + 0.5) / n_f
        shape = (f**-2 - 1) / (bottom_to_top_frequency**-2 - 1)
        sweeps = np.linspace(0, max_sweep_fraction * n_t, trials)  # in averaged samples
        delay = sweeps[:, None] * (shape[None, :] - 0.5)  # (trials, subbands), samples, relative to mid-band
        phase = 2 * np.pi * np.arange(n_t + 1)[:, None, None] * delay.T[None] / self.n_fft  # (bins, subbands, trials)
        # unit noise out: a subband mean of time_average*freq_average unit pixels, summed over n_f subbands
        scale = np.sqrt(time_average * freq_average / n_f)
        cos, sin = np.cos(phase) * scale, np.sin(phase) * scale
        # the complex product as one real matrix: [Re X, Im X] @ [[cos, sin], [-sin, cos]]
        weight = np.concatenate([np.concatenate([cos, sin], 2), np.concatenate([-sin, cos], 2)], 1)
        self.register_buffer("weight", torch.as_tensor(weight, dtype=torch.float32), persistent=False)
        self.trials = trials
        if partial_tracks:
            # mid-band time tau of output column k: k - n_t/2; subband c's sample is tau + delay[c]
            tau = np.arange(self.n_fft) - n_t // 2
            inside = (tau[None, :, None] + delay[:, None, :] >= 0) & (tau[None, :, None] + delay[:, None, :] < n_t)
            coverage = inside.mean(axis=2)  # (trials, 2 n_t)
            gain = np.where(coverage >= min_coverage, 1 / np.sqrt(np.maximum(coverage, 1e-9)), 0.0)
            self.register_buffer("coverage_gain", torch.as_tensor(gain, dtype=torch.float32), persistent=False)

    @property
    def plane_length(self) -> int:
        return self.n_fft if self.partial_tracks else self.n_t

    def clip_impulses(self, x: torch.Tensor, keep: torch.Tensor | None, groups: int) -> torch.Tensor:
        """Frames x (b, time, subbands) with the samples of each of `groups` contiguous subband groups zeroed
        where the group's mean (over its kept subbands) lies beyond `impulse_clip` sigma."""
        b, t, s = x.shape
        grouped = x.reshape(b, t, groups, s // groups)
        kept = (
            grouped.new_full((1, 1, groups), s // groups)
            if keep is None
            else keep.reshape(b, 1, groups, -1).sum(3).clamp_min(1)
        )
        # group mean in noise units: a subband sample averages time_average * freq_average unit-noise pixels,
        # so the mean of n subbands has sigma 1 / sqrt(time_average * freq_average * n)
        z = grouped.sum(dim=3) * torch.rsqrt(kept / (self.time_average * self.freq_average))  # (b, t, groups)
        return (grouped * (z.abs() <= self.impulse_clip)[..., None]).reshape(b, t, s)

    def excise(self, x: torch.Tensor) -> torch.Tensor:
        """Keep mask (b, subbands) of subband-averaged frames x (b, time, subbands): False for RFI subbands."""
        # statistics of the zero-DM filtered frame: a broad-band impulse then moves no subband's variance
        y = x - x.mean(dim=2, keepdim=True) if self.zero_dm or self.impulse_clip > 0 else x
        mean = y.mean(dim=1)
        var = (y * y).mean(dim=1) - mean**2  # not torch.var: its reduction over time is several times slower
        keep = torch.ones_like(mean, dtype=torch.bool)
        for stat in (mean, var):  # (b, subbands) each
            # robust z across the frame's subbands: the bandpass residuals of the smoothed normalisation
            # spread the subband statistics more than radiometer noise alone would
            centre = stat.median(dim=1, keepdim=True).values
            spread = (stat - centre).abs().median(dim=1, keepdim=True).values * 1.4826
            keep &= (stat - centre).abs() <= self.excise_channels * spread.clamp_min(1e-6)
        return keep

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(frames[:, None], (self.time_average, self.freq_average))[:, 0]  # (b, time, subbands)
        keep = self.excise(x).to(x.dtype)[:, None, :] if self.excise_channels > 0 else None
        if keep is not None:
            x = x * keep
        if self.zero_dm:
            # zero-DM filter (Eatough et al. 2009): an undispersed broad-band impulse is the same in every
            # subband at one time, so removing the band mean per time removes it, while a dispersed pulse
            # is in few subbands at any one time and keeps most of its signal
            band = (
                x.mean(dim=2, keepdim=True)
                if keep is None
                else x.sum(dim=2, keepdim=True) / keep.sum(2, keepdim=True).clamp_min(1)
            )
            x = x - band
            # each subband's own mean level: a steady carrier, which the smoothed normalisation keeps bright
            # (the mean, not the median: a median costs more than the whole dedispersion)
            x = x - x.mean(dim=1, keepdim=True)
            if keep is not None:
                x = x * keep  # excised subbands stay at zero
        elif self.partial_tracks or self.impulse_clip > 0:
            x = x - x.mean(dim=1, keepdim=True)  # each subband's mean level (a steady carrier)
            x = x if keep is None else x * keep
        if self.impulse_clip > 0:
            x = self.clip_impulses(x, keep, groups=1)
            if self.clip_groups > 1:
                x = self.clip_impulses(x, keep, groups=self.clip_groups)
        spectrum = torch.fft.rfft(x, n=self.n_fft, dim=1)  # (b, bins, subbands)
        stacked = torch.cat([spectrum.real, spectrum.imag], dim=2).transpose(0, 1)  # (bins, b, 2 subbands)
        out = torch.bmm(stacked, self.weight)  # (bins, b, 2 trials)
        out = torch.complex(out[..., : self.trials], out[..., self.trials :]).permute(1, 2, 0)
        if self.partial_tracks:
            plane = torch.fft.irfft(out, n=self.n_fft, dim=2)
            plane = torch.roll(plane, self.n_t // 2, dims=2)  # the wrapped negative times first
            # zero_dm already removed each subband's mean; without it, the trial mean goes as below
            plane = plane if self.zero_dm else plane - plane.mean(dim=2, keepdim=True)
            return plane * self.coverage_gain
        plane = torch.fft.irfft(out, n=self.n_fft, dim=2)[..., : self.n_t]
        return plane - plane.mean(dim=2, keepdim=True)


# the truth S/N's widths up to half the 64-sample plane of a 128-sample frame at time_average 2
BOXCAR_WIDTHS = tuple(w for w in snr.BOXCAR_WIDTHS if w <= 32)


def boxcar_snr(plane: torch.Tensor, widths=BOXCAR_WIDTHS) -> torch.Tensor:
    """Single-pulse search statistic of a DM-time plane (batch, trials, time) in unit noise per sample:
    per trial, the best S/N over boxcar widths (samples) and positions, sum / sqrt(width). (batch, trials)."""
    csum = F.pad(plane.cumsum(dim=2), (1, 0))
    best = None
    for w in widths:
        if w > plane.shape[2]:
            break
        peak = (csum[..., w:] - csum[..., :-w]).amax(dim=2) / w**0.5
        best = peak if best is None else torch.maximum(best, peak)
    return best
