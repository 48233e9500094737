"""graphkd.serve.per_node: a GNN served from a node's fetched L-hop neighbourhood."""
import pytest
import torch

from graphkd.inputs import sparse_adjacency
from graphkd.models import build_model
from graphkd.serve.per_node import PerNodeGNN


@pytest.mark.parametrize("kind,depth", [("sage", 1), ("sage", 3), ("gat", 2)])
def test_per_node_fetch_matches_full_graph_forward(kind, depth, ring_graph):
    torch.manual_seed(0)
    data = ring_graph()
    extra = {"heads": 2} if kind == "gat" else {}
    model = build_model(kind, in_channels=6, hidden_channels=8, out_channels=3, num_layers=depth, **extra).eval()
    with torch.no_grad():
        full = model(data.x, data.edge_index)
    fetch = PerNodeGNN(model, data)  # every neighbour: the exact L-hop neighbourhood
    for node in (0, 5, 17, 39):
        torch.testing.assert_close(fetch(torch.tensor([node])), full[node:node + 1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(fetch(torch.tensor([3, 30])), full[[3, 30]], atol=1e-5, rtol=1e-4)
    # whole-graph pass through the sparse adjacency agrees too
    with torch.no_grad():
        adj = sparse_adjacency(data.edge_index, data.num_nodes)
        torch.testing.assert_close(model(data.x, adj), full, atol=1e-5, rtol=1e-4)


def test_per_node_rejects_gcn_and_wrong_fanouts(ring_graph):
    data = ring_graph()
    with pytest.raises(ValueError, match="sage and gat"):
        PerNodeGNN(build_model("gcn", in_channels=6, hidden_channels=8, out_channels=3, num_layers=2), data)
    with pytest.raises(ValueError, match="one fan-out per layer"):
        PerNodeGNN(build_model("sage", in_channels=6, hidden_channels=8, out_channels=3, num_layers=2), data, [5])
