"""Platonov et al.'s heterophilous graphs and their ten fixed splits, read from the archives of
yandex-research/heterophilous-graphs (what PyG's ``HeterophilousGraphDataset`` downloads): Roman-empire,
Amazon-ratings, Minesweeper, Tolokers, Questions, and the filtered Chameleon and Squirrel, which PyG has no class
for but which come in the same format.

An archive holds plain arrays, read with ``allow_pickle=False``: ``node_features`` float32 ``[N, F]``,
``node_labels`` int64 ``[N]``, ``edges`` int64 ``[E, 2]`` (each undirected edge stored once) and
``train_masks`` / ``val_masks`` / ``test_masks`` bool ``[10, N]``, one row per split. As in PyG's reader, the edges
get their reverses and the masks become ``[N, 10]``, one column per split; :func:`fixed_split` keeps one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from graphkd.checks import check_seed
from graphkd.data.raw import RawFileError
from graphkd.errors import GraphkdError

__all__ = ["fixed_split", "read_heterophilous"]

_MASKS = {"train_masks": "train_mask", "val_masks": "val_mask", "test_masks": "test_mask"}


def read_heterophilous(path: Path) -> Data:
    """The graph in archive ``path`` with undirected edges and ``[N, num_splits]`` masks; a damaged or foreign
    archive is a :class:`graphkd.data.raw.RawFileError` naming it."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in ("node_features", "node_labels", "edges", *_MASKS)}
    except Exception as exc:  # truncated, corrupt, pickled object arrays, missing keys
        raise RawFileError(f"{path}: not a heterophilous-graphs archive ({type(exc).__name__}: {exc})") from exc
    x, y, edges = arrays["node_features"], arrays["node_labels"], arrays["edges"]
    if x.ndim != 2 or x.dtype.kind not in "biuf" or y.shape != (x.shape[0],) or y.dtype.kind not in "iu":
        raise RawFileError(f"{path}: node_features {x.shape} ({x.dtype}) and node_labels {y.shape} ({y.dtype}) are "
                           "not a numeric [N, F] matrix and N integer labels")
    num_nodes = x.shape[0]
    if edges.ndim != 2 or edges.shape[1] != 2 or edges.dtype.kind not in "iu":
        raise RawFileError(f"{path}: edges must be integer node pairs [E, 2], got {edges.shape} ({edges.dtype})")
    outside = edges[(edges < 0) | (edges >= num_nodes)]
    if outside.size:
        raise RawFileError(f"{path}: edges name node {int(outside[0])}, outside the graph's nodes 0 .. {num_nodes - 1}")
    num_splits = arrays["train_masks"].shape[0] if arrays["train_masks"].ndim == 2 else 0
    for key in _MASKS:
        if arrays[key].dtype != np.bool_ or arrays[key].shape != (num_splits, num_nodes) or not num_splits:
            raise RawFileError(f"{path}: {key} must be bool [num_splits, {num_nodes}] like train_masks, got "
                               f"{arrays[key].shape} ({arrays[key].dtype})")
    edge_index = to_undirected(torch.from_numpy(edges.astype(np.int64)).t(), num_nodes=num_nodes)
    masks = {name: torch.from_numpy(arrays[key]).t().contiguous() for key, name in _MASKS.items()}
    return Data(x=torch.from_numpy(x.astype(np.float32)), y=torch.from_numpy(y.astype(np.int64)),
                edge_index=edge_index, **masks)


def fixed_split(data: Data, seed: int, dataset: str = "this dataset") -> Data:
    """A copy of ``data`` whose masks are split ``seed`` of its ``[N, num_splits]`` masks: seed k runs split k.
    ``dataset``: the name a refused seed's error gives."""
    num_splits = data.train_mask.size(1)
    seed = check_seed("seed", seed)
    if not 0 <= seed < num_splits:
        raise GraphkdError(f"seed {seed} names no split of {dataset}: its 'fixed' split is the {num_splits} "
                           f"splits its authors published, and seed k runs split k (seeds 0 .. {num_splits - 1})")
    out = data.clone()
    for name in _MASKS.values():
        out[name] = data[name][:, seed].contiguous()
    return out
