"""The label-rate, label-space union and born-again benchmarks end to end on the synthetic graph: each writes
its table, and a finished one is kept, not run again."""
import json

import pytest


def _run_twice(script, argv, results_path):
    script.main(argv)
    before = results_path.read_text()
    script.main(argv)  # finished cells are kept, not run again
    assert results_path.read_text() == before
    return json.loads(before)


def _common(tmp_path, runs="2"):
    return ["--datasets", "CSBM", "--runs", runs, "--epochs", "10", "--quiet", "--work", str(tmp_path / "work"),
            "--results", str(tmp_path)]


def test_label_rate_study(benchmark_script, tmp_path):
    results = _run_twice(benchmark_script("label_rate"), ["--rates", "1", "5", *_common(tmp_path)],
                         tmp_path / "label_rate.json")
    cells = results["datasets"]["CSBM"]
    assert set(cells) == {"1", "5"}
    for cell in cells.values():
        assert cell["runs"] == 2 and len(cell["student"]["per_seed"]) == 2
        assert cell["student"]["mean"] == pytest.approx(sum(cell["student"]["per_seed"]) / 2)
    assert "| CSBM | 5 |" in (tmp_path / "label_rate.md").read_text()
    assert (tmp_path / "label_rate.png").read_bytes()[:4] == b"\x89PNG"


def test_union_table(benchmark_script, tmp_path):
    results = _run_twice(benchmark_script("union_table"), _common(tmp_path), tmp_path / "union.json")
    done = results["datasets"]["CSBM"]
    assert done["class_halves"] == [[0, 1, 2], [3, 4]]
    assert {"union (gate)", "union (confidence)", "MLP from the union (gate)", "half teacher 2 (own classes)",
            "teacher (all labels)"} <= set(done["rows"])
    assert all(0.0 <= seed[name] <= 1.0 for seed in done["per_seed"] for name in seed)
    assert "## CSBM (halves: classes [0, 1, 2] and [3, 4]; 2 seeds)" in (tmp_path / "union.md").read_text()


def test_born_again_table(benchmark_script, tmp_path):
    results = _run_twice(benchmark_script("born_again"), ["--rounds", "2", *_common(tmp_path)],
                         tmp_path / "born_again.json")
    done = results["datasets"]["CSBM"]
    assert {kind: len(rounds) for kind, rounds in done["chains"].items()} == {"gcn": 3, "mlp": 3}
    assert done["chains"]["gcn"][0] == done["chains"]["mlp"][0]  # both chains start from the same teacher
    assert "| CSBM | MLP |" in (tmp_path / "born_again.md").read_text()
