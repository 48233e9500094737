"""The student's training loss: Hinton KD plus the knowledge terms the user weighs in.

    L = KD(alpha, T)                                   graphkd.distill.losses.distillation_loss
      + hint_weight        * hint(projector(h_s), h_t)  FitNets
      + similarity_weight  * similarity(h_s, h_t)       NOSMOG, in-batch
      + lsp_weight         * LSP(h_s, h_t, edges)       GNN students
      + adversarial_weight * KD at a PGD perturbation   NOSMOG, MLP students

``h_t`` is the teacher representation stored with the soft targets; ``h_s`` is the student's last
hidden layer (the output of its second-to-last linear or conv module, read by a forward hook; a
one-layer student offers its logits). Representation terms cover the nodes that have them.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphkd.distill.knowledge import adversarial_loss, hint_loss, local_structure_loss, similarity_loss
from graphkd.distill.losses import distillation_loss
from graphkd.distill.soft_targets import SoftTargets
from graphkd.distill.teachers import hard_label_weights
from graphkd.errors import GraphkdError
from graphkd.inputs import feature_rows
from graphkd.tasks import task_of

__all__ = ["StudentObjective", "student_hidden_module"]


def student_hidden_module(student: torch.nn.Module) -> torch.nn.Module:
    """The module whose output is the student's last hidden representation (see module docstring)."""
    layers = student.lins if getattr(student, "kind", None) == "mlp" else student.convs
    return layers[-2] if len(layers) >= 2 else layers[-1]


class StudentObjective:
    """``objective(logits, batch)``: the loss of a batch of nodes. ``full_graph``: the logits (and hidden
    representations) are the whole graph's, as for GNN students; else they are the batch's rows.
    ``projector``: the hint projector (or ``None``), which trains with the student (pass it to the
    training loop as ``auxiliary``). Use as a context manager: it hooks the student's hidden layer
    until closed."""

    def __init__(self, cfg, data: Data, targets: SoftTargets, student: torch.nn.Module, features: Tensor,
                 full_graph: bool):
        self.cfg, self.data, self.student, self.features, self.full_graph = cfg, data, student, features, full_graph
        num_nodes = data.num_nodes
        self.task, self.class_weight = task_of(data), hard_label_weights(cfg, data)
        if self.task.multilabel and cfg.adversarial_weight:
            raise GraphkdError("adversarial augmentation matches class distributions; a multi-label task has none: "
                               "leave the adversarial term out")
        device = data.x.device  # soft targets are kept on the CPU; the student learns them where it trains
        self.has_soft = targets.dense(torch.ones(targets.node_index.numel(), dtype=torch.bool), num_nodes).to(device)
        self.soft = targets.dense(targets.probs(cfg.temperature), num_nodes).to(device)
        self.projector, self._hook, self._hidden = None, None, None
        if cfg.needs_representations():
            teacher_hidden = targets.hidden_layer(cfg.teacher_layer)
            self.teacher_hidden = targets.dense(teacher_hidden, num_nodes).to(device)
            module = student_hidden_module(student)
            self._hook = module.register_forward_hook(lambda _m, _i, out: setattr(self, "_hidden", out))
            if cfg.hint_weight:
                width = module.out_channels if hasattr(module, "out_channels") else module.out_features
                self.projector = torch.nn.Linear(width, teacher_hidden.size(1)).to(device)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._hook is not None:
            self._hook.remove()

    def __call__(self, logits: Tensor, batch: Tensor) -> Tensor:
        cfg, data = self.cfg, self.data
        has_soft = self.has_soft[batch]
        loss = distillation_loss(logits, self.soft[batch], cfg.temperature, cfg.alpha, data.y[batch],
                                 data.train_mask[batch], has_soft, self.task, self.class_weight)
        if cfg.needs_representations():
            hidden = self._hidden[batch] if self.full_graph else self._hidden
            rows = has_soft.nonzero().view(-1)
            student_h, teacher_h = hidden[rows], self.teacher_hidden[batch][rows]
            if cfg.hint_weight and rows.numel():
                loss = loss + cfg.hint_weight * hint_loss(self.projector(student_h), teacher_h, cfg.hint_metric)
            if cfg.similarity_weight and rows.numel() > 1:
                loss = loss + cfg.similarity_weight * similarity_loss(student_h, teacher_h)
            if cfg.lsp_weight:
                src, dst = data.edge_index
                edges = data.edge_index[:, self.has_soft[src] & self.has_soft[dst]]
                loss = loss + cfg.lsp_weight * local_structure_loss(self._hidden, self.teacher_hidden, edges)
        if cfg.adversarial_weight and has_soft.any():
            nodes = batch[has_soft]
            loss = loss + cfg.adversarial_weight * adversarial_loss(
                self.student, feature_rows(self.features, nodes), self.soft[nodes], cfg.temperature,
                cfg.adversarial_epsilon, cfg.adversarial_steps)
        return loss
