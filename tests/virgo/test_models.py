"""GlitchFlow: the network, its loss and schedule, training with checkpoint/resume, the model file."""

import numpy as np
import pytest
import torch

from twins.core.io import InputFileError
from twins.core.model_file import load_model
from twins.virgo.models import MODELS, get_model, glitchflow
from twins.virgo.models.glitchflow import AttentionGate, GlitchFlow, learning_rate, spectrogram_l1


def _train(settings, out, d, tag):
    """glitchflow.train on the chain's TFrames into files tagged `tag`; the model file's path."""
    glitchflow.train(
        out["train"], out["validation"], settings, 42, "cpu", d / f"ck_{tag}.pt", d / f"m_{tag}.pt", d / f"h_{tag}.csv"
    )
    return d / f"m_{tag}.pt"


def test_the_registry_names_glitchflow():
    assert MODELS == {"glitchflow": glitchflow} and get_model("glitchflow") is glitchflow
    with pytest.raises(ValueError, match="unknown virgo model 'unet'"):
        get_model("unet")


def test_glitchflow_shapes_and_attention():
    model = GlitchFlow(n_aux=2, channels=[4, 8, 8], n_fringe=1, n_power=1)
    x = torch.rand(3, 6, 32, 32)
    y = model(x)
    assert y.shape == (3, 32, 32) and torch.all(y >= 0)
    # 3 maps per channel, fringe, log1p(field), fringe x field, frequency coordinate
    assert model.condition(x).shape == (3, 3 * 2 + 1 + 1 + 1 + 1, 32, 32)
    gate = AttentionGate(4, 4, 2)
    skip = torch.rand(1, 4, 8, 8)
    assert gate(skip, torch.zeros(1, 4, 8, 8)).shape == skip.shape
    with pytest.raises(ValueError, match="expects 6 input maps"):
        model(torch.rand(1, 5, 32, 32))


def test_glitchflow_learns_to_map_a_witness_blob_to_the_strain():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = np.zeros((8, 2, 16, 16), np.float32)
    y = np.ones((8, 16, 16), np.float32)
    for i in range(8):
        t = rng.integers(2, 12)
        x[i, 0, 2:4, t : t + 3] = 20.0  # low-frequency witness transient
        y[i, 8:12, t : t + 3] = 5.0  # arch higher up in the strain at the same time
    model = GlitchFlow(1, [8, 16, 16])
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    first = None
    for _ in range(100):
        loss = torch.nn.functional.l1_loss(model(xt), yt)
        first = first or loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first


def test_l1_domains_and_cosine_schedule():
    real, generated = torch.tensor([[1.0, 10.0]]), torch.tensor([[2.0, 9.0]])
    assert spectrogram_l1(generated, real, "amplitude").item() == pytest.approx(1.0)  # |1| and |1| in amplitude
    assert spectrogram_l1(generated, real, "energy").item() == pytest.approx((3 + 19) / 2)  # loud tile counts more
    with pytest.raises(ValueError, match="loss_domain"):
        spectrogram_l1(generated, real, "log")
    rates = [learning_rate(1e-3, i, 10, "cosine") for i in range(10)]
    assert rates[0] == pytest.approx(1e-3) and all(a > b for a, b in zip(rates, rates[1:])) and rates[-1] > 0
    assert learning_rate(1e-3, 7, 10, "constant") == 1e-3


def test_train_resumes_from_checkpoint(chain, train_settings):
    d, out = chain
    # a constant learning rate, so that raising `epochs` may resume (a cosine schedule would restart)
    constant = {**train_settings, "lr_schedule": "constant"}
    _train({**constant, "epochs": 1}, out, d, "resume")
    resumed = load_model(_train(constant, out, d, "resume"), "virgo", "glitchflow", "test").weights["model"]
    (d / "ck_resume.pt").unlink()
    straight = load_model(_train(constant, out, d, "resume"), "virgo", "glitchflow", "test").weights["model"]
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key])


def test_cosine_schedule_does_not_resume_when_epochs_change(chain, train_settings, caplog):
    """The cosine rate of an epoch depends on `epochs`: a checkpoint of a 1-epoch run cannot continue a 2-epoch one."""
    d, out = chain
    cosine = {**train_settings, "lr_schedule": "cosine"}
    _train({**cosine, "epochs": 1}, out, d, "cos")
    with caplog.at_level("INFO", logger="twins.core.training"):
        _train(cosine, out, d, "cos")
    assert "resuming from" not in caplog.text


def test_model_file_is_the_one_safe_format_and_loads_back(chain, train_settings, tmp_path):
    d, out = chain
    path = _train({**train_settings, "epochs": 1}, out, d, "file")
    record = torch.load(path, weights_only=True)  # tensors and plain containers only
    assert record["format"] == "twins-model" and record["twin"] == "virgo" and record["model"] == "glitchflow"
    model, model_file = glitchflow.load(path)
    assert isinstance(model, GlitchFlow) and not model.training
    assert model_file.meta["settings"]["patience"] == 10  # the schema's default, filled in for a library caller
    generated = glitchflow.sample(model, np.zeros((3, model.n_inputs, 64, 64), np.float32), 2, torch.device("cpu"))
    assert generated.shape == (3, 64, 64) and np.all(generated >= 0)
    foreign = tmp_path / "old.pt"
    torch.save({"model": {}, "settings": {"channels": [4, 8]}}, foreign)  # the layout of earlier versions
    with pytest.raises(InputFileError, match="virgo_train"):
        glitchflow.load(foreign)
