"""GRAND: DropNode, mixed-order propagation written out with dense matrices, its gradient, and its checks."""
import copy

import pytest
import torch

from graphkd.inputs import model_inputs, sparse_adjacency
from graphkd.models import GRAND, build_model
from graphkd.models.grand import MixedOrderPropagation, NormalizedAdjacency, drop_nodes
from graphkd.training import TrainConfig, accuracy, cross_entropy_on, train_full_batch


def dense_propagation(edge_index, num_nodes):
    """``D^-1/2 (A + I) D^-1/2`` with a row per target node and degrees counted at the target, by hand."""
    adjacency = torch.eye(num_nodes)
    adjacency[edge_index[1], edge_index[0]] = 1.0
    scale = adjacency.sum(1).rsqrt()
    return scale[:, None] * adjacency * scale[None, :]


def test_grand_is_mixed_order_propagation_of_its_first_layer_then_its_mlp(tiny_graph):
    """Eval mode: h = (1/(K+1)) sum_k Â^k (X W0) + b0, then relu and the next layer."""
    torch.manual_seed(0)
    model = build_model("grand", in_channels=2, hidden_channels=8, out_channels=2, K=3, num_layers=2).eval()
    assert isinstance(model, GRAND)
    propagate = dense_propagation(tiny_graph.edge_index, 6)
    z = tiny_graph.x @ model.lins[0].weight.T
    total = z.clone()
    for _ in range(3):
        z = propagate @ z
        total = total + z
    expected = model.lins[1](torch.relu(total / 4 + model.lins[0].bias))
    out = model(tiny_graph.x, tiny_graph.edge_index)
    assert torch.allclose(out, expected, atol=1e-6)
    # The same from a sparse adjacency and from sparse features, as graphkd's training loops feed it.
    assert torch.allclose(model(tiny_graph.x.to_sparse_csr(), sparse_adjacency(tiny_graph.edge_index, 6)), out,
                          atol=1e-6)
    rebuilt = build_model(**model.config())
    rebuilt.load_state_dict(model.state_dict())
    assert torch.allclose(rebuilt.eval()(tiny_graph.x, tiny_graph.edge_index), out)


def test_propagation_gradient_equals_the_dense_one_on_a_directed_graph():
    """The hand-written backward uses the transpose: on a directed graph Â is not symmetric."""
    edge_index = torch.tensor([[0, 0, 1, 2, 3], [1, 2, 2, 3, 0]])
    propagate = dense_propagation(edge_index, 4).double()
    assert not torch.allclose(propagate, propagate.T)
    h = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    weights = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (MixedOrderPropagation(2)(h, edge_index) * weights).sum().backward()
    sparse_grad = h.grad.clone()
    h.grad = None
    ((h + propagate @ h + propagate @ propagate @ h) / 3 * weights).sum().backward()
    assert torch.allclose(sparse_grad, h.grad, atol=1e-12)


def test_the_graph_is_prepared_once_per_run_and_equals_the_one_built_per_call(tiny_graph):
    torch.manual_seed(0)
    model = build_model("grand", in_channels=2, hidden_channels=8, out_channels=2, K=2, num_layers=2).eval()
    x, prepared = model_inputs(model, tiny_graph)
    assert isinstance(prepared, NormalizedAdjacency)
    assert torch.allclose(prepared.matrix.to_dense(), dense_propagation(tiny_graph.edge_index, 6), atol=1e-6)
    assert torch.allclose(model(x, prepared), model(tiny_graph.x, tiny_graph.edge_index), atol=1e-6)
    # a graph given as edges keeps nothing between calls: edited in place, the next call uses the edit
    edge_index = tiny_graph.edge_index.clone()
    before = model(tiny_graph.x, edge_index)
    edge_index.numpy()[1, 0] = 5  # through NumPy, unseen by torch's version counter
    assert not torch.allclose(model(tiny_graph.x, edge_index), before)
    copy.deepcopy(model)  # nothing unpicklable kept either


def test_duplicate_edges_count_once(tiny_graph):
    torch.manual_seed(0)
    model = build_model("grand", in_channels=2, hidden_channels=8, out_channels=2, K=2, num_layers=2).eval()
    doubled = torch.cat([tiny_graph.edge_index, tiny_graph.edge_index[:, :4]], dim=1)
    assert torch.allclose(model(tiny_graph.x, doubled), model(tiny_graph.x, tiny_graph.edge_index), atol=1e-6)
    assert torch.allclose(model(tiny_graph.x, sparse_adjacency(doubled, 6)), model(tiny_graph.x, doubled), atol=1e-6)


def test_drop_nodes_zeroes_whole_rows_and_keeps_the_expectation():
    torch.manual_seed(0)
    h = torch.ones(20000, 3)
    dropped = drop_nodes(h, 0.25)
    rows = dropped[:, 0]
    assert torch.equal(dropped, rows[:, None].expand(-1, 3))  # a node is dropped whole or kept whole
    assert torch.allclose(rows.unique(), torch.tensor([0.0, 4 / 3]))
    assert (rows == 0).float().mean().item() == pytest.approx(0.25, abs=0.01)
    assert dropped.mean().item() == pytest.approx(1.0, abs=0.02)


def test_dropnode_acts_in_training_only(tiny_graph):
    torch.manual_seed(0)
    model = build_model("grand", in_channels=2, hidden_channels=8, num_layers=2, out_channels=2, dropout=0.0,
                        node_dropout=0.5)
    model.eval()
    assert torch.equal(model(tiny_graph.x, tiny_graph.edge_index), model(tiny_graph.x, tiny_graph.edge_index))
    model.train()
    assert not torch.allclose(model(tiny_graph.x, tiny_graph.edge_index), model(tiny_graph.x, tiny_graph.edge_index))


def test_grand_trains(tiny_graph):
    torch.manual_seed(0)
    model = build_model("grand", in_channels=2, hidden_channels=16, num_layers=2, out_channels=2, dropout=0.0,
                        node_dropout=0.0)
    train_full_batch(model, tiny_graph, cross_entropy_on(tiny_graph.train_mask, tiny_graph.y),
                     TrainConfig(epochs=60, patience=60, weight_decay=0.0))
    seen = tiny_graph.train_mask | tiny_graph.val_mask
    assert accuracy(model(tiny_graph.x, tiny_graph.edge_index)[seen], tiny_graph.y[seen]) == 1.0


@pytest.mark.parametrize("kwargs, message", [
    ({"K": 0}, "K .* integer >= 1"),
    ({"K": 2.0}, "K .* integer >= 1"),
    ({"node_dropout": 1.0}, r"node_dropout must be a number in \[0, 1\)"),
    ({"node_dropout": "0.5"}, r"node_dropout must be a number in \[0, 1\)"),
    ({"dropout": float("nan")}, r"dropout must be a number in \[0, 1\]"),
    ({"num_layers": 9}, "between 1 and 8"),
])
def test_bad_grand_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_model("grand", **{"in_channels": 2, "hidden_channels": 4, "num_layers": 2, "out_channels": 2, **kwargs})
