"""Benchmarks that measure graphkd's claims on this machine; of the package, only the command line imports them.

Modules: ``latency`` (``graphkd bench latency``: train, time, write the report), ``latency_config`` (its
options), ``latency_models`` (the models and their per-node serving paths), ``latency_report`` (speed-ups,
table, plot) and ``timing`` (warm and cold per-node timing, throughput, the machine's description).
"""
from graphkd.bench.latency import run
from graphkd.bench.latency_config import LatencyConfig

__all__ = ["LatencyConfig", "run"]
