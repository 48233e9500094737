"""Teachers with different label spaces, distilled into one student over the union of their classes.

Teacher ``k`` was trained on the nodes of its classes ``S_k`` only, so its distribution ``p_k(c | x)``
is conditioned on the node belonging to ``S_k``. For classes that the teachers split between them
(disjoint ``S_k``), the law of total probability gives the union distribution

    q(c | x) = sum_k  w_k(x) * p_k(c | x)   for c in S_k,     w_k(x) = P(y in S_k | x),

so a teacher's distribution is placed in its block of the union and weighted by how likely the node is
to be one of its classes: how responsible that teacher is for the node. ``w`` is what must be estimated.
Two rules, compared in benchmarks/union_table.py:

- ``confidence``: ``w_k`` proportional to teacher ``k``'s top probability. A teacher that has never seen a
  node's class should be unsure of it; nothing forces it to be, which is this rule's weakness.
- ``gate``: a logistic regression, trained on the labelled training nodes (whose block is known), that
  reads every teacher's log-probabilities and predicts the block. Its softmax is ``w``.

With overlapping blocks the same formula sums every teacher's share of a class; ``q`` still sums to 1.
The union's log-probabilities are teacher logits like any other: hand them to
``DistillConfig(teacher=...)`` (or use :func:`union_teacher`, which trains the partial teachers too).
"""
from __future__ import annotations

import copy

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphkd.checks import check_choice
from graphkd.errors import GraphkdError

__all__ = ["UNION_RULES", "class_halves", "confidence_weights", "gate_weights", "partial_graph", "union_logits",
           "union_teacher"]

UNION_RULES = ("confidence", "gate")


def class_halves(num_classes: int) -> list[list[int]]:
    """The classes split into two blocks, ``[0, C/2)`` and ``[C/2, C)`` (the first gets the odd one out)."""
    if num_classes < 2:
        raise GraphkdError(f"splitting the label space needs at least 2 classes, got {num_classes}")
    middle = (num_classes + 1) // 2
    return [list(range(middle)), list(range(middle, num_classes))]


def _checked_blocks(class_sets: list[list[int]], num_classes: int) -> list[Tensor]:
    blocks = [torch.as_tensor(list(classes), dtype=torch.long) for classes in class_sets]
    if len(blocks) < 1 or any(b.numel() == 0 or b.unique().numel() != b.numel() for b in blocks):
        raise GraphkdError(f"class_sets must be non-empty lists of distinct class ids, got {class_sets}")
    covered = torch.cat(blocks).unique()
    if covered.min() < 0 or covered.max() >= num_classes or covered.numel() != num_classes:
        raise GraphkdError(f"class_sets {class_sets} must cover the classes 0 .. {num_classes - 1}, each at least once")
    return blocks


def partial_graph(data: Data, classes: list[int]) -> Data:
    """``data`` as a teacher of ``classes`` sees it: every node and edge, labels renumbered ``0 .. len(classes)-1``
    in the given order, and training / validation / test masks kept to the nodes of those classes."""
    block = torch.as_tensor(list(classes), dtype=torch.long)
    local = torch.full((int(data.y.max()) + 1,), -1, dtype=torch.long)
    local[block] = torch.arange(block.numel())
    inside = local[data.y] >= 0
    part = copy.copy(data)
    part.y = local[data.y].clamp_min(0)  # nodes of other classes: label 0, but in no mask, so never read
    for name in ("train_mask", "val_mask", "test_mask"):
        part[name] = data[name] & inside
    return part


def confidence_weights(member_logits: list[Tensor]) -> Tensor:
    """``[num_nodes, K]``: each teacher's top probability, normalised over the teachers."""
    top = torch.stack([logits.softmax(-1).max(-1).values for logits in member_logits], dim=1)
    return top / top.sum(1, keepdim=True)


def gate_weights(member_logits: list[Tensor], class_sets: list[list[int]], data: Data, seed: int = 0,
                 epochs: int = 300, lr: float = 0.05, weight_decay: float = 5e-4) -> Tensor:
    """``[num_nodes, K]``: a logistic regression over the teachers' log-probabilities, trained with full-batch
    Adam on the training nodes to predict which teachers know their label (a node of a class two blocks share
    counts for both, half each)."""
    blocks = _checked_blocks(class_sets, int(data.y.max()) + 1)
    inputs = torch.cat([logits.log_softmax(-1) for logits in member_logits], dim=1).detach()
    knows = torch.stack([torch.isin(data.y, block) for block in blocks], dim=1).float()
    target = knows / knows.sum(1, keepdim=True).clamp_min(1)
    train = data.train_mask
    if not train.any():
        raise GraphkdError("the gate learns from training nodes: data.train_mask selects none")
    torch.manual_seed(seed)
    gate = torch.nn.Linear(inputs.size(1), len(blocks))
    optimizer = torch.optim.Adam(gate.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = -(target[train] * gate(inputs[train]).log_softmax(-1)).sum(1).mean()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return gate(inputs).softmax(-1)


def union_logits(member_logits: list[Tensor], class_sets: list[list[int]], data: Data, rule: str = "gate",
                 seed: int = 0) -> Tensor:
    """Log-probabilities ``[num_nodes, num_classes]`` of the union distribution (see the module docstring).

    ``member_logits[k]``: teacher ``k``'s logits ``[num_nodes, len(class_sets[k])]``, columns in the order of
    ``class_sets[k]`` (global class ids). ``rule``: ``gate`` or ``confidence``; the gate trains on
    ``data.train_mask`` and ``data.y``."""
    rule = check_choice("union rule", rule, UNION_RULES)
    num_classes = int(data.y.max()) + 1
    blocks = _checked_blocks(class_sets, num_classes)
    if len(member_logits) != len(blocks):
        raise GraphkdError(f"{len(member_logits)} teachers but {len(blocks)} class sets: one set per teacher")
    for k, (logits, block) in enumerate(zip(member_logits, blocks, strict=True)):
        if logits.dim() != 2 or logits.shape != (data.num_nodes, block.numel()):
            raise GraphkdError(f"teacher {k} knows {block.numel()} classes: its logits must be "
                               f"[{data.num_nodes}, {block.numel()}], got {tuple(logits.shape)}")
    weights = (confidence_weights(member_logits) if rule == "confidence"
               else gate_weights(member_logits, class_sets, data, seed))
    union = torch.zeros(data.num_nodes, num_classes)
    for k, (logits, block) in enumerate(zip(member_logits, blocks, strict=True)):
        union.index_add_(1, block, weights[:, k:k + 1] * logits.detach().softmax(-1))
    return union.clamp_min(1e-8).log()


def union_teacher(cfg, data: Data, class_sets: list[list[int]], seed: int = 0, rule: str = "gate",
                  progress: bool = False) -> tuple[Tensor, list[Tensor]]:
    """Train ``cfg.teacher`` once per class set, each on the nodes of its classes (:func:`partial_graph`),
    and join them. Returns the union's log-probabilities (a teacher for ``DistillConfig(teacher=...)``)
    and each partial teacher's logits ``[num_nodes, len(class_sets[k])]``."""
    from graphkd.distill.teachers import train_teachers

    _checked_blocks(class_sets, int(data.y.max()) + 1)
    member_logits = []
    for classes in class_sets:
        part = partial_graph(data, classes)
        if not part.train_mask.any():
            raise GraphkdError(f"no training node has a class in {classes}: that teacher has nothing to learn")
        members = train_teachers(cfg, part, seed, progress=progress)[0]  # an ensemble: its mean distribution
        member_logits.append(torch.stack([logits.softmax(-1) for logits in members]).mean(0).log())
    return union_logits(member_logits, class_sets, data, rule, seed), member_logits
