"""benchmarks/tune_table.py: a search and the defaults' run per graph, its table, and collecting a finished one."""
import json

import pytest

pytest.importorskip("optuna")

from graphkd.tuning.space import SearchSpace  # noqa: E402

# Two cheap teachers and students on 2 epochs, a trial in about a second; the GCN start point fits it.
SPACE = SearchSpace.of({"teacher.architecture": ["gcn", "sage"], "student.hidden_channels": [32, 256],
                        "objective.temperature": {"low": 0.5, "high": 4.0, "log": True}}).options


@pytest.fixture
def table(benchmark_script, monkeypatch):
    module = benchmark_script("tune_table")
    monkeypatch.setitem(module.SPACES, "Cora", SPACE)
    return module


def test_runs_a_search_beside_the_defaults_writes_its_table_and_collects_it_again(table, data_root, tmp_path,
                                                                                  monkeypatch):
    results = tmp_path / "results"
    args = ["--root", str(data_root), "--datasets", "Cora", "--runs", "1", "--epochs", "2", "--time", "8s",
            "--work", str(tmp_path / "work"), "--results", str(results), "--quiet"]
    table.main(args)
    row = json.loads((results / "tune.json").read_text())["datasets"]["Cora"]
    assert row["processes"] == 1 and row["first_trials"] == 1  # the GCN start point: the one this space allows
    assert row["trials"]["complete"] >= 1 and row["config"]["teacher"] in ("gcn", "sage")
    assert row["chosen_trial"] in [int(name) for name in row["finalists_val"]] and row["runs"] == 1
    assert 0 < row["wall_s"] < 120 and set(row["defaults"]) == {"teacher", "baseline_mlp", "student"}
    for name in table.KEPT:  # each search's files beside the table
        assert (results / "tune" / "Cora" / name).stat().st_size > 0
    markdown = (results / "tune.md").read_text()
    assert "| Cora | accuracy |" in markdown and "(1 start point first)" in markdown
    assert "(83.59)" not in markdown and "83.59 (" in markdown  # the knowledge table's bar and the difference to it
    # A finished search is collected, not run again; its defaults' seeds are read back.
    monkeypatch.setattr("graphkd.tuning.tune", lambda *a, **k: pytest.fail("a finished search ran again"))
    table.main(args)
    assert json.loads((results / "tune.json").read_text())["datasets"]["Cora"] == row


def test_the_table_names_an_ensemble_by_its_size_and_the_searches_before_start_points(table, tmp_path):
    part = {"test_acc_mean": 0.9, "test_acc_std": 0.01}
    row = {"metric": "accuracy", "wall_s": 600, "processes": 2, "trials": {"complete": 3, "waiting": 1},
           "first_trials": 4,
           "finalists_val": {"1": 0.95}, "finalists_skipped": [], "teacher": part, "baseline_mlp": part,
           "student": part, "config": {"teacher": "appnp", "ensemble": 3, "positions": 0},
           "defaults": {"teacher": part, "baseline_mlp": part, "student": part}}
    before = {**row, "first_trials": 0, "config": {"teacher": "grand", "ensemble": 1, "positions": 16}}
    path = tmp_path / "tune.md"
    table.write_markdown({"datasets": {"Photo": row, "CiteSeer": before}, "environment": {}}, path)
    markdown = path.read_text()
    assert "| 3 x appnp 90.00 ± 1.00 |" in markdown and "| grand 90.00 ± 1.00 |" in markdown
    assert "CiteSeer searched before they existed" in markdown and "Photo searched" not in markdown
    assert "| Photo | accuracy | 10.0 min | 2 | 3 complete, 1 queued, not reached (4 start points first) |" in markdown
    assert "| 93.47 (-3.47) |" in markdown  # Photo's bar in the knowledge table
    assert "| yes |" in markdown  # CiteSeer's student reads position features