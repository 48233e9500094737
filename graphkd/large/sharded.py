"""Soft targets by sharded inference: each rank computes its node range layer by layer and writes a shard.

Rank ``r`` of ``W`` owns the contiguous nodes of :func:`graphkd.training.distributed.node_range` (boundaries on
chunk multiples, so its chunks are exactly those one process would compute: the logits are bit-identical to
:func:`graphkd.large.scale.layerwise_inference`). After each layer every rank writes its rows to a file and
reads the next layer's inputs, its chunks' 1-hop neighbours, from all ranks' files memory-mapped. The last
layer's files are the shards; rank 0 writes ``manifest.json`` last, atomically, listing each shard with its
node range and sha256 and what it was made from. A student reads the shards it needs through the manifest,
checking their hashes. ``folder`` must be one that every rank sees (a shared filesystem across machines).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphkd.distill.soft_targets import SoftTargets, graph_fingerprint
from graphkd.errors import GraphkdError, parse_json
from graphkd.io import atomic_save, atomic_write_text, file_sha256
from graphkd.large.sampling import NeighborSampler
from graphkd.large.scale import gcn_self_loops, inference_layer, soft_targets_of
from graphkd.training.distributed import barrier, gather_objects, is_rank_zero, node_range, rank, world_size

__all__ = ["MANIFEST", "ShardedRows", "read_logits", "read_soft_targets", "sharded_inference"]

MANIFEST = "manifest.json"
FORMAT = "graphkd-sharded-logits-v1"


class ShardedRows:
    """Rows of a ``[num_nodes, d]`` matrix stored as contiguous node ranges: ``rows[node_ids]`` gathers them,
    touching only the pages that hold them when the parts are memory-mapped."""

    def __init__(self, parts: list[tuple[int, int, Tensor]]):
        self.parts = sorted(parts, key=lambda part: part[0])
        self.starts = torch.tensor([start for start, _, _ in self.parts])

    def __getitem__(self, nodes: Tensor) -> Tensor:
        owner = torch.bucketize(nodes, self.starts, right=True) - 1
        first = self.parts[0][2]
        out = first.new_empty(nodes.numel(), first.size(1))
        for k, (start, end, rows) in enumerate(self.parts):
            pick = (owner == k).nonzero().view(-1)
            if pick.numel():
                if bool((nodes[pick] >= end).any()):
                    raise GraphkdError(f"node ids beyond the shards' ranges (a shard ends at {end})")
                out[pick] = rows[nodes[pick] - start]
        return out


def _load_rows(path: Path) -> Tensor:
    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


@torch.no_grad()
def sharded_inference(model: torch.nn.Module, data: Data, sampler: NeighborSampler, folder: str | os.PathLike,
                      chunk_size: int = 8192, progress: bool = False) -> Path:
    """Every rank's share of the eval-mode logits, written as shards under ``folder``; returns the manifest's
    path once rank 0 has written it. Call on every rank with the same model, graph and ``chunk_size``."""
    if chunk_size < 1:
        raise GraphkdError(f"chunk_size must be >= 1, got {chunk_size}")
    folder, me, parts = Path(folder), rank(), world_size()
    folder.mkdir(parents=True, exist_ok=True)
    start, end = node_range(data.num_nodes, me, parts, align=chunk_size)
    chunks = list(torch.arange(start, end).split(chunk_size))
    model.eval()
    has_self_loop, h = gcn_self_loops(model, data), data.x
    for i in range(model.num_layers):
        last = i == model.num_layers - 1
        out = inference_layer(model, i, h, sampler, chunks, has_self_loop, progress and is_rank_zero())
        name = f"logits-{me}-of-{parts}.pt" if last else f"layer{i + 1}-{me}-of-{parts}.pt"
        atomic_save(out if out is not None else torch.empty(0, 0), folder / name)  # a rank may own no nodes
        barrier()  # every rank's rows of this layer are on disk
        if not last:
            ranges = [node_range(data.num_nodes, r, parts, align=chunk_size) for r in range(parts)]
            h = ShardedRows([(s, e, _load_rows(folder / f"layer{i + 1}-{r}-of-{parts}.pt"))
                             for r, (s, e) in enumerate(ranges) if e > s])
    shard = {"file": name, "start": start, "end": end, "sha256": file_sha256(folder / name)}
    shards = gather_objects(shard)
    barrier()  # no rank reads a layer file any more
    if is_rank_zero():
        for path in folder.glob(f"layer*-of-{parts}.pt"):
            path.unlink()
        manifest = {"format": FORMAT, "num_nodes": data.num_nodes, "graph_fingerprint": graph_fingerprint(data),
                    "teacher": model.config(), "chunk_size": chunk_size, "world_size": parts,
                    "shards": [s for s in shards if s["end"] > s["start"]]}
        atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=1))
    barrier()
    return folder / MANIFEST


def _manifest(path: Path) -> dict:
    if not path.is_file():
        raise GraphkdError(f"no manifest of sharded soft targets at {path} (is the inference finished?)")
    manifest = parse_json(path.read_bytes(), str(path))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise GraphkdError(f"{path} is not a manifest of graphkd sharded logits (format {FORMAT!r})")
    return manifest


def read_logits(manifest_path: str | os.PathLike, nodes: Tensor | None = None) -> Tensor:
    """The logits of ``nodes`` (default: every node), read from the shards that hold them, each checked
    against the sha256 the manifest lists for it."""
    manifest_path = Path(manifest_path)
    manifest = _manifest(manifest_path)
    nodes = torch.arange(manifest["num_nodes"]) if nodes is None else nodes.long().view(-1)
    if nodes.numel() and (nodes.min() < 0 or nodes.max() >= manifest["num_nodes"]):
        raise GraphkdError(f"node ids must lie in [0, {manifest['num_nodes']}) for {manifest_path}")
    parts = []
    for shard in manifest["shards"]:
        if not ((nodes >= shard["start"]) & (nodes < shard["end"])).any():
            continue  # a shard none of the nodes are in is never opened
        path = manifest_path.parent / shard["file"]
        if file_sha256(path) != shard["sha256"]:
            raise GraphkdError(f"shard {path} is missing or differs from the one {manifest_path} lists "
                               "(its sha256 differs); run the inference again")
        parts.append((shard["start"], shard["end"], _load_rows(path)))
    if not parts:
        raise GraphkdError(f"{manifest_path} lists no shard holding the requested nodes")
    return ShardedRows(parts)[nodes]


def read_soft_targets(manifest_path: str | os.PathLike, model: torch.nn.Module, data: Data, **meta) -> SoftTargets:
    """Soft targets for every node of ``data`` from the shards, refused if they were made for another graph."""
    manifest = _manifest(Path(manifest_path))
    if manifest["graph_fingerprint"] != graph_fingerprint(data):
        raise GraphkdError(f"{manifest_path} was made for another graph (its graph fingerprint differs)")
    return soft_targets_of(model, data, read_logits(manifest_path), **meta)
