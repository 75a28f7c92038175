"""The FETCH-style candidate classifier (Agarwal et al. 2020): P(pulse) of a single-pulse search candidate from its
frequency-time and DM-time images (twins.pulsar.candidates). Parts: network (two-branch CNN, model file), train
(training, HDF5 layout), thresholds (the validation-chosen threshold), classify (use). Entry points: `train`
(training-set files in, model file out), `load` (model file -> classifier and meta), `predict` (images ->
probabilities), `decide` (probabilities -> bool at the validation-chosen or a given threshold)."""

from twins.pulsar.models.candidate_classifier.classify import decide
from twins.pulsar.models.candidate_classifier.classify import predict_probabilities as predict
from twins.pulsar.models.candidate_classifier.network import MODEL, WRITER
from twins.pulsar.models.candidate_classifier.network import load_classifier as load
from twins.pulsar.models.candidate_classifier.train import train_classifier as train

__all__ = ["MODEL", "WRITER", "decide", "load", "predict", "train"]
