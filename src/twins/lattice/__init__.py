"""Lattice field theory twin: HMC reference ensembles, normalizing flows with Metropolis accept/reject,
validation against HMC and exact results (real scalar phi^4 in any d, 2D U(1) gauge theory)."""
