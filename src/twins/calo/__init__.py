"""Fast calorimeter simulation twin: GFlash showers, 3DGAN generator, CaloChallenge validation."""
