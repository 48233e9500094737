"""Distillation at OGB scale on a CPU: sampled teacher training, chunked layer-wise inference, MLP students.

On a GPU too: the graph, its CSR and the sampling stay on the CPU, and each sample's features and edges (each
chunk's, in inference) move to the device the model is on, as PyG's loaders do; logits come back to the CPU.

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

from graphkd.device import module_device
from graphkd.distill import DistillConfig, train_student
from graphkd.distill.soft_targets import SoftTargets
from graphkd.errors import GraphkdError
from graphkd.large.sampling import NeighborSampler, k_hop_subgraph, neighbor_loader, seed_batches
from graphkd.models import GCN, count_parameters
from graphkd.tasks import task_of
from graphkd.training import TrainConfig, fit
from graphkd.training.ddp import distributed_model, validation_accuracy
from graphkd.training.distributed import rank, rank_batches, reseed_per_rank, sync_epoch_end

__all__ = ["SampledGNN", "evaluate_sampled", "gcn_self_loops", "inference_layer", "layerwise_inference",
           "sampled_forward", "soft_targets_of", "teacher_soft_targets", "train_sampled", "train_wide_student",
           "wide_student_config"]


def sampled_forward(model: torch.nn.Module, x: Tensor, sample: Data) -> Tensor:
    """The GNN on a sample, the seeds' outputs only. Layer ``i`` computes just the nodes that still
    feed a seed (hops ``< L - i``), like PyG's ``trim_to_layer``; ``x`` holds the sample's features. Both move
    to the model's device; the outputs stay there."""
    hops = len(sample.num_sampled_nodes) - 1
    if hops != model.num_layers:
        raise GraphkdError(f"a {model.num_layers}-layer GNN needs {model.num_layers} sampled hops, got {hops}")
    nodes = torch.tensor(sample.num_sampled_nodes).cumsum(0).tolist()
    edges = [0] + torch.tensor(sample.num_sampled_edges).cumsum(0).tolist()
    device = module_device(model)
    edge_index = sample.edge_index.to(device)
    h = F.dropout(x.to(device), p=model.dropout, training=model.training)
    for i in range(model.num_layers):
        keep = hops - i  # hop groups whose nodes still need an output after this layer
        h = model.layer(i, h[:nodes[keep]], edge_index[:, :edges[keep]])[:nodes[keep - 1]]
    return h


class SampledGNN(torch.nn.Module):
    """:func:`sampled_forward` as a module's forward, so DDP can wrap it (DDP syncs what runs through forward)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, sample: Data) -> Tensor:
        return sampled_forward(self.model, x, sample)


@torch.no_grad()
def evaluate_sampled(model: torch.nn.Module, data: Data, sampler: NeighborSampler, nodes: Tensor,
                     batch_size: int = 4096, seed: int = 0) -> float:
    """The graph's metric (:mod:`graphkd.tasks`) on ``nodes`` from sampled neighbourhoods, drawn with a fixed seed
    so epochs compare. Under torchrun, for accuracy, each rank scores its share of ``nodes`` (its own seed,
    ``seed + rank``) and the counts are summed; a ranking metric (ROC-AUC) is no sum over nodes, so every rank
    scores all of them with one seed, and all get the same number."""
    model.eval()
    task = task_of(data)
    if task.metric != "accuracy":
        gen = torch.Generator().manual_seed(seed)
        logits = [sampled_forward(model, data.x[sample.n_id], sample).cpu() for sample in
                  (sampler.sample(batch, gen) for batch in seed_batches(nodes, batch_size, shuffle=False))]
        return task.score(torch.cat(logits), data.y[nodes])
    gen = torch.Generator().manual_seed(seed + rank())

    def correct_on(part: Tensor) -> int:
        correct = 0
        for batch in seed_batches(part, batch_size, shuffle=False):
            sample = sampler.sample(batch, gen)
            predicted = sampled_forward(model, data.x[sample.n_id], sample).argmax(-1).cpu()
            correct += (predicted == data.y[batch]).sum().item()
        return correct

    return validation_accuracy(correct_on, nodes)


def train_sampled(model: torch.nn.Module, data: Data, sampler: NeighborSampler, config: TrainConfig,
                  max_batches: int | None = None, val_nodes: int = 20_000, seed: int = 0, progress: bool = False,
                  checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 1) -> dict:
    """Mini-batch GNN training on sampled neighbourhoods of the training nodes, with early stopping on
    the sampled validation metric of (at most ``val_nodes``) validation nodes (:func:`evaluate_sampled`); see
    :func:`graphkd.training.fit`.

    ``max_batches``: stop each epoch after this many batches (``None``: a full pass over the training
    nodes). Returns ``best_val_acc``, ``epochs`` run, ``epoch_seconds`` (training steps only) and
    ``batches_per_epoch``. Batches and neighbours are drawn from torch's global generator (seed it, as for
    dropout, with ``torch.manual_seed``), whose state ``fit``'s checkpoint holds: with ``checkpoint``, an
    interrupted run started again ends bit-identical to an uninterrupted one. ``seed`` fixes the validation
    subset and its sampled neighbourhoods.

    Under torchrun (a process group is initialised) the model trains with DistributedDataParallel: each
    global batch of seed nodes is split over the ranks, each rank samples its own seeds' neighbourhoods
    (:func:`graphkd.training.distributed.rank_batches`), and rank 0 alone writes the checkpoint.
    """
    if max_batches is not None and max_batches < 1:
        raise GraphkdError(f"max_batches must be >= 1 or None, got {max_batches}")
    train_idx = data.train_mask.nonzero().view(-1)
    val_idx = data.val_mask.nonzero().view(-1)
    pick = torch.randperm(val_idx.numel(), generator=torch.Generator().manual_seed(seed))[:val_nodes]
    val_idx = val_idx[pick].sort().values
    epoch_seconds, num_batches, task = [], -(-train_idx.numel() // config.batch_size), task_of(data)
    if max_batches is not None:
        num_batches = min(num_batches, max_batches)
    net = SampledGNN(model)
    if torch.distributed.is_initialized():
        net = distributed_model(net)

    def samples():
        """(sample, loss weight) pairs of one epoch: this rank's share under torchrun, else every batch."""
        if not torch.distributed.is_initialized():
            return ((sample, 1.0) for sample in neighbor_loader(sampler, train_idx, config.batch_size))
        batches = rank_batches(train_idx, config.batch_size)
        reseed_per_rank()
        return ((sampler.sample(batch), weight) for batch, weight in batches)

    def step(optimizer):
        start, total, seen, count = time.perf_counter(), 0.0, 0, 0
        for sample, weight in tqdm(samples(), total=num_batches, desc="batches", leave=False, disable=not progress):
            optimizer.zero_grad()
            seeds = sample.n_id[:sample.batch_size]
            logits = net(data.x[sample.n_id], sample)
            loss = task.hard_loss(logits, data.y[seeds].to(logits.device))
            (loss * weight).backward()
            optimizer.step()
            total, seen, count = total + loss.item() * seeds.numel(), seen + 1, count + seeds.numel()
            if seen == num_batches:
                break
        sync_epoch_end(model)
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


def gcn_self_loops(model: torch.nn.Module, data: Data) -> Tensor | None:
    """For a GCN, which nodes have a self loop (its normalisation needs them, see ``_gcn_source_scale``)."""
    if not isinstance(model, GCN):
        return None
    has_self_loop = torch.zeros(data.num_nodes, dtype=torch.bool)
    is_loop = data.edge_index[0] == data.edge_index[1]
    has_self_loop[data.edge_index[0][is_loop]] = True
    return has_self_loop


@torch.no_grad()
def inference_layer(model: torch.nn.Module, layer: int, h, sampler: NeighborSampler, chunks: list[Tensor],
                    has_self_loop: Tensor | None = None, progress: bool = False) -> Tensor:
    """Eval-mode output of ``model``'s layer ``layer`` for the target nodes ``chunks`` (rows in their order),
    each chunk with its incoming edges. ``h``: the previous layer's output for every node, a tensor or any
    object whose ``h[node_ids]`` gives those rows (memory-mapped shards); ``has_self_loop`` from
    :func:`gcn_self_loops`. Each chunk runs on the model's device; the rows returned are on the CPU."""
    out, row, device = None, 0, module_device(model)
    for targets in tqdm(chunks, desc=f"layer {layer + 1}/{model.num_layers}", leave=False, disable=not progress):
        sample = k_hop_subgraph(sampler, targets, num_hops=1)
        # GCN's degree correction scales the conv's input, which in a pre-norm block comes after its norm
        scale = ({"source_scale": _gcn_source_scale(sample, sampler, has_self_loop).to(device)}
                 if has_self_loop is not None else {})
        result = model.layer(layer, h[sample.n_id].to(device), sample.edge_index.to(device),
                             **scale)[:sample.batch_size].cpu()
        if out is None:
            out = result.new_empty(sum(chunk.numel() for chunk in chunks), result.size(1))
        out[row:row + targets.numel()] = result
        row += targets.numel()
    return out


@torch.no_grad()
def layerwise_inference(model: torch.nn.Module, data: Data, sampler: NeighborSampler, chunk_size: int = 8192,
                        progress: bool = False) -> Tensor:
    """Eval-mode logits for every node, one layer at a time over chunks of ``chunk_size`` target nodes
    with their incoming edges: memory is one layer's activations plus one chunk's messages."""
    if chunk_size < 1:
        raise GraphkdError(f"chunk_size must be >= 1, got {chunk_size}")
    model.eval()
    has_self_loop, h = gcn_self_loops(model, data), data.x
    chunks = list(torch.arange(data.num_nodes).split(chunk_size))
    for i in range(model.num_layers):
        h = inference_layer(model, i, h, sampler, chunks, has_self_loop, progress)
    return h


def soft_targets_of(model: torch.nn.Module, data: Data, logits: Tensor, **meta) -> SoftTargets:
    """Soft targets for every node from the teacher's ``logits``, with its train/val/test metric."""
    task = task_of(data)
    scores = {f"teacher_{name}_{task.key}": task.score(logits[mask], data.y[mask])
              for name, mask in (("train", data.train_mask), ("val", data.val_mask), ("test", data.test_mask))}
    return SoftTargets.from_logits([logits], data, "all", teachers=[model.config()],
                                   params=count_parameters(model), **scores, **meta)


def teacher_soft_targets(model: torch.nn.Module, data: Data, sampler: NeighborSampler, chunk_size: int = 8192,
                         progress: bool = False, **meta) -> SoftTargets:
    """Soft targets for every node from chunked layer-wise inference, with the teacher's val/test metric."""
    return soft_targets_of(model, data, layerwise_inference(model, data, sampler, chunk_size, progress), **meta)


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
