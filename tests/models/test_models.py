import numpy as np
import pytest
import torch
import torch_geometric

import graphkd
from graphkd.models import APPNP, GNN, MLP, build_model, count_parameters, load_model
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
    model = build_model("appnp", in_channels=2, hidden_channels=16, out_channels=2, dropout=0.0, num_layers=2)
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
    model = MLP(4, 8, 3, 3, norm="batch_norm").eval()
    x = torch.randn(5, 4)
    assert torch.equal(model(x), model(x, torch.tensor([[0], [1]])))
    # 4*8+8 + 8*8+8 + 8*3+3 weights and biases, plus 2 batch norms of 8 (weight, bias)
    assert count_parameters(model) == 40 + 72 + 27 + 32


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="valid: gcn, sage, gat, gatsep, appnp, grand, mlp"):
        build_model("transformer", in_channels=2, hidden_channels=4, out_channels=2, num_layers=2)
    with pytest.raises(ValueError, match="between 1 and 8"):
        build_model("gcn", in_channels=2, hidden_channels=4, out_channels=2, num_layers=9)
    with pytest.raises(ValueError, match="divisible by heads"):
        build_model("gat", in_channels=2, hidden_channels=10, out_channels=2, heads=8, num_layers=2)
    with pytest.raises(ValueError, match="unknown norm"):
        build_model("sage", in_channels=2, hidden_channels=4, out_channels=2, norm="group", num_layers=2)
    with pytest.raises(ValueError, match="K .* integer >= 1"):
        build_model("appnp", in_channels=2, hidden_channels=4, out_channels=2, K=0, num_layers=2)
    with pytest.raises(ValueError, match="restart probability"):
        build_model("appnp", in_channels=2, hidden_channels=4, out_channels=2, alpha=0.0, num_layers=2)


@pytest.mark.parametrize("kind", ["gcn", "sage", "gat", "appnp", "grand", "mlp"])
def test_numpy_integer_sizes_build_the_same_model(kind):
    # The shared check (graphkd.models.gnn.check_sizes) takes NumPy integers as Python ints, so config() stays JSON.
    sizes = {"in_channels": 3, "hidden_channels": 8, "num_layers": 2, "out_channels": 2}
    torch.manual_seed(0)
    plain = build_model(kind, **sizes)
    torch.manual_seed(0)
    numpy_sized = build_model(kind, **{key: np.int64(value) for key, value in sizes.items()})
    assert numpy_sized.config() == plain.config()
    assert all(type(numpy_sized.config()[key]) is int for key in sizes)
    assert all(torch.equal(a, b) for a, b in zip(numpy_sized.state_dict().values(), plain.state_dict().values(),
                                                    strict=True))


@pytest.mark.parametrize("kind", ["gcn", "sage", "gat", "appnp", "grand", "mlp"])
def test_out_channels_default_to_hidden_channels(kind):
    model = build_model(kind, in_channels=3, hidden_channels=8, num_layers=2)
    assert model.config()["out_channels"] == 8


@pytest.mark.parametrize("name", ["GCN", "GraphSAGE", "GAT", "MLP"])
@pytest.mark.parametrize("args", [(16, 32, 3, 4), (16, 32, 1, 5), (16, 32, 2)])
def test_pyg_positional_order(name, args):
    """A PyG user's habit builds the same network: same layer count and output width as PyG's namesake."""
    ours = getattr(graphkd, name)(*args)
    if name == "MLP":  # PyG's MLP takes a channel list first and needs out_channels: keywords there
        theirs = torch_geometric.nn.MLP(in_channels=args[0], hidden_channels=args[1], num_layers=args[2],
                                        out_channels=args[3] if len(args) > 3 else args[1])
        their_layers = len(theirs.lins)
    else:
        theirs = getattr(torch_geometric.nn.models, name)(*args)
        their_layers = len(theirs.convs)
    assert ours.num_layers == theirs.num_layers == their_layers == args[2]
    assert len(ours.convs if name != "MLP" else ours.lins) == args[2]
    assert ours.out_channels == theirs.out_channels == (args[3] if len(args) > 3 else args[1])
    x, edge_index = torch.randn(5, 16), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    assert ours.eval()(x, edge_index).shape == theirs.eval()(x, edge_index).shape


@pytest.mark.parametrize("kind", ["appnp", "grand"])
def test_pyg_order_for_models_pyg_has_no_namesake_of(kind):
    model = getattr(graphkd, kind.upper())(16, 32, 3, 4)
    assert (model.num_layers, model.out_channels, len(model.lins)) == (3, 4, 3)


def test_mlp_saved_before_norm_loads_with_its_batch_norm(tmp_path):
    """graphkd 0.1 saved ``batch_norm: bool`` in an MLP's config; such files load as ``norm="batch_norm"``."""
    model = MLP(4, 8, 3, 2, norm="batch_norm").eval()
    model.norms[0].running_mean.normal_()
    config = {**model.config(), "batch_norm": True}
    del config["norm"]
    torch.save({"config": config, "state_dict": model.state_dict(), "meta": {}}, tmp_path / "old.pt")
    loaded, _ = load_model(tmp_path / "old.pt")
    assert loaded.norm == "batch_norm"
    x = torch.randn(5, 4)
    assert torch.equal(loaded(x), model(x))
