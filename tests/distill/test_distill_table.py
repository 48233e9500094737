"""benchmarks/distill_table.py end to end on Cora: cells, the shared teacher, the summary, skipping done cells."""
import json

import pytest


@pytest.fixture
def table(benchmark_script):
    return benchmark_script("distill_table")


def test_table_runs_cells_shares_the_teacher_and_skips_finished_cells(table, data_root, tmp_path, monkeypatch):
    args = ["--root", str(data_root), "--datasets", "Cora", "--splits", "public", "--teachers", "gcn",
            "--runs", "1", "--epochs", "3", "--work", str(tmp_path / "work"), "--results", str(tmp_path / "results")]
    table.main(args)
    results = json.loads((tmp_path / "results" / "distill.json").read_text())
    assert set(results["cells"]) == {"Cora-public-gcn-mlp", "Cora-public-gcn-gcn-1"}
    mlp, gcn = results["cells"]["Cora-public-gcn-mlp"], results["cells"]["Cora-public-gcn-gcn-1"]
    # One teacher per seed, trained by the first cell and reused by the second.
    assert len(list((tmp_path / "work" / "teachers" / "Cora-public").glob("soft_targets-*-seed0.pt"))) == 1
    assert mlp["summary"]["teacher"] == gcn["summary"]["teacher"]
    assert results["environment"]["torch"]

    markdown = (tmp_path / "results" / "distill.md").read_text()
    # The summary's best distilled MLP is the MLP cell's student (the 1-layer GCN is not an MLP).
    assert f"| Cora | public | gcn | {table.pct(mlp['summary'], 'teacher')} | {table.pct(mlp['summary'], 'student')}" \
        in markdown
    assert "| Cora | public | gcn | gcn-1 |" in markdown

    monkeypatch.setattr(table, "run_distillation", lambda *a, **k: pytest.fail("a finished cell ran again"))
    table.main(args)


def test_best_mlp_is_compared_with_its_teacher_and_glnn(table):
    def cell(dataset, teacher, student, teacher_acc, student_acc, student_val=0.8):
        summary = {"teacher": {"test_acc_mean": teacher_acc, "test_acc_std": 0.01},
                   "student": {"test_acc_mean": student_acc, "test_acc_std": 0.02, "val_acc_mean": student_val}}
        return {"dataset": dataset, "split": "random", "teacher": teacher, "student": student, "summary": summary}

    # Merged out of order, as concurrent runs do: the rows still come in the table's order. Photo's GCN-taught
    # MLP validates best; the SAGE-taught one tests better and is not chosen.
    results = {"cells": {"d": cell("CS", "gat", "mlp", 0.9, 0.89),
                         "b": cell("Photo", "sage", "mlp", 0.91, 0.93, student_val=0.85),
                         "a": cell("Photo", "gcn", "mlp", 0.90, 0.92, student_val=0.86),
                         "c": cell("Photo", "gat", "gcn-1", 0.95, 0.96, student_val=0.99)}}
    rows = table.best_mlp_rows(results)
    assert rows == [["Photo", "random", "gcn", "90.00 ± 1.00", "92.00 ± 2.00", "+2.00", "91.95 (+0.05)"],
                    ["CS", "random", "gat", "90.00 ± 1.00", "89.00 ± 2.00", "-1.00", ""]]
