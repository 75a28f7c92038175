"""Constants shared by the TPC tests (a uniquely named module: other test folders have a conftest too)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DETECTOR_FILE = REPO / "resources" / "tpc" / "mpd_padrow.yaml"
SIMULATE = {
    "particle": "pion",
    "pt_gev": {"min": 0.15, "max": 2.0},
    "eta_max": 1.0,
    "vertex": {"sigma_xy_cm": 0.1, "sigma_z_cm": 25.0},
    "max_crossing_angle_deg": 60.0,
}
TRAIN = {
    "epochs": 2,
    "batch_size": 16,
    "latent_size": 4,
    "generator_hidden": [16],
    "critic_hidden": [16],
    "n_critic": 2,
    "gp_lambda": 10.0,
    "lr_generator": 1e-3,
    "lr_critic": 1e-3,
}


def train_files(path: Path, variant: str, splits: dict[str, Path], epochs: int = 2, name: str | None = None):
    """(inputs, outputs, params) of the tpc_train step for `variant` on the `splits` files, written under `path`
    with the prefix `name` (default: the variant); the checkpoint beside them."""
    name = name or variant
    inputs = {"train": str(splits["train"]), "validation": str(splits["validation"])}
    suffixes = {"model": "pt", "history": "csv", "losses": "png"}
    outputs = {k: str(path / f"{name}_{k}.{ext}") for k, ext in suffixes.items()}
    params = {
        "train": {**TRAIN, "epochs": epochs},
        "seed": 3,
        "device": "cpu",
        "variant": variant,
        "checkpoint": str(path / f"{name}_checkpoint.pt"),
    }
    return inputs, outputs, params
