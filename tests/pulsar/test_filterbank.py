"""Our SIGPROC reader/writer: the real Parkes file, round trips at every bit depth, broken files."""

import numpy as np
import pytest

from twins.pulsar.filterbank import FilterbankError, encode_header, read_filterbank, read_header, write_filterbank


def test_reads_the_real_parkes_file(parkes):
    fb = read_filterbank(parkes)
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


@pytest.mark.parametrize("nbits", [1, 2, 4, 8, 32])
def test_round_trip_every_bit_depth(tmp_path, nbits):
    rng = np.random.default_rng(nbits)
    data = rng.normal(0, 1, (40, 16)).astype(np.float32) if nbits == 32 else rng.integers(0, 2**nbits, (40, 16))
    path = tmp_path / f"x{nbits}.fil"
    write_filterbank(path, {**HEADER, "nbits": nbits}, data)
    fb = read_filterbank(path)
    np.testing.assert_array_equal(fb.data, data.astype(fb.data.dtype))
    assert fb.header["nsamples"] == 40 and fb.header["nbits"] == nbits


def test_sub_byte_packing_is_low_bits_first(tmp_path):
    path = tmp_path / "x.fil"
    path.write_bytes(encode_header({**HEADER, "nbits": 2, "nchans": 4}) + bytes([0b11100100]))
    np.testing.assert_array_equal(read_filterbank(path).data, [[0, 1, 2, 3]])


def test_truncated_data_names_file_and_problem(tmp_path):
    path = tmp_path / "cut.fil"
    write_filterbank(path, {**HEADER, "nbits": 8}, np.zeros((10, 16), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(FilterbankError, match=r"cut\.fil.*not a whole number"):
        read_filterbank(path)


def test_broken_header_names_file(tmp_path):
    path = tmp_path / "bad.fil"
    good = encode_header({**HEADER, "nbits": 8})
    path.write_bytes(good[:40] + b"\xff\xff\xff\x7f" + good[44:])
    with pytest.raises(FilterbankError, match=r"bad\.fil.*(broken|unknown)"):
        read_header(path)
    path.write_bytes(b"not a filterbank at all")
    with pytest.raises(FilterbankError, match="bad.fil"):
        read_filterbank(path)


def test_missing_keyword_and_bad_nbits(tmp_path):
    path = tmp_path / "k.fil"
    path.write_bytes(encode_header({k: v for k, v in HEADER.items() if k != "tsamp"} | {"nbits": 8}))
    with pytest.raises(FilterbankError, match="tsamp"):
        read_header(path)
    path.write_bytes(encode_header({**HEADER, "nbits": 16}))
    with pytest.raises(FilterbankError, match="nbits = 16"):
        read_header(path)
