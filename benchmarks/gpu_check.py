"""graphkd on a GPU against the CPU, in one short run (issue 43): the CUDA tests, a CUDA vs CPU comparison and the
GPU-served teacher in the latency benchmark. Writes ``gpu_check_<device>.json`` and ``.md`` to ``--out``.

    benchmarks/gpu_check.sh                                  # on a machine with a GPU: everything, a few minutes
    python benchmarks/gpu_check.py --root DATA --out benchmarks/results
    python benchmarks/gpu_check.py --root DATA --quick       # a dry run in about a minute (CPU-only too)

1. tests: ``pytest tests/test_cuda.py tests/test_device.py`` (on a CPU-only machine the CUDA tests skip, saying why);
2. comparison: Cora (the synthetic CSBM graph, said so, when ``--root`` holds no Cora), GAT teacher, 3 seeds, each
   run on the CPU and on the GPU: the test accuracy of teacher, labels-only MLP and distilled MLP, the wall time
   of each stage (teacher training, soft targets, each student), and the largest soft-target difference, three
   ways: the same trained weights run on both devices (float rounding alone), each device's own training (dropout
   draws from each device's own generator, so the two trainings differ as two seeds do), and a teacher trained
   without dropout on both (rounding, and the order of atomic additions in scatter, compounded over training);
3. latency: ``graphkd bench latency --teacher-device cuda --threads 1`` on Cora (SAGE teachers of 2 and 3 layers)
   and ``arxiv-scale`` (3 layers, fan-out fetch only, briefly trained): every teacher timed per node on the GPU
   (the fetched neighbourhood's features moved to it in the call) beside the same teacher and a 3 x 256 MLP
   student on one CPU core, and the batch and whole-graph throughput of both.

Each part is written as soon as it is done, so a run stopped at its time limit keeps what it finished. Without
CUDA the GPU halves are skipped with the reason, and the CPU halves still run.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from graphkd.bench import latency
from graphkd.data import load_dataset
from graphkd.device import graph_on, resolve_device
from graphkd.distill import DistillConfig, SoftTargets, train_student
from graphkd.distill.pipeline import with_task
from graphkd.distill.teachers import fit_teachers, member_outputs
from graphkd.errors import MissingFileError
from graphkd.report import environment, markdown_table
from graphkd.tasks import split_scores
from graphkd.training import predict

REPOSITORY = Path(__file__).resolve().parents[1]
ROLES = ("teacher", "labels_only_mlp", "student")


def device_slug() -> str:
    """The device in a file name: ``nvidia-h100-80gb-hbm3``, or ``cpu``."""
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def run_tests(quick: bool) -> dict:
    """The CUDA tests and the device plumbing tests, in a pytest of their own; counts and the summary lines."""
    command = [sys.executable, "-m", "pytest", "tests/test_cuda.py", "tests/test_device.py", "-q", "-rs", "-p",
               "no:cacheprovider"] + (["-k", "not torchrun"] if quick else [])
    start = time.perf_counter()
    run = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True)
    lines = run.stdout.strip().splitlines()
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|error)", lines[-1] if lines
                                                                                              else "")}
    skipped = sorted({line.split(": ", 1)[-1] for line in lines if line.startswith("SKIPPED")})
    return {"command": " ".join(command[2:]), "returncode": run.returncode, "counts": counts,
            "skip_reasons": skipped, "seconds": round(time.perf_counter() - start, 1),
            "tail": "\n".join(lines[-15:] + run.stderr.splitlines()[-5:])}


def graph_for(cfg: DistillConfig, seed: int):
    data = load_dataset(cfg.dataset, cfg.root, cfg.split, seed=seed, labels_per_class=cfg.labels_per_class)
    return with_task(cfg, data)


def timed(device: torch.device, fn):
    """``fn()`` and its wall seconds, the GPU's queue drained before the clock stops."""
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - start


def one_seed(cfg: DistillConfig, data, seed: int, device: torch.device) -> dict:
    """A seed's stages on ``device``, as graphkd.distill.pipeline.run_seed runs them, each timed."""
    on = graph_on(data, device)
    seconds, test = {}, {}
    teachers, seconds["teacher"] = timed(device, lambda: fit_teachers(cfg, on, seed))
    (logits, _, _), seconds["soft_targets"] = timed(device, lambda: member_outputs(teachers, on))
    targets = SoftTargets.from_logits(logits, on, cfg.transfer)  # kept on the CPU, as a run keeps them
    baseline, seconds["labels_only_mlp"] = timed(device, lambda: train_student(cfg, on, None, seed, "mlp"))
    student, seconds["student"] = timed(device, lambda: train_student(cfg, on, targets, seed, "mlp"))
    test["teacher"] = split_scores(logits[0], on)["test_acc"]
    for role, model in (("labels_only_mlp", baseline), ("student", student)):
        test[role] = split_scores(predict(model, on), on)["test_acc"]
    return {"seconds": seconds, "test_acc": test, "probs": targets.probs().cpu(), "teacher": teachers[0]}


def compare(args, gpu: torch.device | None) -> dict:
    """CPU and GPU runs of the same seeds, and the three soft-target differences (see the module docstring)."""
    epochs = 30 if args.quick else 500
    cfg = DistillConfig(dataset=args.dataset, root=args.root, teacher="gat", epochs=epochs, patience=min(50, epochs))
    note = None
    try:
        graph_for(cfg, 0)
    except MissingFileError as exc:
        note = f"{args.dataset} is not under --root ({exc}); the synthetic CSBM graph stands in"
        cfg = DistillConfig(dataset="CSBM", teacher="gat", epochs=epochs, patience=min(50, epochs))
    devices = [torch.device("cpu")] + ([gpu] if gpu is not None else [])
    if gpu is not None:  # CUDA's context and cuBLAS start once, outside any timed stage
        (torch.ones(8, 8, device=gpu) @ torch.ones(8, 8, device=gpu)).sum().item()
    runs = {str(d): {} for d in devices}
    same_weights, own_training = [], []
    for seed in range(args.seeds):
        data = graph_for(cfg, seed)
        for device in devices:
            runs[str(device)][seed] = one_seed(cfg, data, seed, device)
        if gpu is not None:
            cpu_run, gpu_run = runs["cpu"][seed], runs[str(gpu)][seed]
            logits, _, _ = member_outputs([cpu_run["teacher"].to(gpu)], graph_on(data, gpu))
            on_gpu = SoftTargets.from_logits(logits, data, cfg.transfer).probs()
            same_weights.append(float((on_gpu - cpu_run["probs"]).abs().max()))
            own_training.append(float((gpu_run["probs"] - cpu_run["probs"]).abs().max()))
    result = {"dataset": cfg.dataset, "note": note, "teacher": "gat", "epochs": epochs, "seeds": args.seeds,
              "devices": {}}
    for device, seeds in runs.items():
        result["devices"][device] = {
            "test_acc": {role: [seeds[s]["test_acc"][role] for s in sorted(seeds)] for role in ROLES},
            "seconds": {stage: [round(seeds[s]["seconds"][stage], 3) for s in sorted(seeds)]
                        for stage in ("teacher", "soft_targets", "labels_only_mlp", "student")}}
    if gpu is None:
        result["gpu"] = "skipped: no CUDA on this machine (torch.cuda.is_available() is False)"
        return result
    data = graph_for(cfg, 0)
    deterministic = DistillConfig(**{**vars(cfg), "teacher_dropout": 0.0})
    probs = {}
    for device in devices:  # same initial weights and full-batch steps; no dropout draws to differ
        teachers = fit_teachers(deterministic, graph_on(data, device), 0)
        logits, _, _ = member_outputs(teachers, graph_on(data, device))
        probs[device.type] = SoftTargets.from_logits(logits, data, cfg.transfer).probs()
    result["max_soft_target_difference"] = {
        "same_weights": max(same_weights), "own_training": max(own_training),
        "without_dropout": float((probs["cuda"] - probs["cpu"]).abs().max())}
    return result


def latency_part(args, gpu: torch.device | None) -> dict:
    """The latency benchmark with the teachers also served from the GPU; the rows that compare them."""
    out, results = {}, []
    small = dict(depths=(2,), ref_depth=2, student_widths=(64,), nodes=20, positions=0, warmup=2,
                 batch_sizes=(1, 64), repeats=2, threads=(1,), epochs=20, compress=False) if args.quick else \
        dict(depths=(2, 3), ref_depth=3, student_widths=(256,), nodes=100, positions=0, warmup=5,
             batch_sizes=(1, 64, 1024, 4096), repeats=3, threads=(1,), epochs=200, compress=False)
    with tempfile.TemporaryDirectory() as folder:
        for name in args.latency_datasets:
            large = name in latency.LARGE_GRAPHS  # there the 3-layer teacher alone, without the full 3-hop fetch
            options = dict(small, full=not large, large_epochs=1, large_batches=20, large_student_epochs=5,
                           teacher_device=str(gpu) if gpu is not None else "cpu",
                           **({"depths": (small["ref_depth"],)} if large else {}))
            try:
                results += latency.run([name], latency.LatencyConfig(**options), args.root, folder,
                                       progress=not args.quiet)
            except MissingFileError as exc:
                out[name] = {"skipped": f"{name} is not under --root: {exc}"}
    for result in results:
        rows = []
        for record in result["models"]:
            online = record["online"][1]
            path = next(iter(online["warm"]))  # a teacher's fan-out fetch, a student's eager forward
            rows.append({"model": record["name"], "device": record["device"], "test_acc": record["test_acc"],
                         "path": path, "warm_p50_ms": online["warm"][path]["p50_ms"],
                         "cold_p50_ms": online["cold"][path]["p50_ms"], "nodes_per_second": record["batched"][1]})
        out[result["dataset"]] = {"rows": rows, "training": result["training"],
                                  "speedups": result["speedups"][1]["warm"]["gnn_over_student"]}
    if gpu is None:
        out["gpu"] = "skipped: no CUDA on this machine; the CPU rows alone were timed"
    return out


def markdown(report: dict) -> str:
    env = report["environment"]
    title = f"on {report['device']} against the CPU" if report["device"] != "CPU only" else "on a CPU-only machine"
    lines = [f"# graphkd {title}", "",
             f"{env['cpu']}, {env['cores']} cores" + (f"; GPU {env['gpu']} (CUDA {env['cuda']})" if env.get("gpu")
                                                      else "; no GPU") + f"; torch {env['torch']}, PyG "
             f"{env['torch_geometric']}. Written by benchmarks/gpu_check.py{' --quick' if report['quick'] else ''}.",
             ""]
    if "tests" in report:
        tests = report["tests"]
        lines += ["## Tests", "", f"`{tests['command']}`: {tests['counts']} in {tests['seconds']} s "
                  f"(exit {tests['returncode']}).", *(f"- skipped: {reason}" for reason in tests["skip_reasons"]), ""]
    if "comparison" in report:
        c = report["comparison"]
        lines += [f"## CUDA against CPU: {c['dataset']}, GAT teacher, {c['seeds']} seeds, at most {c['epochs']} epochs",
                  ""] + ([f"Note: {c['note']}.", ""] if c["note"] else [])
        rows = [[device, role.replace("_", " "), f"{100 * mean(values):.2f} ± {100 * std(values):.2f}"]
                for device, d in c["devices"].items() for role, values in d["test_acc"].items()]
        lines += [markdown_table(["device", "model", "test acc (%)"], rows), ""]
        rows = [[device, stage.replace("_", " "), f"{mean(values):.2f}"]
                for device, d in c["devices"].items() for stage, values in d["seconds"].items()]
        lines += ["Wall seconds per stage (mean over seeds):", "", markdown_table(["device", "stage", "s"], rows), ""]
        if "max_soft_target_difference" in c:
            lines += ["Largest soft-target difference, CUDA against CPU: " + "; ".join(
                f"{k.replace('_', ' ')} {v:.2e}" for k, v in c["max_soft_target_difference"].items()) + ".", ""]
        else:
            lines += [f"GPU half {c['gpu']}.", ""]
    if "latency" in report:
        lines += ["## Latency: per node (1 CPU thread; a GPU row moves the fetched features to the GPU in the call)",
                  ""]
        for name, part in report["latency"].items():
            if not isinstance(part, dict):
                lines += [f"GPU rows {part}.", ""]
            elif "skipped" in part:
                lines += [f"{name}: {part['skipped']}", ""]
            else:
                sizes = list(part["rows"][0]["nodes_per_second"])
                rows = [[r["model"], r["device"], f"{100 * r['test_acc']:.1f}", r["path"], f"{r['warm_p50_ms']:.3f}",
                         f"{r['cold_p50_ms']:.3f}", *(f"{r['nodes_per_second'][s]:,.0f}" for s in sizes)]
                        for r in part["rows"]]
                lines += [f"### {name} ({part['training']})", "", markdown_table(
                    ["model", "device", "test acc (%)", "path", "warm p50 ms", "cold p50 ms",
                     *(f"nodes/s, batch {s}" if s.isdigit() else f"nodes/s, {s}" for s in sizes)], rows), ""]
    return "\n".join(lines)


def mean(values) -> float:
    return sum(values) / len(values)


def std(values) -> float:
    m = mean(values)
    return (sum((v - m) ** 2 for v in values) / max(len(values) - 1, 1)) ** 0.5


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=None, help="data folder holding Cora (default $GRAPHKD_DATA)")
    p.add_argument("--out", default="benchmarks/results", help="where gpu_check_<device>.json and .md go")
    p.add_argument("--dataset", default="Cora", help="graph of the comparison")
    p.add_argument("--seeds", type=int, default=3, help="seeds of the comparison")
    p.add_argument("--latency-datasets", nargs="*", default=["Cora", "arxiv-scale"], help="graphs timed")
    p.add_argument("--parts", nargs="+", default=["tests", "comparison", "latency"],
                   choices=["tests", "comparison", "latency"], help="which parts to run, in this order")
    p.add_argument("--quick", action="store_true", help="tiny settings: a dry run that shows every part works")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    gpu = resolve_device("auto")
    gpu = gpu if gpu.type == "cuda" else None
    report = {"device": torch.cuda.get_device_name(0) if gpu is not None else "CPU only", "quick": args.quick,
              "environment": environment()}
    stem = Path(args.out) / f"gpu_check_{device_slug()}{'_quick' if args.quick else ''}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    parts = {"tests": lambda: run_tests(args.quick), "comparison": lambda: compare(args, gpu),
             "latency": lambda: latency_part(args, gpu)}
    for name in args.parts:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. a student not above the labels-only MLP on 30 epochs
            report[name] = parts[name]()
        report.setdefault("seconds", {})[name] = round(time.perf_counter() - start, 1)
        stem.with_suffix(".json").write_text(json.dumps(report, indent=1, default=str) + "\n")
        stem.with_suffix(".md").write_text(markdown(report) + "\n")
        print(f"{name}: done in {report['seconds'][name]} s; {stem}.json", flush=True)
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
