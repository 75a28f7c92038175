"""ROOT -> HDF5: stream the simulation chunks into one chunked, compressed HDF5 file."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twins.calo.hdf5io import ShowerHDF5Writer
from twins.calo.rootio import iterate_root_showers, read_root_metadata
from twins.core.io import InputFileError
from twins.core.provenance import make_provenance

log = logging.getLogger(__name__)


def convert_showers(root_files: Sequence[str | Path], out_h5: str | Path, settings: dict[str, Any]) -> int:
    """The calo_convert step: our simulator's chunks, or external Geant4 files through their mapping.

    settings: the calo.convert slice; `source` chooses the path, `external` holds the mapping (with `files`).
    """
    if settings.get("source", "simulation") == "external":
        from twins.calo.external import import_external_root

        mapping = {k: v for k, v in settings["external"].items() if k != "files"}
        return import_external_root(root_files, mapping, out_h5, settings)
    return convert_root_to_hdf5(root_files, out_h5, settings)


def convert_root_to_hdf5(root_files: Sequence[str | Path], out_h5: str | Path, settings: dict[str, Any]) -> int:
    """Merge the ROOT chunk files into `out_h5`; return the number of showers.

    settings (config slice calo.convert): step_size — showers read per step (bounds peak memory);
    chunk_showers — HDF5 chunk length along the shower axis.
    """
    if not root_files:
        raise ValueError("calo_convert got no ROOT files; check calo.simulate.chunks >= 1")
    step_size = int(settings.get("step_size", 500))
    metadata = [read_root_metadata(p) for p in root_files]  # validates every file before writing anything
    geometry = metadata[0]["geometry"]
    for path, meta in zip(root_files[1:], metadata[1:]):
        if meta["geometry"] != geometry:
            raise InputFileError(
                f"{path}: geometry differs from {root_files[0]}; all chunks must come from one simulation"
            )
    shape = (geometry["nx"], geometry["ny"], geometry["nz"])
    writer = ShowerHDF5Writer(out_h5, shape, chunk_showers=int(settings.get("chunk_showers", 128)))
    try:
        for path in root_files:
            for sample in iterate_root_showers(path, step_size):
                if sample.cells.shape[1:] != shape:
                    raise InputFileError(f"{path}: cells have shape {sample.cells.shape[1:]}, geometry says {shape}")
                writer.append(sample)
    except BaseException:
        writer.abort()
        raise
    n = writer.n
    writer.close(
        geometry,
        make_provenance(
            "calo_convert",
            settings,
            inputs=root_files,
            upstream=[m["provenance"] for m in metadata],
        ),
    )
    log.info("wrote %d showers from %d ROOT files to %s", n, len(root_files), out_h5)
    return n
