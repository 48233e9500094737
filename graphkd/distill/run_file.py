"""A run as a few components, and as a TOML file: ``graphkd distill --config run.toml``.

A run is nine parts, each owning its settings (torchtune's shape, not one flat bag):

- ``data``: which graph and split; ``seeds``: how many runs, from which seed;
- ``teacher``: a teacher graphkd trains (its architecture and its ``training``), or a given one;
- ``student``: its architecture and its own ``training``;
- ``objective``: temperature, alpha, the transfer set and a list of knowledge ``terms`` (hint, similarity,
  local structure, adversarial), each an object with its weight and options;
- ``refine`` (Correct and Smooth), ``positions`` (spectral position features) and ``setting`` (inductive,
  production, cold-start): present or absent, so an option of a part that is off cannot be written;
- ``compute``: the ``device`` the run computes on (absent: the CPU), which names the machine, not the run.

Every part maps onto :class:`graphkd.distill.DistillConfig`, which checks the values and keys the results,
so a run from a file and the same run from flags share cached teachers and seed records. A file names
only what differs from the defaults; an unknown key, a wrong type or a bad value is one error naming the
key and the file. Every ``graphkd distill --out`` writes the run's file as ``run.toml``.
"""
from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from graphkd.distill.config import FIELD_DEFAULTS, DistillConfig
from graphkd.distill.teacher import as_teacher
from graphkd.errors import GraphkdError
from graphkd.io import atomic_write_text, os_error_message

__all__ = ["Adversarial", "Arrivals", "Compute", "CorrectAndSmooth", "DataSpec", "GivenTeacher", "Hint",
           "LocalStructure", "Objective", "Positions", "RunConfig", "Seeds", "Similarity", "StudentSpec",
           "StudentTraining", "TeacherSpec", "TeacherTraining", "read_run_file", "run_file_text", "write_run_file"]

D = FIELD_DEFAULTS
RUN_FILE = "run.toml"  # every run's output folder holds its run file
# The first line of every run file graphkd writes: how a run folder tells its own run.toml from a user's.
RUN_FILE_HEADER = "# graphkd run file, written by graphkd distill: graphkd distill --config <this file> runs it again\n"


@dataclass(frozen=True)
class DataSpec:
    """The graph: a catalogued ``dataset`` (or ``CSBM``), its ``split``, and for ``split="random"`` the
    labelled nodes per class. ``root`` is where data lives on this machine (never keyed). ``task``
    (``multiclass``, ``binary``, ``multilabel``) and the ``metric`` that scores it and drives every choice:
    by default the dataset's, or read from the labels (:mod:`graphkd.tasks`)."""

    dataset: str = D["dataset"]
    split: str | None = D["split"]
    labels_per_class: int = D["labels_per_class"]
    root: str | None = D["root"]
    task: str | None = D["task"]
    metric: str | None = D["metric"]


@dataclass(frozen=True)
class Seeds:
    """``runs`` seeds from ``first``: the metric is reported as mean ± std over them."""

    runs: int = D["runs"]
    first: int = D["seed"]


@dataclass(frozen=True)
class TeacherTraining:
    epochs: int = D["epochs"]
    patience: int = D["patience"]
    weight_decay: float = D["weight_decay"]


@dataclass(frozen=True)
class TeacherSpec:
    """A teacher graphkd trains: ``architecture`` (``gcn``, ``gat``, ``sage``, ``appnp``, ``grand``, ``gatsep``, or
    an ensemble ``"gcn+gat"``) and its recipe; a setting left out takes the architecture's default. ``pre_norm``:
    pre-norm residual blocks (GCN, SAGE, GAT; GAT-sep's default)."""

    architecture: str = D["teacher"]
    num_layers: int = D["teacher_layers"]
    hidden_channels: int | None = D["teacher_hidden"]
    dropout: float | None = D["teacher_dropout"]
    norm: str | None = D["teacher_norm"]
    heads: int = D["heads"]
    hops: int | None = D["teacher_hops"]
    node_dropout: float | None = D["teacher_node_dropout"]
    consistency: float | None = D["teacher_consistency"]
    samples: int | None = D["teacher_samples"]
    pre_norm: bool | None = D["teacher_pre_norm"]
    ensemble: int = D["ensemble"]
    training: TeacherTraining = field(default_factory=TeacherTraining)


@dataclass(frozen=True)
class GivenTeacher:
    """A teacher trained elsewhere: ``source`` is a file of its outputs, or in Python a trained module,
    logits, a dict of outputs or :class:`SoftTargets` (see :mod:`graphkd.distill.teachers`)."""

    source: object


@dataclass(frozen=True)
class StudentTraining:
    epochs: int = D["epochs"]
    patience: int = D["patience"]
    lr: float = D["lr"]
    weight_decay: float = D["student_weight_decay"]
    batch_size: int = D["batch_size"]


@dataclass(frozen=True)
class StudentSpec:
    """The student: an ``mlp`` (serves without the graph) or a shallow ``gcn`` / ``sage``."""

    kind: str = D["student"]
    num_layers: int = D["student_layers"]
    hidden_channels: int = D["student_hidden"]
    dropout: float = D["student_dropout"]
    norm: str | None = None
    training: StudentTraining = field(default_factory=StudentTraining)


@dataclass(frozen=True)
class Hint:
    """FitNets: the student's last hidden layer, projected, matches the teacher's representation."""

    weight: float = 1.0
    metric: str = D["hint_metric"]


@dataclass(frozen=True)
class Similarity:
    """NOSMOG: in-batch cosine-similarity matrices of student and teacher representations matched."""

    weight: float = 1.0


@dataclass(frozen=True)
class LocalStructure:
    """LSP (GNN students): each node's similarity distribution over its neighbours matched with KL."""

    weight: float = 1.0


@dataclass(frozen=True)
class Adversarial:
    """NOSMOG (MLP students): the soft-target loss at a PGD perturbation of the input."""

    weight: float = 1.0
    epsilon: float = D["adversarial_epsilon"]
    steps: int = D["adversarial_steps"]


# A term's kind in a run file -> its class, the DistillConfig field of its weight, and of each of its options.
TERMS = {"hint": (Hint, "hint_weight", {"metric": "hint_metric"}),
         "similarity": (Similarity, "similarity_weight", {}),
         "local_structure": (LocalStructure, "lsp_weight", {}),
         "adversarial": (Adversarial, "adversarial_weight",
                         {"epsilon": "adversarial_epsilon", "steps": "adversarial_steps"})}


@dataclass(frozen=True)
class Objective:
    """Hinton's soft-target loss at ``temperature`` (scaled by T^2), mixed with ``alpha`` of the hard-label
    loss, on the ``transfer`` nodes; ``terms`` add knowledge beyond the logits, read at the teacher's
    ``teacher_layer`` (default: its last hidden layer) by the representation terms. ``alpha_choices``:
    alphas tried per seed instead of ``alpha``, the best on validation kept. ``class_weights``: the hard-label
    terms (teacher's and students') weighted by inverse class frequency."""

    temperature: float = D["temperature"]
    alpha: float = D["alpha"]
    transfer: str = D["transfer"]
    terms: tuple[Hint | Similarity | LocalStructure | Adversarial, ...] = ()
    teacher_layer: str | None = D["teacher_layer"]
    alpha_choices: tuple[float, ...] | None = D["alpha_choices"]
    class_weights: bool = D["class_weights"]

    def __post_init__(self):
        kinds = tuple(term_class for term_class, _, _ in TERMS.values())
        if not isinstance(self.terms, (tuple, list)) or not all(isinstance(term, kinds) for term in self.terms):
            raise GraphkdError(f"objective.terms must be a tuple of {', '.join(k.__name__ for k in kinds)} objects, "
                               f"got {self.terms!r:.120}")


@dataclass(frozen=True)
class CorrectAndSmooth:
    """Soft targets refined by Correct and Smooth before the student learns them."""

    correction_alpha: float = D["cs_correction_alpha"]
    smoothing_alpha: float = D["cs_smoothing_alpha"]


@dataclass(frozen=True)
class Positions:
    """``dim`` spectral position features appended to an MLP student's input."""

    dim: int = 16

    def __post_init__(self):
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim < 1:
            raise GraphkdError(f"positions.dim must be an integer >= 1 (leave positions out for none), got "
                               f"{self.dim!r}")


@dataclass(frozen=True)
class Arrivals:
    """``setting`` (``inductive``, ``production`` or ``cold-start``): ``fraction`` of the test nodes arrive
    after training and are scored as they come."""

    setting: str = "inductive"
    fraction: float = D["arrival_fraction"]


@dataclass(frozen=True)
class Compute:
    """Where the run computes on this machine: ``device`` ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA
    where present; see :mod:`graphkd.device`). Not part of the run's key: seeds run on a GPU and on a CPU are
    records of the same run, each saying where it ran."""

    device: str = D["device"]


@dataclass(frozen=True)
class RunConfig:
    """A distillation run as its components; ``None`` for ``refine``, ``positions`` and ``setting`` is off
    (the transductive setting), for ``compute`` the CPU."""

    data: DataSpec = field(default_factory=DataSpec)
    seeds: Seeds = field(default_factory=Seeds)
    teacher: TeacherSpec | GivenTeacher = field(default_factory=TeacherSpec)
    student: StudentSpec = field(default_factory=StudentSpec)
    objective: Objective = field(default_factory=Objective)
    refine: CorrectAndSmooth | None = None
    positions: Positions | None = None
    setting: Arrivals | None = None
    compute: Compute | None = None

    def __post_init__(self):
        for name, kinds in PART_KINDS.items():
            if not isinstance(getattr(self, name), kinds):
                wanted = " or ".join("None" if kind is type(None) else kind.__name__ for kind in kinds)
                raise GraphkdError(f"RunConfig's {name} must be {wanted}, got {getattr(self, name)!r:.80}")

    def distill_config(self) -> DistillConfig:
        """The checked configuration the pipeline runs; an out-of-range value is refused naming its key."""
        flat = _flat(self)
        try:
            return DistillConfig(**flat)
        except GraphkdError as exc:
            raise GraphkdError(_file_names(str(exc))) from None

    @classmethod
    def from_distill_config(cls, cfg: DistillConfig) -> RunConfig:
        """The components of a flat configuration (a given teacher appears by its fingerprint)."""
        teacher_training = TeacherTraining(cfg.epochs, cfg.patience, cfg.weight_decay)
        if cfg.given_teacher():
            teacher = GivenTeacher(cfg.teacher)
        else:
            teacher = TeacherSpec(cfg.teacher, cfg.teacher_layers, cfg.teacher_hidden, cfg.teacher_dropout,
                                  cfg.teacher_norm, cfg.heads, cfg.teacher_hops, cfg.teacher_node_dropout,
                                  cfg.teacher_consistency, cfg.teacher_samples, cfg.teacher_pre_norm, cfg.ensemble,
                                  teacher_training)
        student = StudentSpec(cfg.student, cfg.student_layers, cfg.student_hidden, cfg.student_dropout,
                              "batch_norm" if cfg.student_batch_norm else None,
                              StudentTraining(*cfg.student_limits(), cfg.lr, cfg.student_weight_decay,
                                              cfg.batch_size))
        terms = [term_class(weight=getattr(cfg, weight_field),
                            **{option: getattr(cfg, field_name) for option, field_name in options.items()})
                 for term_class, weight_field, options in TERMS.values() if getattr(cfg, weight_field)]
        return cls(data=DataSpec(cfg.dataset, cfg.split, cfg.labels_per_class, cfg.root, cfg.task, cfg.metric),
                   seeds=Seeds(cfg.runs, cfg.seed), teacher=teacher, student=student,
                   objective=Objective(cfg.temperature, cfg.alpha, cfg.transfer, tuple(terms), cfg.teacher_layer,
                                       cfg.alpha_choices, cfg.class_weights),
                   refine=CorrectAndSmooth(cfg.cs_correction_alpha, cfg.cs_smoothing_alpha)
                   if cfg.refine == "cs" else None,
                   positions=Positions(cfg.positions) if cfg.positions else None,
                   setting=Arrivals(cfg.setting, cfg.arrival_fraction) if cfg.setting != "transductive" else None,
                   compute=Compute(cfg.device) if cfg.device != D["device"] else None)


# What each part of a RunConfig may be.
PART_KINDS = {"data": (DataSpec,), "seeds": (Seeds,), "teacher": (TeacherSpec, GivenTeacher),
              "student": (StudentSpec,), "objective": (Objective,), "refine": (CorrectAndSmooth, type(None)),
              "positions": (Positions, type(None)), "setting": (Arrivals, type(None)),
              "compute": (Compute, type(None))}
# Each DistillConfig field as the run file's key, for messages (DistillConfig's checks name its fields).
FILE_KEYS = {
    "dataset": "data.dataset", "split": "data.split", "labels_per_class": "data.labels_per_class",
    "runs": "seeds.runs", "seed": "seeds.first", "teacher_layers": "teacher.num_layers",
    "teacher_hidden": "teacher.hidden_channels", "teacher_dropout": "teacher.dropout", "teacher_norm": "teacher.norm",
    "teacher_hops": "teacher.hops", "teacher_node_dropout": "teacher.node_dropout",
    "teacher_consistency": "teacher.consistency", "teacher_samples": "teacher.samples",
    "teacher_pre_norm": "teacher.pre_norm", "heads": "teacher.heads",
    "ensemble": "teacher.ensemble", "weight_decay": "teacher.training.weight_decay",
    "epochs": "teacher.training.epochs", "patience": "teacher.training.patience",
    "student_epochs": "student.training.epochs", "student_patience": "student.training.patience",
    "student_layers": "student.num_layers", "student_hidden": "student.hidden_channels",
    "student_dropout": "student.dropout", "student_weight_decay": "student.training.weight_decay",
    "lr": "student.training.lr", "batch_size": "student.training.batch_size",
    "temperature": "objective.temperature", "alpha": "objective.alpha", "transfer": "objective.transfer",
    "teacher_layer": "objective.teacher_layer", "hint_weight": "hint weight", "hint_metric": "hint metric",
    "similarity_weight": "similarity weight", "lsp_weight": "local_structure weight",
    "adversarial_weight": "adversarial weight", "adversarial_epsilon": "adversarial epsilon",
    "adversarial_steps": "adversarial steps", "positions": "positions.dim",
    "cs_correction_alpha": "refine.correction_alpha", "cs_smoothing_alpha": "refine.smoothing_alpha",
    "arrival_fraction": "setting.fraction", "task": "data.task", "metric": "data.metric",
    "alpha_choices": "objective.alpha_choices", "class_weights": "objective.class_weights",
    "device": "compute.device",
}


def _file_names(message: str) -> str:
    return re.sub(r"\b(" + "|".join(sorted(FILE_KEYS, key=len, reverse=True)) + r")\b",
                  lambda m: FILE_KEYS[m.group(1)], message)


def _flat(run: RunConfig) -> dict:
    """``run`` as DistillConfig's keyword arguments."""
    student, objective = run.student, run.objective
    flat = {"dataset": run.data.dataset, "split": run.data.split, "labels_per_class": run.data.labels_per_class,
            "root": run.data.root, "runs": run.seeds.runs, "seed": run.seeds.first,
            "student": student.kind, "student_layers": student.num_layers, "student_hidden": student.hidden_channels,
            "student_dropout": student.dropout, "student_batch_norm": _student_batch_norm(student.norm),
            "lr": student.training.lr, "student_weight_decay": student.training.weight_decay,
            "batch_size": student.training.batch_size, "temperature": objective.temperature,
            "alpha": objective.alpha, "transfer": objective.transfer, "teacher_layer": objective.teacher_layer,
            "task": run.data.task, "metric": run.data.metric, "alpha_choices": objective.alpha_choices,
            "class_weights": objective.class_weights}
    if isinstance(run.teacher, GivenTeacher):
        flat["teacher"] = run.teacher.source
        epochs, patience = student.training.epochs, student.training.patience
    else:
        t = run.teacher
        flat.update(teacher=t.architecture, teacher_layers=t.num_layers, teacher_hidden=t.hidden_channels,
                    teacher_dropout=t.dropout, teacher_norm=t.norm, heads=t.heads, teacher_hops=t.hops,
                    teacher_node_dropout=t.node_dropout, teacher_consistency=t.consistency,
                    teacher_samples=t.samples, teacher_pre_norm=t.pre_norm, ensemble=t.ensemble,
                    weight_decay=t.training.weight_decay)
        epochs, patience = t.training.epochs, t.training.patience
        flat.update(student_epochs=student.training.epochs if student.training.epochs != epochs else None,
                    student_patience=student.training.patience if student.training.patience != patience else None)
    flat.update(epochs=epochs, patience=patience)
    kinds = [type(term) for term in objective.terms]
    for kind, (term_class, weight_field, options) in TERMS.items():
        if kinds.count(term_class) > 1:
            raise GraphkdError(f"objective.terms holds {kind} {kinds.count(term_class)} times; give it once")
        term = next((t for t in objective.terms if type(t) is term_class), None)
        if term is not None:
            flat[weight_field] = term.weight
            flat.update({field_name: getattr(term, option) for option, field_name in options.items()})
    if run.refine is not None:
        flat.update(refine="cs", cs_correction_alpha=run.refine.correction_alpha,
                    cs_smoothing_alpha=run.refine.smoothing_alpha)
    if run.positions is not None:
        flat["positions"] = run.positions.dim
    if run.setting is not None:
        flat.update(setting=run.setting.setting, arrival_fraction=run.setting.fraction)
    if run.compute is not None:
        flat["device"] = run.compute.device
    return flat


def _student_batch_norm(norm: str | None) -> bool:
    if norm not in (None, "batch_norm"):
        raise GraphkdError(f"student.norm must be 'batch_norm' or left out, got {norm!r}")
    return norm == "batch_norm"


# ---- Files -----------------------------------------------------------------------------------------------

PARTS = {"data": DataSpec, "seeds": Seeds, "student": StudentSpec, "objective": Objective,
         "refine": CorrectAndSmooth, "positions": Positions, "setting": Arrivals, "compute": Compute}


def read_run_file(path: str | os.PathLike) -> RunConfig:
    """The run a TOML file describes; one :class:`GraphkdError` naming the key and the file for anything
    unknown, mistyped or out of range."""
    if not isinstance(path, (str, os.PathLike)) or "\0" in str(path):
        raise GraphkdError(f"a run file is given by its path, got {path!r:.80}")
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise GraphkdError(f"no run file at {path}") from exc
    except OSError as exc:  # a folder, or a file it may not read: said in words, not as "[Errno 21] ..."
        raise GraphkdError(f"no readable run file at {path}: {os_error_message(exc)}") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GraphkdError(f"{path} is not a readable TOML run file ({exc})") from exc
    except RecursionError as exc:  # tomllib, like json, recurses into nested arrays and tables
        raise GraphkdError(f"{path} is not a graphkd run file: it nests arrays or tables too deeply to read") \
            from exc
    try:
        run = _run_from_document(document, path.parent)
        run.distill_config()  # values checked now, naming the file
    except GraphkdError as exc:
        raise GraphkdError(f"{path}: {exc}") from None
    return run


def _run_from_document(document: dict, folder: Path) -> RunConfig:
    """The run a parsed file describes; a given teacher's file is read relative to ``folder``, the run file's."""
    unknown = sorted(set(document) - set(PARTS) - {"teacher"})
    if unknown:
        raise GraphkdError(f"unknown section {unknown[0]!r}; valid: {', '.join(['teacher', *PARTS])}")
    parts = {}
    for name, part in PARTS.items():
        if name in document:
            parts[name] = _build(part, document[name], name)
    if "teacher" in document:
        section = document["teacher"]
        given = isinstance(section, dict) and "source" in section
        if given and not isinstance(section["source"], str):
            raise GraphkdError(f"teacher.source must be the path of a file of teacher outputs, got "
                               f"{section['source']!r}")
        if given and re.fullmatch(r"(module|logits|outputs|soft_targets):[0-9a-f]{16}", section["source"]):
            raise GraphkdError(f"teacher.source is {section['source']!r}, the fingerprint of a teacher given as a "
                               "Python object, which no file holds: give it in Python (GivenTeacher(module)), or "
                               "save its outputs (graphkd.distill.capture(...).save(FILE)) and name that file")
        if given:
            section = {**section, "source": str(folder / Path(section["source"]).expanduser())}
        parts["teacher"] = _build(GivenTeacher if given else TeacherSpec, section, "teacher")
    return RunConfig(**parts)


def _build(cls, section, where: str):
    """``cls`` from a TOML table, each key checked against the field's type."""
    if not isinstance(section, dict):
        raise GraphkdError(f"{where} must be a table, got {type(section).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(section) - set(names) - ({"kind"} if where.startswith("objective.terms") else set()))
    if unknown:
        raise GraphkdError(f"unknown key {where}.{unknown[0]}; valid: {', '.join(names)}")
    return cls(**{name: _value(hints[name], value, f"{where}.{name}") for name, value in section.items()
                  if name in names})


def _value(hint, value, where: str):
    if hint is TeacherTraining or hint is StudentTraining:
        return _build(hint, value, where)
    if where == "objective.terms":
        if not isinstance(value, list):
            raise GraphkdError(f"{where} must be an array of tables ([[objective.terms]])")
        return tuple(_term(item, f"{where}[{i}]") for i, item in enumerate(value))
    if where == "objective.alpha_choices":  # DistillConfig checks each alpha
        if not isinstance(value, list):
            raise GraphkdError(f"{where} must be an array of alphas, e.g. [0.0, 0.5, 1.0]")
        return tuple(value)
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if (isinstance(value, bool) and bool not in options) or not any(_fits(value, option) for option in options):
        wanted = " or ".join("absent" if o is type(None) else o.__name__ for o in options)
        raise GraphkdError(f"{where} must be {wanted}, got {value!r}")
    return float(value) if float in options and isinstance(value, int) else value


def _fits(value, option) -> bool:
    return option is not type(None) and (isinstance(value, option) or (option is float and isinstance(value, int)))


def _term(item, where: str):
    if not isinstance(item, dict) or item.get("kind") not in TERMS:
        raise GraphkdError(f"{where} needs kind = one of {', '.join(TERMS)}")
    return _build(TERMS[item["kind"]][0], item, where)


def run_file_text(run: RunConfig, folder: str | os.PathLike = ".") -> str:
    """``run`` as TOML, for a file in ``folder``; settings left at ``None`` (an architecture's default) are left
    out. A given teacher is written as its file, relative to ``folder`` (as :func:`read_run_file` reads it),
    or, given as a Python object (a module, logits), as its fingerprint, which names it but cannot load it."""
    document = _table(run)
    if isinstance(run.teacher, GivenTeacher):
        given = as_teacher(run.teacher.source)
        document["teacher"] = {"source": os.path.relpath(given.path.resolve(), Path(folder).resolve())
                               if given.path is not None else given.fingerprint()}
    if "objective" in document and run.objective.terms:
        document["objective"]["terms"] = [{"kind": next(k for k, (c, _, _) in TERMS.items() if isinstance(t, c)),
                                           **_table(t)} for t in run.objective.terms]
    return tomli_w.dumps(document)


def _table(obj) -> dict:
    table = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None or f.name == "terms":
            continue
        table[f.name] = _table(value) if dataclasses.is_dataclass(value) else value
    return table


def write_run_file(run: RunConfig, path: str | os.PathLike) -> Path:
    """Write ``run`` to ``path`` (atomically): ``graphkd distill --config path`` runs it again."""
    return atomic_write_text(path, RUN_FILE_HEADER + run_file_text(run, Path(path).parent))
