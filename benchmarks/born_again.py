"""Self-distillation: born-again rounds on the CPF split, accuracy per round.

    python benchmarks/born_again.py --root DATA                       # Cora, CiteSeer, 3 rounds, 10 seeds
    python benchmarks/born_again.py --root DATA --datasets Cora --rounds 2 --runs 3

Round 0 is a 2-layer GCN teacher (64 hidden). Each later round trains a fresh student on the previous
round's soft targets (graphkd.distill.born_again): either the teacher's own architecture (a 2-layer GCN,
64 hidden) or graphkd's default 2 x 256 MLP; both chains start from the same teacher. KD at T = 1,
alpha = 0; one configuration, nothing tuned.

Resumable: finished datasets are kept in the JSON, finished seeds in ``--work``. Writes
benchmarks/results/born_again.{json,md}.
"""
from __future__ import annotations

import json
from pathlib import Path

from harness import machine_line, record, study_parser, unfinished

from graphkd.data import load_dataset
from graphkd.distill import DistillConfig, born_again, summarize
from graphkd.io import atomic_write_text
from graphkd.report import markdown_table

DATASETS = ("Cora", "CiteSeer")
CHAINS = {"gcn": {"student_hidden": 64, "student_layers": 2}, "mlp": {}}


def run_seed(args, dataset: str, seed: int) -> dict:
    """Per chain, the test accuracy of every round (round 0, the teacher, shared)."""
    path = Path(args.work) / dataset / f"seed{seed}-rounds{args.rounds}-epochs{args.epochs}.json"
    if path.is_file():
        return json.loads(path.read_text())
    data = load_dataset(dataset, args.root, "random", seed=seed)
    chains = {}
    for kind, student in CHAINS.items():
        cfg = DistillConfig(teacher="gcn", seed=seed, epochs=args.epochs, **student)
        chains[kind] = [r["test_acc"] for r in born_again(cfg, data, args.rounds, kind, seed, not args.quiet)]
    atomic_write_text(path, json.dumps(chains))
    return chains


def write_markdown(results: dict, path: Path) -> None:
    rows = []
    for dataset, done in results["datasets"].items():
        for kind, rounds in done["chains"].items():
            rows.append([dataset, "GCN (own architecture)" if kind == "gcn" else "MLP",
                         *(f"{100 * mean:.2f} ± {100 * std:.2f}" for mean, std in rounds), done["runs"]])
    num_rounds = max(len(r) for done in results["datasets"].values() for r in done["chains"].values())
    path.write_text(
        "# Born-again rounds: the student of round k teaches round k + 1 (CPF split)\n\n"
        "Round 0 is a 2-layer GCN teacher; each later round is a fresh student of the chain's kind distilled "
        "from the round before (T = 1, alpha = 0); both chains start from the same teacher. Test accuracy, mean "
        "± std over seeds; one configuration, nothing tuned.\n\n"
        + markdown_table(["dataset", "students", "round 0 (teacher)", *(f"round {k}" for k in range(1, num_rounds)),
                          "seeds"], rows) + f"\n\nMachine: {machine_line(results)}.\n")


def main(argv=None) -> None:
    p = study_parser(__doc__, "born_again", "datasets to run (any graphkd dataset)", list(DATASETS))
    p.add_argument("--rounds", type=int, default=3, help="born-again rounds after the teacher")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.runs < 1:
        p.error("--rounds and --runs must be >= 1")
    json_path = Path(args.results) / "born_again.json"
    for dataset in unfinished(json_path, args.datasets, args.runs):
        per_seed = [run_seed(args, dataset, seed) for seed in range(args.runs)]
        chains = {kind: [summarize([seed[kind][k] for seed in per_seed]) for k in range(args.rounds + 1)]
                  for kind in CHAINS}
        done = {"chains": chains, "per_seed": per_seed, "runs": args.runs, "rounds": args.rounds}
        record(json_path, dataset, None, done, write_markdown)
        print(f"{dataset}: " + "; ".join(f"{kind} " + " -> ".join(f"{100 * m:.2f}" for m, _ in rounds)
                                         for kind, rounds in chains.items()), flush=True)


if __name__ == "__main__":
    main()
