"""Physics digital twins of the interTwin project: the library behind the Snakemake workflow."""

__version__ = "0.1.0"
