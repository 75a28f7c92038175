"""Optional full simulation of the same showers with Geant4, through the PyPI package geant4_pybind.

Install with `pip install twins[geant4]` and point the Geant4 data-set environment variables
(G4LEDATA, G4LEVELGAMMADATA, ...) at unpacked data sets of the Geant4 release that geant4_pybind
was built against. `check_geant4_data()` verifies them before geant4_pybind is imported, because
geant4_pybind's own start-up asks on stdin (or, with CI=true, downloads the data sets unasked) when they are
missing; a pipeline step must do neither.

NOT RUN IN THIS REPOSITORY'S TESTS: the test machines have neither geant4_pybind nor the data sets.
The code follows the geant4_pybind examples (B1, B4) and Geant4 11 APIs; treat its first real run
as a validation (compare with the gflash backend's shower-maximum depth and containment).

Geometry: a vacuum world holding one box of the calorimeter material, nx*cx by ny*cy by nz*dz,
front face at z = 0, x = y = 0 on its axis (the frame of CaloGeometry.cell_centres_mm). Energy
deposits are scored per cell by a stepping action at the midpoint of each step. Physics list:
FTFP_BERT (its electromagnetic part is G4EmStandardPhysics, option 0). Primaries are those of
twins.calo.primaries.sample_primaries, started 1 um in front of the calorimeter.

Geant4's run manager is a per-process singleton: call simulate_showers_geant4 once per process
(one workflow chunk per job does exactly that).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from twins.calo.geometry import CaloGeometry
from twins.calo.primaries import sample_primaries
from twins.calo.showers import ShowerSample

# Environment variable -> data set that Geant4 11 reads through it.
GEANT4_DATA_VARIABLES = {
    "G4NEUTRONHPDATA": "G4NDL",
    "G4LEDATA": "G4EMLOW",
    "G4LEVELGAMMADATA": "PhotonEvaporation",
    "G4RADIOACTIVEDATA": "RadioactiveDecay",
    "G4PARTICLEXSDATA": "G4PARTICLEXS",
    "G4PIIDATA": "G4PII",
    "G4REALSURFACEDATA": "RealSurface",
    "G4SAIDXSDATA": "G4SAIDDATA",
    "G4ABLADATA": "G4ABLA",
    "G4INCLDATA": "G4INCL",
    "G4ENSDFSTATEDATA": "G4ENSDFSTATE",
}

# Materials of resources/calo/materials.yaml -> Geant4 NIST material names.
NIST_MATERIALS = {
    "PbWO4": "G4_PbWO4",
    "Pb": "G4_Pb",
    "W": "G4_W",
    "LAr": "G4_lAr",
    "Si": "G4_Si",
}

PARTICLE_NAMES = {11: "e-", -11: "e+", 22: "gamma"}


class Geant4DataError(RuntimeError):
    """The Geant4 data sets are not configured; the message names the variables and the fix."""


def check_geant4_data(environ: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Check that every Geant4 data-set variable is set to an existing, non-empty directory.

    Returns {variable: path}. Raises Geant4DataError naming each missing or invalid variable and
    how to set it. Never prompts and never downloads.
    """
    env = os.environ if environ is None else environ
    found: dict[str, Path] = {}
    missing: list[str] = []
    invalid: list[str] = []
    for var, dataset in GEANT4_DATA_VARIABLES.items():
        value = env.get(var, "").strip()
        if not value:
            missing.append(f"{var} (data set {dataset})")
            continue
        path = Path(value)
        if not path.is_dir() or not any(path.iterdir()):
            invalid.append(f"{var}={value} (not a non-empty directory; expected the unpacked {dataset} data set)")
            continue
        found[var] = path
    if missing or invalid:
        lines = ["Geant4 data sets are not configured, so the geant4 backend cannot run."]
        if missing:
            lines.append("Missing environment variables: " + ", ".join(missing) + ".")
        if invalid:
            lines.append("Invalid environment variables: " + "; ".join(invalid) + ".")
        lines.append(
            "Fix: download the data sets of your Geant4 release (https://geant4.web.cern.ch/download, "
            "'Data files') on a machine with internet access, unpack them, and export each variable, "
            "e.g. `export G4LEDATA=/opt/geant4/data/G4EMLOW8.6.1`; with a Geant4 installation, "
            "`source <geant4-install>/bin/geant4.sh` sets them all. Or use calo.simulate.backend: gflash."
        )
        raise Geant4DataError("\n".join(lines))
    return found


@contextlib.contextmanager
def _no_prompt_no_download() -> Iterator[None]:
    """While importing geant4_pybind: stdin empty (a prompt fails instead of hanging) and CI unset
    (geant4_pybind downloads data sets unasked when CI=true)."""
    saved_stdin, saved_ci = sys.stdin, os.environ.pop("CI", None)
    sys.stdin = io.StringIO("")
    try:
        yield
    finally:
        sys.stdin = saved_stdin
        if saved_ci is not None:
            os.environ["CI"] = saved_ci


def import_geant4() -> Any:
    """Check the data sets, then import and return the geant4_pybind module."""
    check_geant4_data()
    try:
        with _no_prompt_no_download():
            import geant4_pybind as g4
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "calo.simulate.backend: geant4 needs the optional package geant4_pybind; "
            "install it with `pip install 'twins[geant4]'` or use backend: gflash"
        ) from err
    except EOFError as err:  # geant4_pybind asked to download a data set it did not find
        raise Geant4DataError(
            "geant4_pybind wanted to download a Geant4 data set that the variables above do not cover "
            f"(checked: {', '.join(GEANT4_DATA_VARIABLES)}); set the variable it names, e.g. "
            "G4CHANNELINGDATA for Geant4 >= 11.2, or GEANT4_DATA_DIR to the directory holding all data sets"
        ) from err
    return g4


def simulate_showers_geant4(
    geometry: CaloGeometry, settings: Mapping[str, Any], n_events: int, seed: int
) -> ShowerSample:
    """Full Geant4 simulation of n_events showers in `geometry`; same outputs as the gflash backend.

    Primaries come from sample_primaries(settings, n_events, default_rng(seed)); Geant4's engine is
    seeded from the same generator, so a seed fixes the whole sample (single-threaded run manager).
    Visible energy = deposited energy * geometry.sampling_fraction (1 for the homogeneous media the
    NIST table provides). Raises Geant4DataError before importing Geant4 if the data sets are missing.
    """
    if geometry.material.name not in NIST_MATERIALS:
        raise ValueError(
            f"geant4 backend: material {geometry.material.name!r} has no Geant4 NIST equivalent; "
            f"allowed values are {sorted(NIST_MATERIALS)} (effective sampling media are gflash-only)"
        )
    check_geant4_data()  # before sampling anything: fail fast with the clear message
    rng = np.random.default_rng(seed)
    energy, theta, pdg = sample_primaries(settings, n_events, rng)
    g4_seed = int(rng.integers(1, 2**31 - 1))
    g4 = import_geant4()
    cells = _run_geant4(g4, geometry, energy, theta, pdg, g4_seed)
    return ShowerSample(cells * np.float32(geometry.sampling_fraction), energy, theta, pdg)


def _run_geant4(g4: Any, geometry: CaloGeometry, energy, theta, pdg, seed: int) -> np.ndarray:
    """Build the detector, run len(energy) events and return float32 (N, nx, ny, nz) deposits in GeV."""
    cells = np.zeros((len(energy), *geometry.shape), dtype=np.float64)
    g4.G4Random.setTheEngine(g4.MTwistEngine())
    g4.G4Random.setTheSeed(seed)
    run_manager = g4.G4RunManagerFactory.CreateRunManager(g4.G4RunManagerType.Serial)
    detector = _detector_class(g4, geometry)()
    run_manager.SetUserInitialization(detector)
    physics = g4.FTFP_BERT()
    physics.SetVerboseLevel(0)
    run_manager.SetUserInitialization(physics)
    run_manager.SetUserInitialization(_actions_class(g4, geometry, energy, theta, pdg, cells)(detector))
    run_manager.Initialize()
    if len(energy):
        run_manager.BeamOn(len(energy))
    return cells.astype(np.float32)


def _detector_class(g4: Any, geometry: CaloGeometry) -> type:
    """A vacuum world holding one box of the calorimeter material, front face at z = 0 (geant4_pybind classes
    derive from Geant4's, so they are built once g4 is imported)."""
    mm = g4.mm
    size_x, size_y, size_z = (v * mm for v in geometry.size_mm)

    class Detector(g4.G4VUserDetectorConstruction):
        def Construct(self):
            nist = g4.G4NistManager.Instance()
            vacuum = nist.FindOrBuildMaterial("G4_Galactic")
            absorber = nist.FindOrBuildMaterial(NIST_MATERIALS[geometry.material.name])
            half_world = 0.6 * max(size_x, size_y, 2.0 * size_z) + 10 * mm
            world_s = g4.G4Box("World", half_world, half_world, half_world)
            self.world_lv = g4.G4LogicalVolume(world_s, vacuum, "World")
            world_pv = g4.G4PVPlacement(None, g4.G4ThreeVector(), self.world_lv, "World", None, False, 0, True)
            calo_s = g4.G4Box("Calorimeter", size_x / 2, size_y / 2, size_z / 2)
            self.calo_lv = g4.G4LogicalVolume(calo_s, absorber, "Calorimeter")
            # Front face at z = 0: the box centre sits at z = size_z / 2.
            g4.G4PVPlacement(
                None, g4.G4ThreeVector(0, 0, size_z / 2), self.calo_lv, "Calorimeter", self.world_lv, False, 0, True
            )
            return world_pv

    return Detector


def _primaries_class(g4: Any, energy, theta, pdg) -> type:
    """The particle gun: event i fires primary i, 1 um in front of the calorimeter along (sin theta, 0, cos theta)."""
    mm, GeV = g4.mm, g4.GeV

    class Primaries(g4.G4VUserPrimaryGeneratorAction):
        def __init__(self):
            super().__init__()
            self.gun = g4.G4ParticleGun(1)
            self.table = g4.G4ParticleTable.GetParticleTable()

        def GeneratePrimaries(self, event):
            i = event.GetEventID()
            self.gun.SetParticleDefinition(self.table.FindParticle(PARTICLE_NAMES[int(pdg[i])]))
            self.gun.SetParticleEnergy(float(energy[i]) * GeV)
            th = float(theta[i])
            self.gun.SetParticleMomentumDirection(g4.G4ThreeVector(math.sin(th), 0.0, math.cos(th)))
            self.gun.SetParticlePosition(g4.G4ThreeVector(0.0, 0.0, -1e-3 * mm))
            self.gun.GeneratePrimaryVertex(event)

    return Primaries


def _scoring_class(g4: Any, geometry: CaloGeometry, cells: np.ndarray) -> type:
    """The stepping action adding each step's deposit (GeV) to the cell of `cells` (N, nx, ny, nz) holding the
    step's midpoint."""
    mm, GeV = g4.mm, g4.GeV
    nx, ny, nz = geometry.shape

    class Scoring(g4.G4UserSteppingAction):
        def __init__(self, detector):
            super().__init__()
            self.detector = detector
            self.event = 0

        def UserSteppingAction(self, step):
            edep = step.GetTotalEnergyDeposit()
            if edep <= 0:
                return
            pre, post = step.GetPreStepPoint(), step.GetPostStepPoint()
            if pre.GetTouchable().GetVolume().GetLogicalVolume() != self.detector.calo_lv:
                return
            a, b = pre.GetPosition(), post.GetPosition()
            x, y, z = 0.5 * (a.x + b.x) / mm, 0.5 * (a.y + b.y) / mm, 0.5 * (a.z + b.z) / mm
            ix = int(math.floor(x / geometry.cell_size_x_mm + 0.5 * nx))
            iy = int(math.floor(y / geometry.cell_size_y_mm + 0.5 * ny))
            iz = int(math.floor(z / geometry.layer_thickness_mm))
            if 0 <= ix < nx and 0 <= iy < ny and 0 <= iz < nz:
                cells[self.event, ix, iy, iz] += edep / GeV

    return Scoring


def _actions_class(g4: Any, geometry: CaloGeometry, energy, theta, pdg, cells: np.ndarray) -> type:
    """The user actions of one run: the gun, the scoring into `cells` and the event counter it reads."""
    primaries = _primaries_class(g4, energy, theta, pdg)
    scoring_class = _scoring_class(g4, geometry, cells)

    class EventAction(g4.G4UserEventAction):
        def __init__(self, scoring):
            super().__init__()
            self.scoring = scoring

        def BeginOfEventAction(self, event):
            self.scoring.event = event.GetEventID()

    class Actions(g4.G4VUserActionInitialization):
        def __init__(self, detector):
            super().__init__()
            self.detector = detector

        def Build(self):
            scoring = scoring_class(self.detector)
            self.SetUserAction(primaries())
            self.SetUserAction(scoring)
            self.SetUserAction(EventAction(scoring))

    return Actions
