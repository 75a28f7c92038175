"""Fixtures of the TPC tests: the MPD-like detector, a small segment sample, simulated chunks, preprocessed-like
splits and the two variants trained on them."""

import numpy as np
import pytest
import torch

from tests.tpc.tpc_samples import DETECTOR_FILE, SIMULATE, train_files
from twins.tpc import steps
from twins.tpc.detector import load_detector
from twins.tpc.encoding import ENCODED, encode, fit_scales, log_transform, raw_encoding
from twins.tpc.io import write_segments_h5
from twins.tpc.padrow import PadRowSimulator
from twins.tpc.tracks import FEATURES, sample_segments


@pytest.fixture(scope="session")
def detector():
    return load_detector(DETECTOR_FILE)


@pytest.fixture(scope="session")
def segments(detector):
    return sample_segments(400, detector, SIMULATE, np.random.default_rng(3))


@pytest.fixture(scope="module")
def chunks(tmp_path_factory):
    """Two simulated chunks of 150 segments, written by the tpc_simulate step."""
    path = tmp_path_factory.mktemp("tpc")
    settings = {**SIMULATE, "segments": 300, "chunks": 2}
    for chunk in range(2):
        steps.simulate(
            {"detector": str(DETECTOR_FILE)},
            {"segments": str(path / f"chunk_{chunk}.root"), "timing": str(path / f"chunk_{chunk}.json")},
            {"simulate": settings, "seed": 7, "chunk": chunk},
        )
    return path


@pytest.fixture(scope="session")
def splits(tmp_path_factory, detector, segments):
    """train/validation/test files of 200/100/100 simulated segments (the layout of tpc_preprocess)."""
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("tpcsplits")
    responses = PadRowSimulator(detector).simulate(segments, np.random.default_rng(0))
    scales = fit_scales(raw_encoding({k: v[:200] for k, v in segments.items()}, detector))
    files = {}
    for name, sl in (("train", slice(0, 200)), ("validation", slice(200, 300)), ("test", slice(300, 400))):
        part = {k: v[sl] for k, v in segments.items()}
        files[name] = path / f"{name}.h5"
        write_segments_h5(
            files[name],
            {
                "response": responses[sl],
                "features": np.stack([part[k].astype(float) for k in FEATURES], axis=1),
                "log_response": log_transform(responses[sl]),
                "encoded": encode(part, detector, scales),
            },
            detector.to_dict(),
            {"step": "test"},
            columns={"encoded": list(ENCODED)},
            attrs={"scales": scales},
        )
    return path, files


@pytest.fixture(scope="session")
def trained(splits):
    """{variant: the tpc_train step's outputs} of fast6 and fast4, two epochs each on the splits."""
    path, files = splits
    outputs = {}
    for variant in ("fast6", "fast4"):
        inputs, outputs[variant], params = train_files(path, variant, files)
        steps.train(inputs, outputs[variant], params)
    return outputs
