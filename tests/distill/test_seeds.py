"""Seeds run one after another or in spawned worker processes: the same records either way."""
import fcntl
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from graphkd.distill import DistillConfig, run_distillation
from graphkd.distill.seeds import PARALLEL_SEEDS_MAX_NODES, default_workers, map_seeds, worker_threads
from graphkd.errors import GraphkdError

FAST = {"epochs": 60, "patience": 20}


def test_map_seeds_gives_every_seed_its_own_result_in_workers():
    work = functools.partial(pow, 3)  # picklable, so it can run in a spawned process
    assert list(map_seeds(work, [0, 1, 2])) == [(0, 1), (1, 3), (2, 9)]
    assert sorted(map_seeds(work, [4, 5, 6], workers=2)) == [(4, 81), (5, 243), (6, 729)]


def test_map_seeds_raises_a_workers_error():
    with pytest.raises(ZeroDivisionError):
        list(map_seeds(functools.partial(divmod, 1), [1, 0, 2], workers=2))


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a dead process that no one has reaped yet is a zombie: state Z)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers end with their parent on Linux")
def test_workers_end_when_their_parent_is_killed():
    code = ("import functools, time\nfrom graphkd.distill.seeds import map_seeds\n"
            "list(map_seeds(functools.partial(time.sleep), [120, 120], workers=2))")
    parent = subprocess.Popen([sys.executable, "-c", code])
    children_file = Path(f"/proc/{parent.pid}/task/{parent.pid}/children")
    deadline = time.monotonic() + 60
    children = []
    while time.monotonic() < deadline and len(children) < 3:  # two workers and multiprocessing's resource tracker
        children = [int(pid) for pid in children_file.read_text().split()]
        time.sleep(0.2)
    assert len(children) >= 3
    time.sleep(5)  # the workers start (import torch) and ask to end with their parent
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(map(_alive, children)):
        time.sleep(0.2)
    assert not any(map(_alive, children))


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_map_seeds_refuses_a_bad_worker_count(workers):
    with pytest.raises(GraphkdError, match="workers must be an integer >= 1"):
        list(map_seeds(abs, [0], workers))


def test_default_workers_run_small_graphs_one_seed_per_thread(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    assert default_workers(10, 2708) == 4
    assert default_workers(3, 2708) == 3
    assert default_workers(10, PARALLEL_SEEDS_MAX_NODES + 1) == 1
    assert worker_threads(4) == 1 and worker_threads(2) == 2 and worker_threads(8) == 1


def test_workers_give_the_records_one_process_of_their_thread_count_gives(tmp_path):
    cfg = DistillConfig(runs=3, teacher="sage", **FAST)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # as on a 2-core machine: each of 2 workers gets 1 thread
    try:
        parallel = run_distillation(cfg, out=tmp_path / "parallel", progress=False, workers=2)
        # Each worker wrote its seed's record: a rerun reads them all back and trains nothing.
        again = run_distillation(cfg, out=tmp_path / "parallel", progress=False, workers=2)
        # A seed another process held, and left unfinished, runs alone afterwards: in a worker too, at the
        # workers' thread count.
        (tmp_path / "parallel" / "runs" / "seed2.json").unlink()
        lock = open(tmp_path / "parallel" / "runs" / "seed2.lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        threading.Timer(10.0, lock.close).start()  # after the first pass has found it held
        resumed = run_distillation(cfg, out=tmp_path / "parallel", progress=False, workers=2)
        torch.set_num_threads(worker_threads(2))
        alone = run_distillation(cfg, out=tmp_path / "alone", progress=False)
    finally:
        torch.set_num_threads(threads)

    def content(record):
        return {key: value for key, value in record.items() if key not in ("seconds", "teacher_seconds", "record_hash")}

    assert [r["seed"] for r in parallel["per_seed"]] == [0, 1, 2]
    assert [content(r) for r in parallel["per_seed"]] == [content(r) for r in alone["per_seed"]]
    assert parallel["threads"] == [1]
    assert again["per_seed"] == parallel["per_seed"]
    assert content(resumed["per_seed"][2]) == content(parallel["per_seed"][2])


def test_workers_are_refused_under_torchrun(monkeypatch):
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    with pytest.raises(GraphkdError, match="under torchrun"):
        run_distillation(DistillConfig(runs=2, **FAST), progress=False, workers=2)
