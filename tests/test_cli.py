import json

import pytest

from graphkd.cli import build_parser, main
from graphkd.data import load_dataset
from graphkd.distill import DistillConfig
from graphkd.distill.soft_targets import graph_fingerprint


def test_distill_command(tmp_path, capsys):
    assert main(["distill", "--runs", "2", "--teacher", "sage", "--epochs", "40", "--patience", "15",
                 "--temperature", "2", "--alpha", "0.1", "--out", str(tmp_path), "--quiet"]) == 0
    printed = capsys.readouterr().out
    for row in ("teacher", "labels-only MLP", "distilled student", "CSBM (random split, 20 labels per class, 2 runs)",
                "±"):
        assert row in printed
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["config"]["temperature"] == 2.0 and results["config"]["alpha"] == 0.1
    assert sorted(p.name for p in tmp_path.glob("student_seed*.pt")) == ["student_seed0.pt", "student_seed1.pt"]


def test_a_bad_worker_count_is_one_line_of_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["distill", "--runs", "2", "--workers", "0", "--out", str(tmp_path), "--quiet"])
    assert exit_info.value.code == 2
    assert "graphkd distill: error: workers must be an integer >= 1, got 0" in capsys.readouterr().err


def test_fewer_labels_per_class(tmp_path, capsys):
    assert main(["distill", "--runs", "1", "--teacher", "gcn", "--epochs", "10", "--labels-per-class", "3",
                 "--out", str(tmp_path), "--quiet"]) == 0
    assert "CSBM (random split, 3 labels per class, 1 runs)" in capsys.readouterr().out
    record = json.loads((tmp_path / "runs" / "seed0.json").read_text())
    data = load_dataset("CSBM", split="random", seed=0, labels_per_class=3)
    assert int(data.train_mask.sum()) == 3 * (int(data.y.max()) + 1)
    assert record["data_key"] == graph_fingerprint(data)  # the run trained on that very split


def test_every_distill_option_has_help_and_maps_to_the_config():
    distill = build_parser()._subparsers._group_actions[0].choices["distill"]
    fields = set(DistillConfig.__dataclass_fields__)
    for action in distill._actions:
        if action.dest in ("help",):
            continue
        assert action.help, f"--{action.dest} has no help"
        assert action.dest in fields | {"config", "out", "quiet", "workers"}, \
            f"--{action.dest} is not a DistillConfig field"


def _subcommands(parser):
    """Every leaf subcommand parser, by its full name (``distill``, ``bench latency``, ...)."""
    for name, sub in parser._subparsers._group_actions[0].choices.items():
        if sub._subparsers is None:
            yield name, sub
        else:
            yield from ((f"{name} {leaf}", p) for leaf, p in _subcommands(sub))


def test_every_subcommand_option_is_explained():
    leaves = dict(_subcommands(build_parser()))
    assert {"distill", "export", "bench latency"} <= set(leaves)
    for name, sub in leaves.items():
        for action in sub._actions:
            assert action.help, f"graphkd {name}: --{action.dest} has no help"


def test_distill_from_a_file_of_teacher_outputs(data_root, tmp_path, capsys):
    # A teacher trained elsewhere: its logits (and a hidden layer) in a .pt file, for Cora's public split.
    import torch

    from graphkd.data import load_dataset

    data = load_dataset("Cora", root=data_root)
    logits = torch.nn.functional.one_hot(data.y, 7).float() * 4  # a confident, correct teacher
    torch.save({"logits": logits, "hidden": {"layer": logits @ torch.randn(7, 8)}}, tmp_path / "teacher.pt")
    argv = ["distill", "--dataset", "Cora", "--root", str(data_root), "--teacher", str(tmp_path / "teacher.pt"),
            "--split", "random", "--runs", "1", "--epochs", "30", "--patience", "10", "--hint", "0.5",
            "--out", str(tmp_path / "out"), "--quiet"]
    with pytest.raises(SystemExit) as exit_info:  # the file's teacher was made for the public split only
        main(argv)
    assert exit_info.value.code == 2 and "split='random'" in capsys.readouterr().err
    argv.remove("--split"), argv.remove("random")
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| teacher | 100.00 ± 0.00 | unknown (given outputs) |" in printed and "distilled student" in printed
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["config"]["teacher"].startswith("file:") and results["student"]["test_acc_mean"] > 0.6
    # On a dataset whose split is drawn anew per seed, a given teacher is refused too.
    with pytest.raises(SystemExit):
        main(["distill", "--teacher", str(tmp_path / "teacher.pt"), "--runs", "1", "--quiet"])
    assert "CSBM's split is 'random'" in capsys.readouterr().err
