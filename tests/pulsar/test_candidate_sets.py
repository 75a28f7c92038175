"""Labelled candidate sets: pulses injected into a background are searched, imaged and labelled by their truth;
the background alone gives the negatives; the file round-trips; the injected DMs stay within the search's reach."""

import numpy as np
import pytest

from tests.pulsar.real_data import PARKES, require
from twins.core.config import resolve
from twins.pulsar.candidate_sets import NO_INJECTION, Background, build_candidate_set, open_background
from twins.pulsar.io import read_candidate_set, write_candidate_set
from twins.pulsar.telescope import Telescope

TELESCOPE = Telescope(
    name="small",
    telescope_id=0,
    machine_id=0,
    nchans=64,
    fch1_mhz=1500.0,
    foff_mhz=-4.0,
    tsamp_s=5e-4,
    bandpass={"knots": [[0.0, 1.0], [1.0, 1.0]]},
    digitiser={"level": 96.0, "sigma": 12.0},
)


@pytest.fixture(scope="module")
def settings():
    defaults = resolve("pulsar", None)
    candidates = defaults["candidates"]
    injection = {**candidates["injection"], "snr": {"min": 12.0, "max": 20.0, "distribution": "uniform"}}
    search = {**defaults["search"], "dm_max": 300.0, "min_width_s": 1e-3}
    return {**candidates, "injection": injection, "search": search}


@pytest.fixture(scope="module")
def built(settings):
    background = Background("small", TELESCOPE.header("small"), np.zeros(64, bool), telescope=TELESCOPE, seconds=3.0)
    return build_candidate_set(background, settings, 3, lambda r: np.random.default_rng(100 + r), threads=1)


def test_bright_injections_are_found_labelled_and_within_reach(built):
    injections, table = built["injections"], built["candidates"]
    assert len(injections) >= 3 and injections["found"].all()  # S/N 12-20 in white noise: all found
    assert injections["dm"].max() <= built["dm_max"] <= 300.0 * 1.1
    pulses = table[table["label"] == 1]
    assert set(pulses["injection"]) == set(range(len(injections)))
    assert np.allclose(pulses["injected_snr"], injections["snr"].to_numpy()[pulses["injection"]])
    assert (table.loc[table["realisation"] == NO_INJECTION, "label"] == 0).all()
    assert built["ft"].shape == (len(table), 64, 64) and built["dmt"].shape == (len(table), 64, 64)


def test_candidate_set_file_round_trips(built, tmp_path):
    path = tmp_path / "set.h5"
    write_candidate_set(path, built, {"images": {"n_freq": 64}, "seconds": built["seconds"]}, {"step": "test"})
    back = read_candidate_set(path)
    assert back["candidates"]["sample"].tolist() == built["candidates"]["sample"].tolist()
    assert back["injections"]["found"].tolist() == built["injections"]["found"].tolist()
    assert np.allclose(back["ft"], built["ft"], atol=1e-2) and back["attrs"]["images"] == {"n_freq": 64}


def test_real_background_is_cut_to_its_split_and_flagged():
    require(PARKES)
    defaults = resolve("pulsar", None)
    entry, splits, flagging = {"path": str(PARKES)}, defaults["candidates"]["splits"], defaults["flagging"]
    test = open_background("parkes", entry, str(PARKES), "test", splits, flagging)
    train = open_background("parkes", entry, str(PARKES), "train", splits, flagging)
    assert train.start == 0 and test.start == len(train.data) + round(0.15 * 4096)
    assert test.start + len(test.data) == 4096 and test.header["fch1"] > test.header["fch1"] + test.header["foff"]
    assert 0 < test.flags.sum() < 0.3 * len(test.flags)
