"""The study: Optuna's record of every trial, in a database that a killed search resumes from and that several
processes share.

The default database is SQLite, a file in the output folder (``sqlite:////abs/out/study.db``): processes on one
machine share it, and the lock file beside it lets them draw trials one at a time, so a budget of N trials ends
with N, none lost or run twice. Several machines share a PostgreSQL or MySQL study
(``postgresql://user:password@host/db``, ``mysql+pymysql://...``; the driver installed beside Optuna).

A study records what it searches (dataset, split, task, metric, the graph's fingerprint, the fixed settings of
the base run and the space's choices) and refuses to go on with anything else, so trials of two graphs never
mix and nothing of an earlier study is deleted. A trial whose process died is marked failed (at once where it ran
on this machine, else when its heartbeat is :data:`GRACE_SECONDS` old) and does not count towards the budget.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import socket
import threading
import warnings
from pathlib import Path

import optuna
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from graphkd.errors import GraphkdError
from graphkd.io import one_line
from graphkd.tuning.budget import STUDY_FILE

__all__ = ["FINISHED", "GRACE_SECONDS", "HEARTBEAT_SECONDS", "StudyHandle", "counts",
           "default_storage", "local_processes", "process_id"]

# A running trial records a heartbeat this often; one silent for GRACE_SECONDS is failed by the next process
# that looks (a killed process on another machine; on this one its trials are failed as soon as it is gone).
HEARTBEAT_SECONDS, GRACE_SECONDS = 30, 120
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # what a trial budget counts
IDENTITY = ("dataset", "split", "task", "metric")


def default_storage(out: Path) -> str:
    """The SQLite database in the output folder."""
    return f"sqlite:///{(Path(out) / STUDY_FILE).resolve()}"


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (Linux: clock ticks since boot), or ``None`` where that cannot be read; a
    zombie counts as gone. With the pid it names a process uniquely: a pid can be reused, a start time not."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]


def process_id(pid: int | None = None) -> str:
    """This process (or ``pid``) as ``host:pid:start``: recorded with each trial it runs."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def _local(process: str | None) -> tuple[str, str] | None:
    """The pid and start time of ``process`` (a :func:`process_id`) where it names a process of this machine."""
    if not isinstance(process, str) or process.count(":") < 2:
        return None
    host, pid, start = process.rsplit(":", 2)
    return (pid, start) if host == socket.gethostname() and pid.isdigit() else None


def _gone(process: str | None) -> bool:
    """Whether ``process`` (a :func:`process_id`) ran on this machine and has ended."""
    if (local := _local(process)) is None:
        return False
    pid, start = local
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    return _start_time(int(pid)) != start if start != "None" else False


class StudyHandle:
    """One study in its storage: opened (created on first use) and checked against what this search is."""

    def __init__(self, url: str, name: str, lock: Path):
        self.url, self.name, self.lock_path = url, name, lock
        engine = {"connect_args": {"timeout": 300}} if url.startswith("sqlite") else {}
        try:
            with self.lock(), warnings.catch_warnings():  # two processes creating the tables at once would collide
                warnings.simplefilter("ignore", ExperimentalWarning)  # the heartbeat's arguments
                self.storage = optuna.storages.RDBStorage(url, engine_kwargs=engine,
                                                          heartbeat_interval=HEARTBEAT_SECONDS,
                                                          grace_period=GRACE_SECONDS)
        except (ImportError, ValueError, RuntimeError) as exc:
            raise GraphkdError(f"cannot open the study database {url}: {one_line(exc)}") from None
        except Exception as exc:  # SQLAlchemy's OperationalError and kin: a server down, a wrong password
            if type(exc).__module__.startswith("sqlalchemy"):
                raise GraphkdError(f"cannot open the study database {url}: {one_line(exc)}") from None
            raise

    @contextlib.contextmanager
    def lock(self):
        """Exclusive among processes on this machine: held while a trial is drawn, so budgets are exact."""
        with open(self.lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def open(self, attrs: dict, first: list[dict] = (), sampler=None, pruner=None) -> optuna.Study:
        """The study, created with ``attrs`` (what it searches) and its ``first`` trials queued (Optuna
        parameters), or loaded and checked against them: a study of another dataset, split, task, metric, graph,
        base run or space choices is refused, and left as it is."""
        with self.lock():
            study = optuna.create_study(storage=self.storage, study_name=self.name, direction="maximize",
                                        load_if_exists=True, sampler=sampler, pruner=pruner)
            recorded = study.user_attrs
            if not recorded:
                for key, value in attrs.items():
                    study.set_user_attr(key, value)
                for params in first:
                    study.enqueue_trial(params)
                return study
        self._check(recorded, attrs)
        return study

    def load(self, sampler=None, pruner=None) -> optuna.Study:
        return optuna.load_study(study_name=self.name, storage=self.storage, sampler=sampler, pruner=pruner)

    def _check(self, recorded: dict, attrs: dict) -> None:
        where = f"study {self.name!r} in {self.url}"
        keep = "; the study is kept as it is: give another --out, --storage or --study-name for a new one"
        if any(recorded.get(key) != attrs[key] for key in IDENTITY):
            raise GraphkdError(f"{where} searches {_what(recorded)}, not {_what(attrs)}{keep}")
        if recorded.get("graph") != attrs["graph"]:
            raise GraphkdError(f"{where} searches another graph or split named {attrs['dataset']} (its fingerprint "
                               f"{recorded.get('graph')} is not {attrs['graph']}){keep}")
        base, now = recorded.get("base", {}), attrs["base"]
        # settings fixed both then and now (one the space varied then may be fixed now: a narrower search)
        changed = sorted(k for k in set(base) & set(now) if base[k] != now[k])
        if changed:
            said = ", ".join(f"{k}={base[k]!r} (now {now[k]!r})" for k in changed[:4])
            raise GraphkdError(f"{where} ran its trials with other fixed settings: {said}{keep}")
        old, new = recorded.get("space", {}), attrs["space"]
        for name in sorted(set(old) & set(new)):
            if _kind(old[name]) != _kind(new[name]):
                raise GraphkdError(f"{where} drew {name} from {old[name]}; Optuna keeps a study's choices and "
                                   f"scales, so it cannot draw from {new[name]}{keep}")

    def sweep(self, study: optuna.Study) -> None:
        """Fail the running trials whose process is gone: this machine's at once, others' by their heartbeat."""
        study_id = self.storage.get_study_id_from_name(self.name)
        now = datetime.datetime.now()
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            process = trial.user_attrs.get("process")
            if process is None and (now - trial.datetime_start).total_seconds() > GRACE_SECONDS:
                note = "no process recorded it (one killed as it drew the trial)"
            elif _gone(process):
                note = f"its process ({process}) ended first"
            else:
                continue
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            with contextlib.suppress(UpdateFinishedTrialError):
                self.storage.set_trial_user_attr(trial_id, "note", note)
                self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)

    @contextlib.contextmanager
    def heartbeat(self, trial: optuna.Trial):
        """Record ``trial``'s heartbeat every :data:`HEARTBEAT_SECONDS` while the block runs."""
        stop = threading.Event()
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(
            self.storage.get_study_id_from_name(self.name), trial.number)

        def beat():
            while True:
                with contextlib.suppress(Exception):  # a busy database: the next beat
                    self.storage.record_heartbeat(trial_id)
                if stop.wait(HEARTBEAT_SECONDS):
                    return

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def _what(attrs: dict) -> str:
    return f"{attrs.get('dataset')} ({attrs.get('split')} split; {attrs.get('task')}, {attrs.get('metric')})"


def _kind(spec) -> tuple:
    """What Optuna requires to stay the same for one option in one study: a list's choices (of more than one;
    one choice is not drawn), a range's integer-ness and scale."""
    if isinstance(spec, list):
        return ("choice", tuple(spec)) if len(spec) > 1 else ("fixed",)
    is_int = all(isinstance(spec.get(k), int) for k in ("low", "high")) and isinstance(spec.get("step", 1), int)
    return ("range", is_int, bool(spec.get("log")))


def counts(study: optuna.Study) -> tuple[int, int, list[FrozenTrial]]:
    """Finished (complete or pruned) and running trials, and the complete ones."""
    trials = study.get_trials(deepcopy=False)
    finished = sum(t.state in FINISHED for t in trials)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    return finished, running, [t for t in trials if t.state == TrialState.COMPLETE]


def local_processes(study: optuna.Study) -> int:
    """Processes of this machine working on ``study`` now, this one included: those that drew a trial and are
    alive. They share the output folder, so they share the final runs' seeds."""
    alive = {p for t in study.get_trials(deepcopy=False)
             if _local(p := t.user_attrs.get("process")) is not None and not _gone(p)}
    return len(alive | {process_id()})
