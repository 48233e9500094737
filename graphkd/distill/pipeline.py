"""The distillation pipeline: teacher -> soft targets -> labels-only MLP and distilled student, over seeds.

Every seed's outcome is written to ``out/runs/seed<k>.json`` as soon as it is known, keyed by the
configuration, so an interrupted run started again picks up at the first missing seed; a seed being
run is locked, so several processes can work through one run's seeds together.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import fcntl
import functools
import hashlib
import json
import time
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data
from tqdm.auto import tqdm

from graphkd.data import (
    PER_SEED_SPLITS,
    dataset_info,
    from_networkx,
    homophily,
    load_dataset,
    model_graph,
    prepare_data,
    random_split,
)
from graphkd.device import graph_on, resolve_device
from graphkd.distill.config import DistillConfig
from graphkd.distill.objective import StudentObjective
from graphkd.distill.positions import NEW_NODE_RULE, spectral_positions
from graphkd.distill.records import record_hash, saved_run, set_aside_unless_a_record, summarize_runs
from graphkd.distill.run_file import RUN_FILE, RunConfig, write_run_file
from graphkd.distill.run_folder import RESULTS_FILE, check_run_folder
from graphkd.distill.seeds import map_seeds
from graphkd.distill.settings import Arrivals, arrival_score, hold_out_arrivals, setting_scores
from graphkd.distill.soft_targets import SoftTargets, graph_fingerprint
from graphkd.distill.teacher import teacher_soft_targets
from graphkd.distill.teacher_cache import cached_teachers
from graphkd.distill.teachers import check_teacher_layer, hard_label_weights, teacher_scores
from graphkd.errors import GraphkdError
from graphkd.inputs import model_inputs
from graphkd.io import atomic_write_text, file_sha256, folder_path, writable_folder
from graphkd.models import build_model, count_parameters, save_model
from graphkd.tasks import majority_rate, metric_key, split_scores, task_for, task_of, warn_if_collapsed
from graphkd.training import (
    TrainConfig,
    predict,
    train_full_batch,
    train_minibatch,
    train_minibatch_ddp,
    validation_score,
)
from graphkd.training.distributed import is_rank_zero

__all__ = ["run_distillation", "run_seed", "seed_data_key", "train_student", "with_positions", "with_task"]


def _student(cfg: DistillConfig, data: Data, kind: str):
    common = {"in_channels": data.num_features, "hidden_channels": cfg.student_hidden,
              "out_channels": task_of(data).num_outputs(data.y), "num_layers": cfg.student_layers,
              "dropout": cfg.student_dropout, "norm": "batch_norm" if cfg.student_batch_norm else None}
    return build_model(kind, **common)


def _checkpoint(checkpoints: Path | None, name: str) -> Path | None:
    return checkpoints / f"{name}.ckpt" if checkpoints is not None else None


def _check_distributable(cfg: DistillConfig) -> None:
    """Under torchrun an MLP student trains with DDP, which the in-batch similarity matrices (a rank holds half
    a batch) and the adversarial term (extra forwards outside DDP) would break: refused before any training."""
    if cfg.student == "mlp" and torch.distributed.is_initialized() and (cfg.similarity_weight or
                                                                         cfg.adversarial_weight):
        raise GraphkdError("the similarity and adversarial terms are not distributed yet (each rank would see half a "
                           "batch, or step outside DDP): run them without torchrun")


def with_positions(cfg: DistillConfig, data: Data) -> Data:
    """``data`` with ``cfg.positions`` spectral position features appended to ``x`` (``data`` itself when 0)."""
    if not cfg.positions:
        return data
    student_data = copy.copy(data)
    student_data.x = torch.cat([data.x, spectral_positions(data.edge_index, data.num_nodes, cfg.positions)], dim=1)
    return student_data


def train_student(cfg: DistillConfig, data: Data, targets: SoftTargets | None, seed: int, kind: str,
                  progress: bool = False, checkpoints: Path | None = None, tag: str = ""):
    """Train a student on ``data`` (with position features already appended, if any) on ``cfg.device``; with
    ``targets=None`` it learns from labels alone (the baseline), else from ``cfg``'s objective. ``tag``: set
    apart the checkpoints of students of one seed that differ by more than their soft targets. The model
    returned lives on that device."""
    distributed_mlp = kind == "mlp" and torch.distributed.is_initialized()
    _check_distributable(cfg)
    data = graph_on(data, resolve_device(cfg.device))  # a no-op where the caller moved it (run_seed)
    torch.manual_seed(seed)
    model = _student(cfg, data, kind).to(data.x.device)  # initialised on the CPU's generator, then moved
    # Students learn slowly at first from tiny row-normalised inputs: on Cora a 1-layer GCN student
    # stopped at 45% on 6 of 10 seeds with patience alone, and reaches 80% given 2 x patience epochs.
    epochs, patience = cfg.student_limits()
    train_cfg = TrainConfig(epochs, cfg.lr, cfg.student_weight_decay, patience, cfg.batch_size,
                            min_epochs=min(2 * patience, epochs))
    desc = f"{kind} {'labels-only' if targets is None else 'student'}"
    # A student resumes only against the soft targets it began with: a module teacher's code can change while
    # its weights, and so the run's key, do not.
    name = ("baseline" if targets is None else f"student-{targets.content_hash()}") + tag
    checkpoint = _checkpoint(checkpoints, f"seed{seed}-{name}")
    if targets is None:
        nodes, objective = data.train_mask.nonzero().view(-1), None
        task, weight = task_of(data), hard_label_weights(cfg, data)

        def batch_loss(logits, batch):
            return task.hard_loss(logits, data.y[batch], weight)
    else:
        # With position features appended, x is not what the teacher saw: run_seed checked that graph.
        targets.check_compatible(data, model.out_channels, features=not cfg.positions)
        objective = batch_loss = StudentObjective(cfg, data, targets, model, model_inputs(model, data)[0],
                                                  full_graph=kind != "mlp")
        nodes = (objective.has_soft | data.train_mask).nonzero().view(-1)
    auxiliary = objective.projector if objective is not None else None
    with objective if objective is not None else contextlib.nullcontext():
        if kind == "mlp":
            trainer = train_minibatch_ddp if distributed_mlp else train_minibatch  # DDP: nodes over the ranks
            trainer(model, data, nodes, batch_loss, train_cfg, desc, progress, checkpoint, auxiliary=auxiliary)
        else:
            train_full_batch(model, data, lambda logits: batch_loss(logits[nodes], nodes), train_cfg, desc, progress,
                             checkpoint, auxiliary=auxiliary)
    return model


def _scores(model, data: Data, name: str) -> dict:
    """``val_<metric>``, ``test_<metric>`` and the parameter count of a trained model, after a warning when it
    predicts one class for nearly every test node."""
    logits = predict(model, data)
    warn_if_collapsed(name, task_of(data), logits[data.test_mask])
    return {**split_scores(logits, data), "params": count_parameters(model)}


def _arrival_scores(model, scores: dict, arrivals: Arrivals, key: str, positions: Tensor | None = None) -> dict:
    """A student's transductive, inductive, cold-start and production metric (``scores``: its observed ones)."""
    return setting_scores(scores[f"test_{key}"], arrival_score([model], arrivals, False, positions),
                          arrival_score([model], arrivals, True, positions), key)


def _scores_of_targets(targets: SoftTargets, data: Data) -> dict:
    """The metric of the soft targets actually used (T = 1), where they cover the validation and test nodes:
    the teacher's own, or, for refined targets, theirs (the raw teacher's stays as recorded)."""
    covered = targets.dense(torch.ones(targets.node_index.numel(), dtype=torch.bool), data.num_nodes)
    if not (covered[data.val_mask].all() and covered[data.test_mask].all()):
        return {}
    probs = targets.dense(targets.probs(1.0), data.num_nodes)
    prefix = "soft_targets" if f"soft_targets_test_{task_of(data).key}" in targets.meta else "teacher"
    return teacher_scores(probs, data, prefix)


def run_seed(cfg: DistillConfig, data: Data, seed: int, out: Path | None, teacher_dir: Path | None = None,
             progress: bool = False) -> dict:
    """One seed: soft targets, labels-only MLP, distilled student. Saves artifacts to ``out``. Outside the
    transductive setting, all of it happens on the observed graph and the held-out nodes are scored as
    they arrive (:mod:`graphkd.distill.settings`). Teachers and students train and are scored on ``cfg.device``;
    the splits, position features and what is written are made on the CPU."""
    start = time.perf_counter()
    arrivals = hold_out_arrivals(data, seed, cfg.arrival_fraction) if cfg.setting != "transductive" else None
    data = arrivals.observed if arrivals is not None else data
    # Scoped by the options and the graph: an interrupted run resumes only its own training.
    run_key = hashlib.sha256(f"{cfg.key()}-{graph_fingerprint(data)}".encode()).hexdigest()[:12]
    checkpoints = out / "checkpoints" / run_key if out is not None else None
    student_data = with_positions(cfg, data)  # before any training: a graph they do not fit is refused first
    check_teacher_layer(cfg, data)
    device = resolve_device(cfg.device)
    on, student_on = graph_on(data, device), graph_on(student_data, device)  # where the models train
    teacher_start = time.perf_counter()
    targets = cached_teachers(cfg, on, seed, teacher_dir, progress, checkpoints, arrivals)
    teacher_seconds = time.perf_counter() - teacher_start  # near 0 where the teacher was cached
    task = task_of(data)
    key = task.key
    targets.check_compatible(data, task.num_outputs(data.y))
    if cfg.needs_representations():  # given outputs may lack the representation a term reads
        targets.hidden_layer(cfg.teacher_layer)
    baseline = train_student(cfg, on, None, seed, "mlp", progress, checkpoints)
    student, alphas = _distilled_student(cfg, student_on, targets, seed, progress, checkpoints)
    scores = {**targets.meta, **_scores_of_targets(targets, data)}
    result = {
        "seed": seed,
        # Given soft targets may not say how large their teacher was, nor cover the nodes it is scored on.
        "teacher": {f"val_{key}": scores.get(f"teacher_val_{key}"), f"test_{key}": scores.get(f"teacher_test_{key}"),
                    "params": targets.meta.get("params")},
        "baseline_mlp": _scores(baseline, on, "the labels-only MLP"),
        "student": {**_scores(student, student_on, "the distilled student"), **alphas},
        "soft_targets_hash": targets.content_hash(),
        "seconds": time.perf_counter() - start,
        "teacher_seconds": teacher_seconds,
    }
    result.update(task=task.kind, metric=task.metric)  # named beside its values (older records are accuracy's)
    if not task.multilabel:  # how alike neighbours' labels are: what a GNN teacher can lean on
        result["homophily"] = homophily(data)
    majority = None if task.multilabel else majority_rate(data.y[data.test_mask])  # what predicting one class scores
    if majority is not None and (task.kind == "binary" or majority > 0.5):
        result["majority_rate"] = majority
    if arrivals is not None:
        result["setting"] = cfg.setting
        result["teacher"].update(setting_scores(result["teacher"][f"test_{key}"],
                                                scores[f"teacher_inductive_test_{key}"],
                                                scores[f"teacher_cold_start_test_{key}"], key))
        result["baseline_mlp"].update(_arrival_scores(baseline, result["baseline_mlp"], arrivals, key))
        positions = student_data.x[:, data.num_features:] if cfg.positions else None
        result["student"].update(_arrival_scores(student, result["student"], arrivals, key, positions))
    if f"soft_targets_test_{key}" in scores:  # refined soft targets: their own metric
        result["soft_targets"] = {f"val_{key}": scores[f"soft_targets_val_{key}"],
                                  f"test_{key}": scores[f"soft_targets_test_{key}"]}
    if out is not None and _writes_files():
        meta = {"dataset": data.dataset, "split": data.split, "seed": seed,
                "soft_targets": result["soft_targets_hash"], "temperature": cfg.temperature,
                "preprocessing": {"row_normalize": bool(getattr(data, "row_normalized", False))}}
        if (task.kind, task.metric) != ("multiclass", "accuracy"):  # for export; multiclass files stay as they were
            meta.update(task=task.kind, metric=task.metric,
                        scores={name: result["student"][name] for name in (f"val_{key}", f"test_{key}")})
        if cfg.positions:  # the table serves training nodes; the rule, nodes that arrive later
            meta["position_features"] = {
                "kind": "spectral", "dim": cfg.positions, "new_node": NEW_NODE_RULE,
                "table": student_data.x[:, data.num_features:].contiguous(),
                "node_ids": arrivals.observed_nodes if arrivals is not None else None}
        # The record names the very file, so a record restored beside another run's student is not trusted.
        result["student_file_sha256"] = file_sha256(save_model(student, out / f"student_seed{seed}.pt", meta=meta))
    return result


def _distilled_student(cfg: DistillConfig, data: Data, targets: SoftTargets, seed: int, progress: bool,
                       checkpoints: Path | None) -> tuple[torch.nn.Module, dict]:
    """The distilled student, and with ``cfg.alpha_choices`` the alpha chosen on the validation metric among
    one student per alpha, with each alpha's validation score (ties: the smaller alpha, more of the teacher)."""
    if cfg.alpha_choices is None:
        return train_student(cfg, data, targets, seed, cfg.student, progress, checkpoints), {}
    tried = {}
    for alpha in cfg.alpha_choices:
        one = dataclasses.replace(cfg, alpha=alpha, alpha_choices=None)
        model = train_student(one, data, targets, seed, cfg.student, progress, checkpoints, tag=f"-alpha{alpha:g}")
        tried[alpha] = (validation_score(model, data)(), model)  # the metric its training stopped on
    chosen = max(tried, key=lambda alpha: (tried[alpha][0], -alpha))
    return tried[chosen][1], {"alpha": chosen, "alpha_val": {f"{alpha:g}": score for alpha, (score, _) in
                                                             tried.items()}}


def with_task(cfg: DistillConfig, data: Data) -> Data:
    """``data`` with the run's task recorded (``data.task``): ``cfg.task`` and ``cfg.metric`` where given, else
    the dataset's (``load_dataset`` records it), else read from the labels. A recorded OGB Evaluator scores
    only when the metric is OGB's own."""
    recorded = getattr(data, "task", None)
    kind = cfg.task or (recorded.kind if recorded is not None else None)
    same = recorded is not None and kind == recorded.kind and cfg.metric in (None, recorded.metric)
    data.task = task_for(data.y, kind, cfg.metric or (recorded.metric if same else None),
                         recorded.ogb_name if same else None)
    data.task.check_scorable(data)
    return data


def _seed_data(cfg: DistillConfig, data: Data | None, seed: int) -> Data:
    if data is None:
        data = load_dataset(cfg.dataset, cfg.root, cfg.split, seed=seed, labels_per_class=cfg.labels_per_class)
    elif cfg.split == "random":
        data = prepare_data(random_split(data, seed, train_per_class=cfg.labels_per_class),
                            getattr(data, "dataset", "custom"), "random", seed)
    return with_task(cfg, data)


def seed_data_key(cfg: DistillConfig, seed: int, data: Data | None = None) -> str:
    """The fingerprint of the graph and split that seed ``seed`` of ``cfg`` runs on: its record's ``data_key``."""
    return graph_fingerprint(_seed_data(cfg, data, seed))


def _writes_files() -> bool:
    """Under torchrun every rank computes the same seeds; rank 0 alone writes files (``out`` must be a folder
    every rank sees: they resume from rank 0's checkpoints and records)."""
    return is_rank_zero()


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


def _seed_record(cfg: DistillConfig, data: Data | None, out: Path | None, teacher_dir: Path | None,
                 seed: int) -> dict:
    """The seed's record: read back from ``out`` if it finished before with these options on this graph, else
    run (:func:`run_seed`) and written there."""
    record = out / "runs" / f"seed{seed}.json" if out is not None else None
    seed_data = _seed_data(cfg, data, seed)
    data_key = graph_fingerprint(seed_data)  # seed_data_key's, without loading the graph twice
    result = saved_run(record, cfg, data_key, seed)  # a seed finished before (or by another process)
    if result is not None and not cfg.source.cacheable:  # e.g. a module: same weights, maybe other code
        now = teacher_soft_targets(cfg, seed_data, seed).content_hash()
        result = result if result.get("soft_targets_hash") == now else None
    if result is None:
        result = {**run_seed(cfg, seed_data, seed, out, teacher_dir), "config_key": cfg.key(),
                  "data_key": data_key, "threads": torch.get_num_threads(),
                  "device": str(resolve_device(cfg.device)),
                  "dataset": getattr(seed_data, "dataset", cfg.dataset),
                  "split": getattr(seed_data, "split", cfg.split)}
        result["record_hash"] = record_hash(result)
        if record is not None and _writes_files():
            set_aside_unless_a_record(record)
            atomic_write_text(record, json.dumps(result, indent=1))
    return result


def _claimed_seed_record(cfg: DistillConfig, data: Data | None, out: Path | None, teacher_dir: Path | None,
                         wait: bool, seed: int) -> dict | None:
    """:func:`_seed_record` under the seed's lock; ``None`` when another process holds it and ``wait`` is
    False. The ranks of a torchrun group run every seed together: no claims between them."""
    with _claim(out if not torch.distributed.is_initialized() else None, seed, wait) as held:
        return _seed_record(cfg, data, out, teacher_dir, seed) if held else None


def run_distillation(cfg: RunConfig | DistillConfig, data: Data | None = None, out: str | Path | None = None,
                     teacher_dir: str | Path | None = None, progress: bool = True, workers: int = 1) -> dict:
    """Run ``cfg``'s seeds and return the summary written to ``out/results.json``, and its run file to
    ``out/run.toml``. ``cfg``: the run's components (:class:`graphkd.distill.run_file.RunConfig`), or the
    flat :class:`DistillConfig` they map onto.

    ``data``: a user's own graph, a PyG ``Data`` or a ``networkx`` graph (see
    :func:`graphkd.data.from_networkx`), with masks, or split per seed with the CPF random split when
    ``cfg.split == "random"``; by default ``cfg.dataset`` is loaded. ``teacher_dir``: where soft
    targets are cached and reused across students (default ``out``). Processes given the same
    ``out`` share the work: each takes the seeds no other is running and waits for the rest.
    ``workers``: seeds run at once, each in a spawned process of its own (see :mod:`graphkd.distill.seeds`;
    ``data`` and ``cfg.teacher`` must then pickle, and each process holds a copy of the graph).
    """
    # checks again what a user set on the config after making it
    cfg = cfg.distill_config() if isinstance(cfg, RunConfig) else dataclasses.replace(cfg)
    out = folder_path(out, "output folder") if out is not None else None
    teacher_dir = folder_path(teacher_dir, "teacher folder") if teacher_dir is not None else None
    if data is not None and not isinstance(data, Data):
        data = from_networkx(data)
    split = cfg.split or (dataset_info(cfg.dataset).default_split if data is None else None)
    if cfg.given_teacher() and data is None and split in PER_SEED_SPLITS:
        raise GraphkdError(f"a given teacher was trained on one split of its graph, and {cfg.dataset}'s split is "
                           f"{split!r}, another one per seed: pass data= with the masks the teacher was trained with")
    if cfg.labels_per_class != 20 and (cfg.split or (dataset_info(cfg.dataset).default_split if data is None
                                                     else None)) != "random":
        raise GraphkdError(f"labels_per_class={cfg.labels_per_class} draws a random split per seed: set split="
                           "'random' (a fixed split keeps its own labelled nodes)")
    if data is not None and cfg.split not in (None, "random", getattr(data, "split", None)):
        raise GraphkdError(f"split={cfg.split!r} names one of a dataset's standard splits, but data= brings its own "
                           "masks, which are used: leave split unset, or set 'random' to draw a new split per seed")
    _check_distributable(cfg)
    resolve_device(cfg.device)  # "cuda" without CUDA is refused before anything is written
    if workers != 1 and torch.distributed.is_initialized():
        raise GraphkdError("under torchrun the ranks run each seed together: leave workers at 1")
    if out is not None:
        writable_folder(out, "output folder")
        check_run_folder(out)
    if teacher_dir is not None:
        writable_folder(teacher_dir, "teacher folder")
    if data is not None:  # validated once, before any training (masks come later with split="random"); a copy, on
        # the CPU, where splits and position features are made (each seed moves it to cfg.device)
        data = graph_on(model_graph(data, require_masks=cfg.split != "random"), "cpu")
    if data is not None and cfg.split != "random":
        data = with_task(cfg, prepare_data(data, getattr(data, "dataset", "custom"), getattr(data, "split", "custom"),
                                           getattr(data, "split_seed", None)))
    if out is not None:  # once the inputs are known to be good
        write_run_file(RunConfig.from_distill_config(cfg), out / RUN_FILE)
    teacher_dir = teacher_dir if teacher_dir is not None else out
    per_seed, taken_elsewhere = {}, []
    bar = tqdm(total=cfg.runs, desc=f"distill {cfg.label()}", disable=not progress)

    def collect(seeds, wait: bool) -> None:
        work = functools.partial(_claimed_seed_record, cfg, data, out, teacher_dir, wait)
        for seed, result in map_seeds(work, seeds, workers):
            if result is None:
                taken_elsewhere.append(seed)
                continue
            per_seed[seed] = result
            bar.update()
            test = f"test_{metric_key(result.get('metric', 'accuracy'))}"
            bar.set_postfix({role: "?" if result[name][test] is None else f"{result[name][test]:.3f}"
                             for role, name in (("teacher", "teacher"), ("mlp", "baseline_mlp"),
                                                ("student", "student"))})

    collect(range(cfg.seed, cfg.seed + cfg.runs), wait=False)
    collect(taken_elsewhere, wait=True)  # wait for the other process; run the seed here if it died first
    bar.close()
    summary = summarize_runs(cfg, [per_seed[seed] for seed in sorted(per_seed)])
    if out is not None and _writes_files():
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / RESULTS_FILE, json.dumps(summary, indent=1))
    return summary
