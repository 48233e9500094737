"""The trial loop of one process: draw a trial while the budget allows, else wait for other processes' running
trials (one may fail and free its place), then end. Trials are drawn under the study's lock, so processes sharing
a study never overshoot a trial budget."""
from __future__ import annotations

import functools
import statistics
import time as clock_time
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState
from torch_geometric.data import Data
from tqdm.auto import tqdm

from graphkd.distill import DistillConfig
from graphkd.tuning.budget import FIT_SLACK_SECONDS, Budget, clock, final_estimates, first_fitting
from graphkd.tuning.space import SearchSpace
from graphkd.tuning.study import StudyHandle, counts, local_processes, process_id
from graphkd.tuning.trial import run_trial

__all__ = ["SearchLoop"]

WAIT_SECONDS = 5  # how often a process with nothing to draw looks whether other processes' trials ended


class SearchLoop:
    """The trial loop of one process: draw a trial while the budget allows, else wait for other processes'
    running trials (one may fail and free its place) and end."""

    def __init__(self, handle: StudyHandle, space: SearchSpace, base: DistillConfig, data: Data | None,
                 teacher_dir: Path, budget: Budget, start: float, seed: int, selection_runs: int, final_runs: int,
                 progress: bool, metric: str):
        self.handle, self.space, self.base, self.data, self.teacher_dir = handle, space, base, data, teacher_dir
        self.budget, self.start, self.seed, self.selection_runs = budget, start, seed, selection_runs
        self.final_runs, self.progress, self.metric = final_runs, progress, metric
        self.bar = tqdm(total=budget.trials, desc="tune", unit="trial", disable=not progress)

    def run(self) -> None:
        try:
            while True:
                with self.handle.lock():
                    study = self.handle.load()
                    self.handle.sweep(study)
                    finished, running, complete = counts(study)
                    self._show(finished, complete)
                    keep = self._kept(study)
                    step = self._next(finished, running, complete, keep)
                    if step == "draw":
                        study = self.handle.load(self._sampler(len(study.trials)), self._pruner())
                        trial = study.ask()
                        trial.set_user_attr("process", process_id())
                if step == "end":
                    return
                if step == "wait":
                    clock_time.sleep(WAIT_SECONDS)
                    continue
                line = functools.partial(self._line, trial, clock_time.monotonic()) \
                    if self.budget.seconds is not None else None
                frozen = run_trial(study, trial, self.handle, self.space, self.base, self.data, self.teacher_dir,
                                   self.selection_runs, line)
                self._report(frozen)
        finally:
            self.bar.close()

    def _next(self, finished: int, running: int, complete: list[FrozenTrial], keep: float) -> str:
        """``draw`` a trial, ``wait`` for running ones, or ``end``; ``keep``: the seconds kept for final runs."""
        if (left := self.budget.left(self.start)) is not None:
            typical = statistics.median(t.duration.total_seconds() for t in complete) if complete else 0.0
            if typical + keep > left:
                return "wait" if running else "end"
        if self.budget.trials is not None:
            if finished >= self.budget.trials:
                return "wait" if running else "end"
            if finished + running >= self.budget.trials:
                return "wait"
        return "draw"

    def _line(self, trial: optuna.Trial, started: float) -> tuple[float, str]:
        """When ``trial``, started at ``started`` (``time.monotonic()``), must have ended, and why, as the study
        stands now: the wall time less the time kept for the final runs. Sooner where the final runs kept for fit:
        when the trial's own final seeds that are not selection seeds, each at least the mean of its seeds so far
        (its teacher trained again) and shared by this machine's processes, could no longer fit the wall time, for
        it could then never be a finalist (on Computers a GRAND trial ran 7.8 minutes to the line; this stops it
        after 3.5)."""
        study = self.handle.load()
        kept, complete = self._kept(study), counts(study)[2]
        end = self.start + self.budget.seconds
        line = (end - kept, "the time budget ran out")
        others = self.final_runs - self.selection_runs
        if complete and others > 0 and kept <= self.budget.left(self.start) + FIT_SLACK_SECONDS:
            # at time t its other final seeds take at least pace * (t - started): past the end from this time on
            pace = others / local_processes(study) / (len(trial.user_attrs.get("val", [])) + 1)
            hopeless = (end + FIT_SLACK_SECONDS + pace * started) / (1 + pace)
            if hopeless < line[0]:
                line = (hopeless, f"at its pace its {self.final_runs} final seeds would not fit the time budget")
        return line

    def _kept(self, study: optuna.Study) -> float:
        """:meth:`_final_seconds` as ``study`` stands: its complete trials, this machine's processes on it, and the
        teachers' training times its trials recorded."""
        return self._final_seconds(counts(study)[2], local_processes(study), study.get_trials(deepcopy=False))

    def _final_seconds(self, complete: list[FrozenTrial], processes: int = 1,
                       trials: list[FrozenTrial] | None = None) -> float:
        """The time kept for the final runs: those of the best trial whose final runs, estimated, fit the time left
        (with a time budget; ``processes`` share them), else the best trial's. Keeping every finalist's would let
        one slow trial near the top end the search early (on Cora a 10-minute trial stopped it after 6 trials of a
        45-minute budget), and keeping a trial's that cannot fit would end it at once; the finalists are chosen
        alike (``search._finalists``, by :func:`~graphkd.tuning.budget.first_fitting`). The estimates
        (:func:`~graphkd.tuning.budget.final_estimates`) read the teacher folder and the teachers' training times
        the study's ``trials`` recorded (default: ``complete``)."""
        ranked = sorted(complete, key=lambda t: -t.value)
        needed = final_estimates(ranked, complete if trials is None else trials, self.final_runs, processes,
                                 self.teacher_dir, self.base.seed)
        return needed[first_fitting(needed, self.budget.left(self.start))] if needed else 0.0

    def _sampler(self, drawn: int) -> optuna.samplers.BaseSampler:
        """TPE, seeded by the search's seed and the trials drawn so far: a resumed search draws anew, and processes
        sharing a study do not draw the same runs. Multivariate over groups of options drawn together, with a
        constant liar for the trials still running elsewhere."""
        return optuna.samplers.TPESampler(seed=(self.seed * 1_000_003 + drawn) % 2**32, multivariate=True,
                                          group=True, constant_liar=True)

    @staticmethod
    def _pruner() -> optuna.pruners.BasePruner:
        """A trial whose running mean after a seed is below the median of earlier trials' at that seed stops
        (once 5 trials have finished)."""
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)

    def _show(self, finished: int, complete: list[FrozenTrial]) -> None:
        self.bar.n = finished
        postfix = {}
        if complete:
            best = max(complete, key=lambda t: t.value)
            postfix["best"] = f"{best.value:.4f} (trial {best.number})"
        if (left := self.budget.left(self.start)) is not None:
            postfix["left"] = clock(left)
        self.bar.set_postfix(postfix, refresh=True)

    def _report(self, trial: FrozenTrial) -> None:
        if not self.progress:
            return
        value = trial.value if trial.state == TrialState.COMPLETE else None
        said = f"val {self.metric} {value:.4f}" if value is not None else trial.user_attrs.get("note", "")
        seconds = trial.duration.total_seconds() if trial.duration is not None else 0.0
        tqdm.write(f"trial {trial.number} {trial.state.name.lower()} in {seconds:.1f}s: {said} | "
                   + ", ".join(f"{k}={_short(v)}" for k, v in trial.user_attrs.get("settings", {}).items()))


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
