"""Serving a node that arrives after training: what the teacher and an MLP student each do for it.

A node arrives with its features and its edges to the observed graph, the graph the server holds
(graphkd.distill.settings.hold_out_arrivals splits the arrivals off). Its edges to other arrivals are
not part of it: each arrival is served alone, when it comes.

- Teacher (:class:`ArrivalGNN`): the first hop is the arrival's own neighbour list (all of it, or a
  fan-out sample of it); the other L - 1 hops are fetched around those neighbours from the observed
  graph's CSR, which the server keeps; the arrival joins that subgraph with its edges in both
  directions (it is a neighbour of its neighbours), and the L-layer forward runs. With every neighbour
  fetched, the arrival's logits equal a full forward on the observed graph plus this one node.
- MLP student (:func:`student_arrival`): the arrival's features; a student trained with position
  features also needs the arrival's position row, the mean of its neighbours' rows
  (graphkd.distill.positions.new_node_positions), computed inside the timed call.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from graphkd.distill.positions import new_node_positions
from graphkd.distill.settings import Arrivals
from graphkd.errors import GraphkdError
from graphkd.serve.per_node import PerNodeGNN

__all__ = ["Arrival", "ArrivalGNN", "arrivals_to_serve", "student_arrival"]


class Arrival(NamedTuple):
    """What comes in with a new node: its features ``[1, F]`` and its neighbours' ids in the observed graph."""

    x: Tensor
    neighbours: Tensor


def arrivals_to_serve(arrivals: Arrivals, nodes: Tensor) -> list[Arrival]:
    """The arrivals ``nodes`` (full-graph ids, each one of ``arrivals.nodes``, repeats allowed) as they
    come in: their feature rows and their distinct observed in-neighbours, relabelled into ``arrivals.observed``."""
    full = arrivals.full
    if not bool(torch.isin(nodes, arrivals.nodes).all()):
        raise GraphkdError("only held-out nodes arrive: some nodes given are in the observed graph")
    observed_id = torch.full((full.num_nodes,), -1, dtype=torch.long)
    observed_id[arrivals.observed_nodes] = torch.arange(arrivals.observed_nodes.numel())
    source, target = full.edge_index
    from_observed = observed_id[source] >= 0
    return [Arrival(full.x[node:node + 1], observed_id[source[from_observed & (target == node)]].unique())
            for node in nodes.tolist()]


class ArrivalGNN(PerNodeGNN):
    """A GNN's logits ``[1, C]`` for an :class:`Arrival`. ``data``: the observed graph; ``fanouts`` and
    ``sampler`` (of the observed graph) as for :class:`PerNodeGNN`, the first fan-out applying to the
    arrival's own neighbours."""

    @torch.inference_mode()
    def __call__(self, arrival: Arrival) -> Tensor:
        neighbours, first = arrival.neighbours, self.fanouts[0]
        if first != -1 and neighbours.numel() > first:
            neighbours = neighbours[torch.randperm(neighbours.numel())[:first]]
        count = neighbours.numel()
        if count and len(self.fanouts) > 1:
            sub = self.sampler.sample(neighbours, fanouts=self.fanouts[1:])  # the neighbours come first in n_id
            n_id, edges = sub.n_id, sub.edge_index + 1  # local 0 is the arrival
        else:
            n_id, edges = neighbours, neighbours.new_empty(2, 0)
        hop = torch.arange(1, count + 1)
        arrival_id = torch.zeros(count, dtype=torch.long)
        edges = torch.cat([edges, torch.stack([hop, arrival_id]), torch.stack([arrival_id, hop])], dim=1)
        return self.forward(torch.cat([arrival.x, self.x[n_id]]), edges, 1)


def student_arrival(serve: Callable, positions: Tensor | None = None,
                    numpy: bool = False) -> Callable[[Arrival], object]:
    """``serve(features [1, F], positions [1, P] or None)`` called for an :class:`Arrival`.
    ``positions``: the observed graph's position table when the student takes position features
    (the arrival's row is computed in the call); ``numpy``: pass NumPy arrays (Predictor, NumPy forward)."""

    def call(arrival: Arrival):
        rows = None if positions is None else new_node_positions(positions, arrival.neighbours).view(1, -1)
        if numpy:
            return serve(arrival.x.numpy(), None if rows is None else rows.numpy())
        return serve(arrival.x, rows)

    return call
