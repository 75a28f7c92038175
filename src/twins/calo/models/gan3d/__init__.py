"""The 3DGAN calorimeter generator (after DetectorSim-3DGAN): `network` (generator and discriminator),
`training_data` (a preprocessed split as tensors), `updates` (losses and updates of one batch), `train`
(the training run and the model file) and `sample` (showers in GeV from a model file, timed)."""
