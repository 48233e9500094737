"""The latency benchmark (``graphkd bench latency``): SAGE teachers by depth, distilled MLP students by
width and compressed teachers (graphkd.bench.latency_models), trained on one graph and timed there, in
one process, at each thread count.

Every serving path is timed on the same nodes: the sampled and the full neighbourhood fetch alike, and
the students. Each node of the graph is drawn from its test nodes; each arrival from the test nodes held
out with their edges, served into the observed rest when it arrives (graphkd.serve.arrivals: the teacher
fetches its neighbourhood there, a student with position features averages its neighbours' rows, both
inside the timed call). Two modes over those nodes (graphkd.bench.timing): warm, each path back to back
over all the nodes, and cold, every path on one node before the next, so each call finds the caches the
other paths left. Ratios are taken within a mode (graphkd.bench.latency_report). Throughput: random
batches of distinct nodes, sizes capped at the graph's and labelled with the size used, and the
whole-graph pass on model inputs built once beforehand (their build time is reported apart).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch_geometric.data import Data
from tqdm.auto import tqdm

from graphkd.bench.latency_config import LatencyConfig
from graphkd.bench.latency_models import LARGE_GRAPHS, ArrivalSite, Graph, serving_paths, train_models
from graphkd.bench.latency_report import ARRIVAL, markdown, plot, speedups
from graphkd.bench.timing import batch_sizes, hardware, throughput, time_alternating, time_online
from graphkd.data import large as large_graphs
from graphkd.data import load_dataset
from graphkd.device import DEVICES, resolve_device
from graphkd.errors import GraphkdError
from graphkd.models import count_parameters
from graphkd.serve.export import export_student
from graphkd.training import accuracy

__all__ = ["LARGE_GRAPHS", "LatencyConfig", "add_parser", "bench_graph", "load_graph", "markdown", "plot", "run",
           "speedups", "time_paths"]


def time_paths(paths: dict[str, tuple[dict, dict]], nodes: list, arrivals: list, warmup: int) -> dict[str, dict]:
    """Every path of every model (``{name: (graph-node paths, arrival paths)}``) on the same ``nodes``
    and ``arrivals``, in both modes: ``{name: {mode: {path: stats}}}``, arrival paths prefixed ``arrival``."""
    cases = {}
    for name, (online, arriving) in paths.items():
        cases.update({(name, p): (fn, nodes) for p, fn in online.items()})
        cases.update({(name, ARRIVAL + p): (fn, arrivals) for p, fn in arriving.items()})
    timed = {"warm": {key: time_online(fn, inputs, warmup) for key, (fn, inputs) in cases.items()},
             "cold": time_alternating(cases, warmup)}
    return {name: {mode: {p: stats for (n, p), stats in by_case.items() if n == name}
                   for mode, by_case in timed.items()} for name in paths}


def bench_graph(data: Data, name: str, cfg: LatencyConfig, progress: bool = True) -> dict:
    """Train the models on ``data`` and time them; the result record for one graph."""
    graph = Graph(data, name)
    models = train_models(graph, cfg, progress)
    gen = torch.Generator().manual_seed(cfg.seed)
    pool = data.test_mask.nonzero().view(-1)
    nodes = [n.view(1) for n in pool[torch.randint(pool.numel(), (cfg.nodes,), generator=gen)]]
    site = ArrivalSite(data, cfg, gen)
    sizes = batch_sizes(cfg.batch_sizes, data.num_nodes)
    records = [{"name": e["name"], "role": e["role"], "depth": e["depth"], "device": e.get("device", "cpu"),
                "online": {}, "batched": {}, "params": e.get("params") or count_parameters(e["model"])}
               for e in models]
    bar = tqdm(total=len(cfg.threads) * (1 + len(models)), desc=f"timing {name}", disable=not progress)
    with tempfile.TemporaryDirectory() as exported:
        for i, entry in enumerate(models):
            if entry["role"] == "student":
                export_student(entry["model"], Path(exported) / str(i), formats=("onnx", "numpy"),
                               preprocessing={"row_normalize": False}, meta=entry.get("meta"))
        for threads in cfg.threads:
            torch.set_num_threads(threads)
            paths = {e["name"]: serving_paths(e, graph, site, cfg, threads, Path(exported) / str(i))
                     for i, e in enumerate(models)}
            online = time_paths(paths, nodes, site.timed, cfg.warmup)
            bar.update()
            for entry, rec in zip(models, records, strict=True):
                rec["online"][threads] = online[entry["name"]]
                batch_fn = next(iter(paths[entry["name"]][0].values()))  # fan-out fetch for GNNs, eager torch for MLPs
                rec["batched"][threads] = {str(b): throughput(batch_fn, data.num_nodes, b, cfg.repeats, cfg.seed)
                                           for b in sizes}
                logits, rec["batched"][threads]["whole graph"] = graph.whole_graph(entry)
                rec.setdefault("test_acc", accuracy(logits[data.test_mask], data.y[data.test_mask]))
                bar.update()
    bar.close()
    training = f"at most {cfg.epochs} epochs"
    if graph.large:
        training = (f"teachers at most {cfg.large_epochs} epochs of {cfg.large_batches or 'all'} sampled batches, "
                    f"students at most {cfg.large_student_epochs} epochs")
    return {"dataset": name, "num_nodes": data.num_nodes, "num_edges": data.num_edges,
            "num_features": data.num_features, "training": training, "timed_nodes": len(nodes),
            "arrivals": {"held_out": site.arrivals.nodes.numel(), "timed": len(site.timed),
                         "observed_nodes": site.arrivals.observed.num_nodes},
            "whole_graph_inputs_ms": graph.inputs_ms, "models": records, "speedups": speedups(records),
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def load_graph(name: str, root: str | None, seed: int) -> Data:
    """A shared dataset by name, or the synthetic ``arxiv-scale`` / ``products-scale`` graphs. Its table sets
    test accuracy beside latency, so a graph scored otherwise (ROC-AUC) is refused rather than shown by accuracy."""
    if name in LARGE_GRAPHS:
        return getattr(large_graphs, name.replace("-", "_"))(seed)
    data = load_dataset(name, root, seed=seed)
    if data.task.metric != "accuracy":
        raise GraphkdError(f"the latency benchmark reports accuracy beside latency; {name} is a {data.task.kind} "
                           f"task scored by {data.task.title}: time it on a multiclass graph")
    return data


def run(datasets: Sequence[str], cfg: LatencyConfig, root: str | None = None, out: str | Path = "benchmarks/results",
        make_plot: bool = False, progress: bool = True) -> list[dict]:
    """Benchmark each graph; writes ``latency_<name>.json`` and ``.md`` (and ``.png``) to ``out``."""
    resolve_device(cfg.teacher_device)  # a GPU asked for where there is none: refused before anything trains
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
    """``1-2`` or ``1,2``: non-negative integers (argparse says so for anything else)."""
    parts = text.replace(",", "-").split("-")
    if not all(part.strip().isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"expected integers >= 0 joined by '-' or ',' (e.g. 1-2), got {text!r}")
    return tuple(int(part) for part in parts)


# An empty rendering of the default: ArgumentDefaultsHelpFormatter then adds no "(default: True)" to a --no-X flag.
NO_DEFAULT = "%(default).0s"


def add_parser(subparsers) -> None:
    """``graphkd bench latency``."""
    p = subparsers.add_parser(
        "latency", help="CPU latency of GNN teachers vs distilled MLP students",
        description="Train SAGE teachers of several depths, distil 3-layer MLP students of several widths "
                    "(the widest also with position features) and (on small graphs) compress the teacher (int8, "
                    "half width, magnitude and OBD pruning); then time, on CPU and in one process, at each thread "
                    "count: per-node online inference for test nodes of the graph (the GNN fetches the node's "
                    "L-hop neighbourhood, sampled or complete; the MLP reads the node's features; eager torch, "
                    "the exported Predictor and a bare NumPy forward) and for held-out nodes arriving in the "
                    "observed graph, each path both warm (back to back over the nodes) and cold (all paths "
                    "alternating node by node), ratios within each mode; then batched throughput and the "
                    "whole-graph pass on inputs built once. Writes latency_<dataset>.json / .md (/ .png) to --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = LatencyConfig()
    p.add_argument("--datasets", nargs="+", default=["Cora"],
                   help="shared dataset names (Cora, Photo, ...) and/or arxiv-scale, products-scale (synthetic; "
                        "run products-scale alone, under the heavy-job lock)")
    p.add_argument("--root", default=None,
                   help="data folder; default $GRAPHKD_DATA, else $XDG_CACHE_HOME/graphkd (~/.cache/graphkd)")
    p.add_argument("--out", default="benchmarks/results", help="folder for the result files")
    p.add_argument("--depths", type=_ints, default=d.depths, help="teacher depths, e.g. 1-2-3-4")
    p.add_argument("--teacher-hidden", type=int, default=None,
                   help="teacher width; default 128 (small graphs), 256 with batch norm (large)")
    p.add_argument("--student-widths", type=_ints, default=d.student_widths, help="student widths, e.g. 64-256")
    p.add_argument("--ref-depth", type=int, default=d.ref_depth,
                   help="depth of the teacher the students distil from and the compressed baselines start from")
    p.add_argument("--fanouts", type=_ints, default=d.fanouts,
                   help="neighbour fan-outs per layer, nearest hop first; the last repeats for deeper teachers")
    p.add_argument("--nodes", type=int, default=d.nodes,
                   help="random test nodes (drawn with replacement) timed one at a time by every path, and as many "
                        "draws of the arriving nodes; both modes use the same ones")
    p.add_argument("--no-full", dest="full", action="store_false",
                   help="skip the teachers' full L-hop neighbourhood paths (a full 3-hop fetch took about a minute per "
                        "node on products-scale); otherwise they run on the same nodes as the sampled fetch"
                        + NO_DEFAULT)
    p.add_argument("--positions", type=int, default=d.positions,
                   help="also distil the widest student with this many spectral position features (an arriving "
                        "node's are the mean of its neighbours', computed in its timed call); 0: none")
    p.add_argument("--arrival-fraction", type=float, default=d.arrival_fraction,
                   help="fraction of the test nodes held out with their edges and timed as they arrive in the "
                        "observed rest of the graph")
    p.add_argument("--warmup", type=int, default=d.warmup,
                   help="untimed calls before each path (warm mode) or untimed rounds over all paths (cold mode)")
    p.add_argument("--batch-sizes", type=_ints, default=d.batch_sizes,
                   help="throughput batch sizes, each capped at the graph's node count and labelled with the size used")
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
                   help="skip the compressed-teacher rows (int8, half width, pruned)" + NO_DEFAULT)
    p.add_argument("--sparsity", type=float, default=d.sparsity, help="target sparsity of the pruned teachers")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="seed for data, models, node choice and the held-out arrivals")
    p.add_argument("--teacher-device", default=d.teacher_device,
                   help=f"also serve every teacher from this device ({DEVICES}; cpu: no such rows): the same "
                        "weights, the graph and the neighbourhood fetch on the CPU, each call moving the fetched "
                        "features and edges to the GPU and the logits back; timed per node and in batches beside "
                        "the MLP students on the CPU threads")
    p.add_argument("--plot", action="store_true", help="also write an accuracy-vs-latency PNG per dataset")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run_cli)


def _run_cli(args) -> int:
    fields = {f.name for f in dataclasses.fields(LatencyConfig)}
    cfg = LatencyConfig(**{k: v for k, v in vars(args).items() if k in fields})
    run(list(dict.fromkeys(args.datasets)), cfg, args.root, args.out, args.plot, not args.quiet)
    return 0
