"""OGB-sized synthetic graphs, checked at a small size: undirected, no self loops, homophily, heavy tail,
feature smoothing."""
import pytest
import torch
from torch_geometric.utils import is_undirected

from graphkd.data.large import synthetic_graph


@pytest.fixture(scope="module")
def graph():
    return synthetic_graph(20_000, 100_000, 16, 5, homophily=0.6, seed=3)


def test_structure(graph):
    row, col = graph.edge_index
    assert graph.edge_index.dtype == torch.long and graph.num_nodes == 20_000
    assert is_undirected(graph.edge_index) and not (row == col).any()
    keys = row * graph.num_nodes + col
    assert (keys[1:] > keys[:-1]).all()  # coalesced: sorted by (row, col), no duplicates
    # Duplicates drawn between hubs are merged, so slightly fewer than the 100k undirected edges asked.
    assert 80_000 <= row.numel() // 2 <= 100_000
    assert graph.x.dtype == torch.float32 and graph.x.shape == (20_000, 16)


def test_homophily_and_heavy_tail(graph):
    row, col = graph.edge_index
    measured = (graph.y[row] == graph.y[col]).float().mean().item()
    expected = 0.6 + 0.4 / 5
    assert abs(measured - expected) < 0.05
    degree = torch.bincount(row, minlength=graph.num_nodes).float()
    assert degree.max() > 20 * degree.mean()  # hubs, as in real graphs
    assert degree.median() < degree.mean()  # most nodes sit below the mean


def test_masks_and_features(graph):
    masks = torch.stack([graph.train_mask, graph.val_mask, graph.test_mask])
    assert (masks.sum(0) == 1).all()
    assert abs(graph.train_mask.float().mean().item() - 0.5) < 0.01
    # Features carry the class: the nearest class mean predicts the label well above chance.
    means = torch.stack([graph.x[graph.y == c].mean(0) for c in range(5)])
    assert ((torch.cdist(graph.x, means).argmin(1) == graph.y).float().mean() > 0.4)


def test_seeded_and_validated():
    a = synthetic_graph(500, 2000, 4, 3, seed=7)
    b = synthetic_graph(500, 2000, 4, 3, seed=7)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)
    with pytest.raises(ValueError, match="degree_exponent"):
        synthetic_graph(500, 2000, 4, 3, degree_exponent=1.5)
    with pytest.raises(ValueError, match="homophily"):
        synthetic_graph(500, 2000, 4, 3, homophily=1.5)
    with pytest.raises(ValueError, match="split"):
        synthetic_graph(500, 2000, 4, 3, split=(0.8, 0.3))
    for beta in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="feature_smoothing"):
            synthetic_graph(500, 2000, 4, 3, feature_smoothing=beta)


def neighbour_mean(x, edge_index):
    """Dense reference: mean of the in-neighbours' rows (a node without neighbours: its own row)."""
    adjacency = torch.zeros(x.size(0), x.size(0), dtype=torch.float64)
    adjacency[edge_index[1], edge_index[0]] = 1.0
    degree = adjacency.sum(1, keepdim=True)
    mean = adjacency @ x.double() / degree.clamp(min=1)
    return torch.where(degree > 0, mean, x.double())


def noise_neighbour_correlation(graph):
    """Correlation, over nodes and features, between a node's noise (features minus the class mean) and the
    mean noise of its neighbours."""
    means = torch.stack([graph.x[graph.y == c].mean(0) for c in range(int(graph.y.max()) + 1)])
    noise = (graph.x - means[graph.y]).double()
    mean = neighbour_mean(noise, graph.edge_index)
    has_neighbours = torch.bincount(graph.edge_index[1], minlength=graph.num_nodes) > 0
    return torch.corrcoef(torch.stack([noise[has_neighbours].view(-1), mean[has_neighbours].view(-1)]))[0, 1].item()


def test_feature_smoothing_is_the_neighbour_mean_mix():
    raw = synthetic_graph(600, 3000, 8, 3, seed=5)
    smoothed = synthetic_graph(600, 3000, 8, 3, seed=5, feature_smoothing=0.4)
    assert torch.equal(raw.edge_index, smoothed.edge_index) and torch.equal(raw.y, smoothed.y)
    assert smoothed.x.dtype == torch.float32
    expected = 0.6 * raw.x.double() + 0.4 * neighbour_mean(raw.x, raw.edge_index)
    assert torch.allclose(smoothed.x.double(), expected, atol=1e-5)


def test_feature_smoothing_makes_features_homophilous():
    raw = synthetic_graph(2000, 8000, 16, 4, seed=1)
    assert abs(noise_neighbour_correlation(raw)) < 0.05  # independent noise per node
    assert noise_neighbour_correlation(synthetic_graph(2000, 8000, 16, 4, seed=1, feature_smoothing=0.5)) > 0.3


def test_no_smoothing_keeps_the_earlier_generator():
    """Golden values of the generator before feature smoothing existed: beta = 0 must reproduce them."""
    graph = synthetic_graph(500, 2000, 4, 3, seed=7, feature_smoothing=0.0)
    assert graph.edge_index.size(1) == 3518 and graph.y[:5].tolist() == [0, 1, 1, 2, 1]
    expected = torch.tensor([[0.285385, 1.048513, 0.755026, 1.891525], [-0.666054, -0.932941, -0.715943, -1.927411]])
    assert torch.allclose(graph.x[:2], expected, atol=1e-5)
    assert abs(graph.x.double().sum().item() - 16.701098) < 1e-4
