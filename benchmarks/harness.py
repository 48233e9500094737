"""What the benchmark tables share: their common options, the runner that chooses settings on the validation
metric over seeds (the run's own: accuracy on the multiclass tables, ROC-AUC on the binary heterophilous graphs),
the finished seeds' records, and the results files rows are merged into.

The scripts beside this one import it (a script's own folder comes first on ``sys.path``); none imports another
script.

Finished seeds' records (``--records``) are kept beside the results, so that a long table resumes in a fresh
checkout. ``--work`` holds what a seed needs while it runs (teachers, checkpoints, student files); it is not
committed, and a session that ends takes it along. A seed's record (its scores) is a few kilobytes: it is
kept as soon as the seed finishes, and a seed found there is not run again. A Physics seed of the adversarial row
costs about an hour of one core, so losing them with the work folder cost whole sessions.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import warnings
from pathlib import Path

from graphkd.distill import DistillConfig, run_distillation, summarize_runs
from graphkd.distill.pipeline import seed_data_key
from graphkd.distill.records import record_mismatch
from graphkd.io import update_json
from graphkd.report import environment
from graphkd.tasks import metric_key

__all__ = ["HERE", "RECIPES", "Runner", "SeedRecords", "check_selection_args", "machine_line", "record",
           "selection_parser", "slim", "study_parser", "unfinished", "val_key"]

HERE = Path(__file__).resolve().parent
# Per-dataset student settings where graphkd's defaults are off. Computers' binary features are not
# row-normalised (about 270 of 767 active per node), and students at lr 0.01 fell below a GCN teacher:
# on seeds 0-4, 81.2% at lr 0.01, 81.9% at 0.003, 82.1% at 0.001 (teacher 81.4%); GLNN's recipe for
# this dataset is also 0.001. Applies to the labels-only MLP too, which shares the student's settings.
RECIPES = {"Computers": {"lr": 0.001}}


class SeedRecords:
    """One dataset's finished seed records in a JSON file, ``{config key: {seed: record}}``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._records = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def get(self, cfg: DistillConfig, seed: int, data_key: str) -> dict | None:
        """``seed``'s record for ``cfg`` if one is kept, made on the graph ``data_key`` (see
        :func:`graphkd.distill.pipeline.seed_data_key`) and untouched since; else ``None``."""
        record = self._records.get(cfg.key(), {}).get(str(seed))
        if record is None:
            return None
        if (mismatch := record_mismatch(record, cfg, seed, data_key)) is not None:
            warnings.warn(f"the kept record of seed {seed} in {self.path} {mismatch}; running the seed again",
                          stacklevel=2)
            return None
        return record

    def add(self, cfg: DistillConfig, record: dict) -> None:
        """Keep ``record``, a finished seed of ``cfg``, merged into the file (other processes may add to it)."""
        def merge(records: dict) -> None:
            records.setdefault(cfg.key(), {})[str(record["seed"])] = record

        self._records = update_json(self.path, merge, {})


class Runner:
    """Runs configurations of one dataset, with shared teachers and per-seed records under ``work``.

    ``split``: the dataset's split family (``"random"``, CPF's; ``"fixed"``, the published splits, seed k
    running split k). ``settings``: defaults of every configuration run here, under each one's overrides."""

    def __init__(self, args, dataset: str, teacher: str | None = None, split: str = "random",
                 settings: dict | None = None):
        self.args, self.dataset, self.teacher, self.split = args, dataset, teacher, split
        self.settings = settings or {}
        self.work = Path(args.work) / dataset
        self.records = SeedRecords(Path(args.records or Path(args.results) / "seeds") / f"{dataset}.json")
        self.data_keys = {}

    def config(self, overrides: dict, runs: int) -> DistillConfig:
        settings = {"teacher": self.teacher, "epochs": self.args.epochs, **RECIPES.get(self.dataset, {}),
                    **self.settings, **overrides}
        return DistillConfig(dataset=self.dataset, split=self.split, root=self.args.root, runs=runs, **settings)

    def data_key(self, cfg: DistillConfig, seed: int) -> str:
        """The fingerprint of seed ``seed``'s graph and split, computed once per split (loading Physics takes
        seconds, and every configuration of a dataset shares its splits)."""
        split = (seed, cfg.split, cfg.labels_per_class)
        if split not in self.data_keys:
            self.data_keys[split] = seed_data_key(cfg, seed)
        return self.data_keys[split]

    def run(self, overrides: dict, runs: int) -> dict:
        """``runs`` seeds of ``overrides``: those kept in the seed records are read back, the others run (up to
        ``--workers`` consecutive seeds at once) and are kept there as they finish."""
        cfg = self.config(overrides, runs)
        per_seed = {seed: record for seed in range(runs)
                    if (record := self.records.get(cfg, seed, self.data_key(cfg, seed))) is not None}
        missing = [seed for seed in range(runs) if seed not in per_seed]
        while missing:
            count = 1
            while count < min(self.args.workers, len(missing)) and missing[count] == missing[0] + count:
                count += 1
            summary = run_distillation(dataclasses.replace(cfg, seed=missing[0], runs=count),
                                       out=self.work / cfg.key(), teacher_dir=self.work / "teachers",
                                       progress=not self.args.quiet, workers=self.args.workers)
            for record in summary["per_seed"]:
                self.records.add(cfg, record)
                per_seed[record["seed"]] = record
            missing = missing[count:]
        return summarize_runs(cfg, [per_seed[seed] for seed in range(runs)])

    def select(self, candidates: list[dict], role: str = "student") -> dict:
        """Each candidate on the selection seeds; the one whose ``role`` (``student`` or ``teacher``) has the
        best mean validation metric (the runs' own, :func:`val_key`), on all seeds. The scores are kept under
        ``val_<key>`` (``val_acc`` for accuracy, ``val_roc_auc`` for ROC-AUC)."""
        tried = []
        for c in candidates:
            summary = self.run(c, self.args.select_runs)
            name = val_key(summary)
            tried.append({"settings": c, name: summary[role][f"{name}_mean"]})
        name = next(key for key in tried[0] if key != "settings")
        best = max(tried, key=lambda t: t[name])
        return {"tried": tried, "settings": best["settings"], name: best[name],
                "summary": self.run(best["settings"], self.args.runs)}


def val_key(summary: dict) -> str:
    """The validation score's name in a run summary's roles: ``val_acc`` for accuracy (summaries written before
    tasks existed name no metric: theirs), ``val_roc_auc`` for ROC-AUC."""
    return f"val_{metric_key(summary.get('metric', 'accuracy'))}"


def slim(row: dict) -> dict:
    """A row as stored: the summary without per-seed records (they are kept in --records)."""
    return {**row, "summary": {k: v for k, v in row["summary"].items() if k != "per_seed"},
            "seeds": [s["seed"] for s in row["summary"]["per_seed"]]}


def record(json_path: Path, dataset: str, name: str | None, row: dict, write_markdown) -> dict:
    """Merge one finished row (``name=None``: the dataset's whole entry) into the results on disk (runs on
    other datasets may add rows meanwhile), and rewrite the markdown beside it."""

    def add(results: dict) -> None:
        if name is None:
            results["datasets"][dataset] = row
        else:
            results["datasets"].setdefault(dataset, {})[name] = row
        results["environment"] = environment()

    return update_json(json_path, add, {"datasets": {}},
                       then=lambda results: write_markdown(results, json_path.with_suffix(".md")))


def unfinished(json_path: Path, datasets: list[str], runs: int) -> list[str]:
    """The datasets whose whole entry in the results at ``json_path`` does not hold ``runs`` seeds yet."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(json_path.read_text()) if json_path.is_file() else {"datasets": {}}
    return [d for d in datasets if results["datasets"].get(d, {}).get("runs") != runs]


def machine_line(results: dict) -> str:
    env = results.get("environment", {})
    return (f"{env.get('cpu')}, {env.get('cores')} cores; torch {env.get('torch')}, "
            f"torch_geometric {env.get('torch_geometric')}")


def study_parser(description: str, work: str, datasets_help: str, datasets=None) -> argparse.ArgumentParser:
    """The options every benchmark table shares: data, datasets, seeds, epochs, where work and results go."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=None, help="data folder holding <Name>/raw (default: $GRAPHKD_DATA)")
    p.add_argument("--datasets", nargs="+", default=datasets, help=datasets_help)
    p.add_argument("--runs", type=int, default=10, help="seeds of each reported row")
    p.add_argument("--epochs", type=int, default=500, help="maximum epochs per model (early stopping decides)")
    p.add_argument("--work", default=str(HERE / "work" / work),
                   help="what seeds need while they run: teachers, soft targets, checkpoints, student files")
    p.add_argument("--results", default=str(HERE / "results"), help="folder of the JSON and markdown")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def selection_parser(description: str, work: str, datasets_help: str) -> argparse.ArgumentParser:
    """The options of the validation-selected tables (knowledge_table.py and settings_table.py)."""
    p = study_parser(description, work, datasets_help)
    p.add_argument("--select-runs", type=int, default=5, help="seeds each candidate setting runs for selection")
    p.add_argument("--records", default=None,
                   help="folder of finished seeds' records, one JSON per dataset, keyed by configuration (default: "
                        "<results>/seeds; commit them: a seed found there is not run again)")
    p.add_argument("--workers", type=int, default=1,
                   help="seeds each configuration runs at once, in processes of their own (one per free core; "
                        "a seed's numbers depend on its threads per process, recorded with it)")
    return p


def check_selection_args(p: argparse.ArgumentParser, args, valid) -> None:
    unknown = set(args.datasets) - set(valid)
    if unknown:
        p.error(f"unknown dataset(s) {sorted(unknown)}; valid: {', '.join(valid)}")
    if not 1 <= args.select_runs <= args.runs:
        p.error("--select-runs must lie in [1, --runs]")
    Path(args.results).mkdir(parents=True, exist_ok=True)
