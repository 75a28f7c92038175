"""The single-pulse search parts of the classifier: DM trial grid, partial-track DM-time plane,
matched-filter S/N statistic, and their configuration errors."""

import numpy as np
import pytest
import torch

from twins.pulsar.dispersion import dispersion_delay, dm_trial_grid, smearing_time
from twins.pulsar.model import Dedispersion, FrameClassifier, boxcar_snr

torch.set_num_threads(1)


def test_dm_trial_steps_keep_the_smearing_within_tolerance():
    # Effelsberg-like band, 256 channels of 1.17 MHz at 64 us, a 0.5 ms pulse
    f_top, width, nchans, tsamp, pulse = 1509.4, 1.171875, 256, 64e-6, 5e-4
    dms = dm_trial_grid(f_top, -width, nchans, tsamp, 100.0, pulse_width_s=pulse, tolerance=1.25)
    assert dms[0] == 0 and dms[-2] < 100 <= dms[-1] and np.all(np.diff(dms) > 0)
    f_centre = f_top - (nchans / 2 - 0.5) * width
    quarter = dispersion_delay(1.0, f_centre - nchans * width / 8, f_centre + nchans * width / 8)  # s per DM
    for prev, step in zip(dms[:-1], np.diff(dms)):
        base = tsamp**2 + pulse**2 + smearing_time(prev, f_centre, width) ** 2
        # next trial: its own channel smearing plus a quarter band's delay of the DM step, in quadrature
        smeared = tsamp**2 + pulse**2 + smearing_time(prev + step, f_centre, width) ** 2 + (quarter * step) ** 2
        assert np.sqrt(smeared / base) == pytest.approx(1.25, rel=0.02)  # 8.3 us approximates the f^-2 law
    # steps widen once channel smearing dominates the sampling time and the pulse width
    wide = np.diff(dm_trial_grid(f_top, width, nchans, tsamp, 1000.0, pulse_width_s=pulse))
    assert wide[-1] > 2 * wide[0]
    # a coarser sampling needs fewer trials over the same range
    assert len(dm_trial_grid(f_top, width, nchans, 4 * tsamp, 100.0, pulse)) < len(dms)


def test_dm_trial_grid_rejects_a_tolerance_at_or_below_one():
    with pytest.raises(ValueError, match="tolerance > 1"):
        dm_trial_grid(1500.0, 1.0, 256, 64e-6, 30.0, tolerance=1.0)


def _track_frame(top_arrival: float, sweep: float, amplitude: float, width: int = 8) -> np.ndarray:
    """A (1, 128, 128) frame with a dispersed boxcar pulse `width` pixels wide, f^-2 sweep over
    bottom/top 0.8, arriving at the top of the band at pixel `top_arrival` (may be negative)."""
    f = np.linspace(1.0, 0.8, 128)
    shape = (f**-2 - 1) / (0.8**-2 - 1)
    frame = np.zeros((1, 128, 128), dtype=np.float32)
    for c, t in enumerate(np.rint(top_arrival + sweep * shape).astype(int)):
        rows = np.arange(t, t + width)
        frame[0, rows[(rows >= 0) & (rows < 128)], c] = amplitude
    return frame


def test_boxcar_snr_recovers_an_injected_pulse():
    branch = Dedispersion(128, trials=32, partial_tracks=True, zero_dm=False)
    # injected S/N of a width-8 boxcar in 128 channels at unit pixel noise: a * 128 * 8 / sqrt(128 * 8)
    amplitude = 10.0 / np.sqrt(128 * 8)
    stat = boxcar_snr(branch(torch.as_tensor(_track_frame(30, 64, amplitude))))[0]
    assert stat.max().item() == pytest.approx(
        10.0, rel=0.15
    )  # trial grid, subband averaging and mean removal lose little
    assert stat.argmax().item() == pytest.approx(32 * 64 / 128, abs=2)  # at the trial of its sweep
    assert stat[0].item() < 0.6 * stat.max().item()  # not at zero DM
    # pure noise: unit-noise plane samples, and a search maximum of a few sigma, far below 10
    noise = branch(torch.randn(64, 128, 128))
    covered = branch.coverage_gain > 0
    assert noise[:, covered].std().item() == pytest.approx(1.0, abs=0.1)
    assert 3.0 < boxcar_snr(noise).amax(dim=1).median().item() < 5.5


def test_partial_track_is_found_only_with_partial_tracks():
    # arrives at the top of the band late in the frame and at mid-band after it ends: the frame holds
    # the upper ~56% of the channels
    frame = torch.as_tensor(_track_frame(66, 128, 10.0 / np.sqrt(128 * 8)))
    full = boxcar_snr(Dedispersion(128, partial_tracks=True, zero_dm=False)(frame)).max().item()
    clipped = boxcar_snr(Dedispersion(128, partial_tracks=False, zero_dm=False)(frame)).max().item()
    assert full > 1.5 * clipped and full > 0.8 * 10 * np.sqrt(0.56)  # S/N of the part, coverage-normalised


def test_partial_tracks_configuration_errors():
    with pytest.raises(ValueError, match="max_sweep_fraction <= 1"):
        Dedispersion(128, max_sweep_fraction=1.5, partial_tracks=True)
    with pytest.raises(ValueError, match="min_coverage"):
        Dedispersion(128, partial_tracks=True, min_coverage=0.0)


def test_snr_feature_widens_the_head_and_dropout_is_off_in_eval():
    options = {"trials": 16, "partial_tracks": True}
    plain = FrameClassifier((4, 8), dedispersion=options)
    with_snr = FrameClassifier((4, 8), dedispersion={**options, "snr_feature": True}, dropout=0.5).eval()
    assert with_snr.head.in_features == plain.head.in_features + 16 + 1
    x = torch.randn(3, 1, 128, 128)
    assert torch.equal(with_snr(x), with_snr(x))


def test_schema_rejects_bad_search_settings():
    import yaml

    from tests.pulsar.pulsar_common import REPO
    from twins.core.config import validate_config

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["pulsar"]["train"]["dedispersion"] = {"min_coverage": 0}
    with pytest.raises(Exception, match="min_coverage"):
        validate_config(config, REPO / "workflow/schemas/config.schema.yaml")


def test_time_sample_clipping_removes_an_impulse_and_keeps_a_low_dm_pulse():
    rng = np.random.default_rng(5)
    noise = rng.standard_normal((1, 128, 128)).astype(np.float32)
    pulse = _track_frame(40, 12, 10.0 / np.sqrt(128 * 16), width=16)  # low DM: sweep 12 px, S/N 10
    impulse = np.zeros_like(noise)
    impulse[0, 100:102, :] = 3.0  # undispersed broad-band impulse, 2 pixels long
    common = {"trials": 32, "partial_tracks": True, "excise_channels": 6.0}
    clip = Dedispersion(128, zero_dm=False, impulse_clip=6.0, **common)
    zero_dm = Dedispersion(128, zero_dm=True, **common)
    frame = torch.as_tensor(noise + pulse + impulse)
    kept_clip = boxcar_snr(clip(frame))[0].max().item()
    kept_zero_dm = boxcar_snr(zero_dm(frame))[0].max().item()
    assert kept_clip > 6.0 and kept_clip > 1.5 * kept_zero_dm  # zero-DM removes much of a low-DM pulse
    # the impulse alone leaves nothing above the noise at zero DM once clipped
    assert boxcar_snr(clip(torch.as_tensor(noise + impulse)))[0, 0].item() < 5.0
    assert boxcar_snr(Dedispersion(128, zero_dm=False, **common)(torch.as_tensor(noise + impulse)))[0, 0].item() > 20


def test_group_clipping_removes_a_partial_band_impulse_and_keeps_a_low_dm_pulse():
    rng = np.random.default_rng(6)
    noise = rng.standard_normal((1, 128, 128)).astype(np.float32)
    impulse = np.zeros_like(noise)
    impulse[0, 100:108, :32] = 1.0  # undispersed impulse in the top quarter of the band: band-mean z 4, group z 8
    common = {"trials": 32, "excise_channels": 6.0, "zero_dm": False, "impulse_clip": 6.0}
    whole, grouped = Dedispersion(128, **common), Dedispersion(128, clip_groups=4, **common)
    frame = torch.as_tensor(noise + impulse)
    assert boxcar_snr(whole(frame))[0, 0].item() > 6.0  # escapes the whole-band clip
    assert boxcar_snr(grouped(frame))[0, 0].item() < 4.0
    pulse = _track_frame(40, 12, 10.0 / np.sqrt(128 * 16), width=16)  # low DM: sweep 12 px, S/N 10
    kept = boxcar_snr(grouped(torch.as_tensor(noise + pulse)))[0].max().item()
    assert kept > 0.95 * boxcar_snr(whole(torch.as_tensor(noise + pulse)))[0].max().item() and kept > 6.0
    with pytest.raises(ValueError, match="clip_groups"):
        Dedispersion(128, clip_groups=3, **common)
