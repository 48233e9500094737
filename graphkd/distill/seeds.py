"""Running a run's seeds one after another, or several at once in worker processes.

On a small graph one seed is thousands of tiny matrix products, which gain little from a second
thread: on Cora, four GAT -> MLP seeds took 27.8 s on one process with 2 threads, and 15.1 s as two
processes of 1 thread, two seeds each. Workers are spawned, not forked (a forked child of a process
whose OpenMP pool has run can hang), and each holds its own copy of the graph.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import torch

from graphkd.errors import GraphkdError

__all__ = ["PARALLEL_SEEDS_MAX_NODES", "default_workers", "map_seeds", "worker_threads"]

# Graphs up to this many nodes run one seed per core by default; larger ones one at a time, since every
# worker holds its own copy of the graph and its own full-graph teacher.
PARALLEL_SEEDS_MAX_NODES = 200_000


def default_workers(runs: int, num_nodes: int) -> int:
    """One worker per thread of this process, at most ``runs``, on graphs of at most
    ``PARALLEL_SEEDS_MAX_NODES`` nodes; else 1."""
    return max(1, min(runs, torch.get_num_threads())) if num_nodes <= PARALLEL_SEEDS_MAX_NODES else 1


def worker_threads(workers: int) -> int:
    """Threads each of ``workers`` processes uses: this process's threads shared out, at least one."""
    return max(1, torch.get_num_threads() // workers)


def _start_worker(threads: int, parent: int) -> None:
    """Set a worker's threads and, on Linux, end it with its parent: a parent killed outright cannot cancel
    the seeds its workers are running, which would otherwise train on to the end for nothing."""
    torch.set_num_threads(threads)
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)


def map_seeds(work: Callable[[int], Any], seeds: Iterable[int], workers: int = 1) -> Iterator[tuple[int, Any]]:
    """Yield ``(seed, work(seed))`` for every seed: in order in this process when ``workers`` is 1, else in
    the order they finish in ``workers`` spawned processes of :func:`worker_threads` threads each (``work``
    and what it holds must then pickle: a module-level function, or a ``functools.partial`` of one). The
    first error raised by ``work`` is raised here, and seeds not yet started are cancelled."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise GraphkdError(f"workers must be an integer >= 1, got {workers!r}")
    seeds = list(seeds)
    # A single seed left (a resumed run) still goes to a worker: in this process it would run with every
    # thread, and so differ slightly from the seeds the workers ran.
    if workers == 1 or not seeds:
        for seed in seeds:
            yield seed, work(seed)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(seeds)), mp_context=context, initializer=_start_worker,
                             initargs=(worker_threads(workers), os.getpid())) as pool:
        pending = {pool.submit(work, seed): seed for seed in seeds}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    seed = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool as exc:
                        raise GraphkdError(f"a worker process died while running seed {seed} (out of memory?): "
                                           "run with fewer workers") from exc
                    yield seed, result
        finally:  # an error, or the caller stopped early: start nothing more
            pool.shutdown(wait=True, cancel_futures=True)
