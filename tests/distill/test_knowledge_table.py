"""benchmarks/knowledge_table.py: validation-only selection, the greedy combination, resumable rows."""
import importlib
import json
from types import SimpleNamespace

import pytest

from graphkd.distill.records import record_hash


@pytest.fixture
def table(benchmark_script):
    return benchmark_script("knowledge_table")


@pytest.fixture
def harness(table):
    """benchmarks/harness.py, the module the table imported (its Runner runs the seeds)."""
    return importlib.import_module("harness")


class FakeRunner:
    """Validation and test accuracy per setting, looked up instead of trained; records every run."""

    def __init__(self, scores):
        self.scores, self.runs = scores, []
        self.args = SimpleNamespace(select_runs=5, runs=10)

    def run(self, settings, runs):
        self.runs.append((tuple(sorted(settings.items())), runs))
        val, test = self.scores[tuple(sorted(settings.items()))]
        return {"student": {"val_acc_mean": val, "test_acc_mean": test}}


def key(**settings):
    return tuple(sorted(settings.items()))


def test_selection_uses_validation_accuracy_only(table):
    # The second candidate has the better test accuracy, the first the better validation accuracy.
    runner = FakeRunner({key(a=1): (0.80, 0.70), key(a=2): (0.79, 0.90)})
    chosen = table.Runner.select(runner, [{"a": 1}, {"a": 2}])
    assert chosen["settings"] == {"a": 1} and chosen["summary"]["student"]["test_acc_mean"] == 0.70
    assert runner.runs == [(key(a=1), 5), (key(a=2), 5), (key(a=1), 10)]


def test_combination_is_greedy_on_validation(table):
    kd = table.KINDS[0][0]
    rows = {kd: {"settings": {"t": 2}, "val_acc": 0.80},  # KD's tuned T, no better than KD at defaults here
            "hint": {"settings": {"h": 1}, "val_acc": 0.83},
            "sim": {"settings": {"s": 1}, "val_acc": 0.82},
            "adv": {"settings": {"d": 1}, "val_acc": 0.79}}  # below KD at defaults: never tried
    runner = FakeRunner({key(h=1): (0.83, 0.5), key(h=1, s=1): (0.84, 0.6)})
    combined = table.combine(runner, rows, base_val=0.80)
    assert combined["settings"] == {"h": 1, "s": 1} and combined["val_acc"] == 0.84
    assert [t["settings"] for t in combined["tried"]] == [{"h": 1, "s": 1}]
    # A combination that does not raise validation accuracy is not kept.
    runner = FakeRunner({key(h=1): (0.83, 0.5), key(h=1, s=1): (0.81, 0.9)})
    assert table.combine(runner, rows, base_val=0.80)["settings"] == {"h": 1}
    # KD's tuned T joins like any other row once it beats KD at defaults.
    runner = FakeRunner({key(h=1): (0.83, 0.5), key(h=1, s=1): (0.84, 0.6), key(h=1, s=1, t=2): (0.85, 0.6)})
    combined = table.combine(runner, rows, base_val=0.795)
    assert combined["settings"] == {"h": 1, "s": 1, "t": 2}
    assert [t["settings"] for t in combined["tried"]] == [{"h": 1, "s": 1}, {"h": 1, "s": 1, "t": 2}]
    # Nothing beats KD at defaults: the combination is the KD row.
    runner = FakeRunner({key(t=2): (0.80, 0.7)})
    combined = table.combine(runner, rows, base_val=0.9)
    assert combined["settings"] == {"t": 2} and combined["tried"] == []
    assert runner.runs == [(key(t=2), 5), (key(t=2), 10)]
    # The starting row's bar is measured as its candidates are, not taken from the row: here its seeds, run
    # again on other teachers, validate at 0.81, and the similarity term that validates at 0.82 joins it.
    runner = FakeRunner({key(h=1): (0.81, 0.5), key(h=1, s=1): (0.82, 0.6)})
    assert table.combine(runner, rows, base_val=0.80)["settings"] == {"h": 1, "s": 1}


def test_depth_study_runs_and_resumes(table, data_root, tmp_path, monkeypatch):
    # Two of the deep recipes keep the real run short; the selection itself is tested below.
    monkeypatch.setattr(table, "DEEP_RECIPES", table.DEEP_RECIPES[:2])
    args = ["--study", "depth", "--root", str(data_root), "--datasets", "Cora", "--runs", "1", "--select-runs", "1",
            "--epochs", "2", "--work", str(tmp_path / "work"), "--results", str(tmp_path / "results"), "--quiet"]
    table.main(args)
    results = json.loads((tmp_path / "results" / "depth.json").read_text())
    cells = results["datasets"]["Cora"]
    assert set(cells) == {f"{t}-{d}" for t in ("gcn", "gat") for d in (2, 4, 8)}
    assert cells["gat-8"]["summary"]["config"]["teacher_layers"] == 8
    assert cells["gat-8"]["configs_tried"] == 2 and cells["gat-2"]["configs_tried"] == 1
    # The reported run is the chosen recipe's.
    assert cells["gat-8"]["summary"]["config"]["teacher_norm"] == cells["gat-8"]["settings"]["teacher_norm"]
    markdown = (tmp_path / "results" / "depth.md").read_text()
    assert "| Cora | GAT | 8 | " in markdown and "(2 tried; val " in markdown and "| published |" in markdown
    monkeypatch.setattr(table.Runner, "run", lambda *a, **k: pytest.fail("a finished cell ran again"))
    table.main(args)


def test_finished_seeds_are_kept_and_resume_without_the_work_folder(table, harness, data_root, tmp_path, monkeypatch):
    import shutil

    args = table.selection_parser("", "knowledge", "").parse_args(
        ["--root", str(data_root), "--epochs", "2", "--work", str(tmp_path / "work"), "--results",
         str(tmp_path / "results"), "--quiet"])
    first = table.Runner(args, "Cora", "gcn").run({}, runs=2)
    kept = json.loads((tmp_path / "results" / "seeds" / "Cora.json").read_text())
    assert [sorted(seeds) for seeds in kept.values()] == [["0", "1"]]
    shutil.rmtree(tmp_path / "work")  # a fresh checkout: no teachers, checkpoints or student files
    ran, real = [], harness.run_distillation
    monkeypatch.setattr(harness, "run_distillation",
                        lambda cfg, **k: ran.append((cfg.seed, cfg.runs)) or real(cfg, **k))
    again = table.Runner(args, "Cora", "gcn").run({}, runs=3)
    assert ran == [(2, 1)]  # seeds 0 and 1 were read back, seed 2 alone ran
    assert again["per_seed"][:2] == first["per_seed"] and [r["seed"] for r in again["per_seed"]] == [0, 1, 2]
    assert again["runs"] == 3 and again["student"]["val_acc_mean"] == pytest.approx(
        sum(r["student"]["val_acc"] for r in again["per_seed"]) / 3)
    # A record edited after it was written is run again, and so is one made on another graph (its hash made
    # to hold, as if the data file had changed under the same name); another configuration's records are not used.
    records = tmp_path / "results" / "seeds" / "Cora.json"
    edited = json.loads(records.read_text())
    seeds = next(iter(edited.values()))
    seeds["1"]["student"]["test_acc"] = 1.0
    seeds["0"]["data_key"] = "0" * 16
    seeds["0"]["record_hash"] = record_hash(seeds["0"])
    records.write_text(json.dumps(edited))
    ran.clear()
    with pytest.warns(UserWarning) as caught:
        table.Runner(args, "Cora", "gcn").run({}, runs=3)
    messages = [str(w.message) for w in caught]
    assert any("record of seed 0" in m and "another graph" in m for m in messages)
    assert any("record of seed 1" in m and "edited" in m for m in messages)
    table.Runner(args, "Cora", "gcn").run({"temperature": 2.0}, runs=1)
    assert ran == [(0, 1), (1, 1), (0, 1)]


def test_deep_recipe_is_chosen_on_the_teachers_validation_accuracy(table, tmp_path, monkeypatch):
    # Layer norm makes the better teacher on validation; without a norm the student validates (and tests) better.
    def run(runner, overrides, runs):
        norm = overrides.get("teacher_norm")
        teacher = {"test_acc_mean": 0.7, "test_acc_std": 0.0, "val_acc_mean": 0.80 + 0.05 * (norm == "layer_norm"),
                   "params": 1}
        student = {"test_acc_mean": 0.7 + 0.1 * (norm == "none"), "test_acc_std": 0.0,
                   "val_acc_mean": 0.80 + 0.1 * (norm == "none")}
        return {"config": {"teacher": runner.teacher, **overrides}, "runs": runs, "teacher": teacher,
                "baseline_mlp": student, "student": student, "per_seed": [{"seed": s} for s in range(runs)]}

    monkeypatch.setattr(table.Runner, "run", run)
    table.main(["--study", "depth", "--datasets", "Cora", "--runs", "2", "--select-runs", "1", "--results",
                str(tmp_path), "--quiet"])
    cells = json.loads((tmp_path / "depth.json").read_text())["datasets"]["Cora"]
    for name in ("gcn-4", "gcn-8", "gat-4", "gat-8"):
        assert cells[name]["settings"]["teacher_norm"] == "layer_norm"
        assert cells[name]["configs_tried"] == len(table.DEEP_RECIPES)
        assert cells[name]["teacher_val_acc"] == pytest.approx(0.85)
    assert "settings" in cells["gcn-2"] and cells["gcn-2"]["settings"] == {"teacher_layers": 2}


def fake_summary(teacher: str, settings: dict, runs: int) -> dict:
    """APPNP's student validates best and GAT's tests best; a hint helps on validation, nothing else does."""
    val = {"gcn": 0.80, "gat": 0.79, "sage": 0.78, "appnp": 0.82}.get(teacher, 0.81)
    val += 0.01 * (settings.get("hint_weight", 0) == 1.0)
    test = {"gat": 0.90}.get(teacher, 0.70)
    score = {"test_acc_mean": test, "test_acc_std": 0.0, "val_acc_mean": val, "val_acc_std": 0.0}
    return {"config": {"teacher": teacher, **settings}, "runs": runs, "teacher": score, "baseline_mlp": score,
            "student": score, "per_seed": [{"seed": s} for s in range(runs)]}


def recorded_runs(calls: list):
    """A ``Runner.run`` that looks its scores up in :func:`fake_summary` and appends (teacher, settings, runs)."""

    def run(runner, overrides, runs):
        settings = {**overrides}
        teacher = settings.pop("teacher", runner.teacher)
        calls.append((teacher, tuple(sorted(settings.items())), runs))
        return fake_summary(teacher, settings, runs)

    return run


def test_teacher_is_chosen_on_validation_and_a_new_choice_rebuilds_the_rows(table, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(table.Runner, "run", recorded_runs(calls))
    args = ["--datasets", "Cora", "--runs", "3", "--select-runs", "2", "--results", str(tmp_path), "--quiet"]
    table.main(args)
    rows = json.loads((tmp_path / "knowledge.json").read_text())["datasets"]["Cora"]
    assert rows[table.TEACHER_ROW]["teacher"] == "appnp"  # not GAT, whose test accuracy is higher
    assert {row["teacher"] for row in rows.values()} == {"appnp"}
    assert rows[table.COMBINED]["settings"]["hint_weight"] == 1.0
    # The combination counts the teacher candidates and every kind's candidates it drew on.
    kinds_tried = sum(len(candidates) for _, _, candidates in table.KINDS)
    assert rows[table.COMBINED]["configs_tried"] == len(table.TEACHER_NAMES) + kinds_tried + len(
        rows[table.COMBINED]["tried"])
    markdown = (tmp_path / "knowledge.md").read_text()
    assert "| teacher (APPNP) |" in markdown and "| Cora | APPNP 70.00 ± 0.00 |" in markdown

    calls.clear()
    table.main(args)
    assert calls == []  # every row finished: nothing runs again

    # A row chosen among other candidates (an ensemble without a teacher added since) runs again, and so does the
    # combination, which drew on it.
    results = json.loads((tmp_path / "knowledge.json").read_text())
    ensemble = next(name for name, _, candidates in table.KINDS if "+" in str(candidates))
    results["datasets"]["Cora"][ensemble]["tried"][0]["settings"] = {"teacher": "gcn+gat"}
    results["datasets"]["Cora"][table.COMBINED]["basis"][ensemble] = {"teacher": "gcn+gat"}
    (tmp_path / "knowledge.json").write_text(json.dumps(results))
    calls.clear()
    table.main(args)
    assert {teacher for teacher, _, _ in calls} == {"+".join(table.TEACHER_NAMES), "appnp"}
    # Both candidates on the selection seeds, then the one that validates better (APPNP's, 3 inits) on all seeds.
    assert [(teacher, runs) for teacher, settings, runs in calls if "+" in teacher or ("ensemble", 3) in settings
            ] == [("+".join(table.TEACHER_NAMES), 2), ("appnp", 2), ("appnp", 3)]
    calls.clear()
    table.main(args)
    assert calls == []

    # A teacher row chosen by an earlier version of the table (GCN): the rows it taught are stale.
    results = json.loads((tmp_path / "knowledge.json").read_text())
    results["datasets"]["Cora"][table.TEACHER_ROW]["teacher"] = "gcn"
    results["datasets"]["Cora"]["ensemble GCN+GAT+SAGE"] = results["datasets"]["Cora"][table.COMBINED]
    (tmp_path / "knowledge.json").write_text(json.dumps(results))
    table.main(args)
    rows = json.loads((tmp_path / "knowledge.json").read_text())["datasets"]["Cora"]
    assert "ensemble GCN+GAT+SAGE" not in rows
    assert {row["teacher"] for row in rows.values()} == {"gcn"}
    assert {teacher for teacher, _, _ in calls} == {"gcn", "+".join(table.TEACHER_NAMES)}


def test_summary_counts_training_only_graph_use_as_no_graph_at_inference(table, tmp_path):
    def row(graph, val, test, all_seeds_val=None):
        score = {"test_acc_mean": test, "test_acc_std": 0.0, "val_acc_mean": val if all_seeds_val is None
                 else all_seeds_val}
        return {"graph": graph, "val_acc": val, "configs_tried": 1, "select_runs": 5, "teacher": "gcn",
                "summary": {"runs": 10, "student": score, "teacher": score, "baseline_mlp": score}}

    rows = {table.TEACHER_ROW: row(table.NOWHERE, 0.80, 0.70),
            "C&S-refined soft targets": row(table.TRAINING, 0.81, 0.71),
            table.POSITIONS[0]: row(table.INFERENCE, 0.82, 0.72)}
    table.write_knowledge_markdown({"datasets": {"Cora": rows}}, tmp_path / "k.md")
    summary = next(line for line in (tmp_path / "k.md").read_text().splitlines() if line.startswith("| Cora"))
    # the C&S student serves without the graph; the position-feature student is best once they are allowed
    assert summary.split(" | ")[2:4] == ["71.00 ± 0.00", "72.00 ± 0.00"]
    # Between rows, validation over all seeds decides, not over the selection seeds alone.
    rows["KD on logits (GLNN)"] = row(table.NOWHERE, 0.85, 0.73, all_seeds_val=0.805)
    table.write_knowledge_markdown({"datasets": {"Cora": rows}}, tmp_path / "k.md")
    summary = next(line for line in (tmp_path / "k.md").read_text().splitlines() if line.startswith("| Cora"))
    assert summary.split(" | ")[2] == "71.00 ± 0.00"


def test_coauthor_tables_leave_grand_out_and_try_one_adversarial_weight(table, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(table.Runner, "run", recorded_runs(calls))
    table.main(["--datasets", "CS", "--runs", "2", "--select-runs", "1", "--results", str(tmp_path), "--quiet"])
    without_grand = [name for name in table.TEACHER_NAMES if name != "grand"]
    teachers = {teacher for teacher, _, _ in calls}
    assert "grand" not in teachers and "+".join(without_grand) in teachers
    rows = json.loads((tmp_path / "knowledge.json").read_text())["datasets"]["CS"]
    assert [t["settings"]["teacher"] for t in rows[table.TEACHER_ROW]["tried"]] == without_grand
    # The adversarial row tries both radii at one weight there.
    assert [t["settings"] for t in rows[table.ADVERSARIAL]["tried"]] == [
        {"adversarial_weight": 0.5, "adversarial_epsilon": 0.001},
        {"adversarial_weight": 0.5, "adversarial_epsilon": 0.01}]
    assert rows[table.COMBINED]["configs_tried"] == len(without_grand) + sum(
        len(candidates) for _, _, candidates in table.kinds("CS")) + len(rows[table.COMBINED]["tried"])
    # Resumed, nothing runs again: the finished rows were chosen among the dataset's own candidates.
    calls.clear()
    table.main(["--datasets", "CS", "--runs", "2", "--select-runs", "1", "--results", str(tmp_path), "--quiet"])
    assert calls == []
