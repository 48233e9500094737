"""Per-seed records and the summary made of them: what a finished seed wrote (``out/runs/seed<k>.json``), whether a
record found there can stand for a seed of a run (same options, same graph, as written, its student file the one it
names), and the mean and spread over seeds that ``results.json`` holds.
"""
from __future__ import annotations

import hashlib
import json
import os
import statistics
import warnings
from pathlib import Path

import torch

from graphkd.device import resolve_device
from graphkd.distill.config import DistillConfig
from graphkd.distill.settings import PARTS
from graphkd.errors import GraphkdError, parse_json
from graphkd.io import file_sha256
from graphkd.tasks import metric_key

__all__ = ["as_written", "record_device", "record_hash", "record_mismatch", "record_shape_problem", "saved_run",
           "set_aside_unless_a_record", "summarize", "summarize_runs"]


def summarize(values: list[float | None]) -> tuple[float | None, float | None]:
    """Mean and unbiased standard deviation (0 for a single value); ``None`` when a value is unknown."""
    if any(v is None for v in values):
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def record_device(record: dict) -> str:
    """The device a seed's record ran on (``"cpu"``, ``"cuda:0"``); records written before graphkd named one ran on
    the CPU."""
    return record.get("device", "cpu")


def record_hash(record: dict) -> str:
    """A hash of a per-seed record's content: the reported table is derived from untouched records only."""
    content = {k: v for k, v in record.items() if k != "record_hash"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def record_mismatch(saved, cfg: DistillConfig, seed: int, data_key: str) -> str | None:
    """Why ``saved`` cannot stand for seed ``seed`` of ``cfg`` on the graph ``data_key`` (a phrase), or ``None``
    when it can: a record of other options or data is recomputed, never mixed in."""
    if not isinstance(saved, dict) or saved.get("seed") != seed:  # not a record, or another seed's copied here
        return f"is not the record of seed {seed}"
    if saved.get("config_key") != cfg.key() or saved.get("data_key") != data_key:
        return "was made with other options or another graph"
    if not as_written(saved):
        return "was edited after it was written (its hash differs)"
    return record_shape_problem(saved)


def as_written(saved: dict) -> bool:
    """Whether ``saved`` is a record as a run wrote it: its hash is the hash of its content."""
    try:
        return saved.get("record_hash") == record_hash(saved)
    except (RecursionError, ValueError, TypeError):  # nested too deeply to hash: no record graphkd wrote
        return False


def record_shape_problem(saved: dict) -> str | None:
    """Why a record whose hash matches still cannot be summarised (a phrase), or ``None``: the hash is no secret,
    so a record edited with its hash made again must still hold what :func:`summarize_runs` reads."""
    try:
        key = metric_key(saved.get("metric", "accuracy"))
    except GraphkdError:
        return f"names an unknown metric {saved.get('metric')!r:.40}"
    for role in ("teacher", "baseline_mlp", "student") + (("soft_targets",) if "soft_targets" in saved else ()):
        scores = saved.get(role)
        if not (isinstance(scores, dict) and all(
                scores.get(name) is None or (type(scores.get(name)) in (int, float) and 0 <= scores[name] <= 1)
                for name in (f"val_{key}", f"test_{key}"))):
            return f"holds no {saved.get('metric', 'accuracy')} in [0, 1] for {role!r}"
    if type(saved.get("threads")) is not int or not all(isinstance(saved.get(k), str | None) for k in
                                                         ("dataset", "split")):
        return "holds no thread count, dataset or split"
    if not isinstance(saved.get("device", "cpu"), str):
        return "names no device it ran on"
    return None


def saved_run(record: Path | None, cfg: DistillConfig, data_key: str, seed: int) -> dict | None:
    """The seed's finished record if it was made with these options on this very graph and its student file
    is the one it names, else ``None`` (an unreadable record too)."""
    if record is None or not record.is_file():
        return None
    try:
        saved = parse_json(record.read_bytes(), "its text")
    except GraphkdError as exc:  # malformed, not UTF-8, or nested too deeply for Python's parser
        warnings.warn(f"{record} is unreadable: {exc}; running the seed again", stacklevel=3)
        return None
    if (mismatch := record_mismatch(saved, cfg, seed, data_key)) is not None:
        warnings.warn(f"{record} {mismatch}; running the seed again", stacklevel=3)
        return None
    student_file = record.parent.parent / f"student_seed{seed}.pt"
    if saved.get("student_file_sha256") != file_sha256(student_file):
        warnings.warn(f"{student_file} is missing or is not the student that {record} describes; running the seed "
                      "again", stacklevel=3)
        return None
    if saved.get("threads") != torch.get_num_threads():
        warnings.warn(f"{record} ran with {saved.get('threads')} threads, this process has {torch.get_num_threads()}: "
                      "matrix products, and so the models, differ slightly between thread counts", stacklevel=3)
    if record_device(saved) != str(resolve_device(cfg.device)):
        warnings.warn(f"{record} ran on {record_device(saved)}, this run computes on {resolve_device(cfg.device)}: "
                      "kept, as the device is not part of a run's options, but float rounding (and on a GPU, "
                      "dropout's random numbers) differ between devices, so a seed's models do too", stacklevel=3)
    return saved


def set_aside_unless_a_record(path: Path) -> None:
    """A file at a record's place that no run wrote as it is (unreadable, edited, or a user's own) is kept as
    ``<name>.replaced`` rather than replaced: graphkd never deletes a file it did not write."""
    if not path.is_file():
        return
    try:
        saved = parse_json(path.read_bytes(), str(path))
        if isinstance(saved, dict) and as_written(saved):
            return  # a record a run wrote (maybe for other options): the run's to replace
    except GraphkdError:
        pass
    kept = path.with_name(path.name + ".replaced")
    os.replace(path, kept)
    warnings.warn(f"{path} was not a record a run wrote as it is; kept as {kept.name}", stacklevel=3)


def summarize_runs(cfg: DistillConfig, per_seed: list[dict]) -> dict:
    """The summary of ``cfg``'s seed records (as :func:`run_distillation` returns and writes it): the task and
    metric, each role's mean and standard deviation of the validation and test metric (``test_acc_mean`` for
    accuracy, ``test_roc_auc_mean`` for ROC-AUC), whether the student beat the labels-only MLP on validation,
    and the records under ``per_seed``."""
    metric = per_seed[0].get("metric", "accuracy")
    key = metric_key(metric)
    summary = {"dataset": per_seed[0]["dataset"], "split": per_seed[0]["split"], "runs": cfg.runs,
               "setting": cfg.setting, "task": per_seed[0].get("task", "multiclass"), "metric": metric,
               "config": cfg.describe(), "threads": sorted({r["threads"] for r in per_seed}),
               "devices": sorted({record_device(r) for r in per_seed})}
    roles = ("teacher", "baseline_mlp", "student") + (("soft_targets",) if "soft_targets" in per_seed[0] else ())
    for role in roles:
        summary[role] = {}
        for name in [f"test_{key}", f"val_{key}"] + [f"{part}_test_{key}" for part in PARTS
                                                    if f"{part}_test_{key}" in per_seed[0][role]]:
            mean, std = summarize([r[role][name] for r in per_seed])
            summary[role].update({f"{name}_mean": mean, f"{name}_std": std})
        summary[role]["params"] = per_seed[0][role].get("params")
    if "homophily" in per_seed[0]:
        summary["homophily"] = per_seed[0]["homophily"]
    if "majority_rate" in per_seed[0]:
        summary["majority_rate"] = statistics.fmean(r["majority_rate"] for r in per_seed)
    if "alpha" in per_seed[0]["student"]:
        summary["student"]["alphas"] = [r["student"]["alpha"] for r in per_seed]
    student, baseline = summary["student"][f"val_{key}_mean"], summary["baseline_mlp"][f"val_{key}_mean"]
    summary["student_beats_labels_only_on_validation"] = student > baseline
    if student <= baseline:
        # With labels alone (alpha 1.0) among the alphas tried, the choice on validation was already offered.
        offer = "" if 1.0 in (cfg.alpha_choices or ()) else \
            ", or let alpha be chosen on validation (alpha_choices, with 1.0 among them)"
        warnings.warn(f"the distilled student's validation {metric} ({student:.4f}) is not above the labels-only "
                      f"MLP's ({baseline:.4f}): the teacher does not help here; an MLP trained on labels alone is "
                      f"the better model{offer}", stacklevel=2)
    summary["per_seed"] = per_seed
    return summary
