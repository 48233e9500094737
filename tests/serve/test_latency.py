import argparse
import json

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from graphkd.inputs import sparse_adjacency
from graphkd.models import build_model
from graphkd.serve.latency import PerNodeGNN, numpy_mlp, percentiles
from graphkd.serve.latency_bench import LatencyConfig, add_parser, bench_graph, run


def _ring_graph(num_nodes=40, classes=3, features=6, seed=0) -> Data:
    """A ring with chords (undirected), random features, masks split in thirds."""
    gen = torch.Generator().manual_seed(seed)
    src = torch.arange(num_nodes)
    pairs = torch.cat([torch.stack([src, (src + 1) % num_nodes]), torch.stack([src, (src + 7) % num_nodes])], 1)
    edge_index = torch.cat([pairs, pairs.flip(0)], 1)
    y = torch.randint(classes, (num_nodes,), generator=gen)
    x = torch.randn(num_nodes, features, generator=gen) + torch.nn.functional.one_hot(y, features).float()
    part = torch.arange(num_nodes) % 3
    return Data(x=x, y=y, edge_index=edge_index, train_mask=part == 0, val_mask=part == 1, test_mask=part == 2)


def test_percentiles_golden():
    stats = percentiles([0.001 * k for k in range(1, 101)])
    assert stats["p50_ms"] == pytest.approx(50.5)
    assert stats["p95_ms"] == pytest.approx(95.05)
    assert stats["p99_ms"] == pytest.approx(99.01)
    assert stats["n"] == 100
    with pytest.raises(ValueError):
        percentiles([])


@pytest.mark.parametrize("kind,depth", [("sage", 1), ("sage", 3), ("gat", 2)])
def test_per_node_fetch_matches_full_graph_forward(kind, depth):
    torch.manual_seed(0)
    data = _ring_graph()
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


def test_per_node_rejects_gcn_and_wrong_fanouts():
    data = _ring_graph()
    with pytest.raises(ValueError, match="sage and gat"):
        PerNodeGNN(build_model("gcn", in_channels=6, hidden_channels=8, out_channels=3), data)
    with pytest.raises(ValueError, match="one fan-out per layer"):
        PerNodeGNN(build_model("sage", in_channels=6, hidden_channels=8, out_channels=3, num_layers=2), data, [5])


def test_numpy_floor_matches_eager_mlp():
    torch.manual_seed(0)
    model = build_model("mlp", in_channels=6, hidden_channels=16, out_channels=3, num_layers=3, batch_norm=True)
    model.train()
    model(torch.randn(64, 6))  # give batch norm non-trivial running statistics
    model.eval()
    x = torch.randn(5, 6)
    with torch.no_grad():
        ref = model(x).softmax(-1).numpy()
    np.testing.assert_allclose(numpy_mlp(model)(x.numpy()), ref, atol=1e-5)


def _tiny_cfg(**kw):
    return LatencyConfig(depths=(1, 2), ref_depth=2, student_widths=(8, 16), fanouts=(3, 2), nodes=6, full_nodes=3,
                         warmup=1, batch_sizes=(1, 4), repeats=2, threads=(1,), epochs=3, sparsity=0.5, **kw)


def test_harness_on_tiny_graph_produces_all_fields(tmp_path):
    data = _ring_graph()
    result = bench_graph(data, "ring", _tiny_cfg(), progress=False)
    names = [r["name"] for r in result["models"]]
    assert {r["role"] for r in result["models"]} == {"teacher", "student", "compressed"}
    assert len(names) == 2 + 2 + 4  # depths, widths, int8 / half width / magnitude / OBD
    for r in result["models"]:
        assert 0 <= r["test_acc"] <= 1 and r["params"] > 0
        paths = r["online"][1]
        expected = {"eager", "predictor numpy", "predictor onnx", "numpy floor"} if r["role"] == "student" \
            else {f"fanout {'-'.join(['3', '2'][:r['depth']])}", "full"}
        assert set(paths) == expected
        for stats in paths.values():
            assert 0 < stats["p50_ms"] <= stats["p95_ms"] <= stats["p99_ms"]
        assert set(r["batched"][1]) == {"1", "4", "whole graph"}
        assert all(v > 0 for v in r["batched"][1].values())
    ratios = result["speedups"][1]
    assert len(ratios["gnn_over_student"]) == 2 * 6 and all(v > 0 for v in ratios["gnn_over_student"].values())
    assert ratios["gnn_over_served_student"].keys() == ratios["gnn_over_student"].keys()
    assert len(ratios["predictor_over_numpy_floor"]) == 2 * 2
    assert all(v > 0 for v in ratios["predictor_over_numpy_floor"].values())
    assert result["peak_rss_gib"] > 0


def test_large_graph_path_trains_on_samples_and_infers_layer_by_layer(monkeypatch):
    """A graph named like a large one takes the sampled-training, chunked-inference path."""
    import graphkd.large.scale

    calls = []
    real = graphkd.large.scale.layerwise_inference
    monkeypatch.setattr(graphkd.large.scale, "layerwise_inference", lambda *a, **k: calls.append(1) or real(*a, **k))
    cfg = _tiny_cfg(large_epochs=2, large_student_epochs=2, large_batches=1)
    result = bench_graph(_ring_graph(), "arxiv-scale", cfg, progress=False)
    assert {r["role"] for r in result["models"]} == {"teacher", "student"}  # no compressed rows at scale
    assert len(calls) == 1 + 2  # the reference teacher's soft targets, then each teacher's whole-graph pass
    assert "sampled batches" in result["training"]
    assert all(0 <= r["test_acc"] <= 1 and r["batched"][1]["whole graph"] > 0 for r in result["models"])


def test_cli_writes_json_markdown_and_plot(tmp_path, data_root):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["latency", "--datasets", "Cora", "--root", str(data_root), "--out", str(tmp_path),
                              "--depths", "1-2", "--ref-depth", "2", "--student-widths", "16", "--nodes", "4",
                              "--full-nodes", "2", "--batch-sizes", "1-8", "--repeats", "1", "--threads", "1",
                              "--epochs", "2", "--no-compress", "--plot", "--quiet"])
    assert args.func(args) == 0
    saved = json.loads((tmp_path / "latency_Cora.json").read_text())
    assert saved["environment"]["cores"] >= 1 and "torch" in saved["environment"]
    assert saved["config"]["depths"] == [1, 2]
    assert "| SAGE 2x128 |" in (tmp_path / "latency_Cora.md").read_text()
    assert (tmp_path / "latency_Cora.png").stat().st_size > 1000


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="ref_depth"):
        LatencyConfig(depths=(1, 2), ref_depth=3)
    with pytest.raises(ValueError, match="depths"):
        LatencyConfig(depths=(0,))
    with pytest.raises(ValueError, match="threads"):
        run(["Cora"], LatencyConfig(threads=(0,)))
