"""Knowledge beyond the logits, measured: each kind alone, the best combination, and teacher depth.

    python benchmarks/knowledge_table.py --root DATA                       # every dataset (hours)
    python benchmarks/knowledge_table.py --root DATA --datasets Cora CiteSeer
    python benchmarks/knowledge_table.py --root DATA --study depth --datasets Cora

``--study knowledge``: on the CPF split, the teacher is chosen first, on validation: each of graphkd's teachers
(GCN, GAT, GraphSAGE, APPNP, GRAND; on CS and Physics all but GRAND, which costs days there) is distilled into the
default MLP, and the architecture whose student has the best mean validation accuracy teaches the rest of the
table, an MLP with one kind of knowledge at a time (Hinton KD on logits, the student's weight decay and dropout,
its learning rate and width, the teacher's width and dropout, a FitNets hint, NOSMOG's in-batch similarity and
adversarial augmentation (on CS and Physics at one weight), Correct-and-Smooth-refined soft targets, a teacher
ensemble, position features), then with the best combination. Every row's settings are chosen on validation
accuracy only: each candidate runs ``--select-runs`` seeds, the one with the best mean validation accuracy runs
all ``--runs`` seeds, and the table reports its test accuracy and how many candidates were tried. The combination
is built greedily on validation accuracy: start from the best single row, add each other row that beat KD at
defaults (the KD row's tuned T and alpha among them), keep it if validation accuracy rises.

``--study depth``: GCN and GAT teachers of 2, 4 and 8 layers, each distilled into the default MLP, so
users see what depth buys the student. 2-layer teachers keep the published recipe; deeper ones are
residual, and their norm (batch, layer, none) and dropout (0.2, 0.5) are chosen on the teacher's mean
validation accuracy over the selection seeds.

Resumable: finished rows are kept in the JSON, finished seeds in ``--records`` (committed beside the
results, so a fresh checkout resumes too), teachers and checkpoints in ``--work`` (teachers are trained once
per seed and shared). Writes benchmarks/results/knowledge.{json,md} or depth.{json,md}.
"""
from __future__ import annotations

import json
from pathlib import Path

from harness import Runner, check_selection_args, machine_line, record, selection_parser, slim

from graphkd.io import update_json
from graphkd.report import markdown_table

DATASETS = ("Cora", "CiteSeer", "Photo", "Computers", "CS", "Physics")
# ../shared/docs/anchors.md, CPF split, transductive: GLNN / NOSMOG / VQGraph distilled MLPs.
PUBLISHED = {"Cora": (80.26, 83.04, 83.93), "CiteSeer": (71.22, 73.78, 76.08),
             "Computers": (82.71, 84.04, 85.17), "Photo": (91.95, 93.36, 94.21)}
# GRAND's random passes are what the Coauthor graphs cannot afford here: a 20-epoch run with a GRAND teacher took
# 49 s longer than with a GCN on CS and 147 s longer on Physics (one thread each, three processes sharing 2 cores),
# and GRAND trains up to 500 epochs a seed; with it among the candidates and in the every-architecture ensemble,
# their tables would take days on 2 cores. Their candidates leave it out.
COAUTHOR = ("CS", "Physics")
# The table's teachers, as it was run (graphkd's later teachers, e.g. gatsep, are not among them).
TEACHER_NAMES = ("gcn", "gat", "sage", "appnp", "grand")
TEACHER_CANDIDATES = {name: [t for t in TEACHER_NAMES if t != "grand"] for name in COAUTHOR}
NOWHERE, TRAINING, INFERENCE = "nowhere", "at training only", "at inference, for nodes it has not seen"
TEACHER_ROW = "KD at defaults, teacher chosen on validation"
ADVERSARIAL = "+ adversarial (NOSMOG)"
# The adversarial term's PGD steps perturb the input densely, so on the Coauthor graphs' sparse bag-of-words
# features a seed costs about 26x a plain one (CS: 1332-1670 s against 51 s, one thread), and the full grid would
# take about 10 hours on CS and a day on Physics. There it tries the radius, the setting validation separates (on
# Cora and CiteSeer 0.01 lost 5-10 points to 0.001), at one weight: the two weights validated within 0.55 points
# of each other on every other dataset.
ADVERSARIAL_WEIGHTS = {name: (0.5,) for name in COAUTHOR}
# (row, where the student uses the graph, candidate settings over graphkd's defaults)
KINDS = [
    ("KD on logits (GLNN)", NOWHERE, [{"temperature": t, "alpha": a} for t in (1.0, 2.0) for a in (0.0, 0.3)]),
    # GLNN tunes its MLP's weight decay and dropout per dataset (Photo: 0.002 and 0.3); graphkd's default is 0, 0.5.
    ("+ student weight decay, dropout", NOWHERE,
     [{"student_weight_decay": w, "student_dropout": d} for w in (0.0005, 0.002) for d in (0.3, 0.5)]),
    # GLNN's MLP is 2 x 128, and on the Amazon graphs it learns at 0.001 (Computers) or 0.005 (Photo); graphkd's
    # default is 2 x 256 at 0.01 (Computers' recipe: 0.001).
    ("+ student learning rate, width", NOWHERE,
     [{"lr": lr, "student_hidden": h} for lr in (0.001, 0.005) for h in (128, 256)]),
    # The teachers keep GLNN's recipes, made for citation graphs (GCN: 64 wide, dropout 0.8); on validation a
    # wider or less regularised teacher may teach better.
    ("+ teacher width, dropout", NOWHERE,
     [{"teacher_hidden": h, "teacher_dropout": d} for h in (64, 256) for d in (0.2, 0.5)]),
    ("+ hint (FitNets)", NOWHERE,
     [{"hint_weight": w, "hint_metric": m} for w in (0.1, 1.0) for m in ("mse", "cosine")]),
    ("+ similarity (NOSMOG)", NOWHERE, [{"similarity_weight": w} for w in (0.1, 1.0, 10.0)]),
    (ADVERSARIAL, NOWHERE,
     [{"adversarial_weight": w, "adversarial_epsilon": e} for w in (0.5, 1.0) for e in (0.001, 0.01)]),
    # Correction at 0.8 lowered a GCN teacher's own soft targets on Cora (seed 0, test 80.8% -> 78.4%); 1.0 did not.
    ("C&S-refined soft targets", TRAINING,
     [{"refine": "cs", "temperature": t, "cs_correction_alpha": c} for t in (1.0, 2.0) for c in (0.8, 1.0)]),
    # Three inits of the chosen architecture: their mean distribution averages out an unlucky initialisation.
    # The every-architecture candidate is the dataset's (see kinds()).
    ("teacher ensemble (every architecture, or 3 of the chosen one)", NOWHERE,
     [{"teacher": "+".join(TEACHER_NAMES)}, {"ensemble": 3}]),
]
ENSEMBLE = KINDS[-1][0]
# Row-normalised bag-of-words entries are about 0.05 (Cora): a radius of 0.05 in every one of 1433 dimensions
# swamped the signal (20.9% on Cora in a 10-epoch trial), so the radii stay small.
POSITIONS = ("+ position features", INFERENCE, [{"positions": d} for d in (16, 64)])
COMBINED = "best combination (no graph at inference)"
DEPTH_DATASETS = ("Cora", "CiteSeer", "Photo")
# A deep teacher's norm and dropout, chosen on the teacher's own validation accuracy: no one recipe suits every
# graph (on Cora seeds 0-2 a 4-layer GCN validated at 81.0% with batch norm and 83.3% without any norm).
DEEP_RECIPES = [{"teacher_norm": norm, "teacher_dropout": dropout}
                for norm in ("batch_norm", "layer_norm", "none") for dropout in (0.2, 0.5)]


def teacher_candidates(dataset: str) -> list[str]:
    """The architectures the teacher row chooses among on ``dataset``, and the every-architecture ensemble's members."""
    return TEACHER_CANDIDATES.get(dataset, list(TEACHER_NAMES))


def kinds(dataset: str) -> list[tuple]:
    """KINDS on ``dataset``: its ensemble of every architecture has the dataset's teacher candidates as members,
    and its adversarial row tries the dataset's weights (where ADVERSARIAL_WEIGHTS names any)."""
    every = {"teacher": "+".join(teacher_candidates(dataset))}

    def on_dataset(name: str, candidates: list[dict]) -> list[dict]:
        if name == ENSEMBLE:
            return [every, *candidates[1:]]
        if name == ADVERSARIAL and dataset in ADVERSARIAL_WEIGHTS:
            return [c for c in candidates if c["adversarial_weight"] in ADVERSARIAL_WEIGHTS[dataset]]
        return candidates

    return [(name, graph_use, on_dataset(name, candidates)) for name, graph_use, candidates in KINDS]


def combine(runner: Runner, rows: dict, base_val: float) -> dict:
    """Greedy forward selection on validation accuracy over the rows that beat KD at defaults (``base_val``,
    the selection seeds' validation accuracy): the KD row's tuned T and alpha are one such row. The starting
    row's bar is measured again, as its candidates are: a row finished in an earlier checkout may rest on
    teachers trained by older code, and its kept seeds make this free otherwise."""
    helpful = sorted((row for row in rows.values() if row["val_acc"] > base_val),
                     key=lambda row: -row["val_acc"]) or [rows[KINDS[0][0]]]  # none: the KD row
    settings, tried = dict(helpful[0]["settings"]), []
    best_val = runner.run(settings, runner.args.select_runs)["student"]["val_acc_mean"]
    for row in helpful[1:]:
        candidate = {**settings, **row["settings"]}
        val = runner.run(candidate, runner.args.select_runs)["student"]["val_acc_mean"]
        tried.append({"settings": candidate, "val_acc": val})
        if val > best_val:
            settings, best_val = candidate, val
    summary = runner.run(settings, runner.args.runs)
    return {"tried": tried, "settings": settings, "val_acc": best_val, "summary": summary}


def pct(summary: dict, role: str = "student") -> str:
    return f"{100 * summary[role]['test_acc_mean']:.2f} ± {100 * summary[role]['test_acc_std']:.2f}"


def finished(row: dict | None, runs: int, candidates: list[dict] | None = None) -> bool:
    """Whether ``row`` holds ``runs`` seeds, chosen among these very ``candidates`` (when given): a row whose
    candidates changed (a teacher added to the ensemble, say) runs again."""
    if row is None or row["runs"] != runs:
        return False
    if candidates is None:
        return True
    if "tried" in row:
        return [t["settings"] for t in row["tried"]] == candidates
    return row.get("configs_tried") == len(candidates)


def keep(json_path: Path, dataset: str, name: str, row: dict, graph_use: str, configs: int, teacher: str,
         args) -> dict:
    """Record a finished row with the teacher the table chose, which it was built on."""
    kept = {**slim(row), "graph": graph_use, "configs_tried": configs, "runs": args.runs,
            "select_runs": args.select_runs, "teacher": teacher}
    record(json_path, dataset, name, kept, write_knowledge_markdown)
    print(f"{dataset} {name}: {pct(row['summary'])} ({configs} configs, teacher {teacher})", flush=True)
    return kept


def drop_stale_rows(json_path: Path, dataset: str, teacher: str) -> dict:
    """Remove the dataset's rows that were built on another chosen teacher, or that this version of the
    table no longer has; returns the rows left."""
    current = {COMBINED} | {name for name, _, _ in [*KINDS, POSITIONS]}

    def drop(results: dict) -> None:
        rows = results["datasets"].setdefault(dataset, {})
        for name in list(rows):
            if name != TEACHER_ROW and (name not in current or rows[name].get("teacher") != teacher):
                del rows[name]

    results = update_json(json_path, drop, {"datasets": {}},
                          then=lambda results: write_knowledge_markdown(results, json_path.with_suffix(".md")))
    return results["datasets"][dataset]


def knowledge_study(args, json_path: Path) -> None:
    results = json.loads(json_path.read_text()) if json_path.is_file() else {"datasets": {}}
    for dataset in args.datasets:
        teachers = [{"teacher": name} for name in teacher_candidates(dataset)]
        teacher_row = results["datasets"].get(dataset, {}).get(TEACHER_ROW)
        if not finished(teacher_row, args.runs, teachers):
            row = Runner(args, dataset).select(teachers)
            teacher_row = keep(json_path, dataset, TEACHER_ROW, row, NOWHERE, len(teachers), row["settings"]["teacher"],
                               args)
        runner = Runner(args, dataset, teacher_row["teacher"])
        done = drop_stale_rows(json_path, dataset, teacher_row["teacher"])
        rows = {}
        for name, graph_use, candidates in [*kinds(dataset), POSITIONS]:
            rows[name] = done[name] if finished(done.get(name), args.runs, candidates) else keep(
                json_path, dataset, name, runner.select(candidates), graph_use, len(candidates), runner.teacher, args)
        # The rows it combines, as chosen now, and the bar they must clear.
        basis = {name: rows[name]["settings"] for name, _, _ in KINDS} | {TEACHER_ROW: teacher_row["val_acc"]}
        if not (finished(done.get(COMBINED), args.runs) and done[COMBINED].get("basis") == basis):
            row = {**combine(runner, {name: rows[name] for name, _, _ in KINDS}, teacher_row["val_acc"]),
                   "basis": basis}
            configs = len(teachers) + sum(rows[name]["configs_tried"] for name, _, _ in KINDS) + len(row["tried"])
            keep(json_path, dataset, COMBINED, row, NOWHERE, configs, runner.teacher, args)
        results = json.loads(json_path.read_text())


def write_knowledge_markdown(results: dict, path: Path) -> None:
    summary_rows, sections = [], []
    order = [TEACHER_ROW, *(name for name, _, _ in [*KINDS, POSITIONS]), COMBINED]
    for dataset in DATASETS:
        rows = results["datasets"].get(dataset, {})
        rows = {name: rows[name] for name in order if name in rows}
        if TEACHER_ROW not in rows:
            continue
        first, teacher = rows[TEACHER_ROW]["summary"], rows[TEACHER_ROW]["teacher"]
        table = [[f"teacher ({teacher.upper()})", "at inference (it is the GNN)", "", "", "", pct(first, "teacher")],
                 ["labels-only MLP", NOWHERE, "", "", "", pct(first, "baseline_mlp")]]
        for name, row in rows.items():
            table.append([name, row["graph"], row["configs_tried"], f"{100 * row['val_acc']:.2f}",
                          f"{100 * all_seeds_val(row):.2f}", pct(row["summary"])])
        select_runs = max(row["select_runs"] for row in rows.values())
        sections.append(f"### {dataset} (selection on seeds 0-{select_runs - 1}, test over {first['runs']} seeds)\n\n"
                        + markdown_table(
            ["row", "student uses the graph", "configs tried", "val acc (selection seeds)", "val acc (all seeds)",
             "test acc"], table))
        # A student trained on C&S-refined targets needs the graph no more at inference than plain KD's does.
        no_graph = max((r for r in rows.values() if r["graph"] != INFERENCE), key=all_seeds_val)
        any_row = max(rows.values(), key=all_seeds_val)
        published = [f"{p:.2f}" for p in PUBLISHED.get(dataset, ())] or ["", "", ""]
        label = dataset if len(rows) == len(order) else f"{dataset} ({len(rows)} of {len(order)} rows so far)"
        summary_rows.append([label, f"{teacher.upper()} {pct(first, 'teacher')}", pct(no_graph["summary"]),
                             pct(any_row["summary"]), *published])
    text = ("# Knowledge beyond the logits (CPF split, transductive)\n\n"
            f"The teacher is chosen on validation first: each of {', '.join(n.upper() for n in TEACHER_NAMES)} is "
            "distilled into graphkd's default 2 x 256 MLP (T = 1, alpha = 0), and the one whose student has the "
            "best mean validation accuracy teaches every other row. On CS and Physics GRAND is "
            "left out, of the candidates and of the every-architecture ensemble: its random passes cost about 2.5 s "
            "(CS) and 7 s (Physics) an epoch more than a GCN teacher's (with the cores shared), up to 500 epochs a "
            "seed, and the table would take days on 2 cores. There the adversarial row tries its two radii at one "
            "weight (0.5): its dense input perturbation makes a seed on their sparse features about 26 times as "
            "long. Every row's settings were chosen "
            "on mean validation accuracy over the first selection seeds; the test accuracy is that choice's, "
            "over all seeds (mean ± std). 'configs tried' counts the candidates; the combination counts the "
            "candidates of every kind it drew on too.\n\n## Best distilled MLP (selected on validation)\n\n"
            "Between rows, the choice reads the validation accuracy over all seeds (every row runs them all), "
            "twice the validation nodes of the selection seeds. "
            "'no graph at inference': the best of the rows whose student needs no graph to serve any node. "
            "'position features allowed': the best of all rows; a node seen in training then reads its stored "
            "position features, but a new node needs its neighbours' (NOSMOG's published numbers use them).\n\n"
            + markdown_table(["dataset", "teacher", "graphkd MLP, no graph at inference",
                              "graphkd MLP, position features allowed", "GLNN", "NOSMOG", "VQGraph"], summary_rows)
            + "\n\n" + "\n\n".join(sections) + f"\n\nMachine: {machine_line(results)}\n")
    path.write_text(text)


def all_seeds_val(row: dict) -> float:
    """A row's student validation accuracy over all its seeds: what chooses between rows."""
    return row["summary"]["student"]["val_acc_mean"]


def depth_candidates(layers: int) -> list[dict]:
    return [{"teacher_layers": layers, **recipe} for recipe in (DEEP_RECIPES if layers > 2 else [{}])]


def depth_study(args, json_path: Path) -> None:
    def drop_stale(results: dict) -> None:  # rows of an earlier protocol (one fixed deep recipe)
        for cells in results["datasets"].values():
            for name in [n for n, row in cells.items()
                         if row.get("configs_tried") != len(depth_candidates(row["layers"]))]:
                del cells[name]

    results = update_json(json_path, drop_stale, {"datasets": {}},
                          then=lambda results: write_depth_markdown(results, json_path.with_suffix(".md")))
    for dataset in args.datasets:
        for teacher in ("gcn", "gat"):
            runner = Runner(args, dataset, teacher)
            for layers in (2, 4, 8):
                name = f"{teacher}-{layers}"
                candidates = depth_candidates(layers)
                if finished(results["datasets"].get(dataset, {}).get(name), args.runs, candidates):
                    continue
                if len(candidates) > 1:
                    chosen = runner.select(candidates, role="teacher")
                    summary, recipe, val = chosen["summary"], chosen["settings"], chosen["val_acc"]
                else:
                    summary, recipe, val = runner.run(candidates[0], args.runs), candidates[0], None
                row = {**slim({"summary": summary}), "teacher": teacher, "layers": layers, "runs": args.runs,
                       "settings": recipe, "configs_tried": len(candidates), "teacher_val_acc": val,
                       "select_runs": args.select_runs}
                results = record(json_path, dataset, name, row, write_depth_markdown)
                print(f"{dataset} {name}: teacher {pct(summary, 'teacher')}, student {pct(summary)}", flush=True)


def deep_recipe(row: dict) -> str:
    """How a depth row's teacher was built: the published recipe, or the norm and dropout chosen on validation."""
    if row["layers"] <= 2:
        return "published"
    settings = row["settings"]
    return (f"{settings['teacher_norm'].replace('_', ' ')}, dropout {settings['teacher_dropout']} "
            f"({row['configs_tried']} tried; val {100 * row['teacher_val_acc']:.2f})")


def write_depth_markdown(results: dict, path: Path) -> None:
    rows = [[dataset, name.split("-")[0].upper(), row["layers"], deep_recipe(row), pct(row["summary"], "teacher"),
             pct(row["summary"], "baseline_mlp"), pct(row["summary"]), f"{row['summary']['teacher']['params']:,}"]
            for dataset, cells in results["datasets"].items()
            for name, row in sorted(cells.items(), key=lambda c: (c[1]["teacher"], c[1]["layers"]))]
    path.write_text(
        "# Teacher depth: what a deeper teacher buys its distilled MLP (CPF split)\n\n"
        "2-layer teachers keep the published recipe. Deeper teachers are residual; their norm (batch, layer or none) "
        "and dropout (0.2 or 0.5) are chosen on the teacher's mean validation accuracy over the selection seeds "
        "(the recipe column gives the choice, how many were tried and that validation accuracy). Students are "
        "graphkd's default 2 x 256 MLP with KD at T = 1, alpha = 0 (no tuning). Test accuracy over all seeds.\n\n"
        + markdown_table(["dataset", "teacher", "layers", "recipe (chosen on validation)", "teacher acc",
                          "labels-only MLP", "distilled MLP", "teacher params"], rows)
        + f"\n\nMachine: {machine_line(results)}\n")


def main(argv=None) -> None:
    p = selection_parser(__doc__, "knowledge", f"datasets (default: {', '.join(DATASETS)} for knowledge, "
                                               f"{', '.join(DEPTH_DATASETS)} for depth)")
    p.add_argument("--study", choices=["knowledge", "depth"], default="knowledge", help="which table to build")
    args = p.parse_args(argv)
    args.datasets = args.datasets or list(DATASETS if args.study == "knowledge" else DEPTH_DATASETS)
    check_selection_args(p, args, DATASETS)
    study = knowledge_study if args.study == "knowledge" else depth_study
    study(args, Path(args.results) / f"{args.study}.json")


if __name__ == "__main__":
    main()
