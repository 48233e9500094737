"""Teachers graphkd trains (recipes, training, ensembles) and running a trained teacher on a graph: its
logits and the representations the knowledge terms read, checked. Outputs computed elsewhere are checked
here too. What a user passes as the teacher becomes one object in :mod:`graphkd.distill.teacher`.
"""
from __future__ import annotations

import inspect
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphkd.checks import check_logits, to_float32
from graphkd.data.load import model_graph
from graphkd.device import graph_on, module_device, resolve_device
from graphkd.distill.soft_targets import SoftTargets
from graphkd.errors import GraphkdError, MissingFileError
from graphkd.inputs import model_inputs
from graphkd.io import load_tensors
from graphkd.models import MODELS, build_model
from graphkd.tasks import class_weights, split_scores, task_of
from graphkd.training import TrainConfig, consistency_loss, cross_entropy_on, train_full_batch

__all__ = [
    "CONSISTENCY_SAMPLES",
    "DEEP_TEACHER",
    "PRE_NORM_TEACHER",
    "TEACHER_DEFAULTS",
    "TEACHER_NAMES",
    "build_teacher",
    "capture",
    "check_outputs",
    "check_teacher_layer",
    "default_hidden_layer",
    "ensemble_members",
    "fit_teachers",
    "hard_label_weights",
    "load_teacher_outputs",
    "member_outputs",
    "refuse_unknown_keys",
    "teacher_outputs",
    "teacher_recipe",
    "teacher_scores",
    "train_teachers",
    "warn_if_probabilities",
]

TEACHER_NAMES = ("gcn", "gat", "sage", "appnp", "grand", "gatsep")


def ensemble_members(teacher) -> list[str] | None:
    """``"gcn+gat"`` -> ``["gcn", "gat"]``; ``None`` when ``teacher`` is not a (combination of) names."""
    if not isinstance(teacher, str):
        return None
    members = [m.strip().lower() for m in teacher.split("+")]
    return members if all(m in TEACHER_NAMES for m in members) else None


def default_hidden_layer(model: torch.nn.Module) -> str:
    """The module whose output is the teacher's last hidden representation: the one a model names as its
    ``representation`` (graphkd's GRAND: its propagation), else the second-to-last entry of a ``convs`` list
    (graphkd's GNNs and PyG's ``BasicGNN`` models) or of a ``lins`` list (graphkd's APPNP, whose layers before
    the propagation are linear). Other modules must name one."""
    if isinstance(getattr(model, "representation", None), str):
        return model.representation
    for attribute in ("convs", "lins"):
        layers = getattr(model, attribute, None)
        if isinstance(layers, torch.nn.ModuleList) and len(layers) >= 2:
            return f"{attribute}.{len(layers) - 2}"
    names = [name for name, _ in model.named_modules() if name]
    raise GraphkdError(f"cannot tell which layer of {type(model).__name__} holds its hidden representation; "
                       f"name one (teacher_layer=...), e.g. one of: {', '.join(names[:12])}")


def teacher_scores(scores: Tensor, data: Data, prefix: str = "teacher") -> dict:
    """Validation and test metric of full-graph ``scores`` (logits or probabilities) by the graph's task:
    ``{prefix}_val_acc`` and ``{prefix}_test_acc`` for accuracy (see :func:`graphkd.tasks.split_scores`)."""
    return split_scores(scores, data, f"{prefix}_")


@torch.no_grad()
def teacher_outputs(model: torch.nn.Module, data: Data, layers: list[str] | tuple[str, ...] = ()
                    ) -> tuple[Tensor, dict[str, Tensor]]:
    """Run a trained ``model(x, edge_index)`` once on the whole graph in eval mode; return its logits
    ``[num_nodes, C]`` and the outputs of the submodules named in ``layers`` (forward hooks; a module
    called several times in one forward pass keeps its last output; one never called is refused). The model
    runs where its parameters are (a user's module on a GPU stays there), and what it returns comes back to
    ``data``'s device."""
    home = data.x.device
    data = graph_on(data, module_device(model))
    logits, outputs = _run_teacher(model, data, layers)
    return logits.to(home), {name: out.to(home) for name, out in outputs.items()}


def _run_teacher(model: torch.nn.Module, data: Data, layers) -> tuple[Tensor, dict[str, Tensor]]:
    modules = _check_layers(model, layers)
    outputs: dict[str, Tensor] = {}
    def keep(name, out):  # a copy: the forward may go on to change its tensor in place (``h.relu_()``)
        outputs[name] = out.clone() if isinstance(out, Tensor) else out

    hooks = [modules[name].register_forward_hook(lambda _m, _i, out, name=name: keep(name, out)) for name in layers]
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:  # graphkd's own models take sparse inputs where faster; a user's module gets what PyG passes
        graphkd_model = isinstance(model, tuple(MODELS.values()))
        logits = model(*(model_inputs(model, data) if graphkd_model else _user_inputs(model, data)))
    except TypeError as exc:  # a forward that is not model(x, edge_index), or a TypeError raised inside one
        try:
            inspect.signature(model.forward).bind(data.x, data.edge_index)
        except (TypeError, ValueError):
            raise GraphkdError(f"the teacher is called as model(x, edge_index), the PyG way; {type(model).__name__} "
                               f"refused that ({exc})") from exc
        raise GraphkdError(f"the teacher {type(model).__name__} takes model(x, edge_index), but its forward raised "
                           f"TypeError on this graph: {exc}") from exc
    except Exception as exc:  # e.g. a model built for another feature size; a user's KeyError or AttributeError too
        raise GraphkdError(f"the teacher {type(model).__name__} failed on this graph ({data.num_nodes} nodes, "
                           f"{data.num_features} features): {type(exc).__name__}: {exc}") from exc
    finally:
        for module, training in modes.items():  # the user's module is left as it came, submodules too
            module.training = training
        for hook in hooks:
            hook.remove()
    if not isinstance(logits, Tensor) or logits.dim() != 2 or logits.size(0) != data.num_nodes:
        raise GraphkdError(f"the teacher must return logits [num_nodes={data.num_nodes}, num_classes], got "
                           f"{tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__}")
    if not logits.is_floating_point():
        raise GraphkdError(f"the teacher must return real floating-point logits, got {logits.dtype}")
    check_logits(f"the logits of {type(model).__name__}", logits)  # else it would be scored on argmax(NaN) = 0
    silent = [name for name in layers if name not in outputs]
    if silent:  # e.g. GRAND's first layer, whose weight it applies directly
        raise GraphkdError(f"teacher layer {silent[0]!r} of {type(model).__name__} is not called in its forward pass, "
                           f"so it has no output to capture; name a layer that is"
                           + (f", e.g. {model.representation!r}" if isinstance(getattr(model, "representation", None),
                                                                              str) else ""))
    for name, out in outputs.items():
        if not isinstance(out, Tensor):
            raise GraphkdError(f"teacher layer {name!r} returns {type(out).__name__}, not one "
                               "tensor; name a layer whose output is the representation [num_nodes, d]")
        if out.dim() != 2 or out.size(0) != data.num_nodes:  # e.g. one row per edge: not a node representation
            raise GraphkdError(f"teacher layer {name!r} returns {list(out.shape)}; a representation must be "
                               f"[num_nodes={data.num_nodes}, d], one row per node")
    return logits, outputs


def _user_inputs(model: torch.nn.Module, data: Data) -> tuple[Tensor, Tensor]:
    """What a user's module is called with: copies of ``x`` and ``edge_index``, so that a forward changing them in
    place changes neither what the labels-only MLP and the student learn next nor the caller's ``Data``; the
    features (float32, as every model sees them) in the module's own floating dtype (a float64 module: widened)."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), data.x.dtype)
    return data.x.to(dtype, copy=True), data.edge_index.clone()


def warn_if_probabilities(logits: Tensor) -> None:
    """Soft targets are the softmax of the logits: given probabilities, that softmax flattens them."""
    if logits.numel() and bool((logits >= 0).all()) and bool(((logits.sum(-1) - 1).abs() < 1e-3).all()):
        warnings.warn("the teacher outputs look like probabilities (non-negative, rows summing to 1); graphkd "
                      "takes logits and applies the softmax itself, so pass their log instead, e.g. "
                      "probs.clamp_min(1e-8).log()", stacklevel=3)


def _check_layers(model: torch.nn.Module, layers) -> dict[str, torch.nn.Module]:
    """``model``'s submodules by name, after refusing a name in ``layers`` that is not one of them."""
    modules = dict(model.named_modules())
    unknown = [name for name in layers if name not in modules]
    if unknown:
        raise GraphkdError(f"teacher has no submodule {unknown[0]!r}; its submodules: "
                           f"{', '.join(n for n in modules if n)}")
    return modules


def check_teacher_layer(cfg, data: Data) -> None:
    """Before any teacher trains: refuse a representation layer that a teacher named by ``cfg`` would not
    have, or would not call (checked by running an untrained copy once; the random state is left as it was)."""
    if not cfg.needs_representations() or not cfg.source.trains_here:
        return
    with torch.random.fork_rng():
        model = build_teacher(cfg, data, cfg.source.members[0])
        teacher_outputs(model, data, [cfg.teacher_layer or default_hidden_layer(model)])


def capture(model: torch.nn.Module, data: Data, layers: str | list[str] | tuple[str, ...] | None = (),
            transfer: str | Tensor = "all") -> SoftTargets:
    """Soft targets of a trained module, to keep or pass around: its logits and the named layers' outputs
    on the transfer set, scored on the validation and test nodes. ``layers``: one name or several."""
    if not isinstance(model, torch.nn.Module):  # a plain function has no layers to hook and no parameters
        raise GraphkdError(f"capture takes a trained torch.nn.Module called as model(x, edge_index), got "
                           f"{type(model).__name__}; for logits computed elsewhere use "
                           "SoftTargets.from_logits or pass them as the teacher")
    data = model_graph(data)  # checked, with the float32 features the models take
    layers = () if layers is None else [layers] if isinstance(layers, str) else layers
    logits, hidden = teacher_outputs(model, data, layers)
    warn_if_probabilities(logits)
    return SoftTargets.from_logits([logits], data, transfer, hidden=hidden, **teacher_scores(logits, data),
                                   params=sum(p.numel() for p in model.parameters()))


def check_outputs(outputs, data: Data) -> dict[str, Tensor]:
    """Teacher outputs as real float tensors ``[num_nodes, channels]``, or one error saying what is wrong."""
    if not isinstance(outputs, dict):
        raise GraphkdError(f"teacher hidden representations must be a dict {{name: [num_nodes, d]}}, got "
                           f"{type(outputs).__name__}")
    checked = {}
    for name, h in outputs.items():
        try:
            h = torch.as_tensor(h)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise GraphkdError(f"teacher {name} is not a tensor ({type(h).__name__}: {exc})") from exc
        if h.is_complex():
            raise GraphkdError(f"teacher {name} must be real-valued, got complex numbers")
        if name == "logits" and not h.is_floating_point():
            raise GraphkdError(f"teacher logits must be floating point, got {h.dtype} (class labels or one-hot "
                               "rows are not logits)")
        if h.layout != torch.strided:
            h = h.to_dense()
        if h.dim() != 2 or h.size(0) != data.num_nodes or (name == "logits" and h.size(1) == 0):  # argmax fails
            raise GraphkdError(f"teacher {name} must be [num_nodes={data.num_nodes}, channels]"
                               f"{' with at least one class' if name == 'logits' else ''}, got {tuple(h.shape)}")
        # every row: those outside the transfer set score the teacher
        checked[str(name)] = to_float32(f"teacher {name}", h, logits=name == "logits")
    return checked


def load_teacher_outputs(path: str | os.PathLike) -> SoftTargets | dict:
    """A file of teacher outputs: a graphkd soft-target file, or ``logits`` (and ``hidden``) in a ``.pt``
    dict or an ``.npz`` archive. Never unpickles: ``.pt`` files load with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no teacher output file at {path}")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as arrays:
                blob = {"logits": torch.from_numpy(arrays["logits"]) if "logits" in arrays else None,
                        "hidden": {key.split(".", 1)[1]: torch.from_numpy(arrays[key])
                                   for key in arrays if key.startswith("hidden.")}}
                keys = [key for key in arrays if not key.startswith("hidden.")]
        except Exception as exc:  # truncated, corrupt, or object arrays that would need unpickling
            raise GraphkdError(f"{path} is not a readable .npz of teacher outputs ({type(exc).__name__}: {exc})") \
                from exc
    else:
        blob = load_tensors(path, "file of teacher outputs")
        if isinstance(blob, dict) and "meta_json" in blob:
            return SoftTargets.load(path)
        blob = {"logits": blob} if isinstance(blob, Tensor) else blob
        keys = list(blob) if isinstance(blob, dict) else []
    if not isinstance(blob, dict) or not isinstance(blob.get("logits"), Tensor):
        raise GraphkdError(f"{path}: expected teacher logits (a tensor, or a dict / .npz with 'logits')")
    refuse_unknown_keys(keys, str(path))
    return blob


def refuse_unknown_keys(keys, where: str) -> None:
    """A misspelt key (``"hiddens"``) would otherwise leave its representations unused without a word."""
    unknown = sorted(str(key) for key in keys if key not in ("logits", "hidden"))
    if unknown:
        raise GraphkdError(f"{where}: teacher outputs hold 'logits' and optionally 'hidden' ('hidden.<layer>' "
                           f"arrays in an .npz); unknown key(s): {', '.join(unknown)}")


# Published teacher recipes (anchors.md): GAT 8 heads / dropout 0.6, GCN 64 hidden, SAGE 128 hidden;
# APPNP as its paper trains it (64 hidden, dropout 0.5, K = 10, alpha = 0.1); GRAND as its paper trains it on
# Cora (K = 8 hops, DropNode 0.5, consistency weight 1.0 over 4 random passes), 64 hidden instead of 32.
TEACHER_DEFAULTS = {
    "gat": {"hidden_channels": 64, "dropout": 0.6, "lr": 0.005, "pre_norm": False},
    "gcn": {"hidden_channels": 64, "dropout": 0.8, "lr": 0.01, "pre_norm": False},
    "sage": {"hidden_channels": 128, "dropout": 0.5, "lr": 0.01, "pre_norm": False},
    # GAT-sep in Platonov et al.'s pre-norm residual blocks, their dropout and layer norm (their width is 512)
    "gatsep": {"hidden_channels": 64, "dropout": 0.2, "lr": 0.005, "norm": "layer_norm", "pre_norm": True},
    "appnp": {"hidden_channels": 64, "dropout": 0.5, "lr": 0.01, "K": 10},
    "grand": {"hidden_channels": 64, "dropout": 0.5, "lr": 0.01, "K": 8, "node_dropout": 0.5, "consistency": 1.0},
}
# Random forward passes per step of a teacher trained with the consistency term (GRAND's S on Cora).
CONSISTENCY_SAMPLES = 4
# With the consistency term, validation accuracy climbs slowly and noisily: such a teacher trains with 4x the
# patience and 2x the epochs (GRAND's own 200 and 1000 at graphkd's defaults). GRAND on Cora (CPF split), a
# prototype of this model on seeds 0-2: patience 50 stopped at 84.3% validation accuracy (test 83.2%), 100 at
# 85.4% (84.1%); this one at 200, seeds 0-5: 86.1% (84.0%). On Computers seed 0 the best epoch was 526.
CONSISTENCY_PATIENCE_SCALE, CONSISTENCY_EPOCHS_SCALE = 4, 2
# The published dropouts are 2-layer recipes; compounded over deeper stacks they stop training (on
# CSBM a 4-layer GAT reached 30% at dropout 0.6 and 97% at 0.2; an 8-layer GCN 24% at 0.8, 99% at 0.2).
# Layer norm, not batch norm: in the depth study (benchmarks/results/depth.md) it validated best for every
# 4- and 8-layer teacher on Cora and CiteSeer (a 4-layer GCN on Cora: 82.9% against 79.9% at dropout 0.2).
DEEP_TEACHER = {"dropout": 0.2, "norm": "layer_norm"}
# A GCN, SAGE or GAT teacher asked for in pre-norm residual blocks (teacher_pre_norm=True) at any depth:
# Platonov et al.'s dropout and their "residual connections with layer norm".
PRE_NORM_TEACHER = {"dropout": 0.2, "norm": "layer_norm"}
# Deep teachers also train at least 2 x patience epochs: an 8-layer GCN on CiteSeer (CPF split) sat at
# chance for more than `patience` epochs on 4 of 10 seeds and early stopping kept it there (test 7.3% and
# 8.5% on seeds 1 and 2); made to train 100 epochs first it reached 59.9% and 49.7%.
DEEP_MIN_EPOCHS_PER_PATIENCE = 2


def teacher_recipe(cfg, kind: str) -> dict:
    """How a teacher of architecture ``kind`` is built and trained: ``cfg``'s teacher settings where given,
    else the architecture's defaults (with :data:`DEEP_TEACHER` above 2 layers, :data:`PRE_NORM_TEACHER` when
    ``cfg.teacher_pre_norm`` asks for pre-norm residual blocks). Hops (``K``), DropNode and pre-norm blocks apply
    to the architectures that have them; the consistency weight and random passes to any."""
    recipe = {"norm": None, "consistency": 0.0, **TEACHER_DEFAULTS[kind],
              **(DEEP_TEACHER if cfg.teacher_layers > 2 else {})}
    if cfg.teacher_pre_norm and "pre_norm" in recipe:
        recipe.update(PRE_NORM_TEACHER)
    given = {"hidden_channels": cfg.teacher_hidden, "dropout": cfg.teacher_dropout, "norm": cfg.teacher_norm,
             "K": cfg.teacher_hops, "node_dropout": cfg.teacher_node_dropout, "consistency": cfg.teacher_consistency,
             "pre_norm": cfg.teacher_pre_norm}
    recipe.update({key: value for key, value in given.items() if value is not None and key in recipe})
    recipe["norm"] = None if recipe["norm"] == "none" else recipe["norm"]
    recipe["samples"] = cfg.teacher_samples or (CONSISTENCY_SAMPLES if recipe["consistency"] else 1)
    return recipe


def build_teacher(cfg, data: Data, kind: str) -> torch.nn.Module:
    """A fresh teacher of architecture ``kind`` as :func:`teacher_recipe` describes it, on ``data``'s device."""
    recipe = teacher_recipe(cfg, kind)
    kwargs = {"heads": cfg.heads} if kind in ("gat", "gatsep") else {}
    kwargs.update({key: recipe[key] for key in ("K", "node_dropout", "pre_norm") if key in recipe})
    model = build_model(kind, in_channels=data.num_features, hidden_channels=recipe["hidden_channels"],
                        out_channels=task_of(data).num_outputs(data.y), num_layers=cfg.teacher_layers,
                        dropout=recipe["dropout"], norm=recipe["norm"], **kwargs)
    return model.to(data.x.device)  # initialised on the CPU's generator: the same weights on every device


def hard_label_weights(cfg, data: Data) -> Tensor | None:
    """The hard-label term's weights when ``cfg.class_weights`` asks for them (:func:`graphkd.tasks.class_weights`
    of the training labels), else ``None``."""
    return class_weights(task_of(data), data.y[data.train_mask]) if cfg.class_weights else None


def fit_teachers(cfg, data: Data, seed: int, progress: bool = False, checkpoints: Path | None = None
                 ) -> list[torch.nn.Module]:
    """Train the teacher(s) ``cfg.teacher`` names (each architecture ``cfg.ensemble`` times) on the training
    labels, each as :func:`teacher_recipe` describes it, on ``cfg.device``; returns the trained members in eval
    mode, on that device.

    ``checkpoints``: a folder for resumable training state (an interrupted run continues there)."""
    data = graph_on(data, resolve_device(getattr(cfg, "device", "cpu")))  # a no-op where the caller moved it
    models, task = [], task_of(data)
    for member, kind in enumerate(cfg.source.members * cfg.ensemble):
        torch.manual_seed(seed * 1000 + member)
        model = build_teacher(cfg, data, kind)
        recipe = teacher_recipe(cfg, kind)
        epochs, patience = cfg.epochs, cfg.patience
        if recipe["consistency"] and task.multilabel:
            raise GraphkdError("the consistency term (GRAND) compares class distributions; a multi-label task has "
                               "none: train another teacher, or set the consistency weight to 0")
        if recipe["consistency"]:
            epochs, patience = epochs * CONSISTENCY_EPOCHS_SCALE, patience * CONSISTENCY_PATIENCE_SCALE
        min_epochs = min(DEEP_MIN_EPOCHS_PER_PATIENCE * patience, epochs) if cfg.teacher_layers > 2 else 0
        train_cfg = TrainConfig(epochs, recipe["lr"], cfg.weight_decay, patience, min_epochs=min_epochs)
        loss = (consistency_loss(data.train_mask, data.y, recipe["consistency"]) if recipe["consistency"]
                else cross_entropy_on(data.train_mask, data.y, task, hard_label_weights(cfg, data)))
        checkpoint = checkpoints / f"seed{seed}-teacher{member}.ckpt" if checkpoints is not None else None
        train_full_batch(model, data, loss, train_cfg, desc=f"teacher {kind} #{member}", progress=progress,
                         checkpoint=checkpoint, samples=recipe["samples"])
        models.append(model)
    return models


def member_outputs(models: list[torch.nn.Module], data: Data, layers: list[str] | None = None
                   ) -> tuple[list[Tensor], dict[str, Tensor], dict]:
    """Every trained member's full-graph logits, the first member's representations at ``layers`` (default:
    none; ``[None]`` means its last hidden layer), and metadata: the members' configs and parameter count."""
    first_layers = [name or default_hidden_layer(models[0]) for name in layers or []]
    outputs = [teacher_outputs(model, data, first_layers if member == 0 else [])
               for member, model in enumerate(models)]
    meta = {"teachers": [model.config() for model in models],
            "params": sum(p.numel() for model in models for p in model.parameters())}
    return [logits for logits, _ in outputs], outputs[0][1], meta


def train_teachers(cfg, data: Data, seed: int, layers: list[str] | None = None, progress: bool = False,
                   checkpoints: Path | None = None
                   ) -> tuple[list[Tensor], dict[str, Tensor], dict, list[torch.nn.Module]]:
    """:func:`fit_teachers`, then :func:`member_outputs`: every member's full-graph logits, the first member's
    representations at ``layers``, metadata, and the trained members."""
    models = fit_teachers(cfg, data, seed, progress, checkpoints)
    return (*member_outputs(models, data, layers), models)
