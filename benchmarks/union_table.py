"""Teachers with different label spaces: two teachers, each trained on half of the classes, teach one MLP.

    python benchmarks/union_table.py --root DATA                       # Cora, Photo, CS
    python benchmarks/union_table.py --root DATA --datasets Cora --runs 3

On the CPF split, the classes are cut into two halves (graphkd.distill.class_halves). A GCN is trained on
the labelled nodes of each half only (it sees the whole graph, but only its classes' labels), and the two
are joined into a distribution over all classes (graphkd.distill.union) by each rule: ``confidence`` (each
teacher weighted by its top probability) and ``gate`` (a GCN trained on the labelled nodes to tell which
half a node belongs to). The union teaches graphkd's
default MLP (KD at T = 1, alpha = 0). Beside them: a GCN trained on all labels, the labels-only MLP and
the MLP distilled from the all-label GCN. One configuration per row, nothing tuned.

Resumable: per-seed records and the partial teachers' logits in ``--work``, finished datasets in the JSON.
Writes benchmarks/results/union.{json,md}.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from harness import RECIPES, machine_line, record, study_parser, unfinished

from graphkd.data import load_dataset
from graphkd.distill import UNION_RULES, DistillConfig, class_halves, run_distillation, summarize, union_logits
from graphkd.distill.soft_targets import graph_fingerprint
from graphkd.distill.union import confidence_weights, gate_weights, partial_graph, train_partial_teachers
from graphkd.io import atomic_save, load_tensors
from graphkd.report import markdown_table
from graphkd.training import accuracy

DATASETS = ("Cora", "Photo", "CS")


def _partial_logits(cfg: DistillConfig, data, seed: int, work: Path) -> list[torch.Tensor]:
    """The two half-label teachers' logits, trained once per seed and kept in ``work``."""
    path = work / f"partial-{cfg.key()}-{graph_fingerprint(data)}-seed{seed}.pt"
    if path.is_file():
        return load_tensors(path, "file of partial teacher logits")
    halves = train_partial_teachers(cfg, data, class_halves(int(data.y.max()) + 1), seed)
    atomic_save(halves, path)
    return halves


def run_seed(args, dataset: str, seed: int) -> dict:
    """Accuracies of one seed: each partial teacher on its own classes, the all-label runs, each union."""
    data = load_dataset(dataset, args.root, "random", seed=seed)
    work = Path(args.work) / dataset
    cfg = DistillConfig(teacher="gcn", runs=1, seed=seed, epochs=args.epochs, **RECIPES.get(dataset, {}))
    single = run_distillation(cfg, data=data, out=work / "all-labels", progress=not args.quiet)["per_seed"][0]
    halves, blocks = _partial_logits(cfg, data, seed, work), class_halves(int(data.y.max()) + 1)
    row = {"teacher (all labels)": single["teacher"]["test_acc"], "labels-only MLP": single["baseline_mlp"]["test_acc"],
           "MLP from the all-label teacher": single["student"]["test_acc"]}
    for k, (logits, block) in enumerate(zip(halves, blocks, strict=True)):
        part = partial_graph(data, block)  # its classes' test nodes, labels in its own numbering
        row[f"half teacher {k + 1} (own classes)"] = accuracy(logits[part.test_mask], part.y[part.test_mask])
    weights = {"confidence": confidence_weights(halves), "gate": gate_weights(cfg, data, blocks, seed)}
    for rule in UNION_RULES:
        union = union_logits(halves, blocks, weights[rule])
        distilled = run_distillation(dataclasses.replace(cfg, teacher=union), data=data,
                                     out=work / f"union-{rule}", progress=not args.quiet)["per_seed"][0]
        row[f"union ({rule})"] = distilled["teacher"]["test_acc"]
        halves_right = weights[rule].argmax(1) == torch.isin(data.y, torch.tensor(blocks[1])).long()
        row[f"{rule}: right half"] = halves_right[data.test_mask].float().mean().item()
        row[f"MLP from the union ({rule})"] = distilled["student"]["test_acc"]
    return row


def write_markdown(results: dict, path: Path) -> None:
    sections = []
    for dataset, done in results["datasets"].items():
        blocks = done["class_halves"]
        rows = [[name, f"{100 * stats['mean']:.2f} ± {100 * stats['std']:.2f}"] for name, stats in done["rows"].items()]
        sections.append(f"## {dataset} (halves: classes {blocks[0]} and {blocks[1]}; {done['runs']} seeds)\n\n"
                        + markdown_table(["model", "test accuracy"], rows))
    path.write_text(
        "# Teachers with different label spaces, one student over their union (CPF split)\n\n"
        "Each half teacher is a GCN trained on the labelled nodes of half of the classes and is scored on the test "
        "nodes of its classes ('own classes'); every other row is scored on all test nodes. 'union (rule)' is "
        "the joined distribution itself, 'MLP from the union' the 2 x 256 MLP distilled from it (T = 1, "
        "alpha = 0). Rules: confidence (top probability) and gate (a GCN trained on the training nodes to tell "
        "which half a node belongs to; 'gate: right half' is how often it is right). One configuration per row, "
        "nothing tuned; mean ± "
        "std over seeds.\n\n" + "\n\n".join(sections) + f"\n\nMachine: {machine_line(results)}.\n")


def main(argv=None) -> None:
    p = study_parser(__doc__, "union", "datasets to run (any graphkd dataset)", list(DATASETS))
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be >= 1")
    json_path = Path(args.results) / "union.json"
    for dataset in unfinished(json_path, args.datasets, args.runs):
        per_seed = [run_seed(args, dataset, seed) for seed in range(args.runs)]
        rows = {name: dict(zip(("mean", "std"), summarize([r[name] for r in per_seed]), strict=True))
                for name in per_seed[0]}
        num_classes = int(load_dataset(dataset, args.root, "random", seed=0).y.max()) + 1
        done = {"rows": rows, "per_seed": per_seed, "runs": args.runs, "class_halves": class_halves(num_classes)}
        record(json_path, dataset, None, done, write_markdown)
        print(f"{dataset}: " + ", ".join(f"{name} {100 * s['mean']:.2f}" for name, s in rows.items()), flush=True)


if __name__ == "__main__":
    main()
