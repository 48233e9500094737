"""Export a trained MLP student for serving: ONNX, a ``torch.export`` program, plain NumPy weights, metadata.

Every exported graph takes one float32 tensor ``[batch, in_channels]``, a node's features with the recorded
preprocessing (row normalisation for Planetoid data) applied by the caller (the Predictor) and then any position
features, and returns class probabilities, or for a multi-label student one sigmoid per label (``metadata.json``
names the task and metric). An export holds a position student's table (``positions.npz``); each file is checked.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from graphkd import __version__
from graphkd.checks import as_float32, check_choice, check_finite
from graphkd.device import module_device
from graphkd.errors import GraphkdError, parse_json
from graphkd.io import file_sha256, folder_path, writable_folder
from graphkd.models import MLP, load_model
from graphkd.serve.predictor import Predictor, check_class_names
from graphkd.tasks import Task

__all__ = ["FILES", "FORMATS", "StudentLabelProbabilities", "StudentProbabilities", "add_parser", "export_student",
           "fold_batch_norm", "verify_export"]

FORMATS = ("onnx", "torch_export", "numpy")
FILES = {"onnx": "student.onnx", "torch_export": "student.pt2", "numpy": "student.npz"}
POSITIONS_FILE = "positions.npz"
PREPROCESSING_KEYS = ("row_normalize",)
# Exported results must match eager PyTorch this closely (probabilities, max abs difference).
TOLERANCE = 1e-5


class StudentProbabilities(torch.nn.Module):
    """The student with a softmax on top, so exported graphs hand back probabilities."""

    def __init__(self, student: MLP):
        super().__init__()
        self.student = student

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.student(x), dim=-1)


# Kept apart, and below: torch.export and ONNX record the source line of each forward, so a multiclass export's
# files stay byte for byte as they were before multi-label students existed.
class StudentLabelProbabilities(StudentProbabilities):
    """A multi-label student with a sigmoid per label on top: independent probabilities, rows need not sum to 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.student(x))


# What metadata.json says the graphs return, for a multiclass or binary student (False) and a multi-label one.
_OUTPUT = {False: "probabilities [batch, num_classes] float32",
           True: "probabilities [batch, num_classes] float32, one independent probability per label (sigmoid; "
                 "num_classes is the number of labels, and rows need not sum to 1)"}
_LAST_LAYER = {False: "softmax(h @ weight + bias)", True: "sigmoid(h @ weight + bias) per label"}


def _task(meta: dict, model: MLP) -> Task:
    """The task the student was trained for, as its meta records it (``graphkd distill`` records every task but
    multiclass scored by accuracy, which a file without ``task`` is)."""
    task = Task(meta.get("task") or "multiclass", meta.get("metric"))
    if task.kind == "binary" and model.out_channels != 2:
        raise GraphkdError(f"a binary task's student has 2 outputs; this one has {model.out_channels}")
    return task


def _scores(meta: dict, task: Task) -> dict | None:
    """The student's ``val_<metric>``/``test_<metric>`` as the model file records them (``None``: not recorded)."""
    scores = meta.get("scores")
    if scores is None:
        return None
    if not (isinstance(scores, dict) and all(isinstance(k, str) and (v is None or isinstance(v, int | float))
                                             and not isinstance(v, bool) for k, v in scores.items())):
        raise GraphkdError(f"meta scores must map names such as 'test_{task.key}' to numbers, got {scores!r:.80}")
    return {k: None if v is None else float(v) for k, v in scores.items()}


def fold_batch_norm(model: MLP) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per layer ``(weight [in, out], bias [out])`` as float32, eval-mode batch norm folded into the linear
    layer before it, so that ``h = relu(h @ weight + bias)`` reproduces ``model.eval()``."""
    layers = []
    for i, lin in enumerate(model.lins):
        weight = lin.weight.detach().double().T  # [in, out]
        bias = lin.bias.detach().double()
        norm = model.norms[i] if i < len(model.norms) else None
        if isinstance(norm, torch.nn.BatchNorm1d):  # fold in float64: the rounding happens once, at the end
            scale = norm.weight.detach().double() / torch.sqrt(norm.running_var.double() + norm.eps)
            weight = weight * scale
            bias = (bias - norm.running_mean.double()) * scale + norm.bias.detach().double()
        layers.append((weight.float().contiguous().numpy(), bias.float().numpy()))
    return layers


def _default_preprocessing(meta: dict) -> dict:
    """What was done to the features in training, as the model file records it. A module handed over
    without meta had nothing done by graphkd; a file that names a dataset but records nothing (written
    by graphkd before 0.2) cannot be trusted to a guess from the name."""
    if "preprocessing" in meta:
        return meta["preprocessing"]
    if meta.get("dataset") is None:
        return {"row_normalize": False}
    raise GraphkdError(f"the model file does not record what was done to its features in training (dataset "
                       f"{meta['dataset']!r}); say it: preprocessing={{'row_normalize': True or False}}, or "
                       "--row-normalize yes/no")


def _check_preprocessing(preprocessing: dict) -> dict:
    unknown = set(preprocessing) - set(PREPROCESSING_KEYS)
    if unknown:
        raise GraphkdError(f"unknown preprocessing key(s) {sorted(unknown)}; valid: {', '.join(PREPROCESSING_KEYS)}")
    row_normalize = preprocessing.get("row_normalize", False)
    if not isinstance(row_normalize, (bool, np.bool_)):  # bool("false") is True: a string is not read as a flag
        raise GraphkdError(f"preprocessing row_normalize must be True or False, got {row_normalize!r}")
    return {"row_normalize": bool(row_normalize)}


def _write_onnx(wrapped: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    # The torch.export-based exporter (the default since PyTorch 2.9); the TorchScript one is deprecated.
    # external_data=False keeps the weights inside the one .onnx file.
    torch.onnx.export(wrapped, (example,), str(path), input_names=["features"], output_names=["probabilities"],
                      dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, external_data=False, verbose=False,
                      dynamo=True)


def _write_torch_export(wrapped: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    program = torch.export.export(wrapped, (example,), dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    torch.export.save(program, str(path))


def _write_numpy(model: MLP, path: Path) -> None:
    arrays = {}
    for i, (weight, bias) in enumerate(fold_batch_norm(model)):
        arrays[f"weight_{i}"], arrays[f"bias_{i}"] = weight, bias
    np.savez(path, **arrays)


def _load_student(model_path_or_module, meta: dict | None) -> tuple[MLP, dict]:
    if isinstance(model_path_or_module, torch.nn.Module):
        model, meta = model_path_or_module, dict(meta or {})
    elif not isinstance(model_path_or_module, (str, os.PathLike)):
        kind = type(model_path_or_module).__name__
        raise GraphkdError(f"export a torch.nn.Module or the path of a saved model, got {kind}")
    else:
        model, saved = load_model(model_path_or_module)
        meta = {**saved, **(meta or {})}
    if not isinstance(model, MLP):
        raise GraphkdError(f"only MLP students can be exported (they need no graph to serve); got "
                           f"{type(model).__name__}. GNN teachers and students need the graph at serving time.")
    if model.norm not in (None, "batch_norm"):  # the NumPy layout folds batch norm into the weights, nothing else
        raise GraphkdError(f"an MLP with norm={model.norm!r} cannot be exported: the NumPy weights fold only "
                           "batch norm; train the student with norm='batch_norm' or None")
    if module_device(model).type != "cpu":  # trained on a GPU: the artifacts serve on a CPU, from a CPU copy
        model = copy.deepcopy(model).cpu()
    return model.eval(), meta


def export_student(model_path_or_module, out_dir: str | os.PathLike, formats=FORMATS,
                   example_features: torch.Tensor | None = None, preprocessing: dict | None = None,
                   class_names: list[str] | None = None, meta: dict | None = None) -> dict:
    """Write an MLP student (a module, or a file from :func:`graphkd.models.save_model`) to ``out_dir``.

    ``formats``: any of ``onnx`` (``student.onnx``), ``torch_export`` (``student.pt2``) and ``numpy``
    (``student.npz``: ``weight_i [in, out]``, ``bias_i``; ``h = relu(h @ weight_i + bias_i)``, softmax
    last; a sigmoid per label for a multi-label student). All have a dynamic batch dimension.
    ``example_features``: ``[n, in_channels]`` used to trace and to verify the artifacts (default: random
    non-negative features). ``preprocessing``: e.g. ``{"row_normalize": True}``; default: what the model file
    records was done to the features in training. ``meta`` adds to (or, for a module, supplies) the model
    file's meta; its ``task`` (``multiclass``, the default, ``binary`` or ``multilabel``), ``metric``
    (default: the task's) and ``scores`` (the student's ``val_<key>``/``test_<key>``), which ``graphkd
    distill`` records for every task but multiclass scored by accuracy, go to ``metadata.json``. Returns the
    metadata written to ``metadata.json``; raises ``RuntimeError`` if an artifact disagrees with the eager model.

    Only the export's own files are written to ``out_dir``: whatever else it holds (a run's results, a
    user's files) stays; a file of an export's name that no export wrote is refused, never replaced.
    """
    if not isinstance(out_dir, str | os.PathLike):
        raise GraphkdError(f"out_dir must be the path of a folder, got {type(out_dir).__name__}")
    if not isinstance(meta, dict | None):
        raise GraphkdError(f"meta must be a dict of JSON values or None, got {type(meta).__name__}")
    if not isinstance(formats, str | list | tuple):
        raise GraphkdError(f"formats must be a format name or a list of them ({', '.join(FORMATS)}), got "
                           f"{type(formats).__name__}")
    formats = [check_choice("export format", f, FORMATS) for f in ([formats] if isinstance(formats, str) else formats)]
    if not formats:
        raise GraphkdError(f"no export format given; valid: {', '.join(FORMATS)}")
    model, meta = _load_student(model_path_or_module, meta)
    if example_features is None:
        example_features = torch.rand(8, model.in_channels, generator=torch.Generator().manual_seed(0))
    example_features = as_float32("example_features", example_features)
    if example_features.dim() != 2 or example_features.size(1) != model.in_channels or len(example_features) < 2:
        raise GraphkdError(f"example_features must have shape [n >= 2, {model.in_channels}], "
                           f"got {tuple(example_features.shape)}")
    preprocessing = _check_preprocessing(_default_preprocessing(meta) if preprocessing is None else preprocessing)
    task = _task(meta, model)

    out_dir = folder_path(out_dir, "export folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise GraphkdError(f"export folder {out_dir} is a file")
    writable_folder(out_dir, "the export folder")
    previous = _previous_export(out_dir)
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".export.", suffix=".tmp"))
    try:
        metadata = _write_export(model, meta, task, staging, formats, example_features, preprocessing, class_names)
        _place_export(staging, out_dir, previous)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return metadata


def _export_files(metadata: dict) -> dict[str, str]:
    """``{file name: sha256}`` of every file an export's ``metadata.json`` lists."""
    listed = {info["path"]: info["sha256"] for info in metadata.get("files", {}).values()}
    table = (metadata.get("position_features") or {}).get("table")
    if table:
        listed[table["path"]] = table["sha256"]
    return listed


def _previous_export(folder: Path) -> dict[str, str]:
    """The files of an earlier export in ``folder`` that are still as graphkd wrote them (name -> sha256).

    An export writes only its own names into a folder that may hold anything else (a run's results, a
    user's files). Where one of those names is taken by a file that no earlier export wrote, the export
    is refused: graphkd never replaces or deletes a file it did not write."""
    own_names = {*FILES.values(), POSITIONS_FILE, "metadata.json"}
    listed: dict[str, str] | None = {}  # None: a metadata.json that is not an export's
    if (folder / "metadata.json").exists():
        try:
            metadata = parse_json((folder / "metadata.json").read_bytes(), "metadata.json")
            listed = _export_files(metadata) if "graphkd_version" in metadata else None
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):  # a user's own
            listed = None
    ours = {} if listed is None else {name: sha for name, sha in listed.items()
                                      if name in own_names and file_sha256(folder / name) == sha}
    clashes = sorted(name for name in own_names - {"metadata.json"} - set(ours) if (folder / name).exists())
    if listed is None:
        clashes.insert(0, "metadata.json")
    if clashes:
        raise GraphkdError(f"export folder {folder} already holds {', '.join(clashes)}, which no graphkd export "
                           "wrote (or which changed since); graphkd never replaces a file it did not write: "
                           "choose another --out, or move those files away")
    return ours


def _place_export(staging: Path, folder: Path, previous: dict[str, str]) -> None:
    """Move the verified files from ``staging`` into ``folder``, ``metadata.json`` last. Of the earlier
    export, only its own files that this one does not write again are removed; nothing else in the folder
    is touched. The earlier ``metadata.json`` goes first, so an export interrupted while its files move
    leaves no metadata that lists a mix of old and new files (the Predictor refuses the folder until the
    export is run again)."""
    (folder / "metadata.json").unlink(missing_ok=True)
    new_files = {path.name for path in staging.iterdir()}
    for name in previous:
        if name not in new_files:
            (folder / name).unlink(missing_ok=True)
    for name in sorted(new_files - {"metadata.json"}):
        os.replace(staging / name, folder / name)
    os.replace(staging / "metadata.json", folder / "metadata.json")


def _write_export(model: MLP, meta: dict, task: Task, out_dir: Path, formats: list[str],
                  example_features: torch.Tensor, preprocessing: dict, class_names: list[str] | None) -> dict:
    """Write and verify every artifact in ``out_dir``; returns the metadata with the differences found."""
    wrapped = (StudentLabelProbabilities if task.multilabel else StudentProbabilities)(model).eval()
    writers = {"onnx": lambda p: _write_onnx(wrapped, example_features, p),
               "torch_export": lambda p: _write_torch_export(wrapped, example_features, p),
               "numpy": lambda p: _write_numpy(model, p)}
    for fmt in formats:
        writers[fmt](out_dir / FILES[fmt])

    positions = _write_positions(meta.get("position_features"), model, out_dir)
    metadata = {
        "graphkd_version": __version__,
        "model": model.config(),
        # A student with position features takes them after the node's features (see the Predictor).
        "num_features": model.in_channels - (positions["dim"] if positions else 0),
        "position_features": positions,
        "num_classes": model.out_channels,
        # What the student was trained for and scored by (metric names as graphkd.tasks.METRICS).
        "task": task.kind,
        "metric": task.metric,
        "hidden_sizes": [lin.out_features for lin in model.lins[:-1]],
        "class_names": check_class_names(meta.get("class_names") if class_names is None else class_names,
                                         model.out_channels),
        "preprocessing": preprocessing,
        "input": "Predictor: features [batch, num_features] float32 as they come, and position features "
                 "[batch, position_features.dim] when position_features is set. The ONNX and torch.export "
                 "graphs: one float32 tensor [batch, num_features + position_features.dim], the features with "
                 "the preprocessing applied, then the position features as they are",
        "output": _OUTPUT[task.multilabel],
        "numpy_layout": "h = relu(h @ weight_i + bias_i) for each layer but the last; "
                        f"{_LAST_LAYER[task.multilabel]} on the last; weight_i is [in, out], batch norm folded in",
        **{key: meta.get(key) for key in ("dataset", "split", "seed")},
        "soft_targets_hash": meta.get("soft_targets"),
        "temperature": meta.get("temperature"),
        "scores": _scores(meta, task),
        "files": {fmt: {"path": FILES[fmt], "sha256": file_sha256(out_dir / FILES[fmt])} for fmt in formats},
    }
    (out_dir / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    metadata["max_abs_diff"] = verify_export(out_dir, model, example_features)
    return metadata


def _write_positions(positions: dict | None, model: MLP, out_dir: Path) -> dict | None:
    """The metadata's ``position_features``; the training graph's position table, where the model file
    holds one (``graphkd distill`` saves it), goes to ``positions.npz`` with the node id of each row."""
    if not positions:
        return None
    described = {key: positions[key] for key in ("kind", "dim", "new_node")}
    if positions.get("table") is None:
        return described
    table = torch.as_tensor(positions["table"], dtype=torch.float32)
    node_ids = positions.get("node_ids")
    if table.dim() != 2 or table.size(1) != described["dim"] or (
            node_ids is not None and torch.as_tensor(node_ids).shape != (table.size(0),)):
        raise GraphkdError(f"the model file's position table is {list(table.shape)} with node ids "
                           f"{None if node_ids is None else list(torch.as_tensor(node_ids).shape)}; expected "
                           f"[num_nodes, {described['dim']}] and one id per row")
    arrays = {"table": check_finite("the position table", table).numpy()}
    if node_ids is not None:  # the training graph was part of the user's: row i is node node_ids[i]
        arrays["node_ids"] = torch.as_tensor(node_ids).long().numpy()
    np.savez(out_dir / POSITIONS_FILE, **arrays)
    return {**described, "table": {"path": POSITIONS_FILE, "sha256": file_sha256(out_dir / POSITIONS_FILE),
                                   "rows": table.size(0)}}


def verify_export(out_dir: str | os.PathLike, model: MLP, features: torch.Tensor) -> dict[str, float]:
    """Max abs difference between each exported backend's probabilities and the eager model's on
    ``features`` (raw, preprocessing applied on both sides; a student's position features are the last
    columns); raises ``RuntimeError`` above the tolerance."""
    metadata = parse_json((Path(out_dir) / "metadata.json").read_bytes(), f"{out_dir}/metadata.json")
    num_features = metadata["num_features"]  # the rest of each row are position features, if any
    x, positions = features.float()[:, :num_features], features.float()[:, num_features:]
    if metadata["preprocessing"]["row_normalize"]:
        x = x / x.sum(dim=1, keepdim=True).clamp(min=1e-12)
    with torch.no_grad():
        logits = model.eval()(torch.cat([x, positions], dim=1))
    expected = (logits.sigmoid() if metadata.get("task") == "multilabel" else logits.softmax(dim=-1)).numpy()
    diffs = {}
    for fmt in metadata["files"]:
        got = Predictor.load(out_dir, backend=fmt).predict_proba(
            features[:, :num_features].numpy(), positions.numpy() if metadata["position_features"] else None)
        diffs[fmt] = float(np.abs(got - expected).max())
        if not diffs[fmt] <= TOLERANCE:
            raise RuntimeError(f"exported {fmt} student differs from the eager model by {diffs[fmt]:.3g} "
                               f"(tolerance {TOLERANCE})")
    return diffs


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="export a trained MLP student for serving (ONNX, torch.export, NumPy)",
        description="Export an MLP student saved by `graphkd distill` (student_seed*.pt) to --out: student.onnx "
                    "(onnxruntime), student.pt2 (torch.export), student.npz (plain NumPy weights, batch norm "
                    "folded) and metadata.json (feature size, classes, task and metric, preprocessing, dataset, "
                    "soft-target hash, file hashes); a multi-label student's files return one sigmoid "
                    "probability per label. Each file is checked against the eager model before the command "
                    "succeeds. Serve with graphkd.serve.predictor.Predictor.load(OUT).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    # SUPPRESS: a required option has no default to show
    p.add_argument("--model", required=True, default=argparse.SUPPRESS,
                   help="student model file written by graphkd distill / save_model")
    p.add_argument("--out", required=True, default=argparse.SUPPRESS,
                   help="output folder for the exported files (it may be the run folder: only the export's own "
                        "files are written, and a file of their names that no export wrote is refused)")
    p.add_argument("--format", nargs="+", default=list(FORMATS), choices=list(FORMATS), dest="formats",
                   help="formats to write")
    p.add_argument("--row-normalize", choices=["auto", "yes", "no"], default="auto",
                   help="divide each node's features by their sum before the model; auto: as the model file "
                        "records its training features were (graphkd distill records it; yes for Cora, "
                        "CiteSeer, PubMed as load_dataset reads them)")
    p.add_argument("--class-names", nargs="+", default=None, metavar="NAME",
                   help="one name per class (per label, for a multi-label student), in index order, kept in "
                        "metadata.json for the predictor "
                        "(default: the model file's, if any)")
    p.set_defaults(func=_export)


def _export(args) -> int:
    preprocessing = None if args.row_normalize == "auto" else {"row_normalize": args.row_normalize == "yes"}
    metadata = export_student(args.model, args.out, formats=args.formats, preprocessing=preprocessing,
                              class_names=args.class_names)
    for fmt, info in metadata["files"].items():
        print(f"{Path(args.out) / info['path']}  max abs diff vs eager {metadata['max_abs_diff'][fmt]:.2e}")
    print(f"{Path(args.out) / 'metadata.json'}  preprocessing {metadata['preprocessing']}, task {metadata['task']} "
          f"scored by {metadata['metric']}")
    return 0
