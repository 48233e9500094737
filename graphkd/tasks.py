"""The task a graph's labels pose and the metric that scores it.

Three tasks: ``multiclass`` (labels ``[num_nodes]`` of class ids, scored by accuracy by default, macro-F1
available), ``binary`` (the same with exactly the classes 0 and 1; ROC-AUC by default as in Platonov et al.
and OGB, average precision or accuracy available) and ``multilabel`` (labels ``[num_nodes, num_labels]`` of
0/1; ROC-AUC averaged over the labels by default, as ogbn-proteins' Evaluator). A binary task keeps two
outputs and a softmax, so soft targets, losses and serving are the multiclass ones; a multi-label task has
one output per label read through a sigmoid.

The rule that reads the task from labels (:func:`infer_task`): two-dimensional labels are multi-label;
one-dimensional labels whose labelled values are exactly {0, 1} are binary; other class ids are multiclass.

Metrics are scikit-learn's (``roc_auc_score``, ``average_precision_score``, ``f1_score``): the reference
implementations whose tie handling everyone's published numbers share. Accuracy is a one-line comparison;
OGB's datasets are scored by ``ogb``'s own ``Evaluator`` (``Task.ogb_name``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from graphkd.errors import GraphkdError

__all__ = ["METRICS", "TASKS", "Task", "class_weights", "infer_task", "majority_rate", "metric_key", "metric_title",
           "predicted_share", "split_scores", "task_for", "task_of", "warn_if_collapsed"]

TASKS = ("multiclass", "binary", "multilabel")
# Each task's metrics, its default first.
METRICS = {"multiclass": ("accuracy", "macro_f1"),
           "binary": ("roc_auc", "average_precision", "accuracy"),
           "multilabel": ("roc_auc", "average_precision")}
# The short name each metric has in result keys (``test_acc``, ``test_roc_auc``): accuracy's is the one every
# result graphkd wrote before tasks existed uses.
_KEYS = {"accuracy": "acc", "macro_f1": "macro_f1", "roc_auc": "roc_auc", "average_precision": "ap"}
_TITLES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "roc_auc": "ROC-AUC", "average_precision": "AP"}
# A model that gives one class to at least this share of nodes has collapsed onto it (on Tolokers every model
# trained for accuracy predicts the majority class for all nodes).
COLLAPSE_SHARE = 0.98


@dataclass(frozen=True)
class Task:
    """A node-classification task and the metric that scores it (``None``: the task's default).
    ``ogb_name``: an OGB dataset whose own ``Evaluator`` scores it."""

    kind: str = "multiclass"
    metric: str | None = None
    ogb_name: str | None = None

    def __post_init__(self):
        if self.kind not in TASKS:
            raise GraphkdError(f"unknown task {self.kind!r}; valid: {', '.join(TASKS)}")
        if self.metric is None:
            object.__setattr__(self, "metric", METRICS[self.kind][0])
        if self.metric not in METRICS[self.kind]:
            raise GraphkdError(f"metric {self.metric!r} does not score a {self.kind} task; valid: "
                               f"{', '.join(METRICS[self.kind])}")

    @property
    def key(self) -> str:
        """The metric's name in result keys: ``val_<key>``, ``test_<key>``."""
        return _KEYS[self.metric]

    @property
    def title(self) -> str:
        return metric_title(self.metric)

    @property
    def multilabel(self) -> bool:
        return self.kind == "multilabel"

    def num_outputs(self, y: Tensor) -> int:
        """Model outputs the labels need: one per class, or one per label."""
        return y.size(1) if self.multilabel else int(y.max()) + 1

    def probabilities(self, logits: Tensor, temperature: float = 1.0) -> Tensor:
        """``softmax(logits / T)`` over classes, or ``sigmoid(logits / T)`` per label."""
        scaled = logits / temperature
        return scaled.sigmoid() if self.multilabel else scaled.softmax(dim=-1)

    def hard_loss(self, logits: Tensor, y: Tensor, class_weight: Tensor | None = None) -> Tensor:
        """Cross-entropy with the labels (``class_weight``: per class, for imbalanced classes), or binary
        cross-entropy averaged over nodes and labels (``class_weight``: per label, the positives' weight)."""
        if self.multilabel:
            return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), pos_weight=class_weight)
        return F.cross_entropy(logits, y, weight=class_weight)

    def score(self, scores: Tensor, y: Tensor) -> float:
        """The metric of ``scores`` (logits or probabilities, ``[n, C]`` or ``[n, num_labels]``) against ``y``."""
        if scores.size(0) != y.size(0):
            raise GraphkdError(f"{scores.size(0)} score rows for {y.size(0)} labels")
        if not y.numel():
            raise GraphkdError(f"no node to score {self.title} on")
        scores, y = scores.detach().cpu(), y.cpu()  # scikit-learn and OGB's Evaluator read NumPy arrays
        if self.ogb_name is not None:
            return _ogb_score(self, scores, y)
        if self.metric == "accuracy":
            return (scores.argmax(dim=-1) == y).float().mean().item()
        from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

        if self.metric == "macro_f1":
            classes = np.arange(scores.size(1))
            return float(f1_score(y.numpy(), scores.argmax(dim=-1).numpy(), labels=classes, average="macro",
                                  zero_division=0))
        rank = roc_auc_score if self.metric == "roc_auc" else average_precision_score
        if not self.multilabel:  # a binary task's two outputs: rank by the positive class's margin
            return float(_ranked(rank, y.numpy(), (scores[:, 1] - scores[:, 0]).double().numpy(), self.title))
        # Per label, over the labels whose nodes here hold both values, then averaged, as OGB's evaluator does.
        truth, ranks = y.numpy(), scores.double().numpy()
        scored = [j for j in range(truth.shape[1]) if 0 < truth[:, j].sum() < truth.shape[0]]
        if not scored:
            raise GraphkdError(f"{self.title} needs positive and negative nodes, and no label has both here")
        return float(np.mean([rank(truth[:, j], ranks[:, j]) for j in scored]))

    def describe(self) -> str:
        return f"{self.kind}, {self.title}"

    def check_scorable(self, data) -> None:
        """Refuse, before anything trains, validation or test nodes this metric cannot score: a ranking metric
        (ROC-AUC, AP) needs positive and negative nodes in each (for multi-label, in at least one label)."""
        if self.metric not in ("roc_auc", "average_precision"):
            return
        for part in ("val", "test"):
            y = data.y[data[f"{part}_mask"]]
            y = y if self.multilabel else y.view(-1, 1)
            positives = y.sum(0)
            if not ((positives > 0) & (positives < y.size(0))).any():
                held = "no label with both values" if self.multilabel else f"{y.size(0)} node(s), all of one class"
                alternative = "" if self.multilabel else ", or score by metric='accuracy'"
                raise GraphkdError(f"{self.title} ranks positive against negative nodes, and data.{part}_mask holds "
                                   f"{held}: give it nodes of both{alternative}")


def _ranked(rank, truth: np.ndarray, margin: np.ndarray, title: str) -> float:
    if truth.min() == truth.max():
        raise GraphkdError(f"{title} needs positive and negative nodes, and these are all {int(truth[0])}")
    return rank(truth, margin)


def _ogb_score(task: Task, scores: Tensor, y: Tensor) -> float:
    from ogb.nodeproppred import Evaluator

    evaluator = Evaluator(task.ogb_name)
    if evaluator.eval_metric == "acc":
        prediction = scores.argmax(dim=-1, keepdim=True)
        return float(evaluator.eval({"y_true": y.view(-1, 1), "y_pred": prediction})["acc"])
    return float(evaluator.eval({"y_true": y, "y_pred": scores})[evaluator.eval_metric])


def metric_title(metric: str) -> str:
    """A metric's name in tables and messages (``roc_auc`` -> ``ROC-AUC``)."""
    metric_key(metric)
    return _TITLES[metric]


def metric_key(metric: str) -> str:
    """A metric's short name in result keys (``accuracy`` -> ``acc``)."""
    if metric not in _KEYS:
        raise GraphkdError(f"unknown metric {metric!r}; valid: {', '.join(_KEYS)}")
    return _KEYS[metric]


def infer_task(y: Tensor) -> str:
    """The task ``y`` poses: ``multilabel`` when two-dimensional, ``binary`` when its labelled values (-1 marks
    an unlabelled node) are exactly 0 and 1, ``multiclass`` otherwise."""
    if y.dim() == 2:
        return "multilabel"
    labelled = y[y >= 0] if not y.is_floating_point() else y
    return "binary" if labelled.numel() and set(labelled.unique().tolist()) == {0, 1} else "multiclass"


def task_for(y: Tensor, kind: str | None = None, metric: str | None = None, ogb_name: str | None = None) -> Task:
    """The task of labels ``y``: ``kind`` as given (refused when the labels cannot be that task), else read
    from them (:func:`infer_task`); ``metric`` as given, else the task's default."""
    found = infer_task(y)
    kind = found if kind is None else kind
    if kind not in TASKS:
        raise GraphkdError(f"unknown task {kind!r}; valid: {', '.join(TASKS)}")
    if (kind == "multilabel") != (found == "multilabel") or (kind == "binary" and found != "binary"):
        shape = "[num_nodes, num_labels] of 0/1" if kind == "multilabel" else (
            "[num_nodes] of 0/1" if kind == "binary" else "[num_nodes] of class ids")
        raise GraphkdError(f"task {kind!r} needs labels {shape}, but data.y {tuple(y.shape)} reads as {found!r}")
    return Task(kind, metric, ogb_name)


def task_of(data) -> Task:
    """The task a graph was loaded or run with (``data.task``, recorded by ``load_dataset`` and
    ``run_distillation``), else the one its labels pose (:func:`task_for`)."""
    task = getattr(data, "task", None)
    return task if isinstance(task, Task) else task_for(data.y)


def split_scores(scores: Tensor, data, prefix: str = "") -> dict[str, float]:
    """``{prefix}val_<metric>`` and ``{prefix}test_<metric>`` of full-graph ``scores`` (logits or
    probabilities) on ``data``'s validation and test nodes, by the graph's task (:func:`task_of`)."""
    task = task_of(data)
    return {f"{prefix}{part}_{task.key}": task.score(scores[data[f"{part}_mask"]], data.y[data[f"{part}_mask"]])
            for part in ("val", "test")}


def majority_rate(y: Tensor) -> float:
    """The share of the most common class among labels ``y`` (for multi-label, of the most common value over
    all labels): what a model that always predicts it scores in accuracy."""
    if y.dim() == 2:
        positive = y.float().mean().item()
        return max(positive, 1 - positive)
    return torch.bincount(y).max().item() / y.numel()


def predicted_share(scores: Tensor) -> float:
    """The share of nodes given the most often predicted class (``scores``: ``[n, C]``)."""
    return torch.bincount(scores.argmax(dim=-1), minlength=scores.size(1)).max().item() / max(scores.size(0), 1)


def warn_if_collapsed(name: str, task: Task, scores: Tensor) -> bool:
    """Warn (and return True) when ``name`` predicts one class for nearly every node: the majority-class
    collapse an accuracy on imbalanced labels hides."""
    if task.multilabel or scores.size(0) < 20:
        return False
    share = predicted_share(scores)
    if share < COLLAPSE_SHARE:
        return False
    warnings.warn(f"{name} predicts one class for {share:.1%} of the nodes: on imbalanced labels it has collapsed "
                  f"onto the majority class; its {task.title} says how well it ranks, and class_weights=True "
                  "weighs the rare classes up in the hard-label term", stacklevel=2)
    return True


def class_weights(task: Task, y: Tensor) -> Tensor:
    """Weights for the hard-label term from the training labels ``y``: per class ``n / (C * n_c)``
    (scikit-learn's "balanced"), or per label the positives' weight ``n_negative / n_positive``."""
    if task.multilabel:
        positives = y.float().sum(0)
        if (positives == 0).any():
            raise GraphkdError(f"label(s) {(positives == 0).nonzero().view(-1).tolist()[:10]} have no positive "
                               "training node: no weight can balance them")
        return (y.size(0) - positives) / positives
    counts = torch.bincount(y, minlength=int(y.max()) + 1).float()
    return torch.where(counts > 0, y.numel() / (counts.numel() * counts.clamp_min(1)), torch.zeros_like(counts))
