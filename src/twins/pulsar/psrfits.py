"""PSRFITS search-mode files read into a Filterbank (twins.pulsar.filterbank), through astropy.io.fits.

PSRFITS (Hotan, van Straten & Manchester 2004; the ATNF definition, v6.1) keeps the observation in the primary
HDU (FITSTYPE = 'PSRFITS', OBS_MODE = 'SEARCH', OBSFREQ/OBSNCHAN, start STT_IMJD + (STT_SMJD + STT_OFFS) / 86400
MJD) and the data in the SUBINT binary table: NSBLK samples of TBIN seconds per row; per row DATA holds NSBLK x
NPOL x NCHAN samples of NBITS bits (channel fastest); narrower than a byte, earlier samples sit in the
higher-order bits (the opposite of SIGPROC). A sample's value is
    ((stored value - ZERO_OFF) * DAT_SCL + DAT_OFFS) * DAT_WTS
with DAT_SCL and DAT_OFFS per polarisation and channel (NPOL x NCHAN, polarisation-major) and DAT_WTS per channel.
NSTOT, where given, is the number of valid samples (the last row may be part-filled). CHAN_BW < 0 means
frequency falling with channel index; DAT_FREQ gives each channel's centre.

Into the Filterbank: float32 (nsamples, nchans) in the file's channel order, total intensity: AA + BB for
the polarisation products AABB/AABBCRCI (and XXYY, LLRR, RRLL with or without CRCI), Stokes I for IQUV, the
only polarisation for NPOL = 1 and the first one for any other layout (as `your` and sigpyproc read these
files, which scale the sum by 1/2 or 1/sqrt(2); we keep the plain sum). The SIGPROC header of the result has
nbits = 32 (float32 data); Filterbank.source keeps the file's bits and polarisation layout.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twins.pulsar.filterbank import Filterbank, FilterbankError, unpack_samples

log = logging.getLogger(__name__)

SUPPORTED_NBITS = (1, 2, 4, 8)
# polarisation products summed to total intensity (indices into NPOL), by POL_TYPE
INTENSITY_PRODUCTS = {
    **{name: (0, 1) for name in ("AABB", "AABBCRCI", "XXYY", "XXYYCRCI", "LLRR", "LLRRCRCI", "RRLL", "RRLLCRCI")},
    "IQUV": (0,),
}
# SIGPROC telescope_id of the telescopes named in TELESCOP (SIGPROC's aliases; MeerKAT as sigpyproc/your number it)
TELESCOPE_IDS = {
    "arecibo": 1,
    "ooty": 2,
    "nancay": 3,
    "parkes": 4,
    "jodrell": 5,
    "gbt": 6,
    "gmrt": 7,
    "effelsberg": 8,
    "meerkat": 64,
}


def _number(header, key: str, default: float = np.nan) -> float:
    """A numeric card's value; `default` where it is missing or not a number ('*' in PSRFITS templates)."""
    try:
        return float(header[key])
    except (KeyError, TypeError, ValueError):
        return default


def _sigproc_angle(text: str) -> float | None:
    """'hh:mm:ss.s' or '+dd:mm:ss.s' as SIGPROC's hhmmss.s / ddmmss.s number; None if it does not parse."""
    try:
        sign = -1.0 if text.strip().startswith("-") else 1.0
        a, b, c = (abs(float(part)) for part in text.strip().split(":"))
    except ValueError:
        return None
    return sign * (a * 10000 + b * 100 + c)


def _frequencies(path: Path, primary, subint, dat_freq: np.ndarray | None) -> tuple[float, float]:
    """(fch1, foff) MHz of the file's channel order: from DAT_FREQ where it is an even grid, else from
    OBSFREQ (the band centre), CHAN_BW and NCHAN; a warning when the two disagree."""
    nchan, chan_bw = int(subint["NCHAN"]), float(subint["CHAN_BW"])
    centre = _number(primary, "OBSFREQ", _number(subint, "REFFREQ"))
    from_header = (centre - chan_bw * (nchan - 1) / 2, chan_bw)
    if dat_freq is None or len(dat_freq) < nchan:
        if not np.isfinite(centre) or chan_bw == 0:
            raise FilterbankError(f"{path}: neither DAT_FREQ nor OBSFREQ/CHAN_BW give the channel frequencies")
        return from_header
    freqs = np.asarray(dat_freq[:nchan], dtype=np.float64)
    step = float(np.mean(np.diff(freqs))) if nchan > 1 else chan_bw
    if nchan > 1 and np.max(np.abs(np.diff(freqs) - step)) > 0.01 * abs(step):
        raise FilterbankError(
            f"{path}: the channel frequencies (DAT_FREQ) are not evenly spaced; a filterbank needs a uniform band"
        )
    if np.isfinite(centre) and abs(freqs[0] - from_header[0]) > 0.01 * abs(chan_bw):
        log.warning(
            "%s: DAT_FREQ puts channel 0 at %.6f MHz, OBSFREQ/CHAN_BW/NCHAN at %.6f MHz; using DAT_FREQ",
            path,
            freqs[0],
            from_header[0],
        )
    return float(freqs[0]), step


def _intensity_products(path: Path, subint) -> tuple[tuple[int, ...], str]:
    """The polarisation indices summed into the data and a name for them."""
    npol, pol_type = int(_number(subint, "NPOL", 1)), str(subint.get("POL_TYPE", "")).strip().upper()
    if npol == 1:
        return (0,), pol_type or "total intensity"
    products = INTENSITY_PRODUCTS.get(pol_type)
    if products is None or max(products) >= npol:
        log.info("%s: POL_TYPE %r with NPOL = %d: reading the first polarisation", path, pol_type, npol)
        return (0,), f"{pol_type}[0]"
    return products, "+".join(pol_type[2 * i : 2 * i + 2] for i in products) if len(products) > 1 else "I"


@dataclass
class _Layout:
    """What the headers say about a PSRFITS file's search-mode data, read before any sample."""

    primary: dict
    subint: dict
    nbits: int
    nchan: int
    nsblk: int
    npol: int
    tsamp: float
    start: tuple[int, float, float]
    row_dtype: np.dtype
    data_offset: int
    row_bytes: int
    rows: int


def _read_layout(path: Path) -> _Layout:
    from astropy.io import fits

    if not path.exists():
        raise FilterbankError(f"{path}: file not found")
    try:
        hdul = fits.open(path, memmap=True, mode="readonly")
    except (OSError, ValueError) as err:
        raise FilterbankError(f"{path}: not a readable FITS file ({err})") from None
    with hdul, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="File may have been truncated")  # we warn later, with counts
        primary = hdul[0].header
        if str(primary.get("FITSTYPE", "")).strip() != "PSRFITS":
            raise FilterbankError(f"{path}: FITS but not PSRFITS (FITSTYPE = {primary.get('FITSTYPE')!r})")
        if str(primary.get("OBS_MODE", "")).strip() != "SEARCH":
            raise FilterbankError(
                f"{path}: OBS_MODE = {primary.get('OBS_MODE')!r}; only search-mode (SEARCH) PSRFITS holds a filterbank"
            )
        if "SUBINT" not in hdul:
            raise FilterbankError(f"{path}: no SUBINT table")
        table = hdul["SUBINT"]
        subint = table.header
        try:
            nbits, nchan, nsblk = int(subint["NBITS"]), int(subint["NCHAN"]), int(subint["NSBLK"])
            npol, tsamp = int(_number(subint, "NPOL", 1)), float(subint["TBIN"])
            start = (int(primary["STT_IMJD"]), float(primary["STT_SMJD"]), float(primary["STT_OFFS"]))
        except (KeyError, ValueError) as err:
            raise FilterbankError(f"{path}: PSRFITS header lacks or garbles {err}") from None
        # rows as stored on disk (big-endian), read with numpy from the table's offset: a truncated file keeps
        # its whole rows (astropy's own row access refuses the whole table then)
        return _Layout(
            primary=dict(primary),
            subint=dict(subint),
            nbits=nbits,
            nchan=nchan,
            nsblk=nsblk,
            npol=npol,
            tsamp=tsamp,
            start=start,
            row_dtype=table.columns.dtype.newbyteorder(">"),
            data_offset=table.fileinfo()["datLoc"],
            row_bytes=int(subint["NAXIS1"]),
            rows=int(subint["NAXIS2"]),
        )


def _check_layout(path: Path, layout: _Layout) -> None:
    nbits, row_dtype = layout.nbits, layout.row_dtype
    if nbits not in SUPPORTED_NBITS:
        raise FilterbankError(f"{path}: NBITS = {nbits} not supported; expected one of {SUPPORTED_NBITS}")
    if "DATA" not in row_dtype.names or row_dtype.itemsize != layout.row_bytes:
        raise FilterbankError(f"{path}: SUBINT rows of {layout.row_bytes} bytes without a readable DATA column")
    sample_bytes = layout.nsblk * layout.npol * layout.nchan * nbits // 8
    if row_dtype["DATA"].itemsize != sample_bytes:
        raise FilterbankError(
            f"{path}: DATA holds {row_dtype['DATA'].itemsize} bytes per row, but NSBLK x NPOL x NCHAN x NBITS = "
            f"{layout.nsblk} x {layout.npol} x {layout.nchan} x {nbits} bits is {sample_bytes} bytes"
        )
    if layout.tsamp <= 0:
        raise FilterbankError(f"{path}: TBIN = {layout.tsamp} s must be positive")


def _spectra_present(path: Path, layout: _Layout) -> tuple[int, int]:
    """(whole rows, spectra) the file holds; a warning when fewer than the header promises."""
    nsblk, rows = layout.nsblk, layout.rows
    nstot = layout.subint.get("NSTOT")
    expected = int(nstot) if isinstance(nstot, int) and 0 < nstot <= rows * nsblk else rows * nsblk
    whole_rows = min(rows, max(path.stat().st_size - layout.data_offset, 0) // layout.row_bytes)
    found = min(expected, whole_rows * nsblk)
    if found == 0:
        raise FilterbankError(f"{path}: no whole SUBINT row of data ({rows} rows of {layout.row_bytes} bytes expected)")
    if found < expected:
        log.warning(
            "%s: the header promises %d spectra (%d rows of %d) but the file holds %d whole rows, %d spectra; "
            "reading the %d there",
            path,
            expected,
            rows,
            nsblk,
            whole_rows,
            found,
            found,
        )
    return whole_rows, found


def _total_intensity(table_rows, layout: _Layout, products: tuple[int, ...], count: int) -> np.ndarray:
    """(count, nchan) float32: ((stored - ZERO_OFF) x DAT_SCL + DAT_OFFS) summed over `products`, x DAT_WTS."""
    nbits, nsblk, npol, nchan = layout.nbits, layout.nsblk, layout.npol, layout.nchan
    zero_off, signed = _number(layout.subint, "ZERO_OFF", 0.0), bool(_number(layout.subint, "SIGNINT", 0))
    data = np.empty((count, nchan), dtype=np.float32)
    for row in range(-(-count // nsblk)):
        record = table_rows[row]
        raw = np.asarray(record["DATA"]).reshape(-1)
        values = raw if nbits == 8 else unpack_samples(raw, nbits, high_bits_first=True)
        values = values.reshape(nsblk, npol, nchan)
        if signed:  # two's complement of nbits bits
            values = np.where(values >= 1 << (nbits - 1), values.astype(np.int16) - (1 << nbits), values)
        scales = np.asarray(record["DAT_SCL"], dtype=np.float32)[: npol * nchan].reshape(npol, nchan)
        offsets = np.asarray(record["DAT_OFFS"], dtype=np.float32)[: npol * nchan].reshape(npol, nchan)
        weights = np.asarray(record["DAT_WTS"], dtype=np.float32)[:nchan]
        n = min(nsblk, count - row * nsblk)
        block = np.zeros((n, nchan), dtype=np.float32)
        for pol in products:
            block += (values[:n, pol].astype(np.float32) - np.float32(zero_off)) * scales[pol] + offsets[pol]
        data[row * nsblk : row * nsblk + n] = block * weights
    return data


def _sigproc_header(path: Path, layout: _Layout, first_row, found: int) -> dict:
    """The SIGPROC keywords that describe the float32 total intensity read from the file."""
    primary, subint, names = layout.primary, layout.subint, layout.row_dtype.names
    dat_freq = np.asarray(first_row["DAT_FREQ"]) if "DAT_FREQ" in names else None
    fch1, foff = _frequencies(path, primary, subint, dat_freq)
    # the first row's start: OFFS_SUB is the time of a row's centre since the start (0 when not filled in)
    offs_sub = float(first_row["OFFS_SUB"]) if "OFFS_SUB" in names else 0.0
    row_start_s = offs_sub - layout.nsblk * layout.tsamp / 2 if offs_sub > 0 else 0.0
    imjd, smjd, offs = layout.start
    header = {"source_name": str(primary.get("SRC_NAME", "")).strip() or "unknown"}
    telescope = str(primary.get("TELESCOP", "")).strip()
    if telescope.lower() in TELESCOPE_IDS:
        header["telescope_id"] = TELESCOPE_IDS[telescope.lower()]
    for key, card in (("src_raj", "RA"), ("src_dej", "DEC")):
        angle = _sigproc_angle(str(primary.get(card, "")))
        if angle is not None:
            header[key] = angle
    return header | {
        "data_type": 1,
        "fch1": fch1,
        "foff": foff,
        "nchans": layout.nchan,
        "nbits": 32,
        "tstart": imjd + (smjd + offs + row_start_s) / 86400.0,
        "tsamp": layout.tsamp,
        "nifs": 1,
        "nsamples": int(found),
    }


def read_psrfits(path: str | Path, max_samples: int | None = None) -> Filterbank:
    """Read a PSRFITS search-mode file (or its first `max_samples` spectra) into a Filterbank.

    FilterbankError (naming the file) for a file that is not search-mode PSRFITS, an unsupported NBITS, or a
    DATA column that does not hold NSBLK x NPOL x NCHAN samples; a file with fewer whole rows than its
    header (NAXIS2/NSTOT) promises is read as it is, with a warning naming the expected and found spectra.
    """
    path = Path(path)
    layout = _read_layout(path)
    _check_layout(path, layout)
    whole_rows, found = _spectra_present(path, layout)
    count = found if max_samples is None else min(found, max_samples)
    table_rows = np.memmap(path, dtype=layout.row_dtype, mode="r", offset=layout.data_offset, shape=(whole_rows,))
    products, polarisation = _intensity_products(path, layout.subint)
    data = _total_intensity(table_rows, layout, products, count)
    header = _sigproc_header(path, layout, table_rows[0], found)
    del table_rows
    source = {
        "format": "psrfits",
        "nbits": layout.nbits,
        "npol": layout.npol,
        "pol_type": str(layout.subint.get("POL_TYPE", "")).strip(),
        "polarisation": polarisation,
        "nsblk": layout.nsblk,
        "telescope": str(layout.primary.get("TELESCOP", "")).strip(),
    }
    return Filterbank(header=header, data=data, header_bytes=0, source=source)
