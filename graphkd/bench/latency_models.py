"""What the latency benchmark (graphkd.bench.latency) serves: the graph, the models trained on it, and
each model's per-node serving paths, for nodes of the graph and for nodes arriving after training.

Small graphs train full-batch; the OGB-sized synthetic graphs (``arxiv-scale``, ``products-scale``) train
their teachers on fan-out samples (graphkd.large.scale.train_sampled) for a few capped epochs, which the report
says: their timings do not depend on how well the weights are trained. Whole-graph passes there run layer
by layer over node chunks (graphkd.large.scale.layerwise_inference), as soft targets are computed at that scale.

Arrivals: a fraction of the test nodes is held out with its edges (graphkd.distill.settings.hold_out_arrivals)
and each is served into the observed rest as it arrives (graphkd.serve.arrivals). The models serving them
are the ones trained on the whole graph: retraining on the observed graph would change the weights, not
the work done per node, and timing is all this benchmark measures of them.

With ``teacher_device`` a GPU, every teacher is also served from it (its CPU rows stay): the same weights,
the graph and the fetch still on the CPU, each call moving the neighbourhood's features and edges to the GPU and
the logits back, as a GNN server would (graphkd.serve.per_node).
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphkd.bench.latency_config import LatencyConfig
from graphkd.device import graph_on, module_device, resolve_device
from graphkd.distill import TEACHER_DEFAULTS, DistillConfig, train_student
from graphkd.distill.pipeline import with_positions
from graphkd.distill.positions import NEW_NODE_RULE
from graphkd.distill.settings import hold_out_arrivals
from graphkd.distill.soft_targets import SoftTargets
from graphkd.inputs import model_inputs, sparse_adjacency
from graphkd.large.sampling import NeighborSampler
from graphkd.large.scale import layerwise_inference, train_sampled, wide_student_config
from graphkd.models import build_model, count_parameters
from graphkd.serve.arrivals import ArrivalGNN, arrivals_to_serve, student_arrival
from graphkd.serve.compress import PruneConfig, half_width_config, prune, quantize_int8
from graphkd.serve.export import fold_batch_norm
from graphkd.serve.per_node import PerNodeGNN
from graphkd.serve.predictor import Predictor
from graphkd.training import TrainConfig, cross_entropy_on, predict, train_full_batch

__all__ = ["LARGE_GRAPHS", "ArrivalSite", "Graph", "numpy_mlp", "serving_paths", "train_models"]

LARGE_GRAPHS = ("arxiv-scale", "products-scale")


class Graph:
    """A benchmark graph and how whole-graph logits are computed on it: small graphs in one pass, on
    model inputs (sparse features, CSR adjacency) built once per kind and kept, as a server keeps them;
    large ones layer by layer over node chunks (memory bounded by one layer)."""

    def __init__(self, data: Data, name: str):
        self.data, self.name, self.large = data, name, name in LARGE_GRAPHS
        self.sampler = NeighborSampler(data.edge_index, data.num_nodes, [-1])  # one CSR, shared by all fetches
        self._inputs, self.inputs_ms = {}, {}  # by kind: the inputs, and how long building them took

    def inputs(self, model: torch.nn.Module, positions: Tensor | None = None,
               dense: bool = False) -> tuple[Tensor, Tensor]:
        """``graphkd.inputs.model_inputs`` for ``model`` on the whole graph (``positions`` appended to the
        features of a student that takes them; ``dense``: features kept dense, for int8 layers, which take
        no sparse matrix), built on first use on the model's device; the build time goes to ``inputs_ms``."""
        device = module_device(model)
        spmm = getattr(model, "spmm_aggregation", False) and device.type == "cpu"
        if getattr(model, "kind", None) == "mlp":
            kind = "MLP features" + (" + positions" if positions is not None else "")
        else:
            kind = f"GNN {'dense ' if dense else ''}features + {'CSR adjacency' if spmm else 'edges'}"
        kind += f" on {device}" if device.type != "cpu" else ""
        if kind not in self._inputs:
            data = self.data if positions is None else Data(x=torch.cat([self.data.x, positions], dim=1),
                                                            edge_index=self.data.edge_index)
            data = graph_on(data, device)
            start = time.perf_counter()
            if dense:
                edges = data.edge_index
                self._inputs[kind] = data.x, sparse_adjacency(edges, data.num_nodes) if spmm else edges
            else:
                self._inputs[kind] = model_inputs(model, data)
            self.inputs_ms[kind] = 1e3 * (time.perf_counter() - start)
        return self._inputs[kind]

    @torch.inference_mode()
    def logits(self, model: torch.nn.Module, positions: Tensor | None = None, dense: bool = False) -> Tensor:
        if self.large and getattr(model, "kind", None) != "mlp":
            return layerwise_inference(model, self.data, self.sampler)
        return predict(model, self.data, inputs=self.inputs(model, positions, dense))

    def whole_graph(self, entry: dict) -> tuple[Tensor, float]:
        """Logits of every node for a model entry of :func:`train_models` (on the CPU: a GPU's come back inside
        the timed pass), and the nodes per second of that pass, inputs already built (small graphs: after a
        warm-up pass; a large graph's pass takes long enough that warming up does not change it)."""
        args = entry["model"], entry.get("positions"), entry.get("dense_features", False)
        if not self.large:
            self.logits(*args)
        start = time.perf_counter()
        logits = self.logits(*args)
        return logits, self.data.num_nodes / (time.perf_counter() - start)


def train_models(graph: Graph, cfg: LatencyConfig, progress: bool) -> list[dict]:
    """Teachers by depth, distilled MLP students by width (and the widest again with ``cfg.positions``
    position features, if any) and (small graphs) compressed teachers: entries with ``name``, ``role``,
    ``depth``, ``model`` and, for the position student, ``positions`` (its table) and export ``meta``."""
    data, large = graph.data, graph.large
    epochs = cfg.large_epochs if large else cfg.epochs
    lr = TEACHER_DEFAULTS["sage"]["lr"]
    hidden = cfg.teacher_hidden or (256 if large else 128)
    out = int(data.y.max()) + 1

    def teacher(depth, width):
        torch.manual_seed(cfg.seed)
        model = build_model("sage", in_channels=data.num_features, hidden_channels=width, out_channels=out,
                            num_layers=depth, dropout=0.5, norm="batch_norm" if large else None)
        if large:
            train_sampled(model, data, graph.sampler.with_fanouts(cfg.fanouts_for(depth)),
                          TrainConfig(epochs=epochs, lr=lr, patience=epochs, batch_size=1024),
                          max_batches=cfg.large_batches, seed=cfg.seed, progress=progress)
        else:
            train_full_batch(model, data, cross_entropy_on(data.train_mask, data.y),
                             TrainConfig(epochs=epochs, lr=lr, patience=min(50, epochs)), f"sage-{depth}L", progress)
        return model.eval()

    models = [{"name": f"SAGE {d}x{hidden}", "role": "teacher", "depth": d, "model": teacher(d, hidden)}
              for d in cfg.depths]
    device = resolve_device(cfg.teacher_device)
    if device.type != "cpu":  # the same weights, served from the GPU
        models += [{**m, "name": f"{m['name']} on {device}", "model": copy.deepcopy(m["model"]).to(device),
                    "device": str(device)} for m in models]
    ref = next(m["model"] for m in models if m["depth"] == cfg.ref_depth)
    targets = SoftTargets.from_logits([graph.logits(ref)], data, "all", seed=cfg.seed)
    def student(width, positions=0):
        shape = {"student_layers": cfg.student_layers, "student_hidden": width, "positions": positions}
        dcfg = (wide_student_config(**shape, epochs=cfg.large_student_epochs, patience=cfg.large_student_epochs,
                                    lr=0.003) if large else
                DistillConfig(**shape, epochs=epochs, patience=min(50, epochs)))
        student_data = with_positions(dcfg, data)
        entry = {"name": f"MLP {cfg.student_layers}x{width}{f' + {positions} positions' if positions else ''} "
                         "(distilled)", "role": "student", "depth": cfg.student_layers,
                 "model": train_student(dcfg, student_data, targets, cfg.seed, "mlp", progress).eval()}
        if positions:
            entry.update(positions=student_data.x[:, data.num_features:],
                         meta={"position_features": {"kind": "spectral", "dim": positions, "new_node": NEW_NODE_RULE}})
        return entry

    models += [student(width) for width in cfg.student_widths]
    if cfg.positions:
        models.append(student(max(cfg.student_widths), cfg.positions))
    if cfg.compress and not large:
        quantized, _ = quantize_int8(ref)
        half = half_width_config(ref.config())
        models += [{"name": f"SAGE {cfg.ref_depth}L int8", "role": "compressed", "depth": cfg.ref_depth,
                    "model": quantized, "params": count_parameters(ref),  # packed int8 weights are not Parameters
                    "dense_features": True},
                   {"name": f"SAGE {cfg.ref_depth}x{half['hidden_channels']} (half width)", "role": "compressed",
                    "depth": cfg.ref_depth, "model": teacher(cfg.ref_depth, half["hidden_channels"])}]
        for criterion in ("magnitude", "obd"):
            pruned = copy.deepcopy(ref)
            prune(pruned, data, PruneConfig(criterion=criterion, target_sparsity=cfg.sparsity, rounds=3,
                                            retrain=TrainConfig(epochs=min(epochs, 50), patience=20)), progress)
            models.append({"name": f"SAGE {cfg.ref_depth}L {criterion}-pruned {cfg.sparsity:.0%}",
                           "role": "compressed", "depth": cfg.ref_depth, "model": pruned.eval()})
    return models


def numpy_mlp(model: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """The MLP's eval-mode forward as bare NumPy (batch norm folded in): one matrix product per layer,
    ReLU between, softmax last, so it returns what the Predictor returns. The floor for any serving path."""
    *hidden, (w_out, b_out) = fold_batch_norm(model)

    def forward(x: np.ndarray) -> np.ndarray:
        for w, b in hidden:
            x = np.maximum(x @ w + b, 0.0)
        logits = x @ w_out + b_out
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    return forward


def _student_paths(entry: dict, exported: Path, threads: int) -> dict[str, tuple[Callable, bool]]:
    """A student's serving functions ``serve(features, positions or None)``, each with whether it takes
    NumPy arrays: eager torch, its exported Predictors (loaded from ``exported``) and the NumPy floor."""
    model, floor = entry["model"], numpy_mlp(entry["model"])

    @torch.inference_mode()
    def eager(x, positions):
        return model(x if positions is None else torch.cat([x, positions], dim=1))

    predictors = {"predictor numpy": Predictor.load(exported, "numpy"),
                  "predictor onnx": Predictor.load(exported, "onnx", num_threads=threads)}
    return {"eager": (eager, False), **{k: (p.predict_proba, True) for k, p in predictors.items()},
            "numpy floor": (lambda x, positions: floor(x if positions is None else np.hstack([x, positions])), True)}


def _graph_node(serve: Callable, x: Tensor, positions: Tensor | None, numpy: bool) -> Callable[[Tensor], object]:
    """``serve`` called for node ids of the graph: their feature rows and (if the student takes them) position rows."""
    if numpy:
        x, positions = x.numpy(), None if positions is None else positions.numpy()
    return lambda n: serve(x[n.numpy() if numpy else n], None if positions is None else
                           positions[n.numpy() if numpy else n])


def serving_paths(entry: dict, graph: Graph, site: ArrivalSite, cfg: LatencyConfig, threads: int,
                   exported: Path) -> tuple[dict[str, Callable], dict[str, Callable]]:
    """One model's per-node predict functions at ``threads`` threads: for nodes of the graph (taking
    a node-id tensor) and for arrivals (taking an :class:`Arrival`). A student's Predictors load from
    ``exported``, where graphkd.bench.latency.bench_graph exported it."""
    model, data = entry["model"], graph.data
    if entry["role"] != "student":
        fanouts = cfg.fanouts_for(entry["depth"])
        fetches = {"fanout " + "-".join(map(str, fanouts)): fanouts, **({"full": None} if cfg.full else {})}
        return ({p: PerNodeGNN(model, data, f, graph.sampler) for p, f in fetches.items()},
                {p: ArrivalGNN(model, site.arrivals.observed, f, site.sampler) for p, f in fetches.items()})
    positions = entry.get("positions")
    observed = None if positions is None else positions[site.arrivals.observed_nodes]
    paths = _student_paths(entry, exported, threads)
    return ({p: _graph_node(fn, data.x, positions, numpy) for p, (fn, numpy) in paths.items()},
            {p: student_arrival(fn, observed, numpy) for p, (fn, numpy) in paths.items()})


class ArrivalSite:
    """The observed graph a server holds when nodes arrive, with its CSR, and the arrivals to time."""

    def __init__(self, data: Data, cfg: LatencyConfig, generator: torch.Generator):
        self.arrivals = hold_out_arrivals(data, cfg.seed, cfg.arrival_fraction)
        observed = self.arrivals.observed
        self.sampler = NeighborSampler(observed.edge_index, observed.num_nodes, [-1])
        self.nodes = self.arrivals.nodes[torch.randint(self.arrivals.nodes.numel(), (cfg.nodes,), generator=generator)]
        self.timed = arrivals_to_serve(self.arrivals, self.nodes)
