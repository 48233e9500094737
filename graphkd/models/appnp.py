"""APPNP, predict then propagate (Klicpera et al., ICLR 2019): a teacher that sees far with few weights.

An MLP turns each node's features into class logits, then ``K`` steps of personalized PageRank spread
them over the graph, restarting with probability ``alpha``. Its receptive field is ``K`` hops (10 by
default) while it has an MLP's parameters and no weights in the propagation: deep in reach without the
over-smoothing and overfitting of a deep stack of graph convolutions, which matters with few labels
(benchmarks/knowledge_table.py tries it beside GCN, GAT and GraphSAGE as each dataset's teacher).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import APPNP as PageRankPropagation

from graphkd.errors import GraphkdError
from graphkd.inputs import feature_dropout
from graphkd.models.gnn import between_norms, check_sizes, positive_int

__all__ = ["APPNP"]


class APPNP(torch.nn.Module):
    """An MLP of ``num_layers`` linear layers (dropout on its input and hidden layers, optional norm
    between them), then ``K`` personalized-PageRank steps with restart probability ``alpha``."""

    kind = "appnp"

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int, out_channels: int | None = None,
                 dropout: float = 0.5, norm: str | None = None, K: int = 10, alpha: float = 0.1):
        super().__init__()
        in_channels, hidden_channels, num_layers, out_channels, dropout = check_sizes(
            in_channels, hidden_channels, num_layers, out_channels, dropout)
        norms = between_norms(num_layers, hidden_channels, norm)
        K = positive_int("K (propagation steps)", K)
        if not 0.0 < alpha <= 1.0:
            raise GraphkdError(f"alpha (restart probability) must be in (0, 1], got {alpha!r}")
        self.in_channels, self.hidden_channels, self.out_channels = in_channels, hidden_channels, out_channels
        self.num_layers, self.dropout, self.norm, self.K, self.alpha = num_layers, dropout, norm, K, alpha
        widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.lins = torch.nn.ModuleList(torch.nn.Linear(widths[i], widths[i + 1]) for i in range(num_layers))
        self.norms = norms
        self.propagation = PageRankPropagation(K, alpha)

    def config(self) -> dict:
        """Constructor arguments, enough to rebuild the model with :func:`graphkd.models.build_model`."""
        return {"kind": self.kind, "in_channels": self.in_channels, "hidden_channels": self.hidden_channels,
                "out_channels": self.out_channels, "num_layers": self.num_layers, "dropout": self.dropout,
                "norm": self.norm, "K": self.K, "alpha": self.alpha}

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        h = feature_dropout(x, self.dropout, self.training)
        for lin, norm in zip(self.lins[:-1], self.norms, strict=True):
            h = feature_dropout(F.relu(norm(lin(h))), self.dropout, self.training)
        return self.propagation(self.lins[-1](h), edge_index)
