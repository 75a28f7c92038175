# virgo twin: placeholder until its rules land.
TWIN_TARGETS["virgo"] = []
