"""benchmarks/similarity_memory.py: one small size end to end, the JSON and the markdown it writes."""
import json


def test_similarity_memory_writes_both_rows_of_a_size(benchmark_script, tmp_path):
    script = benchmark_script("similarity_memory")
    script.main(["--sizes", "1200", "--batch-size", "64", "--epochs", "1", "--out", str(tmp_path)])
    results = json.loads((tmp_path / "similarity_memory.json").read_text())
    assert [run["similarity_weight"] for run in results["runs"]] == [0.0, 1.0]
    assert results["extra_peak_mib"]["1200"] == results["runs"][1]["peak_rss_mib"] - results["runs"][0]["peak_rss_mib"]
    text = (tmp_path / "similarity_memory.md").read_text()
    assert "| 1,200 | on |" in text and "| 1,200 | off |" in text and "{" not in text
