"""Where a distilled student is used: the transductive, inductive, production and cold-start settings.

- ``transductive``: every node is in the graph during training; students are scored on test nodes whose
  soft targets they learnt from.
- ``inductive``: a fraction of the test nodes (default 20%, as GLNN) is held out with all their edges.
  Teacher and students train on the observed rest; soft targets exist for observed nodes only. The
  held-out nodes then arrive: the teacher is scored on the full graph (their neighbours are known when
  they arrive), an MLP student on their features (plus position features computed at arrival, the mean
  of their observed neighbours' rows), a GNN student on the full graph.
- ``production``: the inductive run reported as GLNN does, 0.8 x transductive + 0.2 x inductive, with
  both parts kept.
- ``cold-start``: the held-out nodes arrive with no edges at all; the teacher and a GNN student see them
  isolated, and an MLP's position features for them are zeros (no neighbour to average).

Every non-transductive run scores the observed test nodes (the transductive part), the arrivals with
their edges (inductive) and the arrivals without (cold start), so one run fills all three reports.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphkd.device import graph_on, module_device
from graphkd.errors import GraphkdError
from graphkd.tasks import task_of
from graphkd.training import predict

__all__ = ["PARTS", "PRODUCTION_WEIGHT", "SETTINGS", "Arrivals", "arrival_score", "arrival_graph",
           "hold_out_arrivals", "setting_scores"]

SETTINGS = ("transductive", "inductive", "production", "cold-start")
PARTS = ("transductive", "inductive", "cold_start", "production")  # what a non-transductive run reports
PRODUCTION_WEIGHT = 0.8  # of the transductive part; the inductive part weighs 0.2 (GLNN)


@dataclass
class Arrivals:
    """Test nodes held out of training, and the graphs they arrive in."""

    nodes: Tensor  # their ids in the full graph
    observed_nodes: Tensor  # observed node i is full-graph node observed_nodes[i]
    observed: Data  # what teacher and students train on: the rest of the graph, relabelled
    full: Data  # the whole graph: arrivals with their edges
    cold: Data  # the observed edges only: arrivals isolated


def hold_out_arrivals(data: Data, seed: int, fraction: float = 0.2) -> Arrivals:
    """Hold out ``fraction`` of ``data``'s test nodes (drawn with ``seed``) with every edge that touches them."""
    if not 0.0 < fraction < 1.0:
        raise GraphkdError(f"arrival_fraction must lie in (0, 1), got {fraction!r}")
    test = data.test_mask.nonzero().view(-1)
    count = round(fraction * test.numel())
    if not 1 <= count < test.numel():
        raise GraphkdError(f"holding out {fraction:.0%} of {test.numel()} test node(s) leaves no arrival or no "
                           "observed test node; the graph needs more test nodes")
    order = torch.randperm(test.numel(), generator=torch.Generator().manual_seed(seed))
    nodes = test[order[:count]].sort().values
    arriving = torch.zeros(data.num_nodes, dtype=torch.bool)
    arriving[nodes] = True
    source, target = data.edge_index
    cold = copy.copy(data)
    cold.edge_index = data.edge_index[:, ~(arriving[source] | arriving[target])]
    return Arrivals(nodes, (~arriving).nonzero().view(-1), data.subgraph(~arriving), data, cold)


def arrival_graph(arrivals: Arrivals, cold: bool, positions: Tensor | None = None) -> Data:
    """The graph the arrivals are scored in. ``positions``: the observed nodes' position features
    ``[num_observed, P]``, appended to ``x`` as an MLP student takes them; an arrival's are computed when
    it arrives, as the mean of its observed neighbours' rows (zeros with no edges)."""
    graph = copy.copy(arrivals.cold if cold else arrivals.full)
    if positions is None:
        return graph
    table = positions.new_zeros(graph.num_nodes, positions.size(1))
    table[arrivals.observed_nodes] = positions
    observed = torch.zeros(graph.num_nodes, dtype=torch.bool)
    observed[arrivals.observed_nodes] = True
    source, target = graph.edge_index
    into_arrival = observed[source] & ~observed[target]  # an arrival's observed neighbours
    sums = table.new_zeros(table.shape).index_add_(0, target[into_arrival], table[source[into_arrival]])
    counts = torch.bincount(target[into_arrival], minlength=graph.num_nodes).clamp_min(1).unsqueeze(1)
    table[~observed] = (sums / counts)[~observed]
    graph.x = torch.cat([graph.x, table], dim=1)
    return graph


def arrival_score(models: list[torch.nn.Module], arrivals: Arrivals, cold: bool,
                  positions: Tensor | None = None) -> float:
    """The task's metric on the arrivals of ``models``' mean predicted distribution (one model, or a teacher
    ensemble), each run on the graph the arrivals come in (see :func:`arrival_graph` for ``positions``), on
    the device the models are on."""
    graph = arrival_graph(arrivals, cold, positions)
    graph = graph_on(graph, module_device(models[0]))
    task, nodes = task_of(graph), arrivals.nodes.to(graph.x.device)
    probs = torch.stack([task.probabilities(predict(model, graph, nodes)) for model in models]).mean(0)
    return task.score(probs, graph.y[nodes])


def setting_scores(transductive: float, inductive: float, cold_start: float, key: str = "acc") -> dict:
    """The test metric (named ``key`` in results) one non-transductive run reports, production included: for a
    ranking metric (ROC-AUC) production's weighted mean of the two is a summary, not the metric of the mix."""
    production = PRODUCTION_WEIGHT * transductive + (1 - PRODUCTION_WEIGHT) * inductive
    return {f"{part}_test_{key}": value for part, value in
            zip(PARTS, (transductive, inductive, cold_start, production), strict=True)}
