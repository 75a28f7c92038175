"""The TPC twin: fast simulation of MPD-like pad-row responses with conditional GANs (Fast4 / Fast6)."""
