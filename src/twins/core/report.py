"""The HTML page every twin's report table is written as: one look (CSS), tables from pandas, atomic writes.

Snakemake's report embeds each page; opened on its own, a page is a complete HTML document.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from twins.core.io import atomic_path

CSS = (
    "body{font-family:sans-serif;font-size:14px;max-width:70em;margin:1em auto;padding:0 1em;color:#222}"
    "h2,h3{font-weight:600}"
    "table.metrics{border-collapse:collapse;font-size:13px;margin:0.5em 0 1.5em}"
    "table.metrics td,table.metrics th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}"
    "table.metrics th{background:#f4f4f4}"
    "pre{font-size:12px;background:#f8f8f8;padding:0.5em;overflow-x:auto}"
)


def escape(text: str) -> str:
    """Text safe to place inside the page."""
    return html.escape(str(text))


def table(frame: pd.DataFrame, digits: int = 4, index: bool = True) -> str:
    """A DataFrame as an HTML table in the house style: numbers to `digits` significant digits, blanks for NaN."""
    return frame.to_html(
        float_format=lambda v: f"{v:.{digits}g}", border=0, classes="metrics", na_rep="", index=index, escape=True
    )


def page(title: str, sections: Iterable[str]) -> str:
    """A complete HTML document: the title as heading, then the sections (HTML fragments) in order."""
    body = "".join(sections)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h2>{escape(title)}</h2>{body}</body></html>\n"
    )


def write_page(path: str | Path, title: str, sections: Iterable[str]) -> Path:
    """Write `page(title, sections)` to `path` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(page(title, sections), encoding="utf-8")
    return path


def write_csv(path: str | Path, frame: pd.DataFrame, index: bool = True, float_format: str | None = "%.6g") -> Path:
    """Write a table as CSV atomically (the machine-readable twin of a page's table)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=index, float_format=float_format)
    return path
