"""GRAND, graph random neural network (Feng et al., NeurIPS 2020): a teacher that learns from unlabelled nodes.

In training, DropNode zeroes each node's features with probability ``node_dropout`` (and scales the rest
by ``1 / (1 - node_dropout)``), and mixed-order propagation averages the result over 0 to ``K`` hops,
``mean_k Â^k X`` with ``Â = D^-1/2 (A + I) D^-1/2``; an MLP classifies each node from that. A node whose own
features were dropped must be recognised from its neighbourhood. GRAND trains several such random
augmentations per step and pulls their predictions on every node, labelled or not, toward their sharpened
mean (:func:`graphkd.training.consistency_loss`): with 20 labels per class that is what lifts it above
GCN (on Cora's CPF split, seeds 0-5: 84.0%, where GCN scores 81.3% over 10 seeds).

The first linear layer is applied before propagating, not after: propagation is linear and DropNode scales
whole rows, so it is the same function, but the hops carry ``hidden_channels`` values per node instead of
``in_channels`` (Photo: 64 instead of 745). Unlike GRAND's code there is no dropout on the propagated
input (it would not commute); dropout acts between the MLP's layers.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import coalesce, to_edge_index, to_torch_csr_tensor

from graphkd.errors import GraphkdError
from graphkd.inputs import feature_dropout
from graphkd.models.gnn import between_norms, check_sizes, positive_int

__all__ = ["GRAND", "MixedOrderPropagation", "NormalizedAdjacency", "drop_nodes", "normalized_adjacency"]


def drop_nodes(h: Tensor, p: float) -> Tensor:
    """DropNode: each row of ``h`` zeroed with probability ``p``, the kept rows scaled by ``1 / (1 - p)``."""
    keep = torch.rand(h.size(0), 1, dtype=h.dtype, device=h.device) >= p
    return h * (keep.to(h.dtype) / (1.0 - p))


class NormalizedAdjacency(NamedTuple):
    """``Â = D^-1/2 (A + I) D^-1/2`` as a CSR matrix with a row per target node, and its transpose."""

    matrix: Tensor
    transposed: Tensor


def normalized_adjacency(graph: Tensor, num_nodes: int, dtype: torch.dtype = torch.float32) -> NormalizedAdjacency:
    """GCN's normalisation of ``graph`` (self-loops added, degrees counted at the target), from an
    ``edge_index`` or a sparse adjacency with a row per target (:func:`graphkd.inputs.sparse_adjacency`).
    The graph is its pattern of edges: duplicate edges count once and a sparse adjacency's values are ignored,
    so both forms give the same matrix."""
    edge_index = graph if graph.layout == torch.strided else to_edge_index(graph)[0].flip(0)
    edge_index, weight = gcn_norm(coalesce(edge_index, num_nodes=num_nodes), None, num_nodes, dtype=dtype)
    size = (num_nodes, num_nodes)
    return NormalizedAdjacency(to_torch_csr_tensor(edge_index.flip(0), weight, size),
                               to_torch_csr_tensor(edge_index, weight, size))


class _Propagate(torch.autograd.Function):
    """``matrix @ h`` whose gradient is ``transposed @ grad``: torch's own backward for a CSR product
    transposes the matrix on every call (Photo, width 64: 37 ms forward and backward, against about 8 ms)."""

    @staticmethod
    def forward(ctx, matrix: Tensor, transposed: Tensor, h: Tensor) -> Tensor:
        ctx.transposed = transposed
        return matrix @ h

    @staticmethod
    def backward(ctx, grad: Tensor):
        return None, None, ctx.transposed @ grad


class MixedOrderPropagation(torch.nn.Module):
    """``mean over k = 0..K of Â^k h``; ``graph`` an ``edge_index``, a sparse adjacency, or the
    :class:`NormalizedAdjacency` built from one (once per training run: see :meth:`GRAND.prepare_graph`)."""

    def __init__(self, K: int):
        super().__init__()
        self.K = K

    def forward(self, h: Tensor, graph: Tensor | NormalizedAdjacency) -> Tensor:
        if not isinstance(graph, NormalizedAdjacency) or graph.matrix.dtype != h.dtype:
            graph = normalized_adjacency(graph if isinstance(graph, Tensor) else graph.matrix, h.size(0), h.dtype)
        total = z = h
        for _ in range(self.K):
            z = _Propagate.apply(graph.matrix, graph.transposed, z)
            total = total + z
        return total / (self.K + 1)


class GRAND(torch.nn.Module):
    """DropNode (in training), ``K``-hop mixed-order propagation, then an MLP of ``num_layers`` linear layers
    (the first applied before propagating; dropout and optional norm between them).

    Its hidden representation for the hint and similarity terms is the propagated one, ``propagation``."""

    kind = "grand"
    representation = "propagation"

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int, out_channels: int | None = None,
                 dropout: float = 0.5, norm: str | None = None, K: int = 8, node_dropout: float = 0.5):
        super().__init__()
        in_channels, hidden_channels, num_layers, out_channels, dropout = check_sizes(
            in_channels, hidden_channels, num_layers, out_channels, dropout)
        self.norms = between_norms(num_layers, hidden_channels, norm)
        K = positive_int("K (propagation steps)", K)
        if isinstance(node_dropout, bool) or not isinstance(node_dropout, numbers.Real) or not 0 <= node_dropout < 1:
            raise GraphkdError(f"node_dropout must be a number in [0, 1), got {node_dropout!r}")
        self.in_channels, self.hidden_channels, self.out_channels = in_channels, hidden_channels, out_channels
        self.num_layers, self.norm = num_layers, norm
        self.dropout, self.K, self.node_dropout = float(dropout), K, float(node_dropout)
        widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.lins = torch.nn.ModuleList(torch.nn.Linear(widths[i], widths[i + 1]) for i in range(num_layers))
        self.propagation = MixedOrderPropagation(self.K)

    def config(self) -> dict:
        """Constructor arguments, enough to rebuild the model with :func:`graphkd.models.build_model`."""
        return {"kind": self.kind, "in_channels": self.in_channels, "hidden_channels": self.hidden_channels,
                "out_channels": self.out_channels, "num_layers": self.num_layers, "dropout": self.dropout,
                "norm": self.norm, "K": self.K, "node_dropout": self.node_dropout}

    @staticmethod
    def prepare_graph(edge_index: Tensor, num_nodes: int) -> NormalizedAdjacency:
        """The graph as the propagation uses it, built once per training run by
        :func:`graphkd.inputs.model_inputs` (``model(x, edge_index)`` builds it on every call)."""
        return normalized_adjacency(edge_index, num_nodes)

    def forward(self, x: Tensor, edge_index: Tensor | NormalizedAdjacency) -> Tensor:
        h = F.linear(x, self.lins[0].weight)  # x may be a sparse CSR matrix
        if self.training and self.node_dropout:
            h = drop_nodes(h, self.node_dropout)
        h = self.propagation(h, edge_index) + self.lins[0].bias
        for norm, lin in zip(self.norms, self.lins[1:], strict=True):
            h = lin(feature_dropout(F.relu(norm(h)), self.dropout, self.training))
        return h
