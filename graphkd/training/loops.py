"""Training loops: full-batch for GNNs, node mini-batches for MLPs, early stopping on the validation metric of
the graph's task (accuracy for a multiclass graph; see graphkd.tasks).

With ``checkpoint=path`` a run saves its state once ``checkpoint_seconds`` have passed since the last save
(or every ``checkpoint_every`` epochs, when set) and, started again with the same path, continues where it
stopped with bit-identical results (see graphkd.checkpoint).
"""
from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data
from tqdm.auto import tqdm

from graphkd.checkpoint import load_training_state, save_training_state, training_fingerprint
from graphkd.device import graph_on, module_device
from graphkd.errors import GraphkdError
from graphkd.inputs import feature_rows, model_inputs
from graphkd.tasks import Task, task_of
from graphkd.training.distributed import is_rank_zero

__all__ = ["TrainConfig", "accuracy", "consistency_loss", "cross_entropy_on", "fit", "predict", "train_full_batch",
           "train_minibatch", "validation_score"]


# A killed run loses at most this much training; on small graphs whole runs finish sooner and write
# nothing (on Cora, checkpoints every 5 epochs wrote about 300 MB per seed, then deleted it).
CHECKPOINT_SECONDS = 30.0


@dataclass
class TrainConfig:
    epochs: int = 500
    lr: float = 0.01
    weight_decay: float = 5e-4
    patience: int = 50
    batch_size: int = 4096
    # No early stop before this epoch: a random initialisation can score a lucky validation accuracy
    # that a slowly starting model (one full-batch step per epoch) needs more than ``patience`` to beat.
    min_epochs: int = 0

    def __post_init__(self):
        if self.epochs < 1 or self.patience < 1 or self.batch_size < 1 or self.min_epochs < 0:
            raise GraphkdError("epochs, patience and batch_size must be >= 1, min_epochs >= 0")
        if self.lr <= 0 or self.weight_decay < 0:
            raise GraphkdError("lr must be > 0 and weight_decay >= 0")


def accuracy(logits: Tensor, y: Tensor) -> float:
    return (logits.argmax(dim=-1) == y).float().mean().item()


def validation_score(model: torch.nn.Module, data: Data, inputs: tuple[Tensor, Tensor] | None = None
                     ) -> Callable[[], float]:
    """The function a training loop stops on: the model's validation metric by the graph's task."""
    val_idx, task = data.val_mask.nonzero().view(-1), task_of(data)
    return lambda: task.score(predict(model, data, val_idx, inputs=inputs), data.y[val_idx])


@torch.no_grad()
def predict(model: torch.nn.Module, data: Data, nodes: Tensor | None = None, batch_size: int = 65536,
            inputs: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Logits at T = 1 in eval mode. GNNs run on the whole graph; MLPs in chunks of ``batch_size`` nodes.
    ``inputs``: ``graphkd.inputs.model_inputs(model, data)`` if already built (training loops reuse it). A model
    on another device than ``data`` runs there, and its logits come back to ``data``'s device."""
    model.eval()
    home, device = data.x.device, module_device(model)
    if inputs is None:
        data = graph_on(data, device)
    x, graph = inputs if inputs is not None else model_inputs(model, data)
    nodes = nodes.to(x.device) if nodes is not None else None
    if getattr(model, "kind", None) == "mlp":
        index = torch.arange(x.size(0), device=x.device) if nodes is None else nodes
        if not index.numel():
            return torch.zeros(0, dtype=x.dtype, device=home)
        out = torch.cat([model(feature_rows(x, chunk)) for chunk in index.split(batch_size)])
    else:
        out = model(x, graph)
        out = out if nodes is None else out[nodes]
    return out.to(home)


def fit(model: torch.nn.Module, step: Callable[[torch.optim.Optimizer], float], val_score: Callable[[], float],
        config: TrainConfig, desc: str = "train", progress: bool = False,
        checkpoint: str | os.PathLike | None = None, checkpoint_every: int | None = None,
        checkpoint_seconds: float = CHECKPOINT_SECONDS, auxiliary: torch.nn.Module | None = None) -> float:
    """Run ``step`` once per epoch, keep the weights of the best ``val_score()`` (the validation metric), stop
    after ``patience`` epochs without improvement (not before ``min_epochs``). Returns the best validation score.

    ``checkpoint``: a file where the full training state is saved at an epoch boundary every
    ``checkpoint_every`` epochs if given, else once ``checkpoint_seconds`` have passed since the last
    save (a short run then writes nothing; a killed long run loses at most that much work). If it
    exists at the start (written for the same model and ``config`` at the same place, its folder and
    file name, else ``GraphkdError``), the run resumes from it (under torchrun: every rank resumes from
    it, rank 0 alone writes it). It is deleted once training ends: the result is the trained model, which
    the caller saves, and a finished run's leftover checkpoint would otherwise make a later fresh run at
    the same path skip its training. Use one path per training run.

    ``auxiliary``: modules trained beside the model but not part of it (a hint projector): they join
    the optimizer and the checkpoint, not the best weights.
    """
    if checkpoint_every is not None and checkpoint_every < 1:
        raise GraphkdError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    parameters = list(model.parameters()) + (list(auxiliary.parameters()) if auxiliary is not None else [])
    optimizer = torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    best_acc, best_state, since_best, start = -1.0, None, 0, 0
    fingerprint = None
    if checkpoint is not None:  # bound to where it belongs too: a file copied from another seed, role or run is refused
        fingerprint = {**training_fingerprint(model, config, auxiliary),
                       "where": [Path(checkpoint).parent.name, Path(checkpoint).name]}
    if checkpoint is not None:
        resumed = load_training_state(checkpoint, fingerprint, model, optimizer, auxiliary)
        if resumed is not None:
            start, best_state = resumed["next_epoch"], resumed["best_state"]
            best_acc, since_best = resumed["best_acc"], resumed["since_best"]
    bar = tqdm(range(start, config.epochs), desc=desc, leave=False, disable=not progress,
               initial=start, total=config.epochs)
    last_save = time.monotonic()
    for epoch in bar:
        model.train()
        loss = step(optimizer)
        acc = val_score()
        if acc > best_acc:
            best_acc, best_state, since_best = acc, copy.deepcopy(model.state_dict()), 0
        else:
            since_best += 1
        bar.set_postfix(loss=f"{loss:.4f}", val=f"{acc:.3f}", best=f"{best_acc:.3f}")
        if since_best >= config.patience and epoch + 1 >= config.min_epochs:
            break
        now = time.monotonic()
        due = ((epoch + 1) % checkpoint_every == 0 if checkpoint_every is not None
               else now - last_save >= checkpoint_seconds)
        if checkpoint is not None and due and _writes_checkpoints():
            save_training_state(checkpoint, fingerprint, epoch + 1, model, optimizer, best_state, best_acc,
                                since_best, auxiliary)
            last_save = now
    model.load_state_dict(best_state)
    model.eval()
    if checkpoint is not None and _writes_checkpoints():
        Path(checkpoint).unlink(missing_ok=True)
    return best_acc


def _writes_checkpoints() -> bool:
    """Rank 0 of a torchrun process group (or a single process): its ranks hold one state, rank 0 writes it,
    all of them resume from it (graphkd.training.distributed keeps them identical at epoch boundaries)."""
    return is_rank_zero()


def train_full_batch(model: torch.nn.Module, data: Data, loss_fn: Callable[..., Tensor],
                     config: TrainConfig, desc: str = "train", progress: bool = False,
                     checkpoint: str | os.PathLike | None = None, checkpoint_every: int | None = None,
                     auxiliary: torch.nn.Module | None = None, samples: int = 1) -> float:
    """Train a GNN on the whole graph; ``loss_fn`` maps all-node logits to the loss. With ``samples`` above 1
    the model runs that many times per step (dropout differs each time) and ``loss_fn`` receives every run's
    logits (see :func:`consistency_loss`). ``checkpoint``, ``checkpoint_every`` and ``auxiliary`` as in
    :func:`fit`."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise GraphkdError(f"samples (forward passes per step) must be an integer >= 1, got {samples!r}")
    inputs = model_inputs(model, data)

    def step(optimizer):
        optimizer.zero_grad()
        loss = loss_fn(*(model(*inputs) for _ in range(samples)))
        loss.backward()
        optimizer.step()
        return loss.item()

    return fit(model, step, validation_score(model, data, inputs), config, desc, progress, checkpoint,
               checkpoint_every, auxiliary=auxiliary)


def train_minibatch(model: torch.nn.Module, data: Data, nodes: Tensor,
                    batch_loss: Callable[[Tensor, Tensor], Tensor], config: TrainConfig,
                    desc: str = "train", progress: bool = False,
                    checkpoint: str | os.PathLike | None = None, checkpoint_every: int | None = None,
                    auxiliary: torch.nn.Module | None = None) -> float:
    """Train an MLP on shuffled mini-batches of ``nodes``; ``batch_loss(logits, batch_nodes)``.
    ``checkpoint``, ``checkpoint_every`` and ``auxiliary`` as in :func:`fit`."""
    inputs = model_inputs(model, data)

    def step(optimizer):
        total = 0.0
        for batch in nodes[torch.randperm(nodes.numel())].split(config.batch_size):
            optimizer.zero_grad()
            loss = batch_loss(model(feature_rows(inputs[0], batch)), batch)
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.numel()
        return total / nodes.numel()

    return fit(model, step, validation_score(model, data, inputs), config, desc, progress, checkpoint,
               checkpoint_every, auxiliary=auxiliary)


def cross_entropy_on(mask: Tensor, y: Tensor, task: Task | None = None,
                     class_weight: Tensor | None = None) -> Callable[..., Tensor]:
    """Full-graph loss: the task's hard-label loss over the nodes in ``mask`` (cross-entropy, or binary
    cross-entropy per label; :meth:`graphkd.tasks.Task.hard_loss`), averaged over the logits of several forward
    passes, when given several. ``task``: default multiclass."""
    task = task or Task()
    return lambda *logits: sum(task.hard_loss(lg[mask], y[mask], class_weight) for lg in logits) / len(logits)


def consistency_loss(mask: Tensor, y: Tensor, weight: float, sharpening: float = 0.5) -> Callable[..., Tensor]:
    """GRAND's objective over the logits of several random forward passes: their mean cross-entropy over the
    nodes in ``mask``, plus ``weight`` times the mean over passes and all nodes of the squared distance
    between a pass's class distribution and the passes' average distribution sharpened at temperature
    ``sharpening`` (``p_c^(1/T) / sum_j p_j^(1/T)``, a target without gradient). The second term is what
    teaches from the unlabelled nodes: predictions must agree however the graph was perturbed, and lean
    toward their more confident mean. The sharpening is computed in log space: ``softmax(log p / T)``, the
    same distribution, without the underflow of ``p^(1/T)`` at small T."""
    for name, value, low in (("weight", weight, 0.0), ("sharpening", sharpening, 1e-6)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value < float("inf"):
            raise GraphkdError(f"consistency {name} must be a finite number >= {low:g}, got {value!r}")

    def loss(*logits: Tensor) -> Tensor:
        if len(logits) < 2:
            raise GraphkdError("the consistency term compares several random forward passes: give samples >= 2")
        if len({tuple(lg.shape) for lg in logits}) > 1 or not all(lg.is_floating_point() for lg in logits):
            raise GraphkdError(f"the passes' logits must be floating point and of one shape, got "
                               f"{[(tuple(lg.shape), lg.dtype) for lg in logits]}")
        probs = [lg.softmax(dim=-1) for lg in logits]
        mean = torch.stack(probs).mean(0).detach()
        sharpened = (mean.clamp_min(torch.finfo(mean.dtype).tiny).log() / sharpening).softmax(dim=-1)
        supervised = sum(F.cross_entropy(lg[mask], y[mask]) for lg in logits) / len(logits)
        agreement = sum((p - sharpened).pow(2).sum(dim=-1).mean() for p in probs) / len(probs)
        return supervised + weight * agreement

    return loss
