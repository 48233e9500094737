"""A user's graph from ``networkx``: node attributes become features, labels and masks."""
from __future__ import annotations

import torch
from torch_geometric.data import Data

__all__ = ["from_networkx"]

MASKS = ("train_mask", "val_mask", "test_mask")


def from_networkx(graph, features: str = "x", labels: str = "y", name: str = "networkx") -> Data:
    """A PyG ``Data`` from a ``networkx`` graph whose nodes carry ``features`` (a sequence of numbers)
    and ``labels`` (an int) attributes, and optionally bool ``train_mask``/``val_mask``/``test_mask``
    attributes (else split with :func:`graphkd.data.random_split`). Nodes are numbered in
    ``graph.nodes`` order; an undirected graph gets both directions of each edge."""
    import networkx as nx

    if not isinstance(graph, nx.Graph):
        raise ValueError(f"expected a PyG Data or a networkx graph, got {type(graph).__name__}")
    if graph.number_of_nodes() == 0:
        raise ValueError("the networkx graph has no node")
    for attribute in (features, labels):
        missing = [node for node, values in graph.nodes(data=True) if attribute not in values]
        if missing:
            raise ValueError(f"{len(missing)} node(s) lack the {attribute!r} attribute, e.g. node {missing[0]!r}")
    present = [m for m in MASKS if all(m in values for _, values in graph.nodes(data=True))]
    order = list(graph.nodes)
    index = {node: i for i, node in enumerate(order)}
    edges = torch.tensor([[index[u], index[v]] for u, v in graph.edges()], dtype=torch.long).view(-1, 2).T
    if not graph.is_directed():
        edges = torch.cat([edges, edges.flip(0)], dim=1)
    data = Data(x=torch.tensor([list(graph.nodes[n][features]) for n in order], dtype=torch.float),
                y=torch.tensor([int(graph.nodes[n][labels]) for n in order], dtype=torch.long),
                edge_index=edges, num_nodes=len(order))
    for mask in present:
        data[mask] = torch.tensor([bool(graph.nodes[n][mask]) for n in order])
    data.dataset = name
    return data
