"""The distillation pipeline: teacher -> soft targets -> labels-only MLP and distilled student, over seeds.

Every seed's outcome is written to ``out/runs/seed<k>.json`` as soon as it is known, keyed by the
configuration, so an interrupted run started again picks up at the first missing seed; a seed being
run is locked, so several processes can work through one run's seeds together.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch_geometric.data import Data
from tqdm.auto import tqdm

from graphkd.checks import check_alpha, check_choice, check_temperature
from graphkd.data import load_dataset, prepare_data, random_split
from graphkd.distill.losses import distillation_loss
from graphkd.distill.soft_targets import SoftTargets
from graphkd.io import save_model
from graphkd.models import build_model, count_parameters
from graphkd.training import TrainConfig, accuracy, cross_entropy_on, predict, train_full_batch, train_minibatch

__all__ = ["DistillConfig", "TEACHER_DEFAULTS", "run_distillation", "summarize"]

# Published teacher recipes (anchors.md): GAT 8 heads / dropout 0.6, GCN 64 hidden, SAGE 128 hidden.
TEACHER_DEFAULTS = {
    "gat": {"hidden_channels": 64, "dropout": 0.6, "lr": 0.005},
    "gcn": {"hidden_channels": 64, "dropout": 0.8, "lr": 0.01},
    "sage": {"hidden_channels": 128, "dropout": 0.5, "lr": 0.01},
}
STUDENTS = ("mlp", "gcn", "sage")


@dataclass
class DistillConfig:
    dataset: str = "CSBM"
    split: str | None = None
    root: str | None = None
    runs: int = 10
    seed: int = 0
    teacher: str = "gat"
    teacher_layers: int = 2
    teacher_hidden: int | None = None
    teacher_dropout: float | None = None
    teacher_norm: str | None = None
    heads: int = 8
    ensemble: int = 1
    student: str = "mlp"
    student_layers: int = 2
    student_hidden: int = 256
    student_dropout: float = 0.5
    student_batch_norm: bool = False
    temperature: float = 1.0
    alpha: float = 0.0
    transfer: str = "all"
    epochs: int = 500
    patience: int = 50
    lr: float = 0.01
    weight_decay: float = 5e-4
    # Students get none by default: with row-normalised features it swamps the soft-target signal.
    student_weight_decay: float = 0.0
    batch_size: int = 4096
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.teacher = check_choice("teacher", self.teacher, list(TEACHER_DEFAULTS))
        self.student = check_choice("student", self.student, STUDENTS)
        self.temperature = check_temperature(self.temperature)
        self.alpha = check_alpha(self.alpha)
        check_choice("transfer set", self.transfer, ("all", "labelled", "unlabelled"))
        if self.runs < 1 or self.ensemble < 1:
            raise ValueError("runs and ensemble must be >= 1")
        if self.student != "mlp" and not 1 <= self.student_layers <= 2:
            raise ValueError("GNN students are shallow: student_layers must be 1 or 2")

    def key(self) -> str:
        """Hash of everything that changes a run's outcome (not ``runs``): names cached results."""
        return _hash({k: v for k, v in dataclasses.asdict(self).items() if k not in ("runs", "root")})

    def teacher_key(self) -> str:
        """Hash of what changes the teacher's soft targets: students with equal keys share teachers."""
        return _hash({k: v for k, v in dataclasses.asdict(self).items() if k in TEACHER_FIELDS})


TEACHER_FIELDS = ("dataset", "split", "teacher", "teacher_layers", "teacher_hidden", "teacher_dropout",
                  "teacher_norm", "heads", "ensemble", "transfer", "epochs", "patience", "weight_decay", "extra")


def _hash(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def summarize(values: list[float]) -> tuple[float, float]:
    """Mean and unbiased standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


# The published dropouts are 2-layer recipes; compounded over deeper stacks they stop training (on
# CSBM a 4-layer GAT reached 30% at dropout 0.6 and 97% at 0.2; an 8-layer GCN 24% at 0.8, 99% at 0.2).
DEEP_TEACHER = {"dropout": 0.2, "norm": "batch_norm"}


def _teacher(cfg: DistillConfig, data: Data):
    defaults = TEACHER_DEFAULTS[cfg.teacher] if cfg.teacher_layers <= 2 else {
        **TEACHER_DEFAULTS[cfg.teacher], **DEEP_TEACHER}
    kwargs = {"heads": cfg.heads} if cfg.teacher == "gat" else {}
    norm = defaults.get("norm") if cfg.teacher_norm is None else cfg.teacher_norm
    return build_model(cfg.teacher, in_channels=data.num_features,
                       hidden_channels=cfg.teacher_hidden or defaults["hidden_channels"],
                       out_channels=int(data.y.max()) + 1, num_layers=cfg.teacher_layers,
                       dropout=defaults["dropout"] if cfg.teacher_dropout is None else cfg.teacher_dropout,
                       norm=None if norm == "none" else norm, **kwargs)


def _student(cfg: DistillConfig, data: Data, kind: str):
    common = {"in_channels": data.num_features, "hidden_channels": cfg.student_hidden,
              "out_channels": int(data.y.max()) + 1, "num_layers": cfg.student_layers,
              "dropout": cfg.student_dropout}
    if kind == "mlp":
        return build_model("mlp", batch_norm=cfg.student_batch_norm, **common)
    return build_model(kind, norm="batch_norm" if cfg.student_batch_norm else None, **common)


def _checkpoint(checkpoints: Path | None, name: str) -> Path | None:
    return checkpoints / f"{name}.ckpt" if checkpoints is not None else None


def train_teachers(cfg: DistillConfig, data: Data, seed: int, progress: bool = False,
                   checkpoints: Path | None = None) -> SoftTargets:
    """Train ``cfg.ensemble`` teachers and return their soft targets on the transfer set.

    ``checkpoints``: a folder for resumable training state (an interrupted run continues there)."""
    train_cfg = TrainConfig(cfg.epochs, TEACHER_DEFAULTS[cfg.teacher]["lr"], cfg.weight_decay, cfg.patience)
    logits, configs = [], []
    for member in range(cfg.ensemble):
        torch.manual_seed(seed * 1000 + member)
        model = _teacher(cfg, data)
        train_full_batch(model, data, cross_entropy_on(data.train_mask, data.y), train_cfg,
                         desc=f"teacher {cfg.teacher} #{member}", progress=progress,
                         checkpoint=_checkpoint(checkpoints, f"seed{seed}-teacher{member}"))
        logits.append(predict(model, data))
        configs.append(model.config())
    probs = torch.stack([lg.softmax(-1) for lg in logits]).mean(0)
    return SoftTargets.from_logits(
        logits, data, cfg.transfer, seed=seed, teachers=configs, params=count_parameters(model),
        teacher_val_acc=accuracy(probs[data.val_mask], data.y[data.val_mask]),
        teacher_test_acc=accuracy(probs[data.test_mask], data.y[data.test_mask]))


def train_student(cfg: DistillConfig, data: Data, targets: SoftTargets | None, seed: int, kind: str,
                  progress: bool = False, checkpoints: Path | None = None):
    """Train a student; with ``targets=None`` it learns from labels alone (the baseline)."""
    torch.manual_seed(seed)
    model = _student(cfg, data, kind)
    # Students learn slowly at first from tiny row-normalised inputs: on Cora a 1-layer GCN student
    # stopped at 45% on 6 of 10 seeds with patience alone, and reaches 80% given 2 x patience epochs.
    train_cfg = TrainConfig(cfg.epochs, cfg.lr, cfg.student_weight_decay, cfg.patience, cfg.batch_size,
                            min_epochs=min(2 * cfg.patience, cfg.epochs))
    desc = f"{kind} {'labels-only' if targets is None else 'student'}"
    if targets is None:
        nodes, alpha, soft, has_soft = data.train_mask.nonzero().view(-1), 1.0, None, None
    else:
        targets.check_compatible(data, model.out_channels)
        has_soft = targets.dense(torch.ones(targets.node_index.numel(), dtype=torch.bool), data.num_nodes)
        soft = targets.dense(targets.probs(cfg.temperature), data.num_nodes)
        nodes, alpha = (has_soft | data.train_mask).nonzero().view(-1), cfg.alpha

    def batch_loss(logits, batch):
        return distillation_loss(logits, None if soft is None else soft[batch], cfg.temperature, alpha,
                                 data.y[batch], data.train_mask[batch],
                                 None if has_soft is None else has_soft[batch])

    checkpoint = _checkpoint(checkpoints, f"seed{seed}-{'baseline' if targets is None else 'student'}")
    if kind == "mlp":
        train_minibatch(model, data, nodes, batch_loss, train_cfg, desc, progress, checkpoint)
    else:
        train_full_batch(model, data, lambda logits: batch_loss(logits[nodes], nodes), train_cfg, desc, progress,
                         checkpoint)
    return model


def _scores(model, data: Data) -> dict:
    logits = predict(model, data)
    return {"val_acc": accuracy(logits[data.val_mask], data.y[data.val_mask]),
            "test_acc": accuracy(logits[data.test_mask], data.y[data.test_mask]),
            "params": count_parameters(model)}


def cached_teachers(cfg: DistillConfig, data: Data, seed: int, teacher_dir: Path | None,
                    progress: bool = False, checkpoints: Path | None = None) -> SoftTargets:
    """Soft targets from ``teacher_dir`` when a teacher of this configuration and seed was trained
    before on this split; otherwise train the teacher(s) and store their soft targets there."""
    path = teacher_dir / f"soft_targets-{cfg.teacher_key()}-seed{seed}.pt" if teacher_dir is not None else None
    if path is not None and path.is_file():
        targets = SoftTargets.load(path)
        targets.check_compatible(data)
        return targets
    targets = train_teachers(cfg, data, seed, progress, checkpoints)
    if path is not None:
        targets.save(path)
    return targets


def run_seed(cfg: DistillConfig, data: Data, seed: int, out: Path | None, teacher_dir: Path | None = None,
             progress: bool = False) -> dict:
    """One seed: teacher(s), soft targets, labels-only MLP, distilled student. Saves artifacts to ``out``."""
    start = time.perf_counter()
    checkpoints = out / "checkpoints" if out is not None else None
    targets = cached_teachers(cfg, data, seed, teacher_dir, progress, checkpoints)
    baseline = train_student(cfg, data, None, seed, "mlp", progress, checkpoints)
    student = train_student(cfg, data, targets, seed, cfg.student, progress, checkpoints)
    result = {
        "seed": seed,
        "teacher": {"val_acc": targets.meta["teacher_val_acc"], "test_acc": targets.meta["teacher_test_acc"],
                    "params": targets.meta["params"] * cfg.ensemble},
        "baseline_mlp": _scores(baseline, data),
        "student": _scores(student, data),
        "seconds": time.perf_counter() - start,
    }
    if out is not None:
        save_model(student, out / f"student_seed{seed}.pt",
                   meta={"dataset": data.dataset, "split": data.split, "seed": seed,
                         "soft_targets": targets.meta["content_hash"], "temperature": cfg.temperature})
    return result


def _seed_data(cfg: DistillConfig, data: Data | None, seed: int) -> Data:
    if data is None:
        return load_dataset(cfg.dataset, cfg.root, cfg.split, seed=seed)
    if cfg.split == "random":
        return prepare_data(random_split(data, seed), getattr(data, "dataset", "custom"), "random", seed)
    return data


def _saved_run(record: Path | None, cfg: DistillConfig) -> dict | None:
    if record is None or not record.is_file():
        return None
    saved = json.loads(record.read_text())
    return saved if saved.get("config_key") == cfg.key() else None


@contextlib.contextmanager
def _claim(out: Path | None, seed: int, wait: bool):
    """Hold an exclusive lock on ``seed`` while it runs, so several processes can share one ``out``:
    the lock is an OS file lock, released when its holder finishes or dies. Yields whether it is
    held; with ``wait=False`` it yields False at once when another process holds it."""
    if out is None:
        yield True
        return
    (out / "runs").mkdir(parents=True, exist_ok=True)
    with open(out / "runs" / f"seed{seed}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


def run_distillation(cfg: DistillConfig, data: Data | None = None, out: str | Path | None = None,
                     teacher_dir: str | Path | None = None, progress: bool = True) -> dict:
    """Run ``cfg.runs`` seeds and return the summary written to ``out/results.json``.

    ``data``: a user's own graph (with masks, or split per seed with the CPF random split when
    ``cfg.split == "random"``); by default ``cfg.dataset`` is loaded. ``teacher_dir``: where soft
    targets are cached and reused across students (default ``out``). Processes given the same
    ``out`` share the work: each takes the seeds no other is running and waits for the rest.
    """
    out = Path(out) if out is not None else None
    teacher_dir = Path(teacher_dir) if teacher_dir is not None else out
    per_seed, taken_elsewhere = {}, []
    bar = tqdm(range(cfg.seed, cfg.seed + cfg.runs), desc=f"distill {cfg.teacher}->{cfg.student}",
               disable=not progress)

    def run_and_record(seed: int) -> None:
        record = out / "runs" / f"seed{seed}.json" if out is not None else None
        result = _saved_run(record, cfg)  # a seed finished before (or by another process)
        if result is None:
            seed_data = _seed_data(cfg, data, seed)
            result = {**run_seed(cfg, seed_data, seed, out, teacher_dir), "config_key": cfg.key(),
                      "dataset": getattr(seed_data, "dataset", cfg.dataset),
                      "split": getattr(seed_data, "split", cfg.split)}
            if record is not None:
                record.write_text(json.dumps(result, indent=1))
        per_seed[seed] = result
        bar.set_postfix(teacher=f"{result['teacher']['test_acc']:.3f}",
                        mlp=f"{result['baseline_mlp']['test_acc']:.3f}",
                        student=f"{result['student']['test_acc']:.3f}")

    for seed in bar:
        with _claim(out, seed, wait=False) as held:
            if held:
                run_and_record(seed)
            else:
                taken_elsewhere.append(seed)
    for seed in taken_elsewhere:  # wait for the other process; run the seed here if it died first
        with _claim(out, seed, wait=True):
            run_and_record(seed)
    per_seed = [per_seed[seed] for seed in sorted(per_seed)]
    if "dataset" in per_seed[0]:
        dataset, split = per_seed[0]["dataset"], per_seed[0]["split"]
    else:  # a record written before runs named their data
        seed_data = _seed_data(cfg, data, cfg.seed)
        dataset, split = getattr(seed_data, "dataset", cfg.dataset), getattr(seed_data, "split", cfg.split)
    summary = {"dataset": dataset, "split": split, "runs": cfg.runs, "config": dataclasses.asdict(cfg)}
    for role in ("teacher", "baseline_mlp", "student"):
        test_mean, test_std = summarize([r[role]["test_acc"] for r in per_seed])
        val_mean, val_std = summarize([r[role]["val_acc"] for r in per_seed])
        summary[role] = {"test_acc_mean": test_mean, "test_acc_std": test_std, "val_acc_mean": val_mean,
                         "val_acc_std": val_std, "params": per_seed[0][role]["params"]}
    summary["per_seed"] = per_seed
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(summary, indent=1))
    return summary
