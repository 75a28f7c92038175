"""SIGPROC filterbank files: our own reader (1/2/4/8/32-bit) and writer (8/32-bit).

Layout: the string HEADER_START, then keyword/value pairs, then HEADER_END, then the spectra.
Every string (keyword or string value) is a little-endian int32 length followed by its bytes;
integer values are int32, floating values float64, `signed` one byte. Data are time-major:
spectrum after spectrum, `nchans` values each (channel 0 at `fch1`, step `foff` MHz; nifs = 1).
Samples narrower than a byte are packed low bits first (sample 0 in bits 0..nbits-1), as SIGPROC
does. Times: `tsamp` in seconds, `tstart` in MJD.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twins.core.io import InputFileError, atomic_path

INT_KEYS = {
    "telescope_id",
    "machine_id",
    "data_type",
    "barycentric",
    "pulsarcentric",
    "nbits",
    "nsamples",
    "nchans",
    "nifs",
    "nbeams",
    "ibeam",
}
DOUBLE_KEYS = {"tstart", "tsamp", "fch1", "foff", "refdm", "az_start", "za_start", "src_raj", "src_dej", "period"}
STRING_KEYS = {"source_name", "rawdatafile"}
BYTE_KEYS = {"signed"}
REQUIRED_KEYS = ("nbits", "nchans", "tsamp", "fch1", "foff")
SUPPORTED_NBITS = (1, 2, 4, 8, 32)
MAX_STRING = 4096  # longer "strings" mean we are reading garbage


class FilterbankError(InputFileError):
    """A filterbank file with a broken header or a size that does not fit its header."""


@dataclass
class Filterbank:
    """A filterbank observation in memory.

    data: (nsamples, nchans), channel 0 at fch1; uint8 for <= 8-bit files, float32 for 32-bit.
    header: the keyword values (tsamp in s, fch1/foff in MHz, tstart in MJD).
    """

    header: dict
    data: np.ndarray
    header_bytes: int = field(default=0)

    @property
    def frequencies_mhz(self) -> np.ndarray:
        h = self.header
        return h["fch1"] + h["foff"] * np.arange(h["nchans"])

    @property
    def tsamp(self) -> float:
        return float(self.header["tsamp"])


def _read_string(raw: bytes, pos: int, path: Path) -> tuple[str, int]:
    if pos + 4 > len(raw):
        raise FilterbankError(f"{path}: header ends inside a keyword (byte {pos}); the file is truncated")
    (length,) = struct.unpack_from("<i", raw, pos)
    if not 0 < length <= MAX_STRING or pos + 4 + length > len(raw):
        raise FilterbankError(
            f"{path}: broken SIGPROC header at byte {pos}: string length {length} is impossible; "
            "not a filterbank file or a corrupt header"
        )
    try:
        text = raw[pos + 4 : pos + 4 + length].decode("ascii")
    except UnicodeDecodeError:
        raise FilterbankError(f"{path}: broken SIGPROC header at byte {pos}: non-ASCII keyword") from None
    return text, pos + 4 + length


def read_header(path: str | Path) -> tuple[dict, int]:
    """Parse the header; return (keywords, header length in bytes)."""
    path = Path(path)
    if not path.exists():
        raise FilterbankError(f"{path}: file not found")
    with open(path, "rb") as stream:
        raw = stream.read(65536)
    first, pos = _read_string(raw, 0, path) if len(raw) >= 4 else ("", 0)
    if first != "HEADER_START":
        raise FilterbankError(f"{path}: does not start with HEADER_START; not a SIGPROC filterbank file")
    header: dict = {}
    while True:
        key, pos = _read_string(raw, pos, path)
        if key == "HEADER_END":
            break
        if key in INT_KEYS:
            fmt = "<i"
        elif key in DOUBLE_KEYS:
            fmt = "<d"
        elif key in BYTE_KEYS:
            fmt = "<b"
        elif key in STRING_KEYS:
            header[key], pos = _read_string(raw, pos, path)
            continue
        else:
            raise FilterbankError(f"{path}: unknown SIGPROC header keyword '{key}' at byte {pos}")
        size = struct.calcsize(fmt)
        if pos + size > len(raw):
            raise FilterbankError(f"{path}: header ends inside the value of '{key}'; the file is truncated")
        (header[key],) = struct.unpack_from(fmt, raw, pos)
        pos += size
    missing = [k for k in REQUIRED_KEYS if k not in header]
    if missing:
        raise FilterbankError(f"{path}: header lacks required keyword(s) {missing}")
    header.setdefault("nifs", 1)
    if header["nbits"] not in SUPPORTED_NBITS:
        raise FilterbankError(f"{path}: nbits = {header['nbits']} not supported; expected one of {SUPPORTED_NBITS}")
    if header["nchans"] <= 0 or header["nifs"] != 1:
        raise FilterbankError(
            f"{path}: nchans = {header['nchans']}, nifs = {header['nifs']}; need nchans > 0, nifs = 1"
        )
    if header["tsamp"] <= 0:
        raise FilterbankError(f"{path}: tsamp = {header['tsamp']} s must be positive")
    return header, pos


def _unpack(packed: np.ndarray, nbits: int) -> np.ndarray:
    """Unpack sub-byte samples, low bits first, to one uint8 per sample."""
    per_byte = 8 // nbits
    shifts = np.arange(per_byte, dtype=np.uint8) * nbits
    mask = np.uint8((1 << nbits) - 1)
    return ((packed[:, None] >> shifts[None, :]) & mask).reshape(-1)


def _pack(samples: np.ndarray, nbits: int) -> np.ndarray:
    per_byte = 8 // nbits
    grouped = samples.astype(np.uint8).reshape(-1, per_byte)
    shifts = np.arange(per_byte, dtype=np.uint8) * nbits
    return np.bitwise_or.reduce(grouped << shifts[None, :], axis=1).astype(np.uint8)


def read_filterbank(path: str | Path, max_samples: int | None = None) -> Filterbank:
    """Read a whole filterbank file (or its first `max_samples` spectra)."""
    path = Path(path)
    header, offset = read_header(path)
    nbits, nchans = header["nbits"], header["nchans"]
    bits_per_spectrum = nbits * nchans
    if bits_per_spectrum % 8:
        raise FilterbankError(f"{path}: nchans * nbits = {bits_per_spectrum} bits is not whole bytes per spectrum")
    spectrum_bytes = bits_per_spectrum // 8
    data_bytes = path.stat().st_size - offset
    if data_bytes % spectrum_bytes:
        raise FilterbankError(
            f"{path}: {data_bytes} data bytes are not a whole number of {spectrum_bytes}-byte spectra; "
            "the file is truncated or its header (nchans/nbits) is wrong"
        )
    nsamples = data_bytes // spectrum_bytes
    if "nsamples" in header and header["nsamples"] not in (0, nsamples):
        raise FilterbankError(f"{path}: header says nsamples = {header['nsamples']} but the file holds {nsamples}")
    if nsamples == 0:
        raise FilterbankError(f"{path}: no data after the header")
    count = nsamples if max_samples is None else min(nsamples, max_samples)
    if nbits == 32:
        data = np.fromfile(path, dtype="<f4", count=count * nchans, offset=offset)
    else:
        raw = np.fromfile(path, dtype=np.uint8, count=count * spectrum_bytes, offset=offset)
        data = raw if nbits == 8 else _unpack(raw, nbits)
    header = {**header, "nsamples": int(nsamples)}
    return Filterbank(header=header, data=data.reshape(count, nchans), header_bytes=offset)


def _encode_string(text: str) -> bytes:
    raw = text.encode("ascii")
    return struct.pack("<i", len(raw)) + raw


def encode_header(header: dict) -> bytes:
    """The binary SIGPROC header for `header` (keywords outside the spec are an error)."""
    parts = [_encode_string("HEADER_START")]
    for key, value in header.items():
        if key in STRING_KEYS:
            parts += [_encode_string(key), _encode_string(str(value))]
        elif key in INT_KEYS:
            parts += [_encode_string(key), struct.pack("<i", int(value))]
        elif key in DOUBLE_KEYS:
            parts += [_encode_string(key), struct.pack("<d", float(value))]
        elif key in BYTE_KEYS:
            parts += [_encode_string(key), struct.pack("<b", int(value))]
        else:
            raise ValueError(f"'{key}' is not a SIGPROC header keyword")
    parts.append(_encode_string("HEADER_END"))
    return b"".join(parts)


def write_filterbank(path: str | Path, header: dict, data: np.ndarray) -> None:
    """Write (nsamples, nchans) data atomically; header['nbits'] decides the sample format."""
    nbits = int(header["nbits"])
    if nbits not in SUPPORTED_NBITS:
        raise ValueError(f"nbits = {nbits}; expected one of {SUPPORTED_NBITS}")
    if data.ndim != 2 or data.shape[1] != header["nchans"]:
        raise ValueError(f"data shape {data.shape} does not match nchans = {header['nchans']}")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as stream:
            stream.write(encode_header(header))
            append_spectra(stream, data, nbits)


def append_spectra(stream, data: np.ndarray, nbits: int) -> None:
    """Write spectra to an open file in the sample format of `nbits` (values already in range)."""
    if nbits == 32:
        stream.write(np.ascontiguousarray(data, dtype="<f4").tobytes())
        return
    top = (1 << nbits) - 1
    if data.size and (data.min() < 0 or data.max() > top):
        raise ValueError(f"{nbits}-bit samples must lie in [0, {top}]")
    flat = np.ascontiguousarray(data, dtype=np.uint8).reshape(-1)
    stream.write((flat if nbits == 8 else _pack(flat, nbits)).tobytes())
