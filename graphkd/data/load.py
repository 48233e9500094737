"""``load_dataset``: one call from a dataset name to a PyG ``Data`` with masks and its split recorded."""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data, download_url
from torch_geometric.datasets import Amazon, Coauthor, HeterophilousGraphDataset, Planetoid
from torch_geometric.utils import to_undirected as add_reverse_edges  # the name to_undirected is a keyword here

from graphkd.checks import check_choice, check_edge_index, check_finite, check_mask
from graphkd.data.catalog import PER_SEED_SPLITS, DatasetInfo, dataset_info
from graphkd.data.heterophilous import fixed_split, read_heterophilous
from graphkd.data.ogb import read_ogb
from graphkd.data.raw import read_npz_graph, read_planetoid
from graphkd.data.root import data_root, missing_files_error
from graphkd.data.splits import largest_connected_component, random_split
from graphkd.data.synthetic import csbm
from graphkd.errors import GraphkdError
from graphkd.tasks import task_for

__all__ = ["check_graph", "load_dataset", "model_features", "model_graph", "prepare_data"]

log = logging.getLogger(__name__)

# What graphkd reads of a graph, and what it records on one (prepare_data, load_dataset); any other attribute is
# unused, and check_graph says so rather than drop it without a word.
_READ_KEYS = ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask", "num_nodes")
_RECORDED_KEYS = ("dataset", "split", "split_seed", "row_normalized", "task")


def _raw_files(info: DatasetInfo, root: Path, base_url: str) -> Path:
    """``<root>/<folder>/raw`` with every raw file of ``info``, downloading the missing ones from
    ``base_url`` (the address PyG's own dataset class uses); offline, one error lists what is missing."""
    raw_dir = root / info.folder / "raw"
    missing = [f for f in info.raw_files if not (raw_dir / f).is_file()]
    for name in missing:
        try:
            download_url(f"{base_url.rstrip('/')}/{name}", str(raw_dir), log=False)
        except Exception as exc:  # URLError, OSError or others depending on how the download fails
            raise missing_files_error(info, root, raw_dir, missing, exc) from exc
    return raw_dir


# Raw files are read by graphkd.data.raw, never through PyG's dataset classes: those unpickle Planetoid's
# files as they are and may reload a cached processed/data.pt with weights_only=False.
def _read_planetoid(info: DatasetInfo, root: Path, split: str) -> Data:
    data = read_planetoid(_raw_files(info, root, Planetoid.url), info.name)
    if split == "full":  # Planetoid's "full" split: every node outside validation and test trains
        data.train_mask = ~(data.val_mask | data.test_mask)
    return data


def _read_amazon(info: DatasetInfo, root: Path, split: str) -> Data:
    return read_npz_graph(_raw_files(info, root, Amazon.url) / info.raw_files[0])


def _read_coauthor(info: DatasetInfo, root: Path, split: str) -> Data:
    return read_npz_graph(_raw_files(info, root, Coauthor.url) / info.raw_files[0])


def _read_ogb(info: DatasetInfo, root: Path, split: str) -> Data:
    return read_ogb(info, root)


def _read_heterophilous(info: DatasetInfo, root: Path, split: str) -> Data:
    # chameleon_filtered and squirrel_filtered sit beside PyG's five in the same repository folder.
    return read_heterophilous(_raw_files(info, root, HeterophilousGraphDataset.url) / info.raw_files[0])


def _read_synthetic(info: DatasetInfo, root: Path, split: str) -> Data:
    return csbm(num_nodes=info.num_nodes, num_classes=info.num_classes, num_features=info.num_features)


READERS = {
    "planetoid": _read_planetoid,
    "amazon": _read_amazon,
    "coauthor": _read_coauthor,
    "ogb": _read_ogb,
    "heterophilous": _read_heterophilous,
    "synthetic": _read_synthetic,
}


def load_dataset(name: str, root: str | os.PathLike | None = None, split: str | None = None,
                 seed: int = 0, to_undirected: bool = True, labels_per_class: int = 20) -> Data:
    """Load ``name`` as a ``Data`` with ``train_mask``/``val_mask``/``test_mask``.

    ``split``: ``"public"`` / ``"full"`` (Planetoid's fixed splits), ``"official"`` (OGB's split),
    ``"fixed"`` (the ten splits Platonov et al. published with the heterophilous graphs: ``seed`` k, from 0 to 9,
    picks split k) or ``"random"`` (CPF/GLNN: the largest connected component, 20 train and 30 validation nodes
    per class drawn with ``seed``, the rest test; ``labels_per_class`` sets the 20). Defaults to the dataset's
    first listed split. The returned ``Data`` records ``dataset``, ``split`` and ``split_seed`` (the seed for a
    split that differs per seed, else None). ``to_undirected``: add reverse edges to
    a dataset distributed with one-way edges (ogbn-arxiv), as OGB's baselines do.
    """
    info = dataset_info(name)
    split = check_choice(f"split for {info.name}", split or info.default_split, info.splits)
    if isinstance(labels_per_class, bool) or not isinstance(labels_per_class, int) or labels_per_class < 1:
        raise GraphkdError(f"labels_per_class must be an integer >= 1, got {labels_per_class!r}")
    if labels_per_class != 20 and split != "random":
        raise GraphkdError(f"labels_per_class={labels_per_class} draws a random split: the {split!r} split of "
                           f"{info.name} has its own labelled nodes")
    data = READERS[info.family](info, data_root(root), split)
    data = Data(**{k: v for k, v in data.items()})  # detach from the dataset's storage
    data.y = data.y.long() if info.task == "multilabel" else data.y.view(-1).long()  # [N, num_labels] stays 2-D
    if info.directed and to_undirected:
        log.info("%s: adding reverse edges to make the directed graph undirected (to_undirected=False keeps it "
                 "directed)", info.name)
        data.edge_index = add_reverse_edges(data.edge_index, num_nodes=data.num_nodes)
    if info.normalize_features:
        data.x = data.x / data.x.sum(dim=1, keepdim=True).clamp(min=1e-12)
    data.row_normalized = info.normalize_features  # what serving must repeat: recorded, never guessed from a name
    if split == "random":
        data = random_split(largest_connected_component(data), seed=seed, train_per_class=labels_per_class)
    elif split == "fixed":
        data = fixed_split(data, seed, info.name)
    data = prepare_data(data, dataset=info.name, split=split, split_seed=seed if split in PER_SEED_SPLITS else None)
    # The catalogue's task and metric; OGB's datasets are scored by OGB's own Evaluator.
    data.task = task_for(data.y, info.task, info.metric, ogb_name=info.name if info.family == "ogb" else None)
    return data


def check_graph(data: Data, require_masks: bool = True) -> Data:
    """Refuse a graph graphkd would train on wrongly: checks shapes, that ``num_nodes`` agrees with ``x``,
    ``edge_index`` range, features finite as the models see them (float32, :func:`model_features`), labels in
    ``[0, num_classes)`` or -1 for an unlabelled node, and (with ``require_masks``) bool masks that are
    non-empty, disjoint and free of unlabelled nodes; warns when a class that has nodes has no training node."""
    if not isinstance(data, Data):
        raise GraphkdError(f"expected a torch_geometric Data, got {type(data).__name__}")
    if isinstance(data.x, torch.Tensor) and data.x.layout != torch.strided:
        raise GraphkdError(f"data.x must be a dense tensor, got layout {data.x.layout} (give x.to_dense(): graphkd "
                           "stores sparse features sparsely itself)")
    if not isinstance(data.x, torch.Tensor) or data.x.dim() != 2 or 0 in data.x.shape:
        raise GraphkdError("data.x must be a [num_nodes, num_features] feature matrix with at least one node and "
                           f"one feature, got {tuple(data.x.shape) if isinstance(data.x, torch.Tensor) else data.x}")
    num_nodes = data.x.size(0)
    if "num_nodes" in data and data["num_nodes"] is not None and data["num_nodes"] != num_nodes:
        raise GraphkdError(f"data.num_nodes is {data['num_nodes']} but data.x has {num_nodes} rows")
    if isinstance(data.y, torch.Tensor) and data.y.dim() == 2:
        return _check_multilabel_graph(data, num_nodes, require_masks)
    if not isinstance(data.y, torch.Tensor) or data.y.dim() != 1 or data.y.dtype != torch.long:
        raise GraphkdError("data.y must be a torch.long vector of class indices [num_nodes], or for a multi-label "
                           "task a [num_nodes, num_labels] matrix of 0/1")
    if data.y.numel() != num_nodes:
        raise GraphkdError(f"data.y has {data.y.numel()} labels for {num_nodes} nodes")
    if data.y.min() < -1:
        raise GraphkdError(f"data.y holds {int((data.y < -1).sum())} negative label(s) below -1; labels are 0 .. "
                           "num_classes - 1, or -1 for an unlabelled node")
    unlabelled = data.y == -1
    if unlabelled.all():
        raise GraphkdError("data.y labels no node (every label is -1, unlabelled)")
    if data.y[~unlabelled].unique().numel() < 2:
        raise GraphkdError(f"data.y gives every labelled node the class {int(data.y[~unlabelled][0])}: a task needs at "
                           "least two classes")
    _check_class_ids(data.y[~unlabelled], num_nodes)
    _check_x_and_edges(data, num_nodes)
    if require_masks:
        _untrained_classes_warning(data, _check_masks(data, num_nodes, unlabelled), unlabelled)
    return data


def _check_x_and_edges(data: Data, num_nodes: int) -> None:
    if data.x.is_complex():
        raise GraphkdError("data.x must be real-valued, got complex numbers")
    _check_features(data.x)
    check_edge_index(data.edge_index, num_nodes)


def _check_masks(data: Data, num_nodes: int, unlabelled: Tensor) -> dict[str, Tensor]:
    """The three masks: bool, non-empty, disjoint, and free of unlabelled nodes."""
    masks = {name: check_mask(f"data.{name}", data.get(name), num_nodes)
             for name in ("train_mask", "val_mask", "test_mask")}
    for a, b in (("train_mask", "val_mask"), ("train_mask", "test_mask"), ("val_mask", "test_mask")):
        shared = int((masks[a] & masks[b]).sum())
        if shared:
            raise GraphkdError(f"data.{a} and data.{b} share {shared} node(s); a node belongs to one split")
    for name, mask in masks.items():  # random_split leaves them out; a split of the user's must too
        if (mask & unlabelled).any():
            raise GraphkdError(f"data.{name} selects {int((mask & unlabelled).sum())} node(s) labelled -1 "
                               "(unlabelled): a node in a split needs its class")
    return masks


def _check_multilabel_graph(data: Data, num_nodes: int, require_masks: bool) -> Data:
    """Multi-label labels ``[num_nodes, num_labels]``: every entry 0 or 1 (no unlabelled marker), and with masks,
    every label with a positive training node (a label none has cannot be learned)."""
    y = data.y
    if y.size(0) != num_nodes or y.size(1) < 1:
        raise GraphkdError(f"data.y {tuple(y.shape)} must be [num_nodes={num_nodes}, num_labels] for a multi-label "
                           "task")
    if y.is_complex() or not ((y == 0) | (y == 1)).all():
        raise GraphkdError(f"multi-label data.y must hold only 0 and 1, got {int((~((y == 0) | (y == 1))).sum())} "
                           "other value(s) (probabilities or -1 are not labels)")
    _check_x_and_edges(data, num_nodes)
    if require_masks:
        masks = _check_masks(data, num_nodes, torch.zeros(num_nodes, dtype=torch.bool))
        unlearnable = (y[masks["train_mask"]].sum(0) == 0).nonzero().view(-1)
        if unlearnable.numel():
            raise GraphkdError(f"label(s) {unlearnable.tolist()[:10]} of data.y have no positive training node: no "
                               "model can learn them; drop those columns")
    return data


def _untrained_classes_warning(data: Data, masks: dict[str, Tensor], unlabelled: Tensor) -> None:
    present = data.y[~unlabelled].unique()
    untrained = present[~torch.isin(present, data.y[masks["train_mask"]])]
    if untrained.numel():  # a warning, not an error: official splits (OGB) can leave rare classes out
        warnings.warn(f"class(es) {untrained.tolist()} have nodes but none in data.train_mask: no model can "
                      "learn them from labels", stacklevel=3)


def _check_class_ids(labels: Tensor, num_nodes: int) -> None:
    """The models get one output per class id up to the largest: refuse ids that cannot be a class set (more
    classes than nodes, which also asks torch for weights of any size), and say when some ids label no node."""
    num_classes = int(labels.max()) + 1
    if num_classes > num_nodes:
        raise GraphkdError(f"data.y holds class id {num_classes - 1} on a graph of {num_nodes} nodes, so the models "
                           f"would get {num_classes} outputs: class ids are 0 .. num_classes - 1; renumber them, "
                           "e.g. torch.unique(y, return_inverse=True)[1]")
    empty = torch.ones(num_classes, dtype=torch.bool).index_fill_(0, labels.unique(), False).nonzero().view(-1)
    if empty.numel():
        warnings.warn(f"class id(s) {empty.tolist()[:10]}{' ...' if empty.numel() > 10 else ''} label no node, so the "
                      f"models get {num_classes} outputs, {empty.numel()} of them for classes no node has; renumber "
                      "the labels 0 .. num_classes - 1 (torch.unique(y, return_inverse=True)[1]) if that is not "
                      "meant", stacklevel=3)


def model_features(x: Tensor) -> Tensor:
    """Features as graphkd's models see them: float32 (``x`` itself when it is float32 already). Every entry
    point converts here, and :func:`check_graph` checks what this returns, never the values before it."""
    return x.float()


def _check_features(x: Tensor) -> None:
    """Refuse features that are not finite as the models will see them: a float64 value beyond float32's range
    is finite before the conversion and inf after it, and would train a student with NaN weights."""
    seen = model_features(x)
    if not torch.isfinite(seen).all():
        bad = ~torch.isfinite(seen)
        overflow = int((bad & torch.isfinite(x)).sum()) if x.is_floating_point() else int(bad.sum())
        if overflow:
            raise GraphkdError(f"data.x holds {overflow} value(s) beyond float32's range (magnitude above "
                               f"{torch.finfo(torch.float32).max:.3g}), which graphkd's float32 models would see as "
                               "inf: rescale the features")
        check_finite("data.x", seen)


def _warn_unused(data: Data) -> None:
    """Say which attributes of ``data`` no model will see: edge weights and edge features above all, which a
    user means to change the result."""
    unused = sorted(key for key in data.keys() if key not in _READ_KEYS + _RECORDED_KEYS)
    if unused:
        names = ", ".join(f"data.{key}" for key in unused)
        edges = ", so every edge counts the same" if any(key.startswith("edge_") for key in unused) else ""
        one = len(unused) == 1
        warnings.warn(f"{names} {'is' if one else 'are'} not used: graphkd reads x, edge_index, y and the three "
                      f"masks{edges}; fold what {'it holds' if one else 'they hold'} into edge_index or x yourself, "
                      f"or delete {'it' if one else 'them'} to silence this", stacklevel=3)


def model_graph(data: Data, require_masks: bool = True) -> Data:
    """``data`` checked (:func:`check_graph`) and as graphkd's models see it: a shallow copy with float32
    features (:func:`model_features`) and only the attributes graphkd reads or records, after a warning that
    names the others (``edge_weight``, ``edge_attr``, ...). The caller's ``Data`` is never changed. Every entry
    point that takes a user's graph (``run_distillation``, ``capture``, ``born_again``, ``union_teacher``,
    ``teacher_soft_targets``) starts here, so each accepts what the others accept."""
    check_graph(data, require_masks)
    _warn_unused(data)
    graph = Data(**{key: data[key] for key in data.keys() if key in _READ_KEYS + _RECORDED_KEYS})
    graph.x = model_features(data.x)
    return graph


def prepare_data(data: Data, dataset: str = "custom", split: str = "custom", split_seed: int | None = None) -> Data:
    """Validate a user's ``Data`` for graphkd (see :func:`check_graph`) and record where it came from (on
    ``data`` itself, whose features become float32)."""
    check_graph(data)
    data.x = model_features(data.x)
    data.dataset, data.split, data.split_seed = dataset, split, split_seed
    return data
