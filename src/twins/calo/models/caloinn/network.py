"""CaloINN's flows: the coupling flow (`CaloINNFlow`), Flow I over the layer variables (`EnergyFlow`), the
layer-wise Flow II (`LayerwiseShapeFlow`), the two-flow model (`TwoFlowCaloINN`) and `build_flow`, which
rebuilds any of them from the recorded architecture.

The schema's defaults (workflow/schemas/calo.schema.yaml, $defs/caloinn) are a small flow (joint Flow II): on the
default 12x12x25 grid (3625 features) with ~2100 training showers, about 16 s per epoch at batch size 128 on two
uncontended CPU cores; generation about 300 showers/s with one flow, fewer with two (Flow I inverts its
autoregressive transforms one layer variable at a time). The demo config trains with batch size 32, a one-cycle
schedule, ActNorm and the layer-wise, autoregressive Flow II with [128, 128] sub-networks and the axis offsets:
about 20 s per epoch on two CPU cores (a little less than the joint Flow II), generation about 190 showers/s (25
sequential layer passes). The published CaloINN is far larger (more blocks, wider sub-networks, more bins, hundreds
of epochs on a GPU). The cost is dominated by the splines (softmax over bins for every transformed feature), so
`bins` and `blocks` set the time more than `hidden_features`.
"""

from __future__ import annotations

from typing import Any

import torch
import zuko
from torch import Tensor

ENERGY_FLOW_ARCHITECTURE_KEYS = (
    "energy_flow",
    "energy_flow_transforms",
    "energy_flow_hidden_features",
    "energy_flow_bins",
)
ARCHITECTURE_KEYS = (
    "blocks",
    "hidden_features",
    "bins",
    "spline_bound",
    "actnorm",
    *ENERGY_FLOW_ARCHITECTURE_KEYS,
    "shape_flow",
    "shape_flow_previous_layer",
    "axis_offset_conditions",
)
SHAPE_FLOWS = ("joint", "layerwise")


class CaloINNFlow(torch.nn.Module):
    """Conditional density over CaloINN features: log_prob(x (N, F), c (N, 2)) -> (N,) nats,
    sample_from_noise(z (N, F), c) -> x (N, F), the flow's inverse applied to base-space points."""

    def __init__(
        self,
        features: int,
        context: int = 2,
        blocks: int = 6,
        hidden_features: list[int] | int = (64,),
        bins: int = 6,
        spline_bound: float = 5.0,
        actnorm: bool = False,
    ) -> None:
        super().__init__()
        if features < 2:
            raise ValueError(f"a coupling flow needs at least 2 features; got {features}")
        hidden = [hidden_features] if isinstance(hidden_features, int) else list(hidden_features)
        self.features = features
        transforms = []
        for b in range(blocks):
            # a fixed random half per block, reproducible whatever the training seed (rebuilt on load)
            order = torch.randperm(features, generator=torch.Generator().manual_seed(7919 + b))
            mask = torch.zeros(features, dtype=torch.bool)
            mask[order[: features // 2]] = True
            transforms.append(
                zuko.flows.GeneralCouplingTransform(
                    features,
                    context,
                    mask=mask,
                    univariate=_bounded_rqs(float(spline_bound)),
                    shapes=[(bins,), (bins,), (bins - 1,)],
                    hidden_features=hidden,
                )
            )
            if actnorm:  # ActNorm: learned shift and log-scale per feature, starting as the identity
                transforms.append(
                    zuko.flows.UnconditionalTransform(
                        zuko.transforms.MonotonicAffineTransform, torch.zeros(features), torch.zeros(features)
                    )
                )
        base = zuko.flows.UnconditionalDistribution(
            zuko.distributions.DiagNormal, torch.zeros(features), torch.ones(features), buffer=True
        )
        self.flow = zuko.flows.Flow(transforms, base)

    def log_prob(self, x: Tensor, c: Tensor) -> Tensor:
        return self.flow(c).log_prob(x)

    def sample_from_noise(self, z: Tensor, c: Tensor) -> Tensor:
        return self.flow(c).transform.inv(z)


class EnergyFlow(torch.nn.Module):
    """Flow I of the two-flow model: the density of the nz standardised layer variables [log u0, logit u_i]
    given the first `context` columns of the standardised conditions, a masked autoregressive rational-quadratic
    spline flow (zuko's NSF), so that every layer variable is modelled given all earlier ones:
    log_prob(x (N, nz), c (N, >= context)) -> (N,) nats, sample_from_noise(z (N, nz), c) -> x (N, nz)."""

    def __init__(
        self,
        layers: int,
        context: int = 2,
        transforms: int = 4,
        hidden_features: list[int] | int = (64, 64),
        bins: int = 8,
    ) -> None:
        super().__init__()
        hidden = [hidden_features] if isinstance(hidden_features, int) else list(hidden_features)
        self.features, self.context = layers, context
        self.flow = zuko.flows.NSF(layers, context, transforms=transforms, bins=bins, hidden_features=hidden)

    # only the first `context` columns: the per-layer axis offsets that may follow are Flow II's (given them,
    # Flow I overfits the demo's few showers: validation loss 0.50 against 0.39 without)
    def log_prob(self, x: Tensor, c: Tensor) -> Tensor:
        return self.flow(c[:, : self.context]).log_prob(x)

    def sample_from_noise(self, z: Tensor, c: Tensor) -> Tensor:
        return self.flow(c[:, : self.context]).transform.inv(z)


class LayerwiseShapeFlow(torch.nn.Module):
    """Flow II as one coupling flow over a single layer's cells, shared by all layers (L2LFlows,
    arXiv:2302.11594): log_prob(x (N, nz * ncell), context (N, C)) -> (N,) nats, the sum over layers;
    sample_from_noise(z (N, nz * ncell), context) -> x (N, nz * ncell).

    x holds the standardised cell fractions layer-major (layer i is x[:, i * ncell : (i + 1) * ncell]); the
    context is the two-flow model's [conditions (2, or 2 + nz with axis offsets), layer variables (nz)]. The
    flow of layer i sees that context, the one-hot of i and, with `previous_layer`, layer i - 1's standardised
    fractions (zeros for the first layer); with `per_layer_context` = k, context columns k .. k + nz - 1 hold
    one value per layer and layer i's flow also sees column k + i on its own.
    p(x | c) = prod_i p(x_i | c, i[, x_{i-1}]) is exact for any parameters, so one pass over all N * nz layer
    samples trains it, and without `previous_layer` one pass also samples it; with it, sampling inverts layer
    by layer (nz passes of N samples)."""

    def __init__(
        self,
        layers: int,
        cells_per_layer: int,
        context: int,
        previous_layer: bool = False,
        per_layer_context: int | None = None,
        **coupling: Any,
    ) -> None:
        super().__init__()
        self.layers, self.cells_per_layer, self.previous_layer = int(layers), int(cells_per_layer), bool(previous_layer)
        self.per_layer_context = per_layer_context
        self.features = self.layers * self.cells_per_layer
        layer_context = context + self.layers + (self.cells_per_layer if self.previous_layer else 0)
        layer_context += 1 if per_layer_context is not None else 0
        self.layer_flow = CaloINNFlow(self.cells_per_layer, context=layer_context, **coupling)
        self.register_buffer("one_hot", torch.eye(self.layers), persistent=False)

    def _contexts(self, context: Tensor, previous: Tensor | None) -> Tensor:
        """(N, nz, layer context) of context (N, C) and previous-layer fractions (N, nz, ncell) or None."""
        n = context.shape[0]
        parts = [context[:, None, :].expand(n, self.layers, -1), self.one_hot[None].expand(n, -1, -1).to(context)]
        if self.per_layer_context is not None:  # layer i's own value, e.g. its axis offset, next to its one-hot
            start = self.per_layer_context
            parts.append(context[:, start : start + self.layers, None])
        if self.previous_layer:
            parts.append(previous)
        return torch.cat(parts, dim=2)

    def log_prob(self, x: Tensor, context: Tensor) -> Tensor:
        n = x.shape[0]
        cells = x.reshape(n, self.layers, self.cells_per_layer)
        previous = torch.cat([torch.zeros_like(cells[:, :1]), cells[:, :-1]], dim=1) if self.previous_layer else None
        ctx = self._contexts(context, previous)
        log_prob = self.layer_flow.log_prob(cells.reshape(n * self.layers, -1), ctx.reshape(n * self.layers, -1))
        return log_prob.reshape(n, self.layers).sum(dim=1)

    def sample_from_noise(self, z: Tensor, context: Tensor) -> Tensor:
        n = z.shape[0]
        z = z.reshape(n, self.layers, self.cells_per_layer)
        if not self.previous_layer:
            ctx = self._contexts(context, None).reshape(n * self.layers, -1)
            return self.layer_flow.sample_from_noise(z.reshape(n * self.layers, -1), ctx).reshape(n, -1)
        ctx = self._contexts(context, torch.zeros_like(z))  # the previous-layer slots are filled as we go
        previous = torch.zeros_like(z[:, 0])
        out = []
        for i in range(self.layers):
            layer_ctx = torch.cat([ctx[:, i, : -self.cells_per_layer], previous], dim=1)
            previous = self.layer_flow.sample_from_noise(z[:, i], layer_ctx)
            out.append(previous)
        return torch.stack(out, dim=1).reshape(n, -1)


class TwoFlowCaloINN(torch.nn.Module):
    """CaloINN as two conditional flows (CaloFlow, arXiv:2106.05285) over the same features as `CaloINNFlow`,
    [cell fractions (F - nz), layer variables (nz)]: p(x | c) = p_I(layers | c) p_II(fractions | c, layers).

    energy_flow: Flow I (`EnergyFlow`); shape_flow: Flow II, a `CaloINNFlow` over all cell fractions or a
    `LayerwiseShapeFlow`, whose context is the conditions followed by the standardised layer variables.
    Trained on the true layer variables; sampling draws the layer variables from Flow I first. The base-space
    vector z (N, F) splits the same way as x."""

    def __init__(self, energy_flow: EnergyFlow, shape_flow: CaloINNFlow | LayerwiseShapeFlow) -> None:
        super().__init__()
        self.energy_flow = energy_flow
        self.shape_flow = shape_flow
        self.cell_features = shape_flow.features
        self.features = shape_flow.features + energy_flow.features

    def split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(cell fractions (N, F - nz), layer variables (N, nz)) of features x (N, F)."""
        return x[:, : self.cell_features], x[:, self.cell_features :]

    @staticmethod
    def shape_context(c: Tensor, layer_variables: Tensor) -> Tensor:
        return torch.cat([c, layer_variables], dim=1)

    def log_prob(self, x: Tensor, c: Tensor) -> Tensor:
        cells, layers = self.split(x)
        return self.energy_flow.log_prob(layers, c) + self.shape_flow.log_prob(cells, self.shape_context(c, layers))

    def sample_from_noise(self, z: Tensor, c: Tensor) -> Tensor:
        z_cells, z_layers = self.split(z)
        layers = self.energy_flow.sample_from_noise(z_layers, c)
        cells = self.shape_flow.sample_from_noise(z_cells, self.shape_context(c, layers))
        return torch.cat([cells, layers], dim=1)


class _bounded_rqs:  # noqa: N801 - a picklable stand-in for functools.partial(MonotonicRQSTransform, bound=...)
    def __init__(self, bound: float) -> None:
        self.bound = bound

    def __call__(self, *params: Tensor) -> zuko.transforms.MonotonicRQSTransform:
        return zuko.transforms.MonotonicRQSTransform(*params, bound=self.bound)

    def __repr__(self) -> str:
        return f"MonotonicRQSTransform(bound={self.bound})"


def build_flow(settings: dict[str, Any], features: int, layers: int | None = None) -> CaloINNFlow | TwoFlowCaloINN:
    """The flow described by (resolved or architecture-only) settings, over `features` CaloINN features of
    which the last `layers` are the layer variables (needed for the two-flow model, `energy_flow`).

    Architectures recorded before `energy_flow` existed have no such key and describe the single flow."""
    offsets = bool(settings.get("axis_offset_conditions", False))  # recorded architectures before it: none
    if offsets and layers is None:
        raise ValueError("axis_offset_conditions needs the number of layers")
    conditions = 2 + (layers if offsets else 0)
    coupling = dict(
        blocks=int(settings["blocks"]),
        hidden_features=settings["hidden_features"],
        bins=int(settings["bins"]),
        spline_bound=float(settings["spline_bound"]),
        actnorm=bool(settings.get("actnorm", False)),  # model files written before the option have none
    )
    if not settings.get("energy_flow", False):
        return CaloINNFlow(features, context=conditions, **coupling)
    if layers is None or not 1 <= layers < features - 1:
        raise ValueError(
            f"the two-flow CaloINN needs the number of layer variables (1 .. {features - 2}); got {layers}"
        )
    shape_kind = settings.get("shape_flow", "joint")  # architectures recorded before the option: joint
    if shape_kind == "layerwise":
        if (features - layers) % layers:
            raise ValueError(f"{features - layers} cell features do not split into {layers} equal layers")
        shape_flow = LayerwiseShapeFlow(
            layers,
            (features - layers) // layers,
            context=conditions + layers,
            previous_layer=bool(settings.get("shape_flow_previous_layer", False)),
            per_layer_context=2 if offsets else None,
            **coupling,
        )
    elif shape_kind == "joint":
        shape_flow = CaloINNFlow(features - layers, context=conditions + layers, **coupling)
    else:
        raise ValueError(f"shape_flow must be one of {list(SHAPE_FLOWS)}; got {shape_kind!r}")
    return TwoFlowCaloINN(
        EnergyFlow(
            layers,
            context=2,
            transforms=int(settings["energy_flow_transforms"]),
            hidden_features=settings["energy_flow_hidden_features"],
            bins=int(settings["energy_flow_bins"]),
        ),
        shape_flow,
    )


def nats_per_feature(log_prob: Tensor, features: int) -> Tensor:
    """The training loss: mean negative log-likelihood divided by the number of features."""
    return -log_prob.mean() / features
