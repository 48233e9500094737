"""graphkd.tuning.space, space_file and budget: the default space, space files, what is drawn where, and bad input."""
import time

import pytest

from graphkd.distill import DistillConfig
from graphkd.distill.teacher_cache import members_file, soft_targets_file
from graphkd.errors import GraphkdError
from graphkd.tuning.budget import (
    DEFAULT_TRIALS,
    FIT_SLACK_SECONDS,
    MEMBERS,
    SOFT_TARGETS,
    Budget,
    final_estimates,
    final_run_seconds,
    parse_duration,
    teacher_folder_holds,
    training_seconds,
)
from graphkd.tuning.first import FIRST_TRIALS, first_params
from graphkd.tuning.space import DEFAULT_SPACE, OPTIONS, Choice, Range, SearchSpace
from graphkd.tuning.space_file import read_space, space_text


class FixedDraw:
    """A stand-in for an Optuna trial that answers each suggestion from a table (first choice, else low)."""

    def __init__(self, **values):
        self.values, self.asked = values, []

    def _answer(self, name, default):
        self.asked.append(name)
        return self.values.get(name, default)

    def suggest_categorical(self, name, choices):
        return self._answer(name, choices[-1] if name.endswith(":on") else choices[0])

    def suggest_int(self, name, low, high, step=1, log=False):
        return self._answer(name, low)

    def suggest_float(self, name, low, high, log=False, step=None):
        return self._answer(name, low)


def test_the_default_space_is_valid_and_every_option_maps_to_a_field():
    space = SearchSpace()
    assert space.options == DEFAULT_SPACE
    fields = {f for f in DistillConfig.__dataclass_fields__}
    assert {option.field for option in OPTIONS.values()} <= fields


def test_a_space_file_round_trips_and_narrows_the_defaults(tmp_path):
    (tmp_path / "space.toml").write_text(space_text(SearchSpace()))
    assert read_space(tmp_path / "space.toml") == SearchSpace()
    (tmp_path / "narrow.toml").write_text('[teacher]\narchitecture = ["gcn"]\n[student.training]\n'
                                          'lr = {low = 0.002, high = 0.02, log = true}\n')
    space = read_space(tmp_path / "narrow.toml")
    assert space.options["teacher.architecture"] == Choice(("gcn",))
    assert space.options["student.training.lr"] == Range(0.002, 0.02, log=True)
    assert space.options["objective.temperature"] == DEFAULT_SPACE["objective.temperature"]  # kept
    (tmp_path / "only.toml").write_text('defaults = false\n"objective.temperature" = [1.0, 2.0]\n')
    assert read_space(tmp_path / "only.toml").options == {"objective.temperature": Choice((1.0, 2.0))}


def test_an_option_is_drawn_only_where_the_run_reads_it():
    space = SearchSpace.of({"teacher.architecture": ["gcn", "appnp"], "teacher.hops": {"low": 2, "high": 10},
                            "teacher.heads": [4, 8], "hint.weight": {"low": 0.1, "high": 1.0, "or_zero": True},
                            "hint.metric": ["mse", "cosine"]}, defaults=False)
    trial = FixedDraw(**{"hint.weight:on": False})
    flat, drawn = space.draw(trial, DistillConfig(hint_metric="cosine", hint_weight=0.5))
    assert drawn == {"teacher.architecture": "gcn", "hint.weight": 0.0}  # no hops for GCN, no metric without a hint
    assert flat["hint_metric"] == "mse" and flat["teacher_hops"] is None  # back at their defaults
    DistillConfig(**flat)
    flat, drawn = space.draw(FixedDraw(**{"teacher.architecture": "appnp"}), DistillConfig())
    assert drawn["teacher.hops"] == 2 and drawn["hint.metric"] == "mse" and "teacher.heads" not in drawn
    DistillConfig(**flat)


@pytest.mark.parametrize("space, message", [
    ({"student.widths": [1]}, "the search cannot vary 'student.widths'; options it can: teacher.architecture"),
    ({"teacher.architecture": []}, "teacher.architecture has no choices"),
    ({"student.dropout": {"low": 0.5, "high": 0.1}}, "the range [0.5, 0.1] is inverted"),
    ({"student.dropout": {"low": 0.3, "high": 0.3}}, "the range [0.3, 0.3] is empty"),
    ({"student.dropout": {"low": 0.0, "high": 2.0}}, "student.dropout = 2.0: student_dropout must be a number in"),
    ({"student.training.lr": {"low": 0, "high": 0.1, "log": True}}, "a log range needs low > 0"),
    ({"teacher.architecture": {"low": 1, "high": 2}}, "teacher.architecture takes a list of choices, not a range"),
    ({"teacher.architecture": ["gcn", "transformer"]}, "teacher.architecture = 'transformer'"),
    ({"student.dropout": {"low": 0.1}}, "a range needs both low and high"),
    ({"student.dropout": {"low": 0.1, "high": 0.5, "logg": True}}, "unknown key 'logg' of a range"),
    ({"student.dropout": 0.5}, "give a list of choices ([0.5] fixes it)"),
])
def test_a_bad_space_is_refused_naming_the_option(space, message):
    with pytest.raises(GraphkdError) as error:
        SearchSpace.of(space)
    assert message in str(error.value)


def test_a_bad_space_file_is_refused_naming_the_file(tmp_path):
    (tmp_path / "space.toml").write_text("[student]\ndropout = {low = 0.6, high = 0.2}\n")
    with pytest.raises(GraphkdError, match=r"space.toml: search space option student.dropout: the range"):
        read_space(tmp_path / "space.toml")
    with pytest.raises(GraphkdError, match="no search space file at"):
        read_space(tmp_path / "missing.toml")


def test_a_given_teacher_leaves_the_teacher_options_out():
    assert not any(name.startswith("teacher.") for name in SearchSpace().without_teacher().options)
    with pytest.raises(GraphkdError, match="the teacher is given, so it is fixed: the search cannot vary "
                                           "teacher.hidden_channels"):
        SearchSpace.of({"teacher.hidden_channels": [64]}).without_teacher()
    logits_only = SearchSpace().without_teacher(representations=False)
    assert "hint.weight" not in logits_only.options and "objective.temperature" in logits_only.options
    with pytest.raises(GraphkdError, match="hold no hidden representation, which that term reads: the search cannot "
                                           "vary similarity.weight"):
        SearchSpace.of({"similarity.weight": [1.0]}).without_teacher(representations=False)


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("45m", 2700), ("1.5h", 5400), ("1h30m", 5400), (12, 12)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "45", "", "m", "0m", "-5m", -3, 0, "1h-5m", True])
def test_a_nonsense_duration_is_refused(text):
    with pytest.raises(GraphkdError, match="time budget"):
        parse_duration(text)


@pytest.mark.parametrize("trials", [0, -2, 2.5, "many", True])
def test_a_nonsense_trial_budget_is_refused(trials):
    with pytest.raises(GraphkdError, match="trial budget must be a whole number of trials, at least 1"):
        Budget.of(trials=trials)


def test_no_budget_means_the_default_trials():
    assert Budget.of() == Budget(trials=DEFAULT_TRIALS)
    assert Budget.of(time="45m") == Budget(seconds=2700.0)


def test_the_time_kept_for_the_final_runs_is_the_best_trials():
    optuna = pytest.importorskip("optuna")
    from graphkd.tuning.loop import SearchLoop

    def trial(value, seed_seconds):
        return optuna.trial.create_trial(value=value, user_attrs={"seed_seconds": seed_seconds})

    # A slow trial near the top does not end the search: only the best trial's final runs are kept for.
    complete = [trial(0.80, [5.0, 7.0]), trial(0.79, [300.0, 310.0]), trial(0.70, [1.0, 1.0])]
    loop = SearchLoop.__new__(SearchLoop)
    loop.final_runs, loop.budget, loop.start = 10, Budget(trials=5), time.monotonic()
    loop.teacher_dir, loop.base = None, DistillConfig()
    assert loop._final_seconds(complete) == 70.0 == final_run_seconds(complete[0], [None] * 10)
    assert loop._final_seconds([]) == 0.0
    # With a time budget, the best trial whose final runs fit the time left: the 0.80 trial's 700 s do not fit 5
    # minutes, the 0.70 trial's 10 s do.
    slow_best = [trial(0.80, [70.0, 70.0]), trial(0.70, [1.0, 1.0])]
    loop.budget, loop.start = Budget(seconds=300), time.monotonic()
    assert loop._final_seconds(slow_best) == 10.0
    # Shared by 2 processes, 350 s: past the 300 s left by less than FIT_SLACK_SECONDS (a trial stopped at its line
    # hands over seconds past it), so they still fit.
    assert loop._final_seconds(slow_best, processes=2) == 350.0
    loop.budget = Budget(seconds=800)
    assert loop._final_seconds(slow_best) == 700.0
    # None fits: the best trial's, so that the search ends (drawing more would only overrun the budget further).
    loop.budget = Budget(seconds=5)
    assert loop._final_seconds([slow_best[0], trial(0.70, [10.0, 10.0])]) == 700.0


def test_a_trial_whose_final_runs_cannot_fit_at_its_pace_stops_once_other_final_runs_fit():
    optuna = pytest.importorskip("optuna")
    from types import SimpleNamespace

    from graphkd.tuning.loop import SearchLoop

    study = optuna.create_study(direction="maximize")
    loop = SearchLoop.__new__(SearchLoop)
    loop.handle, loop.teacher_dir, loop.base = SimpleNamespace(load=lambda: study), None, DistillConfig()
    loop.final_runs, loop.selection_runs, loop.budget, loop.start = 10, 2, Budget(seconds=1000), time.monotonic()
    running = study.ask()
    # Nothing complete: the line is the end of the budget, whatever the running trial's pace.
    assert loop._line(running, loop.start) == (pytest.approx(loop.start + 1000), "the time budget ran out")
    # A trial whose final runs take 10 s fits. The running one, started with the search, has 8 other final seeds, each
    # at least its time so far: they no longer fit 1000 s (and the slack) once it has run 1060 / 9 s.
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"seed_seconds": [1.0, 1.0]}))
    when, why = loop._line(running, loop.start)
    assert when == pytest.approx(loop.start + (1000 + FIT_SLACK_SECONDS) / 9)
    assert why == "at its pace its 10 final seeds would not fit the time budget"
    # In its second seed the pace is the mean of two seeds: half as steep.
    running.set_user_attr("val", [0.5])
    assert loop._line(running, loop.start)[0] == pytest.approx(loop.start + (1000 + FIT_SLACK_SECONDS) / 5)
    # Where the final runs kept for do not fit either (200 s seeds), no trial is stopped for its pace.
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"seed_seconds": [200.0, 200.0]}))
    running = study.ask()
    assert loop._line(running, loop.start) == (pytest.approx(loop.start + 1000 - 2000), "the time budget ran out")


def test_a_final_run_is_estimated_from_the_seeds_a_trial_ran_and_shared_by_processes():
    optuna = pytest.importorskip("optuna")
    # Selection seeds of 100 s, 80 of them the teacher's: those 2 seeds cost their 20-second students again (the
    # teachers are cached), the 8 others 100 s each.
    ran = optuna.trial.create_trial(value=0.5, user_attrs={"seed_seconds": [100.0, 90.0],
                                                           "teacher_seconds": [80.0, 70.0]})
    held = teacher_folder_holds(ran, None, 0, 10)
    assert held == [SOFT_TARGETS] * 2 + [None] * 8
    assert final_run_seconds(ran, held) == 8 * 100.0 + 2 * 20.0
    assert final_run_seconds(ran, held, processes=2) == (8 * 100.0 + 2 * 20.0) / 2
    assert final_run_seconds(ran, teacher_folder_holds(ran, None, 0, 1)) == 20.0  # one final seed, a selection one


def test_final_seeds_pay_for_a_teacher_that_another_trial_trained_on_the_selection_seeds():
    optuna = pytest.importorskip("optuna")
    # Trial a trained teacher "k" (150 s a seed); trial b found it cached (0.1 s) and took 30 s a seed for its student.
    a = optuna.trial.create_trial(value=0.6, user_attrs={"seed_seconds": [180.0, 170.0], "teacher_seconds":
                                                         [150.0, 140.0], "teacher_training": "k"})
    b = optuna.trial.create_trial(value=0.7, user_attrs={"seed_seconds": [30.0, 20.0], "teacher_seconds": [0.1, 0.1],
                                                         "teacher_training": "k"})
    other = optuna.trial.create_trial(value=0.5, user_attrs={"seed_seconds": [5.0], "teacher_seconds": [4.0],
                                                             "teacher_training": "j"})
    trained = training_seconds([a, b, other])
    assert trained == {"k": 150.0, "j": 4.0}
    held = teacher_folder_holds(b, None, 0, 10)
    # b's 8 other final seeds train "k" again: 29.9 + 150 s each, not the 30 s its own seeds suggest.
    assert final_run_seconds(b, held, trained=trained) == pytest.approx(8 * (29.9 + 150.0) + 2 * 29.9)
    assert final_run_seconds(b, held) == pytest.approx(8 * (29.9 + 0.1) + 2 * 29.9)  # without the study: as it ran
    assert final_estimates([b], [a, b, other], 10, 1, None, 0) == [final_run_seconds(b, held, trained=trained)]


def test_final_seeds_whose_teacher_the_folder_holds_pay_only_what_is_left_to_make(tmp_path):
    optuna = pytest.importorskip("optuna")
    # Selection seeds 3 and 4: 30 s and 20 s, 10 s and 0.5 s of them the teacher's; another trial trained it in 200 s.
    ran = optuna.trial.create_trial(value=0.5, user_attrs={
        "seed_seconds": [30.0, 20.0], "teacher_seconds": [10.0, 0.5], "teacher_key": "t", "teacher_training": "k"})
    soft_targets_file(tmp_path, "t", 7).touch()  # made by another trial, or put there before the search
    members_file(tmp_path, "k", 8).touch()  # trained for another transfer set or refinement
    members_file(tmp_path, "j", 9).touch()  # another teacher's: no help
    held = teacher_folder_holds(ran, tmp_path, 3, 8)
    assert held == [SOFT_TARGETS, SOFT_TARGETS, None, None, SOFT_TARGETS, MEMBERS, None, None]
    # Students 20 s a seed (the slower one, 30 - 10); soft targets from members as the quickest teacher seed (0.5 s);
    # training as the slowest the study saw (200 s).
    assert final_run_seconds(ran, held, trained={"k": 200.0}) == pytest.approx(8 * 20.0 + 0.5 + 4 * 200.0)
    # Without a teacher folder only the selection seeds' soft targets are counted as made.
    assert teacher_folder_holds(ran, None, 3, 8) == [SOFT_TARGETS] * 2 + [None] * 6


def test_the_time_left_counts_from_the_start_and_is_none_without_a_time_budget():
    import time

    start = time.monotonic()
    assert 2690 < Budget.of(time="45m").left(start) <= 2700
    assert Budget.of(time="45m").left(start - 2800) < 0
    assert Budget.of(trials=3).left(start) is None


def test_the_first_trials_are_the_recipes_the_space_allows_in_optunas_parameters():
    queued = first_params(SearchSpace())
    assert [p["teacher.architecture"] for p in queued] == [r["teacher.architecture"] for r in FIRST_TRIALS]
    gcn = queued[0]
    # a choice by its value, a range by its value, an option that may be off by its ":on" switch
    assert gcn["student.hidden_channels"] == 256 and gcn["objective.temperature"] == 1.0
    assert gcn["student.training.lr"] == 0.01
    assert gcn["student.training.weight_decay:on"] is False and "student.training.weight_decay" not in gcn
    assert gcn["hint.weight:on"] is False and "hint.weight" not in gcn
    # Each queued trial draws a run that graphkd accepts, with the recipe's settings.
    for params, recipe in zip(queued, FIRST_TRIALS, strict=True):
        flat, drawn = SearchSpace().draw(FixedDraw(**params), DistillConfig())
        DistillConfig(**flat)
        assert all(drawn[name] == value for name, value in recipe.items() if name in drawn)
        assert flat["teacher"] == recipe["teacher.architecture"] and flat["hint_weight"] == 0.0


def test_first_trials_outside_a_narrowed_space_are_left_out_and_repeats_dropped():
    narrowed = SearchSpace.of({"teacher.architecture": ["gcn", "appnp"]})
    assert [p["teacher.architecture"] for p in first_params(narrowed)] == ["gcn", "appnp"]
    fixed_gcn = SearchSpace.of({"teacher.architecture": ["gcn"]})  # one choice: fixed, not a parameter
    assert len(first_params(fixed_gcn)) == 1 and "teacher.architecture" not in first_params(fixed_gcn)[0]
    # A given teacher: the recipes differ only in their teacher, so one start point is left.
    assert len(first_params(SearchSpace().without_teacher())) == 1
    narrow_width = SearchSpace.of({"student.hidden_channels": [16, 32]})
    assert first_params(narrow_width) == []
    assert first_params(SearchSpace.of({"objective.alpha": {"low": 0.1, "high": 0.5}})) == []
