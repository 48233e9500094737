"""Human-readable results: the side-by-side table, and the machine facts every result is saved with."""
from __future__ import annotations

import os
import platform

import numpy
import torch
import torch_geometric

from graphkd.tasks import metric_key, metric_title

__all__ = ["environment", "format_summary", "markdown_table", "metric_column"]

ROLES = (("teacher", "teacher"), ("baseline_mlp", "labels-only MLP"), ("student", "distilled student"))
SETTING_PARTS = (("transductive", "observed test nodes"), ("inductive", "arrivals"),
                 ("cold_start", "edgeless arrivals"), ("production", "production 0.8/0.2"))


def environment() -> dict:
    """CPU, cores, memory, thread count, library versions and any GPU: results are meaningless without them."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gib = None
    env = {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_gib, 1) if mem_gib else None,
           "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
           "torch": torch.__version__, "torch_geometric": torch_geometric.__version__, "numpy": numpy.__version__}
    if torch.cuda.is_available():  # where a GPU is present, which one (a CPU-only machine's record is unchanged)
        env.update(gpu=torch.cuda.get_device_name(0), gpus=torch.cuda.device_count(), cuda=torch.version.cuda)
    return env


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _count(params: int | None) -> str:
    return "unknown (given outputs)" if params is None else f"{params:,}"



def metric_column(metric: str) -> tuple[str, str]:
    """A metric's key in result records and its name in a table's header (accuracy's short "acc", as the tables
    have always printed it)."""
    return metric_key(metric), "acc" if metric == "accuracy" else metric_title(metric)


def _score(stats: dict, name: str) -> str:
    if stats[f"{name}_mean"] is None:  # given soft targets that do not cover the scored nodes
        return "unknown (not scored)"
    return f"{100 * stats[f'{name}_mean']:.2f} ± {100 * stats[f'{name}_std']:.2f}"


def format_summary(summary: dict) -> str:
    """The final table of ``graphkd distill``: the test metric's mean ± std over seeds (accuracy, ROC-AUC, ...:
    the column names it), and parameters. Outside the transductive setting, one column per part: observed test
    nodes, arrivals, production. A binary or imbalanced task shows the majority-class rate under the table,
    and a student that did not beat the labels-only MLP on validation is said so."""
    key, metric = metric_column(summary.get("metric", "accuracy"))
    setting = summary.get("setting", "transductive")
    per_class = summary["config"].get("labels_per_class", 20)
    labels = f", {per_class} labels per class" if summary["split"] == "random" else ""
    title = f"{summary['dataset']} ({summary['split']} split{labels}, {summary['runs']} runs"
    if setting == "transductive":
        columns = [(f"test_{key}", f"test {metric} (%)")]
    else:
        columns = [(f"{part}_test_{key}", f"{label}, {metric} (%)") for part, label in SETTING_PARTS]
        fraction = summary["config"]["arrival_fraction"]
        title += f", {setting} setting: {fraction:.0%} of the test nodes arrive after training"
    rows = [[label] + [_score(summary[role], name) for name, _ in columns] + [_count(summary[role]["params"])]
            for role, label in ROLES]
    notes = []
    if "homophily" in summary:
        notes.append(f"homophily: edge {summary['homophily']['edge']:.3f}, class-insensitive "
                     f"{summary['homophily']['edge_insensitive']:.3f} (0: neighbours' labels no more alike than "
                     "chance)")
    if "majority_rate" in summary:
        notes.append(f"majority class: {100 * summary['majority_rate']:.2f}% of the test nodes (the accuracy of "
                     "predicting it for every node)")
    if "alphas" in summary["student"]:
        alphas = ", ".join(f"{alpha:g}" for alpha in summary["student"]["alphas"])
        notes.append(f"alpha chosen on validation per seed: {alphas}")
    if summary.get("student_beats_labels_only_on_validation") is False:
        notes.append("the distilled student is not above the labels-only MLP on validation: the teacher does not "
                     "help here")
    table = markdown_table(["model"] + [header for _, header in columns] + ["params"], rows)
    return f"{title})\n" + table + "".join(f"\n{note}" for note in notes)
