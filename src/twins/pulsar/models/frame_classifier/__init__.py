"""PulsarRFI_NN, the multi-label frame classifier with a dedispersion branch: network (network, dedispersion),
training (train, thresholds) and use (classify). Entry points: `train` (files in, model file out),
`load` (model file -> classifier and meta), `predict` (frames -> probabilities),
`decision_thresholds` and `decide_labels` (probabilities -> labels)."""

from twins.pulsar.models.frame_classifier.classify import decide_labels, decision_thresholds
from twins.pulsar.models.frame_classifier.classify import predict_probabilities as predict
from twins.pulsar.models.frame_classifier.network import MODEL, WRITER
from twins.pulsar.models.frame_classifier.network import load_classifier as load
from twins.pulsar.models.frame_classifier.train import train_classifier as train

__all__ = ["MODEL", "WRITER", "decide_labels", "decision_thresholds", "load", "predict", "train"]
