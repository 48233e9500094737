"""NumPy helpers that the torch-free serving path (graphkd.serve.predictor) and the torch code share.

Nothing here imports torch: a tensor is recognised by its methods. Node ids arrive as lists, arrays or
tensors; the position features of a node that was not in the training graph follow NOSMOG's rule, the
mean of its neighbours' rows (graphkd.distill.positions.new_node_positions applies it to tensors).
"""
from __future__ import annotations

import numpy as np

from graphkd.errors import GraphkdError

__all__ = ["as_node_ids", "from_torch", "mean_of_neighbour_rows", "mean_rows"]


def from_torch(values):
    """A torch tensor (sparse, or needing grad) as a dense NumPy array, without importing torch; else ``values``."""
    if not hasattr(values, "detach"):
        return values
    values = values.detach()
    return (values if str(values.layout) == "torch.strided" else values.to_dense()).cpu().numpy()


def as_node_ids(values, what: str) -> np.ndarray:
    """``values`` as a 1-D int64 array of node ids; a bool mask, fractions or a nested list are refused
    (a mask's 0/1 values would silently read as the ids 0 and 1)."""
    ids = np.asarray(from_torch(values))
    if ids.size == 0:
        return np.zeros(0, np.int64)
    if ids.dtype == bool or ids.ndim != 1 or ids.dtype.kind not in "iuf" or (
            ids.dtype.kind == "f" and not np.array_equal(ids, np.round(ids))):
        raise GraphkdError(f"{what} must be a 1-D list of integer node ids, got {ids.dtype} of shape {list(ids.shape)}")
    return ids.astype(np.int64)


def mean_of_neighbour_rows(table, neighbours) -> np.ndarray:
    """Position features of a node that was not in the training graph: the mean of its ``neighbours``'
    rows of ``table`` ``[num_nodes, P]`` (ids in the training graph), zeros when it has none (NOSMOG's rule)."""
    table = np.asarray(table)
    if table.ndim != 2:
        raise GraphkdError(f"a position table is [num_nodes, P], got shape {list(table.shape)}")
    ids = as_node_ids(neighbours, "neighbours")
    if ids.size and (ids.min() < 0 or ids.max() >= table.shape[0]):
        raise GraphkdError(f"neighbour ids must lie in [0, {table.shape[0]}) (nodes of the training graph)")
    return mean_rows(table, ids)


def mean_rows(table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The mean of ``table``'s (checked) ``rows``; zeros for a node with no neighbours."""
    return table[rows].mean(axis=0) if rows.size else np.zeros(table.shape[1], table.dtype)
