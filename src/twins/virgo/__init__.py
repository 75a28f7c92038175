"""Virgo twin (GlitchFlow): scattered-light glitches in a simulated detector, ANNALISA channel selection,
whitening and constant-Q spectrograms, a U-Net generating the strain glitch from auxiliary channels,
veto and de-noising."""
