"""The script adapter, the report page and the training-history figure shared by every twin."""

import types

import pandas as pd
import pytest

from twins.core.io import InputFileError
from twins.core.plots import HistoryPanel, plot_history
from twins.core.report import page, table, write_page
from twins.core.steps import run


class Named(dict):
    """Stands in for Snakemake's Namedlist: named items, and a list behind the names."""


def test_run_hands_the_step_plain_files_params_and_threads(tmp_path):
    seen = {}

    def step(inputs, outputs, params, threads):
        seen.update(inputs=inputs, outputs=outputs, params=params, threads=threads)
        print("hello from the step")

    smk = types.SimpleNamespace(
        input=Named(data="a.h5", chunks=["c0.root", "c1.root"]),
        output=Named(model="m.pt"),
        params=Named(settings={"epochs": 2}, seed=3),
        threads=2,
        log=[str(tmp_path / "step.log")],
    )
    run(step, smk)
    assert seen == {
        "inputs": {"data": "a.h5", "chunks": ["c0.root", "c1.root"]},
        "outputs": {"model": "m.pt"},
        "params": {"settings": {"epochs": 2}, "seed": 3},
        "threads": 2,
    }
    assert "hello from the step" in (tmp_path / "step.log").read_text()


def test_page_is_one_document_with_the_house_style(tmp_path):
    frame = pd.DataFrame({"auc": [0.512345, None]}, index=["gan3d", "caloinn"])
    path = write_page(tmp_path / "p.html", "Calo <metrics>", ["<p>text</p>", table(frame)])
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<title>Calo &lt;metrics&gt;</title>" in text
    assert (
        "0.5123" in text and "table.metrics" in text and text == page("Calo <metrics>", ["<p>text</p>", table(frame)])
    )


def test_history_figure_draws_present_columns_and_is_reproducible(tmp_path):
    history = pd.DataFrame(
        {
            "epoch": [0, 1, 2],
            "loss": [3.0, 2.0, 1.5],
            "val_loss": [3.1, 2.2, 1.9],
            "g_mape": [10.0, 5.0, 4.0],
            "g_angle": [0.1, 0.05, 0.04],
        }
    )
    panels = [HistoryPanel(("loss", "val_loss", "absent")), HistoryPanel(("g_*",), "parts", log=True)]
    assert panels[1].present(history) == ["g_angle", "g_mape"]
    a = plot_history(history, tmp_path / "a.png", panels, title="run")
    b = plot_history(history, tmp_path / "b.png", panels, title="run")
    assert a.read_bytes() == b.read_bytes()
    (tmp_path / "h.csv").write_text("")
    with pytest.raises(InputFileError, match="h.csv"):
        plot_history(tmp_path / "h.csv", tmp_path / "c.png", panels)
