"""Fan-out neighbour sampling in plain torch (no pyg-lib / torch-sparse), shaped like PyG's NeighborLoader.

A sample holds ``n_id`` (global node ids, the seeds first, then each hop's new nodes), a local
``edge_index`` whose messages flow neighbour -> target, and ``batch_size`` (the number of seeds), so a
GNN run on it has the seeds' outputs in its first ``batch_size`` rows. Each hop is vectorised over the
frontier; only the fan-out (at most a few dozen steps) is looped over.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphkd.checks import check_edge_index
from graphkd.errors import GraphkdError

__all__ = ["NeighborSampler", "k_hop_subgraph", "neighbor_loader", "seed_batches"]


class NeighborSampler:
    """Samples up to ``fanouts[h]`` incoming neighbours per node at hop ``h`` (``-1``: all of them).

    The CSR of incoming edges (``rowptr``, ``col``) is built once: ``col[rowptr[v]:rowptr[v + 1]]`` are
    the sources of the edges into ``v``. Neighbours are drawn uniformly without replacement (Floyd's
    algorithm, vectorised over nodes). With ``fanouts = [-1] * L`` a sample is the exact L-hop
    neighbourhood, and an L-layer SAGE or GAT gives the seeds exactly their full-graph outputs (GCN
    normalises by degrees, which the outermost hop does not see, as with PyG's NeighborLoader).
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, fanouts: list[int], undirected: bool = False):
        """``undirected=True`` promises that ``edge_index`` is symmetric: a graph sorted by source (as
        ``coalesce`` leaves it) then needs no sort, since in-neighbours equal out-neighbours."""
        check_edge_index(edge_index, num_nodes)
        self.num_nodes, self.fanouts = num_nodes, _checked_fanouts(fanouts)
        if undirected and _is_sorted(edge_index[0]):
            edge_index = edge_index.flip(0)  # a view: targets sorted, messages still neighbour -> node
        target = edge_index[1]
        if _is_sorted(target):
            self.col = edge_index[0].clone()  # already grouped by target: skip the sort
        else:
            order = torch.sort(target, stable=True).indices
            self.col = edge_index[0][order]
            del order
        self.rowptr = torch.zeros(num_nodes + 1, dtype=torch.long)
        torch.cumsum(torch.bincount(target, minlength=num_nodes), 0, out=self.rowptr[1:])
        self._local = torch.full((num_nodes,), -1, dtype=torch.long)  # global -> local id, reset after each sample

    @classmethod
    def from_csr(cls, rowptr: Tensor, col: Tensor, fanouts: list[int]) -> NeighborSampler:
        """A sampler on a CSR of incoming edges built before (``rowptr``, ``col``, as this class holds them),
        used as given: memory-mapped from a file, it is shared by every process on the machine."""
        if rowptr.dim() != 1 or rowptr.numel() < 1 or int(rowptr[-1]) != col.numel():
            raise GraphkdError(f"rowptr (length {rowptr.numel()}) must end at the {col.numel()} entries of col")
        sampler = cls.__new__(cls)
        sampler.num_nodes, sampler.fanouts = rowptr.numel() - 1, _checked_fanouts(fanouts)
        sampler.rowptr, sampler.col = rowptr, col
        sampler._local = torch.full((sampler.num_nodes,), -1, dtype=torch.long)
        return sampler

    def with_fanouts(self, fanouts: list[int]) -> NeighborSampler:
        """A sampler drawing ``fanouts`` from this one's CSR (shared, not copied: millions of edges)."""
        other = copy.copy(self)
        other.fanouts = _checked_fanouts(fanouts)
        return other

    def degree(self, nodes: Tensor) -> Tensor:
        return self.rowptr[nodes + 1] - self.rowptr[nodes]

    def _edge_positions(self, nodes: Tensor, fanout: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Positions in ``col`` of the sampled in-edges of ``nodes``, and the index into ``nodes`` of their target."""
        deg = self.degree(nodes)
        take_all = deg <= fanout if fanout >= 0 else torch.ones_like(deg, dtype=torch.bool)
        # Nodes whose neighbours all go in: expand each node's CSR range.
        full = take_all.nonzero().view(-1)
        counts = deg[full]
        owner = torch.repeat_interleave(full, counts)
        offset = torch.arange(owner.numel()) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
        positions, owners = [self.rowptr[nodes[owner]] + offset], [owner]
        # The others: Floyd's algorithm draws `fanout` distinct offsets in [0, deg) per node.
        part = (~take_all).nonzero().view(-1)
        if part.numel():
            d = deg[part]
            chosen = torch.empty(part.numel(), fanout, dtype=torch.long)
            for s in range(fanout):
                j = d - fanout + s
                t = (torch.rand(part.numel(), generator=generator) * (j + 1)).long().minimum(j)
                seen = (chosen[:, :s] == t.unsqueeze(1)).any(dim=1)
                chosen[:, s] = torch.where(seen, j, t)
            positions.append((self.rowptr[nodes[part]].unsqueeze(1) + chosen).view(-1))
            owners.append(part.repeat_interleave(fanout))
        return torch.cat(positions), torch.cat(owners)

    def sample(self, seeds: Tensor, generator: torch.Generator | None = None,
               fanouts: list[int] | None = None) -> Data:
        """The sampled subgraph of ``seeds`` (distinct node ids): ``Data(n_id, edge_index, batch_size,
        num_sampled_nodes, num_sampled_edges)``: ``num_sampled_nodes[h]`` counts the nodes first reached at
        hop ``h`` (they follow hop ``h - 1``'s in ``n_id``); ``num_sampled_edges[h]`` the edges drawn at hop
        ``h + 1``, into hop ``h``'s nodes (they follow hop ``h - 1``'s in ``edge_index``)
        ``fanouts`` overrides the sampler's for this call."""
        seeds = seeds.long().view(-1)
        if seeds.numel() == 0 or seeds.min() < 0 or seeds.max() >= self.num_nodes:
            raise GraphkdError(f"seeds must be a non-empty set of node ids in [0, {self.num_nodes})")
        local = self._local
        local[seeds] = torch.arange(seeds.numel())
        if bool((local[seeds] != torch.arange(seeds.numel())).any()):  # a repeated id kept only one slot
            local[seeds] = -1
            raise GraphkdError("seeds must not repeat")
        node_parts, frontier, frontier_start = [seeds], seeds, 0
        rows, cols, num_sampled, num_edges = [], [], [seeds.numel()], []
        num_seen = seeds.numel()
        try:
            for fanout in self.fanouts if fanouts is None else fanouts:
                positions, owner = self._edge_positions(frontier, fanout, generator)
                neighbours = self.col[positions]
                # Dedupe without a sort: of the writes of equal ids into `local`, exactly one survives.
                candidates = neighbours[local[neighbours] < 0]
                slots = torch.arange(candidates.numel())
                local[candidates] = slots
                fresh = candidates[local[candidates] == slots]
                local[fresh] = torch.arange(num_seen, num_seen + fresh.numel())
                rows.append(local[neighbours])
                cols.append(owner + frontier_start)
                node_parts.append(fresh)
                num_sampled.append(fresh.numel())
                num_edges.append(neighbours.numel())
                frontier, frontier_start, num_seen = fresh, num_seen, num_seen + fresh.numel()
            n_id = torch.cat(node_parts)
        finally:
            for part in node_parts:
                local[part] = -1
        edge_index = torch.stack([torch.cat(rows), torch.cat(cols)])
        return Data(n_id=n_id, edge_index=edge_index, batch_size=seeds.numel(), num_nodes=n_id.numel(),
                    num_sampled_nodes=num_sampled, num_sampled_edges=num_edges)


def _checked_fanouts(fanouts: list[int]) -> list[int]:
    if not fanouts or any(f == 0 or f < -1 for f in fanouts):
        raise GraphkdError(f"fanouts must be a non-empty list of positive ints or -1 (all), got {fanouts}")
    return list(fanouts)


def _is_sorted(values: Tensor) -> bool:
    return values.numel() < 2 or bool((values[1:] >= values[:-1]).all())


def seed_batches(nodes: Tensor, batch_size: int, shuffle: bool = True,
                 generator: torch.Generator | None = None) -> list[Tensor]:
    """``nodes`` split into batches of ``batch_size`` (shuffled first unless ``shuffle=False``)."""
    if batch_size < 1:
        raise GraphkdError(f"batch_size must be >= 1, got {batch_size}")
    nodes = nodes.view(-1)
    if shuffle:
        nodes = nodes[torch.randperm(nodes.numel(), generator=generator)]
    return list(nodes.split(batch_size))


def k_hop_subgraph(sampler: NeighborSampler | Tensor, nodes: Tensor, num_hops: int,
                   num_nodes: int | None = None) -> Data:
    """The full ``num_hops``-hop incoming neighbourhood of ``nodes`` (targets first), as a sample.
    ``sampler``: a NeighborSampler (its CSR is reused) or an ``edge_index`` with ``num_nodes``."""
    if num_hops < 1:
        raise GraphkdError(f"num_hops must be >= 1, got {num_hops}")
    if not isinstance(sampler, NeighborSampler):
        if num_nodes is None:
            raise GraphkdError("k_hop_subgraph on an edge_index needs num_nodes")
        sampler = NeighborSampler(sampler, num_nodes, [-1])
    return sampler.sample(nodes, fanouts=[-1] * num_hops)


def neighbor_loader(sampler: NeighborSampler, nodes: Tensor, batch_size: int, shuffle: bool = True,
           generator: torch.Generator | None = None) -> Iterator[Data]:
    """Samples of shuffled seed batches drawn from ``nodes``, one per batch (like NeighborLoader)."""
    for batch in seed_batches(nodes, batch_size, shuffle, generator):
        yield sampler.sample(batch, generator)
