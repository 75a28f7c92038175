"""Neural-network classifier test of a generated sample against a reference, as in the CaloChallenge.

A fully connected network learns to tell reference (label 0) from generated (label 1) events. As in
the CaloChallenge 2022 evaluation (arXiv:2410.21611), the events are split into fixed train,
validation and test sets; the epoch with the lowest validation loss is kept; the network's output is
calibrated with isotonic regression fitted on the validation set; and on the test set we report the
ROC AUC and the Jensen-Shannon divergence estimate JSD = (ln 2 - BCE) / ln 2, where BCE is the
binary cross-entropy of the calibrated probabilities. AUC 0.5 / JSD 0 mean indistinguishable,
AUC 1 / JSD 1 fully separable. On finite samples both scatter around the "no difference" value, and
the JSD is biased low: the isotonic fit on a few hundred validation events adds noise that raises the
test BCE, so indistinguishable samples give JSD slightly below 0 (about -0.1 to 0 for 200-600
validation events). Compare with the floor (simulation vs independent simulation) at the same sizes.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from twins.core.config import resolve_definition
from twins.core.metrics import feature_pair
from twins.core.splits import split_indices


@dataclass
class ClassifierSettings:
    """The network's settings, schema `common.schema.yaml#/$defs/classifier_nn` (a setting left None takes
    the schema's default, and the schema checks every value): hidden: units per hidden layer; n_layers: hidden
    layers (LeakyReLU); epochs: passes over the training set; batch_size, learning_rate (Adam); train_fraction,
    validation_fraction: the fixed split (the rest is the test set); n_threads: torch CPU threads while
    training (what the job was given, not a config key)."""

    hidden: int | None = None
    n_layers: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    train_fraction: float | None = None
    validation_fraction: float | None = None
    n_threads: int = 1

    def __post_init__(self) -> None:
        given = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "n_threads"}
        for name, value in resolve_definition(
            "classifier_nn", {k: v for k, v in given.items() if v is not None}
        ).items():
            setattr(self, name, value)
        if isinstance(self.n_threads, bool) or int(self.n_threads) != self.n_threads or self.n_threads < 1:
            raise ValueError(f"classifier setting 'n_threads' must be a positive integer; got {self.n_threads!r}")

    @property
    def fractions(self) -> dict[str, float]:
        return {
            "train": self.train_fraction,
            "validation": self.validation_fraction,
            "test": 1.0 - self.train_fraction - self.validation_fraction,
        }


def _balanced_parts(ref: np.ndarray, gen: np.ndarray, settings: ClassifierSettings, rng: np.random.Generator):
    """[(x, y)] of train, validation and test: each class subsampled to the smaller one and split on its own."""
    n = min(len(ref), len(gen))
    ref = ref[np.sort(rng.choice(len(ref), n, replace=False))] if len(ref) > n else ref
    gen = gen[np.sort(rng.choice(len(gen), n, replace=False))] if len(gen) > n else gen
    too_few = (
        f"classifier_test needs at least 2 events per class in each of train/validation/test; {n} events per "
        f"class with fractions {settings.train_fraction}/{settings.validation_fraction} are too few"
    )
    try:  # per class: a stratified split
        splits = [split_indices(n, settings.fractions, rng, sort=False) for _ in range(2)]
    except ValueError:
        raise ValueError(too_few) from None
    if min(len(part) for parts in splits for part in parts.values()) < 2:
        raise ValueError(too_few)
    return [
        (
            np.concatenate([ref[splits[0][part]], gen[splits[1][part]]]),
            np.concatenate([np.zeros(len(splits[0][part])), np.ones(len(splits[1][part]))]),
        )
        for part in ("train", "validation", "test")
    ]


def _network(width: int, settings: ClassifierSettings, seed: int):
    """The fully connected classifier, initialised from `seed`, and the generator its shuffling draws from."""
    import torch

    generator = torch.Generator().manual_seed(int(seed) % (2**63))
    torch_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed)
        layers: list[torch.nn.Module] = []
        for _ in range(int(settings.n_layers)):
            layers += [torch.nn.Linear(width, int(settings.hidden)), torch.nn.LeakyReLU()]
            width = int(settings.hidden)
        layers.append(torch.nn.Linear(width, 1))
        return torch.nn.Sequential(*layers), generator


def _fit(train, validation, settings: ClassifierSettings, seed: int):
    """Train on `train` = (inputs, labels) tensors and keep the epoch of lowest validation loss.
    Returns (model in eval mode, best epoch)."""
    import torch

    (t_train, l_train), (t_val, l_val) = train, validation
    model, generator = _network(t_train.shape[1], settings, seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=float(settings.learning_rate))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    best_loss, best_epoch, best_state = math.inf, 0, copy.deepcopy(model.state_dict())
    for epoch in range(1, int(settings.epochs) + 1):
        model.train()
        order = torch.randperm(len(t_train), generator=generator)
        for start in range(0, len(order), int(settings.batch_size)):
            batch = order[start : start + int(settings.batch_size)]
            optimiser.zero_grad()
            loss = loss_fn(model(t_train[batch]).squeeze(1), l_train[batch])
            loss.backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(model(t_val).squeeze(1), l_val))
        if val_loss < best_loss:
            best_loss, best_epoch, best_state = val_loss, epoch, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return model.eval(), best_epoch


def _calibrated(p_val: np.ndarray, y_val: np.ndarray, p_test: np.ndarray) -> np.ndarray:
    """Test probabilities through isotonic regression fitted on the validation set."""
    from sklearn.isotonic import IsotonicRegression

    calibration = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p_val, y_val)
    # isotonic regression cannot resolve probabilities below ~1 / n_validation: floor them there, so a
    # single test event beyond the validation range does not dominate the BCE
    floor = 0.5 / len(y_val)
    return np.clip(calibration.predict(p_test), floor, 1.0 - floor)


def classifier_test(
    reference: np.ndarray,
    generated: np.ndarray,
    seed: int,
    settings: ClassifierSettings | dict | None = None,
) -> dict:
    """Train, calibrate and evaluate a reference-vs-generated classifier; return its test metrics.

    reference: (N_ref, F), generated: (N_gen, F) inputs, one row per event. The larger sample is
    subsampled to the smaller one, so the classes are balanced (the BCE of a coin flip is ln 2). Each
    class is split train/validation/test by the settings' fractions; inputs are standardised with the
    training set's mean and standard deviation. Deterministic for a given seed and thread count.

    Returns {auc, jsd, bce, auc_uncalibrated, best_epoch, n_train, n_validation, n_test, n_features,
    settings}; auc and jsd are computed on the calibrated test-set probabilities.
    """
    import torch
    from sklearn.metrics import roc_auc_score

    if not isinstance(settings, ClassifierSettings):
        settings = ClassifierSettings(**(settings or {}))
    ref, gen = feature_pair(reference, generated)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = _balanced_parts(
        ref, gen, settings, np.random.default_rng(seed)
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    t_train, t_val, t_test = (torch.as_tensor((x - mean) / std, dtype=torch.float32) for x in (x_train, x_val, x_test))
    labels = [torch.as_tensor(y, dtype=torch.float32) for y in (y_train, y_val)]

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(int(settings.n_threads))
    try:
        model, best_epoch = _fit((t_train, labels[0]), (t_val, labels[1]), settings, seed)
        with torch.no_grad():
            p_val = torch.sigmoid(model(t_val).squeeze(1)).double().numpy()
            p_test = torch.sigmoid(model(t_test).squeeze(1)).double().numpy()
    finally:
        torch.set_num_threads(previous_threads)

    p_cal = _calibrated(p_val, y_val, p_test)
    bce = float(-np.mean(y_test * np.log(p_cal) + (1.0 - y_test) * np.log(1.0 - p_cal)))
    return {
        "auc": float(roc_auc_score(y_test, p_cal)),
        "jsd": float((math.log(2.0) - bce) / math.log(2.0)),
        "bce": bce,
        "auc_uncalibrated": float(roc_auc_score(y_test, p_test)),
        "best_epoch": int(best_epoch),
        "n_train": int(len(y_train)),
        "n_validation": int(len(y_val)),
        "n_test": int(len(y_test)),
        "n_features": int(ref.shape[1]),
        "settings": asdict(settings),
    }
