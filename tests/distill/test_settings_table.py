"""benchmarks/settings_table.py end to end on the synthetic graph: selection, resumable rows, the table."""
import json


def test_settings_table_writes_every_part_and_resumes(benchmark_script, tmp_path):
    table = benchmark_script("settings_table")
    argv = ["--datasets", "CSBM", "--runs", "2", "--select-runs", "1", "--epochs", "20", "--quiet",
            "--work", str(tmp_path / "work"), "--results", str(tmp_path)]
    table.main(argv)
    results = json.loads((tmp_path / "settings.json").read_text())
    row = results["datasets"]["CSBM"]["production"]
    assert row["configs_tried"] == 2 and row["runs"] == 2 and row["settings"]["setting"] == "production"
    student = row["summary"]["student"]
    expected = 0.8 * student["transductive_test_acc_mean"] + 0.2 * student["inductive_test_acc_mean"]
    assert abs(student["production_test_acc_mean"] - expected) < 1e-9
    markdown = (tmp_path / "settings.md").read_text()
    assert "| CSBM |" in markdown and "student: edgeless arrivals" in markdown
    before = (tmp_path / "settings.json").read_text()
    table.main(argv)  # a finished dataset is kept, not run again
    assert (tmp_path / "settings.json").read_text() == before
