"""Compressing the teacher itself: the baselines a user weighs against distillation.

* :func:`quantize_int8`: dynamic int8 quantization of every linear layer (PyG convs wrap their own
  ``Linear``, which ``quantize_dynamic`` does not recognise, so those are swapped for ``torch.nn.Linear``
  first). Message passing, attention vectors and biases stay float.
* :func:`half_width_config`: the same teacher at half the hidden width (retrain it from the config).
* :func:`prune`: iterative pruning, Optimal Brain Damage (LeCun et al., 1990) or magnitude. Starting from
  a trained model, each round scores every unpruned weight (OBD: s_k = h_kk w_k^2 / 2 with h_kk the
  Hessian diagonal of the training loss; magnitude: |w_k|), zeroes the lowest scores, and retrains with
  the masks held fixed, until the target sparsity. Only weight matrices (2-d ``*weight`` tensors) are
  pruned; biases, norms and attention vectors are left alone.
"""
from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn.dense.linear import Linear as PyGLinear
from tqdm.auto import tqdm

from graphkd.checks import check_choice
from graphkd.errors import GraphkdError
from graphkd.tasks import task_of
from graphkd.training import TrainConfig, cross_entropy_on, fit, validation_score

__all__ = ["PruneConfig", "exact_hessian_diagonal", "half_width_config", "hutchinson_hessian_diagonal",
           "obd_saliency", "prunable_weights", "prune", "prune_lowest", "quantize_int8", "sparsity"]

CRITERIA = ("obd", "magnitude")
HESSIAN_METHODS = ("hutchinson", "exact")


def quantize_int8(model: torch.nn.Module) -> tuple[torch.nn.Module, list[str]]:
    """A copy of ``model`` with int8 dynamic quantization of all its linear layers, and the names of the
    layers quantized (weights int8, activations quantized on the fly; CPU only)."""
    model = copy.deepcopy(model).eval()
    for module in list(model.modules()):
        for child_name, child in module.named_children():
            if isinstance(child, PyGLinear) and not isinstance(child, torch.nn.Linear):
                lin = torch.nn.Linear(child.in_channels, child.out_channels, bias=child.bias is not None)
                lin.load_state_dict(child.state_dict())
                setattr(module, child_name, lin)
    names = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    if not names:
        raise GraphkdError(f"{type(model).__name__} has no linear layers to quantize")
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated but is what ships with torch
        warnings.simplefilter("ignore")
        quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return quantized, names


def half_width_config(config: dict) -> dict:
    """``model.config()`` with half the hidden width (kept a multiple of GAT's heads); build and retrain it."""
    if "hidden_channels" not in config:
        raise GraphkdError("config has no hidden_channels; pass model.config()")
    step = config.get("heads", 1)
    return {**config, "hidden_channels": max(step, config["hidden_channels"] // 2 // step * step)}


def prunable_weights(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """The weight matrices pruning acts on: 2-d parameters named ``*weight``."""
    weights = {n: p for n, p in model.named_parameters() if p.dim() == 2 and n.endswith("weight")}
    if not weights:
        raise GraphkdError(f"{type(model).__name__} has no weight matrices to prune")
    return weights


def sparsity(model: torch.nn.Module) -> float:
    """Fraction of the prunable weights that are exactly zero."""
    weights = list(prunable_weights(model).values())
    return sum((w == 0).sum().item() for w in weights) / sum(w.numel() for w in weights)


def exact_hessian_diagonal(loss_fn: Callable[[], Tensor], params: list[Tensor]) -> list[Tensor]:
    """The exact Hessian diagonal of ``loss_fn()`` by double backprop, one backward per parameter entry
    (tiny models only)."""
    grads = torch.autograd.grad(loss_fn(), params, create_graph=True)
    diag = []
    for p, g in zip(params, grads, strict=True):
        g = g.reshape(-1)
        d = torch.empty(g.numel())
        for k in range(g.numel()):
            d[k] = torch.autograd.grad(g[k], p, retain_graph=True)[0].reshape(-1)[k]
        diag.append(d.view_as(p))
    return diag


def hutchinson_hessian_diagonal(loss_fn: Callable[[], Tensor], params: list[Tensor], samples: int = 32,
                                seed: int = 0) -> list[Tensor]:
    """Hutchinson's estimator diag(H) ~ E[v * Hv] over Rademacher vectors v, with Hessian-vector products
    by double backprop; unbiased, one backward per sample."""
    if samples < 1:
        raise GraphkdError(f"samples must be >= 1, got {samples}")
    gen = torch.Generator().manual_seed(seed)
    grads = torch.autograd.grad(loss_fn(), params, create_graph=True)
    diag = [torch.zeros_like(p) for p in params]
    for i in range(samples):
        vs = [torch.randint(0, 2, p.shape, generator=gen).to(p.dtype) * 2 - 1 for p in params]
        hvs = torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=i < samples - 1)
        for d, v, hv in zip(diag, vs, hvs, strict=True):
            d += v * hv / samples
    return diag


def obd_saliency(weights: list[Tensor], hessian_diag: list[Tensor]) -> list[Tensor]:
    """OBD saliency s_k = h_kk * w_k^2 / 2: the loss increase from deleting w_k, to second order at a
    minimum, ignoring off-diagonal terms."""
    return [h * w.detach() ** 2 / 2 for w, h in zip(weights, hessian_diag, strict=True)]


@torch.no_grad()
def prune_lowest(weights: list[Tensor], masks: list[Tensor], scores: list[Tensor], target: float) -> list[Tensor]:
    """Zero the lowest-scoring weights so that a fraction ``target`` of all of them (one global ranking)
    is pruned; weights already masked stay pruned. Updates ``weights`` in place, returns the new masks."""
    if not 0 <= target < 1:
        raise GraphkdError(f"target sparsity must be in [0, 1), got {target}")
    flat = torch.cat([torch.where(m, s, torch.full_like(s, -float("inf"))).reshape(-1)
                      for s, m in zip(scores, masks, strict=True)])
    drop = torch.zeros(flat.numel(), dtype=torch.bool)
    drop[torch.topk(flat, round(target * flat.numel()), largest=False).indices] = True
    new_masks, offset = [], 0
    for w, m in zip(weights, masks, strict=True):
        keep = m & ~drop[offset:offset + w.numel()].view_as(m)
        w.mul_(keep)
        new_masks.append(keep)
        offset += w.numel()
    return new_masks


@dataclass
class PruneConfig:
    """``criterion`` obd or magnitude; ``rounds`` prune-retrain rounds reaching ``target_sparsity`` in equal
    steps; the Hessian diagonal is ``hessian`` (hutchinson with ``hessian_samples`` probes, or exact)."""

    criterion: str = "obd"
    target_sparsity: float = 0.8
    rounds: int = 4
    hessian: str = "hutchinson"
    hessian_samples: int = 32
    retrain: TrainConfig | None = None

    def __post_init__(self):
        check_choice("criterion", self.criterion, list(CRITERIA))
        check_choice("hessian", self.hessian, list(HESSIAN_METHODS))
        if not 0 < self.target_sparsity < 1:
            raise GraphkdError(f"target_sparsity must be in (0, 1), got {self.target_sparsity}")
        if self.rounds < 1:
            raise GraphkdError(f"rounds must be >= 1, got {self.rounds}")
        self.retrain = self.retrain or TrainConfig(epochs=100, patience=20)


def _training_loss(model: torch.nn.Module, data: Data) -> Callable[[], Tensor]:
    """Full-batch hard-label loss of the graph's task on the training nodes, in eval mode so the loss (and its
    Hessian) is deterministic."""
    train_loss = cross_entropy_on(data.train_mask, data.y, task_of(data))

    def loss():
        model.eval()
        return train_loss(model(data.x, data.edge_index))
    return loss


def prune(model: torch.nn.Module, data: Data, config: PruneConfig, progress: bool = False) -> list[dict]:
    """Prune a trained ``model`` in place (see the module doc); returns one record per round with the
    sparsity reached and the validation metric after retraining (``val_acc`` for accuracy; see
    :mod:`graphkd.tasks`). Weights that are already zero stay pruned, so calling it again on a pruned model
    continues from its masks."""
    weights = list(prunable_weights(model).values())
    masks = [w.detach() != 0 for w in weights]  # weights already zero count as pruned: rounds can resume
    loss_fn = _training_loss(model, data)
    train_loss = cross_entropy_on(data.train_mask, data.y, task_of(data))
    val_score, key = validation_score(model, data), f"val_{task_of(data).key}"

    def step(optimizer):  # one full-batch step; re-applying the masks keeps pruned weights at zero
        model.train()
        optimizer.zero_grad()
        loss = train_loss(model(data.x, data.edge_index))
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for w, m in zip(weights, masks, strict=True):
                w.mul_(m)
        return loss.item()

    history = []
    for r in tqdm(range(1, config.rounds + 1), desc=f"{config.criterion} pruning", disable=not progress):
        if config.criterion == "magnitude":
            scores = [w.detach().abs() for w in weights]
        elif config.hessian == "exact":
            scores = obd_saliency(weights, exact_hessian_diagonal(loss_fn, weights))
        else:
            scores = obd_saliency(weights, hutchinson_hessian_diagonal(loss_fn, weights,
                                                                      config.hessian_samples, seed=r))
        masks[:] = prune_lowest(weights, masks, scores, config.target_sparsity * r / config.rounds)
        best = fit(model, step, val_score, config.retrain, desc=f"retrain {r}")
        history.append({"round": r, "sparsity": sparsity(model), key: best})
    model.eval()
    return history
