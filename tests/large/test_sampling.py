"""Neighbour sampler: exact full neighbourhoods, real neighbours, fan-out caps, seeds first."""
import pytest
import torch
from torch_geometric.data import Data

from graphkd.data.large import synthetic_graph
from graphkd.large.sampling import NeighborSampler, k_hop_subgraph, neighbor_loader, seed_batches
from graphkd.models import GAT, GraphSAGE


@pytest.fixture
def graph() -> Data:
    return synthetic_graph(300, 1500, 8, 3, seed=1)


def path_graph() -> torch.Tensor:
    """0 - 1 - 2 - 3 - 4, both directions."""
    src = torch.tensor([0, 1, 1, 2, 2, 3, 3, 4])
    dst = torch.tensor([1, 0, 2, 1, 3, 2, 4, 3])
    return torch.stack([src, dst])


def test_k_hop_on_path_graph_is_exact():
    sub = k_hop_subgraph(path_graph(), torch.tensor([2]), num_hops=1, num_nodes=5)
    assert sub.batch_size == 1 and sub.n_id[0] == 2
    assert sorted(sub.n_id.tolist()) == [1, 2, 3]
    assert sub.num_sampled_nodes == [1, 2]
    global_edges = {(int(sub.n_id[s]), int(sub.n_id[t])) for s, t in sub.edge_index.t()}
    assert global_edges == {(1, 2), (3, 2)}  # messages flow neighbour -> target

    sub = k_hop_subgraph(path_graph(), torch.tensor([0]), num_hops=2, num_nodes=5)
    assert sub.n_id.tolist() == [0, 1, 2]
    global_edges = {(int(sub.n_id[s]), int(sub.n_id[t])) for s, t in sub.edge_index.t()}
    assert global_edges == {(1, 0), (0, 1), (2, 1)}


@pytest.mark.parametrize("model_cls", [GraphSAGE, GAT])
def test_full_fanout_reproduces_full_graph_outputs(graph, model_cls):
    torch.manual_seed(0)
    kwargs = {"heads": 2} if model_cls is GAT else {}
    model = model_cls(8, 16, 3, 3, norm="batch_norm", **kwargs).eval()
    with torch.no_grad():
        full = model(graph.x, graph.edge_index)
        seeds = torch.tensor([17, 3, 250, 42, 0])
        sub = NeighborSampler(graph.edge_index, graph.num_nodes, [-1, -1, -1]).sample(seeds)
        out = model(graph.x[sub.n_id], sub.edge_index)[:sub.batch_size]
    assert torch.equal(sub.n_id[:5], seeds)
    assert torch.allclose(out, full[seeds], atol=1e-5)


def test_sampled_edges_are_real_and_capped(graph):
    sampler = NeighborSampler(graph.edge_index, graph.num_nodes, [4, 2])
    seeds = torch.arange(0, 300, 7)
    sub = sampler.sample(seeds, generator=torch.Generator().manual_seed(0))
    real = set(map(tuple, graph.edge_index.t().tolist()))
    src, dst = sub.n_id[sub.edge_index[0]], sub.n_id[sub.edge_index[1]]
    pairs = set(zip(src.tolist(), dst.tolist(), strict=True))
    assert pairs <= real
    assert sub.edge_index.size(1) == len(pairs)  # no neighbour drawn twice
    assert torch.equal(sub.n_id[:seeds.numel()], seeds) and sub.n_id.unique().numel() == sub.n_id.numel()
    in_count = torch.bincount(sub.edge_index[1], minlength=sub.num_nodes)
    hop1 = slice(seeds.numel(), seeds.numel() + sub.num_sampled_nodes[1])
    degree = torch.bincount(graph.edge_index[1], minlength=graph.num_nodes)
    assert torch.equal(in_count[:seeds.numel()], degree[seeds].clamp(max=4))
    assert torch.equal(in_count[hop1], degree[sub.n_id[hop1]].clamp(max=2))
    assert (in_count[hop1.stop:] == 0).all()


def test_sampling_is_uniform_without_replacement():
    # A star: node 0 has 6 in-neighbours; drawing 2 of them many times should hit each about equally.
    edge_index = torch.stack([torch.arange(1, 7), torch.zeros(6, dtype=torch.long)])
    sampler = NeighborSampler(edge_index, 7, [2])
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(7)
    for _ in range(600):
        sub = sampler.sample(torch.tensor([0]), generator=gen)
        assert sub.edge_index.size(1) == 2 and sub.n_id[1:].unique().numel() == 2
        counts[sub.n_id[1:]] += 1
    assert counts[0] == 0 and (counts[1:] - 200).abs().max() < 50


def test_bad_input_raises(graph):
    with pytest.raises(ValueError, match="fanouts"):
        NeighborSampler(graph.edge_index, graph.num_nodes, [0])
    sampler = NeighborSampler(graph.edge_index, graph.num_nodes, [2])
    with pytest.raises(ValueError, match="repeat"):
        sampler.sample(torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="seeds"):
        sampler.sample(torch.tensor([graph.num_nodes]))
    assert sampler.sample(torch.tensor([1, 2])).n_id[:2].tolist() == [1, 2]  # state reset after the error


def test_loader_covers_every_seed_once(graph):
    sampler = NeighborSampler(graph.edge_index, graph.num_nodes, [3])
    nodes = graph.train_mask.nonzero().view(-1)
    batches = list(neighbor_loader(sampler, nodes, batch_size=32, generator=torch.Generator().manual_seed(0)))
    seeds = torch.cat([b.n_id[:b.batch_size] for b in batches])
    assert sorted(seeds.tolist()) == nodes.tolist() and max(b.batch_size for b in batches) == 32
    assert [b.numel() for b in seed_batches(torch.arange(5), 2, shuffle=False)] == [2, 2, 1]


def test_undirected_shortcut_gives_the_same_csr(graph):
    sorted_ = NeighborSampler(graph.edge_index, graph.num_nodes, [2])
    shortcut = NeighborSampler(graph.edge_index, graph.num_nodes, [2], undirected=True)
    assert torch.equal(sorted_.rowptr, shortcut.rowptr) and torch.equal(sorted_.col, shortcut.col)


def test_with_fanouts_shares_the_csr_and_checks_fanouts():
    edge_index = torch.tensor([[0, 1, 2, 3, 0], [1, 2, 3, 0, 2]])
    sampler = NeighborSampler(edge_index, 4, [-1])
    two_hop = sampler.with_fanouts([1, 1])
    assert two_hop.col is sampler.col and two_hop.fanouts == [1, 1] and sampler.fanouts == [-1]
    assert len(two_hop.sample(torch.tensor([2]), torch.Generator().manual_seed(0)).num_sampled_nodes) == 3
    with pytest.raises(ValueError, match="fanouts"):
        sampler.with_fanouts([0])
