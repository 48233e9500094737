"""Distillation losses, exactly as in the KD primer (Hinton et al., 2015).

    L = alpha * CE(softmax(z), y)  on labelled nodes, T = 1
      + (1 - alpha) * T^2 * KL(p_T || softmax(z / T))  averaged over the transfer set

``p_T`` is the teacher's tempered distribution (for an ensemble, the mean of the members'), so the
loss takes soft-target probabilities rather than teacher logits. KL uses ``batchmean``: a mean over
nodes, not over nodes x classes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.checks import check_alpha, check_temperature
from graphkd.errors import GraphkdError

__all__ = ["distillation_loss", "logit_matching_loss", "soft_target_loss", "tempered_softmax"]


def tempered_softmax(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """``softmax(logits / T)`` over the last dimension."""
    return F.softmax(logits / check_temperature(temperature), dim=-1)


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
                      transfer: Tensor | None = None) -> Tensor:
    """Hinton KD over one batch of nodes.

    ``student_logits``/``soft_targets``: ``[B, C]``. ``labels``/``labelled``: the batch's labels and a
    bool mask of which are known; the hard term averages over those only. ``transfer``: a bool mask
    of the rows that have soft targets (default all); the soft term averages over those only.
    A term with no node in the batch contributes zero.
    """
    alpha = check_alpha(alpha)
    for name, mask in (("transfer", transfer), ("labelled", labelled)):
        if mask is not None and (mask.dtype != torch.bool or mask.shape != student_logits.shape[:1]):
            raise GraphkdError(f"{name} must be a bool mask of shape [{student_logits.size(0)}] (one entry per "
                               f"row), got {mask.dtype} {tuple(mask.shape)}")
    loss = student_logits.sum() * 0.0
    if alpha < 1:
        rows = slice(None) if transfer is None else transfer
        if transfer is None or transfer.any():
            loss = loss + (1 - alpha) * soft_target_loss(student_logits[rows], soft_targets[rows], temperature)
    if alpha > 0:
        if labels is None or labelled is None:
            raise GraphkdError("alpha > 0 needs labels and a labelled mask for the hard-label term")
        if labelled.any():
            loss = loss + alpha * F.cross_entropy(student_logits[labelled], labels[labelled])
    return loss


def logit_matching_loss(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    """Squared error between logits (Bucila et al., 2006): the high-temperature limit of KD."""
    if student_logits.shape != teacher_logits.shape:
        raise GraphkdError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                           f"{tuple(teacher_logits.shape)} differ in shape")
    return F.mse_loss(student_logits, teacher_logits)
