import pytest
import torch

from graphkd.models import APPNP, GNN, MLP, build_model, count_parameters
from graphkd.training import TrainConfig, accuracy, cross_entropy_on, train_full_batch


@pytest.mark.parametrize("kind", ["gcn", "sage", "gat"])
@pytest.mark.parametrize("num_layers", [1, 2, 8])
@pytest.mark.parametrize("norm", [None, "batch_norm", "layer_norm"])
def test_gnn_shapes_and_rebuild(tiny_graph, kind, num_layers, norm):
    torch.manual_seed(0)
    model = build_model(kind, in_channels=2, hidden_channels=16, out_channels=2, num_layers=num_layers, norm=norm)
    assert isinstance(model, GNN) and len(model.convs) == num_layers
    model.eval()
    out = model(tiny_graph.x, tiny_graph.edge_index)
    assert out.shape == (6, 2)
    rebuilt = build_model(**model.config())
    rebuilt.load_state_dict(model.state_dict())
    assert torch.allclose(rebuilt.eval()(tiny_graph.x, tiny_graph.edge_index), out)


def test_layer_by_layer_equals_forward(tiny_graph):
    model = build_model("sage", in_channels=2, hidden_channels=8, out_channels=2, num_layers=3).eval()
    h = tiny_graph.x
    for i in range(model.num_layers):
        h = model.layer(i, h, tiny_graph.edge_index)
    assert torch.allclose(h, model(tiny_graph.x, tiny_graph.edge_index))


@pytest.mark.parametrize("kind", ["gcn", "sage", "gat"])
def test_deep_residual_teacher_trains(tiny_graph, kind):
    torch.manual_seed(0)
    model = build_model(kind, in_channels=2, hidden_channels=16, out_channels=2, num_layers=6, norm="layer_norm",
                        dropout=0.0)
    train_full_batch(model, tiny_graph, cross_entropy_on(tiny_graph.train_mask, tiny_graph.y),
                     TrainConfig(epochs=60, patience=60, weight_decay=0.0))
    seen = tiny_graph.train_mask | tiny_graph.val_mask
    logits = model(tiny_graph.x, tiny_graph.edge_index)
    assert accuracy(logits[seen], tiny_graph.y[seen]) == 1.0


def test_appnp_is_its_mlp_then_personalized_pagerank(tiny_graph):
    """Z_0 = H, Z_{k+1} = (1 - alpha) D^-1/2 (A + I) D^-1/2 Z_k + alpha H, written out with dense matrices."""
    torch.manual_seed(0)
    model = build_model("appnp", in_channels=2, hidden_channels=8, out_channels=2, num_layers=2, K=3, alpha=0.2)
    assert isinstance(model, APPNP) and model.eval().training is False
    h = model.lins[1](torch.relu(model.lins[0](tiny_graph.x)))
    adjacency = torch.eye(6)
    adjacency[tiny_graph.edge_index[0], tiny_graph.edge_index[1]] = 1.0
    degree = adjacency.sum(1).rsqrt()
    propagate = degree[:, None] * adjacency * degree[None, :]
    z = h
    for _ in range(3):
        z = 0.8 * propagate @ z + 0.2 * h
    out = model(tiny_graph.x, tiny_graph.edge_index)
    assert torch.allclose(out, z, atol=1e-6)
    rebuilt = build_model(**model.config())
    rebuilt.load_state_dict(model.state_dict())
    assert torch.allclose(rebuilt.eval()(tiny_graph.x, tiny_graph.edge_index), out)


def test_appnp_trains_and_its_propagation_reaches_past_its_mlp(tiny_graph):
    torch.manual_seed(0)
    model = build_model("appnp", in_channels=2, hidden_channels=16, out_channels=2, dropout=0.0)
    train_full_batch(model, tiny_graph, cross_entropy_on(tiny_graph.train_mask, tiny_graph.y),
                     TrainConfig(epochs=60, patience=60, weight_decay=0.0))
    seen = tiny_graph.train_mask | tiny_graph.val_mask
    assert accuracy(model(tiny_graph.x, tiny_graph.edge_index)[seen], tiny_graph.y[seen]) == 1.0
    # Without edges the propagation returns the MLP's own logits: the graph is what the teacher adds.
    no_edges = torch.empty(2, 0, dtype=torch.long)
    mlp_only = model.lins[1](torch.relu(model.lins[0](tiny_graph.x)))
    assert torch.allclose(model(tiny_graph.x, no_edges), mlp_only, atol=1e-6)
    assert not torch.allclose(model(tiny_graph.x, tiny_graph.edge_index), mlp_only, atol=1e-3)


def test_mlp_ignores_graph_and_counts_parameters():
    model = MLP(4, 8, 3, num_layers=3, batch_norm=True).eval()
    x = torch.randn(5, 4)
    assert torch.equal(model(x), model(x, torch.tensor([[0], [1]])))
    # 4*8+8 + 8*8+8 + 8*3+3 weights and biases, plus 2 batch norms of 8 (weight, bias)
    assert count_parameters(model) == 40 + 72 + 27 + 32


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="valid: gcn, sage, gat, appnp, grand, mlp"):
        build_model("transformer", in_channels=2, hidden_channels=4, out_channels=2)
    with pytest.raises(ValueError, match="between 1 and 8"):
        build_model("gcn", in_channels=2, hidden_channels=4, out_channels=2, num_layers=9)
    with pytest.raises(ValueError, match="divisible by heads"):
        build_model("gat", in_channels=2, hidden_channels=10, out_channels=2, heads=8)
    with pytest.raises(ValueError, match="unknown norm"):
        build_model("sage", in_channels=2, hidden_channels=4, out_channels=2, norm="group")
    with pytest.raises(ValueError, match="K .* integer >= 1"):
        build_model("appnp", in_channels=2, hidden_channels=4, out_channels=2, K=0)
    with pytest.raises(ValueError, match="restart probability"):
        build_model("appnp", in_channels=2, hidden_channels=4, out_channels=2, alpha=0.0)
