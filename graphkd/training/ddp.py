"""Mini-batch training with DistributedDataParallel: node rows partitioned over ranks, gradients all-reduced.

Every epoch the nodes are shuffled from the generator all ranks share and cut into global batches, each split
over the ranks (:func:`graphkd.training.distributed.rank_batches`); DDP averages the gradients, weighted so that
a step equals the global batch's step for any world size. That holds for a loss that is a mean over the
batch's rows, as the soft-target term is; the hard-label term (``alpha > 0``) is a mean over a batch's
labelled rows, whose share differs between the ranks' parts, so with it a step is close to, not equal to,
the global one. The similarity and adversarial terms are refused under torchrun. Validation is split over
the ranks too and its correct counts summed, so every rank sees the same accuracy and stops at the same
epoch. Checkpoints are written by rank 0 only (:func:`graphkd.training.loops.fit`) and every rank resumes from them.
"""
from __future__ import annotations

import inspect
import os
from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from torch_geometric.data import Data

from graphkd.errors import GraphkdError
from graphkd.inputs import feature_rows, model_inputs
from graphkd.tasks import task_of
from graphkd.training.distributed import (
    all_reduce_sum,
    rank,
    rank_batches,
    reseed_per_rank,
    sync_epoch_end,
    world_size,
)
from graphkd.training.loops import TrainConfig, fit, predict, validation_score

__all__ = ["distributed_model", "train_minibatch_ddp", "validation_accuracy"]

# No buffer broadcast at every forward: torch 2.13 names the switch forward_sync_buffers (broadcast_buffers is
# deprecated there), while earlier releases that pyproject allows know only broadcast_buffers.
_NO_FORWARD_BUFFER_SYNC = ({"forward_sync_buffers": False}
                           if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                           else {"broadcast_buffers": False})


def distributed_model(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` wrapped in DDP (buffers are averaged at epoch ends instead of broadcast at every forward)."""
    if not torch.distributed.is_initialized():
        raise GraphkdError("DDP training needs a process group: start it with torchrun (see graphkd.large.distill)")
    return DistributedDataParallel(model, **_NO_FORWARD_BUFFER_SYNC)


def average_gradients(module: torch.nn.Module) -> None:
    """All-reduce the gradients of a module trained outside the DDP wrapper (a hint projector), as DDP does."""
    for p in module.parameters():
        if p.grad is not None:
            p.grad.copy_(all_reduce_sum(p.grad) / world_size())


def validation_accuracy(correct_on: Callable[[Tensor], int], nodes: Tensor) -> float:
    """Accuracy on ``nodes``, each rank scoring its share (``correct_on(part)`` counts the right ones)."""
    part = nodes.tensor_split(world_size())[rank()]
    correct = torch.tensor(correct_on(part) if part.numel() else 0, dtype=torch.long)
    return all_reduce_sum(correct).item() / max(nodes.numel(), 1)


def train_minibatch_ddp(model: torch.nn.Module, data: Data, nodes: Tensor,
                        batch_loss: Callable[[Tensor, Tensor], Tensor], config: TrainConfig, desc: str = "train",
                        progress: bool = False, checkpoint: str | os.PathLike | None = None,
                        checkpoint_every: int | None = None, auxiliary: torch.nn.Module | None = None) -> float:
    """:func:`graphkd.training.loops.train_minibatch` over the ranks of the process group, same arguments.
    ``batch_loss``: a mean over the batch's rows (reweighted per rank). Call it with the same
    arguments, and torch seeded alike, on every rank."""
    net, (x, graph) = distributed_model(model), model_inputs(model, data)
    val_idx = data.val_mask.nonzero().view(-1)

    def step(optimizer):
        total, count = 0.0, 0
        batches = rank_batches(nodes, config.batch_size)
        reseed_per_rank()
        for batch, weight in batches:
            optimizer.zero_grad()
            loss = batch_loss(net(feature_rows(x, batch)), batch)
            (loss * weight).backward()
            if auxiliary is not None:
                average_gradients(auxiliary)
            optimizer.step()
            total, count = total + loss.item() * batch.numel(), count + batch.numel()
        sync_epoch_end(model)
        return total / max(count, 1)

    def correct_on(part: Tensor) -> int:
        return int((predict(model, data, part, inputs=(x, graph)).argmax(-1) == data.y[part]).sum())

    # Accuracy is a sum of per-node counts, split over the ranks; a ranking metric (ROC-AUC) is not, so every rank
    # scores all validation nodes itself, with the weights all ranks share at the epoch's end: the same number.
    score = (lambda: validation_accuracy(correct_on, val_idx)) if task_of(data).metric == "accuracy" else \
        validation_score(model, data, (x, graph))
    return fit(model, step, score, config, desc, progress, checkpoint, checkpoint_every, auxiliary=auxiliary)
