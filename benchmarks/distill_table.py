"""The distillation table: teachers {GCN, GAT, SAGE} x students {MLP, 1-layer GCN} on the shared datasets.

    python benchmarks/distill_table.py --root DATA            # every cell, 10 seeds (hours on 2 cores)
    python benchmarks/distill_table.py --root DATA --datasets Cora --splits public --runs 2

Cells already in the results JSON (same configuration, same seeds) are skipped, and inside a cell
finished seeds are reused from --work, so an interrupted run continues where it stopped. Each
teacher is trained once per seed and shared by both students. Several runs may work at once on
different cells (e.g. one per core with --datasets): each finished cell is merged into the JSON as
it is on disk at that moment. Writes
benchmarks/results/distill.json and distill.md, with the published numbers of the same protocol.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness import RECIPES

from graphkd.distill import DistillConfig, run_distillation
from graphkd.io import update_json
from graphkd.report import environment, markdown_table

HERE = Path(__file__).resolve().parent
# (dataset, split) in the order they run: cheapest first.
CELLS = [("Cora", "public"), ("CiteSeer", "public"), ("Cora", "random"), ("CiteSeer", "random"),
         ("Photo", "random"), ("Computers", "random"), ("CS", "random"), ("Physics", "random")]
TEACHERS = ["gcn", "gat", "sage"]
STUDENTS = {"mlp": {"student": "mlp", "student_layers": 2, "student_hidden": 256},
            "gcn-1": {"student": "gcn", "student_layers": 1, "student_hidden": 256}}
# ../shared/docs/anchors.md: CPF/GLNN random split, transductive, SAGE teacher: teacher / MLP / GLNN.
PUBLISHED = {"Cora": (80.64, 59.18, 80.26), "CiteSeer": (70.49, 58.50, 71.22),
             "Computers": (82.82, 67.62, 82.71), "Photo": (90.85, 77.29, 91.95)}


def pct(summary: dict, role: str) -> str:
    return f"{100 * summary[role]['test_acc_mean']:.2f} ± {100 * summary[role]['test_acc_std']:.2f}"


def published(dataset: str, split: str) -> tuple[float, float, float] | None:
    """GLNN's teacher / MLP / distilled MLP for this dataset, when the split is the protocol it used."""
    return PUBLISHED.get(dataset) if split == "random" else None


def table_order(cell: dict) -> tuple[int, int, int]:
    """Cells in run order (dataset and split, teacher, student), however they were merged into the JSON."""
    return (CELLS.index((cell["dataset"], cell["split"])), TEACHERS.index(cell["teacher"]),
            list(STUDENTS).index(cell["student"]))


def best_mlp_rows(results: dict) -> list[list]:
    """Per dataset and split, the distilled MLP whose teacher validates best (the student's mean validation
    accuracy; test accuracy never chooses), against its own teacher and GLNN."""
    best = {}
    for cell in sorted(results["cells"].values(), key=table_order):
        key = (cell["dataset"], cell["split"])
        if cell["student"] == "mlp" and (key not in best or cell["summary"]["student"]["val_acc_mean"]
                                         > best[key]["summary"]["student"]["val_acc_mean"]):
            best[key] = cell
    rows = []
    for (dataset, split), cell in best.items():
        s = cell["summary"]
        student, teacher = 100 * s["student"]["test_acc_mean"], 100 * s["teacher"]["test_acc_mean"]
        glnn = published(dataset, split)
        rows.append([dataset, split, cell["teacher"], pct(s, "teacher"), pct(s, "student"), f"{student - teacher:+.2f}",
                     "" if glnn is None else f"{glnn[2]:.2f} ({student - glnn[2]:+.2f})"])
    return rows


def write_markdown(results: dict, path: Path) -> None:
    rows = []
    for cell in sorted(results["cells"].values(), key=table_order):
        s, glnn = cell["summary"], published(cell["dataset"], cell["split"])
        rows.append([cell["dataset"], cell["split"], cell["teacher"], cell["student"], pct(s, "teacher"),
                     pct(s, "baseline_mlp"), pct(s, "student"),
                     f"{s['teacher']['params']:,} / {s['student']['params']:,}", s["runs"],
                     " / ".join(f"{v:.2f}" for v in glnn) if glnn and cell["teacher"] == "sage" else "",
                     f"{cell['seconds'] / 60:.1f}"])
    env = results["environment"]
    hours = sum(cell["seconds"] for cell in results["cells"].values()) / 3600
    text = (
        "# Distillation table\n\n"
        "Test accuracy (%), mean ± unbiased std over seeds. `random` = CPF/GLNN split (largest connected "
        "component, 20/30 labelled nodes per class for train/validation, the rest test, redrawn per seed); "
        "`public` = Planetoid public split. Transductive setting: soft targets on all nodes. The labels-only "
        "MLP has the student's depth and width, so on `gcn-1` rows it is a linear model. "
        "Published = teacher / MLP / GLNN from ../shared/docs/anchors.md (SAGE teacher, CPF split). "
        "A teacher is trained once per seed and shared by the cells run with it; cells run at different "
        "times may each have retrained it, so the same teacher can differ slightly between its two rows.\n\n"
        "## Best distilled MLP per dataset\n\nThe teacher whose distilled MLP has the best mean validation "
        f"accuracy ({len(TEACHERS)} teachers tried per dataset and split; test accuracy never chooses).\n\n"
        + markdown_table(["dataset", "split", "its teacher", "teacher acc", "distilled MLP", "vs teacher",
                          "GLNN (distilled MLP vs it)"], best_mlp_rows(results))
        + "\n\n## Every cell\n\n"
        + markdown_table(["dataset", "split", "teacher", "student", "teacher acc", "labels-only MLP",
                          "distilled student", "params (teacher / student)", "seeds", "published", "minutes"],
                         rows)
        + f"\n\nMachine: {env['cpu']}, {env['cores']} cores, {env['memory_gib']} GiB; torch {env['torch']}, "
          f"torch_geometric {env['torch_geometric']}, {env['torch_threads']} threads. "
          f"{len(results['cells'])} cells, total compute {hours:.2f} h.\n")
    path.write_text(text)


def record_cell(json_path: Path, name: str, cell: dict) -> dict:
    """Merge one finished cell into the results on disk (other runs may have added cells meanwhile)."""

    def add(results: dict) -> None:
        results["cells"][name] = cell
        results["environment"] = environment()

    return update_json(json_path, add, {"cells": {}}, then=lambda r: write_markdown(r, json_path.with_suffix(".md")))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=None, help="data folder holding <Name>/raw (default: $GRAPHKD_DATA)")
    p.add_argument("--runs", type=int, default=10, help="seeds per cell")
    p.add_argument("--datasets", nargs="+", default=None, help="only these datasets (default: all)")
    p.add_argument("--splits", nargs="+", default=None, help="only these splits: public, random")
    p.add_argument("--teachers", nargs="+", default=TEACHERS, choices=TEACHERS, help="teacher GNNs")
    p.add_argument("--students", nargs="+", default=list(STUDENTS), choices=list(STUDENTS), help="students")
    p.add_argument("--epochs", type=int, default=500, help="maximum epochs per model")
    p.add_argument("--work", default=str(HERE / "work"), help="per-seed records and cached soft targets")
    p.add_argument("--results", default=str(HERE / "results"), help="where distill.json / distill.md go")
    args = p.parse_args(argv)

    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / "distill.json"
    results = json.loads(json_path.read_text()) if json_path.is_file() else {"cells": {}}
    for dataset, split in CELLS:
        if (args.datasets and dataset not in args.datasets) or (args.splits and split not in args.splits):
            continue
        for teacher in args.teachers:
            for student in args.students:
                name = f"{dataset}-{split}-{teacher}-{student}"
                cfg = DistillConfig(dataset=dataset, split=split, root=args.root, runs=args.runs, teacher=teacher,
                                    epochs=args.epochs, **STUDENTS[student], **RECIPES.get(dataset, {}))
                done = results["cells"].get(name)
                if done and done["config_key"] == cfg.key() and done["summary"]["runs"] == args.runs:
                    continue
                summary = run_distillation(cfg, out=Path(args.work) / name,
                                           teacher_dir=Path(args.work) / "teachers" / f"{dataset}-{split}")
                # Summed per seed, so seeds finished by an interrupted earlier run still count.
                seconds = sum(run["seconds"] for run in summary["per_seed"])
                results = record_cell(json_path, name, {
                    "dataset": dataset, "split": split, "teacher": teacher, "student": student,
                    "config_key": cfg.key(), "seconds": seconds, "summary": summary})
                print(f"{name}: teacher {pct(summary, 'teacher')}, MLP {pct(summary, 'baseline_mlp')}, "
                      f"student {pct(summary, 'student')} ({seconds / 60:.1f} min)", flush=True)


if __name__ == "__main__":
    main()
