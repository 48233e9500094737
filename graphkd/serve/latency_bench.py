"""The latency benchmark (``graphkd bench latency``): SAGE teachers by depth, distilled MLP students by
width and compressed teachers, trained on one graph and timed there, in one process, at each thread count.

Small graphs train full-batch; the OGB-sized synthetic graphs (``arxiv-scale``, ``products-scale``) train
their teachers on fan-out samples (graphkd.large.scale.train_sampled) for a few capped epochs, which the report
says: their timings do not depend on how well the weights are trained. Whole-graph passes there run layer
by layer over node chunks (graphkd.large.scale.layerwise_inference), as soft targets are computed at that scale.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data
from tqdm.auto import tqdm

from graphkd.errors import GraphkdError
from graphkd.inputs import sparse_adjacency
from graphkd.large.sampling import NeighborSampler
from graphkd.serve.latency import PerNodeGNN, hardware, numpy_mlp, throughput, time_online

__all__ = ["LARGE_GRAPHS", "LatencyConfig", "add_parser", "bench_graph", "load_graph", "markdown", "plot", "run",
           "speedups"]

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
    large_epochs: int = 3
    large_student_epochs: int = 20
    large_batches: int | None = 40  # teacher batches (1024 seeds) per epoch on large graphs; None: all
    compress: bool = True
    sparsity: float = 0.8
    seed: int = 0

    def __post_init__(self):
        if not self.depths or min(self.depths) < 1 or max(self.depths) > 8:
            raise GraphkdError(f"depths must be between 1 and 8, got {self.depths}")
        if self.ref_depth not in self.depths:
            raise GraphkdError(f"ref_depth {self.ref_depth} must be one of the depths {self.depths}")
        if min(self.threads) < 1 or min(self.batch_sizes) < 1 or self.nodes < 1 or self.full_nodes < 1:
            raise GraphkdError("threads, batch sizes, nodes and full_nodes must be >= 1")
        if min(self.large_epochs, self.large_student_epochs) < 1 or (self.large_batches or 1) < 1:
            raise GraphkdError("large_epochs, large_student_epochs and large_batches must be >= 1")

    def fanouts_for(self, depth: int) -> list[int]:
        """Fan-outs for a ``depth``-layer GNN: the given ones, the last repeated for deeper models."""
        return [self.fanouts[min(i, len(self.fanouts) - 1)] for i in range(depth)]


class Graph:
    """A benchmark graph and how whole-graph logits are computed on it: small graphs in one pass over a
    sparse adjacency, large ones layer by layer over node chunks (memory bounded by one layer)."""

    def __init__(self, data: Data, name: str):
        self.data, self.name, self.large = data, name, name in LARGE_GRAPHS
        self.sampler = NeighborSampler(data.edge_index, data.num_nodes, [-1])  # one CSR, shared by all fetches
        self.adj = None if self.large else sparse_adjacency(data.edge_index, data.num_nodes)

    @torch.inference_mode()
    def logits(self, model: torch.nn.Module) -> Tensor:
        from graphkd.large.scale import layerwise_inference
        from graphkd.training import predict

        if getattr(model, "kind", None) == "mlp":
            return predict(model, self.data)
        if self.large:
            return layerwise_inference(model, self.data, self.sampler)
        return predict(model, Data(x=self.data.x, edge_index=self.adj))


def _train_models(graph: Graph, cfg: LatencyConfig, progress: bool) -> list[dict]:
    """Teachers by depth, distilled MLP students by width and (small graphs) compressed teachers."""
    from graphkd.distill import TEACHER_DEFAULTS, DistillConfig, train_student
    from graphkd.distill.soft_targets import SoftTargets
    from graphkd.large.scale import train_sampled, wide_student_config
    from graphkd.models import build_model, count_parameters
    from graphkd.serve.compress import PruneConfig, half_width_config, prune, quantize_int8
    from graphkd.training import TrainConfig, cross_entropy_on, train_full_batch

    data, large = graph.data, graph.large
    epochs = cfg.large_epochs if large else cfg.epochs
    lr = TEACHER_DEFAULTS["sage"]["lr"]
    hidden = cfg.teacher_hidden or (256 if large else 128)
    out = int(data.y.max()) + 1

    def teacher(depth, width):
        torch.manual_seed(cfg.seed)
        model = build_model("sage", in_channels=data.num_features, hidden_channels=width, out_channels=out,
                            num_layers=depth, dropout=0.5, norm="batch_norm" if large else None)
        if large:
            train_sampled(model, data, graph.sampler.with_fanouts(cfg.fanouts_for(depth)),
                          TrainConfig(epochs=epochs, lr=lr, patience=epochs, batch_size=1024),
                          max_batches=cfg.large_batches, seed=cfg.seed, progress=progress)
        else:
            train_full_batch(model, data, cross_entropy_on(data.train_mask, data.y),
                             TrainConfig(epochs=epochs, lr=lr, patience=min(50, epochs)), f"sage-{depth}L", progress)
        return model.eval()

    models = [{"name": f"SAGE {d}x{hidden}", "role": "teacher", "depth": d, "model": teacher(d, hidden)}
              for d in cfg.depths]
    ref = next(m["model"] for m in models if m["depth"] == cfg.ref_depth)
    targets = SoftTargets.from_logits([graph.logits(ref)], data, "all", seed=cfg.seed)
    for width in cfg.student_widths:
        shape = {"student_layers": cfg.student_layers, "student_hidden": width}
        dcfg = (wide_student_config(**shape, epochs=cfg.large_student_epochs, patience=cfg.large_student_epochs,
                                    lr=0.003) if large else
                DistillConfig(**shape, epochs=epochs, patience=min(50, epochs)))
        models.append({"name": f"MLP {cfg.student_layers}x{width} (distilled)", "role": "student",
                       "depth": cfg.student_layers,
                       "model": train_student(dcfg, data, targets, cfg.seed, "mlp", progress).eval()})
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
                           "role": "compressed", "depth": cfg.ref_depth, "model": pruned.eval()})
    return models


def _serving_paths(entry: dict, graph: Graph, cfg: LatencyConfig, threads: int, exported: Path) -> dict[str, Callable]:
    """Per-node predict functions (taking a node-id tensor) for one model at ``threads`` threads; a
    student's Predictors load from ``exported``, where :func:`bench_graph` exported it."""
    model, data = entry["model"], graph.data
    if entry["role"] != "student":
        fanouts = cfg.fanouts_for(entry["depth"])
        return {"fanout " + "-".join(map(str, fanouts)): PerNodeGNN(model, data, fanouts, graph.sampler),
                "full": PerNodeGNN(model, data, None, graph.sampler)}
    from graphkd.serve.predictor import Predictor

    x_np = data.x.numpy()
    floor = numpy_mlp(model)
    predictors = {"predictor numpy": Predictor.load(exported, "numpy"),
                  "predictor onnx": Predictor.load(exported, "onnx", num_threads=threads)}

    @torch.inference_mode()
    def eager(nodes):
        return model(data.x[nodes])

    return {"eager": eager, **{k: (lambda n, p=p: p.predict_proba(x_np[n.numpy()])) for k, p in predictors.items()},
            "numpy floor": lambda n: floor(x_np[n.numpy()])}


def _whole_graph(model: torch.nn.Module, graph: Graph) -> tuple[Tensor, float]:
    """Logits of every node and the nodes per second of that pass (small graphs: after a warm-up pass;
    a large graph's pass takes long enough that warming up does not change it)."""
    if not graph.large:
        graph.logits(model)
    start = time.perf_counter()
    logits = graph.logits(model)
    return logits, graph.data.num_nodes / (time.perf_counter() - start)


def bench_graph(data: Data, name: str, cfg: LatencyConfig, progress: bool = True) -> dict:
    """Train the models on ``data`` and time them; the result record for one graph."""
    import resource
    import tempfile

    from graphkd.models import count_parameters
    from graphkd.serve.export import export_student
    from graphkd.training import accuracy

    graph = Graph(data, name)
    models = _train_models(graph, cfg, progress)
    gen = torch.Generator().manual_seed(cfg.seed)
    pool = data.test_mask.nonzero().view(-1)
    nodes = [n.view(1) for n in pool[torch.randint(pool.numel(), (cfg.nodes,), generator=gen)]]
    records = []
    bar = tqdm(total=len(models) * len(cfg.threads), desc=f"timing {name}", disable=not progress)
    for entry in models:
        rec = {k: entry[k] for k in ("name", "role", "depth")}
        rec.update(params=entry.get("params") or count_parameters(entry["model"]), online={}, batched={})
        with tempfile.TemporaryDirectory() as exported:
            if entry["role"] == "student":
                export_student(entry["model"], exported, formats=("onnx", "numpy"),
                               preprocessing={"row_normalize": False})
            for threads in cfg.threads:
                torch.set_num_threads(threads)
                paths = _serving_paths(entry, graph, cfg, threads, Path(exported))
                rec["online"][threads] = {p: time_online(fn, nodes[:cfg.full_nodes] if p == "full" else nodes,
                                                         cfg.warmup) for p, fn in paths.items()}
                batch_fn = next(iter(paths.values()))  # fan-out sampling for GNNs, eager torch for MLPs
                rec["batched"][threads] = {str(b): throughput(batch_fn, data.num_nodes, b, cfg.repeats, cfg.seed)
                                           for b in cfg.batch_sizes}
                logits, rec["batched"][threads]["whole graph"] = _whole_graph(entry["model"], graph)
                rec.setdefault("test_acc", accuracy(logits[data.test_mask], data.y[data.test_mask]))
                bar.update()
        records.append(rec)
    bar.close()
    training = f"at most {cfg.epochs} epochs"
    if graph.large:
        training = (f"teachers at most {cfg.large_epochs} epochs of {cfg.large_batches or 'all'} sampled batches, "
                    f"students at most {cfg.large_student_epochs} epochs")
    return {"dataset": name, "num_nodes": data.num_nodes, "num_edges": data.num_edges,
            "num_features": data.num_features, "training": training,
            "models": records, "speedups": speedups(records),
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def speedups(records: list[dict]) -> dict:
    """Per thread count: each GNN path's per-node p50 over the widest student's, eager (torch against
    torch) and served (its fastest exported Predictor, what a user deploys); and each student's
    Predictor p50 over its NumPy floor (acceptance: within 2x)."""
    students = [r for r in records if r["role"] == "student"]
    if not students:
        raise GraphkdError("speed-ups need at least one student")
    ref = max(students, key=lambda r: r["params"])
    result = {"reference_student": ref["name"]}
    for threads, ref_online in ref["online"].items():
        base = ref_online["eager"]["p50_ms"]
        served = min(s["p50_ms"] for p, s in ref_online.items() if p.startswith("predictor"))
        floor = {r["name"]: r["online"][threads]["numpy floor"]["p50_ms"] for r in students}
        result[threads] = {
            "gnn_over_student": {f"{r['name']} [{p}]": s["p50_ms"] / base
                                 for r in records if r["role"] != "student" for p, s in r["online"][threads].items()},
            "gnn_over_served_student": {f"{r['name']} [{p}]": s["p50_ms"] / served for r in records
                                        if r["role"] != "student" for p, s in r["online"][threads].items()},
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
             f"Training: {result['training']}.", ""]
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
        rows = [[k, f"{v:.1f}x", f"{ratios['gnn_over_served_student'][k]:.1f}x"]
                for k, v in ratios["gnn_over_student"].items()]
        lines += [f"## Per-node p50 over {result['speedups']['reference_student']} ({threads} threads)", "",
                  markdown_table(["teacher [fetch]", "over the student in eager torch",
                                  "over the student's fastest Predictor"], rows), ""]
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
    p.add_argument("--large-student-epochs", type=int, default=d.large_student_epochs,
                   help="MLP student epochs on arxiv-/products-scale")
    p.add_argument("--large-batches", type=int, default=d.large_batches,
                   help="sampled teacher batches of 1024 seeds per epoch on arxiv-/products-scale")
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
