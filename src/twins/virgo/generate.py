"""Rule virgo_generate (the seeds' Generate_API): GlitchFlow inference on the test set, de-noising, latency.

De-noising subtracts in the domain GlitchFlow generates, the tile amplitude A = sqrt(E): the generated
glitch is the model's amplitude in excess of its own noise floor (the median generated amplitude of that
spectrogram), G = max(A_gen - median(A_gen), 0), and the de-noised spectrogram is A_res = max(A_real - G, 0),
stored as energy E_res = A_res^2. Subtracting only the excess keeps the noise in the residual, so de-noising
cannot look good merely by lowering the noise floor. Amplitudes rather than energies: a tile holding noise
n and glitch g has |A_real - |g|| <= |n| (triangle inequality), so a well predicted glitch leaves noise-sized
residuals, whereas E_real - |g|^2 keeps the cross term 2 Re(n g*), which grows with the glitch's loudness.
"""

from __future__ import annotations

import logging
import time

import h5py
import numpy as np
import torch

from twins.core.io import atomic_path, set_provenance, write_json
from twins.core.provenance import make_provenance
from twins.core.training import select_device
from twins.virgo.preprocess import SpectrogramSettings, read_asds, read_tframe, segment_qgrams, witness_inputs
from twins.virgo.segments import read_segments
from twins.virgo.train import load_model

log = logging.getLogger(__name__)


def predict(model, inputs: np.ndarray, batch_size: int, device: torch.device) -> np.ndarray:
    """Generated strain amplitude spectrograms (n, F, T) for TFrame inputs (n, 2k, F, T)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            out.append(model(torch.from_numpy(inputs[start : start + batch_size]).to(device)).cpu().numpy())
    return np.concatenate(out) if out else np.empty((0,) + inputs.shape[2:], np.float32)


def denoise(real_energy: np.ndarray, generated_energy: np.ndarray) -> np.ndarray:
    """Residual energy E_res = max(A_real - max(A_gen - median(A_gen), 0), 0)^2 with A = sqrt(E), per
    spectrogram; arrays (n, F, T) of normalised energies in and out."""
    real, generated = np.sqrt(real_energy), np.sqrt(generated_energy)
    floor = np.median(generated, axis=(1, 2), keepdims=True)
    glitch = np.clip(generated - floor, 0.0, None)
    return np.clip(real - glitch, 0.0, None) ** 2


def pipeline_latency(
    model,
    segments,
    strain_asd,
    aux_asds,
    channel_indices,
    fringe_indices,
    spec: SpectrogramSettings,
    indices: np.ndarray,
    device: torch.device,
    batch_size: int = 32,
    power_indices: list[int] = (),
) -> dict:
    """Time the online chain on raw segments: whitening + Q-transform of strain and the selected channels,
    fringe maps, then GlitchFlow inference. Returns seconds of data (the cropped spectrogram span) per
    second of wall time."""
    started = time.perf_counter()
    inputs = []
    for i in indices:
        segment_qgrams(segments.strain_series(i), strain_asd, spec.strain_band, spec)
        inputs.append(witness_inputs(segments, i, channel_indices, fringe_indices, spec, aux_asds, power_indices))
    predict(model, np.stack(inputs), batch_size, device)
    seconds = time.perf_counter() - started
    data_seconds = len(indices) * (segments.duration - 2 * spec.crop)
    return {
        "segments": int(len(indices)),
        "data_seconds": data_seconds,
        "wall_seconds": seconds,
        "real_time_factor": data_seconds / seconds if seconds > 0 else float("inf"),
        "channels": len(channel_indices),
        "threads": torch.get_num_threads(),
    }


def run_generate(
    settings: dict,
    preprocess_settings: dict,
    model_path,
    test_h5,
    segments_h5,
    asd_h5,
    device: str,
    out_h5,
    out_timing,
    threads: int = 1,
) -> None:
    torch.set_num_threads(threads)
    dev = select_device(device)
    model, state = load_model(model_path, dev)
    test = read_tframe(test_h5)
    generated = predict(model, test.inputs, settings["batch_size"], dev)
    real_energy = test.target.astype(np.float64) ** 2
    residual = denoise(real_energy, generated.astype(np.float64) ** 2)

    segments = read_segments(segments_h5)
    strain_asd, aux_asds = read_asds(asd_h5)
    spec = SpectrogramSettings.from_config(preprocess_settings)
    chosen = [segments.aux_names.index(c) for c in test.channels]
    fringe = [segments.aux_names.index(c) for c in test.fringe_channels]
    power = [segments.aux_names.index(c) for c in test.power_channels]
    latency = pipeline_latency(
        model,
        segments,
        strain_asd,
        aux_asds,
        chosen,
        fringe,
        spec,
        test.meta["segment"].to_numpy()[: settings["latency_segments"]],
        dev,
        settings["batch_size"],
        power,
    )
    log.info(
        "latency: %.1f s of data per s (%d segments, %d channels)",
        latency["real_time_factor"],
        latency["segments"],
        latency["channels"],
    )
    record = make_provenance("virgo_generate", settings, inputs=[model_path, test_h5], model=state["provenance"])
    with atomic_path(out_h5) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("real_energy", data=real_energy.astype(np.float32))
            f.create_dataset("generated_energy", data=(generated.astype(np.float64) ** 2).astype(np.float32))
            f.create_dataset("residual_energy", data=residual.astype(np.float32))
            f.create_dataset("inputs", data=test.inputs)
            meta = f.create_group("meta")
            for column in test.meta.columns:
                values = test.meta[column].to_numpy()
                meta.create_dataset(column, data=values.astype("S") if values.dtype == object else values)
            f.attrs.update(
                {
                    "strain_frequencies": test.strain_frequencies,
                    "aux_frequencies": test.aux_frequencies,
                    "time_offsets": test.time_offsets,
                    "channels": ",".join(test.channels),
                }
            )
            set_provenance(f, record)
    write_json(out_timing, {"latency": latency, "device": str(dev)})
