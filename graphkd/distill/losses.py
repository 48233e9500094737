"""Distillation losses, exactly as in the KD primer (Hinton et al., 2015).

    L = alpha * CE(softmax(z), y)  on labelled nodes, T = 1
      + (1 - alpha) * T^2 * KL(p_T || softmax(z / T))  averaged over the transfer set

``p_T`` is the teacher's tempered distribution (for an ensemble, the mean of the members'), so the
loss takes soft-target probabilities rather than teacher logits. KL uses ``batchmean``: a mean over
nodes, not over nodes x classes.

A multi-label task has one independent binary distribution per label: ``p_T = sigmoid(t / T)``, and

    L = alpha * BCE(sigmoid(z), y)  on labelled nodes, T = 1, averaged over nodes and labels
      + (1 - alpha) * T^2 * mean over nodes and labels of KL(Bernoulli(p_T) || Bernoulli(sigmoid(z / T)))

Both terms are means over labels, so alpha mixes them on one scale whatever the number of labels; the
gradient of the soft term in ``z`` is ``T (sigmoid(z / T) - p_T)`` per label, which the T^2 factor keeps
at the hard term's magnitude as T grows, as it does for the softmax.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.checks import check_alpha, check_temperature
from graphkd.errors import GraphkdError
from graphkd.tasks import Task

__all__ = ["binary_soft_target_loss", "distillation_loss", "logit_matching_loss", "soft_target_loss",
           "tempered_sigmoid", "tempered_softmax"]


def tempered_softmax(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """``softmax(logits / T)`` over the last dimension."""
    return F.softmax(logits / check_temperature(temperature), dim=-1)


def tempered_sigmoid(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """``sigmoid(logits / T)`` per label: a multi-label teacher's soft targets."""
    return torch.sigmoid(logits / check_temperature(temperature))


def binary_soft_target_loss(student_logits: Tensor, soft_targets: Tensor, temperature: float) -> Tensor:
    """``T^2 * KL(Bernoulli(soft_targets) || Bernoulli(sigmoid(z / T)))``, averaged over nodes and labels."""
    temperature = check_temperature(temperature)
    if student_logits.shape != soft_targets.shape:
        raise GraphkdError(f"student logits {tuple(student_logits.shape)} and soft targets "
                           f"{tuple(soft_targets.shape)} differ in shape (label-count mismatch?)")
    if soft_targets.numel() and (soft_targets.min() < 0 or soft_targets.max() > 1):
        raise GraphkdError("multi-label soft targets must be probabilities in [0, 1]; for teacher logits pass "
                           "tempered_sigmoid(teacher_logits, temperature)")
    # KL = H(p, q) - H(p): the cross-entropy in logits is stable; the teacher's own entropy has no gradient,
    # and is subtracted so the loss is 0 when the student matches the teacher, as a KL is.
    p = soft_targets
    cross = F.binary_cross_entropy_with_logits(student_logits / temperature, p, reduction="none")
    entropy = -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p))
    return temperature**2 * (cross - entropy).mean()


def soft_target_loss(student_logits: Tensor, soft_targets: Tensor, temperature: float) -> Tensor:
    """``T^2 * KL(soft_targets || softmax(z / T))``, averaged per node."""
    temperature = check_temperature(temperature)
    if student_logits.shape != soft_targets.shape:
        raise GraphkdError(f"student logits {tuple(student_logits.shape)} and soft targets "
                           f"{tuple(soft_targets.shape)} differ in shape (class-count mismatch?)")
    if soft_targets.numel() and (soft_targets.min() < 0 or (soft_targets.sum(-1) - 1).abs().max() > 1e-3):
        raise GraphkdError("soft targets must be probabilities (non-negative, rows summing to 1); for teacher "
                           "logits pass tempered_softmax(teacher_logits, temperature)")
    log_q = F.log_softmax(student_logits / temperature, dim=-1)
    return temperature**2 * F.kl_div(log_q, soft_targets, reduction="batchmean")


def distillation_loss(student_logits: Tensor, soft_targets: Tensor, temperature: float, alpha: float,
                      labels: Tensor | None = None, labelled: Tensor | None = None,
                      transfer: Tensor | None = None, task: Task | None = None,
                      class_weight: Tensor | None = None) -> Tensor:
    """Hinton KD over one batch of nodes.

    ``student_logits``/``soft_targets``: ``[B, C]``. ``labels``/``labelled``: the batch's labels and a
    bool mask of which are known; the hard term averages over those only. ``transfer``: a bool mask
    of the rows that have soft targets (default all); the soft term averages over those only.
    A term with no node in the batch contributes zero. ``task``: a multi-label task takes per-label
    soft targets and the binary terms (module docstring); default multiclass. ``class_weight``: weights of
    the hard term (:meth:`graphkd.tasks.Task.hard_loss`).
    """
    task = task or Task()
    alpha = check_alpha(alpha)
    for name, mask in (("transfer", transfer), ("labelled", labelled)):
        if mask is not None and (mask.dtype != torch.bool or mask.shape != student_logits.shape[:1]):
            raise GraphkdError(f"{name} must be a bool mask of shape [{student_logits.size(0)}] (one entry per "
                               f"row), got {mask.dtype} {tuple(mask.shape)}")
    loss = student_logits.sum() * 0.0
    if alpha < 1:
        rows = slice(None) if transfer is None else transfer
        if transfer is None or transfer.any():
            soft_loss = binary_soft_target_loss if task.multilabel else soft_target_loss
            loss = loss + (1 - alpha) * soft_loss(student_logits[rows], soft_targets[rows], temperature)
    if alpha > 0:
        if labels is None or labelled is None:
            raise GraphkdError("alpha > 0 needs labels and a labelled mask for the hard-label term")
        if labelled.any():
            loss = loss + alpha * task.hard_loss(student_logits[labelled], labels[labelled], class_weight)
    return loss


def logit_matching_loss(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    """Squared error between logits (Bucila et al., 2006): the high-temperature limit of KD."""
    if student_logits.shape != teacher_logits.shape:
        raise GraphkdError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                           f"{tuple(teacher_logits.shape)} differ in shape")
    return F.mse_loss(student_logits, teacher_logits)
