"""Reading datasets' raw files without running code from them.

Planetoid's raw files are Python pickles by format, and unpickling runs whatever a crafted file names.
PyG's readers unpickle them as they are, and PyG's cached ``processed/data.pt`` is retried with
``weights_only=False`` when the safe load fails. graphkd therefore reads the raw files itself and never
reads ``processed/``: pickles go through :class:`RestrictedUnpickler`, which builds only the few types
the format holds (NumPy arrays, SciPy CSR matrices, a ``defaultdict`` of lists), and ``.npz`` archives
load with ``allow_pickle=False``. Anything else is refused with the file's name.
"""
from __future__ import annotations

import _codecs
import collections
import io
import pickle
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse
import torch
from torch_geometric.data import Data
from torch_geometric.io.npz import parse_npz
from torch_geometric.io.planetoid import edge_index_from_dict

from graphkd.errors import GraphkdError

__all__ = ["RawFileError", "RestrictedUnpickler", "read_npz_graph", "read_planetoid", "safe_unpickle"]


class RawFileError(GraphkdError):
    """A raw data file is corrupt, truncated or holds something its format does not allow."""


def _allowed() -> dict[tuple[str, str], object]:
    # NumPy 2's deprecated aliases: imported only here, under safe_unpickle's filter for their warnings.
    import numpy.core.multiarray  # noqa: F401  (the names NumPy 1.x pickles carry)
    import numpy.core.numeric  # noqa: F401

    reconstruct, frombuffer = np.core.multiarray._reconstruct, np.core.numeric._frombuffer
    return {
        # Builders of bytes and arrays from data; Python 3 pickles of protocol 2 and 5 name them.
        ("_codecs", "encode"): _codecs.encode, ("numpy.core.numeric", "_frombuffer"): frombuffer,
        ("numpy._core.numeric", "_frombuffer"): frombuffer,
        ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): reconstruct, ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("scipy.sparse.csr", "csr_matrix"): scipy.sparse.csr_matrix,
        ("scipy.sparse._csr", "csr_matrix"): scipy.sparse.csr_matrix,
        ("collections", "defaultdict"): collections.defaultdict, ("builtins", "list"): list,
        ("__builtin__", "list"): list,  # Python 2 pickles name it so
    }


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of Planetoid's format (see the module docstring)."""

    def __init__(self, file, allowed: dict[tuple[str, str], object]):
        super().__init__(file, encoding="latin1")  # Python 2 pickles, as distributed
        self.allowed = allowed

    def find_class(self, module: str, name: str):
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}: not a type this format holds")
        return self.allowed[(module, name)]


def safe_unpickle(path: Path):
    """Unpickle ``path`` with :class:`RestrictedUnpickler`; :class:`RawFileError` names the file on failure."""
    try:
        with warnings.catch_warnings():  # NumPy 2 and SciPy note their old module names; the objects are fine
            warnings.simplefilter("ignore", DeprecationWarning)
            return RestrictedUnpickler(io.BytesIO(path.read_bytes()), _allowed()).load()
    except Exception as exc:  # truncated, corrupt or hostile: all mean the file cannot be used
        raise RawFileError(f"{path}: not a valid Planetoid file ({type(exc).__name__}: {exc})") from exc


def _dense(path: Path, value) -> torch.Tensor:
    array = value.toarray() if hasattr(value, "toarray") else value
    if not isinstance(array, np.ndarray) or array.ndim != 2 or array.dtype.kind not in "biuf":
        raise RawFileError(f"{path}: expected a numeric matrix, got {type(value).__name__}")
    return torch.from_numpy(np.asarray(array, dtype=np.float32))


def _check_labels(path: Path, labels: torch.Tensor) -> None:
    """Refuse label rows that are not one-hot (a single 1, zeros elsewhere): NaN or all-zero rows would become
    class 0 under ``argmax`` without a word."""
    bad = ~((labels == 0) | (labels == 1)).all(dim=1) | (labels.sum(dim=1) != 1)
    if bad.any():
        row = int(bad.nonzero()[0])
        raise RawFileError(f"{path}: {int(bad.sum())} of {labels.size(0)} label rows are not one-hot (a single 1, "
                           f"zeros elsewhere), e.g. row {row}: {labels[row].tolist()[:10]}")


def _check_rows(paths: dict[str, Path], arrays: dict[str, torch.Tensor]) -> None:
    """Refuse feature and label files that disagree: rows between x and y, tx and ty, allx and ally; feature
    columns between x, tx and allx; classes between y, ty and ally."""
    for features, labels in (("x", "y"), ("tx", "ty"), ("allx", "ally")):
        if arrays[features].size(0) != arrays[labels].size(0):
            raise RawFileError(f"{paths[labels]}: {arrays[labels].size(0)} label rows for the "
                               f"{arrays[features].size(0)} feature rows of {paths[features]}")
    for first, *others in (("x", "tx", "allx"), ("y", "ty", "ally")):
        for other in others:
            if arrays[other].size(1) != arrays[first].size(1):
                raise RawFileError(f"{paths[other]}: {arrays[other].size(1)} columns where {paths[first]} has "
                                   f"{arrays[first].size(1)}")


def read_planetoid(raw_dir: Path, name: str) -> Data:
    """Cora, CiteSeer or PubMed from Planetoid's ``ind.<name>.*`` files, with the public split's masks:
    the labelled ``y`` nodes train, the next 500 validate, ``test.index`` tests. Test rows are listed
    in ``test.index`` order; test indices missing from the files (CiteSeer's isolated nodes) become
    zero rows. Edges come from the adjacency lists, self loops removed, duplicates merged."""
    prefix = raw_dir / f"ind.{name.lower()}."
    paths = {s: Path(f"{prefix}{s}") for s in ("x", "tx", "allx", "y", "ty", "ally")}
    arrays = {s: _dense(path, safe_unpickle(path)) for s, path in paths.items()}
    _check_rows(paths, arrays)
    for s in ("y", "ty", "ally"):
        _check_labels(paths[s], arrays[s])
    x, tx, allx, y, ty, ally = arrays.values()
    graph_path = Path(f"{prefix}graph")
    graph = safe_unpickle(graph_path)
    if not isinstance(graph, dict):
        raise RawFileError(f"{graph_path}: expected adjacency lists (a dict), got {type(graph).__name__}")
    try:
        adjacency = {int(k): [int(v) for v in vs] for k, vs in graph.items()}
    except (TypeError, ValueError) as exc:
        raise RawFileError(f"{graph_path}: adjacency lists must map node ids to lists of node ids ({exc})") from exc
    ids = [k for k in adjacency] + [v for vs in adjacency.values() for v in vs]
    if ids and min(ids) < 0:
        raise RawFileError(f"{graph_path}: negative node id {min(ids)} in the adjacency lists")
    index_path = Path(f"{prefix}test.index")
    try:
        test_index = torch.tensor([int(line) for line in index_path.read_text().split()], dtype=torch.long)
    except ValueError as exc:
        raise RawFileError(f"{index_path}: expected one node index per line ({exc})") from exc
    if test_index.numel() != tx.size(0) or test_index.min() < allx.size(0):
        raise RawFileError(f"{index_path}: {test_index.numel()} test indices for {tx.size(0)} test rows")
    num_graph_nodes = max(max(ids, default=-1) + 1, allx.size(0) + tx.size(0))
    if test_index.max() >= num_graph_nodes:  # before the gaps are filled: 99999 would fill 98,000 zero rows
        raise RawFileError(f"{index_path}: test index {int(test_index.max())} is out of range: the graph's nodes are "
                           f"0 to {num_graph_nodes - 1}")
    if test_index.unique().numel() != test_index.numel():
        raise RawFileError(f"{index_path}: a test index is listed more than once")
    sorted_test = test_index.sort().values
    span = int(test_index.max() - test_index.min()) + 1
    if span > tx.size(0):  # CiteSeer's isolated test nodes have no row: zero rows fill the gaps, as in PyG
        offset = sorted_test - test_index.min()
        tx = torch.zeros(span, tx.size(1)).index_copy_(0, offset, tx)
        ty = torch.zeros(span, ty.size(1)).index_copy_(0, offset, ty)
    features = torch.cat([allx, tx])
    features[test_index] = features[sorted_test]
    labels = torch.cat([ally, ty]).argmax(dim=1)
    labels[test_index] = labels[sorted_test]
    num_nodes = labels.numel()
    masks = {name: torch.zeros(num_nodes, dtype=torch.bool) for name in ("train_mask", "val_mask", "test_mask")}
    masks["train_mask"][: y.size(0)] = True
    masks["val_mask"][y.size(0): y.size(0) + 500] = True
    masks["test_mask"][test_index] = True
    edge_index = edge_index_from_dict(adjacency, num_nodes=num_nodes)
    return Data(x=features, edge_index=edge_index, y=labels, **masks)


def read_npz_graph(path: Path) -> Data:
    """An Amazon or Coauthor graph from its ``.npz`` (Shchur et al.'s format), read with
    ``allow_pickle=False``: binary features, undirected edges without self loops, labels."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return parse_npz(archive, to_undirected=True)
    except Exception as exc:  # truncated, corrupt, pickled object arrays, missing keys
        raise RawFileError(f"{path}: not a valid graph archive ({type(exc).__name__}: {exc})") from exc
