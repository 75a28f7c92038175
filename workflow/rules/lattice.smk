# lattice twin: placeholder until its rules land.
TWIN_TARGETS["lattice"] = []
