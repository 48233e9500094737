"""``DistillConfig``: everything that defines a distillation run, and the hashes that name its results."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import os
from dataclasses import dataclass

from graphkd.checks import check_alpha, check_choice, check_temperature
from graphkd.device import check_device
from graphkd.distill import teachers
from graphkd.distill.knowledge import HINT_METRICS
from graphkd.distill.refine import REFINEMENTS
from graphkd.distill.settings import SETTINGS
from graphkd.distill.soft_targets import TRANSFER_SETS
from graphkd.distill.teacher import Teacher, as_teacher
from graphkd.distill.teachers import TEACHER_DEFAULTS
from graphkd.errors import GraphkdError
from graphkd.models.gnn import NORMS
from graphkd.tasks import METRICS, TASKS, Task

__all__ = ["DistillConfig", "STUDENTS"]

STUDENTS = ("mlp", "gcn", "sage")


@dataclass
class DistillConfig:
    """A run: data, teacher, student, and the knowledge the student learns.

    ``teacher``: a name (``gcn``, ``gat``, ``sage``, ``appnp``, ``grand``, ``gatsep``), an ensemble across architectures
    (``"gcn+gat+sage"``), a trained ``torch.nn.Module`` called as ``model(x, edge_index)``, teacher
    logits ``[num_nodes, C]``, a dict ``{"logits", "hidden"}``, :class:`SoftTargets`, or a file of
    any of these (see :mod:`graphkd.distill.teachers`). A given teacher distils on the graph as it
    comes: it was trained on that graph's split, so ``split="random"`` (a new split per seed) is refused.

    A named teacher's settings default per architecture (``None``; see
    :func:`graphkd.distill.teachers.teacher_recipe`): ``teacher_hidden``, ``teacher_dropout``, ``teacher_norm``;
    ``teacher_hops``, the propagation steps of APPNP and GRAND; ``teacher_node_dropout``, GRAND's DropNode;
    ``teacher_consistency``, the weight of GRAND's consistency term (1.0 for GRAND, 0 for the others; any
    teacher can train with it), over ``teacher_samples`` random forward passes per step (4 with the term);
    ``teacher_pre_norm``, Platonov et al.'s pre-norm residual blocks for GCN, SAGE and GAT (with layer norm
    and dropout 0.2 unless given; GAT-sep, ``"gatsep"``, has them by default).

    Knowledge terms (weights; 0 leaves a term out): ``hint_weight`` (FitNets, ``hint_metric`` ``mse`` or
    ``cosine``), ``similarity_weight`` (NOSMOG in-batch similarity), ``lsp_weight`` (local structure,
    GNN students), ``adversarial_weight`` (PGD with ``adversarial_epsilon``/``adversarial_steps``, MLP
    students). They read the teacher representation at ``teacher_layer`` (default: its last hidden
    layer). ``positions``: spectral position features of that many dimensions appended to an MLP
    student's input. ``refine="cs"``: soft targets refined by Correct and Smooth (propagation weights
``cs_correction_alpha`` and ``cs_smoothing_alpha``).

    ``labels_per_class``: labelled training nodes per class of the random split (CPF: 20); fewer labels,
    and the soft targets on every node carry the rest (semi-supervised distillation).

    ``setting``: ``transductive``, or ``inductive`` / ``production`` / ``cold-start``, which hold
    ``arrival_fraction`` of the test nodes out of training and score them as they arrive (see
    :mod:`graphkd.distill.settings`).

    ``task`` (``multiclass``, ``binary``, ``multilabel``) and ``metric``: what the labels pose and what scores
    it, driving every early stop and choice (default: the dataset's, or read from the labels; see
    :mod:`graphkd.tasks`). ``class_weights``: weigh the hard-label term by inverse class frequency.
    ``alpha_choices``: alphas to train a student with per seed, the one of the best validation metric kept
    (instead of ``alpha``); 1.0 among them lets the labels alone win where the teacher does not help.

    ``device``: where teachers train, soft targets are computed and students train and are scored: ``"cpu"``,
    ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA where present; see :mod:`graphkd.device`). Like ``root`` it names
    this machine, not the run: it is not part of :meth:`key`, and each seed's record says where it ran.
    """

    dataset: str = "CSBM"
    split: str | None = None
    root: str | None = None
    runs: int = 10
    seed: int = 0
    teacher: object = "gat"
    teacher_layers: int = 2
    teacher_hidden: int | None = None
    teacher_dropout: float | None = None
    teacher_norm: str | None = None
    teacher_hops: int | None = None
    teacher_node_dropout: float | None = None
    teacher_consistency: float | None = None
    teacher_samples: int | None = None
    teacher_pre_norm: bool | None = None
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
    # The students' own limits; None: the teacher's epochs and patience.
    student_epochs: int | None = None
    student_patience: int | None = None
    batch_size: int = 4096
    teacher_layer: str | None = None
    hint_weight: float = 0.0
    hint_metric: str = "mse"
    similarity_weight: float = 0.0
    lsp_weight: float = 0.0
    adversarial_weight: float = 0.0
    adversarial_epsilon: float = 0.01
    adversarial_steps: int = 3
    positions: int = 0
    refine: str = "none"
    cs_correction_alpha: float = 0.8
    cs_smoothing_alpha: float = 0.8
    setting: str = "transductive"
    arrival_fraction: float = 0.2
    labels_per_class: int = 20
    task: str | None = None
    metric: str | None = None
    class_weights: bool = False
    alpha_choices: tuple[float, ...] | None = None
    device: str = "cpu"

    def __post_init__(self):
        source = as_teacher(self.teacher)  # refuses what is no teacher
        self.teacher = source.value  # a name in its one spelling, an array's numbers as a tensor
        source.fingerprint()
        self.student = check_choice("student", self.student, STUDENTS)
        self.device = check_device(self.device)
        self.temperature = check_temperature(self.temperature)
        self.alpha = check_alpha(self.alpha)
        self.transfer = check_choice("transfer set", self.transfer, TRANSFER_SETS)
        if self.teacher_norm is not None:
            self.teacher_norm = check_choice("teacher norm", self.teacher_norm, TEACHER_NORMS)
        self.hint_metric = check_choice("hint metric", self.hint_metric, HINT_METRICS)
        self.refine = check_choice("refinement", self.refine, REFINEMENTS)
        self.setting = check_choice("setting", self.setting, SETTINGS)
        if self.task is not None:
            self.task = check_choice("task", self.task, TASKS)
        if self.metric is not None:
            self.metric = check_choice("metric", self.metric, sorted({m for ms in METRICS.values() for m in ms}))
            if self.task is not None:
                Task(self.task, self.metric)  # refuses a metric that does not score the task
        if self.alpha_choices is not None:
            self._check_alpha_choices()
        self._check_kinds()
        self._check_bounds()
        if self.student != "mlp" and not 1 <= self.student_layers <= 2:
            raise GraphkdError("GNN students are shallow: student_layers must be 1 or 2")
        if self.teacher_layer is not None and not self.needs_representations():
            raise GraphkdError("teacher_layer is read by the hint, similarity and LSP terms only; give one of their "
                               "weights, or leave teacher_layer out")
        if self.student == "mlp" and self.lsp_weight:
            raise GraphkdError("local structure preserving (lsp_weight) needs a GNN student: an MLP has no neighbours")
        if self.student != "mlp" and (self.adversarial_weight or self.positions):
            raise GraphkdError("adversarial augmentation and position features are for MLP students")
        self._check_teacher_recipe()
        self._check_read_options()
        if self.given_teacher() and self.setting != "transductive":
            raise GraphkdError(f"the {self.setting} setting holds test nodes out before the teacher trains; a given "
                               "teacher has trained already, so they cannot be held out of it: name a teacher")
        if self.given_teacher() and self.split == "random":
            raise GraphkdError("a given teacher was trained on one split of its graph; split='random' would redraw "
                               "it per seed and test on nodes the teacher trained on. Give the graph with its masks.")

    def _check_alpha_choices(self) -> None:
        choices = self.alpha_choices
        if isinstance(choices, str) or not isinstance(choices, (list, tuple)) or not choices:
            raise GraphkdError(f"alpha_choices must be a non-empty list of alphas in [0, 1], got {choices!r:.80}")
        self.alpha_choices = tuple(sorted({check_alpha(alpha) for alpha in choices}))
        if self.alpha != FIELD_DEFAULTS["alpha"]:
            raise GraphkdError("give alpha or alpha_choices, not both: with alpha_choices the alpha is chosen on "
                               "validation")

    def _check_kinds(self) -> None:
        """Fields that are no number: a name, a path, a switch. ``"no"`` for a switch would read as on."""
        for name in ("student_batch_norm", "class_weights"):
            if not isinstance(getattr(self, name), bool):
                raise GraphkdError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.teacher_pre_norm is not None and not isinstance(self.teacher_pre_norm, bool):
            raise GraphkdError(f"teacher_pre_norm must be True, False or None, got {self.teacher_pre_norm!r}")
        for name, optional in (("dataset", False), ("split", True), ("teacher_layer", True)):
            value = getattr(self, name)
            if not (isinstance(value, str) or (optional and value is None)):
                raise GraphkdError(f"{name} must be a name{' or None' if optional else ''}, got {value!r:.80}")
        if self.root is not None and not isinstance(self.root, (str, os.PathLike)):
            raise GraphkdError(f"root must be the path of a data folder or None, got {self.root!r:.80}")

    def _check_bounds(self) -> None:
        """Every number within what trains: a width of 0, dropout 1 or T = 1e-30 would run and mislead.
        NumPy numbers are accepted and stored as Python ones (they must survive JSON)."""

        def bounded(name, low, high, optional=False, integer=False):
            value = getattr(self, name)
            if optional and value is None:
                return
            kind = numbers.Integral if integer else numbers.Real
            if isinstance(value, bool) or not isinstance(value, kind) or not (
                    math.isfinite(value) and low <= value <= high):
                raise GraphkdError(f"{name} must be {'an integer' if integer else 'a number'} in [{low}, {high}], "
                                   f"got {value!r}")
            if type(value) is not (int if integer else float):  # NumPy numbers, and 1 for 1.0: one key for one value
                setattr(self, name, int(value) if integer else float(value))

        for name in KNOWLEDGE_WEIGHTS:  # NaN or inf would turn the loss into NaN and the student into noise
            bounded(name, 0.0, 1e6)
        bounded("runs", 1, 100_000, integer=True)
        bounded("ensemble", 1, 64, integer=True)
        bounded("seed", 0, 2**31 - 1, integer=True)
        bounded("weight_decay", 0.0, 10.0)
        bounded("student_weight_decay", 0.0, 10.0)
        for name in ("teacher_hidden", "student_hidden"):
            bounded(name, 1, 65536, optional=name == "teacher_hidden", integer=True)
        for name in ("teacher_dropout", "student_dropout"):
            bounded(name, 0.0, 0.95, optional=name == "teacher_dropout")
        bounded("teacher_layers", 1, 8, integer=True)
        bounded("teacher_hops", 1, 64, optional=True, integer=True)
        bounded("teacher_node_dropout", 0.0, 0.95, optional=True)
        bounded("teacher_consistency", 0.0, 1e3, optional=True)
        bounded("teacher_samples", 1, 16, optional=True, integer=True)
        bounded("student_layers", 1, 8, integer=True)
        bounded("heads", 1, 64, integer=True)
        bounded("temperature", 0.05, 100.0)
        bounded("epochs", 1, 100_000, integer=True)
        bounded("patience", 1, 100_000, integer=True)
        bounded("student_epochs", 1, 100_000, optional=True, integer=True)
        bounded("student_patience", 1, 100_000, optional=True, integer=True)
        bounded("batch_size", 1, 10_000_000, integer=True)
        bounded("lr", 1e-7, 10.0)
        bounded("positions", 0, 1024, integer=True)
        bounded("adversarial_steps", 0, 100, integer=True)
        bounded("adversarial_epsilon", 0.0, 10.0)
        bounded("cs_correction_alpha", 0.0, 1.0)
        bounded("cs_smoothing_alpha", 0.0, 1.0)
        bounded("arrival_fraction", 0.01, 0.99)
        bounded("labels_per_class", 1, 100_000, integer=True)
        for kind in {"gat", "gatsep"} & set(self.source.members):
            gat_width = self.teacher_hidden or TEACHER_DEFAULTS[kind]["hidden_channels"]
            if gat_width % self.heads:
                raise GraphkdError(f"GAT hidden width ({gat_width}) must be divisible by heads ({self.heads})")

    def _check_teacher_recipe(self) -> None:
        """Teacher settings only where a teacher trained here has what they set: never silently ignored."""
        recipe = {name: getattr(self, name) for name in TEACHER_RECIPE_FIELDS
                  if getattr(self, name) != FIELD_DEFAULTS[name]}
        if recipe and self.given_teacher():
            raise GraphkdError(f"{', '.join(recipe)} set how graphkd trains a teacher; a given teacher has trained "
                               "already: leave them out")
        members = self.source.members
        for name, kinds in (("teacher_hops", ("appnp", "grand")), ("teacher_node_dropout", ("grand",)),
                            ("teacher_pre_norm", ("gcn", "sage", "gat", "gatsep"))):
            if name in recipe and not set(members) & set(kinds):
                raise GraphkdError(f"{name} is for the {' and '.join(kinds)} teachers; {self.teacher_id} has none")
        if self.teacher_samples == 1 and any(teachers.teacher_recipe(self, kind)["consistency"] for kind in members):
            raise GraphkdError("the consistency term compares several random forward passes per step: "
                               "teacher_samples must be at least 2 (or set teacher_consistency=0)")

    def _check_read_options(self) -> None:
        """An option set away from its default is refused where nothing reads it: the user meant something."""
        members = self.source.members
        read_by = {"heads": (bool({"gat", "gatsep"} & set(members)), "the GAT teachers; give one (e.g. teacher='gat')"),
                   "hint_metric": (bool(self.hint_weight), "the hint term; give hint_weight"),
                   "adversarial_epsilon": (bool(self.adversarial_weight), "adversarial augmentation; give "
                                           "adversarial_weight"),
                   "adversarial_steps": (bool(self.adversarial_weight), "adversarial augmentation; give "
                                         "adversarial_weight"),
                   "cs_correction_alpha": (self.refine == "cs", "Correct and Smooth; set refine='cs'"),
                   "cs_smoothing_alpha": (self.refine == "cs", "Correct and Smooth; set refine='cs'"),
                   "arrival_fraction": (self.setting != "transductive", "the inductive, production and cold-start "
                                        "settings; set one")}
        for name, (read, reader) in read_by.items():
            if getattr(self, name) != FIELD_DEFAULTS[name] and not read:
                raise GraphkdError(f"{name} is read by {reader}, or leave {name} out")

    @property
    def source(self) -> Teacher:
        """The teacher as one object (:mod:`graphkd.distill.teacher`), made from :attr:`teacher` as it is now."""
        return as_teacher(self.teacher)

    @property
    def teacher_id(self) -> str:
        """The teacher's name, or a hash of its weights, outputs or file (recomputed: never stale)."""
        return self.source.fingerprint()

    def given_teacher(self) -> bool:
        """Whether the teacher comes from the user (a module, outputs or a file), not trained here."""
        return not self.source.trains_here

    def student_limits(self) -> tuple[int, int]:
        """The students' maximum epochs and early-stopping patience."""
        return self.student_epochs or self.epochs, self.student_patience or self.patience

    def needs_representations(self) -> bool:
        """Whether a knowledge term reads hidden representations (so the teacher's must be captured)."""
        return bool(self.hint_weight or self.similarity_weight or self.lsp_weight)

    def describe(self) -> dict:
        """The configuration as plain JSON types; the teacher appears as :attr:`teacher_id`."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return json.loads(json.dumps({**fields, "teacher": self.teacher_id}))

    def _hash(self, names, **derived) -> str:
        # Fields added after results were first keyed are left out at their defaults, and removed ones keep
        # their last value, so the keys of earlier runs (benchmarks/results) stay valid.
        fields = {k: v for k, v in self.describe().items()
                  if k in names and not (k in ADDED_FIELDS and v == ADDED_FIELDS[k])}
        keyed = json.dumps({**fields, **REMOVED_FIELDS, **derived}, sort_keys=True)
        return hashlib.sha256(keyed.encode()).hexdigest()[:12]

    def _recipe_defaults(self) -> dict:
        """A deep teacher left at graphkd's deep recipe, and a GRAND or consistency-trained one, is keyed by that
        recipe: when the default changes, so do the keys, and teachers trained under the old one are not reused."""
        derived = {}
        if self.teacher_layers > 2 and (self.teacher_norm is None or self.teacher_dropout is None):
            derived["deep_teacher"] = teachers.DEEP_TEACHER
        members = self.source.members
        if "grand" in members:
            derived["grand"] = teachers.TEACHER_DEFAULTS["grand"]
        if "gatsep" in members:
            derived["gatsep"] = teachers.TEACHER_DEFAULTS["gatsep"]
        if self.teacher_pre_norm and (self.teacher_norm is None or self.teacher_dropout is None):
            derived["pre_norm_teacher"] = teachers.PRE_NORM_TEACHER
        if any(teachers.teacher_recipe(self, kind)["consistency"] for kind in members):
            derived["consistency_training"] = [teachers.CONSISTENCY_SAMPLES, teachers.CONSISTENCY_PATIENCE_SCALE,
                                               teachers.CONSISTENCY_EPOCHS_SCALE]
        return derived

    def key(self) -> str:
        """Hash of everything that changes a run's outcome: names cached results. Not ``runs`` or ``seed``: a seed's
        record is the same whichever seeds ran with it (keyed at seed 0, so earlier keys stay valid). Not ``root``
        or ``device``, which name this machine: a seed on CUDA and on the CPU differ in float rounding only (its
        record says where it ran)."""
        return self._hash({f.name for f in dataclasses.fields(self)} - {"runs", "root", "seed", "device"}, seed=0,
                          **self._recipe_defaults())

    def teacher_key(self) -> str:
        """Hash of what changes the teacher's soft targets: students with equal keys share teachers."""
        if self.needs_representations():  # the soft targets then hold the teacher's representation too
            return self._hash(TEACHER_FIELDS + ("teacher_layer",), representations=True, **self._recipe_defaults())
        return self._hash(TEACHER_FIELDS, **self._recipe_defaults())

    def training_key(self) -> str:
        """Hash of what changes how a named teacher trains: its trained members are cached under it and shared by
        soft targets of any transfer set, refinement or captured representation."""
        return self._hash(TRAINING_FIELDS, **self._recipe_defaults())

    def label(self) -> str:
        """A short name for progress bars: ``gat->mlp``, ``module->mlp``."""
        return f"{self.teacher_id.split(':')[0]}->{self.student}"


KNOWLEDGE_WEIGHTS = ("hint_weight", "similarity_weight", "lsp_weight", "adversarial_weight")
TEACHER_FIELDS = ("dataset", "split", "teacher", "teacher_layers", "teacher_hidden", "teacher_dropout",
                  "teacher_norm", "teacher_hops", "teacher_node_dropout", "teacher_consistency", "teacher_samples",
                  "teacher_pre_norm", "heads", "ensemble", "transfer", "epochs", "patience", "weight_decay", "refine",
                  "cs_correction_alpha", "cs_smoothing_alpha", "setting", "arrival_fraction", "labels_per_class",
                  "task", "metric", "class_weights")
FIELD_DEFAULTS = {field.name: field.default for field in dataclasses.fields(DistillConfig)}
TEACHER_NORMS = (*NORMS, "none")
# How graphkd trains a teacher: refused with a given teacher, which has trained already.
TEACHER_RECIPE_FIELDS = ("teacher_layers", "teacher_hidden", "teacher_dropout", "teacher_norm", "teacher_hops",
                         "teacher_node_dropout", "teacher_consistency", "teacher_samples", "teacher_pre_norm", "heads",
                         "ensemble", "weight_decay")
# What a teacher's soft targets depend on beyond its training: which nodes they cover, and their refinement.
TRAINING_FIELDS = tuple(name for name in TEACHER_FIELDS
                        if name not in ("transfer", "refine", "cs_correction_alpha", "cs_smoothing_alpha"))
# Removed fields and the only value each ever held in a key (every key held every field).
REMOVED_FIELDS = {"extra": {}}
ADDED_FIELDS = {"teacher_layer": None, "hint_weight": 0.0, "hint_metric": "mse", "similarity_weight": 0.0,
                "lsp_weight": 0.0, "adversarial_weight": 0.0, "adversarial_epsilon": 0.01, "adversarial_steps": 3,
                "positions": 0, "refine": "none", "cs_correction_alpha": 0.8, "cs_smoothing_alpha": 0.8,
                "setting": "transductive", "arrival_fraction": 0.2, "labels_per_class": 20, "teacher_hops": None,
                "teacher_node_dropout": None, "teacher_consistency": None, "teacher_samples": None,
                "student_epochs": None, "student_patience": None, "task": None, "metric": None,
                "class_weights": False, "alpha_choices": None, "teacher_pre_norm": None}
