"""torch.distributed for graphkd: the process group from torchrun's environment, and what ranks share.

Started by ``torchrun`` a process finds ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` in its environment and joins a process group: ``nccl`` when the run computes on CUDA (device
``"cuda"``, or ``"auto"`` where every rank of a machine has a GPU of its own, ``cuda:<LOCAL_RANK>``), else ``gloo``
(the CPU, the default). Started plainly it runs alone, as world size 1, with no process group, and every
collective here is then a no-op. The collectives take CPU or GPU tensors under either backend.
Ranks keep identical random states at epoch boundaries (:func:`sync_epoch_end`), so the node permutation each
epoch is drawn from one shared seed, and a checkpoint written by rank 0 is a valid state for every rank to
resume from.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import Tensor

from graphkd.device import resolve_device
from graphkd.errors import GraphkdError

__all__ = ["all_reduce_sum", "barrier", "broadcast_object", "distributed", "gather_objects", "is_rank_zero",
           "node_range", "rank", "rank_batches", "reseed_per_rank", "sync_epoch_end", "world_size"]


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_rank_zero() -> bool:
    """The rank that writes checkpoints, records and results (the only one of a single process)."""
    return rank() == 0


@contextlib.contextmanager
def distributed(device: str = "cpu") -> Iterator[int]:
    """Join the process group torchrun describes in the environment for the duration of the block, and
    yield the world size (1, with no group, when ``WORLD_SIZE`` is unset or there is already a group).
    ``device``: where the run computes (:func:`graphkd.device.resolve_device`): on CUDA each rank takes its own
    GPU and the group talks over NCCL; on the CPU over gloo (NCCL moves CUDA tensors only)."""
    if dist.is_initialized() or "WORLD_SIZE" not in os.environ:
        yield world_size()
        return
    where = resolve_device(device)
    if where.type == "cuda":
        torch.cuda.set_device(where)
    dist.init_process_group("nccl" if where.type == "cuda" else "gloo")
    try:
        yield world_size()
    finally:
        dist.destroy_process_group()


def _wire() -> torch.device:
    """Where a collective's tensors must be: this rank's GPU under NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: Tensor) -> Tensor:
    """``values`` summed over ranks (returned, on the caller's device); the values themselves alone."""
    if world_size() == 1:
        return values
    out = values.to(_wire(), copy=True)
    dist.all_reduce(out)
    return out.to(values.device)


def broadcast_object(value):
    """Rank 0's ``value`` (a picklable object) on every rank."""
    if world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(value) -> list:
    """Every rank's ``value`` (picklable), in rank order, on every rank."""
    if world_size() == 1:
        return [value]
    out = [None] * world_size()
    dist.all_gather_object(out, value)
    return out


def barrier() -> None:
    """Wait until every rank gets here (files one rank wrote are then there for the others)."""
    if world_size() > 1:
        dist.barrier(**({"device_ids": [torch.cuda.current_device()]} if dist.get_backend() == "nccl" else {}))


def node_range(num_nodes: int, part: int, parts: int, align: int = 1) -> tuple[int, int]:
    """The contiguous node ids ``[start, end)`` of ``part`` of ``parts``, boundaries on multiples of ``align``
    (inference aligns them with its chunks, so a shard computes exactly the chunks one process would)."""
    units = -(-num_nodes // align)
    start, end = units * part // parts * align, units * (part + 1) // parts * align
    return min(start, num_nodes), min(end, num_nodes)


def rank_batches(nodes: Tensor, batch_size: int) -> list[tuple[Tensor, float]]:
    """One epoch's batches of this rank: ``nodes`` shuffled by torch's global generator (identical on every
    rank), cut into ``ceil(n / batch_size)`` global batches of near-equal size, each split evenly over the
    ranks. Each local batch comes with the weight ``local size * world size / global size`` of its mean
    loss: the gradients DDP averages then equal the global batch's mean-loss gradient, for any world size
    (exactly for a mean over all rows; a loss that averages over a subset, such as the labelled rows, is
    weighted by rows, not by that subset)."""
    parts, me = world_size(), rank()
    if nodes.numel() < parts:
        raise GraphkdError(f"{nodes.numel()} training nodes cannot be shared by {parts} ranks")
    shuffled = nodes[torch.randperm(nodes.numel())]
    out = []
    # At least `parts` nodes per global batch: no rank ever gets an empty one.
    for batch in shuffled.tensor_split(min(-(-nodes.numel() // batch_size), nodes.numel() // parts)):
        local = batch.tensor_split(parts)[me]
        out.append((local, local.numel() * parts / max(batch.numel(), 1)))
    return out


def reseed_per_rank() -> None:
    """Give each rank its own random stream for the rest of the epoch (dropout, neighbour draws), from one
    draw of the shared generator: deterministic, and different across ranks."""
    torch.manual_seed(int(torch.randint(2**62, ())) + rank())


def sync_epoch_end(model: torch.nn.Module) -> None:
    """Make the ranks identical again at an epoch boundary: batch-norm running statistics averaged (each rank
    saw other rows), and rank 0's random state everywhere (each rank drew its own numbers this epoch)."""
    if world_size() == 1:
        return
    for buffer in model.buffers():
        if buffer.is_floating_point():
            buffer.copy_(all_reduce_sum(buffer) / world_size())
    state = torch.get_rng_state().to(_wire())
    dist.broadcast(state, src=0)
    torch.set_rng_state(state.cpu())
