"""One teacher type: whatever a user passes as the teacher becomes a :class:`Teacher` once, at the edge.

A teacher knows its fingerprint (what names its cached soft targets and records), whether graphkd trains it,
whether its soft targets may be cached, and how it makes them. The forms a user may pass, and the teacher
each becomes (:func:`as_teacher`):

- a name or an ensemble, ``"gat"``, ``"gcn+gat+sage"``: :class:`TrainedTeacher` (graphkd trains it);
- a trained ``torch.nn.Module``, called ``model(x, edge_index)``: :class:`ModuleTeacher`;
- logits ``[num_nodes, C]`` (a tensor or a NumPy array) or a dict ``{"logits", "hidden"}``: :class:`GivenOutputs`;
- :class:`SoftTargets`: :class:`GivenSoftTargets`;
- a file of any of these (``.pt`` read with ``weights_only=True``, ``.npz``): :class:`TeacherFile`.

Nothing outside this module asks which form a teacher was given in.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphkd.data.load import model_graph
from graphkd.distill.refine import correct_and_smooth
from graphkd.distill.settings import arrival_score
from graphkd.distill.soft_targets import SoftTargets
from graphkd.distill.teachers import (
    TEACHER_NAMES,
    check_outputs,
    default_hidden_layer,
    ensemble_members,
    fit_teachers,
    load_teacher_outputs,
    member_outputs,
    refuse_unknown_keys,
    teacher_outputs,
    teacher_scores,
    warn_if_probabilities,
)
from graphkd.errors import GraphkdError, MissingFileError
from graphkd.io import update_hash
from graphkd.tasks import task_of

__all__ = ["GivenOutputs", "GivenSoftTargets", "ModuleTeacher", "Teacher", "TeacherFile", "TrainedTeacher",
           "as_teacher", "teacher_fingerprint", "teacher_soft_targets"]


class Teacher:
    """Where a run's knowledge comes from. ``value`` is what the configuration holds (a name, a module,
    outputs, a path); ``members``, the architectures graphkd trains (none for a given teacher)."""

    trains_here = False
    path: Path | None = None  # the file it is read from, if any: what a run file can name
    # Whether soft targets may be cached under the teacher's fingerprint: a module's code can change while
    # its weights (all its fingerprint sees) do not, so its soft targets are made anew each time.
    cacheable = True
    members: tuple[str, ...] = ()

    def __init__(self, value):
        self.value = value

    def fingerprint(self) -> str:
        """A short string that changes whenever the teacher does, computed from what it holds now."""
        raise NotImplementedError

    def soft_targets(self, cfg, data: Data, seed: int, progress: bool = False, checkpoints: Path | None = None,
                     arrivals=None, members: list[torch.nn.Module] | None = None) -> SoftTargets:
        """The soft targets of this teacher for ``cfg`` on ``data``: its full-graph logits (and the
        representation the knowledge terms read), scored on the validation and test nodes, refined when
        ``cfg.refine`` asks, on ``cfg.transfer``."""
        member_logits, hidden, meta = self.outputs(cfg, data, seed, progress, checkpoints, arrivals, members)
        member_logits = [logits.to(data.x.device) for logits in member_logits]  # given outputs: on the CPU
        task = task_of(data)
        probs = torch.stack([task.probabilities(logits) for logits in member_logits]).mean(0)
        meta.update(teacher_scores(probs, data))
        if cfg.refine == "cs" and task.multilabel:
            raise GraphkdError("Correct and Smooth refines class distributions; a multi-label task has none: leave "
                               "refine out")
        if cfg.refine == "cs":
            probs = correct_and_smooth(probs, data, cfg.cs_correction_alpha, cfg.cs_smoothing_alpha)
            member_logits = [probs.clamp_min(1e-8).log()]  # the refined distribution, tempered like logits
            meta.update(teacher_scores(probs, data, prefix="soft_targets"), refine="cs")
        return SoftTargets.from_logits(member_logits, data, cfg.transfer, hidden=hidden, seed=seed, **meta)

    def outputs(self, cfg, data: Data, seed: int, progress: bool, checkpoints: Path | None, arrivals,
                members: list[torch.nn.Module] | None) -> tuple[list[Tensor], dict[str, Tensor], dict]:
        """Every member's full-graph logits, the representations at the layer ``cfg`` asks for, and metadata."""
        raise NotImplementedError


def _layers(cfg) -> list[str | None]:
    return [cfg.teacher_layer] if cfg.needs_representations() else []


class TrainedTeacher(Teacher):
    """A teacher graphkd trains: one architecture, or an ensemble across architectures."""

    trains_here = True

    def __init__(self, members: list[str]):
        super().__init__("+".join(members))
        self.members = tuple(members)

    def fingerprint(self) -> str:
        return self.value

    def outputs(self, cfg, data, seed, progress, checkpoints, arrivals, members):
        models = members if members is not None else fit_teachers(cfg, data, seed, progress, checkpoints)
        member_logits, hidden, meta = member_outputs(models, data, _layers(cfg))
        if arrivals is not None:
            key = task_of(data).key
            meta.update({f"teacher_inductive_test_{key}": arrival_score(models, arrivals, cold=False),
                         f"teacher_cold_start_test_{key}": arrival_score(models, arrivals, cold=True)})
        return member_logits, hidden, meta


class ModuleTeacher(Teacher):
    """A user's trained module, run here once on the whole graph."""

    cacheable = False

    def fingerprint(self) -> str:
        h = hashlib.sha256(f"{type(self.value).__module__}.{type(self.value).__qualname__}".encode())
        for name, tensor in self.value.state_dict().items():
            h.update(name.encode())
            update_hash(h, tensor)
        return f"module:{h.hexdigest()[:16]}"

    def outputs(self, cfg, data, seed, progress, checkpoints, arrivals, members):
        module = self.value
        logits, hidden = teacher_outputs(module, data, [name or default_hidden_layer(module) for name in _layers(cfg)])
        warn_if_probabilities(logits)
        return [logits], hidden, {"params": sum(p.numel() for p in module.parameters())}


class GivenOutputs(Teacher):
    """Outputs computed elsewhere: logits ``[num_nodes, C]``, or a dict ``{"logits", "hidden": {name: ...}}``."""

    def __init__(self, value):
        if isinstance(value, np.ndarray):  # logits as an array: the same numbers as a tensor
            try:
                value = torch.as_tensor(value)
            except TypeError as exc:
                raise GraphkdError(f"teacher logits must be a numeric array, got dtype {value.dtype}") from exc
        if isinstance(value, dict):
            hidden = {} if value.get("hidden") is None else value["hidden"]
            if "logits" not in value or not isinstance(hidden, dict):
                raise GraphkdError("teacher outputs are a dict {'logits': [num_nodes, C], 'hidden': {name: "
                                   f"[num_nodes, d]}}; got keys {sorted(map(str, value))} with hidden of type "
                                   f"{type(hidden).__name__}")
            refuse_unknown_keys(value, "the teacher dict")
        super().__init__(value)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        if isinstance(self.value, Tensor):
            update_hash(h, self.value)
            return f"logits:{h.hexdigest()[:16]}"
        hidden = self.value.get("hidden") or {}
        try:
            update_hash(h, torch.as_tensor(self.value["logits"]))
            for name in sorted(hidden, key=str):
                h.update(str(name).encode())
                update_hash(h, torch.as_tensor(hidden[name]))
        except (TypeError, ValueError, RuntimeError) as exc:
            raise GraphkdError(f"teacher outputs must be tensors or arrays ({exc})") from exc
        return f"outputs:{h.hexdigest()[:16]}"

    def outputs(self, cfg, data, seed, progress, checkpoints, arrivals, members):
        blob = {"logits": self.value} if isinstance(self.value, Tensor) else self.value
        logits = check_outputs({"logits": blob["logits"]}, data)["logits"]
        hidden = check_outputs({} if blob.get("hidden") is None else blob["hidden"], data)
        warn_if_probabilities(logits)
        return [logits], hidden, {"params": None}


class GivenSoftTargets(Teacher):
    """Soft targets made before (by :func:`graphkd.distill.capture`, or a run's file): used as they are."""

    def fingerprint(self) -> str:
        return f"soft_targets:{self.value.content_hash()}"

    def soft_targets(self, cfg, data, seed, progress=False, checkpoints=None, arrivals=None, members=None):
        targets = self.value
        if cfg.refine != "none":
            raise GraphkdError("refinement needs the teacher's full-graph outputs; given soft targets cannot be "
                               "refined")
        targets.check_compatible(data)
        if targets.meta.get("transfer") not in (cfg.transfer, "indices"):  # given node ids travel with them
            raise GraphkdError(f"these soft targets cover the {targets.meta.get('transfer')!r} transfer set and "
                               f"the configuration asks for {cfg.transfer!r}: set transfer to match")
        return targets


class TeacherFile(Teacher):
    """A file of teacher outputs: a graphkd soft-target file, or logits (and representations) in a ``.pt``
    dict or an ``.npz``; read when its soft targets are made, and fingerprinted by its bytes."""

    def __init__(self, path: str | os.PathLike):
        super().__init__(path)
        self.path = Path(path)
        if not self.path.is_file() and (self.path.suffix in (".pt", ".npz") or len(self.path.parts) > 1):
            raise MissingFileError(f"no teacher output file at {self.path}")
        if not self.path.is_file():
            raise GraphkdError(f"unknown teacher {str(path)!r}: neither a name ({', '.join(TEACHER_NAMES)}, or "
                               "several joined by '+') nor a file of teacher outputs")

    def fingerprint(self) -> str:
        if not self.path.is_file():
            raise MissingFileError(f"no teacher output file at {self.path}")
        return f"file:{hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]}"

    def soft_targets(self, cfg, data, seed, progress=False, checkpoints=None, arrivals=None, members=None):
        return as_teacher(load_teacher_outputs(self.path)).soft_targets(cfg, data, seed)


def as_teacher(value) -> Teacher:
    """The :class:`Teacher` a user's ``value`` stands for (see the module docstring), or one clear error."""
    if isinstance(value, Teacher):
        return value
    if isinstance(value, str) and ensemble_members(value) is not None:
        return TrainedTeacher(ensemble_members(value))
    if isinstance(value, SoftTargets):
        return GivenSoftTargets(value)
    if isinstance(value, torch.nn.Module):
        return ModuleTeacher(value)
    if isinstance(value, (Tensor, np.ndarray, dict)):
        return GivenOutputs(value)
    if isinstance(value, (str, os.PathLike)):
        return TeacherFile(value)
    raise GraphkdError(f"a teacher is a name, a torch.nn.Module, logits, a dict of outputs, SoftTargets or a file; "
                       f"got {type(value).__name__}")


def teacher_fingerprint(value) -> str:
    """The fingerprint of whatever ``value`` is as a teacher (see :meth:`Teacher.fingerprint`)."""
    return as_teacher(value).fingerprint()


def teacher_soft_targets(cfg, data: Data, seed: int, progress: bool = False, checkpoints: Path | None = None,
                         arrivals=None, members: list[torch.nn.Module] | None = None) -> SoftTargets:
    """The soft targets of ``cfg``'s teacher (see :meth:`Teacher.soft_targets`).

    ``arrivals`` (:class:`graphkd.distill.settings.Arrivals`, with ``data`` its observed graph): a trained
    teacher is also scored on the held-out nodes, with their edges and without. ``members``: a trained
    teacher's members as :func:`fit_teachers` trained them for ``cfg`` and ``seed`` (a cache's), instead of
    training them here."""
    data = model_graph(data)  # checked, with the float32 features the models take
    return cfg.source.soft_targets(cfg, data, seed, progress, checkpoints, arrivals, members)
