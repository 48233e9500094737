"""1 process vs 2 processes (one thread each) of the torchrun pipeline (graphkd.large.distill) on the synthetic
arxiv- and products-sized graphs: time and peak RSS per rank of soft-target inference and student epochs, the
speed-up (1-process time / 2-process time of the slower rank) and the accuracies of both runs.

Each world size runs ``torchrun --standalone --nproc-per-node N -m graphkd.large.distill`` with the options
given after ``--`` into its own folder under ``--work`` (the built graph is cached there and shared). Results
go to ``results/distributed.json`` (one entry per graph) and ``results/distributed.md``. The runs in results,
with the background jobs of this machine paused:

    python benchmarks/distributed_scaling.py --graph arxiv -- --teacher-epochs 3 --max-batches 15 \\
        --student-epochs 15
    python benchmarks/distributed_scaling.py --graph products -- --fanouts 10 5 5 --teacher-hidden 64 \\
        --teacher-epochs 1 --max-batches 2 --student-hidden 256 --student-epochs 1
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from graphkd.bench.timing import hardware
from graphkd.io import update_json

RESULTS = Path(__file__).parent / "results"


def launch(graph: str, processes: int, work: Path, options: list[str]) -> dict:
    """One torchrun run from scratch (no teacher, checkpoint or shard of an earlier run); its results.json."""
    out = work / f"{graph}-{processes}proc"
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
               "-m", "graphkd.large.distill", "--graph", graph, "--out", str(out), "--cache", str(work), "--quiet",
               *options]
    print(" ".join(command), flush=True)
    subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
    return json.loads((out / "results.json").read_text())


def stage_row(name: str, runs: dict, epochs: dict | None = None) -> list:
    """Wall seconds (the slower rank's), CPU seconds and peak RSS per rank of a stage, 1 vs 2 processes, the
    speed-up, and the CPU work of both ranks over one process's. ``epochs``: per world size, to divide by."""
    def per_rank(world, key):
        return [r["stages"][name][key] / (epochs[world] if epochs else 1) for r in runs[world]["ranks"]]

    one, two = max(per_rank("1", "seconds")), max(per_rank("2", "seconds"))
    cpu_one, cpu_two = per_rank("1", "cpu_seconds")[0], per_rank("2", "cpu_seconds")
    rss = [[r["stages"][name]["peak_rss_gib"] for r in runs[w]["ranks"]] for w in ("1", "2")]
    return ["student epoch" if epochs else name.replace("_", " "), f"{one:.2f}",
            " / ".join(f"{v:.2f}" for v in per_rank("2", "seconds")), f"{one / two:.2f}x", f"{50 * one / two:.0f}%",
            f"{cpu_one:.2f}", " / ".join(f"{v:.2f}" for v in cpu_two), f"{sum(cpu_two) / cpu_one:.2f}",
            rss[0][0], " / ".join(str(v) for v in rss[1])]


def table(results: dict) -> str:
    machine = results["machine"]
    lines = ["# 1 vs 2 processes under torchrun (gloo, one thread each)", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB RAM; torch "
             f"{machine['torch']}, torch_geometric {machine['torch_geometric']}, Python {machine['python']}. "
             "Other CPU-bound jobs may share the machine (the load average at each run's start is given below; in "
             "the committed runs it was about 5 on 2 cores, so a process got roughly half to two thirds of a core "
             "and wall-clock speed-ups understate what 2 idle cores give). CPU seconds "
             "(time.process_time per rank) do not depend on that share: the CPU work column (both ranks' CPU "
             "seconds over one process's) says how much work distributing adds (1.00: none). Speed-up: the "
             "1-process wall time over the 2-process wall time of the slower rank (each stage starts at a "
             "barrier); efficiency: speed-up / 2. Peak RSS per rank counts the memory-mapped graph pages the rank "
             "touched (shared by the ranks of a machine, counted in each). Epochs and teacher batches are reduced "
             "(options below): the per-stage and per-epoch figures are the measurement, not a full run's accuracy "
             "(the products teacher saw 2 batches: its accuracies are near chance). Accuracy of 2 vs 1 processes: "
             "tolerance 1.0 point, since the runs draw other neighbour samples, dropout masks and per-rank batch "
             "statistics and so differ as two seeds do (tests/large/test_distributed.py checks equality where "
             "none of these enter).", ""]
    for graph, entry in results["graphs"].items():
        runs = entry["runs"]
        epochs = {w: runs[w]["options"]["student_epochs"] for w in runs}
        lines += [f"## {graph} scale", "", f"Options: `{' '.join(entry['options'])}`; load average at start "
                  f"{entry['load_average_at_start']}.", "",
                  "| stage | wall s, 1 process | wall s, 2 processes (rank 0 / 1) | speed-up | efficiency | "
                  "CPU s, 1 process | CPU s, 2 processes (rank 0 / 1) | CPU work, 2 / 1 | peak RSS GiB, 1 process | "
                  "peak RSS GiB, 2 processes (rank 0 / 1) |", "|---|---|---|---|---|---|---|---|---|---|"]
        rows = [stage_row(name, runs) for name in ("teacher", "soft_targets", "read_soft_targets")]
        rows.append(stage_row("student", runs, epochs))
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
        lines += ["", "| model | 1 process test acc | 2 processes test acc | difference (points) |",
                  "|---|---|---|---|"]
        for model in ("teacher", "student"):
            a, b = runs["1"][f"{model}_test_acc"], runs["2"][f"{model}_test_acc"]
            lines.append(f"| {model} | {a:.4f} | {b:.4f} | {100 * (b - a):+.2f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", choices=["arxiv", "products"], required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/graphkd-distributed"),
                        help="folder of the runs and the cached graph")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of distributed.json and distributed.md")
    parser.add_argument("options", nargs="*", help="after --: options of graphkd.large.distill")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    load = [round(v, 2) for v in os.getloadavg()]
    runs = {str(p): launch(args.graph, p, args.work, args.options) for p in (1, 2)}

    def update(saved: dict) -> None:
        saved["machine"] = hardware()
        saved["graphs"][args.graph] = {"options": args.options, "load_average_at_start": load, "runs": runs}

    saved = update_json(args.out / "distributed.json", update, {"graphs": {}})
    (args.out / "distributed.md").write_text(table(saved))
    print(table(saved))


if __name__ == "__main__":
    main()
