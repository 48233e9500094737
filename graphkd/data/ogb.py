"""OGB node classification (ogbn-arxiv, ogbn-products) read straight from OGB's on-disk layout.

ogb 1.3.6 caches its processed datasets as pickled PyG objects that ``torch.load`` refuses since
torch 2.6 (``weights_only``), so graphkd reads the gzip CSVs that OGB's zips hold and caches plain
tensors of its own (``<folder>/processed/graphkd_tensors.pt``, loaded with ``weights_only=True``).
The split type and download URL come from ogb's ``master.csv``.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import index_to_mask
from tqdm import tqdm

from graphkd.data.catalog import DatasetInfo, dataset_info
from graphkd.data.root import missing_files_error
from graphkd.errors import GraphkdError, MissingFileError
from graphkd.io import atomic_save, load_tensors

__all__ = ["CACHE_NAME", "ogb_accuracy", "ogb_files", "ogb_meta", "read_ogb"]

CACHE_NAME = "graphkd_tensors.pt"
CACHE_VERSION = 1
SPLIT_PARTS = ("train", "valid", "test")
log = logging.getLogger(__name__)


def _require(*modules: str) -> None:
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise ImportError(f"OGB datasets need {module}: pip install 'graphkd[ogb]'")


def ogb_meta(name: str) -> dict[str, str]:
    """``name``'s column of ogb's ``nodeproppred/master.csv`` (split type, url, add_inverse_edge, ...)."""
    _require("pandas", "ogb")
    import pandas as pd

    # Located without importing ogb, whose import starts a PyPI version check.
    package = Path(importlib.util.find_spec("ogb").submodule_search_locations[0])
    master = pd.read_csv(package / "nodeproppred" / "master.csv", index_col=0, keep_default_na=False)
    if name not in master:
        raise GraphkdError(f"{name!r} is not an OGB node-property dataset; valid: {', '.join(master.columns)}")
    meta = master[name].to_dict()
    if meta["binary"] == "True" or meta["is hetero"] == "True" or meta["task type"] != "multiclass classification":
        raise GraphkdError(f"{name}: graphkd reads homogeneous multiclass OGB datasets stored as CSV, such as "
                           "ogbn-arxiv and ogbn-products")
    return meta


def ogb_files(info: DatasetInfo, meta: dict[str, str]) -> list[str]:
    """Files the dataset needs, relative to ``<root>/<folder>``: the raw CSVs and the official split."""
    split_dir = f"split/{meta['split']}"
    return [f"raw/{f}" for f in info.raw_files] + [f"{split_dir}/{part}.csv.gz" for part in SPLIT_PARTS]


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _load_cache(cache: Path, folder: Path, files: list[str]) -> dict | None:
    """The cached tensors, unless a source file present on disk changed since they were written."""
    if not cache.is_file():
        return None
    try:
        blob = load_tensors(cache, "graphkd OGB cache")
    except ValueError as exc:  # truncated or damaged: the CSVs are the source, read them again
        log.warning("%s; reading the CSVs again", exc)
        return None
    if not isinstance(blob, dict) or blob.get("version") != CACHE_VERSION:
        return None
    # Files deleted after caching (to save disk) do not invalidate it; files rewritten do.
    if any((folder / f).is_file() and tuple(blob["stamps"].get(f, ())) != _stamp(folder / f) for f in files):
        log.info("%s changed since %s was written; reading the CSVs again", folder, cache.name)
        return None
    return blob


def _move_tree(src: Path, dst: Path) -> None:
    """Move every file under ``src`` to the same place under ``dst``, replacing what is there."""
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)


def _download(info: DatasetInfo, meta: dict[str, str], root: Path, folder: Path, missing: list[str]) -> None:
    """Fetch and unpack OGB's zip into ``folder`` with ogb's own helpers (never its interactive size prompt)."""
    from ogb.utils.url import download_url, extract_zip

    log.info("%s: %s missing from %s; downloading %s", info.name, ", ".join(missing), folder, meta["url"])
    root.mkdir(parents=True, exist_ok=True)
    try:
        zip_path = download_url(meta["url"], str(root))
    except Exception as exc:  # URLError offline, RuntimeError when interrupted, OSError on disk errors
        raise missing_files_error(info, root, folder, missing, exc) from exc
    unpacked = Path(tempfile.mkdtemp(dir=root, prefix=f".{info.folder}."))
    try:
        extract_zip(zip_path, str(unpacked))
        _move_tree(unpacked / meta["download_name"], folder)  # the zip holds <download_name>/raw, /split, ...
    except zipfile.BadZipFile as exc:  # e.g. a download killed half-way, which download_url would reuse
        Path(zip_path).unlink(missing_ok=True)
        raise GraphkdError(f"{zip_path} was not a complete zip and has been deleted; run again to download it") from exc
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
    Path(zip_path).unlink(missing_ok=True)
    still_missing = [f for f in missing if not (folder / f).is_file()]
    if still_missing:
        raise MissingFileError(f"{meta['url']} did not provide {', '.join(still_missing)} under {folder}")


def _read_csv(path: Path, dtype) -> np.ndarray:
    import pandas as pd

    return pd.read_csv(path, compression="gzip", header=None, dtype=dtype).to_numpy(copy=True)  # writable, for torch


def _read_tensors(folder: Path, meta: dict[str, str], files: list[str]) -> dict:
    """Parse the CSVs (header-less, as in ogb/io/read_graph_raw.py) into plain tensors."""
    split_dir = f"split/{meta['split']}"
    dtypes = {"raw/edge.csv.gz": np.int64, "raw/node-feat.csv.gz": np.float32, "raw/node-label.csv.gz": np.float64,
              "raw/num-node-list.csv.gz": np.int64, "raw/num-edge-list.csv.gz": np.int64}
    dtypes.update({f"{split_dir}/{part}.csv.gz": np.int64 for part in SPLIT_PARTS})
    arrays = {f: _read_csv(folder / f, dtypes[f]) for f in tqdm(files, desc=f"reading {folder.name}", unit="file")}

    num_nodes, num_edges = int(arrays["raw/num-node-list.csv.gz"][0, 0]), int(arrays["raw/num-edge-list.csv.gz"][0, 0])
    edge, x, label = arrays["raw/edge.csv.gz"], arrays["raw/node-feat.csv.gz"], arrays["raw/node-label.csv.gz"]
    if edge.shape != (num_edges, 2) or x.shape[0] != num_nodes or label.shape != (num_nodes, 1):
        raise GraphkdError(f"{folder}: files disagree: num-node-list says {num_nodes} nodes and num-edge-list "
                           f"{num_edges} edges, but edge.csv.gz is {edge.shape}, node-feat.csv.gz {x.shape} and "
                           f"node-label.csv.gz {label.shape}; delete the folder to download it again")
    if np.isnan(label).any():
        raise GraphkdError(f"{folder}/raw/node-label.csv.gz has unlabelled (NaN) nodes; graphkd needs every label")
    split = {part: torch.from_numpy(arrays[f"{split_dir}/{part}.csv.gz"][:, 0]) for part in SPLIT_PARTS}
    return {"version": CACHE_VERSION, "stamps": {f: _stamp(folder / f) for f in files},
            "x": torch.from_numpy(np.ascontiguousarray(x)), "y": torch.from_numpy(label[:, 0].astype(np.int64)),
            "edge_index": torch.from_numpy(np.ascontiguousarray(edge.T)), "split": split}


def read_ogb(info: DatasetInfo, root: Path) -> Data:
    """``info``'s graph with the official split as masks; downloads OGB's zip when files are missing.

    Edges are as OGB defines the graph: ``add_inverse_edge`` datasets (ogbn-products) get both
    directions, one-way datasets (ogbn-arxiv) stay one-way here (``load_dataset`` adds reverse edges).
    """
    meta = ogb_meta(info.name)
    folder = root / info.folder
    files = ogb_files(info, meta)
    cache = folder / "processed" / CACHE_NAME
    blob = _load_cache(cache, folder, files)
    if blob is None:
        missing = [f for f in files if not (folder / f).is_file()]
        if missing:
            _download(info, meta, root, folder, missing)
        blob = _read_tensors(folder, meta, files)
        atomic_save(blob, cache)
        log.info("%s: cached parsed tensors in %s", info.name, cache)
    edge_index = blob["edge_index"]
    if meta["add_inverse_edge"] == "True":  # stored once per undirected edge
        edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    num_nodes = blob["x"].size(0)
    masks = {f"{key}_mask": index_to_mask(blob["split"][part], size=num_nodes)
             for key, part in zip(("train", "val", "test"), SPLIT_PARTS, strict=True)}
    return Data(x=blob["x"], y=blob["y"], edge_index=edge_index, **masks)


def ogb_accuracy(name: str, pred: Tensor, y: Tensor) -> float:
    """OGB's official accuracy (``ogb.nodeproppred.Evaluator``) of ``pred`` against labels ``y``.

    ``pred``: logits ``[N, num_classes]`` (arg-maxed here) or predicted classes ``[N]``; ``y``: ``[N]``
    or ``[N, 1]`` class indices. Select the evaluated nodes (e.g. ``data.test_mask``) before calling.
    """
    from ogb.nodeproppred import Evaluator

    name = dataset_info(name).name
    if pred.dim() not in (1, 2):
        raise GraphkdError(f"pred must be logits [N, C] or classes [N], got shape {tuple(pred.shape)}")
    classes = pred.argmax(dim=-1) if pred.dim() == 2 else pred
    y = y.reshape(-1)
    if classes.numel() != y.numel() or y.numel() == 0:
        raise GraphkdError(f"need one prediction per label and at least one node: {classes.numel()} predictions, "
                           f"{y.numel()} labels")
    result = Evaluator(name).eval({"y_true": y.view(-1, 1).cpu(), "y_pred": classes.view(-1, 1).cpu()})
    return float(result["acc"])
