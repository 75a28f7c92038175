"""The CaloChallenge-style network classifier test on Gaussian samples."""

import math

import numpy as np
import pytest

from twins.core.classifier import ClassifierSettings, classifier_test

FAST = {"epochs": 15, "hidden": 32}


def test_same_distribution_gives_auc_one_half_and_jsd_near_zero():
    rng = np.random.default_rng(0)
    result = classifier_test(rng.normal(size=(1500, 4)), rng.normal(size=(1500, 4)), seed=1, settings=FAST)
    assert result["auc"] == pytest.approx(0.5, abs=0.05)
    # isotonic calibration on a finite validation set adds noise, which can only raise the test BCE:
    # with nothing to learn the JSD scatters slightly below 0
    assert -0.12 < result["jsd"] < 0.03
    assert result["bce"] == pytest.approx(math.log(2.0) * (1 - result["jsd"]))
    assert (result["n_train"], result["n_validation"], result["n_test"]) == (1800, 600, 600)


def test_separated_distributions_give_auc_and_jsd_near_one():
    rng = np.random.default_rng(2)
    result = classifier_test(rng.normal(size=(600, 4)), rng.normal(4.0, 1.0, size=(600, 4)), seed=3, settings=FAST)
    assert result["auc"] > 0.99 and result["jsd"] > 0.9


def test_a_moderate_shift_lies_in_between_and_matches_the_bayes_auc():
    # one feature shifted by d: the optimal classifier's AUC is Phi(d / sqrt(2))
    rng = np.random.default_rng(4)
    ref, gen = rng.normal(size=(2000, 3)), rng.normal(size=(2000, 3))
    gen[:, 0] += 1.0
    result = classifier_test(ref, gen, seed=5, settings=FAST)
    bayes = 0.5 * (1 + math.erf(0.5))
    assert result["auc"] == pytest.approx(bayes, abs=0.04)
    assert 0.05 < result["jsd"] < 0.5
    assert 1 <= result["best_epoch"] <= 15


def test_deterministic_for_a_seed_and_balanced_classes():
    rng = np.random.default_rng(6)
    ref, gen = rng.normal(size=(300, 3)), rng.normal(0.3, 1.0, size=(500, 3))
    first = classifier_test(ref, gen, seed=7, settings=FAST)
    assert classifier_test(ref, gen, seed=7, settings=FAST) == first
    assert first["n_train"] + first["n_validation"] + first["n_test"] == 600  # 300 of each class
    assert classifier_test(ref, gen, seed=8, settings=FAST) != first


def test_bad_settings_and_inputs_raise():
    good = np.zeros((40, 3))
    with pytest.raises(ValueError, match="same F"):
        classifier_test(good, np.zeros((40, 2)), seed=0)
    with pytest.raises(ValueError, match="column"):
        classifier_test(good, np.full((40, 3), np.inf), seed=0)
    with pytest.raises(ValueError, match="too few"):
        classifier_test(good[:5], good[:5], seed=0)
    with pytest.raises(ValueError, match="epochs"):
        ClassifierSettings(epochs=0)
    with pytest.raises(ValueError, match="leave a test set"):
        ClassifierSettings(train_fraction=0.8, validation_fraction=0.2)
    with pytest.raises(TypeError):
        classifier_test(good, good, seed=0, settings={"depth": 3})
