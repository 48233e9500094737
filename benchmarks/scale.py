"""graphkd at OGB scale on a CPU: time and peak memory per stage, and accuracy, on synthetic graphs of
ogbn-arxiv's and ogbn-products' size (graphkd.data.large).

Stages: graph build, sampler (CSR) build, sampled teacher training, soft targets for every node by
chunked layer-wise inference, labels-only MLP, distilled MLP. Each run adds its graph's entry to
``<out>/scale.json`` (keyed by graph and split) and rewrites ``<out>/scale.md`` from all entries, so
graphs run separately. The runs in results/scale.md, each with
``OMP_NUM_THREADS=1``. With the current presets (homophily 0.6, feature signal 0.15, feature smoothing 0.5):

    python benchmarks/scale.py --graph arxiv --teacher-hidden 128 --batch-size 2048 --teacher-epochs 6 \\
        --teacher-patience 2 --teacher-lr 0.01 --student-epochs 40 --baseline-epochs 40 --student-lr 0.003
    python benchmarks/scale.py --graph products --fanouts 10 5 5 --teacher-hidden 64 --teacher-epochs 1 \\
        --teacher-lr 0.01 --student-hidden 256 --student-epochs 1 --student-lr 0.003
    python benchmarks/scale.py --graph arxiv --split cpf --teacher-hidden 128 --teacher-epochs 80 \\
        --teacher-patience 20 --teacher-lr 0.01 --teacher-dropout 0.5 --student-epochs 5 --baseline-epochs 50 \\
        --student-lr 0.003

Run before feature smoothing existed, with the earlier presets (homophily 0.5, feature signal 0.2); the
flags below reproduce that graph. It is kept in scale.json as ``arxiv-official-smoothing0``:

    python benchmarks/scale.py --graph arxiv --homophily 0.5 --feature-signal 0.2 --feature-smoothing 0 \\
        --teacher-hidden 128 --batch-size 2048 --teacher-epochs 6 --teacher-patience 2 --teacher-lr 0.01 \\
        --student-epochs 8 --student-lr 0.003
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import threading
import time
from pathlib import Path

import torch

from graphkd.data import random_split
from graphkd.data.large import PRESETS, arxiv_scale, products_scale
from graphkd.large.sampling import NeighborSampler
from graphkd.large.scale import teacher_soft_targets, train_sampled, train_wide_student, wide_student_config
from graphkd.models import GraphSAGE, count_parameters
from graphkd.report import environment
from graphkd.training import TrainConfig, accuracy, predict

GRAPHS = {"arxiv": arxiv_scale, "products": products_scale}


class Stage:
    """Wall time and peak resident memory of a block (RSS polled every 50 ms by a thread)."""

    def __init__(self, name: str, record: dict):
        import psutil

        self.name, self.record, self.process = name, record, psutil.Process()

    def _poll(self):
        while not self.done.wait(0.05):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self):
        self.peak, self.done = self.process.memory_info().rss, threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        seconds = time.perf_counter() - self.start
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
        self.record[self.name] = {"seconds": round(seconds, 2), "peak_rss_gib": round(self.peak / 2**30, 2)}
        print(f"[{self.name}] {seconds:.1f} s, peak RSS {self.peak / 2**30:.2f} GiB", flush=True)


def machine() -> dict:
    """graphkd.report.environment() plus the load average: this machine is shared with other jobs."""
    return {**environment(), "load_average_at_start": [round(v, 2) for v in os.getloadavg()]}


def run(args) -> dict:
    stages, result = {}, {"options": vars(args).copy()}
    overrides = {k: v for k, v in (("homophily", args.homophily), ("feature_signal", args.feature_signal),
                                   ("feature_smoothing", args.feature_smoothing)) if v is not None}
    generator = {k: v for k, v in {**PRESETS[f"{args.graph}_scale"], **overrides}.items()
                 if k in ("homophily", "feature_signal", "feature_smoothing")}
    with Stage("build_graph", stages):
        data = GRAPHS[args.graph](seed=args.seed, **overrides)
        if args.split == "cpf":
            data = random_split(data, args.seed)
    degree = torch.bincount(data.edge_index[1], minlength=data.num_nodes)
    result["graph"] = {"nodes": data.num_nodes, "directed_edges": data.edge_index.size(1),
                       "features": data.num_features, "classes": int(data.y.max()) + 1,
                       "homophily_parameter": generator["homophily"], "feature_signal": generator["feature_signal"],
                       "feature_smoothing": generator["feature_smoothing"],
                       "mean_degree": round(degree.float().mean().item(), 2), "max_degree": int(degree.max()),
                       "edge_homophily": round((data.y[data.edge_index[0]] == data.y[data.edge_index[1]])
                                               .float().mean().item(), 3),
                       "train_nodes": int(data.train_mask.sum()), "val_nodes": int(data.val_mask.sum()),
                       "test_nodes": int(data.test_mask.sum())}
    del degree
    print(result["graph"], flush=True)

    with Stage("build_sampler", stages):
        sampler = NeighborSampler(data.edge_index, data.num_nodes, args.fanouts, undirected=True)
    torch.manual_seed(args.seed)
    teacher = GraphSAGE(data.num_features, args.teacher_hidden, len(args.fanouts), result["graph"]["classes"],
                        dropout=args.teacher_dropout, norm="batch_norm")
    config = TrainConfig(epochs=args.teacher_epochs, lr=args.teacher_lr, weight_decay=0.0,
                         patience=args.teacher_patience, batch_size=args.batch_size)
    with Stage("teacher_training", stages):
        stats = train_sampled(teacher, data, sampler, config, max_batches=args.max_batches, seed=args.seed,
                              progress=True)
    result["teacher"] = {"params": count_parameters(teacher), "epochs": stats["epochs"],
                         "batches_per_epoch": stats["batches_per_epoch"],
                         "full_epoch": args.max_batches is None or stats["batches_per_epoch"] < args.max_batches,
                         "epoch_seconds_median": round(statistics.median(stats["epoch_seconds"]), 2),
                         "sampled_val_acc": round(stats["best_val_acc"], 4)}

    with Stage("soft_targets", stages):
        targets = teacher_soft_targets(teacher, data, sampler, args.chunk_size, progress=True)
    result["teacher"]["test_acc"] = round(targets.meta["teacher_test_acc"], 4)
    result["teacher"]["val_acc"] = round(targets.meta["teacher_val_acc"], 4)
    result["soft_target_nodes"] = targets.node_index.numel()
    del sampler, teacher

    student_cfg = wide_student_config(student_hidden=args.student_hidden, student_dropout=args.student_dropout,
                                      lr=args.student_lr,
                                      batch_size=args.student_batch_size)
    baseline_epochs = args.baseline_epochs or args.student_epochs
    for name, soft, epochs in (("labels_only_mlp", None, baseline_epochs),
                               ("distilled_mlp", targets, args.student_epochs)):
        with Stage(name, stages):
            cfg = dataclasses.replace(student_cfg, epochs=epochs, patience=epochs)
            mlp = train_wide_student(data, soft, cfg, seed=args.seed, progress=True)
        logits = predict(mlp, data)
        result[name] = {"params": count_parameters(mlp), "epochs": epochs,
                        "epoch_seconds": round(stages[name]["seconds"] / epochs, 2),
                        "val_acc": round(accuracy(logits[data.val_mask], data.y[data.val_mask]), 4),
                        "test_acc": round(accuracy(logits[data.test_mask], data.y[data.test_mask]), 4)}
    teacher_acc, mlp_acc = result["teacher"]["test_acc"], result["labels_only_mlp"]["test_acc"]
    if teacher_acc > mlp_acc:
        result["gap_closed"] = round((result["distilled_mlp"]["test_acc"] - mlp_acc) / (teacher_acc - mlp_acc), 3)
    result["stages"] = stages
    result["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    return result


def table(results: dict, info: dict) -> str:
    lines = ["# graphkd at OGB scale (synthetic graphs, CPU)", "",
             f"Last run on: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB RAM; torch {info['torch']} "
             f"({info['torch_threads']} thread(s)), torch_geometric {info['torch_geometric']}, Python "
             f"{info['python']}. The machine is shared with other jobs (load average at each run's start below): "
             "timings are indicative. Accuracies: one seed, test split. Each section names its generator "
             "settings: with feature smoothing 0 the features carry independent noise per node, so with half the "
             "nodes labelled (OGB-like split) a student MLP beats the labels-only one only by memorising soft "
             "targets; with feature smoothing > 0 each node's features hold a trace of its neighbourhood, as in "
             "real graphs. With few labels (CPF split) the teacher's edge is in using the labels, which soft "
             "targets on every node transfer. Products-scale timings do not depend on the feature values.", ""]
    for r in results.values():
        g, t, o = r["graph"], r["teacher"], r["options"]
        epoch = "full epoch" if t["full_epoch"] else f"capped at {o['max_batches']} batches per epoch"
        split = "CPF/GLNN split (20/30 labelled per class)" if o.get("split") == "cpf" else "OGB-like random split"
        lines += [f"## {o['graph']} scale, {split}: {g['nodes']:,} nodes, {g['directed_edges']:,} directed edges, "
                  f"{g['features']} features, {g['classes']} classes", "",
                  f"Generator: homophily {g.get('homophily_parameter', 0.5)}, feature signal "
                  f"{g.get('feature_signal', 0.2)}, feature smoothing {g.get('feature_smoothing', 0.0)}"
                  f"{'' if 'feature_smoothing' in g else ' (an earlier run, before feature smoothing existed)'}. "
                  f"Mean degree {g['mean_degree']}, max {g['max_degree']}, edge homophily {g['edge_homophily']}; "
                  f"train/val/test {g['train_nodes']:,}/{g['val_nodes']:,}/{g['test_nodes']:,}. Teacher: SAGE "
                  f"{len(o['fanouts'])}x{o['teacher_hidden']} with batch norm, fan-outs {o['fanouts']}, batches of "
                  f"{o['batch_size']} seeds, {t['epochs']} epoch(s) of {t['batches_per_epoch']} batches ({epoch}). "
                  f"Students: MLP 3x{o['student_hidden']} with batch norm, {r['labels_only_mlp']['epochs']} "
                  f"(labels only) and {r['distilled_mlp']['epochs']} (distilled) epochs, batches "
                  f"of {o['student_batch_size']}; soft targets for {r['soft_target_nodes']:,} nodes. Ran on "
                  f"{r['machine']['cpu']}, load average at start {r['machine']['load_average_at_start']}.", "",
                  "| stage | seconds | peak RSS (GiB) |", "|---|---|---|"]
        lines += [f"| {stage} | {s['seconds']} | {s['peak_rss_gib']} |" for stage, s in r["stages"].items()]
        lines += ["", f"Teacher epoch (median): {t['epoch_seconds_median']} s; labels-only MLP epoch "
                  f"{r['labels_only_mlp']['epoch_seconds']} s; distilled MLP epoch "
                  f"{r['distilled_mlp']['epoch_seconds']} s (student epochs include a validation pass). "
                  f"Process peak RSS: {r['peak_rss_gib']} GiB.", "",
                  "| model | params | test acc |", "|---|---|---|",
                  f"| SAGE teacher | {t['params']:,} | {t['test_acc']:.4f} |",
                  f"| labels-only MLP | {r['labels_only_mlp']['params']:,} | {r['labels_only_mlp']['test_acc']:.4f} |",
                  f"| distilled MLP | {r['distilled_mlp']['params']:,} | {r['distilled_mlp']['test_acc']:.4f} |", ""]
        if "gap_closed" in r:
            lines += [f"The distilled MLP closes {100 * r['gap_closed']:.1f}% of the gap between the labels-only MLP "
                      "and the teacher.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", choices=list(GRAPHS), required=True,
                        help="which OGB-sized synthetic graph: arxiv (169k nodes) or products (2.4M nodes)")
    parser.add_argument("--split", choices=["official", "cpf"], default="official",
                        help="official: the preset's OGB-like random fractions; cpf: GLNN/CPF protocol, 20 train "
                             "and 30 validation nodes per class (graphkd.data.random_split), the rest test")
    parser.add_argument("--seed", type=int, default=0, help="seed of the graph, the split and the models")
    parser.add_argument("--homophily", type=float, default=None, help="override the preset's homophily (0.6)")
    parser.add_argument("--feature-signal", type=float, default=None,
                        help="override the preset's class-mean norm relative to the noise (0.15)")
    parser.add_argument("--feature-smoothing", type=float, default=None,
                        help="override the preset's weight of the neighbours' mean in each node's features (0.5; "
                             "0: independent features, the generator before feature smoothing)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; on a busy 2-core machine one thread avoids thread-pool spinning")
    parser.add_argument("--fanouts", type=int, nargs="+", default=[15, 10, 5],
                        help="neighbours sampled per hop (-1: all); their count is the teacher's depth")
    parser.add_argument("--teacher-hidden", type=int, default=256, help="teacher hidden width (GLNN OGB: 256)")
    parser.add_argument("--teacher-dropout", type=float, default=0.2, help="teacher dropout")
    parser.add_argument("--teacher-lr", type=float, default=0.003, help="teacher Adam learning rate")
    parser.add_argument("--teacher-epochs", type=int, default=10, help="most teacher epochs")
    parser.add_argument("--teacher-patience", type=int, default=3,
                        help="teacher epochs without better sampled validation accuracy before stopping")
    parser.add_argument("--batch-size", type=int, default=1024, help="seed nodes per teacher batch")
    parser.add_argument("--max-batches", type=int, default=None,
                        help="cap on teacher batches per epoch (default: full epochs); reported in the table")
    parser.add_argument("--chunk-size", type=int, default=8192, help="target nodes per chunk of layer-wise inference")
    parser.add_argument("--student-hidden", type=int, default=1024, help="MLP student width (3 layers, batch norm)")
    parser.add_argument("--student-dropout", type=float, default=0.2, help="MLP student dropout")
    parser.add_argument("--student-lr", type=float, default=0.001, help="MLP student Adam learning rate")
    parser.add_argument("--student-epochs", type=int, default=20,
                        help="MLP epochs, all run (best validation epoch kept); also for the labels-only MLP")
    parser.add_argument("--baseline-epochs", type=int, default=None,
                        help="labels-only MLP epochs (default: --student-epochs)")
    parser.add_argument("--student-batch-size", type=int, default=4096, help="nodes per student batch")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                        help="folder of scale.json and scale.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    info = machine()
    result = run(args)
    result["options"]["out"], result["machine"] = str(args.out), info
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "scale.json"
    saved = json.loads(path.read_text()) if path.is_file() else {"results": {}}
    saved["machine"] = info
    saved["results"][f"{args.graph}-{args.split}"] = result
    path.write_text(json.dumps(saved, indent=1))
    (args.out / "scale.md").write_text(table(saved["results"], info))
    print(table({args.graph: result}, info))


if __name__ == "__main__":
    main()
