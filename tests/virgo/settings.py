"""Tiny virgo settings and the resource files, shared by the virgo tests (fixtures in conftest.py)."""

from tests.helpers import REPO

ASD_FILE = REPO / "resources/virgo/asd_advirgo.yaml"
CHANNELS_FILE = REPO / "resources/virgo/channels.yaml"
GW150914 = REPO.parent / "shared" / "data" / "gw" / "H-H1_LOSC_4_V2-1126259446-32.hdf5"

SIMULATE = {
    "sample_rate": 4096,
    "aux_sample_rate": 1024,
    "duration_s": 64,
    "slot_duration_s": 8,
    "gps_start": 1262304018,
    "time_jitter_s": 0.5,
    "microseism": {"band_hz": [0.1, 0.5], "rms_m": 1.0e-6},
    "glitch": {
        "snr": [40, 60],
        "motion_frequency_hz": [1.0, 3.0],
        "fringe_frequency_hz": [60, 200],
        "width_s": [0.3, 0.6],
    },
    "decoys": {"rate_per_slot": 0.5, "magnetic_burst_t": 1.0e-10},
}
CONVERT = {"segment_duration_s": 6.0, "offset_s": 0.5}
PREPROCESS = {
    "whitening": {"fft_length_s": 2.0, "overlap": 0.5, "window": "hann", "crop_s": 1.0},
    "qtransform": {
        "q": 12.0,
        "strain_band_hz": [8.0, 500.0],
        "aux_band_hz": [1.0, 32.0],
        "n_frequencies": 64,
        "n_times": 64,
    },
    "annalisa": {"strain_snr": 6.0, "aux_snr": 6.0, "window_s": 0.25, "keep_fraction": 0.5},
    "split": {"train": 0.5, "validation": 0.25, "test": 0.25},
}
TRAIN = {"epochs": 2, "batch_size": 4, "learning_rate": 3e-3, "channels": [4, 8]}
