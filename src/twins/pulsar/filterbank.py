"""Filterbank observations: the one in-memory form (Filterbank) of every file the pulsar twin reads, and our
SIGPROC filterbank reader and writer (1/2/4/8/16/32-bit); PSRFITS search-mode files come in through
twins.pulsar.psrfits; twins.pulsar.io.read_observation takes either.

SIGPROC layout: the string HEADER_START, then keyword/value pairs, then HEADER_END, then the spectra.
Every string (keyword or string value) is a little-endian int32 length followed by its bytes;
integer values are int32, floating values float64, `signed` one byte. Data are time-major:
spectrum after spectrum, `nchans` values each (channel 0 at `fch1`, step `foff` MHz; nifs = 1).
Samples narrower than a byte are packed low bits first (sample 0 in bits 0..nbits-1), as SIGPROC
does (checked on the real 1/2/4-bit Parkes files against the 8-bit one); 16-bit samples are unsigned
little-endian integers, 32-bit samples little-endian float32. Times: `tsamp` in seconds, `tstart` in MJD.

Frequency order: the data keep the file's channel order, channel i at fch1 + i * foff MHz; foff < 0 is
descending (channel 0 the highest frequency: the common SIGPROC order and the one the simulated
telescopes and the classifier use), foff > 0 ascending. `in_descending_order()` / `in_ascending_order()`
give either order (the same object when the data are already in it).
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from twins.core.io import InputFileError, atomic_path

log = logging.getLogger(__name__)

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
SUPPORTED_NBITS = (1, 2, 4, 8, 16, 32)
SAMPLE_DTYPES = {16: "<u2", 32: "<f4"}  # wider than a byte; narrower ones are unpacked to uint8
MAX_STRING = 4096  # longer "strings" mean we are reading garbage


class FilterbankError(InputFileError):
    """A filterbank file with a broken header or a size that does not fit its header."""


@dataclass
class Filterbank:
    """A filterbank observation in memory, whatever file it came from.

    data: (nsamples, nchans) in the file's channel order, channel i at fch1 + i * foff MHz; uint8 for SIGPROC
        files of <= 8 bits, uint16 for 16-bit ones, float32 for 32-bit ones and for PSRFITS (scaled total
        intensity, twins.pulsar.psrfits).
    header: SIGPROC keyword values that describe `data` (tsamp in s, fch1/foff in MHz, tstart in MJD; nbits is
        that of `data`, so write_filterbank(path, fb.header, fb.data) writes it back).
    header_bytes: bytes before the spectra in a SIGPROC file (0 for PSRFITS).
    source: how the file stored the data: {"format": "sigproc"} or, for PSRFITS, also its bits per sample,
        polarisations and the ones summed into `data`.
    """

    header: dict
    data: np.ndarray
    header_bytes: int = field(default=0)
    source: dict = field(default_factory=lambda: {"format": "sigproc"})

    @property
    def frequencies_mhz(self) -> np.ndarray:
        """Centre frequency (MHz) of every channel, in the order of the data's columns."""
        return self.fch1 + self.foff * np.arange(self.nchans)

    @property
    def tsamp(self) -> float:
        return float(self.header["tsamp"])

    @property
    def fch1(self) -> float:
        """Centre frequency (MHz) of channel 0 (column 0 of `data`)."""
        return float(self.header["fch1"])

    @property
    def foff(self) -> float:
        """Channel step (MHz): < 0 descending, > 0 ascending frequency with channel index."""
        return float(self.header["foff"])

    @property
    def nchans(self) -> int:
        return int(self.header["nchans"])

    @property
    def nsamples(self) -> int:
        return int(self.data.shape[0])

    def in_descending_order(self) -> Filterbank:
        """Channel 0 the highest frequency (foff < 0), the order of the simulated telescopes and the classifier:
        this object when it already is, else a view with the channels reversed and fch1/foff to match."""
        return self if self.foff <= 0 else self._reversed()

    def in_ascending_order(self) -> Filterbank:
        """Channel 0 the lowest frequency (foff > 0): this object when it already is, else a reversed view."""
        return self if self.foff >= 0 else self._reversed()

    def _reversed(self) -> Filterbank:
        header = {**self.header, "fch1": float(self.frequencies_mhz[-1]), "foff": -self.foff}
        return replace(self, header=header, data=self.data[:, ::-1])


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


def unpack_samples(packed: np.ndarray, nbits: int, high_bits_first: bool = False) -> np.ndarray:
    """Unpack sub-byte samples to one uint8 per sample: SIGPROC packs the earlier sample in the low bits
    (high_bits_first False), PSRFITS in the high bits (True)."""
    per_byte = 8 // nbits
    shifts = np.arange(per_byte, dtype=np.uint8) * nbits
    if high_bits_first:
        shifts = shifts[::-1]
    mask = np.uint8((1 << nbits) - 1)
    return ((packed.reshape(-1)[:, None] >> shifts[None, :]) & mask).reshape(-1)


def _pack(samples: np.ndarray, nbits: int) -> np.ndarray:
    per_byte = 8 // nbits
    grouped = samples.astype(np.uint8).reshape(-1, per_byte)
    shifts = np.arange(per_byte, dtype=np.uint8) * nbits
    return np.bitwise_or.reduce(grouped << shifts[None, :], axis=1).astype(np.uint8)


def is_psrfits(path: str | Path) -> bool:
    """Whether `path` is a FITS file (a PSRFITS file starts with the FITS card SIMPLE = T)."""
    with open(path, "rb") as stream:
        return stream.read(9) == b"SIMPLE  ="


def read_filterbank(path: str | Path, max_samples: int | None = None) -> Filterbank:
    """Read a whole SIGPROC filterbank file (or its first `max_samples` spectra).

    SIGPROC: FilterbankError when the data are not a whole number of spectra or hold more spectra than the
    header's nsamples; a file with fewer (cut on a spectrum boundary) is read as it is, with a warning.
    (twins.pulsar.io.read_observation also takes PSRFITS search-mode files.)
    """
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
    expected = header.get("nsamples", 0)
    if nsamples == 0:
        raise FilterbankError(f"{path}: no data after the header")
    if expected and nsamples > expected:
        raise FilterbankError(
            f"{path}: header says nsamples = {expected} but the file holds {nsamples} spectra; "
            "the header (nsamples/nchans/nbits) is wrong"
        )
    if expected and nsamples < expected:
        log.warning(
            "%s: header says nsamples = %d but the file holds %d whole spectra (cut on a spectrum boundary); "
            "reading the %d there",
            path,
            expected,
            nsamples,
            nsamples,
        )
    count = nsamples if max_samples is None else min(nsamples, max_samples)
    if nbits in SAMPLE_DTYPES:
        data = np.fromfile(path, dtype=SAMPLE_DTYPES[nbits], count=count * nchans, offset=offset)
    else:
        raw = np.fromfile(path, dtype=np.uint8, count=count * spectrum_bytes, offset=offset)
        data = raw if nbits == 8 else unpack_samples(raw, nbits)
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
    if nbits == 16:
        stream.write(np.ascontiguousarray(data, dtype="<u2").tobytes())
        return
    flat = np.ascontiguousarray(data, dtype=np.uint8).reshape(-1)
    stream.write((flat if nbits == 8 else _pack(flat, nbits)).tobytes())
