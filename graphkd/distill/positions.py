"""Position features for MLP students (NOSMOG): structural node embeddings appended to the features.

An MLP sees only a node's own features, so two nodes with equal features but far apart in the graph
look the same to it. Spectral embeddings, the leading eigenvectors of the normalised adjacency
``D^-1/2 A D^-1/2`` (equivalently the smallest of the normalised Laplacian), place nodes that are close
in the graph close together. They are computed once for the training graph with scipy (PyG's
``Node2Vec`` needs torch-cluster or pyg-lib, which do not install here). On a graph of several connected
components the leading eigenvalue 1 repeats once per component, and any rotation of those component
indicators is an equally valid answer; so each component gets its own leading eigenvectors instead.

A node that was not in the training graph has no row in that table. It gets the mean of its
neighbours' position features (NOSMOG's rule), so **serving such a node needs its neighbour ids at
arrival** (one lookup, not a multi-hop fetch); a node that arrives with no edge gets zeros.
:data:`NEW_NODE_RULE` says so in every exported student's metadata.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import eigsh
from torch import Tensor

from graphkd.arrays import mean_of_neighbour_rows
from graphkd.checks import check_edge_index
from graphkd.errors import GraphkdError

__all__ = ["NEW_NODE_RULE", "new_node_positions", "spectral_positions"]

NEW_NODE_RULE = ("a node not in the training graph gets the mean of its neighbours' position features "
                 "(needs its neighbour ids at arrival); a node with no neighbour gets zeros")


def spectral_positions(edge_index: Tensor, num_nodes: int, dim: int, seed: int = 0) -> Tensor:
    """``[num_nodes, dim]`` float32: the ``dim`` leading eigenvectors of ``D^-1/2 A D^-1/2`` (the graph
    made symmetric), each scaled to unit root-mean-square so that they sit on the scale of a learned
    layer's inputs whatever the graph's size. On a graph of several connected components, each component
    of more than ``dim + 1`` nodes has its own leading eigenvectors in these columns; the nodes of smaller
    components, like isolated nodes, get zeros. Deterministic: the Lanczos start vector comes from
    ``seed``, and each vector's sign makes its first clearly non-zero entry positive (per component)."""
    check_edge_index(edge_index, num_nodes)
    if not 1 <= dim < num_nodes - 1:
        raise GraphkdError(f"position feature dimension must lie in [1, {num_nodes - 2}] for {num_nodes} nodes, "
                           f"got {dim}")
    if edge_index.numel() == 0:
        raise GraphkdError("position features describe where a node sits among its neighbours: the graph has no edge")
    row, col = edge_index.numpy()
    adjacency = sp.coo_matrix((np.ones(row.size), (row, col)), shape=(num_nodes, num_nodes)).tocsr()
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    scale = np.divide(1.0, np.sqrt(degree), out=np.zeros_like(degree), where=degree > 0)
    normalised = (sp.diags(scale) @ adjacency @ sp.diags(scale)).tocsr()
    _, component = connected_components(adjacency, directed=False)
    sizes = np.bincount(component)
    parts = [c for c in np.flatnonzero(sizes > 1) if sizes[c] > dim + 1]  # isolated nodes are components of 1
    if not parts:
        raise GraphkdError(f"position features of dimension {dim} need a connected component of more than {dim + 1} "
                           f"nodes; the largest has {sizes.max()}")
    vectors = np.zeros((num_nodes, dim))
    if len(parts) == 1 and sizes[parts[0]] == num_nodes:  # connected
        vectors = _leading_eigenvectors(normalised, dim, seed)
    else:  # an isolated node's zero row adds eigenvalue 0, whose eigenvectors could rest on it: leave it out
        for c in parts:
            nodes = np.flatnonzero(component == c)
            vectors[nodes] = _leading_eigenvectors(normalised[nodes][:, nodes], dim, seed)
    vectors = vectors / np.sqrt((vectors**2).mean(axis=0, keepdims=True)).clip(min=1e-12)
    return torch.from_numpy(np.ascontiguousarray(vectors)).float()


def _leading_eigenvectors(matrix, dim: int, seed: int) -> np.ndarray:
    """The ``dim`` eigenvectors of the symmetric sparse ``matrix`` with the largest eigenvalues, largest
    first, each signed so that its first entry clearly away from zero (above 1e-3 of its largest) is positive.
    Not the largest entry: a graph with a symmetry ties it between nodes of opposite sign, and rounding
    then picks either (a path's antisymmetric modes)."""
    v0 = np.random.default_rng(seed).random(matrix.shape[0])
    _, vectors = eigsh(matrix, k=dim, which="LA", v0=v0)
    vectors = vectors[:, ::-1]  # largest eigenvalue first
    magnitude = np.abs(vectors)
    first = (magnitude > 1e-3 * magnitude.max(axis=0)).argmax(axis=0)
    return vectors * np.sign(vectors[first, np.arange(dim)])


def new_node_positions(positions: Tensor, neighbours: Tensor | list[int]) -> Tensor:
    """Position features of a node that arrives after training: the mean of its ``neighbours``' rows
    of ``positions`` (ids in the training graph), zeros when it has none. The rule itself is NumPy's,
    :func:`graphkd.arrays.mean_of_neighbour_rows`, which a torch-free serving process uses."""
    return torch.from_numpy(mean_of_neighbour_rows(np.asarray(torch.as_tensor(positions)), neighbours))
