"""One trial: the run it draws, its selection seeds one at a time, and its score, the mean validation metric.

After each seed the running mean is reported to Optuna, whose pruner stops a trial that falls below the median of
earlier trials at that seed: the cheap fidelity, as the knowledge table selected on a few seeds first. Teachers
come from the search's teacher folder, so a trial that changes only the student trains no teacher. A trial the run
refuses (an invalid combination) is recorded as pruned with the reason; the test metric is never read here.
"""
from __future__ import annotations

import contextlib
import signal
import statistics
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState
from torch_geometric.data import Data

from graphkd.distill import DistillConfig, run_distillation
from graphkd.errors import GraphkdError
from graphkd.io import one_line
from graphkd.tasks import metric_key
from graphkd.tuning.space import SearchSpace
from graphkd.tuning.study import StudyHandle

__all__ = ["Line", "run_trial", "validation_score"]

WATCH_SECONDS = 15  # how often a running trial looks again where its line is (a new best trial moves it)


def validation_score(summary: dict, role: str = "student") -> float:
    """The mean validation metric of ``role`` in a :func:`run_distillation` summary (the task's metric)."""
    return summary[role][f"val_{metric_key(summary['metric'])}_mean"]


Line = Callable[[], tuple[float, str]]  # when a running trial must have ended (time.monotonic()), and why


def run_trial(study: optuna.Study, trial: optuna.Trial, handle: StudyHandle, space: SearchSpace,
              base: DistillConfig, data: Data | None, teacher_dir: Path, selection_runs: int,
              line: Line | None = None) -> FrozenTrial:
    """Run ``trial`` (drawn from ``study``) on ``selection_runs`` seeds from ``base.seed`` and tell the study how
    it went; the finished trial is returned. ``line()``: when the trial must have ended (``time.monotonic()``) and
    why, looked at again while it runs, as the study's best trials change; a seed still running then is stopped
    there and the trial pruned. An error other than a refusal fails the trial and is raised."""
    seen = []
    with handle.heartbeat(trial), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with _stopped_at(line):
                state, value = _run(trial, space, base, data, teacher_dir, selection_runs, line)
        except _OutOfTime:
            seeds = len(trial.user_attrs.get("val", []))
            trial.set_user_attr("note", f"stopped in seed {seeds + 1} of {selection_runs}: {line()[1]}")
            state, value = TrialState.PRUNED, None
        except GraphkdError as exc:  # an invalid combination, or a run the pipeline refuses
            trial.set_user_attr("note", f"refused: {' '.join(str(exc).split())[:300]}")
            state, value = TrialState.PRUNED, None
        except BaseException as exc:  # a bug or an interrupt: recorded as failed, then raised
            trial.set_user_attr("note", f"failed: {one_line(exc)}")
            study.tell(trial, state=TrialState.FAIL)
            raise
        finally:
            seen = list(dict.fromkeys(one_line(w.message, 200) for w in caught))
    if seen:
        trial.set_user_attr("warnings", seen[:3])
    return study.tell(trial, value, state=state) if state == TrialState.COMPLETE else study.tell(trial, state=state)


class _OutOfTime(BaseException):
    """Raised in a trial's seed at its line; a ``BaseException``, so that no ``except Exception`` holds it."""


@contextlib.contextmanager
def _stopped_at(line: Line | None):
    """Raise :class:`_OutOfTime` in this thread at ``line()`` (its time), by SIGALRM, the timer set
    again every :data:`WATCH_SECONDS` by a thread that asks ``line()`` anew: the final runs start on time even when
    a seed takes longer than the budget has left. Off the main thread, or where there is no such signal, the trial
    ends after the seed it is on instead."""
    if line is None or threading.current_thread() is not threading.main_thread() or \
            not hasattr(signal, "setitimer"):
        yield
        return

    def stop(signum, frame):
        raise _OutOfTime

    def arm():
        signal.setitimer(signal.ITIMER_REAL, max(line()[0] - time.monotonic(), 1e-3))

    def watch():
        while not done.wait(WATCH_SECONDS):
            with contextlib.suppress(Exception):  # a busy database: the next look
                arm()

    previous = signal.signal(signal.SIGALRM, stop)
    done = threading.Event()
    watcher = threading.Thread(target=watch, daemon=True)
    arm()
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run(trial: optuna.Trial, space: SearchSpace, base: DistillConfig, data: Data | None, teacher_dir: Path,
         selection_runs: int, line: Line | None) -> tuple[TrialState, float | None]:
    flat, drawn = space.draw(trial, base)
    trial.set_user_attr("settings", drawn)
    scores, seconds, teacher_seconds = [], [], []
    for step, seed in enumerate(range(base.seed, base.seed + selection_runs)):
        start = time.perf_counter()
        cfg = DistillConfig(**{**flat, "runs": 1, "seed": seed})  # an invalid combination is refused here
        summary = run_distillation(cfg, data, out=None, teacher_dir=teacher_dir, progress=False)
        seconds.append(time.perf_counter() - start)
        teacher_seconds.append(summary["per_seed"][0].get("teacher_seconds", seconds[-1]))
        scores.append(validation_score(summary))
        trial.set_user_attr("seed_seconds", seconds)
        trial.set_user_attr("teacher_seconds", teacher_seconds)
        trial.set_user_attr("val", scores)
        if step == 0:  # the teacher's keys hold no seed: what the final seeds look for in the teacher folder
            trial.set_user_attr("teacher_val", validation_score(summary, "teacher"))
            trial.set_user_attr("teacher_key", cfg.teacher_key())
            trial.set_user_attr("teacher_training", cfg.training_key())
        trial.report(statistics.fmean(scores), step)
        if step < selection_runs - 1 and trial.should_prune():
            trial.set_user_attr("note", f"pruned after {step + 1} of {selection_runs} seeds")
            return TrialState.PRUNED, None
        if step < selection_runs - 1 and line is not None and time.monotonic() > (stop := line())[0]:
            trial.set_user_attr("note", f"stopped after {step + 1} of {selection_runs} seeds: {stop[1]}")
            return TrialState.PRUNED, None
    return TrialState.COMPLETE, statistics.fmean(scores)
