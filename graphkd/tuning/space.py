"""What ``graphkd tune`` varies: the options of a run it may draw, and graphkd's default space.

An option is named as in a run file (``teacher.architecture``, ``student.training.lr``; a knowledge term by its
kind, ``hint.weight``) and varies over a list of choices or a ``{low, high}`` range (``log = true``: drawn on a
log scale; ``or_zero = true``: 0, the option off, is a choice too). The default space is what the knowledge
table (``benchmarks/results/knowledge.md``) found worth trying; a space file (:mod:`graphkd.tuning.space_file`)
narrows or widens it::

    [teacher]
    architecture = ["gcn", "appnp"]        # a list of choices; one choice fixes the option

    [student.training]
    lr = {low = 0.001, high = 0.02, log = true}

    [hint]
    weight = {low = 0.05, high = 2.0, log = true, or_zero = true}

``defaults = false`` at the top of the file starts from an empty space: only the options the file names vary.
An option is drawn only where the run reads it (``hint.metric`` with a hint, ``teacher.hops`` for APPNP and
GRAND, ``positions.dim`` for an MLP student); elsewhere it stays at graphkd's default.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from graphkd.distill.config import FIELD_DEFAULTS, DistillConfig
from graphkd.distill.teacher import as_teacher
from graphkd.errors import GraphkdError

__all__ = ["DEFAULT_SPACE", "OPTIONS", "Choice", "Option", "Range", "SearchSpace", "with_settings"]


def _always(flat: dict) -> bool:
    return True


def _members(flat: dict) -> tuple[str, ...]:
    """The architectures of the teacher graphkd trains (none for a given teacher)."""
    return as_teacher(flat["teacher"]).members if isinstance(flat["teacher"], str) else ()


def _has_member(*kinds: str) -> Callable[[dict], bool]:
    return lambda flat: bool(set(_members(flat)) & set(kinds))


def _trains_teacher(flat: dict) -> bool:
    return bool(_members(flat))


def _no_context(value) -> dict:
    return {}


def _gat_context(heads) -> dict:
    width = heads * 8 if isinstance(heads, int) and not isinstance(heads, bool) else None
    return {"teacher": "gat", "teacher_hidden": width}


@dataclass(frozen=True)
class Option:
    """An option of a run the search can vary: the :class:`DistillConfig` ``field`` it sets; ``numeric``: whether
    it takes a range; ``read``: whether a run with the settings drawn so far reads it (else it is not drawn and
    stays at its default); ``context``: the settings under which one value of it is checked on its own."""

    field: str
    numeric: bool = True
    read: Callable[[dict], bool] = _always
    context: Callable[[object], dict] = _no_context


# Every option the search can vary, in the order it draws them: an option's `read` looks at options before it.
OPTIONS: dict[str, Option] = {
    "teacher.architecture": Option("teacher", numeric=False),
    "teacher.num_layers": Option("teacher_layers"),
    "teacher.hidden_channels": Option("teacher_hidden", context=lambda v: {"teacher": "gcn"}),
    "teacher.dropout": Option("teacher_dropout"),
    "teacher.norm": Option("teacher_norm", numeric=False),
    "teacher.pre_norm": Option("teacher_pre_norm", numeric=False, read=_has_member("gcn", "sage", "gat", "gatsep"),
                               context=lambda v: {"teacher": "gcn"}),
    "teacher.heads": Option("heads", read=_has_member("gat", "gatsep"), context=_gat_context),
    "teacher.hops": Option("teacher_hops", read=_has_member("appnp", "grand"), context=lambda v: {"teacher": "appnp"}),
    "teacher.node_dropout": Option("teacher_node_dropout", read=_has_member("grand"),
                                   context=lambda v: {"teacher": "grand"}),
    "teacher.consistency": Option("teacher_consistency", read=_trains_teacher),
    # Several of one architecture; an ensemble across architectures already averages several teachers.
    "teacher.ensemble": Option("ensemble", read=lambda flat: len(_members(flat)) == 1),
    "teacher.training.weight_decay": Option("weight_decay", read=_trains_teacher),
    "student.kind": Option("student", numeric=False),
    "student.num_layers": Option("student_layers"),
    "student.hidden_channels": Option("student_hidden"),
    "student.dropout": Option("student_dropout"),
    "student.training.lr": Option("lr"),
    "student.training.weight_decay": Option("student_weight_decay"),
    "student.training.batch_size": Option("batch_size"),
    "objective.temperature": Option("temperature"),
    "objective.alpha": Option("alpha", read=lambda flat: flat["alpha_choices"] is None),
    "objective.transfer": Option("transfer", numeric=False),
    "objective.class_weights": Option("class_weights", numeric=False),
    "hint.weight": Option("hint_weight"),
    "hint.metric": Option("hint_metric", numeric=False, read=lambda flat: flat["hint_weight"] > 0,
                          context=lambda v: {"hint_weight": 1.0}),
    "similarity.weight": Option("similarity_weight"),
    "local_structure.weight": Option("lsp_weight", read=lambda flat: flat["student"] != "mlp",
                                     context=lambda v: {"student": "gcn"}),
    "adversarial.weight": Option("adversarial_weight", read=lambda flat: flat["student"] == "mlp"),
    "adversarial.epsilon": Option("adversarial_epsilon", read=lambda flat: flat["adversarial_weight"] > 0,
                                  context=lambda v: {"adversarial_weight": 1.0}),
    "adversarial.steps": Option("adversarial_steps", read=lambda flat: flat["adversarial_weight"] > 0,
                                context=lambda v: {"adversarial_weight": 1.0}),
    "refine.kind": Option("refine", numeric=False),
    "refine.correction_alpha": Option("cs_correction_alpha", read=lambda flat: flat["refine"] == "cs",
                                      context=lambda v: {"refine": "cs"}),
    "refine.smoothing_alpha": Option("cs_smoothing_alpha", read=lambda flat: flat["refine"] == "cs",
                                     context=lambda v: {"refine": "cs"}),
    "positions.dim": Option("positions", read=lambda flat: flat["student"] == "mlp"),
}
RANGE_KEYS = ("low", "high", "log", "step", "or_zero")


@dataclass(frozen=True)
class Choice:
    """The option takes one of ``values`` (one value fixes it: nothing is drawn)."""

    values: tuple

    def suggest(self, trial, name: str):
        return self.values[0] if len(self.values) == 1 else trial.suggest_categorical(name, list(self.values))

    def to_plain(self) -> list:
        return list(self.values)


@dataclass(frozen=True)
class Range:
    """The option takes a number in ``[low, high]``: an integer where both bounds are, on a log scale with ``log``,
    on a grid of ``step``; with ``or_zero``, 0 (the option off) is drawn too, as a choice of its own (Optuna's
    parameter ``<option>:on``)."""

    low: float
    high: float
    log: bool = False
    step: float | None = None
    or_zero: bool = False

    @property
    def integer(self) -> bool:
        return all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high)) and \
            (self.step is None or isinstance(self.step, int))

    def suggest(self, trial, name: str):
        if self.or_zero and not trial.suggest_categorical(f"{name}:on", [False, True]):
            return 0 if self.integer else 0.0
        if self.integer:
            return trial.suggest_int(name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), log=self.log, step=self.step)

    def to_plain(self) -> dict:
        plain = {"low": self.low, "high": self.high}
        plain.update({key: getattr(self, key) for key in ("log", "step", "or_zero") if getattr(self, key)})
        return plain


# graphkd's default space: what the knowledge table (benchmarks/results/knowledge.md, CPF split) found to matter.
# Its winners: GRAND on Cora and Computers, APPNP (3 of them) on CiteSeer, GCN (3) on CS, an ensemble of all five
# architectures on Photo; teachers 256 wide at dropout 0.2-0.5 on four of six graphs; a hint (Cora, CS), the
# similarity term (Computers) or adversarial augmentation (Photo) at small weights; student weight decay 5e-4 to
# 2e-3 and dropout 0.3-0.5 on Photo, CS and Physics. Correct and Smooth lost on the citation and Amazon graphs but
# won on CS and Physics, and position features helped nowhere by much: both stay in, as choices. GAT-sep, the
# teacher of the heterophilous graphs, is among the architectures.
DEFAULT_SPACE: dict[str, Choice | Range] = {
    "teacher.architecture": Choice(("gcn", "gat", "sage", "appnp", "grand", "gatsep", "gcn+gat+sage",
                                    "gcn+gat+sage+appnp+grand")),
    "teacher.hidden_channels": Choice((64, 128, 256)),
    "teacher.dropout": Range(0.1, 0.8),
    "teacher.ensemble": Choice((1, 3)),
    "student.num_layers": Range(2, 3),
    "student.hidden_channels": Choice((128, 256, 512, 1024)),
    "student.dropout": Range(0.0, 0.6),
    "student.training.lr": Range(1e-3, 1e-2, log=True),
    "student.training.weight_decay": Range(1e-5, 3e-3, log=True, or_zero=True),
    "objective.temperature": Range(0.5, 4.0, log=True),
    "objective.alpha": Range(0.0, 0.5),
    "hint.weight": Range(0.05, 2.0, log=True, or_zero=True),
    "hint.metric": Choice(("mse", "cosine")),
    "similarity.weight": Range(0.05, 10.0, log=True, or_zero=True),
    "adversarial.weight": Range(0.1, 1.0, log=True, or_zero=True),
    "adversarial.epsilon": Range(0.001, 0.01, log=True),
    "refine.kind": Choice(("none", "cs")),
    "refine.correction_alpha": Range(0.5, 1.0),
    "positions.dim": Choice((0, 16, 32)),
}


@dataclass(frozen=True)
class SearchSpace:
    """The options a search varies, each a :class:`Choice` or a :class:`Range` (``options``, in any order; drawn
    in :data:`OPTIONS`' order); by default :data:`DEFAULT_SPACE`. ``SearchSpace.of(mapping)`` builds one from a
    space file's shape."""

    options: dict[str, Choice | Range] = field(default_factory=lambda: dict(DEFAULT_SPACE))

    def __post_init__(self):
        if not isinstance(self.options, Mapping):
            raise GraphkdError(f"a search space's options are a dict of name -> Choice or Range, got "
                               f"{type(self.options).__name__}")
        unknown = sorted(set(self.options) - set(OPTIONS))
        if unknown:
            raise GraphkdError(f"the search cannot vary {unknown[0]!r}; options it can: {', '.join(OPTIONS)}")
        for name, spec in self.options.items():
            _check(name, spec)

    @classmethod
    def of(cls, mapping: Mapping, defaults: bool = True) -> SearchSpace:
        """A space from a space file's content: tables of options (``{"teacher": {"architecture": [...]}}``) or
        dotted names (``{"teacher.architecture": [...]}``), each a list of choices or a ``{low, high}`` range,
        on top of the default space (``defaults=False``: only these options vary)."""
        if not isinstance(mapping, Mapping):
            raise GraphkdError(f"a search space is a table of options, got {type(mapping).__name__}")
        options = dict(DEFAULT_SPACE) if defaults else {}
        options.update(_flatten(mapping, ""))
        return cls(options)

    def without_teacher(self, representations: bool = True) -> SearchSpace:
        """This space for a given teacher, which is fixed: the default space's teacher options dropped, and one
        set otherwise (a space file's) refused. Without ``representations`` (logits alone) the terms that read
        them (hint, similarity, local structure) leave the space too."""
        reading = ("hint.", "similarity.", "local_structure.")
        left_out = ("teacher.",) + (() if representations else reading)
        asked = [name for name, spec in self.options.items()
                 if name.startswith(left_out) and spec != DEFAULT_SPACE.get(name)]
        if asked:
            why = ("the teacher is given, so it is fixed" if asked[0].startswith("teacher.") else
                   "the given teacher's outputs hold no hidden representation, which that term reads")
            raise GraphkdError(f"{why}: the search cannot vary {asked[0]}")
        return SearchSpace({k: v for k, v in self.options.items() if not k.startswith(left_out)})

    def draw(self, trial, base: DistillConfig) -> tuple[dict, dict]:
        """The settings of the run a trial draws on top of ``base`` (:class:`DistillConfig`'s keyword arguments,
        for the caller to check), and the value drawn for each option. An option the run does not read (a hint's
        metric without a hint) is not drawn and goes back to its default."""
        drawn = {}

        def pick(name: str):
            if name not in self.options:
                return _KEEP
            drawn[name] = self.options[name].suggest(trial, name)
            return drawn[name]

        return _resolve(base, pick), drawn

    def to_plain(self) -> dict:
        """The space as plain JSON and TOML types, options in drawing order (recorded with a study, printed by
        ``graphkd tune --show-space``)."""
        return {name: self.options[name].to_plain() for name in OPTIONS if name in self.options}


_KEEP = object()  # an option left as the base run has it


def _resolve(base: DistillConfig, pick: Callable[[str], object]) -> dict:
    """``base``'s settings with each option the run reads set to ``pick(name)`` (unless that is ``_KEEP``), in
    drawing order, and each option it does not read back at its default."""
    flat = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
    for name, option in OPTIONS.items():
        if not option.read(flat):
            flat[option.field] = FIELD_DEFAULTS[option.field]
        elif (value := pick(name)) is not _KEEP:
            flat[option.field] = value
    return flat


def with_settings(base: DistillConfig, settings: Mapping) -> dict:
    """The settings of the run a trial drew, from its recorded option values (``trial.user_attrs["settings"]``)."""
    return _resolve(base, lambda name: settings.get(name, _KEEP))


def _flatten(mapping: Mapping, prefix: str) -> dict[str, Choice | Range]:
    options = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, (Choice, Range)):
            options[name] = value
        elif isinstance(value, (list, tuple)):
            options[name] = Choice(tuple(value))
        elif isinstance(value, Mapping) and set(value) & {"low", "high"}:
            unknown = sorted(set(value) - set(RANGE_KEYS))
            if unknown:
                raise GraphkdError(f"search space option {name}: unknown key {unknown[0]!r} of a range; valid: "
                                   f"{', '.join(RANGE_KEYS)}")
            if not {"low", "high"} <= set(value):
                raise GraphkdError(f"search space option {name}: a range needs both low and high")
            options[name] = Range(**value)
        elif isinstance(value, Mapping):
            options.update(_flatten(value, f"{name}."))
        else:
            raise GraphkdError(f"search space option {name} = {value!r}: give a list of choices ([{value!r}] fixes "
                               "it) or a range {low = ..., high = ...}")
    return options


def _check(name: str, spec) -> None:
    """``spec`` is a non-empty list of values the run accepts, or a range ``low < high`` of such values."""
    option = OPTIONS[name]
    if isinstance(spec, Choice):
        if not spec.values:
            raise GraphkdError(f"search space option {name} has no choices: give at least one")
        for value in spec.values:
            _check_value(name, value)
        return
    if not isinstance(spec, Range):
        raise GraphkdError(f"search space option {name} must be a Choice or a Range, got {spec!r:.80}")
    if not option.numeric:
        raise GraphkdError(f"search space option {name} takes a list of choices, not a range")
    for key in ("low", "high") + (("step",) if spec.step is not None else ()):
        value = getattr(spec, key)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise GraphkdError(f"search space option {name}: {key} must be a number, got {value!r}")
    if not isinstance(spec.log, bool) or not isinstance(spec.or_zero, bool):
        raise GraphkdError(f"search space option {name}: log and or_zero are true or false")
    if spec.low >= spec.high:
        raise GraphkdError(f"search space option {name}: the range [{spec.low}, {spec.high}] is "
                           f"{'empty' if spec.low == spec.high else 'inverted'}: give low < high (or a list of "
                           "one choice to fix it)")
    if spec.log and spec.low <= 0:
        raise GraphkdError(f"search space option {name}: a log range needs low > 0, got {spec.low} (or_zero = true "
                           "adds 0 as a choice)")
    if spec.step is not None and (spec.step <= 0 or spec.log):
        raise GraphkdError(f"search space option {name}: step must be > 0, and a log range takes none")
    for value in (spec.low, spec.high) + ((0 if spec.integer else 0.0,) if spec.or_zero else ()):
        _check_value(name, value)


def _check_value(name: str, value) -> None:
    option = OPTIONS[name]
    try:
        DistillConfig(**{**option.context(value), option.field: value})
    except GraphkdError as exc:
        raise GraphkdError(f"search space option {name} = {value!r}: {exc}") from None
