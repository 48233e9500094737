import pytest
import torch

from graphkd.models import GNN, MLP, build_model, count_parameters
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


def test_mlp_ignores_graph_and_counts_parameters():
    model = MLP(4, 8, 3, num_layers=3, batch_norm=True).eval()
    x = torch.randn(5, 4)
    assert torch.equal(model(x), model(x, torch.tensor([[0], [1]])))
    # 4*8+8 + 8*8+8 + 8*3+3 weights and biases, plus 2 batch norms of 8 (weight, bias)
    assert count_parameters(model) == 40 + 72 + 27 + 32


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="valid: gcn, sage, gat, mlp"):
        build_model("transformer", in_channels=2, hidden_channels=4, out_channels=2)
    with pytest.raises(ValueError, match="between 1 and 8"):
        build_model("gcn", in_channels=2, hidden_channels=4, out_channels=2, num_layers=9)
    with pytest.raises(ValueError, match="divisible by heads"):
        build_model("gat", in_channels=2, hidden_channels=10, out_channels=2, heads=8)
    with pytest.raises(ValueError, match="unknown norm"):
        build_model("sage", in_channels=2, hidden_channels=4, out_channels=2, norm="group")
