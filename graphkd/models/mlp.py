"""The MLP student: the node's own features in, class logits out; no graph needed to serve it."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.inputs import feature_dropout
from graphkd.models.gnn import between_norms, check_sizes

__all__ = ["MLP"]


class MLP(torch.nn.Module):
    """``num_layers`` linear layers with ReLU, dropout and an optional norm between them.

    The argument order of graphkd's GNNs (and of PyG's ``BasicGNN``): ``MLP(1433, 256, 2, 7)`` is 2 layers,
    7 classes. Unlike PyG's ``MLP``, the default ``norm`` is ``None``: students train best without it on
    row-normalised features.

    Args:
        in_channels: features per node. hidden_channels: width of the hidden layers. num_layers: linear
            layers (1 to 8). out_channels: outputs (default: ``hidden_channels``). dropout: after every
            hidden layer. norm: ``"batch_norm"``, ``"layer_norm"`` or ``None``.

    Shapes:
        ``x [num_nodes, in_channels]`` -> ``[num_nodes, out_channels]``.
    """

    kind = "mlp"

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int, out_channels: int | None = None,
                 dropout: float = 0.5, norm: str | None = None):
        super().__init__()
        in_channels, hidden_channels, num_layers, out_channels, dropout = check_sizes(
            in_channels, hidden_channels, num_layers, out_channels, dropout)
        norms = between_norms(num_layers, hidden_channels, norm)  # checked before any layer is built
        self.in_channels, self.hidden_channels, self.out_channels = in_channels, hidden_channels, out_channels
        self.num_layers, self.dropout, self.norm = num_layers, dropout, norm
        widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.lins = torch.nn.ModuleList(torch.nn.Linear(widths[i], widths[i + 1]) for i in range(num_layers))
        self.norms = norms

    def config(self) -> dict:
        return {"kind": self.kind, "in_channels": self.in_channels, "hidden_channels": self.hidden_channels,
                "out_channels": self.out_channels, "num_layers": self.num_layers, "dropout": self.dropout,
                "norm": self.norm}

    def forward(self, x: Tensor, edge_index: Tensor | None = None) -> Tensor:
        """``edge_index`` is accepted and ignored, so MLPs and GNNs share one call signature."""
        h = x
        for lin, norm in zip(self.lins[:-1], self.norms, strict=True):
            h = feature_dropout(F.relu(norm(lin(h))), self.dropout, self.training)
        return self.lins[-1](h)
