"""Peak memory of the representation-similarity term at two graph sizes: it must not grow with the graph.

    python benchmarks/similarity_memory.py            # 25,000 and 100,000 nodes, batches of 4096

NOSMOG matches similarity matrices; done over all nodes that is O(num_nodes^2) memory (a user of
its repository reports it does not fit). graphkd matches them within each mini-batch, through
channel products that never form a batch x batch matrix when the batch outnumbers the channels.
Each size runs twice in a fresh process: a SAGE teacher's soft targets, then an MLP student trained
for a few epochs with the similarity term off and on. The peak resident memory is measured over the
student's training alone (the kernel's peak counter is reset before it). The extra peak holds the
teacher's stored representation of every node (the knowledge itself, like the logits: nodes x width);
what the term needs beyond it, its working memory, is what must not depend on the node count.
Writes ``results/similarity_memory.{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _peak_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def _run(num_nodes: int, similarity: float, batch_size: int, epochs: int) -> dict:
    import ctypes
    import gc

    import torch

    from graphkd.data import random_split
    from graphkd.data.large import synthetic_graph
    from graphkd.distill import DistillConfig, teacher_soft_targets, train_student
    from graphkd.training import accuracy, predict

    torch.set_num_threads(1)
    graph = random_split(synthetic_graph(num_nodes, num_edges=5 * num_nodes, num_features=128, num_classes=10,
                                         seed=0), seed=0)
    cfg = DistillConfig(teacher="sage", runs=1, epochs=epochs, patience=epochs, similarity_weight=similarity,
                        batch_size=batch_size, student_hidden=256)
    targets = teacher_soft_targets(cfg, graph, seed=0)
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed memory back: the peak then starts from live memory
    with open("/proc/self/clear_refs", "w") as clear:  # reset the peak: measure the student's training alone
        clear.write("5")
    start, before = time.perf_counter(), _peak_mib()
    student = train_student(cfg, graph, targets, seed=0, kind="mlp")
    logits = predict(student, graph, graph.test_mask.nonzero().view(-1))
    stored = sum(h.numel() * h.element_size() for h in targets.hidden.values()) / 2**20
    return {"num_nodes": num_nodes, "similarity_weight": similarity, "batch_size": batch_size,
            "teacher_representation_mib": stored,
            "rss_before_mib": before, "peak_rss_mib": _peak_mib(), "seconds": time.perf_counter() - start,
            "student_test_acc": accuracy(logits, graph.y[graph.test_mask])}


def measure(num_nodes: int, similarity: float, batch_size: int, epochs: int) -> dict:
    # A fresh process: its peak is this run's alone. An error there is raised here, a crash ends the pool.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_run, num_nodes, similarity, batch_size, epochs).result()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 100_000], help="node counts")
    parser.add_argument("--batch-size", type=int, default=4096, help="student mini-batch (the similarity block)")
    parser.add_argument("--epochs", type=int, default=3, help="teacher and student epochs (memory, not accuracy)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON and markdown")
    args = parser.parse_args(argv)
    from graphkd.report import environment

    rows = [measure(n, w, args.batch_size, args.epochs) for n in args.sizes for w in (0.0, 1.0)]
    extra = {str(n): next(r for r in rows if r["num_nodes"] == n and r["similarity_weight"])["peak_rss_mib"]
             - next(r for r in rows if r["num_nodes"] == n and not r["similarity_weight"])["peak_rss_mib"]
             for n in args.sizes}
    results = {"environment": environment(), "batch_size": args.batch_size, "epochs": args.epochs, "runs": rows,
               "extra_peak_mib": extra}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "similarity_memory.json").write_text(json.dumps(results, indent=1))
    print(write_markdown(results, args.out / "similarity_memory.md"))


def _term_columns(row: dict, extra: dict) -> list[str]:
    """The extra peak, the stored representation in it and the rest (working memory); blank with the term off."""
    if not row["similarity_weight"]:
        return ["", "", ""]
    peak, stored = extra[str(row["num_nodes"])], row["teacher_representation_mib"]
    return [f"{peak:.0f}", f"{stored:.0f}", f"{peak - stored:.0f}"]


def write_markdown(results: dict, path: Path) -> str:
    from graphkd.report import markdown_table

    rows, extra, env = results["runs"], results["extra_peak_mib"], results["environment"]
    table = markdown_table(
        ["nodes", "similarity term", "resident before training (MiB)", "peak while training (MiB)",
         "extra peak for the term (MiB)", "of which the stored teacher representation (MiB)",
         "the term's working memory (MiB)"],
        [[f"{r['num_nodes']:,}", "on" if r["similarity_weight"] else "off", f"{r['rss_before_mib']:.0f}",
          f"{r['peak_rss_mib']:.0f}", *_term_columns(r, extra)] for r in rows])
    largest = max(r["num_nodes"] for r in rows)
    text = (f"# Similarity term: peak memory against graph size\n\nStudent training alone (the peak counter is "
            f"reset after the teacher's soft targets are made), batches of {results['batch_size']} nodes, "
            f"{results['epochs']} epochs, one process per row, 1 thread. A full-graph similarity matrix at "
            f"{largest:,} nodes would take {largest ** 2 * 4 / 2**30:.0f} GiB per copy; per batch it would be "
            f"{results['batch_size'] ** 2 * 4 / 2**20:.0f} MiB, and graphkd forms neither matrix (it matches "
            f"channel-by-channel products, a width x width matrix).\n\n{table}\n\nMachine: {env['cpu']}, "
            f"{env['cores']} cores, {env['memory_gib']} GiB; torch {env['torch']}, "
            f"torch_geometric {env['torch_geometric']}.\n")
    path.write_text(text)
    return text


if __name__ == "__main__":
    main()
