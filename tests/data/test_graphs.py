"""networkx graphs in: attributes become features, labels and masks, edges both ways."""
import networkx as nx
import pytest
import torch

from graphkd.data import from_networkx


def test_attributes_and_edges():
    graph = nx.Graph()
    graph.add_node("a", x=[1.0, 0.0], y=0, train_mask=True)
    graph.add_node("b", x=[0.0, 1.0], y=1, train_mask=False)
    graph.add_node("c", x=[0.5, 0.5], y=1, train_mask=False)
    graph.add_edges_from([("a", "b"), ("b", "c")])
    data = from_networkx(graph, name="mine")
    assert torch.equal(data.x, torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]))
    assert data.y.tolist() == [0, 1, 1] and data.train_mask.tolist() == [True, False, False]
    assert sorted(map(tuple, data.edge_index.T.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    assert data.dataset == "mine" and "val_mask" not in data  # absent masks are left to random_split
    directed = nx.DiGraph(graph)
    directed.remove_edge("b", "a")
    assert from_networkx(directed).edge_index.size(1) == 3


def test_bad_graphs_are_refused():
    graph = nx.path_graph(3)
    nx.set_node_attributes(graph, {0: [1.0], 1: [2.0], 2: [3.0]}, "x")
    with pytest.raises(ValueError, match="3 node\\(s\\) lack the 'y' attribute"):
        from_networkx(graph)
    with pytest.raises(ValueError, match="networkx graph"):
        from_networkx([[0, 1]])
    with pytest.raises(ValueError, match="no node"):
        from_networkx(nx.Graph())


@pytest.mark.parametrize("attribute, value, message", [
    ("y", 0.9, "'y' must be an integer class index .*, got 0.9"),
    ("y", True, "'y' must be an integer class index"),
    ("x", [1j, 2.0], "'x' must hold real numbers"),
    ("x", "ab", "'x' must (be a sequence of numbers|hold real numbers)"),
    ("train_mask", "False", "'train_mask' must be True or False, got 'False'"),
    ("train_mask", None, "'train_mask' must be True or False, got None"),
    ("y", None, "'y' must be an integer class index .*, got None"),
    ("y", 1e30, "'y' must be an integer class index"),
    ("y", -2, "'y' must be an integer class index \\(or -1 for a node with no label\\), got -2"),
])
def test_odd_attributes_are_refused(attribute, value, message):
    graph = nx.path_graph(3)
    for node in graph.nodes:
        graph.nodes[node].update(x=[1.0, 2.0], y=1, train_mask=True)
    graph.nodes[1][attribute] = value
    with pytest.raises(ValueError, match=message):
        from_networkx(graph)


def test_unlabelled_nodes_self_loops_and_partial_masks():
    graph = nx.Graph()
    graph.add_node(0, x=[1.0], y=0)
    graph.add_node(1, x=[2.0], y=-1)  # no label
    graph.add_edges_from([(0, 1), (1, 1)])
    data = from_networkx(graph)
    assert data.y.tolist() == [0, -1]
    # A self-loop once, as PyG's from_networkx gives it (twice would double a node's own weight).
    assert sorted(map(tuple, data.edge_index.T.tolist())) == [(0, 1), (1, 0), (1, 1)]
    graph.nodes[0]["val_mask"] = True  # on one node only: read as False, node 1 would silently be in no split
    with pytest.raises(ValueError, match="1 node\\(s\\) lack the 'val_mask' attribute that the others carry"):
        from_networkx(graph)
