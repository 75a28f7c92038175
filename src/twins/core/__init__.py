"""What every twin shares: I/O with provenance, seeding, the training loop, metrics, plots."""
