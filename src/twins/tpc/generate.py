"""tpc_generate: responses of a trained generator at the test set's features, with the throughput."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from twins.core.io import InputFileError, get_provenance
from twins.core.provenance import make_provenance
from twins.core.training import select_device
from twins.tpc.dataset import read_segments_h5, write_segments_h5
from twins.tpc.gan import ResponseGenerator
from twins.tpc.preprocess import inverse_log_transform
from twins.tpc.train import MODEL_FORMAT, variant_columns

log = logging.getLogger(__name__)


def load_generator(model_path: str | Path, device: torch.device) -> tuple[ResponseGenerator, dict[str, Any]]:
    """The generator of a tpc_train model file in eval mode, and the file's record (without weights)."""
    path = Path(model_path)
    if not path.exists():
        raise InputFileError(f"{path}: model file not found; run the tpc_train rule first")
    try:
        record = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise InputFileError(
            f"{path}: cannot be read as a torch model file ({err}); delete it, rerun tpc_train"
        ) from None
    if not isinstance(record, dict) or record.get("format") != MODEL_FORMAT:
        raise InputFileError(f"{path}: not a tpc model file of format {MODEL_FORMAT!r}; rerun tpc_train")
    arch = record["architecture"]
    generator = ResponseGenerator(
        record["shape"], len(record["features"]), arch["latent_size"], arch["generator_hidden"]
    )
    generator.load_state_dict(record["generator_state"])
    return generator.to(device).eval(), {k: v for k, v in record.items() if k != "generator_state"}


@torch.no_grad()
def sample_responses(
    generator: ResponseGenerator,
    conditions: np.ndarray,
    zero_suppression_adc: float,
    batch_size: int,
    seed: int,
    device: torch.device,
) -> tuple[np.ndarray, float]:
    """Responses in ADC (N, pads, buckets) for encoded conditions (N, k); returns (responses, segments/s).

    The rate covers noise, generator, inverse transform and zero suppression, after one untimed warm-up batch."""
    conditions_t = torch.from_numpy(np.ascontiguousarray(conditions, dtype=np.float32))
    noise = torch.randn(len(conditions_t), generator.latent_size, generator=torch.Generator().manual_seed(int(seed)))
    out = np.empty((len(conditions_t), *generator.shape), dtype=np.float32)

    def run(sl: slice) -> np.ndarray:
        x = generator(noise[sl].to(device), conditions_t[sl].to(device)).cpu().numpy()
        adc = inverse_log_transform(x)
        adc[adc < zero_suppression_adc] = 0.0
        return adc

    run(slice(0, batch_size))
    started = time.perf_counter()
    for start in range(0, len(out), batch_size):
        sl = slice(start, start + batch_size)
        out[sl] = run(sl)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    rate = len(out) / max(time.perf_counter() - started, 1e-9)
    return out, rate


def generate_for_test(
    model_path: str | Path,
    test_h5: str | Path,
    settings: dict[str, Any],
    seed: int,
    device: str,
    out_h5: str | Path,
    out_timing: str | Path,
    threads: int = 1,
) -> None:
    from twins.core.io import write_json

    torch.set_num_threads(max(1, int(threads)))
    torch_device = select_device(device)
    generator, record = load_generator(model_path, torch_device)
    test = read_segments_h5(test_h5, ("features", "encoded"))
    conditions = test["encoded"][:, variant_columns(record["variant"])]
    responses, rate = sample_responses(
        generator,
        conditions,
        record["detector"]["zero_suppression_adc"],
        int(settings["batch_size"]),
        seed,
        torch_device,
    )
    provenance = make_provenance(
        "tpc_generate",
        settings,
        seed=seed,
        inputs=[model_path, test_h5],
        variant=record["variant"],
        upstream=get_provenance(test_h5),
    )
    write_segments_h5(out_h5, {"response": responses, "features": test["features"]}, test["detector"], provenance)
    write_json(
        out_timing,
        {
            "variant": record["variant"],
            "segments": len(responses),
            "segments_per_second": rate,
            "device": str(torch_device),
            "threads": torch.get_num_threads(),
        },
    )
    log.info("%s: %d responses at %.4g segments/s on %s", record["variant"], len(responses), rate, torch_device)
