"""Input validation shared by every entry point: one clear error instead of a silent wrong answer."""
from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

from graphkd.errors import GraphkdError

__all__ = [
    "check_alpha",
    "check_choice",
    "check_edge_index",
    "check_finite",
    "check_logits",
    "check_mask",
    "check_temperature",
]


def check_choice(kind: str, value: str, valid) -> str:
    """Return ``value`` if it is one of ``valid`` (case-insensitive), else list the valid names."""
    lookup = {str(v).lower(): v for v in valid}
    key = str(value).lower()
    if key not in lookup:
        raise GraphkdError(f"unknown {kind} {value!r}; valid: {', '.join(map(str, valid))}")
    return lookup[key]


def check_temperature(temperature: float) -> float:
    if not (isinstance(temperature, numbers.Real) and math.isfinite(temperature) and temperature > 0):
        raise GraphkdError(f"temperature must be a finite number > 0, got {temperature!r}")
    return float(temperature)


def check_alpha(alpha: float) -> float:
    if not (isinstance(alpha, numbers.Real) and 0.0 <= alpha <= 1.0):
        raise GraphkdError(f"alpha must lie in [0, 1], got {alpha!r}")
    return float(alpha)


def check_finite(name: str, tensor: Tensor) -> Tensor:
    if tensor.is_floating_point() and not torch.isfinite(tensor).all():
        bad = (~torch.isfinite(tensor)).sum().item()
        raise GraphkdError(f"{name} holds {bad} NaN or inf value(s)")
    return tensor


def check_logits(name: str, logits: Tensor) -> Tensor:
    """:func:`check_finite`, saying what to do about -inf: the log of a probability that is exactly 0."""
    if logits.is_floating_point() and torch.isneginf(logits).any():
        raise GraphkdError(f"{name} holds {int(torch.isneginf(logits).sum())} -inf value(s), the log of a probability "
                           "of 0: clamp the probabilities first, e.g. probs.clamp_min(1e-8).log()")
    return check_finite(name, logits)


def check_mask(name: str, mask: Tensor, num_nodes: int) -> Tensor:
    if mask is None:
        raise GraphkdError(f"{name} is missing: give the graph masks or call graphkd.data.random_split")
    if mask.dtype != torch.bool or mask.dim() != 1 or mask.numel() != num_nodes:
        raise GraphkdError(f"{name} must be a bool tensor of shape [{num_nodes}], got {mask.dtype} {tuple(mask.shape)}")
    if not mask.any():
        raise GraphkdError(f"{name} selects no node")
    return mask


def check_edge_index(edge_index: Tensor, num_nodes: int) -> Tensor:
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise GraphkdError(f"edge_index must have shape [2, num_edges], got {tuple(edge_index.shape)}")
    if edge_index.dtype != torch.long:
        raise GraphkdError(f"edge_index must be torch.long, got {edge_index.dtype}")
    if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
        raise GraphkdError(
            f"edge_index refers to nodes outside [0, {num_nodes}): "
            f"min {edge_index.min().item()}, max {edge_index.max().item()}"
        )
    return edge_index
