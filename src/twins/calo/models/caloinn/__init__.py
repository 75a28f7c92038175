"""CaloINN: a conditional normalizing flow over calorimeter showers (after Ernst et al., arXiv:2312.09290).

Modules: `preprocessing` (showers <-> flow features), `network` (the flows), `training_data` (a preprocessed
split as tensors), `train` (the training run and the model file), `sample` (showers in GeV from a model
file, timed), `temperature` (the sampling temperature and clip), `distributed_train` (the torchrun worker).

Preprocessing (`CaloINNPreprocessing`), for showers of nx x ny x nz cells in GeV with z the depth layer:
    1. dequantisation: uniform noise in [0, noise_level_gev) is added to every cell, so that empty cells
       become a continuous distribution (the noise stays below the readout threshold, which the inverse
       reapplies, so it never survives generation);
    2. layer energies E_i = sum of the cells of layer i; cells become fractions of their layer, e / E_i;
    3. layer variables u0 = sum_i E_i / E_inc and u_i = E_i / sum_{j>=i} E_j for i = 0 .. nz-2 (the last
       one is 1 by construction and left out);
    4. fractions and u_i (all in [0, 1]) go through logit(alpha + (1 - 2 alpha) v), u0 through log;
    5. every feature is standardised with the mean and spread of the training set.
Before step 1, with axis alignment (`axis_cells_per_tan`, setting `align_to_axis`), every layer is rolled
cyclically along x by round(z_i tan(theta) / cell_size_x) cells, z_i the depth of the layer's centre: a shower
entering at the front face's centre at angle theta in the x-z plane then has its core in the same cells
whatever theta, so the flow learns the shape rather than a theta-dependent position. A cyclic roll is a
permutation of cells, undone exactly by the inverse.
The flow's features are [layer-major cell fractions (nz * nx * ny), log u0, u_0 .. u_{nz-2}]; its context is
the standardised (log E_inc, theta). The inverse undoes each step exactly, renormalising the cell fractions
of each layer to one (the flow does not enforce it) and reapplying the cell threshold.

Flow (`CaloINNFlow`): `blocks` rational-quadratic spline coupling transforms (zuko's
`GeneralCouplingTransform` with `MonotonicRQSTransform`), each with its own fixed random half of the
features as the conditioning half, which plays the role of CaloINN's random permutations; the
standardisation of step 5 plays the role of its ActNorm at the input and, with `actnorm`, a learned
per-feature affine map follows every block as CaloINN's ActNorm layers. Base distribution: standard normal.

Two flows (`TwoFlowCaloINN`, setting `energy_flow`, the default), as in CaloFlow (Krause & Shih,
arXiv:2106.05285): Flow I (`EnergyFlow`, autoregressive splines) models the nz layer variables given the
conditions, so the correlations between layer energies (how deep the shower starts) are learned explicitly;
Flow II, the coupling flow above, models the cell fractions given the conditions and the layer variables.
Both act on the same preprocessed features, so the preprocessing and its exact inverse are shared.

Flow II layer by layer (`LayerwiseShapeFlow`, setting `shape_flow: layerwise`), after L2LFlows (Buss et al.,
arXiv:2302.11594): one coupling flow over a single layer's nx * ny fractions, its weights shared by all nz
layers, conditioned on the conditions, all layer variables and the layer's one-hot index (and, with
`shape_flow_previous_layer`, the previous layer's fractions). With a few thousand training showers the joint
flow over all nz * nx * ny fractions sees one sample per shower of a problem with thousands of dimensions and
learns the transverse shape poorly; the shared flow sees nz samples per shower of a problem nz times smaller.
With `axis_offset_conditions`, the conditions also carry, per layer, the part of the axis' shift that the
integer roll leaves (`CaloINNPreprocessing.axis_offsets`, in [-0.5, 0.5] cells): where the core sits inside its
cell, a sawtooth in theta that a flow given only theta hardly learns; Flow II reads layer i's value with layer i.
Measured on the demo (3000 GFlash showers, 25 epochs; test-set low-level classifier AUC / FPD): joint Flow II
0.98 / 354, layerwise 0.92 / 50, autoregressive over layers 0.88 / 49, with [128, 128] sub-networks 0.84 / 44,
and with the axis offsets 0.69 / 22 (simulation vs simulation 0.48 / 3.3). Sampling with the generated features
clipped to the training range (`CaloINNPreprocessing.clamp_to_training_range`) then gives 0.72 / 7.0: the clip
removes the rare hot cells that set the FPD.
"""
