"""Serving a GNN node by node: fetch the node's L-hop neighbourhood from the graph the server holds (all of
it, or a fan-out sample such as 15-10-5), gather the features and run the forward on that subgraph.

The fetch is exact for layers that aggregate over in-neighbours only (SAGE, GAT): with all neighbours
fetched, the prediction equals the full-graph forward's. GCN is excluded because its normalisation needs
the degrees of the boundary nodes, which the L-hop neighbourhood does not hold. A node that arrives after
training is served by graphkd.serve.arrivals.

A model on a GPU is served from the CPU's copy of the graph: the fetch and the feature gather run on the CPU, the
neighbourhood's features and edges move to the GPU for the forward, and the logits come back (a server answers
from host memory), all inside the call.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphkd.device import module_device
from graphkd.errors import GraphkdError
from graphkd.inputs import sparse_adjacency
from graphkd.large.sampling import NeighborSampler

__all__ = ["PerNodeGNN"]


class PerNodeGNN:
    """Predict a GNN's logits for some nodes from their fetched L-hop neighbourhood.

    ``fanouts=None`` fetches every neighbour (the exact L-hop neighbourhood); otherwise one fan-out per
    layer, nearest hop first (15-10-5 samples 15 neighbours of the target, 10 of each of those, ...).
    ``sampler``: a :class:`NeighborSampler` of ``data`` to share its CSR (built once, as a serving
    system keeps the graph); by default one is built.
    """

    def __init__(self, model: torch.nn.Module, data: Data, fanouts: Sequence[int] | None = None,
                 sampler: NeighborSampler | None = None):
        if getattr(model, "kind", None) == "gcn":
            raise GraphkdError("per-node GNN latency supports sage and gat teachers (GCN's normalisation "
                               "needs degrees outside the L-hop neighbourhood)")
        layers = model.num_layers
        self.fanouts = [-1] * layers if fanouts is None else list(fanouts)
        if len(self.fanouts) != layers:
            raise GraphkdError(f"need one fan-out per layer: {layers} layers, got {len(self.fanouts)} fan-outs")
        self.model, self.x, self.device = model.eval(), data.x, module_device(model)
        self.sampler = sampler or NeighborSampler(data.edge_index, data.num_nodes, self.fanouts)

    @torch.inference_mode()
    def __call__(self, nodes: Tensor) -> Tensor:
        sub = self.sampler.sample(nodes.view(-1), fanouts=self.fanouts)
        return self.forward(self.x[sub.n_id], sub.edge_index, sub.batch_size)

    def forward(self, x: Tensor, edges: Tensor, targets: int) -> Tensor:
        """The model on a fetched neighbourhood (features ``x`` and ``edges`` on the CPU): the logits of its first
        ``targets`` nodes, on the CPU."""
        if self.device.type != "cpu":
            return self.model(x.to(self.device), edges.to(self.device))[:targets].cpu()
        if -1 in self.fanouts:  # a complete neighbourhood has no size bound (hubs): keep memory O(nodes)
            edges = sparse_adjacency(edges, x.size(0))
        return self.model(x, edges)[:targets]
