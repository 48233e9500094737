"""How long ``graphkd tune`` searches: a number of trials, a wall time, or both (whichever ends first).

The defaults of the command live here, where ``graphkd tune --help`` and :func:`graphkd.tune` read them.
"""
from __future__ import annotations

import math
import numbers
import re
import time as clock_time
from dataclasses import dataclass
from pathlib import Path

from graphkd.distill.teacher_cache import members_file, soft_targets_file
from graphkd.errors import GraphkdError

__all__ = ["DEFAULT_TRIALS", "FINALISTS", "FINAL_RUNS", "FIT_SLACK_SECONDS", "MEMBERS", "SELECTION_RUNS",
           "SOFT_TARGETS", "STUDY_FILE", "STUDY_NAME", "Budget", "clock", "final_estimates", "final_run_seconds",
           "first_fitting", "parse_duration", "teacher_folder_holds", "training_seconds"]

# Without a budget a search runs this many trials: enough for the sampler's first 10 random ones and 10 it aims.
DEFAULT_TRIALS = 20
# Seeds per trial (the cheap fidelity: the knowledge table selected on 5 over days; 2 keeps a trial cheap), the
# seeds of the final result (the knowledge table's 10), and how many of the best trials run them.
SELECTION_RUNS, FINAL_RUNS, FINALISTS = 2, 10, 3
STUDY_NAME = "graphkd"
STUDY_FILE = "study.db"  # the default SQLite database, in the output folder
# A trial stopped at its line hands over seconds past it: the final runs the line was kept for still fit then.
# Without it, on Photo the loop found those runs seconds too long, kept time for a cheaper trial's and drew another.
FIT_SLACK_SECONDS = 60.0
UNITS = {"s": 1, "m": 60, "h": 3600}
DURATION = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)[smh]")


def parse_duration(value: str | float) -> float:
    """Seconds of a wall time: ``"90s"``, ``"45m"``, ``"1.5h"``, ``"1h30m"``, or a number of seconds. Zero, a
    negative time or anything else is refused naming it."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (text := value.strip().lower()) and \
            re.fullmatch(f"(?:{DURATION.pattern})+", text):
        seconds = sum(float(part[:-1]) * UNITS[part[-1]] for part in DURATION.findall(text))
    else:
        raise GraphkdError(f"time budget {value!r} is not a duration: give a number with a unit, e.g. 90s, 45m, "
                           "1.5h or 1h30m")
    if not (math.isfinite(seconds) and seconds > 0):
        raise GraphkdError(f"time budget {value!r} must be more than 0 seconds")
    return seconds


@dataclass(frozen=True)
class Budget:
    """``trials``: finished trials the study should hold, earlier runs' included (a resumed search runs the
    rest); ``seconds``: this call's wall time, the final runs included (trials stop when what is left is what the
    final runs of the best trial whose final runs fit are estimated to need, a running one in its seed; the other
    finalists run only where theirs fit). Neither given: :data:`DEFAULT_TRIALS` trials."""

    trials: int | None = None
    seconds: float | None = None

    def __post_init__(self):
        if self.trials is not None and (isinstance(self.trials, bool) or not isinstance(self.trials, numbers.Integral)
                                        or self.trials < 1):
            raise GraphkdError(f"trial budget must be a whole number of trials, at least 1, got {self.trials!r}")
        if self.seconds is not None:
            object.__setattr__(self, "seconds", parse_duration(self.seconds))

    @classmethod
    def of(cls, trials: int | None = None, time: str | float | None = None) -> Budget:
        """The budget of ``trials`` and a wall ``time`` (``"45m"`` or seconds); neither: the default."""
        if trials is None and time is None:
            return cls(DEFAULT_TRIALS)
        return cls(trials, time)

    def left(self, start: float) -> float | None:
        """Seconds of the wall time left for a call that started at ``start`` (``time.monotonic()``); ``None``
        without a time budget."""
        return None if self.seconds is None else start + self.seconds - clock_time.monotonic()

    def describe(self) -> str:
        parts = [f"{self.trials} trials"] if self.trials is not None else []
        if self.seconds is not None:
            parts.append(f"{clock(self.seconds)} wall time")
        return " or ".join(parts)


def clock(seconds: float) -> str:
    """``seconds`` as ``12m05s`` or ``1h02m``: for progress lines."""
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s"


def training_seconds(trials) -> dict[str, float]:
    """The longest a seed of any of ``trials`` spent on its teacher, by the teacher's training key (the trial's
    ``teacher_training``). A trial whose selection seeds found their teachers trained by an earlier trial recorded
    them as nearly free, but its other final seeds train them again: on Tolokers a final seed took 180 s where
    its selection seeds took 22 and 34, and the search overran its 45 minutes by 25."""
    slowest: dict[str, float] = {}
    for trial in trials:
        key = trial.user_attrs.get("teacher_training")
        if key is not None:
            slowest[key] = max(slowest.get(key, 0.0), *trial.user_attrs.get("teacher_seconds", [0.0]))
    return slowest


SOFT_TARGETS, MEMBERS = "soft targets", "trained members"  # what the teacher folder can hold for a final seed


def teacher_folder_holds(trial, teacher_dir: Path | None, first_seed: int, final_runs: int) -> list[str | None]:
    """What ``teacher_dir`` holds for the teacher of each of a finished trial's final seeds (``first_seed`` on):
    :data:`SOFT_TARGETS`, else :data:`MEMBERS`, else ``None``. Its selection seeds made their soft targets there;
    the other seeds' may be there too, made by other trials or put there before the search (on Tolokers, the
    defaults' GAT for all 10 seeds)."""
    ran = len(trial.user_attrs.get("seed_seconds", [0.0]))
    targets, training = trial.user_attrs.get("teacher_key"), trial.user_attrs.get("teacher_training")

    def holds(seed: int) -> str | None:
        if seed < first_seed + ran or (teacher_dir is not None and targets is not None
                                       and soft_targets_file(teacher_dir, targets, seed).is_file()):
            return SOFT_TARGETS
        if teacher_dir is not None and training is not None and members_file(teacher_dir, training, seed).is_file():
            return MEMBERS
        return None

    return [holds(seed) for seed in range(first_seed, first_seed + final_runs)]


def final_run_seconds(trial, held: list[str | None], processes: int = 1,
                      trained: dict[str, float] | None = None) -> float:
    """A finished trial's final runs, estimated from its selection seeds, one final seed for each of ``held``
    (:func:`teacher_folder_holds`): each costs the trial's slowest student, and its teacher what the folder leaves
    to do: nothing where its soft targets are there; where its trained members are, making the soft targets from
    them, counted as the trial's quickest teacher seed; else the training, the slowest the study has seen train
    that teacher (``trained``: :func:`training_seconds`). ``processes`` on this machine share the final seeds."""
    seeds = trial.user_attrs.get("seed_seconds", [0.0])
    teachers = trial.user_attrs.get("teacher_seconds", [0.0] * len(seeds))
    students = max(seed - teacher for seed, teacher in zip(seeds, teachers, strict=True))
    training = max([*teachers, (trained or {}).get(trial.user_attrs.get("teacher_training"), 0.0)])
    teacher = {SOFT_TARGETS: 0.0, MEMBERS: min(teachers), None: training}
    return sum(students + teacher[state] for state in held) / processes


def final_estimates(ranked, trials, final_runs: int, processes: int, teacher_dir: Path | None,
                    first_seed: int) -> list[float]:
    """:func:`final_run_seconds` of each of ``ranked`` (finished trials), the teacher folder looked in for each
    final seed from ``first_seed`` and the teachers' training times read from all the study's ``trials``."""
    trained = training_seconds(trials)
    return [final_run_seconds(trial, teacher_folder_holds(trial, teacher_dir, first_seed, final_runs), processes,
                              trained) for trial in ranked]


def first_fitting(estimates: list[float], left: float | None) -> int:
    """Which final runs the time is kept for: the index of the first of ``estimates`` (seconds, best trial first)
    that fits the ``left`` of a time budget (``None``: there is none) within :data:`FIT_SLACK_SECONDS`, else 0, the
    best trial's. The trial loop and the choice of finalists both ask it, so they keep time for the same runs."""
    return next((i for i, needed in enumerate(estimates) if left is None or needed <= left + FIT_SLACK_SECONDS), 0)
