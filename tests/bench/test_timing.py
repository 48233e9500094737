"""graphkd.bench.timing: percentiles, warm and cold timing order, batch sizes and throughput."""
import pytest

from graphkd.bench.timing import batch_sizes, percentiles, throughput, time_alternating


def test_percentiles_golden():
    stats = percentiles([0.001 * k for k in range(1, 101)])
    assert stats["p50_ms"] == pytest.approx(50.5)
    assert stats["p95_ms"] == pytest.approx(95.05)
    assert stats["p99_ms"] == pytest.approx(99.01)
    assert stats["n"] == 100
    with pytest.raises(ValueError):
        percentiles([])


def _recorder(log, key):
    return lambda item: log.append((key, item))


def test_alternating_mode_runs_every_path_on_a_node_before_the_next():
    log = []
    cases = {k: (_recorder(log, k), [10, 11, 12, 13]) for k in "abc"}
    stats = time_alternating(cases, warmup=2)
    assert set(stats) == {"a", "b", "c"} and all(s["n"] == 4 for s in stats.values())
    warm_up, timed = log[:6], log[6:]
    assert warm_up == [("a", 10), ("b", 10), ("c", 10), ("a", 11), ("b", 11), ("c", 11)]
    for i, node in enumerate([10, 11, 12, 13]):  # every path on node i, the order rotated by one per node
        assert timed[3 * i:3 * i + 3] == [(k, node) for k in ("abc" * 2)[i % 3:i % 3 + 3]]


def test_alternating_mode_needs_inputs_of_one_length():
    with pytest.raises(ValueError, match="one length"):
        time_alternating({"a": (print, [1, 2]), "b": (print, [1])})
    with pytest.raises(ValueError, match="one length"):
        time_alternating({"a": (print, [])})


def test_batch_sizes_are_capped_at_the_graph_and_deduplicated():
    assert batch_sizes((1, 64, 1024, 4096), 2708) == [1, 64, 1024, 2708]
    assert batch_sizes((4096, 5000, 8), 100) == [8, 100]
    with pytest.raises(ValueError, match="batch sizes"):
        batch_sizes((0, 4), 10)
    seen = []
    assert throughput(lambda batch: seen.append(batch), 10, 10, repeats=2) > 0
    assert all(sorted(b.tolist()) == list(range(10)) for b in seen)  # distinct nodes, the whole graph
    with pytest.raises(ValueError, match=r"\[1, 10\]"):
        throughput(print, 10, 11)
