"""Deep GNN teachers (and shallow GNN students): GCN, GraphSAGE, GAT and GAT-sep on torch_geometric layers.

One family: ``GNN`` holds the depth, residuals, normalization and dropout; the subclasses only say
how a layer is built, as in PyG's ``BasicGNN``. Hidden layers of equal width are residual, which
with normalization is what lets 4-8 layer teachers train. ``x`` may be dense or a sparse CSR matrix,
and the graph an ``edge_index`` or a sparse adjacency (see graphkd.inputs).

``pre_norm=True`` builds the layout with which Platonov et al. (ICLR 2023, "A critical look at the
evaluation of GNNs under heterophily") found classic GNNs strong on heterophilous graphs: a linear input
projection, ``num_layers`` pre-norm residual blocks ``h = h + dropout(gelu(conv(norm(h))))`` of hidden
width, and a normalised linear head. Their blocks also run a two-layer feed-forward network after each
aggregation; these run the conv alone. GAT-sep (``GATSep``) keeps separate weights for a node itself
and its neighbours, as GraphSAGE does natively.
"""
from __future__ import annotations

import inspect
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GATConv, GCNConv, SAGEConv
from torch_geometric.utils import remove_self_loops

from graphkd.errors import GraphkdError
from graphkd.inputs import feature_dropout

__all__ = ["GAT", "GCN", "GNN", "GATSep", "GATSepConv", "GraphSAGE"]

NORMS = {"batch_norm": torch.nn.BatchNorm1d, "layer_norm": torch.nn.LayerNorm}


MAX_LAYERS = 8


def positive_int(name: str, value) -> int:
    """``value`` as a Python int if it is an integer >= 1 (NumPy's too; not a bool), else one clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise GraphkdError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_dropout(name: str, value) -> float:
    """``value`` if it is a probability in [0, 1] (a NumPy number as its Python twin), else one clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise GraphkdError(f"{name} must be a number in [0, 1], got {value!r}")
    return value if type(value) in (int, float) else float(value)


def check_sizes(in_channels, hidden_channels, num_layers, out_channels, dropout) -> tuple[int, int, int, int, float]:
    """Every model's shared arguments, checked before any layer is built (torch's own errors for a width of -1,
    a float or a string are RuntimeError and TypeError, and a width of 0 or a dropout of 2 it takes): returns
    ``(in_channels, hidden_channels, num_layers, out_channels, dropout)`` with NumPy numbers as Python's and
    ``out_channels`` defaulting to ``hidden_channels``, as in PyG's BasicGNN."""
    in_channels = positive_int("in_channels", in_channels)
    hidden_channels = positive_int("hidden_channels", hidden_channels)
    out_channels = hidden_channels if out_channels is None else positive_int("out_channels", out_channels)
    if positive_int("num_layers", num_layers) > MAX_LAYERS:
        raise GraphkdError(f"num_layers must be between 1 and {MAX_LAYERS}, got {num_layers!r}")
    return in_channels, hidden_channels, int(num_layers), out_channels, check_dropout("dropout", dropout)


def check_flag(name: str, value) -> bool:
    """``value`` if it is True or False (NumPy's too), else one clear error: ``"no"`` would read as on."""
    if not isinstance(value, (bool, np.bool_)):
        raise GraphkdError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def between_norms(num_layers: int, hidden_channels: int, norm: str | None) -> torch.nn.ModuleList:
    """The normalisations between ``num_layers`` layers (identities when ``norm`` is None), after checking
    the norm's name (the sizes are :func:`check_sizes`'s)."""
    if norm is not None and norm not in NORMS:
        raise GraphkdError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)} or None")
    return torch.nn.ModuleList(NORMS[norm](hidden_channels) if norm else torch.nn.Identity()
                               for _ in range(num_layers - 1))


class GNN(torch.nn.Module):
    """``num_layers`` graph convolutions, PyG's argument order: ``GCN(1433, 64, 2, 7)`` is 2 layers, 7 classes.

    Args:
        in_channels: features per node. hidden_channels: width of the hidden layers.
        num_layers: graph convolutions (1 to 8). out_channels: outputs (default: ``hidden_channels``).
        dropout: on the input and every hidden layer. norm: ``"batch_norm"``, ``"layer_norm"`` or ``None``,
            between layers. residual: add each hidden layer's input where the widths agree.
        pre_norm: the layout of Platonov et al. (module docstring) instead: ``lin_in`` to the hidden width,
            ``num_layers`` blocks ``h = h + dropout(gelu(convs[i](norms[i](h))))`` (without ``residual``:
            ``h = dropout(gelu(...))``), then ``lin_out(norms[num_layers](h))``. Give it ``norm="layer_norm"``
            for their "residual connections with layer norm". The last hidden representation is then the
            output of ``norms[num_layers]`` (named by ``representation``), not of ``convs[num_layers - 2]``.

    Shapes:
        ``x [num_nodes, in_channels]``, ``edge_index [2, num_edges]`` -> ``[num_nodes, out_channels]``.
    """

    kind = "gnn"
    # Whether the layers aggregate by sparse matmul when given a sparse adjacency (GAT needs edges).
    spmm_aggregation = False

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int, out_channels: int | None = None,
                 dropout: float = 0.5, norm: str | None = None, residual: bool = True, pre_norm: bool = False,
                 **conv_kwargs):
        super().__init__()
        in_channels, hidden_channels, num_layers, out_channels, dropout = check_sizes(
            in_channels, hidden_channels, num_layers, out_channels, dropout)
        residual, pre_norm = check_flag("residual", residual), check_flag("pre_norm", pre_norm)
        # checked before any layer is built; pre-norm blocks have one before each conv and one before the head
        norms = between_norms(num_layers + 2 if pre_norm else num_layers, hidden_channels, norm)
        self.in_channels, self.hidden_channels, self.out_channels = in_channels, hidden_channels, out_channels
        self.num_layers, self.dropout, self.norm, self.residual = num_layers, dropout, norm, residual
        self.pre_norm, self.conv_kwargs = pre_norm, conv_kwargs
        # The module whose output is the last hidden representation (graphkd.distill.teachers.default_hidden_layer);
        # None: the second-to-last conv's.
        self.representation = f"norms.{num_layers}" if pre_norm else None
        if pre_norm:
            self.lin_in = torch.nn.Linear(in_channels, hidden_channels)
            widths = [hidden_channels] * (num_layers + 1)
        else:
            widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.convs = torch.nn.ModuleList(
            self.init_conv(widths[i], widths[i + 1], last=i == num_layers - 1 and not pre_norm, **conv_kwargs)
            for i in range(num_layers)
        )
        self.norms = norms
        if pre_norm:
            self.lin_out = torch.nn.Linear(hidden_channels, out_channels)

    def init_conv(self, in_channels: int, out_channels: int, last: bool, **kwargs) -> torch.nn.Module:
        raise NotImplementedError

    def config(self) -> dict:
        """Constructor arguments, enough to rebuild the model with :func:`graphkd.models.build_model`."""
        # pre_norm only away from the class's default: configs of models saved (and teachers cached) before it
        # was added stay as they were
        pre_norm_default = inspect.signature(type(self)).parameters["pre_norm"].default
        return {"kind": self.kind, "in_channels": self.in_channels, "hidden_channels": self.hidden_channels,
                "out_channels": self.out_channels, "num_layers": self.num_layers, "dropout": self.dropout,
                "norm": self.norm, "residual": self.residual,
                **({"pre_norm": self.pre_norm} if self.pre_norm != pre_norm_default else {}), **self.conv_kwargs}

    def layer(self, i: int, h: Tensor, edge_index: Tensor, source_scale: Tensor | None = None) -> Tensor:
        """Layer ``i`` alone: lets callers run the network layer by layer (chunked inference). With ``pre_norm``
        the first layer includes the input projection and the last the head.

        ``source_scale [num_nodes, 1]``: multiplies the conv's input rows (after the block's norm), for a chunk
        whose source nodes have fewer edges than in the whole graph (GCN's degree correction in
        graphkd.large); a row scaled by 1 (a target with all its edges) is computed as without it."""
        if self.pre_norm:
            return self._block(i, h, edge_index, source_scale)
        out = self.convs[i](h if source_scale is None else h * source_scale, edge_index)
        if i == self.num_layers - 1:
            return out
        if self.residual and out.shape == h.shape:
            out = out + h
        out = F.relu(self.norms[i](out))
        return feature_dropout(out, self.dropout, self.training)

    def _block(self, i: int, h: Tensor, edge_index: Tensor, source_scale: Tensor | None) -> Tensor:
        if i == 0:
            h = feature_dropout(F.gelu(self.lin_in(h)), self.dropout, self.training)
        normed = self.norms[i](h)
        if source_scale is not None:
            normed = normed * source_scale
        out = feature_dropout(F.gelu(self.convs[i](normed, edge_index)), self.dropout, self.training)
        h = h + out if self.residual else out
        if i == self.num_layers - 1:
            return self.lin_out(self.norms[self.num_layers](h))
        return h

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        h = feature_dropout(x, self.dropout, self.training)
        for i in range(self.num_layers):
            h = self.layer(i, h, edge_index)
        return h


class GCN(GNN):
    kind = "gcn"
    spmm_aggregation = True

    def init_conv(self, in_channels, out_channels, last, **kwargs):
        return GCNConv(in_channels, out_channels)


class LinearFirstSAGEConv(SAGEConv):
    """PyG's ``SAGEConv`` (mean aggregation) with ``lin_l`` applied before aggregating, not after.

    Mean and matrix product commute, so it is the same function with the same parameters, but the
    edges carry ``out_channels`` values instead of ``in_channels`` (Coauthor CS: 128 instead of 6805),
    and sparse features go straight into a matrix product.
    """

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        if not isinstance(self.lin_l.weight, Tensor):  # an int8-quantized copy: its weight is packed
            return super().forward(x, edge_index)
        h = F.linear(x, self.lin_l.weight)
        out = self.propagate(edge_index, x=(h, h))
        if self.lin_l.bias is not None:
            out = out + self.lin_l.bias
        return out + self.lin_r(x)


class GraphSAGE(GNN):
    kind = "sage"
    spmm_aggregation = True

    def init_conv(self, in_channels, out_channels, last, **kwargs):
        return LinearFirstSAGEConv(in_channels, out_channels)


class GAT(GNN):
    """GAT with ``heads`` attention heads concatenated in hidden layers and one head at the output."""

    kind = "gat"

    def __init__(self, in_channels, hidden_channels, num_layers, out_channels=None, dropout=0.6, norm=None,
                 residual=True, heads: int = 8, pre_norm: bool = False):
        heads = positive_int("heads", heads)
        if positive_int("hidden_channels", hidden_channels) % heads:
            raise GraphkdError(f"{type(self).__name__} hidden_channels ({hidden_channels}) must be divisible by "
                               f"heads ({heads})")
        super().__init__(in_channels, hidden_channels, num_layers, out_channels, dropout, norm, residual, pre_norm,
                         heads=heads)

    def init_conv(self, in_channels, out_channels, last, heads=8):
        if last:
            return GATConv(in_channels, out_channels, heads=1, dropout=self.dropout)
        return GATConv(in_channels, out_channels // heads, heads=heads, dropout=self.dropout)


class GATSepConv(torch.nn.Module):
    """GAT-sep (Platonov et al., 2023): GAT attention over a node's neighbours only, self loops removed from
    the graph and none added, plus a separate linear map of the node's own representation, summed (the same
    as one linear map of both concatenated). A node without neighbours keeps its own term.

    Shapes:
        ``x [num_nodes, in_channels]``, ``edge_index [2, num_edges]`` -> ``[num_nodes, heads * out_channels]``
        (``out_channels`` per head).
    """

    def __init__(self, in_channels: int, out_channels: int, heads: int = 1, dropout: float = 0.0):
        super().__init__()
        self.neighbours = GATConv(in_channels, out_channels, heads=heads, dropout=dropout, add_self_loops=False)
        self.lin_self = torch.nn.Linear(in_channels, heads * out_channels, bias=False)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        if isinstance(edge_index, Tensor) and edge_index.layout == torch.strided:  # an edge list [2, num_edges]
            edge_index, _ = remove_self_loops(edge_index)
        return self.neighbours(x, edge_index) + self.lin_self(x)


class GATSep(GAT):
    """GAT-sep: :class:`GATSepConv` layers, by default in pre-norm residual blocks with layer norm and
    dropout 0.2 (Platonov et al.'s recipe; ``pre_norm=False`` stacks them as the other GNNs are stacked).
    Takes an ``edge_index``, as GAT does."""

    kind = "gatsep"

    def __init__(self, in_channels, hidden_channels, num_layers, out_channels=None, dropout=0.2, norm="layer_norm",
                 residual=True, heads: int = 8, pre_norm: bool = True):
        super().__init__(in_channels, hidden_channels, num_layers, out_channels, dropout, norm, residual, heads,
                         pre_norm)

    def init_conv(self, in_channels, out_channels, last, heads=8):
        if last:
            return GATSepConv(in_channels, out_channels, heads=1, dropout=self.dropout)
        return GATSepConv(in_channels, out_channels // heads, heads=heads, dropout=self.dropout)
