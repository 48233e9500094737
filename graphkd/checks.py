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
    "check_seed",
    "as_float32",
    "check_temperature",
    "describe",
    "to_float32",
]

FLOAT32_MAX = torch.finfo(torch.float32).max
REAL_INTEGERS = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


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


def check_seed(name: str, seed) -> int:
    """``seed`` as a Python int if ``torch.manual_seed`` takes it (an integer from -2**63 to 2**64 - 1, NumPy's
    too): beyond that torch raised ValueError "Overflow when unpacking long long", and for a float RuntimeError."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not -2**63 <= seed < 2**64:
        raise GraphkdError(f"{name} must be an integer from -2**63 to 2**64 - 1 (what torch seeds with), got {seed!r}")
    return int(seed)


def check_finite(name: str, tensor: Tensor) -> Tensor:
    if tensor.is_floating_point() and not torch.isfinite(tensor).all():
        bad = (~torch.isfinite(tensor)).sum().item()
        raise GraphkdError(f"{name} holds {bad} NaN or inf value(s)")
    return tensor


def to_float32(name: str, tensor: Tensor, logits: bool = False) -> Tensor:
    """``tensor`` as float32, the dtype graphkd computes in, checked after the conversion (:func:`check_finite`, or
    :func:`check_logits` with ``logits``): a finite float64 value beyond float32's range is named as such, not as
    a NaN, an inf or the log of a probability of 0 that it only becomes."""
    converted = tensor.float()
    if tensor.dtype == torch.float64:
        overflow = int((torch.isinf(converted) & torch.isfinite(tensor)).sum())
        if overflow:
            raise GraphkdError(f"{name} holds {overflow} finite value(s) beyond float32's range (magnitude above "
                               f"{FLOAT32_MAX:.3g}), which graphkd computes in: rescale them")
    return (check_logits if logits else check_finite)(name, converted)


def as_float32(name: str, values, logits: bool = False) -> Tensor:
    """``values`` (a tensor, a NumPy array or nested lists of real numbers) as a float32 tensor, checked by
    :func:`to_float32` (as logits with ``logits``); anything else is refused by what it is (a SciPy sparse
    matrix, strings, complex numbers)."""
    if hasattr(values, "toarray") and not isinstance(values, Tensor):
        raise GraphkdError(f"{name} must be a dense array, got {describe(values)}: give values.toarray()")
    try:
        tensor = torch.as_tensor(values)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise GraphkdError(f"{name} must be an array of real numbers, got {describe(values)}") from exc
    if tensor.is_complex() or not (tensor.is_floating_point() or tensor.dtype in REAL_INTEGERS):
        raise GraphkdError(f"{name} must be an array of real numbers, got {describe(tensor)}")
    return to_float32(name, tensor, logits)


def describe(value) -> str:
    """What ``value`` is, in a few words for a message: a tensor's dtype and shape, an array's type, dtype and shape,
    else its type (never its repr, which for a matrix is pages long)."""
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    kind = type(value)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__.split('.')[0]}.{kind.__name__}"
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    details = ", ".join(part for part in (f"dtype {dtype}" if dtype is not None else "",
                                          f"shape {tuple(shape)}" if isinstance(shape, tuple) else "") if part)
    return f"a {name}" + (f" ({details})" if details else "")


def check_logits(name: str, logits: Tensor) -> Tensor:
    """:func:`check_finite`, saying what to do about -inf: the log of a probability that is exactly 0."""
    if logits.is_floating_point() and torch.isneginf(logits).any():
        raise GraphkdError(f"{name} holds {int(torch.isneginf(logits).sum())} -inf value(s), the log of a probability "
                           "of 0: clamp the probabilities first, e.g. probs.clamp_min(1e-8).log()")
    return check_finite(name, logits)


def check_mask(name: str, mask: Tensor, num_nodes: int) -> Tensor:
    if mask is None:
        raise GraphkdError(f"{name} is missing: give the graph masks or call graphkd.data.random_split")
    if not isinstance(mask, Tensor):  # a NumPy array's dtype prints as plain "bool"
        raise GraphkdError(f"{name} must be a torch.bool tensor of shape [{num_nodes}], got {describe(mask)}: "
                           "convert it with torch.as_tensor(mask, dtype=torch.bool)")
    if mask.dtype != torch.bool or mask.dim() != 1 or mask.numel() != num_nodes:
        raise GraphkdError(f"{name} must be a bool tensor of shape [{num_nodes}], got {mask.dtype} {tuple(mask.shape)}")
    if not mask.any():
        raise GraphkdError(f"{name} selects no node")
    return mask


def check_edge_index(edge_index: Tensor, num_nodes: int) -> Tensor:
    if edge_index is None:
        raise GraphkdError("edge_index is missing: give the edges as a torch.long tensor [2, num_edges] "
                           "(torch.empty(2, 0, dtype=torch.long) for a graph without edges)")
    if not isinstance(edge_index, Tensor):
        raise GraphkdError(f"edge_index must be a torch.long tensor of shape [2, num_edges], got "
                           f"{describe(edge_index)}: convert it with torch.as_tensor(edge_index, dtype=torch.long)")
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
