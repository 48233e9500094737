"""Knowledge beyond the final logits, each kind a plain loss function on one batch of nodes.

- :func:`hint_loss`: FitNets-style feature distillation; the student's hidden layer, through a learned
  projector, matches the teacher's hidden layer (squared error or cosine distance).
- :func:`similarity_loss`: NOSMOG-style representation similarity; the in-batch cosine-similarity
  matrices of teacher and student representations are matched. The batch is the unit, never all
  nodes, and neither ``batch x batch`` matrix is formed when the batch outnumbers the channels.
- :func:`local_structure_loss`: LSP (Yang et al., CVPR 2020) for GNN students; for each node, the
  distribution of its similarities to its neighbours (an RBF kernel, softmax over the neighbours) in
  the student's space is pulled towards the teacher's with KL.
- :func:`adversarial_loss`: NOSMOG's adversarial feature augmentation; a few PGD steps find the input
  perturbation (inside an L-infinity ball) that moves the student's prediction furthest from the
  teacher's, and the loss is the soft-target loss at that perturbation.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import softmax as neighbour_softmax

from graphkd.checks import check_choice
from graphkd.distill.losses import soft_target_loss
from graphkd.errors import GraphkdError

__all__ = ["HINT_METRICS", "adversarial_loss", "hint_loss", "local_structure_loss", "similarity_loss"]

HINT_METRICS = ("mse", "cosine")


def _same_rows(name: str, student: Tensor, teacher: Tensor) -> None:
    if student.dim() != 2 or teacher.dim() != 2 or student.size(0) != teacher.size(0):
        raise GraphkdError(f"{name}: student {tuple(student.shape)} and teacher {tuple(teacher.shape)} representations "
                           "must be [nodes, channels] with the same nodes")


def hint_loss(projected_student: Tensor, teacher_hidden: Tensor, metric: str = "mse") -> Tensor:
    """``mse``: mean over nodes and channels of ``(s - t)^2``; ``cosine``: mean over nodes of
    ``1 - cos(s, t)``. ``projected_student`` is the student's hidden layer already mapped to the
    teacher's width (the projector is trained with the student and thrown away after)."""
    metric = check_choice("hint metric", metric, HINT_METRICS)
    if projected_student.shape != teacher_hidden.shape:
        raise GraphkdError(f"hint: projected student {tuple(projected_student.shape)} and teacher "
                           f"{tuple(teacher_hidden.shape)} differ in shape")
    if metric == "mse":
        return F.mse_loss(projected_student, teacher_hidden)
    return (1 - F.cosine_similarity(projected_student, teacher_hidden, dim=-1)).mean()


def similarity_loss(student_hidden: Tensor, teacher_hidden: Tensor) -> Tensor:
    """Mean over the ``B x B`` entries of ``(S_student - S_teacher)^2``, where ``S`` holds the cosine
    similarities between the batch's nodes. The widths may differ: only similarities are compared.

    With unit rows ``A`` (student) and ``C`` (teacher), ``S = A A^T`` and, exactly,
    ``||A A^T - C C^T||^2 = ||A^T A||^2 - 2 ||A^T C||^2 + ||C^T C||^2``: channel-by-channel products
    in ``O(B d^2)`` time and ``O(d^2)`` memory instead of ``O(B^2 d)`` and ``O(B^2)`` (on a batch of
    4,096 nodes and widths 256 and 64, about 15 times faster). Used when the batch outnumbers the
    channels; a smaller batch forms the two matrices."""
    _same_rows("similarity", student_hidden, teacher_hidden)
    a, c = F.normalize(student_hidden, dim=-1), F.normalize(teacher_hidden, dim=-1)
    nodes = a.size(0)
    if nodes <= a.size(1) + c.size(1):
        return F.mse_loss(a @ a.T, c @ c.T)
    squared = (a.T @ a).pow(2).sum() - 2 * (a.T @ c).pow(2).sum() + (c.T @ c).pow(2).sum()
    return squared.clamp_min(0) / nodes**2  # rounding could leave a tiny negative


def _neighbour_log_distribution(h: Tensor, edge_index: Tensor, sigma: float) -> Tensor:
    source, target = edge_index
    # RBF kernel exp(-||h_i - h_j||^2 / (2 sigma^2)), normalised over each target node's neighbours.
    score = -(h[target] - h[source]).pow(2).sum(-1) / (2 * sigma**2)
    return torch.log(neighbour_softmax(score, target, num_nodes=h.size(0)).clamp_min(1e-30))


def local_structure_loss(student_hidden: Tensor, teacher_hidden: Tensor, edge_index: Tensor,
                         sigma: float = 1.0) -> Tensor:
    """``mean_i KL(p_teacher(. | i) || p_student(. | i))`` over nodes with at least one neighbour, where
    ``p(j | i)`` is the softmax over ``i``'s in-neighbours ``j`` of ``-||h_i - h_j||^2 / (2 sigma^2)``.
    ``edge_index`` uses PyG's convention (``edge_index[1]`` is the node whose neighbours they are)."""
    _same_rows("local structure", student_hidden, teacher_hidden)
    if edge_index.numel() == 0:
        return student_hidden.sum() * 0.0
    log_t = _neighbour_log_distribution(teacher_hidden, edge_index, sigma)
    log_s = _neighbour_log_distribution(student_hidden, edge_index, sigma)
    per_edge = log_t.exp() * (log_t - log_s)
    target = edge_index[1]
    per_node = per_edge.new_zeros(student_hidden.size(0)).index_add_(0, target, per_edge)
    has_neighbours = torch.zeros(student_hidden.size(0), dtype=torch.bool, device=per_edge.device)
    has_neighbours[target] = True
    return per_node[has_neighbours].mean()


def adversarial_loss(student: Callable[[Tensor], Tensor], features: Tensor, soft_targets: Tensor,
                     temperature: float = 1.0, epsilon: float = 0.01, steps: int = 3,
                     step_size: float | None = None) -> Tensor:
    """Soft-target loss of ``student(features + delta)`` at the worst ``delta`` that ``steps`` steps of
    projected gradient ascent find in ``[-epsilon, epsilon]^F`` (NOSMOG). ``delta`` starts at zero and
    moves by ``step_size`` along the gradient's sign (default ``2.5 * epsilon / steps``, Madry et al.'s
    rule, so the ball's edge is reachable). With ``steps=0`` or ``epsilon=0`` it is the plain
    soft-target loss on ``features``. The gradient reaches the student's parameters through the last
    forward only: ``delta`` is a constant there."""
    if epsilon < 0 or steps < 0:
        raise GraphkdError(f"adversarial epsilon and steps must be >= 0, got {epsilon} and {steps}")
    features = features.to_dense() if features.layout != torch.strided else features
    step_size = 2.5 * epsilon / max(steps, 1) if step_size is None else step_size
    delta = torch.zeros_like(features)
    for _ in range(steps if epsilon > 0 else 0):
        delta.requires_grad_(True)
        loss = soft_target_loss(student(features + delta), soft_targets, temperature)
        (grad,) = torch.autograd.grad(loss, delta)
        delta = (delta.detach() + step_size * grad.sign()).clamp(-epsilon, epsilon)
    return soft_target_loss(student(features + delta.detach()), soft_targets, temperature)
