"""benchmarks/heterophily.py: Platonov et al.'s protocol on filtered Chameleon, its files, and resuming."""
import json

import pytest


@pytest.fixture
def table(benchmark_script):
    return benchmark_script("heterophily")


def test_runs_on_chameleon_writes_its_table_and_resumes(table, data_root, tmp_path, monkeypatch):
    # One recipe per teacher and one candidate per student row keep the real run to seconds.
    monkeypatch.setattr(table, "teacher_candidates", lambda dataset, arch: [{"teacher": arch}])
    monkeypatch.setattr(table, "KNOWLEDGE", [{"hint_weight": 0.1}])
    monkeypatch.setattr(table, "POSITIONS", (4,))
    args = ["--root", str(data_root), "--datasets", "chameleon-filtered", "--teachers", "gcn", "sage", "--runs", "2",
            "--select-runs", "1", "--epochs", "2", "--work", str(tmp_path / "work"), "--results",
            str(tmp_path / "results"), "--quiet"]
    table.main(args)
    rows = json.loads((tmp_path / "results" / "heterophily.json").read_text())["datasets"]["chameleon-filtered"]
    assert set(rows) == {"graph", "teacher:gcn", "teacher:sage", table.TERMS, table.WITH_POSITIONS}
    assert rows["graph"]["metric"] == "accuracy" and set(rows["graph"]["homophily"]) == {"edge", "node",
                                                                                            "edge_insensitive"}
    for row in rows.values():
        if "summary" in row:  # every row: the published splits, each seed its split, alpha chosen per split
            assert row["summary"]["split"] == "fixed" and row["seeds"] == [0, 1] and row["runs"] == 2
            assert len(row["summary"]["student"]["alphas"]) == 2
    # The student rows learn from the teacher of best validation accuracy over all splits.
    best = max(("gcn", "sage"), key=lambda a: rows[f"teacher:{a}"]["summary"]["teacher"]["val_acc_mean"])
    assert rows[table.TERMS]["teacher"] == {"teacher": best} and rows[table.WITH_POSITIONS]["graph"] == table.NEIGHBOURS
    markdown = (tmp_path / "results" / "heterophily.md").read_text()
    assert "| chameleon-filtered (in progress) | accuracy |" in markdown  # GAT and GAT-sep not run
    assert "| teacher GCN" in markdown and "| 40.89 ± 4.12 |" in markdown  # the paper's number beside ours
    assert "| labels-only MLP | no |" in markdown and "test (2 splits)" in markdown
    assert "edge homophily" in markdown and "Machine:" in markdown
    monkeypatch.setattr(table.Runner, "run", lambda *a, **k: pytest.fail("a finished cell ran again"))
    table.main(args)


def fake_run(scores):
    """A ``Runner.run`` with ROC-AUC summaries: ``scores[(teacher, layers)] = (teacher val, teacher test)``."""

    def run(runner, overrides, runs):
        val, test = scores[(overrides["teacher"], overrides.get("teacher_layers", 2))]
        role = {"val_roc_auc_mean": val, "val_roc_auc_std": 0.0, "test_roc_auc_mean": test, "test_roc_auc_std": 0.0}
        return {"metric": "roc_auc", "runs": runs, "config": overrides, "teacher": role, "baseline_mlp": role,
                "student": role, "per_seed": [{"seed": s} for s in range(runs)]}

    return run


def test_selection_reads_the_runs_own_metric(table, tmp_path, monkeypatch):
    # The 3-layer teacher validates best and the 2-layer one tests best: ROC-AUC on validation decides.
    monkeypatch.setattr(table.Runner, "run", fake_run({("gcn", 2): (0.80, 0.90), ("gcn", 3): (0.85, 0.70)}))
    args = table.selection_parser("", "heterophily", "").parse_args(["--runs", "3", "--select-runs", "2",
                                                                      "--results", str(tmp_path)])
    chosen = table.Runner(args, "Minesweeper", split="fixed").select(
        [{"teacher": "gcn", "teacher_layers": 2}, {"teacher": "gcn", "teacher_layers": 3}], role="teacher")
    assert chosen["settings"]["teacher_layers"] == 3 and chosen["val_roc_auc"] == 0.85
    assert [set(t) for t in chosen["tried"]] == [{"settings", "val_roc_auc"}] * 2
    assert chosen["summary"]["runs"] == 3


def test_at_most_ten_splits(table, capsys):
    with pytest.raises(SystemExit):
        table.main(["--runs", "11", "--select-runs", "2"])
    assert "10 published splits" in capsys.readouterr().err
