"""Lattice summary: observables with pulls, cost table, acceptance vs L (rule lattice_report)."""

from twins.core.steps import run
from twins.lattice.steps import report

run(report, snakemake)
