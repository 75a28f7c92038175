"""Reading an observation in chunks for the stream search, so that memory stays flat however long the file.

A chunk is (start_sample, block): block (n, nchans) holds spectra start_sample .. start_sample + n - 1 in the
file's channel order and sample type (uint8 for SIGPROC files of <= 8 bits, uint16 for 16-bit, float32 for
32-bit and PSRFITS). Consecutive chunks start `chunk_samples` apart and each holds `overlap` more spectra
(the dispersion sweep plus the widest boxcar), so a pulse arriving in one chunk is whole in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from twins.pulsar.filterbank import (
    SAMPLE_DTYPES,
    Filterbank,
    FilterbankError,
    is_psrfits,
    read_header,
    unpack_samples,
)


def _sigproc_layout(path: Path) -> tuple[dict, int, int, int]:
    """(header, header bytes, bytes per spectrum, number of whole spectra) of a SIGPROC file."""
    header, offset = read_header(path)
    bits = int(header["nbits"]) * int(header["nchans"])
    if bits % 8:
        raise FilterbankError(f"{path}: nchans * nbits = {bits} bits is not whole bytes per spectrum")
    spectrum_bytes = bits // 8
    data_bytes = path.stat().st_size - offset
    if data_bytes % spectrum_bytes or data_bytes == 0:
        raise FilterbankError(
            f"{path}: {data_bytes} data bytes are not a whole, non-zero number of {spectrum_bytes}-byte spectra; "
            "the file is truncated or its header (nchans/nbits) is wrong"
        )
    return header, offset, spectrum_bytes, data_bytes // spectrum_bytes


def stream_header(source: str | Path | Filterbank) -> tuple[dict, int]:
    """(header, number of spectra) of a file or an in-memory Filterbank, without reading the data of a SIGPROC
    file (a PSRFITS file is read whole: see iter_chunks)."""
    if isinstance(source, Filterbank):
        return source.header, source.nsamples
    path = Path(source)
    if path.is_file() and is_psrfits(path):
        from twins.pulsar.io import read_observation

        fb = read_observation(path)
        return fb.header, fb.nsamples
    header, _, _, nsamples = _sigproc_layout(path)
    return {**header, "nsamples": int(nsamples)}, nsamples


def read_samples(path: str | Path, start: int, count: int) -> np.ndarray:
    """Spectra start .. start + count - 1 (fewer at the end of the file) of a SIGPROC file, (n, nchans), read
    through a memory map: uint8 for <= 8 bits (sub-byte samples unpacked as filterbank.unpack_samples does),
    uint16 for 16 bits, float32 for 32 bits."""
    path = Path(path)
    header, offset, spectrum_bytes, nsamples = _sigproc_layout(path)
    return _read_range(path, header, offset, spectrum_bytes, nsamples, start, count)


def _read_range(path, header, offset, spectrum_bytes, nsamples, start, count) -> np.ndarray:
    nbits, nchans = int(header["nbits"]), int(header["nchans"])
    if not 0 <= start < nsamples:
        raise ValueError(f"{path}: start sample {start} outside the file's {nsamples} spectra")
    count = min(count, nsamples - start)
    if nbits in SAMPLE_DTYPES:
        raw = np.memmap(path, dtype=SAMPLE_DTYPES[nbits], mode="r", offset=offset, shape=(nsamples, nchans))
        return np.array(raw[start : start + count])
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(nsamples, spectrum_bytes))
    rows = np.array(raw[start : start + count])
    return rows if nbits == 8 else unpack_samples(rows, nbits).reshape(count, nchans)


def iter_chunks(
    source: str | Path | Filterbank | np.ndarray, chunk_samples: int, overlap: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (start_sample, block) for start = 0, chunk_samples, 2 chunk_samples, ... with block holding
    chunk_samples + overlap spectra (fewer at the end).

    source: a SIGPROC file (read chunk by chunk through a memory map: memory stays flat), a PSRFITS file (read
    whole with io.read_observation and sliced: its rows interleave scaled sub-integrations, so this module
    does not read it piecewise), a Filterbank or a (nsamples, nchans) array (sliced, views).
    """
    if chunk_samples < 1 or overlap < 0:
        raise ValueError(f"iter_chunks: chunk_samples {chunk_samples} must be >= 1 and overlap {overlap} >= 0")
    if isinstance(source, (Filterbank, np.ndarray)):
        data = source.data if isinstance(source, Filterbank) else source
        for start in range(0, data.shape[0], chunk_samples):
            yield start, data[start : start + chunk_samples + overlap]
        return
    path = Path(source)
    if path.is_file() and is_psrfits(path):
        from twins.pulsar.io import read_observation

        yield from iter_chunks(read_observation(path), chunk_samples, overlap)
        return
    layout = _sigproc_layout(path)
    for start in range(0, layout[3], chunk_samples):
        yield start, _read_range(path, *layout, start, chunk_samples + overlap)
