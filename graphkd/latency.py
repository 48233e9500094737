"""CPU latency of GNN teachers against distilled MLP students, as a user serving them would see it.

Online (one node at a time, inductive): the GNN must fetch the node's L-hop neighbourhood from the
full graph (all of it, or a fan-out sample such as 15-10-5), gather the features and run the forward;
the MLP only runs the node's own features through (eager torch, the exported Predictor, and a bare
NumPy forward of the same weights as the floor). Batched: nodes per second for batch sizes and for the
whole graph. Every case is timed after a warm-up at each thread count; we report p50/p95/p99.

The per-node fetch is exact for layers that aggregate over in-neighbours only (SAGE, GAT): with all
neighbours fetched, the prediction equals the full-graph forward's. GCN is excluded because its
normalisation needs the degrees of the boundary nodes, which the L-hop neighbourhood does not hold.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from tqdm.auto import tqdm

from graphkd.sampling import NeighborSampler

__all__ = ["LatencyConfig", "PerNodeGNN", "add_parser", "bench_graph", "hardware", "load_graph", "markdown",
           "numpy_mlp", "percentiles", "plot", "run", "speedups", "throughput", "time_online", "whole_graph_adj"]


def percentiles(seconds: Sequence[float]) -> dict:
    """p50 / p95 / p99 / mean of call times, in milliseconds."""
    if not len(seconds):
        raise ValueError("no timings to summarise")
    ms = np.asarray(seconds) * 1e3
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99), "mean_ms": float(ms.mean()),
            "n": len(ms)}


def time_online(fn: Callable, inputs: Sequence, warmup: int = 5) -> dict:
    """Time ``fn(item)`` once per item after ``warmup`` untimed calls; percentiles of the call times."""
    for i in range(warmup):
        fn(inputs[i % len(inputs)])
    times = []
    for item in inputs:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return percentiles(times)


def throughput(fn: Callable[[Tensor], object], num_nodes: int, batch_size: int, repeats: int = 5,
               seed: int = 0) -> float:
    """Nodes per second of ``fn(batch of node ids)``: median over ``repeats`` random batches, after one
    warm-up call."""
    gen = torch.Generator().manual_seed(seed)
    batches = [torch.randperm(num_nodes, generator=gen)[:batch_size] for _ in range(repeats + 1)]
    fn(batches[0])
    times = []
    for batch in batches[1:]:
        start = time.perf_counter()
        fn(batch)
        times.append(time.perf_counter() - start)
    return batches[1].numel() / float(np.median(times))


class PerNodeGNN:
    """Predict a GNN's logits for some nodes from their fetched L-hop neighbourhood.

    ``fanouts=None`` fetches every neighbour (the exact L-hop neighbourhood); otherwise one fan-out per
    layer, nearest hop first (15-10-5 samples 15 neighbours of the target, 10 of each of those, ...).
    ``sampler``: a :class:`NeighborSampler` of ``data`` to share its CSR (built once, as a serving
    system keeps the graph); by default one is built.
    """

    def __init__(self, model: torch.nn.Module, data: Data, fanouts: Sequence[int] | None = None,
                 sampler: NeighborSampler | None = None):
        if getattr(model, "kind", None) == "gcn":
            raise ValueError("per-node GNN latency supports sage and gat teachers (GCN's normalisation "
                             "needs degrees outside the L-hop neighbourhood)")
        layers = model.num_layers
        self.fanouts = [-1] * layers if fanouts is None else list(fanouts)
        if len(self.fanouts) != layers:
            raise ValueError(f"need one fan-out per layer: {layers} layers, got {len(self.fanouts)} fan-outs")
        self.model, self.x = model.eval(), data.x
        self.sampler = sampler or NeighborSampler(data.edge_index, data.num_nodes, self.fanouts)

    @torch.inference_mode()
    def __call__(self, nodes: Tensor) -> Tensor:
        sub = self.sampler.sample(nodes.view(-1), fanouts=self.fanouts)
        return self.model(self.x[sub.n_id], sub.edge_index)[:sub.batch_size]


def whole_graph_adj(data: Data) -> Tensor:
    """The graph as a transposed sparse CSR adjacency: PyG layers then aggregate by sparse matmul, whose
    memory is O(nodes x features) instead of O(edges x features) (what makes products-scale fit)."""
    from torch_geometric.utils import coalesce, to_torch_csr_tensor

    return to_torch_csr_tensor(coalesce(data.edge_index, num_nodes=data.num_nodes).flip(0),
                               size=(data.num_nodes, data.num_nodes))


def numpy_mlp(model: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """The MLP's eval-mode forward as bare NumPy (batch norm folded in): one matrix product per layer,
    ReLU between, softmax last, so it returns what the Predictor returns. The floor for any serving path."""
    from graphkd.export import fold_batch_norm

    *hidden, (w_out, b_out) = fold_batch_norm(model)

    def forward(x: np.ndarray) -> np.ndarray:
        for w, b in hidden:
            x = np.maximum(x @ w + b, 0.0)
        logits = x @ w_out + b_out
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    return forward


def hardware() -> dict:
    """graphkd.report.environment() plus the thread settings of the BLAS libraries, which NumPy uses."""
    import os

    from graphkd.report import environment

    env = environment()
    env["thread_env"] = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                         "OPENBLAS_NUM_THREADS") if os.environ.get(k)}
    env["torch_interop_threads"] = torch.get_num_interop_threads()
    return env


# ---- the benchmark: models on one graph, timed at each thread count ----

LARGE_GRAPHS = ("arxiv-scale", "products-scale")


@dataclass
class LatencyConfig:
    depths: tuple[int, ...] = (1, 2, 3, 4)
    teacher_hidden: int | None = None  # default: 128 on small graphs, 256 with batch norm on large ones
    student_widths: tuple[int, ...] = (64, 256)
    student_layers: int = 3
    ref_depth: int = 3  # teacher the students learn from, compressed, and compared against
    fanouts: tuple[int, ...] = (15, 10, 5)
    nodes: int = 100
    full_nodes: int = 20
    warmup: int = 5
    batch_sizes: tuple[int, ...] = (1, 64, 1024, 4096)
    repeats: int = 3
    threads: tuple[int, ...] = (1, 2)
    epochs: int = 200
    large_epochs: int = 10
    compress: bool = True
    sparsity: float = 0.8
    seed: int = 0

    def __post_init__(self):
        if not self.depths or min(self.depths) < 1 or max(self.depths) > 8:
            raise ValueError(f"depths must be between 1 and 8, got {self.depths}")
        if self.ref_depth not in self.depths:
            raise ValueError(f"ref_depth {self.ref_depth} must be one of the depths {self.depths}")
        if min(self.threads) < 1 or min(self.batch_sizes) < 1 or self.nodes < 1 or self.full_nodes < 1:
            raise ValueError("threads, batch sizes, nodes and full_nodes must be >= 1")

    def fanouts_for(self, depth: int) -> list[int]:
        """Fan-outs for a ``depth``-layer GNN: the given ones, the last repeated for deeper models."""
        return [self.fanouts[min(i, len(self.fanouts) - 1)] for i in range(depth)]


def _train_models(data: Data, cfg: LatencyConfig, large: bool, progress: bool) -> list[dict]:
    """Teachers by depth, distilled MLP students by width and (small graphs) compressed teachers."""
    from graphkd.compress import PruneConfig, half_width_config, prune, quantize_int8
    from graphkd.distill import TEACHER_DEFAULTS, DistillConfig, train_student
    from graphkd.models import build_model, count_parameters
    from graphkd.soft_targets import SoftTargets
    from graphkd.training import TrainConfig, cross_entropy_on, predict, train_full_batch

    epochs = cfg.large_epochs if large else cfg.epochs
    train_cfg = TrainConfig(epochs=epochs, lr=TEACHER_DEFAULTS["sage"]["lr"], patience=max(1, min(50, epochs)))
    hidden = cfg.teacher_hidden or (256 if large else 128)
    out = int(data.y.max()) + 1

    def teacher(depth, width):
        torch.manual_seed(cfg.seed)
        model = build_model("sage", in_channels=data.num_features, hidden_channels=width, out_channels=out,
                            num_layers=depth, dropout=0.5, norm="batch_norm" if large else None)
        train_full_batch(model, data, cross_entropy_on(data.train_mask, data.y), train_cfg, f"sage-{depth}L",
                         progress)
        return model

    models = [{"name": f"SAGE {d}x{hidden}", "role": "teacher", "depth": d, "model": teacher(d, hidden)}
              for d in cfg.depths]
    ref = next(m["model"] for m in models if m["depth"] == cfg.ref_depth)
    targets = SoftTargets.from_logits([predict(ref, data)], data, "all", seed=cfg.seed)
    for width in cfg.student_widths:
        dcfg = DistillConfig(student_layers=cfg.student_layers, student_hidden=width, student_batch_norm=large,
                             student_dropout=0.2 if large else 0.5, epochs=epochs, patience=train_cfg.patience)
        models.append({"name": f"MLP {cfg.student_layers}x{width} (distilled)", "role": "student",
                       "depth": cfg.student_layers, "model": train_student(dcfg, data, targets, cfg.seed, "mlp")})
    if cfg.compress and not large:
        quantized, _ = quantize_int8(ref)
        half = half_width_config(ref.config())
        models += [{"name": f"SAGE {cfg.ref_depth}L int8", "role": "compressed", "depth": cfg.ref_depth,
                    "model": quantized, "params": count_parameters(ref)},  # packed int8 weights are not Parameters
                   {"name": f"SAGE {cfg.ref_depth}x{half['hidden_channels']} (half width)", "role": "compressed",
                    "depth": cfg.ref_depth, "model": teacher(cfg.ref_depth, half["hidden_channels"])}]
        for criterion in ("magnitude", "obd"):
            pruned = copy.deepcopy(ref)
            prune(pruned, data, PruneConfig(criterion=criterion, target_sparsity=cfg.sparsity, rounds=3,
                                            retrain=TrainConfig(epochs=min(epochs, 50), patience=20)), progress)
            models.append({"name": f"SAGE {cfg.ref_depth}L {criterion}-pruned {cfg.sparsity:.0%}",
                           "role": "compressed", "depth": cfg.ref_depth, "model": pruned})
    for m in models:
        m["model"].eval()
    return models


def _serving_paths(entry: dict, data: Data, cfg: LatencyConfig, threads: int, tmp: Path,
                   sampler: NeighborSampler) -> dict[str, Callable]:
    """Per-node predict functions (taking a node-id tensor) for one model at ``threads`` threads."""
    model = entry["model"]
    if entry["role"] != "student":
        fanouts = cfg.fanouts_for(entry["depth"])
        return {"fanout " + "-".join(map(str, fanouts)): PerNodeGNN(model, data, fanouts, sampler),
                "full": PerNodeGNN(model, data, None, sampler)}
    from graphkd.export import export_student
    from graphkd.predictor import Predictor

    x_np = data.x.numpy()
    floor = numpy_mlp(model)
    export_student(model, tmp, formats=("onnx", "numpy"), preprocessing={"row_normalize": False})
    predictors = {"predictor numpy": Predictor.load(tmp, "numpy"),
                  "predictor onnx": Predictor.load(tmp, "onnx", num_threads=threads)}

    @torch.inference_mode()
    def eager(nodes):
        return model(data.x[nodes])

    return {"eager": eager, **{k: (lambda n, p=p: p.predict_proba(x_np[n.numpy()])) for k, p in predictors.items()},
            "numpy floor": lambda n: floor(x_np[n.numpy()])}


@torch.inference_mode()
def _whole_graph(entry: dict, data: Data, adj: Tensor) -> float:
    """Nodes per second of one whole-graph pass (after a warm-up pass)."""
    from graphkd.training import predict

    graph = Data(x=data.x, edge_index=adj)
    predict(entry["model"], graph)
    start = time.perf_counter()
    predict(entry["model"], graph)
    return data.num_nodes / (time.perf_counter() - start)


def bench_graph(data: Data, name: str, cfg: LatencyConfig, progress: bool = True) -> dict:
    """Train the models on ``data`` and time them; the result record for one graph."""
    import resource
    import tempfile

    from graphkd.models import count_parameters
    from graphkd.training import accuracy, predict

    large = name in LARGE_GRAPHS
    adj = whole_graph_adj(data)
    sampler = NeighborSampler(data.edge_index, data.num_nodes, [-1])
    models = _train_models(Data(**{**data.to_dict(), "edge_index": adj}) if large else data, cfg, large, progress)
    gen = torch.Generator().manual_seed(cfg.seed)
    pool = data.test_mask.nonzero().view(-1)
    nodes = [n.view(1) for n in pool[torch.randint(pool.numel(), (cfg.nodes,), generator=gen)]]
    records = []
    bar = tqdm(total=len(models) * len(cfg.threads), desc=f"timing {name}", disable=not progress)
    for entry in models:
        logits = predict(entry["model"], Data(x=data.x, edge_index=adj))
        rec = {k: entry[k] for k in ("name", "role", "depth")}
        rec.update(params=entry.get("params") or count_parameters(entry["model"]), online={}, batched={},
                   test_acc=accuracy(logits[data.test_mask], data.y[data.test_mask]))
        for threads in cfg.threads:
            torch.set_num_threads(threads)
            with tempfile.TemporaryDirectory() as tmp:
                paths = _serving_paths(entry, data, cfg, threads, Path(tmp), sampler)
                rec["online"][threads] = {p: time_online(fn, nodes[:cfg.full_nodes] if p == "full" else nodes,
                                                         cfg.warmup) for p, fn in paths.items()}
                batch_fn = next(iter(paths.values()))  # fan-out sampling for GNNs, eager torch for MLPs
                rec["batched"][threads] = {str(b): throughput(batch_fn, data.num_nodes, b, cfg.repeats, cfg.seed)
                                           for b in cfg.batch_sizes}
                rec["batched"][threads]["whole graph"] = _whole_graph(entry, data, adj)
            bar.update()
        records.append(rec)
    bar.close()
    return {"dataset": name, "num_nodes": data.num_nodes, "num_edges": data.num_edges,
            "num_features": data.num_features, "trained_epochs": cfg.large_epochs if large else cfg.epochs,
            "models": records, "speedups": speedups(records),
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def speedups(records: list[dict]) -> dict:
    """Per thread count: each GNN path's per-node p50 over the widest student's eager p50, and each
    student's Predictor p50 over its NumPy floor (acceptance: within 2x)."""
    students = [r for r in records if r["role"] == "student"]
    if not students:
        raise ValueError("speed-ups need at least one student")
    ref = max(students, key=lambda r: r["params"])
    result = {"reference_student": ref["name"]}
    for threads, ref_online in ref["online"].items():
        base = ref_online["eager"]["p50_ms"]
        floor = {r["name"]: r["online"][threads]["numpy floor"]["p50_ms"] for r in students}
        result[threads] = {
            "gnn_over_student": {f"{r['name']} [{p}]": s["p50_ms"] / base
                                 for r in records if r["role"] != "student" for p, s in r["online"][threads].items()},
            "predictor_over_numpy_floor": {f"{r['name']} [{p}]": s["p50_ms"] / floor[r["name"]]
                                           for r in students for p, s in r["online"][threads].items()
                                           if p.startswith("predictor")},
        }
    return result


def markdown(result: dict, env: dict) -> str:
    """Accuracy beside per-node latency, then throughput, then the speed-ups, for one graph."""
    from graphkd.report import markdown_table

    lines = [f"# Latency: {result['dataset']} ({result['num_nodes']:,} nodes, {result['num_edges']:,} edges, "
             f"{result['num_features']} features)", "",
             f"{env['cpu']}, {env['cores']} cores, {env['memory_gib']} GiB; torch {env['torch']}, "
             f"PyG {env['torch_geometric']}, numpy {env['numpy']}. Peak memory {result['peak_rss_gib']:.2f} GiB. "
             f"Models trained for at most {result['trained_epochs']} epochs.", ""]
    for threads in result["speedups"]:
        if threads == "reference_student":
            continue
        rows = [[r["name"], f"{100 * r['test_acc']:.1f}", f"{r['params']:,}", path,
                 *(f"{s[k]:.3f}" for k in ("p50_ms", "p95_ms", "p99_ms"))]
                for r in result["models"] for path, s in r["online"][threads].items()]
        lines += [f"## Online, one node at a time ({threads} thread{'s' * (threads > 1)})", "",
                  markdown_table(["model", "test acc (%)", "params", "path", "p50 ms", "p95 ms", "p99 ms"], rows), ""]
        cols = list(result["models"][0]["batched"][threads])
        rows = [[r["name"], *(f"{r['batched'][threads][c]:,.0f}" for c in cols)] for r in result["models"]]
        lines += [f"## Throughput, nodes/s ({threads} thread{'s' * (threads > 1)})", "",
                  markdown_table(["model", *(f"batch {c}" if c.isdigit() else c for c in cols)], rows), ""]
        ratios = result["speedups"][threads]
        rows = [[k, f"{v:.1f}x"] for k, v in ratios["gnn_over_student"].items()]
        lines += [f"## Per-node p50 over {result['speedups']['reference_student']} eager ({threads} threads)", "",
                  markdown_table(["teacher [fetch]", "ratio"], rows), ""]
        rows = [[k, f"{v:.2f}x"] for k, v in ratios["predictor_over_numpy_floor"].items()]
        lines += ["Predictor p50 over the bare NumPy forward (acceptance < 2x):", "",
                  markdown_table(["student [backend]", "ratio"], rows), ""]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> Path:
    """Accuracy against per-node p50 latency (log scale, fewest threads): teachers by depth (fan-out
    fetch), students by width (eager), compressed teachers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    threads = min(t for t in result["speedups"] if t != "reference_student")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for role, marker in (("teacher", "o"), ("student", "s"), ("compressed", "^")):
        rows = [r for r in result["models"] if r["role"] == role]
        if not rows:
            continue
        lat = [next(iter(r["online"][threads].values()))["p50_ms"] for r in rows]
        acc = [100 * r["test_acc"] for r in rows]
        ax.scatter(lat, acc, marker=marker, label=role)
        for r, x, y in zip(rows, lat, acc, strict=True):
            ax.annotate(r["name"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel(f"per-node p50 latency (ms, {threads} thread, GNN with fan-out sampling)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{result['dataset']}: accuracy vs CPU latency")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def load_graph(name: str, root: str | None, seed: int) -> Data:
    """A shared dataset by name, or the synthetic ``arxiv-scale`` / ``products-scale`` graphs."""
    if name in LARGE_GRAPHS:
        from graphkd.data import large

        return getattr(large, name.replace("-", "_"))(seed)
    from graphkd.data import load_dataset

    return load_dataset(name, root, seed=seed)


def run(datasets: Sequence[str], cfg: LatencyConfig, root: str | None = None, out: str | Path = "benchmarks/results",
        make_plot: bool = False, progress: bool = True) -> list[dict]:
    """Benchmark each graph; writes ``latency_<name>.json`` and ``.md`` (and ``.png``) to ``out``."""
    import dataclasses
    import json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    threads_before = torch.get_num_threads()
    env = hardware()
    results = []
    try:
        for name in datasets:
            result = bench_graph(load_graph(name, root, cfg.seed), name, cfg, progress)
            result.update(environment=env, config=dataclasses.asdict(cfg))
            stem = out / f"latency_{name}"
            stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
            stem.with_suffix(".md").write_text(markdown(result, env) + "\n")
            if make_plot:
                plot(result, stem.with_suffix(".png"))
            print(markdown(result, env))
            results.append(result)
    finally:
        torch.set_num_threads(threads_before)
    return results


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.replace(",", "-").split("-") if v)


def add_parser(subparsers) -> None:
    """``graphkd bench latency``."""
    import argparse

    p = subparsers.add_parser(
        "latency", help="CPU latency of GNN teachers vs distilled MLP students",
        description="Train SAGE teachers of several depths, distil 3-layer MLP students of several widths "
                    "and (on small graphs) compress the teacher (int8, half width, magnitude and OBD "
                    "pruning); then time, on CPU and in one process, per-node online inference (the GNN "
                    "fetches the node's L-hop neighbourhood, sampled or complete; the MLP reads the node's "
                    "features; eager torch, the exported Predictor and a bare NumPy forward) and batched "
                    "throughput, at each thread count. Writes latency_<dataset>.json / .md (/ .png) to --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = LatencyConfig()
    p.add_argument("--datasets", nargs="+", default=["Cora"],
                   help="shared dataset names (Cora, Photo, ...) and/or arxiv-scale, products-scale (synthetic; "
                        "run products-scale alone, under the heavy-job lock)")
    p.add_argument("--root", default=None, help="data folder; default $GRAPHKD_DATA, else ~/.cache/graphkd")
    p.add_argument("--out", default="benchmarks/results", help="folder for the result files")
    p.add_argument("--depths", type=_ints, default=d.depths, help="teacher depths, e.g. 1-2-3-4")
    p.add_argument("--teacher-hidden", type=int, default=None,
                   help="teacher width; default 128 (small graphs), 256 with batch norm (large)")
    p.add_argument("--student-widths", type=_ints, default=d.student_widths, help="student widths, e.g. 64-256")
    p.add_argument("--ref-depth", type=int, default=d.ref_depth,
                   help="depth of the teacher the students distil from and the compressed baselines start from")
    p.add_argument("--fanouts", type=_ints, default=d.fanouts,
                   help="neighbour fan-outs per layer, nearest hop first; the last repeats for deeper teachers")
    p.add_argument("--nodes", type=int, default=d.nodes, help="random test nodes timed one at a time")
    p.add_argument("--full-nodes", type=int, default=d.full_nodes,
                   help="of those, how many are timed with the full L-hop neighbourhood (slow on large graphs)")
    p.add_argument("--warmup", type=int, default=d.warmup, help="untimed calls before each case")
    p.add_argument("--batch-sizes", type=_ints, default=d.batch_sizes, help="throughput batch sizes")
    p.add_argument("--repeats", type=int, default=d.repeats, help="timed batches per batch size")
    p.add_argument("--threads", type=_ints, default=d.threads, help="torch thread counts, e.g. 1-2")
    p.add_argument("--epochs", type=int, default=d.epochs, help="training epochs on small graphs")
    p.add_argument("--large-epochs", type=int, default=d.large_epochs,
                   help="training epochs on arxiv-/products-scale (few: enough for timing, said in the report)")
    p.add_argument("--no-compress", dest="compress", action="store_false",
                   help="skip the compressed-teacher rows (int8, half width, pruned)")
    p.add_argument("--sparsity", type=float, default=d.sparsity, help="target sparsity of the pruned teachers")
    p.add_argument("--seed", type=int, default=d.seed, help="seed for data, models and node choice")
    p.add_argument("--plot", action="store_true", help="also write an accuracy-vs-latency PNG per dataset")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run_cli)


def _run_cli(args) -> int:
    import dataclasses

    fields = {f.name for f in dataclasses.fields(LatencyConfig)}
    cfg = LatencyConfig(**{k: v for k, v in vars(args).items() if k in fields})
    run(args.datasets, cfg, args.root, args.out, args.plot, not args.quiet)
    return 0
