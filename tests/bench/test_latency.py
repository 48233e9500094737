"""graphkd.bench.latency (``graphkd bench latency``): the models, every serving path timed, the report."""
import argparse
import json
import os

import numpy as np
import pytest
import torch

import graphkd.bench.latency_models
from graphkd.bench.latency import LatencyConfig, add_parser, bench_graph, run, time_paths
from graphkd.bench.latency_models import Graph, numpy_mlp
from graphkd.models import build_model
from graphkd.serve.arrivals import Arrival, ArrivalGNN
from graphkd.serve.compress import quantize_int8
from graphkd.serve.per_node import PerNodeGNN


def test_numpy_floor_matches_eager_mlp():
    torch.manual_seed(0)
    model = build_model("mlp", in_channels=6, hidden_channels=16, out_channels=3, num_layers=3, norm="batch_norm")
    model.train()
    model(torch.randn(64, 6))  # give batch norm non-trivial running statistics
    model.eval()
    x = torch.randn(5, 6)
    with torch.no_grad():
        ref = model(x).softmax(-1).numpy()
    np.testing.assert_allclose(numpy_mlp(model)(x.numpy()), ref, atol=1e-5)


def _tiny_cfg(**kw):
    return LatencyConfig(**{**dict(depths=(1, 2), ref_depth=2, student_widths=(8, 16), fanouts=(3, 2), nodes=6,
                                   positions=2, warmup=1, batch_sizes=(1, 4, 64), repeats=2, threads=(1,), epochs=3,
                                   sparsity=0.5), **kw})


def test_harness_on_tiny_graph_produces_all_fields(tmp_path, ring_graph):
    data = ring_graph()
    result = bench_graph(data, "ring", _tiny_cfg(), progress=False)
    names = [r["name"] for r in result["models"]]
    assert {r["role"] for r in result["models"]} == {"teacher", "student", "compressed"}
    assert len(names) == 2 + 3 + 4  # depths, widths and the widest with positions, int8 / half width / pruned x2
    assert "MLP 3x16 + 2 positions (distilled)" in names
    assert result["arrivals"] == {"held_out": 3, "timed": 6, "observed_nodes": 37}  # 20% of 13 test nodes
    assert result["timed_nodes"] == 6
    for r in result["models"]:
        assert 0 <= r["test_acc"] <= 1 and r["params"] > 0
        served = {"eager", "predictor numpy", "predictor onnx", "numpy floor"} if r["role"] == "student" \
            else {f"fanout {'-'.join(['3', '2'][:r['depth']])}", "full"}
        assert set(r["online"][1]) == {"warm", "cold"}
        for paths in r["online"][1].values():
            assert set(paths) == served | {f"arrival {p}" for p in served}
            for stats in paths.values():
                assert 0 < stats["p50_ms"] <= stats["p95_ms"] <= stats["p99_ms"] and stats["n"] == 6
        assert set(r["batched"][1]) == {"1", "4", "40", "whole graph"}  # 64 capped at the 40 nodes
        assert all(v > 0 for v in r["batched"][1].values())
    assert set(result["whole_graph_inputs_ms"]) == {"GNN features + CSR adjacency", "MLP features",
                                                    "MLP features + positions", "GNN dense features + CSR adjacency"}
    for mode in ("warm", "cold"):
        ratios = result["speedups"][1][mode]
        assert len(ratios["gnn_over_student"]) == 6 * 4 and all(v > 0 for v in ratios["gnn_over_student"].values())
        assert ratios["gnn_over_served_student"].keys() == ratios["gnn_over_student"].keys()
        assert len(ratios["predictor_over_numpy_floor"]) == 3 * 2 * 2  # students x backends x (graph, arrival)
        assert all(v > 0 for v in ratios["predictor_over_numpy_floor"].values())
    assert result["speedups"]["reference_student"] == "MLP 3x16 + 2 positions (distilled)"  # the most parameters
    assert result["peak_rss_gib"] > 0


def test_large_graph_path_trains_on_samples_and_infers_layer_by_layer(monkeypatch, ring_graph):
    """A graph named like a large one takes the sampled-training, chunked-inference path."""
    calls, models = [], graphkd.bench.latency_models
    real = models.layerwise_inference
    monkeypatch.setattr(models, "layerwise_inference", lambda *a, **k: calls.append(1) or real(*a, **k))
    cfg = _tiny_cfg(large_epochs=2, large_student_epochs=2, large_batches=1)
    result = bench_graph(ring_graph(), "arxiv-scale", cfg, progress=False)
    assert {r["role"] for r in result["models"]} == {"teacher", "student"}  # no compressed rows at scale
    assert len(calls) == 1 + 2  # the reference teacher's soft targets, then each teacher's whole-graph pass
    assert "sampled batches" in result["training"]
    assert all(0 <= r["test_acc"] <= 1 and r["batched"][1]["whole graph"] > 0 for r in result["models"])
    assert result["whole_graph_inputs_ms"].keys() == {"MLP features", "MLP features + positions"}  # GNNs: chunked


def test_cli_writes_json_markdown_and_plot(tmp_path, data_root):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["latency", "--datasets", "Cora", "--root", str(data_root), "--out", str(tmp_path),
                              "--depths", "1-2", "--ref-depth", "2", "--student-widths", "16", "--nodes", "4",
                              "--positions", "4", "--batch-sizes", "1-8-5000", "--repeats", "1", "--threads", "1",
                              "--epochs", "2", "--no-compress", "--plot", "--quiet"])
    assert args.func(args) == 0
    saved = json.loads((tmp_path / "latency_Cora.json").read_text())
    assert saved["environment"]["cores"] >= 1 and "torch" in saved["environment"]
    assert saved["config"]["depths"] == [1, 2]
    report = (tmp_path / "latency_Cora.md").read_text()
    assert "| SAGE 2x128 | " in report and "| MLP 3x16 + 4 positions (distilled) | " in report
    assert "| batch 1 | batch 8 | batch 2708 | whole graph |" in report  # 5000 capped at Cora's 2,708 nodes
    assert "[arrival fanout 15-10]" in report and "cold: over the student's eager torch" in report
    assert (tmp_path / "latency_Cora.png").stat().st_size > 1000


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="ref_depth"):
        LatencyConfig(depths=(1, 2), ref_depth=3)
    with pytest.raises(ValueError, match="depths"):
        LatencyConfig(depths=(0,))
    with pytest.raises(ValueError, match="threads"):
        run(["Cora"], LatencyConfig(threads=(0,)))
    with pytest.raises(ValueError, match="positions"):
        LatencyConfig(positions=-1)


def test_every_command_parses_on_a_one_core_machine(monkeypatch, capsys):
    # the latency parser builds a default config, whose thread counts once asked for two cores
    from graphkd.cli import main

    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert LatencyConfig().threads == (1,)
    with pytest.raises(SystemExit) as done:
        main(["distill", "--help"])
    assert done.value.code == 0 and "--teacher" in capsys.readouterr().out


def test_latency_script_reports_bad_values_in_one_line():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "latency.py"
    done = subprocess.run([sys.executable, str(script), "--threads", "0"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    cores = os.cpu_count() or 1
    assert done.stderr.strip().splitlines() == [f"graphkd bench: error: threads must lie in [1, {cores}], got (0,)"]


def _recorder(log, key):
    return lambda item: log.append((key, item))


def test_time_paths_gives_every_path_the_same_nodes_in_both_modes():
    log = []
    paths = {"gnn": ({"fanout 2": _recorder(log, "fanout"), "full": _recorder(log, "full")},
                     {"fanout 2": _recorder(log, "arrival fanout"), "full": _recorder(log, "arrival full")}),
             "mlp": ({"eager": _recorder(log, "eager")}, {"eager": _recorder(log, "arrival eager")})}
    timed = time_paths(paths, [1, 2, 3], ["a", "b", "c"], warmup=0)
    assert set(timed["gnn"]["warm"]) == set(timed["gnn"]["cold"]) == {"fanout 2", "full", "arrival fanout 2",
                                                                      "arrival full"}
    assert set(timed["mlp"]["cold"]) == {"eager", "arrival eager"}
    for key in ("fanout", "full", "eager"):
        assert [item for k, item in log if k == key] == [1, 2, 3] * 2  # warm, then cold
        assert [item for k, item in log if k == f"arrival {key}"] == ["a", "b", "c"] * 2


def test_bench_times_full_and_sampled_fetches_on_the_same_nodes(monkeypatch, ring_graph):
    seen = {}

    def spy(call):
        def wrapped(self, item):
            if not isinstance(item, torch.Tensor) or item.numel() == 1:  # not a throughput batch
                key = (type(self).__name__, id(self.model), -1 in self.fanouts)
                seen.setdefault(key, []).append(item.x if isinstance(item, Arrival) else int(item))
            return call(self, item)
        return wrapped

    monkeypatch.setattr(PerNodeGNN, "__call__", spy(PerNodeGNN.__call__))
    monkeypatch.setattr(ArrivalGNN, "__call__", spy(ArrivalGNN.__call__))
    cfg = LatencyConfig(depths=(1, 2), ref_depth=2, student_widths=(8,), fanouts=(3, 2), nodes=5, positions=0,
                        warmup=1, batch_sizes=(2,), repeats=1, threads=(1,), epochs=2, compress=False)
    bench_graph(ring_graph(), "ring", cfg, progress=False)
    assert len(seen) == 2 * 2 * 2  # teachers x (graph, arrival) x (sampled, full)
    for (kind, model, full), items in seen.items():
        other = seen[(kind, model, not full)]
        assert len(items) == len(other) == 2 * (1 + 5)  # warm and cold, each one warm-up call and 5 timed
        if kind == "PerNodeGNN":
            assert items == other
        else:
            assert all(torch.equal(a, b) for a, b in zip(items, other, strict=True))


def test_whole_graph_builds_inputs_once_and_keeps_int8_features_dense(ring_graph):
    data = ring_graph(features=50)
    data.x = (data.x > 2.0).float()  # about 3% non-zero: used as a sparse matrix
    torch.manual_seed(0)
    model = build_model("sage", in_channels=50, hidden_channels=8, out_channels=3, num_layers=2).eval()
    graph = Graph(data, "ring")
    logits, rate = graph.whole_graph({"model": model})
    assert logits.shape == (40, 3) and rate > 0
    assert graph.inputs(model) is graph.inputs(model)  # built once, then kept
    assert graph.inputs(model)[0].layout == torch.sparse_csr
    int8_logits, _ = graph.whole_graph({"model": quantize_int8(model)[0], "dense_features": True})
    torch.testing.assert_close(int8_logits, logits, atol=0.1, rtol=0.1)
    assert set(graph.inputs_ms) == {"GNN features + CSR adjacency", "GNN dense features + CSR adjacency"}
