"""Node splits: the CPF/GLNN random split and the largest connected component it is drawn on."""
from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import LargestConnectedComponents

from graphkd.checks import check_seed
from graphkd.errors import GraphkdError

__all__ = ["largest_connected_component", "random_split"]


def largest_connected_component(data: Data) -> Data:
    """The subgraph induced by the largest (weakly) connected component, node order kept."""
    return LargestConnectedComponents(num_components=1, connection="weak")(data)


def random_split(data: Data, seed: int, train_per_class: int = 20, val_per_class: int = 30) -> Data:
    """Seeded CPF/GLNN split: ``train_per_class`` and ``val_per_class`` nodes per class, the rest test.

    Works on any ``Data`` with integer labels ``y``; nodes labelled -1 (unlabelled) are in no split. Returns a
    copy (``data.clone()``) with fresh masks.
    Classes too small for the request raise, instead of giving a silently unbalanced split.
    """
    if data.y is None or data.y.dim() != 1:
        raise GraphkdError("random_split draws nodes per class and needs integer node labels data.y of shape "
                           "[num_nodes]; a multi-label graph ([num_nodes, num_labels]) has no classes to draw from: "
                           "give it train/val/test masks")
    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    num_nodes = data.num_nodes
    train_mask = torch.zeros(num_nodes, dtype=torch.bool)
    val_mask = torch.zeros(num_nodes, dtype=torch.bool)
    for cls in torch.unique(data.y[data.y >= 0]).tolist():
        nodes = (data.y == cls).nonzero().view(-1)
        if nodes.numel() < train_per_class + val_per_class:
            raise GraphkdError(
                f"class {cls} has {nodes.numel()} nodes, fewer than "
                f"train_per_class + val_per_class = {train_per_class + val_per_class}"
            )
        nodes = nodes[torch.randperm(nodes.numel(), generator=generator)]
        train_mask[nodes[:train_per_class]] = True
        val_mask[nodes[train_per_class:train_per_class + val_per_class]] = True
    out = data.clone()
    out.train_mask, out.val_mask = train_mask, val_mask
    out.test_mask = ~(train_mask | val_mask) & (data.y >= 0)
    return out
