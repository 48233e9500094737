"""Distil a GNN into an MLP on an OGB-sized synthetic graph, on one process or many: ``torchrun`` runs this.

One machine, two processes of one thread each (backend gloo: they compute on the CPU, the default device)::

    OMP_NUM_THREADS=1 torchrun --standalone --nproc-per-node 2 -m graphkd.large.distill --graph arxiv \\
        --out runs/arxiv

Several machines, here 2 with 4 processes each: the same command on every machine, ``--node-rank`` 0 on the one
whose address is ``MASTER``, and ``--out`` (with the graph cache) on a filesystem all of them see::

    OMP_NUM_THREADS=1 torchrun --nnodes 2 --node-rank 0 --nproc-per-node 4 --master-addr MASTER \\
        --master-port 29500 -m graphkd.large.distill --graph arxiv --out /shared/runs/arxiv

On GPUs, one per process: ``--device cuda`` gives each rank the GPU of its ``LOCAL_RANK`` and the ranks talk over
NCCL (without it, gloo on the CPU); the graph and its sampling stay on the CPU, each sampled batch moves to the
GPU::

    torchrun --standalone --nproc-per-node 4 -m graphkd.large.distill --graph products --device cuda \\
        --out runs/products

``python -m graphkd.large.distill ...`` without torchrun runs alone (world size 1, no process group).
``graphkd distill`` runs under torchrun the same way (MLP students with DDP, rank 0 writes and prints)::

    OMP_NUM_THREADS=1 torchrun --standalone --nproc-per-node 2 -m graphkd.cli distill --dataset Cora \\
        --out runs/cora

Stages of this pipeline:

1. graph: rank 0 builds the graph (graphkd.data.large) and its CSR once into ``--cache``; every rank
   memory-maps that file, so the ranks of one machine share its pages;
2. teacher: GraphSAGE on sampled neighbourhoods with DDP, each rank its own seed nodes
   (:func:`graphkd.large.scale.train_sampled`), saved as ``out/teacher.pt`` and reused when there;
3. soft targets: sharded layer-wise inference into ``out/soft_targets/`` (:mod:`graphkd.large.sharded`);
4. student: the GLNN OGB MLP recipe with DDP on those soft targets (:mod:`graphkd.training.ddp`).

Teacher and student checkpoint every epoch (rank 0 writes ``out/checkpoints/``): after any rank is killed, the
same command resumes. Rank 0 writes ``out/results.json``: accuracies and, per rank and stage, seconds and
peak resident memory.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import time
from pathlib import Path

import torch
from torch_geometric.data import Data

from graphkd.data.large import arxiv_scale, products_scale
from graphkd.device import DEVICES, check_device, resolve_device
from graphkd.distill import train_student
from graphkd.errors import GraphkdError
from graphkd.io import atomic_save, atomic_write_text, os_error_message, writable_folder
from graphkd.large.sampling import NeighborSampler
from graphkd.large.scale import train_sampled, wide_student_config
from graphkd.large.sharded import read_soft_targets, sharded_inference
from graphkd.models import GraphSAGE, load_model, save_model
from graphkd.report import environment
from graphkd.training import TrainConfig, accuracy, predict
from graphkd.training.distributed import barrier, distributed, gather_objects, is_rank_zero, rank, world_size

__all__ = ["cached_graph", "main", "run", "stage"]

GRAPHS = {"arxiv": arxiv_scale, "products": products_scale}
GRAPH_KEYS = ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask")


def _peak_rss_gib() -> float:
    """The process's resident-set high-water mark since the last reset (Linux VmHWM, else ru_maxrss)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 2**20, 3)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)


@contextlib.contextmanager
def stage(name: str, record: dict):
    """Time a stage on this rank (wall and CPU seconds: on a shared machine they differ) and record its peak RSS
    (the high-water mark is reset at its start, on Linux)."""
    barrier()  # every rank starts the stage together: its time includes waiting for the slowest
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    start, cpu = time.perf_counter(), time.process_time()
    yield
    record[name] = {"seconds": round(time.perf_counter() - start, 3),
                    "cpu_seconds": round(time.process_time() - cpu, 3), "peak_rss_gib": _peak_rss_gib()}
    print(f"[rank {rank()}] {name}: {record[name]['seconds']:.1f} s ({record[name]['cpu_seconds']:.1f} s of CPU), "
          f"peak RSS {record[name]['peak_rss_gib']} GiB", flush=True)


def cached_graph(graph: str, seed: int, cache: Path) -> tuple[Data, NeighborSampler]:
    """The graph and its incoming-edge CSR, built by rank 0 into ``cache`` if absent, memory-mapped by all."""
    path = cache / f"graph-{graph}-seed{seed}.pt"
    if is_rank_zero() and not path.is_file():
        data = GRAPHS[graph](seed=seed)
        sampler = NeighborSampler(data.edge_index, data.num_nodes, [-1], undirected=True)
        atomic_save({**{key: data[key] for key in GRAPH_KEYS}, "rowptr": sampler.rowptr, "col": sampler.col}, path)
        del data, sampler
    barrier()
    blob = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    data = Data(**{key: blob[key] for key in GRAPH_KEYS})
    data.dataset, data.split = f"{graph}_scale", "official"
    return data, NeighborSampler.from_csr(blob["rowptr"], blob["col"], [-1])


def _teacher(args, data: Data, sampler: NeighborSampler, out: Path, record: dict) -> torch.nn.Module:
    torch.manual_seed(args.seed)
    teacher = GraphSAGE(data.num_features, args.teacher_hidden, len(args.fanouts), int(data.y.max()) + 1,
                        dropout=args.teacher_dropout, norm="batch_norm").to(resolve_device(args.device))
    path = out / "teacher.pt"
    if path.is_file():
        saved, _ = load_model(path)
        if saved.config() != teacher.config():
            raise GraphkdError(f"{path} holds another teacher ({saved.config()}); delete it or use another --out")
        record["teacher"] = {"reused": str(path)}
        return saved.to(resolve_device(args.device))
    config = TrainConfig(epochs=args.teacher_epochs, lr=args.teacher_lr, weight_decay=0.0,
                         patience=args.teacher_patience, batch_size=args.batch_size)
    stats = train_sampled(teacher, data, sampler.with_fanouts(args.fanouts), config, max_batches=args.max_batches,
                          seed=args.seed, progress=args.progress and is_rank_zero(),
                          checkpoint=out / "checkpoints" / "teacher.ckpt")
    record["teacher"] = {**stats, "best_val_acc": round(stats["best_val_acc"], 4)}
    if is_rank_zero():
        save_model(teacher, path)
    return teacher


def run(args) -> dict:
    """All stages on this rank; returns rank 0's summary (other ranks: their own record)."""
    out = Path(args.out)
    record = {"rank": rank(), "world_size": world_size(), "threads": torch.get_num_threads(),
              "device": str(resolve_device(args.device)), "stages": {}}
    stages = record["stages"]
    with stage("graph", stages):
        data, sampler = cached_graph(args.graph, args.seed, Path(args.cache or out))
    with stage("teacher", stages):
        teacher = _teacher(args, data, sampler, out, record)
    with stage("soft_targets", stages):
        manifest = sharded_inference(teacher, data, sampler, out / "soft_targets", args.chunk_size,
                                     progress=args.progress)
    with stage("read_soft_targets", stages):
        targets = read_soft_targets(manifest, teacher, data, seed=args.seed)
    cfg = wide_student_config(student_hidden=args.student_hidden, lr=args.student_lr,
                              batch_size=args.student_batch_size, epochs=args.student_epochs,
                              patience=args.student_epochs, device=args.device)  # every epoch runs: times compare
    with stage("student", stages):
        student = train_student(cfg, data, targets, args.seed, "mlp", args.progress and is_rank_zero(),
                                checkpoints=out / "checkpoints")
    record["student_epoch_seconds"] = round(stages["student"]["seconds"] / args.student_epochs, 3)
    records = gather_objects(record)
    if not is_rank_zero():
        return record
    logits = predict(student, data, data.test_mask.nonzero().view(-1))
    summary = {"graph": args.graph, "options": {k: v for k, v in vars(args).items()}, "world_size": world_size(),
               "machine": environment(), "teacher_test_acc": round(targets.meta["teacher_test_acc"], 4),
               "student_test_acc": round(accuracy(logits, data.y[data.test_mask]), 4),
               "soft_targets_hash": targets.content_hash(), "ranks": records}
    atomic_write_text(out / "results.json", json.dumps(summary, indent=1))
    print(f"teacher test acc {summary['teacher_test_acc']:.4f}, student test acc {summary['student_test_acc']:.4f} "
          f"({world_size()} process(es)); {out / 'results.json'}", flush=True)
    return summary


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The docstring's commands as written, and every option's default."""


def _number(kind, low: float, high: float = math.inf, low_open: bool = False):
    """An argparse type: a finite ``kind`` in ``[low, high]`` (``(low, high]`` with ``low_open``), refused by
    argparse with one line otherwise."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
        if not (math.isfinite(value) and (low < value if low_open else low <= value) and value <= high):
            raise argparse.ArgumentTypeError(f"must lie in {'(' if low_open else '['}{low}, {high}], got {text}")
        return value
    return parse


def _device(text: str) -> str:
    """An argparse type: a device's name as :func:`graphkd.device.check_device` spells it."""
    try:
        return check_device(text)
    except GraphkdError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="graphkd.large.distill", description=__doc__, formatter_class=_HelpFormatter)
    count, rate, width = _number(int, 1), _number(float, 0.0, 10.0, low_open=True), _number(int, 1, 65536)
    p.add_argument("--graph", choices=list(GRAPHS), required=True,
                   help="arxiv (169k nodes) or products (2.4M nodes), synthetic (graphkd.data.large)")
    p.add_argument("--out", required=True, help="output folder (every rank must see it)")
    p.add_argument("--cache", default=None, help="folder of the built graph (default --out); reused when there")
    # Bounded as DistillConfig bounds them: beyond, torch raised "Overflow when unpacking long long" (a traceback)
    # and a width of 10**12 asked the allocator for terabytes.
    p.add_argument("--seed", type=_number(int, 0, 2**31 - 1), default=0, help="seed of the graph and the models")
    p.add_argument("--threads", type=_number(int, 1, os.cpu_count() or 1), default=1, help="torch threads per process")
    p.add_argument("--device", type=_device, default="cpu",
                   help=f"where each rank computes: {DEVICES}; cuda is each rank's own GPU (cuda:<LOCAL_RANK>), "
                        "and the ranks then talk over NCCL, else gloo")
    p.add_argument("--fanouts", type=count, nargs="+", default=[15, 10, 5], help="teacher fan-outs (its depth)")
    p.add_argument("--teacher-hidden", type=width, default=128, help="teacher width")
    p.add_argument("--teacher-dropout", type=_number(float, 0.0, 0.95), default=0.2, help="teacher dropout")
    p.add_argument("--teacher-lr", type=rate, default=0.01, help="teacher Adam learning rate")
    p.add_argument("--teacher-epochs", type=count, default=6, help="most teacher epochs")
    p.add_argument("--teacher-patience", type=count, default=2, help="teacher early-stopping patience")
    p.add_argument("--batch-size", type=count, default=2048, help="seed nodes per global teacher batch")
    p.add_argument("--max-batches", type=count, default=None, help="cap on teacher batches per epoch")
    p.add_argument("--chunk-size", type=count, default=8192, help="target nodes per chunk of layer-wise inference")
    p.add_argument("--student-hidden", type=width, default=1024, help="MLP student width (3 layers, batch norm)")
    p.add_argument("--student-lr", type=rate, default=0.003, help="MLP student Adam learning rate")
    p.add_argument("--student-epochs", type=count, default=40, help="MLP student epochs, all run (best kept)")
    p.add_argument("--student-batch-size", type=count, default=4096, help="nodes per global student batch")
    p.add_argument("--quiet", dest="progress", action="store_false", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        writable_folder(args.out, "output folder")
        if args.cache is not None:
            writable_folder(args.cache, "graph cache folder")
        resolve_device(args.device)  # "cuda" without CUDA: refused before the graph is built
        with distributed(args.device):
            run(args)
    except GraphkdError as exc:  # bad input: one line, as graphkd's CLI
        parser.exit(2, f"graphkd.large.distill: error: {exc}\n")
    except OSError as exc:  # a missing or unwritable file, or a file where a folder belongs
        parser.exit(2, f"graphkd.large.distill: error: {os_error_message(exc)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
