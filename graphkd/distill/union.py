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
- ``gate``: a small GNN of the teachers' kind, trained on the labelled nodes (whose block is known) to
  predict the block, so ``w`` is an estimate of ``P(y in S_k | x)`` itself. It needs disjoint blocks.
  (A logistic regression over the teachers' own log-probabilities was tried first: on Cora's halves it
  found the right block for 77% of test nodes, against 89% for the GNN gate, because teachers are far
  more confident on their training nodes, where it learns, than on the nodes it is used for.)

With overlapping blocks the same formula sums every teacher's share of a class; ``q`` still sums to 1.
The union's log-probabilities are teacher logits like any other: hand them to
``DistillConfig(teacher=...)`` (or use :func:`union_teacher`, which trains the partial teachers too).
"""
from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Iterable

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphkd.checks import check_choice, check_finite
from graphkd.data.load import model_graph
from graphkd.distill.config import DistillConfig
from graphkd.distill.teachers import TEACHER_NAMES, train_teachers
from graphkd.errors import GraphkdError
from graphkd.tasks import METRICS, Task, task_of

__all__ = ["UNION_RULES", "class_halves", "confidence_weights", "gate_weights", "partial_graph",
           "train_partial_teachers", "union_logits", "union_teacher"]

UNION_RULES = ("confidence", "gate")


def class_halves(num_classes: int) -> list[list[int]]:
    """The classes split into two blocks, ``[0, C/2)`` and ``[C/2, C)`` (the first gets the odd one out)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 2:
        raise GraphkdError(f"splitting the label space needs an integer number of classes >= 2, got {num_classes!r}")
    middle = (num_classes + 1) // 2
    return [list(range(middle)), list(range(middle, num_classes))]


def _class_ids(classes, num_classes: int | None = None) -> Tensor:
    """One class set as a tensor: a non-empty list of distinct integer ids in ``[0, num_classes)``."""
    ids = classes.tolist() if isinstance(classes, Tensor) else classes
    ids = None if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable) else list(ids)
    if not ids or len(set(ids)) != len(ids) or any(
            isinstance(c, bool) or not isinstance(c, numbers.Integral) or not 0 <= c < (num_classes or math.inf)
            for c in ids):
        within = f" below {num_classes}" if num_classes else ""
        raise GraphkdError(f"a class set is a non-empty list of distinct integer class ids >= 0{within}, got "
                           f"{classes!r}")
    return torch.tensor([int(c) for c in ids], dtype=torch.long)


def _checked_blocks(class_sets, num_classes: int | None = None) -> list[Tensor]:
    """The class sets as tensors, one per teacher: together they cover ``0 .. C-1`` (``C``: ``num_classes``
    when given, else one more than the largest id)."""
    if isinstance(class_sets, (str, bytes, Tensor)) or not isinstance(class_sets, Iterable) or not class_sets:
        raise GraphkdError(f"class_sets must be a list of class sets, one per teacher, got {class_sets!r}")
    blocks = [_class_ids(classes, num_classes) for classes in class_sets]
    covered = torch.cat(blocks).unique()
    expected = num_classes or int(covered.max()) + 1
    if covered.numel() != expected:
        raise GraphkdError(f"class_sets {class_sets} must cover the classes 0 .. {expected - 1}, each at least once")
    return blocks


def _model_graph(data: Data) -> tuple[Data, int]:
    """``data`` checked and as the models see it (:func:`graphkd.data.model_graph`), and its number of classes.
    A multi-label task has no classes to split between teachers."""
    data = model_graph(data)
    if task_of(data).multilabel:
        raise GraphkdError("a union of teachers splits the classes of a single-label task; a multi-label task has "
                           "labels, not classes, to split: give each teacher the labels it knows instead")
    return data, int(data.y.max()) + 1


def _relabelled(data: Data, y: Tensor) -> Data:
    """A copy of ``data`` with labels ``y`` (a teacher's classes, or the gate's blocks), scored and early-stopped
    by the graph's own metric where it scores classes (a binary ROC-AUC does not, and an OGB Evaluator scores only
    OGB's labels), else by accuracy."""
    relabelled, metric = copy.copy(data), task_of(data).metric
    relabelled.y, relabelled.task = y, Task("multiclass", metric if metric in METRICS["multiclass"] else None)
    return relabelled


def _checked_config(cfg, seed) -> None:
    if not isinstance(cfg, DistillConfig) or not cfg.source.trains_here:
        raise GraphkdError("partial teachers and the gate are trained here: cfg must be a DistillConfig naming a "
                           f"teacher ({', '.join(TEACHER_NAMES)}), got {cfg!r:.80}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise GraphkdError(f"seed must be an integer, got {seed!r}")


def _checked_logits(member_logits) -> list[Tensor]:
    """Teachers' logits as float tensors ``[num_nodes, classes_k]``, the same nodes for every teacher."""
    if isinstance(member_logits, Tensor) or not isinstance(member_logits, Iterable) or not member_logits:
        raise GraphkdError("member_logits must be a list of each teacher's logits [num_nodes, its classes]")
    try:
        member_logits = [torch.as_tensor(logits, dtype=torch.float) for logits in member_logits]
    except (TypeError, ValueError, RuntimeError) as exc:
        raise GraphkdError(f"teacher logits and weights must be numeric tensors or arrays ({exc})") from exc
    for k, logits in enumerate(member_logits):
        if logits.dim() != 2 or logits.size(0) != member_logits[0].size(0) or logits.size(1) == 0:
            raise GraphkdError(f"teacher {k}'s logits must be [num_nodes, its classes] with the same nodes as teacher "
                               f"0's {tuple(member_logits[0].shape)}, got {tuple(logits.shape)}")
        check_finite(f"teacher {k}'s logits", logits)
    return member_logits


def partial_graph(data: Data, classes: list[int]) -> Data:
    """``data`` as a teacher of ``classes`` sees it: every node and edge, labels renumbered ``0 .. len(classes)-1``
    in the given order, and training / validation / test masks kept to the nodes of those classes."""
    data, num_classes = _model_graph(data)
    return _restricted(data, _class_ids(classes, num_classes))


def _restricted(data: Data, block: Tensor) -> Data:
    """:func:`partial_graph` of class ids already checked against ``data``."""
    local = torch.full((int(data.y.max()) + 1,), -1, dtype=torch.long)
    local[block] = torch.arange(block.numel())
    inside = local[data.y] >= 0
    part = _relabelled(data, local[data.y].clamp_min(0))  # nodes of other classes: label 0, in no mask, never read
    for name in ("train_mask", "val_mask", "test_mask"):
        part[name] = data[name] & inside
    return part


def _mean_distribution(member_logits: list[Tensor]) -> Tensor:
    return torch.stack([logits.softmax(-1) for logits in member_logits]).mean(0)


def train_partial_teachers(cfg, data: Data, class_sets: list[list[int]], seed: int = 0,
                           progress: bool = False) -> list[Tensor]:
    """``cfg.teacher`` trained once per class set on the nodes of its classes (:func:`partial_graph`); each
    one's logits ``[num_nodes, len(class_sets[k])]`` (an ensemble: the log of its mean distribution)."""
    _checked_config(cfg, seed)
    data, num_classes = _model_graph(data)
    member_logits = []
    for block in _checked_blocks(class_sets, num_classes):  # the graph checked once, not once per teacher
        part = _restricted(data, block)
        if not part.train_mask.any():
            raise GraphkdError(f"no training node has a class in {block.tolist()}: that teacher has nothing to "
                               "learn")
        member_logits.append(_mean_distribution(train_teachers(cfg, part, seed, progress=progress)[0]).log())
    return member_logits


def confidence_weights(member_logits: list[Tensor]) -> Tensor:
    """``[num_nodes, K]``: each teacher's top probability, normalised over the teachers."""
    top = torch.stack([logits.softmax(-1).max(-1).values for logits in _checked_logits(member_logits)], dim=1)
    return top / top.sum(1, keepdim=True)


def gate_weights(cfg, data: Data, class_sets: list[list[int]], seed: int = 0, progress: bool = False) -> Tensor:
    """``[num_nodes, K]``: ``P(y in S_k | x)`` from a GNN of ``cfg.teacher``'s kind trained on the labelled
    nodes with their block as the label (early stopping on the validation nodes, as the teachers)."""
    _checked_config(cfg, seed)
    data, num_classes = _model_graph(data)
    blocks = _checked_blocks(class_sets, num_classes)
    if torch.cat(blocks).numel() != torch.cat(blocks).unique().numel():
        raise GraphkdError(f"the gate gives each node one block: class_sets {class_sets} overlap; use the "
                           "confidence rule")
    block_of = torch.empty(torch.cat(blocks).numel(), dtype=torch.long)
    for k, block in enumerate(blocks):
        block_of[block] = k
    routed = _relabelled(data, block_of[data.y])
    return _mean_distribution(train_teachers(cfg, routed, seed, progress=progress)[0])


def union_logits(member_logits: list[Tensor], class_sets: list[list[int]], weights: Tensor) -> Tensor:
    """Log-probabilities ``[num_nodes, num_classes]`` of the union distribution (see the module docstring).

    ``member_logits[k]``: teacher ``k``'s logits ``[num_nodes, len(class_sets[k])]``, columns in the order of
    ``class_sets[k]`` (global class ids). ``weights``: ``[num_nodes, K]``, each teacher's responsibility for
    each node (:func:`confidence_weights`, :func:`gate_weights`), rows summing to 1."""
    blocks = _checked_blocks(class_sets)
    member_logits = _checked_logits(member_logits)
    if len(member_logits) != len(blocks):
        raise GraphkdError(f"{len(member_logits)} teachers but {len(blocks)} class sets: one set per teacher")
    try:
        weights = check_finite("weights", torch.as_tensor(weights, dtype=torch.float))
    except (TypeError, RuntimeError) as exc:
        raise GraphkdError(f"teacher logits and weights must be numeric tensors or arrays ({exc})") from exc
    num_nodes = member_logits[0].size(0)
    for k, (logits, block) in enumerate(zip(member_logits, blocks, strict=True)):
        if logits.size(1) != block.numel():
            raise GraphkdError(f"teacher {k} knows {block.numel()} classes: its logits must be "
                               f"[{num_nodes}, {block.numel()}], got {tuple(logits.shape)}")
    if weights.shape != (num_nodes, len(blocks)) or (weights < 0).any() or not torch.allclose(
            weights.sum(1), torch.ones(num_nodes)):
        raise GraphkdError(f"weights must be [{num_nodes}, {len(blocks)}], non-negative, with rows summing to 1; got "
                           f"shape {tuple(weights.shape)}")
    union = torch.zeros(num_nodes, int(torch.cat(blocks).max()) + 1)
    for k, (logits, block) in enumerate(zip(member_logits, blocks, strict=True)):
        union.index_add_(1, block, weights[:, k:k + 1] * logits.detach().softmax(-1))
    return union.clamp_min(1e-8).log()


def union_teacher(cfg, data: Data, class_sets: list[list[int]], seed: int = 0, rule: str = "gate",
                  progress: bool = False) -> tuple[Tensor, list[Tensor]]:
    """Train the partial teachers (:func:`train_partial_teachers`) and join them by ``rule`` (``gate`` or
    ``confidence``). Returns the union's log-probabilities (a teacher for ``DistillConfig(teacher=...)``)
    and each partial teacher's logits."""
    rule = check_choice("union rule", rule, UNION_RULES)
    data = model_graph(data)  # checked once, and said once what of it goes unused
    member_logits = train_partial_teachers(cfg, data, class_sets, seed, progress)
    weights = (gate_weights(cfg, data, class_sets, seed, progress) if rule == "gate"
               else confidence_weights(member_logits))
    return union_logits(member_logits, class_sets, weights), member_logits
