"""Serve an exported MLP student: class probabilities for a feature matrix or a single node, or for a student
of a multi-label task one independent probability per label (``metadata.json``'s ``task``; an export that
names no task is multiclass, as every export before tasks existed).

Backends: ``numpy`` (``student.npz``; this module never imports torch on that path, so a serving
process stays small and starts fast), ``onnx`` (onnxruntime) and ``torch_export`` (``student.pt2``).
Features go in raw; the preprocessing recorded at export time (row normalisation) is applied here.
A student trained with position features also takes each node's position features (``positions=``).
An export made from ``graphkd distill`` ships the training graph's position table (``positions.npz``):
:meth:`Predictor.node_positions` reads a training node's row, :meth:`Predictor.new_node_positions` makes
a new node's from its neighbours (the rule in the metadata), with NumPy alone.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np

from graphkd.arrays import as_node_ids, from_torch, mean_of_neighbour_rows, mean_rows
from graphkd.errors import GraphkdError, MissingFileError

__all__ = ["BACKENDS", "Predictor", "THRESHOLD", "check_class_names", "mean_of_neighbour_rows"]

BACKENDS = ("onnx", "torch_export", "numpy")
TASKS = ("multiclass", "binary", "multilabel")  # graphkd.tasks.TASKS, which this module does not import (torch)
# A multi-label student's predict() gives a label to a node when its probability is above this.
THRESHOLD = 0.5
MIN_ROW_SUM = 1e-12  # load_dataset's clamp for all-zero feature rows


def _row_normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(x.sum(axis=-1, keepdims=True), np.float32(MIN_ROW_SUM))


def _numpy_forward(path: Path, row_normalize: bool, multilabel: bool = False):
    """``x`` ([n, F] or [F]) -> probabilities, with ``x @ W + b`` per layer on contiguous float32 weights; a
    softmax last, or with ``multilabel`` a sigmoid per output."""
    with np.load(path) as arrays:
        num_layers = len(arrays.files) // 2
        layers = [(np.ascontiguousarray(arrays[f"weight_{i}"], dtype=np.float32),
                   np.ascontiguousarray(arrays[f"bias_{i}"], dtype=np.float32)) for i in range(num_layers)]
    (first_weight, first_bias), rest = layers[0], layers[1:]
    min_row_sum = np.float32(MIN_ROW_SUM)

    def forward(x: np.ndarray) -> np.ndarray:
        h = x @ first_weight
        if row_normalize:  # (x / s) @ W == (x @ W) / s: divide the few outputs, not the many features
            h /= np.maximum(x.sum(axis=-1, keepdims=True), min_row_sum)
        h += first_bias
        for weight, bias in rest:
            np.maximum(h, 0.0, out=h)  # ReLU; propagates NaN, so bad input surfaces in the output check
            h = h @ weight
            h += bias
        if multilabel:  # 1 / (1 + exp(-h)); exp overflows to inf for h << 0, which gives the exact 0
            with np.errstate(over="ignore"):
                np.exp(np.negative(h, out=h), out=h)
            h += 1.0
            return np.reciprocal(h, out=h)
        h -= h.max(axis=-1, keepdims=True)
        np.exp(h, out=h)
        h /= h.sum(axis=-1, keepdims=True)
        return h

    return forward


def _onnx_forward(path: Path, row_normalize: bool, num_threads: int | None):
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError("the onnx backend needs onnxruntime: pip install 'graphkd[serve]'") from exc
    options = onnxruntime.SessionOptions()
    if num_threads is not None:
        options.intra_op_num_threads = num_threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    run, outputs = session.run, ["probabilities"]

    def forward(x: np.ndarray) -> np.ndarray:
        if row_normalize:
            x = _row_normalize(x)
        if x.ndim == 1:
            return run(outputs, {"features": x[None]})[0][0]
        return run(outputs, {"features": np.ascontiguousarray(x)})[0]

    return forward


def _torch_export_forward(path: Path, row_normalize: bool, num_threads: int | None):
    import torch  # only this backend needs torch

    if num_threads is not None:
        torch.set_num_threads(num_threads)  # process-wide: torch has no per-module thread setting
    module = torch.export.load(str(path)).module()

    def forward(x: np.ndarray) -> np.ndarray:
        if row_normalize:
            x = _row_normalize(x)
        with torch.inference_mode():
            if x.ndim == 1:
                return module(torch.from_numpy(x[None]))[0].numpy()
            return module(torch.from_numpy(np.ascontiguousarray(x))).numpy()

    return forward


def _real_array(values, name: str) -> np.ndarray:
    """``values`` as float32; complex numbers would lose their imaginary part silently, so they are refused."""
    values = from_torch(values)
    if hasattr(values, "toarray"):  # SciPy sparse: NumPy would make one object of it, "not numbers"
        raise GraphkdError(f"{name} must be a dense array, got a SciPy sparse {type(values).__name__}: give "
                           f"{name}.toarray()")
    if values is None:  # NumPy would make it one NaN
        raise GraphkdError(f"{name} is None: give an array of real numbers")
    try:
        if np.iscomplexobj(values):  # inside: a ragged list raises here already
            raise GraphkdError(f"{name} must be real numbers, got complex values")
        with np.errstate(over="ignore"):  # a float64 beyond float32's range: said below, not warned about
            array = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as exc:  # strings, ragged lists, objects
        raise GraphkdError(f"{name} must be real numbers, got {type(values).__name__} ({exc})") from exc
    if array is not values and np.isinf(array).any():  # converted here: inf now, but was it before?
        overflow = int((np.isinf(array) & np.isfinite(np.asarray(values, dtype=np.float64))).sum())
        if overflow:
            raise GraphkdError(f"{name} hold {overflow} finite value(s) beyond float32's range (magnitude above "
                               f"{np.finfo(np.float32).max:.3g}), which the student computes in: rescale them")
    return array


def check_class_names(class_names, num_classes: int) -> list[str] | None:
    """``class_names`` as a list of ``num_classes`` strings, or ``None``: the one rule that export writes by and
    :meth:`Predictor.load` reads by, so a name list export would refuse is never served."""
    if class_names is None:
        return None
    if not (isinstance(class_names, (list, tuple)) and len(class_names) == num_classes
            and all(isinstance(name, str) for name in class_names)):
        raise GraphkdError(f"class_names must be a list of {num_classes} strings, one per class; got "
                           f"{class_names!r:.80}")
    return list(class_names)


def _checked_metadata(metadata) -> dict:
    """``metadata`` if every field the predictor reads has the type it needs; else a ``TypeError``/``KeyError``
    (or the ``GraphkdError``, a ``ValueError``, of :func:`check_class_names`)."""
    positive = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1  # noqa: E731
    if not (positive(metadata["num_features"]) and positive(metadata["num_classes"])):
        raise TypeError("num_features and num_classes must be integers >= 1")
    if not isinstance(metadata["preprocessing"].get("row_normalize"), bool):
        raise TypeError("preprocessing.row_normalize must be true or false")
    if metadata.get("task", "multiclass") not in TASKS:
        raise TypeError(f"task must be one of {', '.join(TASKS)}")
    check_class_names(metadata.get("class_names"), metadata["num_classes"])
    for fmt, info in metadata["files"].items():
        if not (isinstance(info.get("path"), str) and isinstance(info.get("sha256"), str)):
            raise TypeError(f"files.{fmt} must hold a path and a sha256")
    positions = metadata.get("position_features")
    if positions is not None and not (positive(positions.get("dim")) and isinstance(positions.get("kind"), str)
                                      and isinstance(positions.get("new_node"), str)):
        raise TypeError("position_features must hold an integer dim >= 1, a kind and a new_node rule")
    table = (positions or {}).get("table")
    if table is not None and not (isinstance(table.get("path"), str) and isinstance(table.get("sha256"), str)):
        raise TypeError("position_features.table must hold a path and a sha256")
    return metadata


def _listed_file(directory: Path, meta_path: Path, listed: str, what: str) -> Path:
    """The file ``metadata.json`` lists as ``what``: a file in the export folder, nothing else, not through a
    link either."""
    path = directory / listed
    if Path(listed).name != listed or listed == ".." or path.resolve().parent != directory.resolve():
        raise GraphkdError(f"{meta_path} lists {listed!r} as the {what} file, which is not a file in the export "
                           "folder; refused")
    if not path.is_file():
        raise MissingFileError(f"{path} is missing (listed in {meta_path})")
    return path


def _check_hash(path: Path, sha256: str) -> None:
    if hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
        raise GraphkdError(f"{path} differs from the file exported (sha256 mismatch); export again")


def _position_table(directory: Path, meta_path: Path, info: dict, check_hashes: bool
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """The training graph's position table ``[rows, P]`` and the node id of each row (``None``: row i is node i)."""
    path = _listed_file(directory, meta_path, info["path"], "position table")
    if check_hashes:
        _check_hash(path, info["sha256"])
    try:
        with np.load(path, allow_pickle=False) as arrays:
            table = np.ascontiguousarray(arrays["table"], dtype=np.float32)
            ids = arrays["node_ids"].astype(np.int64) if "node_ids" in arrays.files else None
    except Exception as exc:  # truncated, or not the arrays export writes
        raise GraphkdError(f"{path} is not a position table ({type(exc).__name__}: {exc})") from exc
    if table.ndim != 2 or (ids is not None and ids.shape != (table.shape[0],)):
        raise GraphkdError(f"{path} is not a position table (table {list(table.shape)}, node ids "
                           f"{None if ids is None else list(ids.shape)})")
    return table, ids


class Predictor:
    """An exported student ready to serve. Build it with :meth:`Predictor.load`.

    ``predict_proba(features, positions=None)``: ``[n, F] -> [n, C]`` or ``[F] -> [C]``; ``predict``:
    labels (an ``int`` for a single node). A multi-label student (``task == "multilabel"``) gives one
    independent probability per label, ``[n, num_labels]`` (its ``num_classes`` is the number of labels;
    rows need not sum to 1), and ``predict`` gives per-label 0/1 decisions, 1 where the probability is above
    0.5 (``THRESHOLD``; a logit above 0). Attributes: ``backend``, ``metadata``, ``task`` (``multiclass``,
    ``binary`` or ``multilabel``), ``metric`` (what the student was scored by; ``None`` for an export made
    before tasks existed), ``num_features``, ``num_classes``, ``class_names`` (per label for a multi-label
    student), ``position_dim`` (0, or how many position features per node the student takes besides its
    ``num_features`` features). ``node_positions(nodes)`` and ``new_node_positions(neighbours)`` give those
    features from the exported position table.
    """

    def __init__(self, forward, metadata: dict, backend: str,
                 positions: tuple[np.ndarray, np.ndarray | None] | None = None):
        self._forward = forward
        self._positions = positions
        self.metadata = metadata
        self.backend = backend
        self.num_features = int(metadata["num_features"])
        self.position_dim = int((metadata.get("position_features") or {}).get("dim", 0))
        self.row_normalize = bool(metadata["preprocessing"]["row_normalize"])
        self.num_classes = int(metadata["num_classes"])
        self.class_names = metadata.get("class_names")
        self.task = metadata.get("task", "multiclass")
        self.metric = metadata.get("metric")

    @property
    def multilabel(self) -> bool:
        """One independent probability per label (sigmoids), not a distribution over classes."""
        return self.task == "multilabel"

    @classmethod
    def load(cls, directory: str | os.PathLike, backend: str = "auto", num_threads: int | None = None,
             check_hashes: bool = True) -> Predictor:
        """Load the student that ``graphkd export`` wrote to ``directory``.

        ``backend``: ``onnx``, ``torch_export``, ``numpy``, or ``auto``: ``numpy`` when exported (fastest
        for single nodes, no torch), else ``onnx``; with ``num_threads``, auto prefers ``onnx``. Auto never
        picks ``torch_export``: loading a ``torch.export`` archive can run code, so it is asked for by name.
        ``num_threads``: intra-op threads for onnxruntime / torch (torch: process-wide); the numpy
        backend uses NumPy's BLAS threads (set ``OMP_NUM_THREADS`` before starting Python).
        ``check_hashes``: compare the backend's file with the sha256 recorded at export time.
        """
        directory = Path(directory)
        meta_path = directory / "metadata.json"
        if not meta_path.is_file():
            raise MissingFileError(f"{directory} holds no exported student (no metadata.json); "
                                   f"write one with `graphkd export --model MODEL --out {directory}`")
        try:
            metadata = _checked_metadata(json.loads(meta_path.read_text()))
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:  # RecursionError: deep JSON
            raise GraphkdError(f"{meta_path} is not a graphkd export's metadata ({type(exc).__name__}: {exc})") from exc
        exported = [fmt for fmt in BACKENDS if fmt in metadata.get("files", {})]
        valid = ("auto",) + BACKENDS
        if backend not in valid:
            raise GraphkdError(f"unknown backend {backend!r}; valid: {', '.join(valid)}")
        if backend == "auto":
            order = ("onnx", "numpy") if num_threads is not None else ("numpy", "onnx")
            backend = next((fmt for fmt in order if fmt in exported), None)
            if backend is None and "torch_export" in exported:
                raise MissingFileError(f"{directory} holds only a torch_export student, which can run code when "
                                       "loaded: if you exported it yourself, load it with backend='torch_export'")
            if backend is None:
                raise MissingFileError(f"{meta_path} lists no exported file; valid formats: {', '.join(BACKENDS)}")
        elif backend not in exported:
            raise MissingFileError(f"{directory} was exported without the {backend} backend; "
                                   f"exported: {', '.join(exported) or 'none'}")
        if num_threads is not None and backend == "numpy":
            raise GraphkdError("num_threads applies to the onnx and torch_export backends; the numpy backend uses "
                               "NumPy's BLAS threads (set OMP_NUM_THREADS before starting Python)")
        if num_threads is not None and not (isinstance(num_threads, int) and num_threads >= 1):
            raise GraphkdError(f"num_threads must be an integer >= 1, got {num_threads!r}")
        path = _listed_file(directory, meta_path, metadata["files"][backend]["path"], backend)
        if check_hashes:
            _check_hash(path, metadata["files"][backend]["sha256"])
        table_info = (metadata.get("position_features") or {}).get("table")
        table = _position_table(directory, meta_path, table_info, check_hashes) if table_info else None
        # With position features the features alone are normalised, here, before the two are joined.
        row_normalize = bool(metadata["preprocessing"]["row_normalize"]) and not metadata.get("position_features")
        multilabel = metadata.get("task") == "multilabel"
        loaders = {"numpy": lambda: _numpy_forward(path, row_normalize, multilabel),
                   "onnx": lambda: _onnx_forward(path, row_normalize, num_threads),
                   "torch_export": lambda: _torch_export_forward(path, row_normalize, num_threads)}
        width = metadata["num_features"] + int((metadata.get("position_features") or {}).get("dim", 0))
        try:  # a file that does not load, or a model of another shape than its metadata says
            forward = loaders[backend]()
            shape = np.shape(forward(np.ones((2, width), np.float32)))
        except ImportError:
            raise
        except Exception as exc:
            raise GraphkdError(f"{path} is not a loadable {backend} student ({type(exc).__name__}: {exc})") from exc
        if shape != (2, metadata["num_classes"]):
            raise GraphkdError(f"{path} maps {width} features to {shape[-1]} outputs; {meta_path} says "
                               f"{metadata['num_classes']} classes")
        return cls(forward, metadata, backend, table)

    def predict_proba(self, features, positions=None) -> np.ndarray:
        """Class probabilities: ``[n, C]`` for ``[n, F]`` features, ``[C]`` for one node's ``[F]``; for a
        multi-label student, one probability per label (``[n, num_labels]``, sigmoids).
        ``positions``: ``[n, P]`` (or ``[P]``) position features, for a student trained with them."""
        x = _real_array(features, "features")
        if self.row_normalize and (x < 0).any():  # a negative row sum would blow the row up to one class
            row = int(np.argwhere(x < 0)[0][0]) if x.ndim == 2 else 0
            raise GraphkdError(f"this student divides each node's features by their sum, which needs non-negative "
                               f"features (counts or indicators); row {row} has negative values")
        if x.ndim not in (1, 2) or x.shape[-1] != self.num_features:
            raise GraphkdError(f"features must have shape [n, {self.num_features}] or [{self.num_features}], "
                               f"got {list(x.shape)}")
        if self.position_dim:
            x = self._with_positions(x, positions)
        elif positions is not None:
            raise GraphkdError("this student was trained without position features; call it with features alone")
        probs = self._forward(x)
        # Every row's softmax sums to 1, so the total is finite unless some input was NaN/inf (which propagates).
        # A sigmoid maps an infinite logit to 0 or 1, so a multi-label student's input is checked itself.
        if not math.isfinite(probs.sum()) or (self.multilabel and not np.isfinite(x).all()):
            raise self._non_finite(x)
        return probs

    def _with_positions(self, x: np.ndarray, positions) -> np.ndarray:
        info = self.metadata["position_features"]
        if positions is None:
            raise GraphkdError(f"this student also takes {self.position_dim} {info['kind']} position features per "
                               f"node (positions=[n, {self.position_dim}]): a node of the training graph has its row "
                               f"of graphkd.distill.spectral_positions; {info['new_node']}")
        p = _real_array(positions, "positions")
        if not np.isfinite(p).all():
            raise GraphkdError(f"positions hold {int((~np.isfinite(p)).sum())} NaN or inf value(s)")
        if p.shape != x.shape[:-1] + (self.position_dim,):
            raise GraphkdError(f"positions must have shape {list(x.shape[:-1]) + [self.position_dim]} for features "
                               f"of shape {list(x.shape)}, got {list(p.shape)}")
        return np.concatenate([_row_normalize(x) if self.row_normalize else x, p], axis=-1)

    def _table(self) -> tuple[np.ndarray, np.ndarray | None]:
        if not self.position_dim:
            raise GraphkdError("this student was trained without position features")
        if self._positions is None:
            raise GraphkdError("this export holds no position table (it was exported from a module, not from "
                               "graphkd distill's model file): compute a training node's row with "
                               "graphkd.distill.spectral_positions on the training graph")
        return self._positions

    def _rows(self, nodes, what: str) -> np.ndarray:
        """The table rows of training-graph node ids ``nodes``."""
        table, node_ids = self._table()
        ids = as_node_ids(nodes, what)
        if node_ids is None:
            rows = np.where((ids >= 0) & (ids < table.shape[0]), ids, -1)
        else:  # the training graph was a part of the user's (the inductive setting's observed nodes)
            order = np.argsort(node_ids)
            at = np.searchsorted(node_ids, ids, sorter=order).clip(max=node_ids.size - 1)
            rows = np.where(node_ids[order[at]] == ids, order[at], -1)
        if (rows < 0).any():
            raise GraphkdError(f"node {int(ids[rows < 0][0])} was not in the training graph; a node that was not "
                               "gets its positions from its neighbours: new_node_positions(neighbours)")
        return rows

    def node_positions(self, nodes) -> np.ndarray:
        """The position features ``[n, P]`` of training-graph nodes, by their ids in the graph the student was
        distilled on (the ``Data`` given to, or loaded by, ``graphkd distill``)."""
        return self._table()[0][self._rows(nodes, "nodes")]

    def new_node_positions(self, neighbours) -> np.ndarray:
        """The position features ``[P]`` of a node that was not in the training graph: the mean of its
        ``neighbours``' rows (ids of training-graph nodes, as for :meth:`node_positions`), zeros with none."""
        table, _ = self._table()
        return mean_rows(table, self._rows(neighbours, "neighbours"))

    def predict(self, features, positions=None):
        """Class labels: an ``int`` for one node's ``[F]`` features, an int64 array ``[n]`` for ``[n, F]``. For a
        multi-label student, per-label decisions: an int64 array of 0/1, ``[num_labels]`` for one node and
        ``[n, num_labels]`` for ``[n, F]``, 1 where the label's probability is above 0.5 (``THRESHOLD``)."""
        probs = self.predict_proba(features, positions)
        if self.multilabel:
            return (probs > THRESHOLD).astype(np.int64)
        return int(probs.argmax()) if probs.ndim == 1 else probs.argmax(axis=1)

    @staticmethod
    def _non_finite(x: np.ndarray) -> GraphkdError:
        bad = ~np.isfinite(x)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=-1)) if x.ndim == 2 else []
            where = f" in row(s) {rows[:10].tolist()}" if len(rows) else ""
            return GraphkdError(f"features hold {int(bad.sum())} NaN or inf value(s){where}")
        return GraphkdError("the model's output is not finite (the features are too large in magnitude)")
