"""Fewer labels: teacher, labels-only MLP and distilled MLP at 1, 2, 5, 10, 20 and 50 labels per class.

    python benchmarks/label_rate.py --root DATA                                  # Cora, CiteSeer, Photo, CS
    python benchmarks/label_rate.py --root DATA --datasets Cora --rates 1 5 20 --runs 3

Each seed draws a random split (on the largest connected component, as the CPF split): ``rate`` labelled
training nodes per class, 30 validation nodes per class (early stopping only; every rate keeps the same
30), the rest test. A GCN teacher learns from the labelled nodes; its soft targets cover every node, so the
MLP student learns from the unlabelled ones too (semi-supervised distillation, kd-primer.md section 2).
The student is graphkd's default (2 x 256 MLP, KD at T = 1, alpha = 0): one configuration, nothing tuned.

Resumable: finished seeds are kept in ``--work`` (graphkd's per-seed records), finished (dataset, rate)
cells in the JSON. Writes benchmarks/results/label_rate.{json,md,png}.
"""
from __future__ import annotations

import json
from pathlib import Path

from harness import RECIPES, machine_line, record, study_parser

from graphkd.data import load_dataset, prepare_data, random_split
from graphkd.distill import DistillConfig, run_distillation, summarize
from graphkd.report import markdown_table

DATASETS = ("Cora", "CiteSeer", "Photo", "CS")
RATES = (1, 2, 5, 10, 20, 50)
VAL_PER_CLASS = 30
ROLES = {"teacher": "GCN teacher", "baseline_mlp": "labels-only MLP", "student": "distilled MLP"}


def run_cell(args, dataset: str, rate: int) -> dict:
    """Every seed of one (dataset, rate): test accuracies per role, mean and std."""
    accuracies = {role: [] for role in ROLES}
    for seed in range(args.runs):
        graph = load_dataset(dataset, args.root, "random", seed=seed)
        data = prepare_data(random_split(graph, seed, rate, VAL_PER_CLASS), dataset, f"{rate}-per-class", seed)
        cfg = DistillConfig(teacher="gcn", runs=1, seed=seed, epochs=args.epochs, **RECIPES.get(dataset, {}))
        summary = run_distillation(cfg, data=data, out=Path(args.work) / dataset / f"rate{rate}",
                                   progress=not args.quiet)
        for role in ROLES:
            accuracies[role].append(summary["per_seed"][0][role]["test_acc"])
    return {role: {"mean": summarize(values)[0], "std": summarize(values)[1], "per_seed": values}
            for role, values in accuracies.items()} | {"runs": args.runs}


def write_markdown(results: dict, path: Path) -> None:
    """The table at ``path`` and the plot beside it."""
    plot(results, path.with_suffix(".png"))
    rows = []
    for dataset, cells in results["datasets"].items():
        for rate in sorted(cells, key=int):
            cell = cells[rate]
            gap = cell["teacher"]["mean"] - cell["baseline_mlp"]["mean"]
            closed = (cell["student"]["mean"] - cell["baseline_mlp"]["mean"]) / gap if gap > 0 else float("nan")
            rows.append([dataset, rate, *(f"{100 * cell[r]['mean']:.2f} ± {100 * cell[r]['std']:.2f}" for r in ROLES),
                         f"{100 * closed:.0f}%", cell["runs"]])
    path.write_text(
        "# Fewer labels: distillation against labels per class (random splits)\n\n"
        f"Per seed a random split of the largest connected component: the stated labels per class for training, "
        f"{VAL_PER_CLASS} per class for validation (early stopping only), the rest for test. GCN teacher; the "
        "student is the default 2 x 256 MLP distilled at T = 1 from soft targets on every node. One configuration, "
        "nothing tuned. Test accuracy, mean ± std over seeds. 'gap closed': the share of the teacher's lead over "
        "the labels-only MLP that the distilled MLP recovers.\n\n"
        + markdown_table(["dataset", "labels per class", *ROLES.values(), "gap closed", "seeds"], rows)
        + f"\n\nMachine: {machine_line(results)}.\n")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(results["datasets"])
    fig, axes = plt.subplots(1, len(datasets), figsize=(4 * len(datasets), 3.4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        cells = results["datasets"][dataset]
        rates = sorted(cells, key=int)
        for role, label in ROLES.items():
            mean = [100 * cells[r][role]["mean"] for r in rates]
            std = [100 * cells[r][role]["std"] for r in rates]
            x = [int(r) for r in rates]
            ax.plot(x, mean, marker="o", label=label)
            ax.fill_between(x, [m - s for m, s in zip(mean, std, strict=True)],
                            [m + s for m, s in zip(mean, std, strict=True)], alpha=0.2)
        ax.set_xscale("log")
        ax.minorticks_off()  # log-scale minor ticks would label 2 x 10^0 and so on
        ax.set_xticks([int(r) for r in rates], labels=rates)
        ax.set_title(dataset)
        ax.set_xlabel("labelled nodes per class")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%)")
    axes[0][0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    p = study_parser(__doc__, "label_rate", "datasets to run (CSBM: a synthetic graph, for trials)", list(DATASETS))
    p.add_argument("--rates", nargs="+", type=int, default=list(RATES), help="labelled nodes per class")
    args = p.parse_args(argv)
    if min(args.rates) < 1 or args.runs < 1:
        p.error("--rates and --runs must be >= 1")
    if set(args.datasets) - set(DATASETS + ("CSBM",)):
        p.error(f"unknown dataset(s) {sorted(set(args.datasets) - set(DATASETS + ('CSBM',)))}")
    json_path = Path(args.results) / "label_rate.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    for dataset in args.datasets:
        for rate in args.rates:
            results = json.loads(json_path.read_text()) if json_path.is_file() else {"datasets": {}}
            done = results["datasets"].get(dataset, {}).get(str(rate))
            if done and done["runs"] == args.runs:
                continue
            cell = run_cell(args, dataset, rate)
            record(json_path, dataset, str(rate), cell, write_markdown)
            print(f"{dataset} {rate}/class: " + ", ".join(f"{ROLES[r]} {100 * cell[r]['mean']:.2f}" for r in ROLES),
                  flush=True)


if __name__ == "__main__":
    main()
