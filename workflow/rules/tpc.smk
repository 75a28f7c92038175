# tpc twin: placeholder until its rules land.
TWIN_TARGETS["tpc"] = []
