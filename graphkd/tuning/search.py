"""``graphkd.tune``: the distillation run that validates best on a graph, found by Optuna within a budget.

A search runs trials, each a run drawn from the space (:mod:`graphkd.tuning.space`) by Optuna's TPE sampler on
a few selection seeds (:mod:`graphkd.tuning.trial`), until the budget is spent; then the best few trials (by
their selection score) run again on the final seeds, and the one with the best mean validation metric is chosen.
Only validation scores choose; the chosen run's test metric is the only one reported. Everything lives in the
study's database and the output folder, so the same call continues a killed search, and processes given the same
study work on it together (:mod:`graphkd.tuning.study`).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import time as clock_time
import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch
from optuna.exceptions import ExperimentalWarning
from optuna.trial import FrozenTrial
from torch_geometric.data import Data
from tqdm.auto import tqdm

from graphkd.data import from_networkx, load_dataset, random_split
from graphkd.distill import DistillConfig, GivenTeacher, RunConfig, read_run_file, run_distillation, write_run_file
from graphkd.distill.pipeline import with_task
from graphkd.distill.soft_targets import SoftTargets, graph_fingerprint
from graphkd.distill.teachers import load_teacher_outputs
from graphkd.errors import GraphkdError
from graphkd.io import folder_path, writable_folder
from graphkd.tuning.budget import (
    FINAL_RUNS,
    FINALISTS,
    SELECTION_RUNS,
    STUDY_NAME,
    Budget,
    clock,
    final_estimates,
    first_fitting,
)
from graphkd.tuning.first import first_params
from graphkd.tuning.loop import SearchLoop
from graphkd.tuning.outputs import plot_study, write_result, write_trials
from graphkd.tuning.space import OPTIONS, SearchSpace, with_settings
from graphkd.tuning.space_file import read_space
from graphkd.tuning.study import StudyHandle, counts, default_storage, local_processes
from graphkd.tuning.trial import validation_score

__all__ = ["BEST_FILE", "TuneResult", "tune"]

BEST_FILE = "best.toml"


@dataclass(frozen=True)
class TuneResult:
    """What a search chose: ``run``, the chosen run as ``best.toml`` holds it (``graphkd distill --config``
    runs it again); ``summary``, its final result as :func:`run_distillation` returns it (``None`` with
    ``final_runs=0``); ``trial``, its trial's number; ``finalists``, each finalist's mean validation metric over
    the final seeds; ``trials``, the study's finished trials; ``out``, the output folder."""

    run: RunConfig
    summary: dict | None
    trial: int
    finalists: dict[int, float]
    trials: int
    out: Path


def tune(config: RunConfig | DistillConfig | str | os.PathLike | None = None, *, out: str | os.PathLike,
         dataset: str | None = None, data: Data | None = None, teacher: object | None = None,
         trials: int | None = None,
         time: str | float | None = None, space: SearchSpace | dict | str | os.PathLike | None = None,
         storage: str | None = None, study_name: str = STUDY_NAME, selection_runs: int = SELECTION_RUNS,
         final_runs: int = FINAL_RUNS, finalists: int = FINALISTS, seed: int = 0, first_trials: bool = True,
         progress: bool = True, workers: int = 1) -> TuneResult:
    """Search for the distillation run of best validation metric on a graph, and return the chosen one.

    Args:
        config: the base run (a :class:`RunConfig`, a :class:`DistillConfig` or a run file's path): what the
            search does not vary, its seeds from ``seeds.first`` (``seeds.runs`` is ignored).
        out: the output folder: the study's database (by default), the teachers' cache, the finalists' runs,
            ``best.toml``, ``result.md``, ``trials.csv``, ``trials.md`` and ``tune.png``.
        dataset: the catalogued dataset to tune on, instead of the base run's.
        data: a user's own graph (PyG ``Data`` or ``networkx``), as :func:`run_distillation` takes it.
        teacher: a given teacher (a file of its outputs, a module, logits, ...): then fixed, and the teacher
            options leave the space.
        trials: finished trials the study should hold (earlier calls' included); ``time``: this call's wall time
            (``"45m"``, ``"1.5h"`` or seconds), the final runs included. Neither: 20 trials.
        space: the options varied: a :class:`SearchSpace`, a space file's path or its content as a dict; by
            default graphkd's (:data:`graphkd.tuning.space.DEFAULT_SPACE`).
        storage: the study's database URL (default ``sqlite:///<out>/study.db``; PostgreSQL or MySQL to share a
            study between machines); ``study_name``: the study's name in it.
        selection_runs: seeds per trial; ``final_runs``: seeds of the finalists' runs (0: no final runs, the best
            trial by its selection score is chosen); ``finalists``: how many of the best trials run them.
        seed: the sampler's seed (the distillation seeds are the base run's).
        first_trials: a new study tries the recipes that won across the knowledge table's graphs first
            (:data:`graphkd.tuning.first.FIRST_TRIALS`, those the space allows), then draws.
        progress: a bar and a line per trial; ``workers``: seeds of a final run at once (see
            :func:`run_distillation`).
    """
    start = clock_time.monotonic()
    budget = Budget.of(trials, time)
    _check_whole("selection_runs", selection_runs, 1)
    _check_whole("final_runs", final_runs, 0)
    _check_whole("finalists", finalists, 1)
    _check_whole("seed", seed, 0)
    if data is not None and not isinstance(data, Data):
        data = from_networkx(data)
    base = _base_config(config, dataset, teacher, selection_runs)
    space = _space(space)
    if base.given_teacher():
        space = space.without_teacher(_offers_representations(base.teacher))
    out = writable_folder(folder_path(out, "output folder"), "output folder")
    if not isinstance(study_name, str) or not study_name.strip():
        raise GraphkdError(f"study_name must be a name, got {study_name!r}")
    url = storage if storage is not None else default_storage(out)
    if not isinstance(url, str) or "://" not in url:
        raise GraphkdError(f"storage must be a database URL such as sqlite:///study.db or "
                           f"postgresql://user:password@host/db, got {url!r}")
    attrs = {**_identity(base, data), "base": _fixed(base, space), "space": space.to_plain()}
    with _quiet_optuna():
        handle = StudyHandle(url, study_name, _lock_path(url, out))
        study = handle.open(attrs, first_params(space) if first_trials else ())
        if progress:
            tqdm.write(f"graphkd tune: study {study_name!r} in {url}, {len(study.trials)} trials so far; budget "
                       f"{budget.describe()}")
        search = SearchLoop(handle, space, base, data, out / "teachers", budget, start, seed, selection_runs,
                            final_runs, progress, attrs["metric"])
        search.run()
        study = handle.load()
        finished, _, complete = counts(study)
        if not complete:
            notes = [t.user_attrs.get("note", "") for t in study.trials if t.user_attrs.get("note")]
            said = f"; the last said: {notes[-1]}" if notes else ""
            raise GraphkdError(f"no trial of study {study_name!r} completed ({len(study.trials)} tried){said}")
        write_trials(study, out)
        plot_study(study, out / "tune.png")
        top, skipped = _finalists(handle, complete, finished, final_runs, finalists, budget, start,
                                  local_processes(study), out / "teachers", base.seed, progress)
        return _finish(top, skipped, finished, base, data, out, final_runs, progress, workers, start, budget)


def _check_whole(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise GraphkdError(f"{name} must be a whole number, at least {low}, got {value!r}")


def _base_config(config, dataset: str | None, teacher, selection_runs: int) -> DistillConfig:
    if config is None:
        run = RunConfig()
    elif isinstance(config, RunConfig):
        run = config
    elif isinstance(config, DistillConfig):
        run = RunConfig.from_distill_config(config)
    elif isinstance(config, (str, os.PathLike)):
        run = read_run_file(config)
    else:
        raise GraphkdError(f"config must be a RunConfig, a DistillConfig or a run file's path, got "
                           f"{type(config).__name__}")
    if dataset is not None:
        run = dataclasses.replace(run, data=dataclasses.replace(run.data, dataset=dataset))
    if teacher is not None:
        run = dataclasses.replace(run, teacher=GivenTeacher(teacher))
    return dataclasses.replace(run.distill_config(), runs=selection_runs)


def _space(space) -> SearchSpace:
    if space is None:
        return SearchSpace()
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, dict):
        return SearchSpace.of(space)
    if isinstance(space, (str, os.PathLike)):
        return read_space(space)
    raise GraphkdError(f"space must be a SearchSpace, a dict or a space file's path, got {type(space).__name__}")


def _offers_representations(teacher) -> bool:
    """Whether a given teacher has hidden representations for the hint and similarity terms: a module does (they
    are captured), given outputs only with ``hidden``."""
    value = load_teacher_outputs(teacher) if isinstance(teacher, (str, os.PathLike)) else teacher
    if isinstance(value, torch.nn.Module):
        return True
    if isinstance(value, SoftTargets):
        return bool(value.hidden)
    return isinstance(value, dict) and bool(value.get("hidden"))


def _identity(cfg: DistillConfig, data: Data | None) -> dict:
    """What the search is on: the first seed's graph, its split, task and metric, as the study records them."""
    if data is None:
        graph = load_dataset(cfg.dataset, cfg.root, cfg.split, seed=cfg.seed, labels_per_class=cfg.labels_per_class)
    elif cfg.split == "random":
        graph = random_split(data, cfg.seed, train_per_class=cfg.labels_per_class)
    else:
        graph = copy.copy(data)
    graph = with_task(cfg, graph)
    return {"dataset": getattr(graph, "dataset", None) or (cfg.dataset if data is None else "custom"),
            "split": getattr(graph, "split", None) or cfg.split or "custom", "task": graph.task.kind,
            "metric": graph.task.metric, "graph": graph_fingerprint(graph)}


def _fixed(base: DistillConfig, space: SearchSpace) -> dict:
    """The base run's settings the trials share: all but those the space varies, the seed count, and the data
    folder and device (which differ between machines)."""
    varied = {OPTIONS[name].field for name in space.options}
    return {k: v for k, v in base.describe().items() if k not in varied | {"runs", "root", "device"}}


def _lock_path(url: str, out: Path) -> Path:
    """Beside an SQLite file (every process that opens it sees the same lock), else in the output folder."""
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        db = Path(url[len("sqlite:///"):])
        return db.with_name(db.name + ".lock")
    return out / "study.lock"


@contextlib.contextmanager
def _quiet_optuna():
    """Optuna's own lines (a study created, each trial finished) give way to graphkd's progress."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)  # the heartbeat's arguments
            # graphkd runs the heartbeat of its trials itself (StudyHandle.heartbeat), not through Study.optimize
            warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used with Study.optimize")
            yield
    finally:
        optuna.logging.set_verbosity(level)


def _finalists(handle: StudyHandle, complete: list[FrozenTrial], finished: int, final_runs: int, finalists: int,
               budget: Budget, start: float, processes: int, teacher_dir: Path, first_seed: int,
               progress: bool) -> tuple[list[FrozenTrial], list[int]]:
    """The trials to re-run on the final seeds, best first, and those skipped for time. With a time budget they
    start at the best trial whose final runs (estimated, shared by ``processes``, with what ``teacher_dir`` holds
    for the seeds from ``first_seed``) fit the time left, as the trial loop kept time for (else at the best); the
    next ones join while all their estimates together fit. The first process to get here records the choice in the
    study, and the others of this round of trials (the same finished trials) take it, so that processes sharing a
    study run the same final runs."""
    distinct, seen = [], set()
    for trial in sorted(complete, key=lambda t: (-t.value, t.number)):
        key = json.dumps(trial.user_attrs.get("settings", {}), sort_keys=True)
        if key not in seen:
            seen.add(key)
            distinct.append(trial)
    with handle.lock():
        study = handle.load()
        recorded = study.user_attrs.get("finalists")
        if recorded and recorded["finished"] == finished and recorded["final_runs"] == final_runs:
            by_number = {t.number: t for t in distinct}
            return [by_number[n] for n in recorded["run"]], list(recorded["skipped"])

        left = budget.left(start)
        needed = final_estimates(distinct, study.get_trials(deepcopy=False), final_runs, processes, teacher_dir,
                                 first_seed)
        first = first_fitting(needed, left) if final_runs else 0
        top, skipped, kept = [], [t.number for t in distinct[:first]], 0.0
        for trial, seconds in zip(distinct[first:first + finalists], needed[first:first + finalists], strict=True):
            if top and left is not None and kept + seconds > left:
                skipped.append(trial.number)
            else:
                top.append(trial)
                kept += seconds
        study.set_user_attr("finalists", {"finished": finished, "final_runs": final_runs,
                                          "run": [t.number for t in top], "skipped": skipped})
    if progress and skipped:
        tqdm.write(f"not re-run, their final runs (estimated) do not fit the {clock(left)} left: "
                   + ", ".join(f"trial {n}" for n in skipped))
    return top, skipped


def _finish(top: list[FrozenTrial], skipped: list[int], finished: int, base: DistillConfig, data: Data | None,
            out: Path, final_runs: int, progress: bool, workers: int, start: float, budget: Budget) -> TuneResult:
    """The finalists' final runs (``top``, best first), the choice on their validation metric, and the files that
    say so."""
    runs = final_runs or base.runs
    configs = {t.number: DistillConfig(**{**with_settings(base, t.user_attrs.get("settings", {})), "runs": runs})
               for t in top}
    if final_runs == 0:  # the search alone: the best trial by its selection score
        chosen, summary, scores, folder = top[0].number, None, {top[0].number: top[0].value}, None
    else:
        scores, summaries = {}, {}
        for trial in top:
            if progress:
                tqdm.write(f"finalist trial {trial.number} (selection score {trial.value:.4f}): {final_runs} seeds")
            summaries[trial.number] = run_distillation(configs[trial.number], data,
                                                       out=out / "finalists" / f"trial{trial.number}",
                                                       teacher_dir=out / "teachers", progress=progress,
                                                       workers=workers)
            scores[trial.number] = validation_score(summaries[trial.number])
        selection = {t.number: t.value for t in top}
        chosen = max(scores, key=lambda n: (scores[n], selection[n], -n))
        summary, folder = summaries[chosen], out / "finalists" / f"trial{chosen}"
    run = RunConfig.from_distill_config(configs[chosen])
    best_file = write_run_file(run, out / BEST_FILE)
    if summary is not None:
        write_result(out, summary, chosen, scores, folder, best_file, skipped)
    if progress:
        tqdm.write(f"chosen: trial {chosen}; {finished} trials finished; {clock(clock_time.monotonic() - start)} "
                   f"wall time (budget {budget.describe()}); {best_file}, trials.md, trials.csv, tune.png in {out}")
    return TuneResult(run, summary, chosen, scores, finished, out)
