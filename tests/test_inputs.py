"""Sparse features and adjacency (graphkd.inputs) compute what the dense path computes."""
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.nn import SAGEConv

from graphkd.inputs import SPARSE_DENSITY, feature_dropout, feature_rows, model_inputs, sparse_features
from graphkd.models import build_model
from graphkd.models.gnn import LinearFirstSAGEConv


def bag_of_words(num_nodes=12, num_features=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(num_nodes, num_features, generator=g) < 0.05).float() * torch.rand(num_nodes, num_features,
                                                                                      generator=g)
    x[3] = 0  # a node with no features at all
    return x


def tiny_graph():
    # Node 5 has no in-neighbours: SAGE's mean over an empty set is 0, so its bias must still be added.
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 0],
                               [1, 0, 2, 1, 4, 3, 7, 6, 9, 8, 11, 10, 11]])
    return Data(x=bag_of_words(), edge_index=edge_index, num_nodes=12)


def test_sparse_features_only_below_the_density_threshold():
    x = bag_of_words()
    assert torch.count_nonzero(x) <= SPARSE_DENSITY * x.numel()
    sparse = sparse_features(x)
    assert sparse.layout == torch.sparse_csr
    assert torch.equal(sparse.to_dense(), x)
    dense = torch.rand(5, 4) + 0.1
    assert sparse_features(dense) is dense


def test_feature_rows_of_csr_equal_dense_rows():
    x = bag_of_words()
    index = torch.tensor([3, 0, 11, 0, 7])  # an empty row and a repeated one
    rows = feature_rows(x.to_sparse_csr(), index)
    assert rows.layout == torch.sparse_csr
    assert torch.equal(rows.to_dense(), x[index])
    assert feature_rows(x.to_sparse_csr(), torch.tensor([], dtype=torch.long)).shape == (0, x.size(1))


def test_sparse_feature_dropout_keeps_zeros_and_rescales_kept_values():
    x = bag_of_words(num_nodes=200, num_features=50)
    csr = x.to_sparse_csr()
    assert feature_dropout(csr, 0.5, training=False) is csr
    torch.manual_seed(0)
    dropped = feature_dropout(csr, 0.5, training=True).to_dense()
    assert torch.all(dropped[x == 0] == 0)
    kept = dropped[x != 0] != 0
    assert torch.allclose(dropped[x != 0][kept], 2 * x[x != 0][kept])
    assert 0.4 < kept.float().mean() < 0.6


@pytest.mark.parametrize("p", [0.2, 0.5, 0.6, 0.8])
def test_dense_dropout_drops_a_share_p_and_keeps_the_mean(p):
    torch.manual_seed(0)
    x = torch.ones(400, 500)
    dropped = feature_dropout(x, p, training=True)
    assert abs((dropped == 0).float().mean().item() - p) < 0.005
    assert abs(dropped.mean().item() - 1.0) < 0.01
    assert torch.allclose(dropped[dropped != 0], torch.full_like(dropped[dropped != 0], 1 / (1 - p)), rtol=1e-4)
    # successive draws differ, and the global seed makes them repeatable
    again = feature_dropout(x, p, training=True)
    torch.manual_seed(0)
    assert not torch.equal(dropped, again) and torch.equal(dropped, feature_dropout(x, p, training=True))


def test_dropout_edge_cases():
    x = torch.randn(7, 3)
    assert feature_dropout(x, 0.5, training=False) is x and feature_dropout(x, 0.0, training=True) is x
    assert torch.equal(feature_dropout(x, 1.0, training=True), torch.zeros_like(x))
    with pytest.raises(ValueError, match="dropout probability"):
        feature_dropout(x, 1.5, training=True)


def test_linear_first_sage_conv_equals_pyg_sage_conv():
    data = tiny_graph()
    torch.manual_seed(0)
    ours = LinearFirstSAGEConv(40, 6)
    reference = SAGEConv(40, 6)
    reference.load_state_dict(ours.state_dict())
    expected = reference(data.x, data.edge_index)
    assert torch.allclose(ours(data.x, data.edge_index), expected, atol=1e-6)
    adjacency = model_inputs(build_model("sage", in_channels=40, hidden_channels=6, num_layers=2, out_channels=3),
                             data)[1]
    assert torch.allclose(ours(data.x.to_sparse_csr(), adjacency), expected, atol=1e-6)


@pytest.mark.parametrize("kind", ["gcn", "sage", "gat", "mlp"])
def test_model_inputs_give_the_dense_forward(kind):
    data = tiny_graph()
    torch.manual_seed(0)
    extra = {"heads": 2} if kind == "gat" else {"norm": "batch_norm"}
    model = build_model(kind, in_channels=40, hidden_channels=8, out_channels=3, num_layers=3, **extra).eval()
    x, graph = model_inputs(model, data)
    assert x.layout == torch.sparse_csr
    assert (graph.layout == torch.sparse_csr) == (kind in ("gcn", "sage"))
    assert torch.allclose(model(x, graph), model(data.x, data.edge_index), atol=1e-6)


def test_sparse_training_step_gives_the_dense_gradients():
    data = tiny_graph()
    torch.manual_seed(0)
    model = build_model("sage", in_channels=40, hidden_channels=8, out_channels=3, dropout=0.0, num_layers=2)
    model(*model_inputs(model, data)).square().sum().backward()
    sparse_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model(data.x, data.edge_index).square().sum().backward()
    for sparse_grad, p in zip(sparse_grads, model.parameters(), strict=True):
        assert torch.allclose(sparse_grad, p.grad, atol=1e-5)
