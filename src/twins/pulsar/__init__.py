"""ML-PPA pulsar twin: PulsarDT / PulsarRFI_Gen simulation, SIGPROC filterbank I/O, frame classifier.

Frame label convention everywhere: a multi-hot vector over `CLASSES` (pulse, narrow-band RFI,
broad-band RFI); all zeros is the class "none".
"""

CLASSES = ("pulse", "nb_rfi", "bb_rfi")
