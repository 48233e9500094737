"""The MLP student: the node's own features in, class logits out; no graph needed to serve it."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.errors import GraphkdError
from graphkd.inputs import feature_dropout

__all__ = ["MLP"]


class MLP(torch.nn.Module):
    """``num_layers`` linear layers with ReLU, dropout and optional batch norm between them."""

    kind = "mlp"

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, num_layers: int = 2,
                 dropout: float = 0.5, batch_norm: bool = False):
        super().__init__()
        if num_layers < 1:
            raise GraphkdError(f"num_layers must be >= 1, got {num_layers}")
        self.in_channels, self.hidden_channels, self.out_channels = in_channels, hidden_channels, out_channels
        self.num_layers, self.dropout, self.batch_norm = num_layers, dropout, batch_norm
        widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.lins = torch.nn.ModuleList(torch.nn.Linear(widths[i], widths[i + 1]) for i in range(num_layers))
        self.norms = torch.nn.ModuleList(
            torch.nn.BatchNorm1d(hidden_channels) if batch_norm else torch.nn.Identity()
            for _ in range(num_layers - 1)
        )

    def config(self) -> dict:
        return {"kind": self.kind, "in_channels": self.in_channels, "hidden_channels": self.hidden_channels,
                "out_channels": self.out_channels, "num_layers": self.num_layers, "dropout": self.dropout,
                "batch_norm": self.batch_norm}

    def forward(self, x: Tensor, edge_index: Tensor | None = None) -> Tensor:
        """``edge_index`` is accepted and ignored, so MLPs and GNNs share one call signature."""
        h = x
        for lin, norm in zip(self.lins[:-1], self.norms, strict=True):
            h = feature_dropout(F.relu(norm(lin(h))), self.dropout, self.training)
        return self.lins[-1](h)
