"""graphkd.tune: a tiny study, its outputs, resuming it, and the studies it refuses."""
import json
import subprocess
import sys
import time

import pytest

optuna = pytest.importorskip("optuna")

from optuna.trial import TrialState  # noqa: E402

from graphkd import tune  # noqa: E402
from graphkd.cli import main  # noqa: E402
from graphkd.distill import (  # noqa: E402
    DataSpec,
    RunConfig,
    StudentSpec,
    StudentTraining,
    TeacherSpec,
    TeacherTraining,
    read_run_file,
)
from graphkd.distill.teacher_cache import members_file, soft_targets_file  # noqa: E402
from graphkd.errors import GraphkdError  # noqa: E402
from graphkd.tuning.space import SearchSpace  # noqa: E402
from graphkd.tuning.study import StudyHandle, default_storage  # noqa: E402

# A few cheap options on a few epochs: each trial takes about a second.
SPACE = SearchSpace.of({"teacher.architecture": ["gcn", "sage"], "student.hidden_channels": [16, 32],
                        "objective.temperature": {"low": 0.5, "high": 4.0, "log": True},
                        "objective.alpha": {"low": 0.0, "high": 0.5}}, defaults=False)


STUDENT = StudentSpec(hidden_channels=16, training=StudentTraining(epochs=3, patience=3))


def base_run(epochs=3, **data) -> RunConfig:
    """CSBM, a GCN teacher and a small MLP student, each trained for a few epochs."""
    return RunConfig(data=DataSpec(dataset="CSBM", **data),
                     teacher=TeacherSpec("gcn", training=TeacherTraining(epochs, 3)), student=STUDENT)


def study_of(out):
    return optuna.load_study(study_name="graphkd", storage=default_storage(out))


def finished(study):
    return [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def test_a_tiny_study_writes_its_outputs_and_best_toml_runs_again(tmp_path, capsys):
    out = tmp_path / "tune"
    result = tune(base_run(), out=out, trials=3, space=SPACE, final_runs=2, finalists=2, progress=False)
    assert result.trials == 3 and len(result.finalists) <= 2 and result.trial in result.finalists
    for name in ("best.toml", "result.md", "result.json", "trials.csv", "trials.md", "tune.png", "study.db"):
        assert (out / name).is_file(), name
    assert (out / "tune.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (out / "trials.csv").read_text().splitlines()
    assert rows[0].startswith("trial,state,val acc,seeds,seconds,teacher.architecture") and len(rows) == 4
    assert "test" not in (out / "trials.md").read_text()  # trials are chosen and shown on validation only
    assert "Too few finished trials to tell which settings mattered" in (out / "trials.md").read_text()
    study = study_of(out)
    assert study.user_attrs["dataset"] == "CSBM" and study.user_attrs["metric"] == "accuracy"
    # Each trial names the teacher it trained, whose time its final seeds will pay (budget.training_seconds).
    # The space varies the teacher's architecture alone among teacher options: one key per architecture.
    keys = {(t.params["teacher.architecture"], t.user_attrs["teacher_training"]) for t in finished(study)}
    assert len(keys) == len({arch for arch, _ in keys}) == len({key for _, key in keys})
    # The final-run estimate finds its teachers in the folder under the keys the trials recorded.
    for trial in finished(study):
        assert soft_targets_file(out / "teachers", trial.user_attrs["teacher_key"], 1).is_file()
        assert members_file(out / "teachers", trial.user_attrs["teacher_training"], 1).is_file()
    run = read_run_file(out / "best.toml")
    assert run.seeds.runs == 2 and run.teacher.architecture in ("gcn", "sage")
    assert run.student.hidden_channels == study.trials[result.trial].user_attrs["settings"]["student.hidden_channels"]
    result_json = json.loads((out / "result.json").read_text())
    assert result_json["chosen_trial"] == result.trial and "test_acc_mean" in result_json["summary"]["student"]
    capsys.readouterr()
    assert main(["distill", "--config", str(out / "best.toml"), "--out", str(tmp_path / "again"), "--quiet"]) == 0
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    assert again["student"]["val_acc_mean"] == pytest.approx(result.summary["student"]["val_acc_mean"])


def test_finalists_whose_final_runs_do_not_fit_the_time_left_are_skipped_and_the_best_runs(tmp_path, monkeypatch):
    import graphkd.tuning.search as search

    # Every finalist's final runs are estimated at a day: only the best trial, which always runs, is re-run.
    monkeypatch.setattr(search, "final_estimates", lambda ranked, *rest: [86_400.0] * len(ranked))
    out = tmp_path / "tune"
    result = tune(base_run(), out=out, trials=3, time="1h", space=SPACE, final_runs=1, finalists=3, progress=False)
    best = max(finished(study_of(out)), key=lambda t: (t.value, -t.number))
    result_json = json.loads((out / "result.json").read_text())
    assert result.trial == best.number and list(result.finalists) == [best.number]
    assert len(result_json["finalists_skipped"]) == 2 and best.number not in result_json["finalists_skipped"]
    assert "did not fit the time left" in (out / "result.md").read_text()


def test_a_resumed_study_continues_to_the_budget_and_keeps_its_trials(tmp_path):
    out = tmp_path / "tune"
    tune(base_run(), out=out, trials=2, space=SPACE, final_runs=0, progress=False)
    first = [(t.number, t.params, t.value) for t in study_of(out).trials]
    assert len(first) == 2
    result = tune(base_run(), out=out, trials=4, space=SPACE, final_runs=0, progress=False)
    study = study_of(out)
    assert result.trials == 4 and len(study.trials) == 4 and len(finished(study)) == 4  # 4, not 6
    assert [(t.number, t.params, t.value) for t in study.trials[:2]] == first
    assert read_run_file(out / "best.toml").seeds.runs == 2  # final_runs=0: the best trial on its selection seeds


def test_a_trial_whose_process_died_is_failed_and_not_counted(tmp_path):
    out = tmp_path / "tune"
    tune(base_run(), out=out, trials=1, space=SPACE, final_runs=0, progress=False)
    study = study_of(out)
    orphan = study.ask()  # as a process killed in the middle of a trial leaves it
    orphan.set_user_attr("process", f"{__import__('socket').gethostname()}:999999999:None")
    tune(base_run(), out=out, trials=3, space=SPACE, final_runs=0, progress=False)
    study = study_of(out)
    assert study.trials[orphan.number].state == TrialState.FAIL
    assert "ended first" in study.trials[orphan.number].user_attrs["note"]
    assert len(finished(study)) == 3


def test_a_refused_combination_is_recorded_with_its_reason(tmp_path):
    space = SearchSpace.of({"student.kind": ["gcn"], "student.num_layers": [3]}, defaults=False)
    with pytest.raises(GraphkdError, match="no trial of study 'graphkd' completed .2 tried.; the last said: refused: "
                                           "GNN students are shallow"):
        tune(base_run(), out=tmp_path, trials=2, space=space, progress=False)
    study = study_of(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 2
    assert all(t.user_attrs["note"].startswith("refused: GNN students are shallow") for t in study.trials)


def test_a_study_of_another_dataset_or_metric_is_refused_and_kept(tmp_path, ring_graph):
    tune(base_run(), out=tmp_path, trials=1, space=SPACE, final_runs=0, progress=False)
    kept = [(t.number, t.value) for t in study_of(tmp_path).trials]
    with pytest.raises(GraphkdError, match=r"searches CSBM \(random split; multiclass, accuracy\), not custom "
                                           r"\(custom split; multiclass, accuracy\)"):
        tune(base_run(), data=ring_graph(), out=tmp_path, trials=2, space=SPACE, final_runs=0, progress=False)
    with pytest.raises(GraphkdError, match=r"searches CSBM \(random split; multiclass, accuracy\), not CSBM "
                                           r"\(random split; multiclass, macro_f1\).*the study is kept as it is"):
        tune(base_run(metric="macro_f1"), out=tmp_path, trials=2, space=SPACE, final_runs=0, progress=False)
    with pytest.raises(GraphkdError, match="ran its trials with other fixed settings: epochs=3 .now 4."):
        tune(base_run(epochs=4), out=tmp_path, trials=2, space=SPACE, final_runs=0, progress=False)
    with pytest.raises(GraphkdError, match="drew teacher.architecture from .'gcn', 'sage'.; Optuna keeps"):
        tune(base_run(), out=tmp_path, trials=2, space=SearchSpace.of({"teacher.architecture": ["gcn", "gat"]},
                                                                       defaults=False), progress=False)
    assert [(t.number, t.value) for t in study_of(tmp_path).trials] == kept  # nothing lost, nothing added


@pytest.mark.parametrize("kwargs, message", [
    ({"trials": 0}, "trial budget must be a whole number of trials, at least 1, got 0"),
    ({"time": "5x"}, "time budget '5x' is not a duration"),
    ({"time": "0s"}, "time budget '0s' must be more than 0 seconds"),
    ({"selection_runs": 0}, "selection_runs must be a whole number, at least 1"),
    ({"storage": "study.db"}, "storage must be a database URL"),
    ({"space": {"student.width": [1]}}, "the search cannot vary 'student.width'"),
])
def test_bad_input_is_refused_before_any_trial(tmp_path, kwargs, message):
    with pytest.raises(GraphkdError) as error:
        tune(base_run(), out=tmp_path / "tune", progress=False, **{"trials": 1, **kwargs})
    assert message in str(error.value)
    assert not (tmp_path / "tune" / "study.db").exists() or not study_of(tmp_path / "tune").trials


def test_the_command_line_names_a_bad_budget(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["tune", "--time", "5x", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "graphkd tune: error: time budget '5x' is not a duration" in capsys.readouterr().err


def test_the_command_line_shows_the_space(tmp_path, capsys):
    (tmp_path / "space.toml").write_text('[teacher]\narchitecture = ["appnp"]\n')
    assert main(["tune", "--space", str(tmp_path / "space.toml"), "--show-space"]) == 0
    printed = capsys.readouterr().out
    assert 'architecture = ["appnp"]' in printed and "[student.training]" in printed


def test_a_new_study_records_what_it_searches(tmp_path):
    handle = StudyHandle(default_storage(tmp_path), "x", tmp_path / "lock")
    study = handle.open({"dataset": "d", "split": "s", "task": "t", "metric": "m", "graph": "g", "base": {},
                         "space": {}})
    assert study.user_attrs["dataset"] == "d"


def test_without_optuna_the_command_line_loads_and_tune_says_what_to_install(tmp_path):
    script = ("import sys; sys.modules['optuna'] = None\n"  # as if Optuna were not installed
              "from graphkd.cli import main\n"
              "main(['tune', '--show-space'])\n"
              "main(['tune', '--out', sys.argv[1]])\n")
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "[teacher]" in run.stdout
    assert "graphkd tune: error: graphkd tune needs Optuna and matplotlib: pip install 'graphkd[tune]'" in run.stderr


def test_a_given_teacher_is_fixed_and_the_search_varies_the_rest(tmp_path, ring_graph):
    import torch

    from graphkd.distill import GivenTeacher

    graph = ring_graph()
    logits = torch.nn.functional.one_hot(graph.y, 3).float() * 4  # a teacher that knows every label
    result = tune(RunConfig(student=STUDENT), data=graph, teacher=logits, out=tmp_path, trials=2, final_runs=1,
                  finalists=1, progress=False)
    assert isinstance(result.run.teacher, GivenTeacher)
    settings = study_of(tmp_path).trials[0].user_attrs["settings"]
    assert settings and not any(name.startswith(("teacher.", "hint.", "similarity.")) for name in settings)


def test_a_new_study_tries_the_winning_recipes_first_unless_told_not_to(tmp_path):
    space = SearchSpace.of({"teacher.architecture": ["gcn", "sage"],
                            "objective.temperature": {"low": 0.5, "high": 4.0, "log": True}}, defaults=False)
    tune(base_run(), out=tmp_path / "first", trials=2, space=space, final_runs=0, progress=False)
    first = study_of(tmp_path / "first").trials[0]
    assert first.params == {"teacher.architecture": "gcn", "objective.temperature": 1.0}
    assert first.user_attrs["settings"] == first.params
    tune(base_run(), out=tmp_path / "drawn", trials=2, space=space, final_runs=0, first_trials=False, progress=False)
    assert study_of(tmp_path / "drawn").trials[0].params["objective.temperature"] != 1.0


def test_a_seed_still_running_when_the_time_is_up_is_stopped_there(tmp_path):
    # A teacher of 10^5 epochs without early stopping: its first seed would take minutes; the budget is 3 seconds.
    slow = RunConfig(data=DataSpec(dataset="CSBM"),
                     teacher=TeacherSpec("gcn", training=TeacherTraining(100_000, 100_000)), student=STUDENT)
    started = time.monotonic()
    with pytest.raises(GraphkdError, match="no trial of study 'graphkd' completed .* the last said: stopped in seed "
                                           "1 of 2: the time budget ran out"):
        tune(slow, out=tmp_path / "tune", time="3s", space=SPACE, final_runs=1, progress=False)
    assert time.monotonic() - started < 60
    assert [t.state for t in study_of(tmp_path / "tune").trials] == [TrialState.PRUNED]


def test_a_running_trial_follows_its_line_as_it_moves(monkeypatch):
    import graphkd.tuning.trial as trial_module

    # The line starts an hour away; a new best trial (here: a changed value) brings it to 0.2 s from now.
    monkeypatch.setattr(trial_module, "WATCH_SECONDS", 0.05)
    line = [time.monotonic() + 3600]
    started = time.monotonic()
    with pytest.raises(trial_module._OutOfTime), trial_module._stopped_at(lambda: (line[0], "moved")):
        line[0] = time.monotonic() + 0.2
        time.sleep(30)
    assert time.monotonic() - started < 5
    with trial_module._stopped_at(lambda: (time.monotonic() + 3600, "far")):  # a line not reached: nothing raised
        time.sleep(0.2)


def test_the_finalists_are_recorded_so_processes_of_one_round_run_the_same(tmp_path, monkeypatch):
    import graphkd.tuning.search as search

    out = tmp_path / "tune"
    first = tune(base_run(), out=out, trials=3, space=SPACE, final_runs=1, finalists=2, progress=False)
    plan = study_of(out).user_attrs["finalists"]
    assert plan["finished"] == 3 and first.trial in plan["run"] and list(first.finalists) == plan["run"]
    # Another process of the same round, which would estimate every final run at a day, takes the recorded choice.
    monkeypatch.setattr(search, "final_estimates", lambda ranked, *rest: [86_400.0] * len(ranked))
    again = tune(base_run(), out=out, trials=3, time="1h", space=SPACE, final_runs=1, finalists=2, progress=False)
    assert again.trial == first.trial and list(again.finalists) == plan["run"]
