"""Distillation at OGB scale on a CPU: sampled teacher training, chunked layer-wise inference, MLP students.

The full-batch loops of graphkd.training hold every node's activations of every layer at once, which
does not fit for millions of nodes. Here the teacher trains on sampled neighbourhoods
(:class:`graphkd.large.sampling.NeighborSampler`), its logits for all nodes are computed one layer at a time
over chunks of target nodes (memory bounded by the chunk, exact for GCN, SAGE and GAT), and the MLP
student learns from the stored soft targets in node mini-batches (graphkd.distill.train_student).
"""
from __future__ import annotations

import os
import time

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data
from tqdm.auto import tqdm

from graphkd.distill import DistillConfig, train_student
from graphkd.distill.soft_targets import SoftTargets
from graphkd.errors import GraphkdError
from graphkd.large.sampling import NeighborSampler, k_hop_subgraph, neighbor_loader, seed_batches
from graphkd.models import GCN, count_parameters
from graphkd.training import TrainConfig, accuracy, fit

__all__ = ["evaluate_sampled", "layerwise_inference", "sampled_forward", "teacher_soft_targets",
           "train_sampled", "train_wide_student", "wide_student_config"]


def sampled_forward(model: torch.nn.Module, x: Tensor, sample: Data) -> Tensor:
    """The GNN on a sample, the seeds' outputs only. Layer ``i`` computes just the nodes that still
    feed a seed (hops ``< L - i``), like PyG's ``trim_to_layer``; ``x`` holds the sample's features."""
    hops = len(sample.num_sampled_nodes) - 1
    if hops != model.num_layers:
        raise GraphkdError(f"a {model.num_layers}-layer GNN needs {model.num_layers} sampled hops, got {hops}")
    nodes = torch.tensor(sample.num_sampled_nodes).cumsum(0).tolist()
    edges = [0] + torch.tensor(sample.num_sampled_edges).cumsum(0).tolist()
    h = F.dropout(x, p=model.dropout, training=model.training)
    for i in range(model.num_layers):
        keep = hops - i  # hop groups whose nodes still need an output after this layer
        h = model.layer(i, h[:nodes[keep]], sample.edge_index[:, :edges[keep]])[:nodes[keep - 1]]
    return h


@torch.no_grad()
def evaluate_sampled(model: torch.nn.Module, data: Data, sampler: NeighborSampler, nodes: Tensor,
                     batch_size: int = 4096, seed: int = 0) -> float:
    """Accuracy on ``nodes`` from sampled neighbourhoods, drawn with a fixed seed so epochs compare."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    correct = 0
    for batch in seed_batches(nodes, batch_size, shuffle=False):
        sample = sampler.sample(batch, gen)
        correct += (sampled_forward(model, data.x[sample.n_id], sample).argmax(-1) == data.y[batch]).sum().item()
    return correct / max(nodes.numel(), 1)


def train_sampled(model: torch.nn.Module, data: Data, sampler: NeighborSampler, config: TrainConfig,
                  max_batches: int | None = None, val_nodes: int = 20_000, seed: int = 0, progress: bool = False,
                  checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 1) -> dict:
    """Mini-batch GNN training on sampled neighbourhoods of the training nodes, with early stopping on
    the sampled accuracy of (at most ``val_nodes``) validation nodes; see :func:`graphkd.training.fit`.

    ``max_batches``: stop each epoch after this many batches (``None``: a full pass over the training
    nodes). Returns ``best_val_acc``, ``epochs`` run, ``epoch_seconds`` (training steps only) and
    ``batches_per_epoch``. Batches and neighbours are drawn from torch's global generator (seed it, as for
    dropout, with ``torch.manual_seed``), whose state ``fit``'s checkpoint holds: with ``checkpoint``, an
    interrupted run started again ends bit-identical to an uninterrupted one. ``seed`` fixes the validation
    subset and its sampled neighbourhoods.
    """
    if max_batches is not None and max_batches < 1:
        raise GraphkdError(f"max_batches must be >= 1 or None, got {max_batches}")
    train_idx = data.train_mask.nonzero().view(-1)
    val_idx = data.val_mask.nonzero().view(-1)
    pick = torch.randperm(val_idx.numel(), generator=torch.Generator().manual_seed(seed))[:val_nodes]
    val_idx = val_idx[pick].sort().values
    epoch_seconds, num_batches = [], -(-train_idx.numel() // config.batch_size)
    if max_batches is not None:
        num_batches = min(num_batches, max_batches)

    def step(optimizer):
        start, total, seen, count = time.perf_counter(), 0.0, 0, 0
        batches = neighbor_loader(sampler, train_idx, config.batch_size)  # global generator: checkpointed
        for sample in tqdm(batches, total=num_batches, desc="batches", leave=False, disable=not progress):
            optimizer.zero_grad()
            seeds = sample.n_id[:sample.batch_size]
            loss = F.cross_entropy(sampled_forward(model, data.x[sample.n_id], sample), data.y[seeds])
            loss.backward()
            optimizer.step()
            total, seen, count = total + loss.item() * seeds.numel(), seen + 1, count + seeds.numel()
            if seen == num_batches:
                break
        epoch_seconds.append(time.perf_counter() - start)
        return total / max(count, 1)

    best = fit(model, step, lambda: evaluate_sampled(model, data, sampler, val_idx, seed=seed), config,
               desc=f"{model.kind} teacher", progress=progress, checkpoint=checkpoint,
               checkpoint_every=checkpoint_every)
    return {"best_val_acc": best, "epochs": len(epoch_seconds), "epoch_seconds": epoch_seconds,
            "batches_per_epoch": num_batches}


def _gcn_source_scale(sample: Data, sampler: NeighborSampler, has_self_loop: Tensor) -> Tensor:
    """Per-node factor ``sqrt(deg_chunk / deg_full)``: GCNConv normalises each edge by its source's
    degree, which a 1-hop chunk undercounts; the conv is linear in ``x``, so rescaling the sources'
    inputs restores the full-graph weights exactly (targets have all their in-edges: factor 1)."""
    n_id = sample.n_id
    loop = has_self_loop[n_id]
    loop_in_chunk = loop & (torch.arange(n_id.numel()) < sample.batch_size)
    chunk_degree = torch.bincount(sample.edge_index[1], minlength=n_id.numel()) + (~loop_in_chunk).long()
    full_degree = sampler.degree(n_id) + (~loop).long()
    return (chunk_degree.double() / full_degree.double()).sqrt().float().unsqueeze(1)


@torch.no_grad()
def layerwise_inference(model: torch.nn.Module, data: Data, sampler: NeighborSampler, chunk_size: int = 8192,
                        progress: bool = False) -> Tensor:
    """Eval-mode logits for every node, one layer at a time over chunks of ``chunk_size`` target nodes
    with their incoming edges: memory is one layer's activations plus one chunk's messages."""
    if chunk_size < 1:
        raise GraphkdError(f"chunk_size must be >= 1, got {chunk_size}")
    model.eval()
    has_self_loop = None
    if isinstance(model, GCN):
        has_self_loop = torch.zeros(data.num_nodes, dtype=torch.bool)
        is_loop = data.edge_index[0] == data.edge_index[1]
        has_self_loop[data.edge_index[0][is_loop]] = True
    h = data.x
    chunks = torch.arange(data.num_nodes).split(chunk_size)
    for i in range(model.num_layers):
        out = None
        for targets in tqdm(chunks, desc=f"layer {i + 1}/{model.num_layers}", leave=False, disable=not progress):
            sample = k_hop_subgraph(sampler, targets, num_hops=1)
            h_chunk = h[sample.n_id]
            if has_self_loop is not None:
                h_chunk = h_chunk * _gcn_source_scale(sample, sampler, has_self_loop)
            result = model.layer(i, h_chunk, sample.edge_index)[:sample.batch_size]
            if out is None:
                out = result.new_empty(data.num_nodes, result.size(1))
            out[targets] = result
        h = out
    return h


def teacher_soft_targets(model: torch.nn.Module, data: Data, sampler: NeighborSampler, chunk_size: int = 8192,
                         progress: bool = False, **meta) -> SoftTargets:
    """Soft targets for every node from chunked layer-wise inference, with the teacher's val/test accuracy."""
    logits = layerwise_inference(model, data, sampler, chunk_size, progress)
    scores = {f"teacher_{name}_acc": accuracy(logits[mask], data.y[mask])
              for name, mask in (("train", data.train_mask), ("val", data.val_mask), ("test", data.test_mask))}
    return SoftTargets.from_logits([logits], data, "all", teachers=[model.config()],
                                   params=count_parameters(model), **scores, **meta)


def wide_student_config(**overrides) -> DistillConfig:
    """GLNN's OGB student recipe (anchors.md): 3 x 1024 MLP with batch norm, dropout 0.2, batches of 4096,
    soft targets only (T = 1, alpha = 0); ``overrides`` replace any DistillConfig field."""
    recipe = dict(student="mlp", student_layers=3, student_hidden=1024, student_dropout=0.2,
                  student_batch_norm=True, temperature=1.0, alpha=0.0, lr=0.001, batch_size=4096)
    return DistillConfig(**{**recipe, **overrides})


def train_wide_student(data: Data, targets: SoftTargets | None, config: DistillConfig | None = None, seed: int = 0,
                       progress: bool = False) -> torch.nn.Module:
    """An MLP student trained in node mini-batches on stored soft targets (``targets=None``: on the
    training labels alone, the baseline), via :func:`graphkd.distill.train_student`."""
    return train_student(config or wide_student_config(), data, targets, seed, "mlp", progress)
