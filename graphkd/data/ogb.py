"""OGB node classification (ogbn-arxiv, ogbn-products, ogbn-proteins) read straight from OGB's on-disk layout.

ogb 1.3.6 caches its processed datasets as pickled PyG objects that ``torch.load`` refuses since
torch 2.6 (``weights_only``), so graphkd reads the gzip CSVs that OGB's zips hold and caches plain
tensors of its own (``<folder>/processed/graphkd_tensors.pt``, loaded with ``weights_only=True``).
The split type, download URL, inverse edges, which of node or edge features exist and the number of
tasks come from ogb's ``master.csv``.

ogbn-proteins has no node features: each node gets the mean of the 8 features of its incident edges
(:func:`edge_feature_mean`), and its labels are ``[num_nodes, 112]`` of 0/1, one column per protein
function (a multi-label task scored by ROC-AUC).
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

__all__ = ["CACHE_NAME", "edge_feature_mean", "ogb_accuracy", "ogb_files", "ogb_meta", "read_ogb"]

CACHE_NAME = "graphkd_tensors.pt"
# Bumped whenever what the cache holds changes. 2: ``x_from`` records where x came from, and multi-task labels
# (ogbn-proteins) are kept [num_nodes, num_tasks].
CACHE_VERSION = 2
SPLIT_PARTS = ("train", "valid", "test")
EDGE_CHUNK = 1 << 22
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
    # "binary" here means stored as npz (papers100M); "binary classification" is ogbn-proteins' 112 yes/no tasks.
    if (meta["binary"] == "True" or meta["is hetero"] == "True"
            or meta["task type"] not in ("multiclass classification", "binary classification")):
        raise GraphkdError(f"{name}: graphkd reads homogeneous OGB classification datasets stored as CSV: "
                           "ogbn-arxiv, ogbn-products and ogbn-proteins")
    return meta


def _multitask(meta: dict[str, str]) -> bool:
    """One 0/1 column per task (ogbn-proteins), rather than one column of class ids."""
    return meta["task type"] == "binary classification"


def _feature_file(meta: dict[str, str]) -> str:
    """The file node features come from: ``node-feat.csv.gz``, or for a dataset without node features
    (ogbn-proteins) the edge features they are averaged from."""
    if meta["has_node_attr"] == "True":
        return "raw/node-feat.csv.gz"
    if meta["has_edge_attr"] == "True":
        return "raw/edge-feat.csv.gz"
    raise GraphkdError("an OGB dataset with neither node nor edge features gives graphkd nothing to read")


def ogb_files(info: DatasetInfo, meta: dict[str, str]) -> list[str]:
    """Files the dataset needs, relative to ``<root>/<folder>``: the raw CSVs and the official split."""
    files = [f"raw/{f}" for f in info.raw_files] + [f"split/{meta['split']}/{part}.csv.gz" for part in SPLIT_PARTS]
    # The catalog and master.csv must agree on the dataset's shape; a disagreement is graphkd's bug.
    tasks = int(meta["num tasks"]) if _multitask(meta) else int(meta["num classes"])
    if (_feature_file(meta) not in files or (info.task == "multilabel") != _multitask(meta)
            or info.num_classes != tasks):
        raise GraphkdError(f"graphkd's catalog entry for {info.name} disagrees with ogb's master.csv (features from "
                           f"{_feature_file(meta)}, {tasks} {'tasks' if _multitask(meta) else 'classes'})")
    return files


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


def edge_feature_mean(edge_index: Tensor, edge_attr: Tensor, num_nodes: int, add_inverse_edge: bool) -> Tensor:
    """Node features ``[num_nodes, F]``: the mean of ``edge_attr`` ``[E, F]`` over each node's edges in the graph
    OGB builds (with ``add_inverse_edge`` every stored edge also runs backwards, so an edge counts at both of its
    ends); 0 for a node without edges.

    The mean is what OGB's own ogbn-proteins baselines feed their MLP and GNNs (``examples/nodeproppred/proteins``:
    ``scatter(edge_attr, edge_index[0], reduce='mean')`` in mlp.py, ``adj_t.mean(dim=1)`` in gnn.py). PyG's
    ``examples/ogbn_proteins_deepgcn.py`` sums instead (``scatter(..., col, reduce='add')``); graphkd's students are
    MLPs, so it follows OGB's MLP baseline.
    """
    ends = edge_index if add_inverse_edge else edge_index[:1]  # the rows of edge_index a node's edges start in
    total = torch.zeros(num_nodes, edge_attr.size(1), dtype=torch.float64)  # float64: thousands of edges a node
    count = torch.zeros(num_nodes, dtype=torch.int64)
    for start in range(0, edge_attr.size(0), EDGE_CHUNK):  # in chunks: ogbn-proteins stores 39.6M edges
        attr = edge_attr[start:start + EDGE_CHUNK].double()
        for end in ends:
            index = end[start:start + EDGE_CHUNK]
            total.index_add_(0, index, attr)
            count += torch.bincount(index, minlength=num_nodes)
    return (total / count.clamp_(min=1).unsqueeze(1)).float()


def _read_tensors(folder: Path, meta: dict[str, str], files: list[str]) -> dict:
    """Parse the CSVs (header-less, as in ogb/io/read_graph_raw.py) into plain tensors."""
    split_dir = f"split/{meta['split']}"
    dtypes = {"raw/edge.csv.gz": np.int64, "raw/node-feat.csv.gz": np.float32, "raw/edge-feat.csv.gz": np.float32,
              "raw/node-label.csv.gz": np.float64, "raw/num-node-list.csv.gz": np.int64,
              "raw/num-edge-list.csv.gz": np.int64}
    dtypes.update({f"{split_dir}/{part}.csv.gz": np.int64 for part in SPLIT_PARTS})
    arrays = {f: _read_csv(folder / f, dtypes[f]) for f in tqdm(files, desc=f"reading {folder.name}", unit="file")}

    num_nodes, num_edges = int(arrays["raw/num-node-list.csv.gz"][0, 0]), int(arrays["raw/num-edge-list.csv.gz"][0, 0])
    feature_file = _feature_file(meta)
    edge, feat, label = arrays["raw/edge.csv.gz"], arrays[feature_file], arrays["raw/node-label.csv.gz"]
    rows = num_nodes if feature_file == "raw/node-feat.csv.gz" else num_edges
    tasks = int(meta["num tasks"])
    if edge.shape != (num_edges, 2) or feat.shape[0] != rows or label.shape != (num_nodes, tasks):
        raise GraphkdError(f"{folder}: files disagree: num-node-list says {num_nodes} nodes and num-edge-list "
                           f"{num_edges} edges, but edge.csv.gz is {edge.shape}, {feature_file[4:]} {feat.shape} and "
                           f"node-label.csv.gz {label.shape} ({tasks} label column(s) expected); delete the folder "
                           "to download it again")
    if np.isnan(label).any():
        raise GraphkdError(f"{folder}/raw/node-label.csv.gz has unlabelled (NaN) nodes; graphkd needs every label")
    edge_index = torch.from_numpy(np.ascontiguousarray(edge.T))
    if feature_file == "raw/node-feat.csv.gz":
        x, x_from = torch.from_numpy(np.ascontiguousarray(feat)), "node-feat"
    else:
        x = edge_feature_mean(edge_index, torch.from_numpy(feat), num_nodes, meta["add_inverse_edge"] == "True")
        x_from = "edge-feat mean over incident edges"
    # Labels as OGB's own reader keeps them (int64, no NaN): [N] class ids, or [N, num_tasks] of 0/1.
    y = torch.from_numpy(label.astype(np.int64) if _multitask(meta) else label[:, 0].astype(np.int64))
    split = {part: torch.from_numpy(arrays[f"{split_dir}/{part}.csv.gz"][:, 0]) for part in SPLIT_PARTS}
    return {"version": CACHE_VERSION, "stamps": {f: _stamp(folder / f) for f in files}, "x": x, "x_from": x_from,
            "y": y, "edge_index": edge_index, "split": split}


def read_ogb(info: DatasetInfo, root: Path) -> Data:
    """``info``'s graph with the official split as masks; downloads OGB's zip when files are missing.

    Edges are as OGB defines the graph: ``add_inverse_edge`` datasets (ogbn-products, ogbn-proteins) get
    both directions, one-way datasets (ogbn-arxiv) stay one-way here (``load_dataset`` adds reverse edges).

    Shapes:
        ``x`` ``[N, F]`` float32 (ogbn-proteins: :func:`edge_feature_mean` of its 8 edge features);
        ``y`` int64 ``[N]`` class ids, or ``[N, num_tasks]`` of 0/1 for ogbn-proteins (112 tasks);
        ``edge_index`` ``[2, E]``; ``train_mask``/``val_mask``/``test_mask`` ``[N]`` bool.
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
