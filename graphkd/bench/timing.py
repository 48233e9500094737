"""Timing primitives for serving GNN teachers and MLP students on CPU (the benchmark is graphkd.bench.latency).

Online (one node at a time): the GNN must fetch the node's L-hop neighbourhood from the full graph
(graphkd.serve.per_node), gather the features and run the forward; the MLP only runs the node's own
features through (eager torch, the exported Predictor, and a bare NumPy forward of the same weights as the
floor). A node that arrives after training is served by graphkd.serve.arrivals. Batched: nodes per second
for batch sizes (never above the graph's size) and for the whole graph. We report p50/p95/p99 after a
warm-up.

Two ways to time the online paths over the same nodes: :func:`time_online` runs one path over all the
nodes back to back (warm: the path's weights and the graph regions it touches stay in cache), and
:func:`time_alternating` runs every path on one node before moving to the next (cold: each call finds
the caches filled by the other paths, as a server answering mixed requests does). The two can differ
several-fold for the cheap paths, so both are reported.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Hashable, Sequence

import numpy as np
import torch
from torch import Tensor

from graphkd.errors import GraphkdError
from graphkd.report import environment

__all__ = ["batch_sizes", "hardware", "percentiles", "throughput", "time_alternating", "time_online"]


def percentiles(seconds: Sequence[float]) -> dict:
    """p50 / p95 / p99 / mean of call times, in milliseconds."""
    if not len(seconds):
        raise GraphkdError("no timings to summarise")
    ms = np.asarray(seconds) * 1e3
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99), "mean_ms": float(ms.mean()),
            "n": len(ms)}


def time_online(fn: Callable, inputs: Sequence, warmup: int = 5) -> dict:
    """Time ``fn(item)`` once per item after ``warmup`` untimed calls; percentiles of the call times."""
    for i in range(warmup):
        fn(inputs[i % len(inputs)])
    times = []
    for item in inputs:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return percentiles(times)


def time_alternating(cases: dict[Hashable, tuple[Callable, Sequence]], warmup: int = 5) -> dict:
    """Time every case on item ``i`` before any case on item ``i + 1``; ``cases`` maps a key to ``(fn,
    inputs)``, all ``inputs`` of one length. The order of the cases rotates by one per item, so no case
    always follows the same one. ``warmup`` untimed rounds first (one-off set-up, not cache state)."""
    keys = list(cases)
    lengths = {len(inputs) for _, inputs in cases.values()}
    if len(lengths) != 1 or not min(lengths):
        raise GraphkdError(f"alternating timing needs one non-empty input list per case, of one length; got {lengths}")
    (length,) = lengths
    for i in range(warmup):
        for key in keys:
            fn, inputs = cases[key]
            fn(inputs[i % length])
    times = {key: [] for key in keys}
    for i in range(length):
        for key in keys[i % len(keys):] + keys[:i % len(keys)]:
            fn, inputs = cases[key]
            start = time.perf_counter()
            fn(inputs[i])
            times[key].append(time.perf_counter() - start)
    return {key: percentiles(t) for key, t in times.items()}


def batch_sizes(requested: Sequence[int], num_nodes: int) -> list[int]:
    """The batch sizes to time on a graph of ``num_nodes``: each requested size capped at the graph's
    size, duplicates dropped, ascending (a batch cannot hold more distinct nodes than the graph has)."""
    if not requested or min(requested) < 1:
        raise GraphkdError(f"batch sizes must be >= 1, got {list(requested)}")
    return sorted({min(int(b), num_nodes) for b in requested})


def throughput(fn: Callable[[Tensor], object], num_nodes: int, batch_size: int, repeats: int = 5,
               seed: int = 0) -> float:
    """Nodes per second of ``fn(batch of node ids)``: median over ``repeats`` random batches of distinct
    nodes, after one warm-up call."""
    if not 1 <= batch_size <= num_nodes:
        raise GraphkdError(f"batch size {batch_size} must lie in [1, {num_nodes}] (the graph's nodes)")
    gen = torch.Generator().manual_seed(seed)
    batches = [torch.randperm(num_nodes, generator=gen)[:batch_size] for _ in range(repeats + 1)]
    fn(batches[0])
    times = []
    for batch in batches[1:]:
        start = time.perf_counter()
        fn(batch)
        times.append(time.perf_counter() - start)
    return batch_size / float(np.median(times))


def hardware() -> dict:
    """graphkd.report.environment() plus the thread settings of the BLAS libraries, which NumPy uses."""
    env = environment()
    env["thread_env"] = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                         "OPENBLAS_NUM_THREADS") if os.environ.get(k)}
    env["torch_interop_threads"] = torch.get_num_interop_threads()
    return env
