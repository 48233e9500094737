"""A user's graph from ``networkx``: node attributes become features, labels and masks."""
from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import torch
from torch_geometric.data import Data

from graphkd.errors import GraphkdError

__all__ = ["from_networkx"]

MASKS = ("train_mask", "val_mask", "test_mask")
_NONE_FOUND = object()  # what next() returns when every value is fine (None itself is a bad value)


def _features(graph, order: list, attribute: str) -> torch.Tensor:
    try:
        rows = np.asarray([np.asarray(graph.nodes[n][attribute]).reshape(-1) for n in order])
    except ValueError as exc:
        raise GraphkdError(f"node attribute {attribute!r} must be a sequence of numbers of one length per node "
                           f"({exc})") from exc
    if rows.dtype.kind not in "biuf" or rows.ndim != 2:
        kind = "complex numbers" if rows.dtype.kind == "c" else f"{rows.dtype} values of shape {rows.shape}"
        raise GraphkdError(f"node attribute {attribute!r} must hold real numbers, the same count per node; got {kind}")
    return torch.from_numpy(rows.astype(np.float32))


def _labels(graph, order: list, attribute: str) -> torch.Tensor:
    values = [graph.nodes[n][attribute] for n in order]
    odd = next((v for v in values if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating))
                or not float(v).is_integer() or not -1 <= v < 2**62), _NONE_FOUND)
    if odd is not _NONE_FOUND:
        raise GraphkdError(f"node attribute {attribute!r} must be an integer class index (or -1 for a node with no "
                           f"label), got {odd!r}")
    return torch.tensor([int(v) for v in values], dtype=torch.long)


def from_networkx(graph, features: str = "x", labels: str = "y", name: str = "networkx") -> Data:
    """A PyG ``Data`` from a ``networkx`` graph whose nodes carry ``features`` (a sequence of numbers)
    and ``labels`` (an int; -1 for a node with no label) attributes, and optionally bool
    ``train_mask``/``val_mask``/``test_mask`` attributes on every node (else split with
    :func:`graphkd.data.random_split`). Nodes are numbered in ``graph.nodes`` order; an undirected graph
    gets both directions of each edge (a self-loop once). Edge attributes (weights) are not read: every edge
    counts the same, and a graph whose edges carry any is warned about."""
    if not isinstance(graph, nx.Graph):
        raise GraphkdError(f"expected a PyG Data or a networkx graph, got {type(graph).__name__}")
    if graph.number_of_nodes() == 0:
        raise GraphkdError("the networkx graph has no node")
    for attribute in (features, labels):
        missing = [node for node, values in graph.nodes(data=True) if attribute not in values]
        if missing:
            raise GraphkdError(f"{len(missing)} node(s) lack the {attribute!r} attribute, e.g. node {missing[0]!r}")
    present = []
    for mask in MASKS:
        lacking = [node for node, values in graph.nodes(data=True) if mask not in values]
        if len(lacking) == graph.number_of_nodes():
            continue
        if lacking:  # read as False, a node meant for the split would silently be in none
            raise GraphkdError(f"{len(lacking)} node(s) lack the {mask!r} attribute that the others carry, e.g. "
                               f"node {lacking[0]!r}: give every node True or False, or no node any (then split with "
                               "split='random' or graphkd.data.random_split)")
        present.append(mask)
    weighted = sorted({str(key) for _, _, values in graph.edges(data=True) for key in values})
    if weighted:  # e.g. "weight": dropped without a word, a weighted graph would train as an unweighted one
        warnings.warn(f"edge attribute(s) {', '.join(map(repr, weighted))} are not used: graphkd reads the edges "
                      "alone, so every edge counts the same; fold what they hold into the node features yourself, or "
                      "remove them to silence this", stacklevel=2)
    order = list(graph.nodes)
    index = {node: i for i, node in enumerate(order)}
    edges = torch.tensor([[index[u], index[v]] for u, v in graph.edges()], dtype=torch.long).view(-1, 2).T
    if not graph.is_directed():  # a self-loop once, as PyG's from_networkx gives it
        edges = torch.cat([edges, edges[:, edges[0] != edges[1]].flip(0)], dim=1)
    data = Data(x=_features(graph, order, features), y=_labels(graph, order, labels), edge_index=edges,
                num_nodes=len(order))
    for mask in present:
        values = [graph.nodes[n][mask] for n in order]
        odd = next((v for v in values if not isinstance(v, (bool, np.bool_))), _NONE_FOUND)
        if odd is not _NONE_FOUND:  # bool("False") is True: strings and numbers are not read as flags
            raise GraphkdError(f"node attribute {mask!r} must be True or False, got {odd!r}")
        data[mask] = torch.tensor([bool(v) for v in values])
    data.dataset = name
    return data
