"""Teachers cached in a folder, so that each trains once per seed and graph however many students it teaches.

Two levels. Soft targets are stored per teacher configuration (:meth:`DistillConfig.teacher_key`): the
transfer set, refinement and captured representation included. Below them, a named teacher's trained
members are stored per training configuration (:meth:`DistillConfig.training_key`), so soft targets for
another transfer set, refined by Correct and Smooth, or with a representation for the hint and similarity
terms, are computed from the stored members instead of training them again (GRAND on Amazon Computers
trains for minutes per seed). Anything stored for another seed or graph, damaged or edited, is made again
with a warning, never mixed in.
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch
from torch_geometric.data import Data

from graphkd.distill.config import DistillConfig
from graphkd.distill.settings import Arrivals
from graphkd.distill.soft_targets import SoftTargets, graph_fingerprint
from graphkd.distill.teacher import teacher_soft_targets
from graphkd.distill.teachers import build_teacher, fit_teachers
from graphkd.errors import GraphkdError
from graphkd.io import atomic_save, load_tensors, update_hash
from graphkd.models import build_model
from graphkd.training.distributed import is_rank_zero

__all__ = ["cached_members", "cached_teachers", "expected_configs", "members_file", "soft_targets_file"]

MEMBERS_FORMAT = "graphkd-teacher-members-v1"


def soft_targets_file(teacher_dir: Path, teacher_key: str, seed: int) -> Path:
    """Where ``teacher_dir`` keeps the soft targets of the teacher of ``teacher_key`` for ``seed``."""
    return teacher_dir / f"soft_targets-{teacher_key}-seed{seed}.pt"


def members_file(teacher_dir: Path, training_key: str, seed: int) -> Path:
    """Where ``teacher_dir`` keeps the trained members of the teacher of ``training_key`` for ``seed``."""
    return teacher_dir / f"teacher-{training_key}-seed{seed}.pt"


def _made_again(path: Path, exc: Exception, what: str) -> None:
    said = str(exc) if str(path) in str(exc) else f"{path}: {exc}"  # name the file once
    warnings.warn(f"{said}; making {what} again", stacklevel=3)


def cached_teachers(cfg: DistillConfig, data: Data, seed: int, teacher_dir: Path | None,
                    progress: bool = False, checkpoints: Path | None = None, arrivals: Arrivals | None = None
                    ) -> SoftTargets:
    """Soft targets from ``teacher_dir`` when they were made before for this teacher, configuration,
    seed and graph; otherwise (or when the stored ones do not match) make them (train, run or read the
    teacher, a named one's members coming from :func:`cached_members`) and store them there."""
    if not cfg.source.cacheable:  # e.g. a module, whose code can change while its weights do not: run it again
        return teacher_soft_targets(cfg, data, seed, progress, checkpoints, arrivals)
    path = soft_targets_file(teacher_dir, cfg.teacher_key(), seed) if teacher_dir is not None else None
    if path is not None and path.is_file():
        try:
            targets = SoftTargets.load(path)
            targets.check_compatible(data)
            if not cfg.given_teacher() and targets.meta.get("seed") != seed:  # renamed from another seed's file
                raise GraphkdError(f"made for seed {targets.meta.get('seed')}, not {seed}")
            made_for = targets.meta.get("teacher_key")
            if made_for != cfg.teacher_key():  # renamed from another teacher's file, or from an earlier graphkd
                raise GraphkdError(f"made for teacher options {made_for}, not {cfg.teacher_key()}" if made_for else
                                   "made by an earlier graphkd, which did not record the teacher options")
            return targets
        except ValueError as exc:  # made for another graph (or damaged): made again, never mixed in
            _made_again(path, exc, "them")
    members = cached_members(cfg, data, seed, teacher_dir, progress, checkpoints)
    made = teacher_soft_targets(cfg, data, seed, progress, checkpoints, arrivals, members=members)
    # a copy (given soft targets stay as the user's) whose metadata names the options it was made for
    targets = SoftTargets(made.logits, made.node_index, {**made.meta, "teacher_key": cfg.teacher_key()}, made.hidden)
    if path is not None and is_rank_zero():  # under torchrun every rank computes them, rank 0 writes them
        targets.save(path)
    return targets


def _members_hash(blob: dict) -> str:
    h = hashlib.sha256()
    update_hash(h, {key: value for key, value in blob.items() if key != "content_hash"})
    return h.hexdigest()


def expected_configs(cfg: DistillConfig, data: Data) -> list[dict]:
    """The ``config()`` of every member :func:`fit_teachers` would train for ``cfg`` on ``data`` (untrained
    copies; the random state is left as it was)."""
    with torch.random.fork_rng():
        return [build_teacher(cfg, data, kind).config() for kind in cfg.source.members * cfg.ensemble]


def cached_members(cfg: DistillConfig, data: Data, seed: int, teacher_dir: Path | None, progress: bool = False,
                   checkpoints: Path | None = None) -> list[torch.nn.Module] | None:
    """The trained members of the teacher ``cfg`` names, from ``teacher_dir`` when trained there before with
    the same training configuration, seed and graph, else trained (:func:`fit_teachers`) and stored there.
    ``None`` for a given teacher (nothing to train) or without a folder (the caller trains)."""
    if cfg.given_teacher() or teacher_dir is None:
        return None
    path = members_file(teacher_dir, cfg.training_key(), seed)
    meta = {"seed": seed, "graph_fingerprint": graph_fingerprint(data), "training_key": cfg.training_key()}
    if path.is_file():
        try:
            blob = load_tensors(path, "file of trained teachers")
            if not isinstance(blob, dict) or blob.get("format") != MEMBERS_FORMAT:
                raise GraphkdError(f"not a file of trained teachers (expected format {MEMBERS_FORMAT!r})")
            if blob.get("content_hash") != _members_hash(blob):
                raise GraphkdError("changed after it was written (its content hash is missing or differs)")
            if blob["meta"] != meta:
                raise GraphkdError(f"trained for {blob['meta']}, not {meta}")
            if [member["config"] for member in blob["members"]] != expected_configs(cfg, data):
                raise GraphkdError("its members are not the models these options build")
            members = []
            for member in blob["members"]:
                model = build_model(**member["config"])
                model.load_state_dict(member["state_dict"])
                members.append(model.to(data.x.device).eval())  # stored on the CPU, trained anywhere
            return members
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:  # another seed or graph, or damaged
            _made_again(path, exc, "the teacher")
    members = fit_teachers(cfg, data, seed, progress, checkpoints)
    if is_rank_zero():  # under torchrun every rank trains the same members, rank 0 writes them
        blob = {"format": MEMBERS_FORMAT, "meta": meta,
                "members": [{"config": m.config(), "state_dict": m.state_dict()} for m in members]}
        blob["content_hash"] = _members_hash(blob)
        atomic_save(blob, path)
    return members
