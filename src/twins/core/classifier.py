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
from dataclasses import asdict, dataclass

import numpy as np

from twins.core.metrics import feature_pair


@dataclass
class ClassifierSettings:
    """hidden: units per hidden layer; n_layers: hidden layers (LeakyReLU); epochs: passes over the
    training set; batch_size, learning_rate (Adam); train_fraction, validation_fraction: the fixed split
    (the rest is the test set); n_threads: torch CPU threads while training."""

    hidden: int = 128
    n_layers: int = 2
    epochs: int = 40
    batch_size: int = 128
    learning_rate: float = 1.0e-3
    train_fraction: float = 0.6
    validation_fraction: float = 0.2
    n_threads: int = 1

    def __post_init__(self) -> None:
        for name in ("hidden", "n_layers", "epochs", "batch_size", "n_threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"classifier setting '{name}' must be a positive integer; got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"classifier setting 'learning_rate' must be > 0; got {self.learning_rate!r}")
        if not (0 < self.train_fraction < 1 and 0 < self.validation_fraction < 1):
            raise ValueError("classifier settings 'train_fraction' and 'validation_fraction' must lie in (0, 1)")
        if self.train_fraction + self.validation_fraction >= 1:
            raise ValueError(
                f"train_fraction + validation_fraction must be < 1 to leave a test set; got "
                f"{self.train_fraction} + {self.validation_fraction}"
            )


def split_indices(n: int, settings: ClassifierSettings, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """A random permutation of range(n) cut into (train, validation, test) index arrays."""
    order = rng.permutation(n)
    n_train = int(round(settings.train_fraction * n))
    n_val = int(round(settings.validation_fraction * n))
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


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
    from sklearn.isotonic import IsotonicRegression
    from sklearn.metrics import roc_auc_score

    if settings is None:
        settings = ClassifierSettings()
    elif isinstance(settings, dict):
        settings = ClassifierSettings(**settings)
    ref, gen = feature_pair(reference, generated)
    rng = np.random.default_rng(seed)
    n = min(len(ref), len(gen))
    ref = ref[np.sort(rng.choice(len(ref), n, replace=False))] if len(ref) > n else ref
    gen = gen[np.sort(rng.choice(len(gen), n, replace=False))] if len(gen) > n else gen
    splits = [split_indices(n, settings, rng) for _ in range(2)]  # per class: stratified split
    if min(len(part) for parts in splits for part in parts) < 2:
        raise ValueError(
            f"classifier_test needs at least 2 events per class in each of train/validation/test; "
            f"{n} events per class with fractions {settings.train_fraction}/{settings.validation_fraction} are too few"
        )

    def stack(k: int) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([ref[splits[0][k]], gen[splits[1][k]]])
        y = np.concatenate([np.zeros(len(splits[0][k])), np.ones(len(splits[1][k]))])
        return x, y

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = stack(0), stack(1), stack(2)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    tensors = [torch.as_tensor((x - mean) / std, dtype=torch.float32) for x in (x_train, x_val, x_test)]
    t_train, t_val, t_test = tensors
    l_train = torch.as_tensor(y_train, dtype=torch.float32)
    l_val = torch.as_tensor(y_val, dtype=torch.float32)

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(int(settings.n_threads))
    try:
        generator = torch.Generator().manual_seed(int(seed) % (2**63))
        torch_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed)
            layers: list[torch.nn.Module] = []
            width = t_train.shape[1]
            for _ in range(int(settings.n_layers)):
                layers += [torch.nn.Linear(width, int(settings.hidden)), torch.nn.LeakyReLU()]
                width = int(settings.hidden)
            layers.append(torch.nn.Linear(width, 1))
            model = torch.nn.Sequential(*layers)
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
        model.eval()
        with torch.no_grad():
            p_val = torch.sigmoid(model(t_val).squeeze(1)).double().numpy()
            p_test = torch.sigmoid(model(t_test).squeeze(1)).double().numpy()
    finally:
        torch.set_num_threads(previous_threads)

    calibration = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p_val, y_val)
    # isotonic regression cannot resolve probabilities below ~1 / n_validation: floor them there, so a
    # single test event beyond the validation range does not dominate the BCE
    floor = 0.5 / len(y_val)
    p_cal = np.clip(calibration.predict(p_test), floor, 1.0 - floor)
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
