"""Our filterbank readers: SIGPROC (the real Parkes files at 1/2/4/8 bits, round trips at every bit depth, both
signs of foff, truncated and broken files) and PSRFITS search mode (the real Parkes file, small files written
here), and a real file without pulses summarised by the pulsar_generate library path."""

import json
import logging

import numpy as np
import pytest
from scipy import stats

from tests.pulsar.real_data import PARKES, PARKES_BITS, PARKES_PSRFITS, require
from twins.pulsar.filterbank import FilterbankError, encode_header, read_header, write_filterbank
from twins.pulsar.io import read_observation


def test_reads_the_real_parkes_file(parkes):
    fb = read_observation(parkes)
    h = fb.header
    assert fb.header_bytes == 351
    assert (h["nbits"], h["nchans"], h["nsamples"], h["telescope_id"]) == (8, 832, 4096, 4)
    assert (h["fch1"], h["foff"], h["tsamp"]) == (4030.0, -4.0, 0.000512)
    assert h["source_name"] == "J0534+2200"
    assert fb.data.shape == (4096, 832) and fb.data.dtype == np.uint8 and fb.data.max() == 255
    assert fb.frequencies_mhz[-1] == 706.0
    # values of the first spectrum as stored right after the header
    raw = parkes.read_bytes()[351 : 351 + 4]
    np.testing.assert_array_equal(fb.data[0, :4], np.frombuffer(raw, dtype=np.uint8))


HEADER = {
    "source_name": "test",
    "telescope_id": 8,
    "fch1": 1500.0,
    "foff": -1.0,
    "nchans": 16,
    "tsamp": 6.4e-5,
    "tstart": 60000.0,
    "nifs": 1,
}


@pytest.mark.parametrize("nbits", [1, 2, 4, 8, 16, 32])
def test_round_trip_every_bit_depth(tmp_path, nbits):
    rng = np.random.default_rng(nbits)
    data = rng.normal(0, 1, (40, 16)).astype(np.float32) if nbits == 32 else rng.integers(0, 2**nbits, (40, 16))
    path = tmp_path / f"x{nbits}.fil"
    write_filterbank(path, {**HEADER, "nbits": nbits}, data)
    fb = read_observation(path)
    dtype = {16: np.uint16, 32: np.float32}.get(nbits, np.uint8)  # 32-bit SIGPROC is float32, 16-bit unsigned
    assert fb.data.dtype == dtype and path.stat().st_size == fb.header_bytes + 40 * 16 * nbits // 8
    np.testing.assert_array_equal(fb.data, data.astype(dtype))
    assert fb.header["nsamples"] == 40 and fb.header["nbits"] == nbits


@pytest.mark.parametrize(("nbits", "min_correlation"), [(1, 0.75), (2, 0.9), (4, 0.97)])
def test_real_sub_byte_files_agree_with_the_8_bit_file(nbits, min_correlation):
    """The same 2.1 s of Parkes data requantised: sample correlation 0.78 / 0.93 / 0.98 with the 8-bit file
    (../shared/data/README.md). Unpacked high bits first, the correlation is ~0.01-0.04."""
    require(PARKES, PARKES_BITS[nbits])
    reference, fb = read_observation(PARKES), read_observation(PARKES_BITS[nbits])
    assert {k: v for k, v in fb.header.items() if k != "nbits"} == {
        k: v for k, v in reference.header.items() if k != "nbits"
    }
    assert fb.header["nbits"] == nbits and fb.data.shape == (4096, 832) and fb.data.max() == 2**nbits - 1
    correlation = np.corrcoef(fb.data.ravel().astype(np.float32), reference.data.ravel().astype(np.float32))[0, 1]
    assert correlation > min_correlation


def test_both_signs_of_foff_and_the_descending_order(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.integers(0, 256, (20, 16)).astype(np.uint8)
    write_filterbank(tmp_path / "down.fil", {**HEADER, "nbits": 8}, data)
    write_filterbank(tmp_path / "up.fil", {**HEADER, "nbits": 8, "fch1": 1485.0, "foff": 1.0}, data[:, ::-1])
    down, up = read_observation(tmp_path / "down.fil"), read_observation(tmp_path / "up.fil")
    np.testing.assert_array_equal(up.frequencies_mhz, np.arange(1485.0, 1501.0))
    np.testing.assert_array_equal(down.frequencies_mhz, np.arange(1500.0, 1484.0, -1))
    assert down.in_descending_order() is down and up.in_ascending_order() is up  # files already in order: no copy
    for flipped, same in ((up.in_descending_order(), down), (down.in_ascending_order(), up)):
        np.testing.assert_array_equal(flipped.data, same.data)
        np.testing.assert_array_equal(flipped.frequencies_mhz, same.frequencies_mhz)
        assert (flipped.fch1, flipped.foff) == (same.fch1, same.foff)
    # a spectrum's value at a frequency does not depend on the order it is read in
    assert up.data[5, list(up.frequencies_mhz).index(1490.0)] == down.data[5, list(down.frequencies_mhz).index(1490.0)]


def test_sub_byte_packing_is_low_bits_first(tmp_path):
    path = tmp_path / "x.fil"
    path.write_bytes(encode_header({**HEADER, "nbits": 2, "nchans": 4}) + bytes([0b11100100]))
    np.testing.assert_array_equal(read_observation(path).data, [[0, 1, 2, 3]])


def test_truncated_data_names_file_and_problem(tmp_path, caplog):
    path = tmp_path / "cut.fil"
    write_filterbank(path, {**HEADER, "nbits": 8}, np.zeros((10, 16), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(FilterbankError, match=r"cut\.fil.*not a whole number"):
        read_observation(path)
    # cut on a spectrum boundary: with nsamples in the header, a warning naming the file and both counts
    data = np.arange(160).reshape(10, 16).astype(np.uint8)
    write_filterbank(path, {**HEADER, "nbits": 8, "nsamples": 10}, data)
    path.write_bytes(path.read_bytes()[: -3 * 16])
    with caplog.at_level(logging.WARNING, logger="twins.pulsar.filterbank"):
        fb = read_observation(path)
    np.testing.assert_array_equal(fb.data, data[:7])
    assert fb.header["nsamples"] == 7
    assert "cut.fil" in caplog.text and "nsamples = 10" in caplog.text and "7 whole spectra" in caplog.text
    # more spectra than the header says: the header is wrong
    write_filterbank(path, {**HEADER, "nbits": 8, "nsamples": 8}, data)
    with pytest.raises(FilterbankError, match=r"cut\.fil.*nsamples = 8.*10 spectra"):
        read_observation(path)


def test_broken_header_names_file(tmp_path):
    path = tmp_path / "bad.fil"
    good = encode_header({**HEADER, "nbits": 8})
    path.write_bytes(good[:40] + b"\xff\xff\xff\x7f" + good[44:])
    with pytest.raises(FilterbankError, match=r"bad\.fil.*(broken|unknown)"):
        read_header(path)
    path.write_bytes(b"not a filterbank at all")
    with pytest.raises(FilterbankError, match="bad.fil"):
        read_observation(path)


def test_missing_keyword_and_bad_nbits(tmp_path):
    path = tmp_path / "k.fil"
    path.write_bytes(encode_header({k: v for k, v in HEADER.items() if k != "tsamp"} | {"nbits": 8}))
    with pytest.raises(FilterbankError, match="tsamp"):
        read_header(path)
    path.write_bytes(encode_header({**HEADER, "nbits": 12}))
    with pytest.raises(FilterbankError, match="nbits = 12"):
        read_header(path)


def _write_psrfits(path, stored, nbits, scales, offsets, weights, nsblk, *, pol_type, chan_bw=2.0, **keys):
    """A small search-mode PSRFITS file of `stored` (nsamples, npol, nchan) unsigned samples, packed as PSRFITS
    packs them (earlier samples in the higher bits); `keys` go into the SUBINT header (NSTOT) or the primary
    one (OBS_MODE)."""
    from astropy.io import fits

    nsamples, npol, nchan = stored.shape
    rows = nsamples // nsblk
    flat = stored.reshape(rows, -1).astype(np.uint8)
    if nbits < 8:
        per_byte = 8 // nbits
        shifts = ((per_byte - 1 - np.arange(per_byte)) * nbits).astype(np.uint8)
        flat = np.bitwise_or.reduce(flat.reshape(rows, -1, per_byte) << shifts, axis=2).astype(np.uint8)
    primary = fits.PrimaryHDU()
    cards = {"FITSTYPE": "PSRFITS", "OBS_MODE": keys.pop("OBS_MODE", "SEARCH"), "OBSFREQ": 1400.0, "OBSNCHAN": nchan}
    cards |= {"TELESCOP": "Effelsberg", "SRC_NAME": "test", "RA": "12:00:01.5", "DEC": "-30:15:00.0"}
    cards |= {"STT_IMJD": 60000, "STT_SMJD": 3600, "STT_OFFS": 0.25}
    primary.header.update(cards)
    tbin = 1e-3
    freqs = 1400.0 + chan_bw * (np.arange(nchan) - (nchan - 1) / 2)
    columns = [
        ("TSUBINT", "1D", np.full(rows, nsblk * tbin)),
        ("OFFS_SUB", "1D", (np.arange(rows) + 0.5) * nsblk * tbin),
        ("DAT_FREQ", f"{nchan}D", np.tile(freqs, (rows, 1))),
        ("DAT_WTS", f"{nchan}E", np.tile(weights, (rows, 1))),
        ("DAT_OFFS", f"{npol * nchan}E", np.tile(offsets.ravel(), (rows, 1))),
        ("DAT_SCL", f"{npol * nchan}E", np.tile(scales.ravel(), (rows, 1))),
        ("DATA", f"{flat.shape[1]}B", flat),
    ]
    table = fits.BinTableHDU.from_columns([fits.Column(n, f, array=a) for n, f, a in columns], name="SUBINT")
    table.header.update({"NBITS": nbits, "NCHAN": nchan, "NPOL": npol, "POL_TYPE": pol_type, "NSBLK": nsblk})
    table.header.update({"TBIN": tbin, "CHAN_BW": chan_bw, "ZERO_OFF": 2 ** (nbits - 1) - 0.5, "SIGNINT": 0, **keys})
    fits.HDUList([primary, table]).writeto(path)


@pytest.mark.parametrize(
    ("nbits", "pol_type", "npol", "summed"),
    [(1, "AA+BB", 1, [0]), (2, "AABB", 2, [0, 1]), (4, "IQUV", 4, [0]), (8, "AABBCRCI", 4, [0, 1])],
)
def test_psrfits_values_are_scaled_weighted_and_total_intensity(tmp_path, nbits, pol_type, npol, summed):
    rng = np.random.default_rng(nbits)
    nchan, nsblk = 8, 16
    stored = rng.integers(0, 2**nbits, (3 * nsblk, npol, nchan))
    scales, offsets = rng.uniform(1, 3, (npol, nchan)), rng.uniform(100, 200, (npol, nchan))
    weights = np.ones(nchan)
    weights[5] = 0.0  # a channel given zero weight
    path = tmp_path / f"x{nbits}.sf"
    _write_psrfits(path, stored, nbits, scales, offsets, weights, nsblk, pol_type=pol_type)
    fb = read_observation(path)
    zero_off = 2 ** (nbits - 1) - 0.5
    values = (stored - zero_off) * scales.astype(np.float32) + offsets.astype(np.float32)
    expected = values[:, summed].sum(axis=1) * weights
    assert fb.data.dtype == np.float32 and fb.data.shape == (48, 8)
    np.testing.assert_allclose(fb.data, expected, rtol=1e-6, atol=1e-3)  # float32 sums of values ~500
    h = fb.header
    assert (h["fch1"], h["foff"], h["nchans"], h["nsamples"], h["tsamp"], h["nbits"]) == (1393.0, 2.0, 8, 48, 1e-3, 32)
    assert h["tstart"] == pytest.approx(60000 + 3600.25 / 86400, abs=1e-11)
    assert (h["telescope_id"], h["source_name"], h["src_raj"], h["src_dej"]) == (8, "test", 120001.5, -301500.0)
    assert fb.source["format"] == "psrfits" and fb.source["nbits"] == nbits and fb.source["npol"] == npol
    np.testing.assert_array_equal(fb.in_descending_order().data, fb.data[:, ::-1])  # CHAN_BW > 0: ascending


def test_psrfits_cut_files_and_other_modes(tmp_path, caplog):
    rng = np.random.default_rng(0)
    stored = rng.integers(0, 16, (48, 1, 8))
    args = (4, np.ones((1, 8)), np.zeros((1, 8)), np.ones(8), 16)
    path = tmp_path / "x.sf"
    _write_psrfits(path, stored, *args, pol_type="AA+BB", NSTOT=40)  # the last row part-filled
    full = read_observation(path)
    assert full.data.shape == (40, 8)
    np.testing.assert_array_equal(read_observation(path, max_samples=20).data, full.data[:20])
    from astropy.io import fits

    with fits.open(path) as hdul:
        start, row_bytes = hdul["SUBINT"].fileinfo()["datLoc"], hdul["SUBINT"].header["NAXIS1"]
    (tmp_path / "cut.sf").write_bytes(path.read_bytes()[: start + row_bytes + row_bytes // 2])  # 1.5 rows
    with caplog.at_level(logging.WARNING, logger="twins.pulsar.psrfits"):
        cut = read_observation(tmp_path / "cut.sf")
    np.testing.assert_array_equal(cut.data, full.data[:16])
    assert "cut.sf" in caplog.text and "promises 40 spectra" in caplog.text
    assert "1 whole rows, 16 spectra" in caplog.text
    _write_psrfits(tmp_path / "fold.sf", stored, *args, pol_type="AA+BB", OBS_MODE="PSR")
    with pytest.raises(FilterbankError, match=r"fold\.sf.*OBS_MODE = 'PSR'"):
        read_observation(tmp_path / "fold.sf")


def test_reads_the_real_psrfits_search_mode_file():
    """Parkes UWL, 416 channels of 8 MHz, 4 bits, AABBCRCI, NSBLK 2048: the 2.1 s before parkes_8bit_1.fil."""
    require(PARKES_PSRFITS)
    fb = read_observation(PARKES_PSRFITS)
    h = fb.header
    assert fb.data.shape == (4096, 416) and fb.data.dtype == np.float32 and fb.header_bytes == 0
    assert (h["tsamp"], h["fch1"], h["foff"], h["nchans"], h["nsamples"]) == (0.000512, 4028.0, -8.0, 416, 4096)
    assert fb.frequencies_mhz[-1] == 708.0 and (h["source_name"], h["telescope_id"]) == ("J0534+2200", 4)
    assert h["tstart"] == pytest.approx(58543 + (28543 + 0.3605) / 86400, abs=1e-11)
    assert fb.source | {"telescope": None} == {
        "format": "psrfits",
        "nbits": 4,
        "npol": 4,
        "pol_type": "AABBCRCI",
        "polarisation": "AA+BB",
        "nsblk": 2048,
        "telescope": None,
    }
    data = fb.data.astype(np.float64)
    assert np.isfinite(data).all() and data.min() > 0  # AA + BB: powers
    # radiometer noise: std/mean = 1/sqrt(2 polarisations x 8 MHz x 0.512 ms) = 0.011 in a clean channel
    assert 0.009 < np.median(data.std(axis=0) / data.mean(axis=0)) < 0.014
    # bit order (earlier sample in the high bits): intermittent RFI sits in the channels where the 8-bit file
    # has it (its channels 556-557 and 766-767), not in their nibble neighbours
    kurtosis = stats.kurtosis(data, axis=0)
    assert kurtosis[[278, 383]].min() > 5 and np.abs(kurtosis[[279, 382]]).max() < 1
    np.testing.assert_array_equal(read_observation(PARKES_PSRFITS, max_samples=100).data, fb.data[:100])
    if PARKES.exists():  # the 8-bit file continues the observation 4096 samples later
        later = read_header(PARKES)[0]["tstart"]
        assert (later - h["tstart"]) * 86400 == pytest.approx(4096 * 0.000512, abs=1e-6)


@pytest.mark.parametrize("path", [PARKES_PSRFITS, PARKES_BITS[2]], ids=["psrfits_4bit", "sigproc_2bit"])
def test_a_real_file_without_pulses_is_summarised(path):
    """The library path of pulsar_generate (classify_observation, reduction_summary) on real files of other
    formats, with an untrained small classifier: every frame gets labels, the summary is JSON."""
    require(path)
    import torch

    from twins.core.config import resolve
    from twins.pulsar.models.frame_classifier.network import build_model
    from twins.pulsar.reduction import classify_observation, reduction_summary

    torch.manual_seed(0)
    model = build_model(resolve("pulsar.train", {"channels": [4, 8]}), 64).eval()
    meta = {"frames": {"size": 64, "time_downsample": 2, "freq_downsample": 1}, "thresholds": [0.5] * 3}
    settings = {"threshold": "validation", "batch_size": 256, "mask_flagged_channels": True}
    preprocess, flagging = resolve("pulsar.preprocess"), resolve("pulsar.flagging")
    fb = read_observation(path)
    result = classify_observation(fb, model, meta, settings, preprocess, flagging, threads=1)
    summary = json.loads(json.dumps(reduction_summary(result, fb, "real", str(path), threads=1)))
    assert summary["frames"] == 4096 // 128 * (fb.nchans // 64) == len(result.labels)
    assert summary["observation_seconds"] == pytest.approx(2.097152) and 0 < summary["channels_flagged"] < fb.nchans
    assert np.isfinite(result.probabilities).all()
    # a file in ascending order is classified as the same data in descending order
    flipped = classify_observation(fb.in_ascending_order(), model, meta, settings, preprocess, flagging, threads=1)
    np.testing.assert_array_equal(flipped.probabilities, result.probabilities)
