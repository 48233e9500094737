"""Serving: export of MLP students, the Predictor, GNNs served node by node and teacher compression baselines.

Nothing is imported here: ``graphkd.serve.predictor`` serves an exported student with NumPy alone
and must not pull in torch. Modules: ``export``, ``predictor``, ``per_node`` (a GNN serving a node from its
fetched neighbourhood), ``arrivals`` (serving a node that arrives after training), ``compress`` (int8, half
width, pruning). The latency benchmark that times them is graphkd.bench.
"""
__all__: list[str] = []
