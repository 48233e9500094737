"""Better soft targets from the same teacher: refinement by label propagation (Correct and Smooth).

PyG's ``CorrectAndSmooth`` (Huang et al., 2021) spreads the teacher's residual errors on the training
nodes over the graph, then smooths the corrected predictions with the training labels clamped. It is
**transductive**: it reads the training labels and the graph, so the student still needs no graph at
inference, but its soft targets used the graph and the labels of the training nodes (never those of
validation or test nodes).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn.models import CorrectAndSmooth

from graphkd.errors import GraphkdError

__all__ = ["REFINEMENTS", "correct_and_smooth"]

REFINEMENTS = ("none", "cs")


@torch.no_grad()
def correct_and_smooth(probs: Tensor, data: Data, correction_alpha: float = 0.8, smoothing_alpha: float = 0.8,
                       num_layers: int = 50) -> Tensor:
    """Refine ``probs [num_nodes, C]`` (rows are distributions) with Correct and Smooth on ``data``'s
    graph and training labels; returns distributions (rows renormalised: the propagation does not
    keep row sums at 1)."""
    if probs.shape != (data.num_nodes, int(data.y.max()) + 1):
        expected = (data.num_nodes, int(data.y.max()) + 1)
        raise GraphkdError(f"probabilities must be {list(expected)}, got {list(probs.shape)}")
    cs = CorrectAndSmooth(num_correction_layers=num_layers, correction_alpha=correction_alpha,
                          num_smoothing_layers=num_layers, smoothing_alpha=smoothing_alpha, autoscale=True)
    mask = data.train_mask
    train_error = F.one_hot(data.y[mask], probs.size(1)).to(probs.dtype) - probs[mask]
    # No error to spread (a teacher exactly right on every training node): nothing to correct, and PyG's
    # autoscale would divide 0 by 0.
    refined = cs.correct(probs, data.y[mask], mask, data.edge_index) if train_error.any() else probs
    refined = cs.smooth(refined, data.y[mask], mask, data.edge_index).clamp_min(0)
    return refined / refined.sum(dim=-1, keepdim=True).clamp_min(1e-12)
