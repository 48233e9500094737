"""How alike the labels of a graph's neighbours are: the homophily a benchmark table reports beside each dataset.

The measures are PyG's (:func:`torch_geometric.utils.homophily`): ``edge``, the share of edges whose ends share a
class (Zhu et al., 2020); ``node``, that share per node, averaged (Geom-GCN); and ``edge_insensitive``, edge
homophily corrected for the number and sizes of classes (Lim et al., 2021), which is 0 when neighbours' labels
are no more alike than chance. The correction matters on imbalanced labels: Minesweeper's edge homophily is high
only because 80% of its nodes share a class.
"""
from __future__ import annotations

from torch_geometric.data import Data
from torch_geometric.utils import homophily as pyg_homophily
from torch_geometric.utils import subgraph

from graphkd.errors import GraphkdError

__all__ = ["HOMOPHILY_MEASURES", "homophily"]

HOMOPHILY_MEASURES = ("edge", "node", "edge_insensitive")


def homophily(data: Data) -> dict[str, float]:
    """``{measure: value}`` for each of :data:`HOMOPHILY_MEASURES`, over the edges between labelled nodes (a
    label of -1 marks an unlabelled node, whose edges say nothing). Needs one class id per node: multi-label
    graphs have no single measure."""
    y = data.y
    if y is None or y.dim() != 1:
        raise GraphkdError("homophily needs one class id per node (data.y of shape [num_nodes]), got "
                           f"{None if y is None else tuple(y.shape)}")
    labelled = y >= 0
    edge_index, _ = subgraph(labelled, data.edge_index, num_nodes=y.numel(), relabel_nodes=True)
    y = y[labelled]
    if not edge_index.size(1) or y.unique().numel() < 2:
        raise GraphkdError("homophily needs at least one edge between labelled nodes and two classes among them")
    return {measure: float(pyg_homophily(edge_index, y, method=measure)) for measure in HOMOPHILY_MEASURES}
