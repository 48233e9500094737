"""Serving: export of MLP students, the Predictor, latency timing and teacher compression baselines.

Nothing is imported here: ``graphkd.serve.predictor`` serves an exported student with NumPy alone
and must not pull in torch. Modules: ``export``, ``predictor``, ``latency`` (timing primitives),
``arrivals`` (serving a node that arrives after training), ``latency_models`` (the benchmark's models and
serving paths), ``latency_report`` (speed-ups, table, plot), ``latency_bench`` (``graphkd bench latency``),
``compress`` (int8, half width, pruning).
"""
__all__: list[str] = []
