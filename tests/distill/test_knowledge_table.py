"""benchmarks/knowledge_table.py: validation-only selection, the greedy combination, resumable rows."""
import json
from types import SimpleNamespace

import pytest


@pytest.fixture
def table(benchmark_script):
    return benchmark_script("knowledge_table")


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
    rows = {kd: {"settings": {}, "val_acc": 0.80},
            "hint": {"settings": {"h": 1}, "val_acc": 0.83},
            "sim": {"settings": {"s": 1}, "val_acc": 0.82},
            "adv": {"settings": {"d": 1}, "val_acc": 0.79}}  # below plain KD: never tried
    runner = FakeRunner({key(h=1): (0.83, 0.5), key(h=1, s=1): (0.84, 0.6)})
    combined = table.combine(runner, rows)
    assert combined["settings"] == {"h": 1, "s": 1} and combined["val_acc"] == 0.84
    assert [t["settings"] for t in combined["tried"]] == [{"h": 1, "s": 1}]
    # A combination that does not raise validation accuracy is not kept.
    runner = FakeRunner({key(h=1): (0.83, 0.5), key(h=1, s=1): (0.81, 0.9)})
    assert table.combine(runner, rows)["settings"] == {"h": 1}


def test_depth_study_runs_and_resumes(table, data_root, tmp_path, monkeypatch):
    args = ["--study", "depth", "--root", str(data_root), "--datasets", "Cora", "--runs", "1", "--select-runs", "1",
            "--epochs", "2", "--work", str(tmp_path / "work"), "--results", str(tmp_path / "results"), "--quiet"]
    table.main(args)
    results = json.loads((tmp_path / "results" / "depth.json").read_text())
    cells = results["datasets"]["Cora"]
    assert set(cells) == {f"{t}-{d}" for t in ("gcn", "gat") for d in (2, 4, 8)}
    assert cells["gat-8"]["summary"]["config"]["teacher_layers"] == 8
    markdown = (tmp_path / "results" / "depth.md").read_text()
    assert "| Cora | GAT | 8 |" in markdown
    monkeypatch.setattr(table.Runner, "run", lambda *a, **k: pytest.fail("a finished cell ran again"))
    table.main(args)
