"""Soft targets: a teacher's logits (and hidden representations) on the transfer set, stored once,
tempered at any T on demand."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphkd.checks import as_float32, check_temperature, describe, to_float32
from graphkd.errors import GraphkdError, parse_json
from graphkd.io import atomic_save, load_tensors
from graphkd.tasks import task_of

__all__ = ["SoftTargets", "graph_fingerprint", "split_fingerprint", "transfer_nodes"]

TRANSFER_SETS = ("all", "labelled", "unlabelled")


def transfer_nodes(data: Data, transfer: str | Tensor = "all") -> Tensor:
    """Node indices of the transfer set (on the CPU, where soft targets are kept): ``all``, ``labelled`` (train),
    ``unlabelled``, given node indices, or a bool mask over the nodes."""
    if not isinstance(transfer, (str, Tensor)):  # a list or array of node ids
        try:
            transfer = torch.as_tensor(transfer)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise GraphkdError(f"unknown transfer set {transfer!r:.80}; valid: {', '.join(TRANSFER_SETS)}, node ids "
                               "or a bool mask") from exc
    if isinstance(transfer, Tensor):
        transfer = transfer.cpu()
        if transfer.dtype == torch.bool:
            if transfer.shape != (data.num_nodes,):
                raise GraphkdError(f"a transfer mask must be bool of shape [{data.num_nodes}], got "
                                   f"{tuple(transfer.shape)}")
            transfer = transfer.nonzero()
        elif transfer.is_floating_point() or transfer.is_complex():
            raise GraphkdError(f"transfer node indices must be integers (or a bool mask), got {transfer.dtype}")
        index = transfer.long().view(-1)
        if index.numel() == 0 or index.min() < 0 or index.max() >= data.num_nodes:
            raise GraphkdError(f"transfer node indices must be non-empty and lie in [0, {data.num_nodes})")
        return index.unique()
    if transfer == "all":
        return torch.arange(data.num_nodes)
    if transfer == "labelled":
        return data.train_mask.cpu().nonzero().view(-1)
    if transfer == "unlabelled":
        return (~data.train_mask.cpu()).nonzero().view(-1)
    raise GraphkdError(f"unknown transfer set {transfer!r}; valid: {', '.join(TRANSFER_SETS)}, a tensor of node ids "
                       "or a bool mask")


def split_fingerprint(data: Data) -> str:
    """A short hash of the graph's masks: soft targets made for one split must not train on another."""
    h = hashlib.sha256()
    for name in ("train_mask", "val_mask", "test_mask"):
        h.update(getattr(data, name).to(torch.uint8).cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def graph_fingerprint(data: Data) -> str:
    """A short hash of what a model learns from: features, edges, labels and masks. Cached soft targets,
    records and checkpoints carry it, so another graph, or the same graph changed, never reuses them."""
    h = hashlib.sha256()
    for name in ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask"):
        value = data.get(name)
        if value is None:
            continue
        value = value.to_dense() if value.layout != torch.strided else value
        if name == "x" and value.is_floating_point():  # graphkd trains on float32 (prepare_data casts to it)
            value = value.float()
        h.update(f"{name}{tuple(value.shape)}{value.dtype}".encode())
        h.update(value.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


class SoftTargets:
    """Teacher logits ``[num_members, num_transfer_nodes, num_classes]`` for ``node_index``.

    One member for a single teacher, several for an ensemble: :meth:`probs` averages the members'
    tempered distributions, as the primer prescribes. ``hidden`` maps a teacher layer's name to its
    representation ``[num_transfer_nodes, d]`` (for an ensemble, the first member's). ``meta`` records
    dataset, split, seed and the teacher configs; :meth:`content_hash` identifies the numbers.
    """

    def __init__(self, logits: Tensor, node_index: Tensor, meta: dict, hidden: dict[str, Tensor] | None = None):
        if logits.dim() == 2:
            logits = logits.unsqueeze(0)
        if logits.dim() != 3 or logits.size(1) != node_index.numel() or logits.size(2) == 0:
            raise GraphkdError(f"logits must be [members, {node_index.numel()}, classes] with at least one class, got "
                               f"{tuple(logits.shape)}")
        self.logits = to_float32("teacher logits", logits.detach().cpu(), logits=True)
        self.node_index = node_index.long().cpu()
        self.hidden = {}
        for name, h in ({} if hidden is None else hidden).items():
            if not isinstance(h, Tensor) or h.dim() != 2 or h.size(0) != node_index.numel():
                raise GraphkdError(f"teacher hidden representation {name!r} must be [{node_index.numel()}, d], got "
                                   f"{tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__}")
            if h.size(1) == 0:  # a hint, similarity or LSP term on it would compare nothing, without a word
                raise GraphkdError(f"teacher hidden representation {name!r} has no channels {tuple(h.shape)}: the "
                                   "hint, similarity and LSP terms would learn nothing from it; name a layer whose "
                                   "output has at least one channel")
            self.hidden[name] = to_float32(f"teacher hidden representation {name!r}", h.detach().cpu())
        # No stored content hash: the logits may share memory with the caller's tensor, and a hash taken now
        # would go stale when that tensor changes in place. content_hash() hashes what is there when asked.
        self.meta = {key: value for key, value in meta.items() if key != "content_hash"}
        self.meta.setdefault("num_classes", self.logits.size(2))

    @property
    def num_classes(self) -> int:
        """Classes, or for a multi-label teacher, labels."""
        return self.logits.size(2)

    @property
    def multilabel(self) -> bool:
        """Logits of independent labels (read through sigmoids), recorded when made for multi-label labels."""
        return bool(self.meta.get("multilabel", False))

    def content_hash(self) -> str:
        """A short hash of the logits, node ids and representations as they are now."""
        h = hashlib.sha256(self.logits.numpy().tobytes())
        h.update(self.node_index.numpy().tobytes())
        for name in sorted(self.hidden):
            h.update(name.encode())
            h.update(str(tuple(self.hidden[name].shape)).encode())
            h.update(self.hidden[name].contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def probs(self, temperature: float = 1.0) -> Tensor:
        """The soft targets at ``temperature``: ``[num_transfer_nodes, num_classes]``, the members' mean tempered
        softmax, or for a multi-label teacher their mean tempered sigmoid per label."""
        scaled = self.logits / check_temperature(temperature)
        return (scaled.sigmoid() if self.multilabel else scaled.softmax(dim=-1)).mean(dim=0)

    def mean_logits(self) -> Tensor:
        """Member-averaged logits, the target of logit matching."""
        return self.logits.mean(dim=0)

    def dense(self, values: Tensor, num_nodes: int) -> Tensor:
        """Scatter per-transfer-node ``values`` into a ``[num_nodes, ...]`` tensor (zeros elsewhere)."""
        out = values.new_zeros((num_nodes,) + tuple(values.shape[1:]))
        out[self.node_index] = values
        return out

    def check_compatible(self, data: Data, num_classes: int | None = None, features: bool = True) -> None:
        """Refuse soft targets made for another graph, split or label space. ``features=False`` leaves the
        features out of the comparison (a student's input with position features appended)."""
        problems = []
        if self.meta.get("num_nodes") != data.num_nodes:
            problems.append(f"made for {self.meta.get('num_nodes')} nodes, graph has {data.num_nodes}")
        if self.node_index.numel() and self.node_index.max() >= data.num_nodes:
            problems.append("transfer node ids beyond the graph")
        if num_classes is not None and num_classes != self.num_classes:
            problems.append(f"teacher has {self.num_classes} classes, student {num_classes}")
        if self.meta.get("split_fingerprint") != split_fingerprint(data):
            made = (self.meta.get("split"), self.meta.get("split_seed"))
            now = (getattr(data, "split", None), getattr(data, "split_seed", None))
            problems.append(f"made for other train/val/test masks (both are called split {now[0]!r}, seed {now[1]})"
                            if made == now else f"made for split {made[0]!r} (seed {made[1]}), graph has split "
                            f"{now[0]!r} (seed {now[1]})")
        elif features and self.meta.get("graph_fingerprint") != graph_fingerprint(data):
            problems.append("made for other features, edges or labels (or by a graphkd that did not record them)")
        if problems:
            raise GraphkdError("soft targets do not match this graph: " + "; ".join(problems))

    def hidden_layer(self, name: str | None = None) -> Tensor:
        """The stored representation of layer ``name`` (default: the only one stored)."""
        if name is None and len(self.hidden) == 1:
            return next(iter(self.hidden.values()))
        stored = ", ".join(self.hidden) or "none"
        if not self.hidden:  # no name can help: the representation was never kept
            raise GraphkdError("these soft targets hold no teacher representation, which the hint, similarity and "
                               "LSP terms read: capture one with the logits (graphkd.distill.capture(model, data, "
                               "layers=...)), or give a dict with 'hidden'")
        if name is None:
            raise GraphkdError(f"these soft targets hold several teacher representations (stored: {stored}); name "
                               "one with teacher_layer=...")
        if name not in self.hidden:
            raise GraphkdError(f"these soft targets hold no teacher representation {name!r} (stored: {stored}); "
                               "capture it with teacher_layer=...")
        return self.hidden[name]

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_save({"logits": self.logits, "node_index": self.node_index, "hidden": self.hidden,
                            "meta_json": json.dumps({**self.meta, "content_hash": self.content_hash()},
                                                    sort_keys=True)}, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SoftTargets:
        path = Path(path)
        blob = load_tensors(path, "soft-target file")
        if not isinstance(blob, dict) or not {"logits", "node_index", "meta_json"} <= blob.keys():
            raise GraphkdError(f"{path} is not a graphkd soft-target file")
        meta = parse_json(blob["meta_json"], f"{path}: its metadata") if isinstance(blob["meta_json"], str) else None
        hidden = blob.get("hidden")
        if not (isinstance(blob["logits"], Tensor) and isinstance(blob["node_index"], Tensor)
                and not blob["node_index"].is_floating_point() and isinstance(meta, dict)
                and (hidden is None or isinstance(hidden, dict))):
            raise GraphkdError(f"{path} is not a graphkd soft-target file: logits and node_index must be tensors "
                               "(node ids integers), hidden a dict of tensors and meta_json a JSON object")
        targets = cls(blob["logits"], blob["node_index"], meta, hidden)
        stored = meta.get("content_hash")
        if stored != targets.content_hash():
            raise GraphkdError(f"{path}: content hash {targets.content_hash()} differs from the stored {stored!r}")
        return targets

    @classmethod
    def from_logits(cls, member_logits: list[Tensor], data: Data, transfer: str | Tensor = "all",
                    hidden: dict[str, Tensor] | None = None, **meta) -> SoftTargets:
        """Soft targets from full-graph teacher logits (one ``[num_nodes, C]`` tensor per member) and
        optional full-graph hidden representations ``{name: [num_nodes, d]}``."""
        index = transfer_nodes(data, transfer)
        if not (isinstance(member_logits, list | tuple) and member_logits):
            raise GraphkdError("member_logits must be a non-empty list of logits [num_nodes, classes], one per "
                               f"teacher member, got {describe(member_logits)}")
        logits = torch.stack([as_float32("teacher logits", m, logits=True)[index] for m in member_logits])
        meta = {"num_nodes": data.num_nodes, "dataset": getattr(data, "dataset", None),
                "split": getattr(data, "split", None), "split_seed": getattr(data, "split_seed", None),
                "split_fingerprint": split_fingerprint(data), "graph_fingerprint": graph_fingerprint(data),
                "transfer": transfer if isinstance(transfer, str) else "indices", **meta}
        if task_of(data).multilabel:  # only then: the records of every other task stay as they were
            meta["multilabel"] = True
        return cls(logits, index, meta, {name: h[index] for name, h in (hidden or {}).items()})
