"""graphkd tune in separate processes: two sharing one SQLite study, and one killed with SIGKILL, then resumed."""
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

optuna = pytest.importorskip("optuna")

from optuna.trial import TrialState  # noqa: E402

from graphkd.tuning.study import StudyHandle, default_storage  # noqa: E402

BASE = """[data]
dataset = "CSBM"

[teacher]
architecture = "gcn"

[teacher.training]
epochs = 3
patience = 3

[student]
hidden_channels = 16

[student.training]
epochs = 3
patience = 3
"""
SPACE = """defaults = false

[teacher]
architecture = ["gcn", "sage"]

[objective]
temperature = {low = 0.5, high = 4.0, log = true}
alpha = {low = 0.0, high = 0.5}
"""


def command(tmp_path, trials: int, *extra: str) -> list[str]:
    (tmp_path / "base.toml").write_text(BASE)
    (tmp_path / "space.toml").write_text(SPACE)
    return [sys.executable, "-m", "graphkd.cli", "tune", "--config", str(tmp_path / "base.toml"), "--space",
            str(tmp_path / "space.toml"), "--trials", str(trials), "--out", str(tmp_path / "tune"), "--final-runs",
            "1", "--finalists", "1", "--quiet", *extra]


def environment() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def trials_of(tmp_path):
    """The study's trials, read as graphkd's processes open it: under its lock. A reader that opens the database
    bare creates its tables if they are missing, and one that does so while the search creates them makes the
    search fail (sqlite3.IntegrityError on alembic_version)."""
    out = tmp_path / "tune"
    return StudyHandle(default_storage(out), "graphkd", out / "study.db.lock").load().trials


def test_two_processes_share_one_study_without_losing_or_repeating_a_trial(tmp_path):
    runs = [subprocess.Popen(command(tmp_path, 8), env=environment(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    trials = trials_of(tmp_path)
    assert [t.number for t in trials] == list(range(8))  # each number once
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)  # none lost, none beyond 8
    processes = Counter(t.user_attrs["process"] for t in trials)
    assert sum(processes.values()) == 8 and len(processes) <= 2
    assert all("chosen: trial" in output for output in outputs)


def test_a_killed_search_resumes_from_its_stored_trials(tmp_path):
    log = tmp_path / "first.log"  # what the killed process said, for a failure's message
    with log.open("w") as said:
        run = subprocess.Popen(command(tmp_path, 50), env=environment(), stdout=said, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # kill it once 2 trials are stored and the next one runs
        time.sleep(0.5)
        if not (tmp_path / "tune" / "study.db").exists():
            continue
        try:
            trials = trials_of(tmp_path)
        except Exception:  # noqa: BLE001 - the database is being made, or the study is not in it yet
            continue
        if sum(t.state == TrialState.COMPLETE for t in trials) >= 2 and trials[-1].state == TrialState.RUNNING:
            break
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    before = trials_of(tmp_path)
    done = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in before)
    assert done >= 2, f"{[t.state.name for t in before]}; the process said: {log.read_text()[-2000:]}"
    budget = done + 2
    again = subprocess.run(command(tmp_path, budget), env=environment(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    after = trials_of(tmp_path)
    assert [(t.number, t.params) for t in after[:done]] == [(t.number, t.params) for t in before[:done]]
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in after) == budget
    killed = [t for t in after if t.state == TrialState.FAIL]
    assert len(killed) <= 1 and all("ended first" in t.user_attrs["note"] for t in killed)
    assert (tmp_path / "tune" / "best.toml").is_file() and "chosen: trial" in again.stdout
