"""The hostile-input catalogue: every kind of bad input from the reliability trial, each case asserting
the message it expects. Test names say the outcome:

- ``test_error_*``: a clear error naming the option or file. The Python API raises ``GraphkdError`` (a
  ``ValueError``; ``MissingFileError`` is also a ``FileNotFoundError``), the CLI prints one line on
  stderr and exits with status 2.
- ``test_refused_*``: a file graphkd will not use: it runs no code from it, reads nothing outside the
  folder it was given, and trusts no content whose hash does not match.
- ``test_recomputed_*``: a stale, damaged or foreign cached artifact is made again with a warning, never
  mixed into the run.
- ``test_accepted_*``: an input that was once refused wrongly (NumPy numbers) is taken as its Python twin.

Count them by kind with ``pytest --collect-only -q tests/test_catalogue.py``.
"""
import dataclasses
import json
import os
import pickle
import re
import shutil
from urllib.error import URLError

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

import graphkd.distill.pipeline as pipeline
import graphkd.distill.records as records
from graphkd import GraphkdError, MissingFileError
from graphkd.checkpoint import load_training_state
from graphkd.cli import main
from graphkd.data import check_graph, load_dataset, prepare_data, random_split
from graphkd.data.raw import RawFileError, read_npz_graph, safe_unpickle
from graphkd.distill import DistillConfig, SoftTargets, capture, run_distillation
from graphkd.distill.teachers import load_teacher_outputs
from graphkd.models import APPNP, GAT, GCN, GRAND, MLP, GraphSAGE, load_model, save_model
from graphkd.serve.export import export_student
from graphkd.serve.predictor import BACKENDS, Predictor

FAST = {"epochs": 3, "patience": 3, "teacher": "gcn"}


class RunsCode:
    """A pickle that runs a shell command when loaded: it must never be."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Work in ``tmp_path``, where a crafted pickle that ran would leave ``pwned``."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert not (tmp_path / "pwned").exists(), "a crafted file ran code"


def _crafted(path):
    """A pickle file that would run code: a raw pickle, or a PyTorch file when ``path`` ends in .pt or .ckpt."""
    if path.suffix in (".pt", ".ckpt"):
        torch.save({"weights": RunsCode()}, path)
    else:
        path.write_bytes(pickle.dumps(RunsCode()))
    return path


def _truncated_model(path):
    save_model(MLP(4, 8, 2, 2), path)
    path.write_bytes(path.read_bytes()[:100])
    return path


def _graph(**changes) -> Data:
    mask = lambda idx: torch.zeros(6, dtype=torch.bool).index_fill_(0, torch.tensor(idx), True)  # noqa: E731
    graph = Data(x=torch.rand(6, 3, generator=torch.Generator().manual_seed(0)), y=torch.tensor([0, 0, 0, 1, 1, 1]),
                 edge_index=torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]]),
                 train_mask=mask([0, 5]), val_mask=mask([1, 4]), test_mask=mask([2, 3]))
    for key, value in changes.items():
        graph[key] = value
    return graph


def _cli_error(argv, capsys) -> str:
    """Run the CLI, expect exit status 2 and no traceback; return the last stderr line."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err, err
    return err.strip().splitlines()[-1]


# ---- CLI options: bounded where they are parsed ----------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--temperature", "0"], "temperature must be a finite number > 0"),
    (["-T", "1e-30"], "temperature must be a number in [0.05, 100.0], got 1e-30"),
    (["--alpha", "1.5"], "alpha must lie in [0, 1], got 1.5"),
    (["--dataset", "Corra"], "unknown dataset 'Corra'; valid: Cora"),
    (["--dataset", "Photo", "--split", "public"], "unknown split for Photo 'public'; valid: random"),
    (["--teacher", "transformer"], "unknown teacher 'transformer'"),
    (["--student-hidden", "0"], "student_hidden must be an integer in [1, 65536], got 0"),
    (["--student-hidden", "-8"], "student_hidden must be an integer in [1, 65536], got -8"),
    (["--teacher-hidden", "0"], "teacher_hidden must be an integer in [1, 65536], got 0"),
    (["--student-dropout", "1.0"], "student_dropout must be a number in [0.0, 0.95], got 1.0"),
    (["--teacher-dropout", "nan"], "teacher_dropout must be a number in [0.0, 0.95], got nan"),
    (["--student-layers", "100"], "student_layers must be an integer in [1, 8], got 100"),
    (["--heads", "0"], "heads must be an integer in [1, 64], got 0"),
    (["--teacher", "gat", "--heads", "3"], "GAT hidden width (64) must be divisible by heads (3)"),
    (["--epochs", "0"], "epochs must be an integer in [1, 100000], got 0"),
    (["--labels-per-class", "0"], "labels_per_class must be an integer in [1, 100000], got 0"),
    (["--dataset", "Cora", "--split", "public", "--labels-per-class", "5"],
     "labels_per_class=5 draws a random split per seed: set split='random'"),
    (["--hint", "-1"], "hint_weight must be a number in [0.0, 1000000.0], got -1.0"),
    (["--lsp", "1"], "local structure preserving (lsp_weight) needs a GNN student"),
    (["--teacher-layer", "convs.0"], "teacher_layer is read by the hint, similarity and LSP terms only"),
    (["--positions", "-1"], "positions must be an integer in [0, 1024], got -1"),
    (["--cs-correction-alpha", "2"], "cs_correction_alpha must be a number in [0.0, 1.0], got 2.0"),
    (["--teacher", "gcn", "--teacher-hops", "4"], "teacher_hops is for the appnp and grand teachers; gcn has none"),
    (["--teacher", "grand", "--teacher-hops", "0"], "teacher_hops must be an integer in [1, 64], got 0"),
    (["--teacher", "appnp", "--teacher-node-dropout", "0.3"], "teacher_node_dropout is for the grand teachers"),
    (["--teacher", "grand", "--teacher-node-dropout", "1"], "teacher_node_dropout must be a number in [0.0, 0.95]"),
    (["--teacher", "grand", "--teacher-samples", "1"], "teacher_samples must be at least 2"),
    (["--teacher", "gcn", "--teacher-consistency", "1", "--teacher-samples", "1"], "teacher_samples must be at least"),
    (["--teacher-consistency", "-1"], "teacher_consistency must be a number in [0.0, 1000.0], got -1.0"),
    (["--teacher-samples", "17"], "teacher_samples must be an integer in [1, 16], got 17"),
])
def test_error_cli_option(argv, message, capsys):
    assert message in _cli_error(["distill", "--quiet", "--runs", "1", *argv], capsys)


def test_error_cli_out_is_a_file(tmp_path, capsys):
    (tmp_path / "taken").write_text("not a folder")
    line = _cli_error(["distill", "--quiet", "--runs", "1", "--epochs", "2", "--out", str(tmp_path / "taken")], capsys)
    assert f"output folder {tmp_path / 'taken'} is a file, not a folder" in line


def test_error_cli_out_cannot_be_made(tmp_path, capsys):
    (tmp_path / "taken").write_text("not a folder")
    line = _cli_error(["distill", "--quiet", "--runs", "1", "--out", str(tmp_path / "taken" / "sub")], capsys)
    assert f"output folder {tmp_path / 'taken' / 'sub'} cannot be written" in line


@pytest.mark.parametrize("in_the_way, message", [
    ("runs", "cannot make the folder {out}/runs: a file of that name is in the way; move it away or choose another "
             "folder"),
    ("checkpoints", "cannot use {out}/checkpoints/.*: part of that path is a file where graphkd needs a folder"),
])
def test_error_cli_out_with_a_file_where_a_folder_belongs(tmp_path, capsys, in_the_way, message):
    # Mechanism: messages that mislead. The CLI printed Python's bare "[Errno 17] File exists: 'out/runs'".
    (tmp_path / in_the_way).write_text("the user's")
    line = _cli_error(["distill", "--runs", "1", "--epochs", "2", "--teacher", "gcn", "--workers", "1", "--out",
                       str(tmp_path), "--quiet"], capsys)
    assert re.search(message.format(out=re.escape(str(tmp_path))), line) and "Errno" not in line, line
    assert (tmp_path / in_the_way).read_text() == "the user's"


@pytest.mark.parametrize("text, message", [
    ("a = " + "[" * 3000 + "]" * 3000, "it nests arrays or tables too deeply to read"),
    (None, "no readable run file at .*: it is a folder where graphkd needs a file"),
])
def test_error_cli_run_file_nested_too_deeply_or_a_folder(tmp_path, capsys, text, message):
    # Mechanism: exception kinds nobody expects (tomllib's RecursionError was a traceback), and messages that
    # mislead (a folder was "[Errno 21] Is a directory").
    path = tmp_path / "run.toml"
    path.mkdir() if text is None else path.write_text(text)
    assert re.search(message, _cli_error(["distill", "--config", str(path), "--quiet"], capsys))


def test_error_cli_missing_dataset_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("graphkd.data.load.download_url", lambda *a, **k: (_ for _ in ()).throw(URLError("off")))
    line = _cli_error(["distill", "--quiet", "--dataset", "Cora", "--root", str(tmp_path)], capsys)
    assert str(tmp_path / "Cora" / "raw") in line and "ind.cora.x" in line


def test_error_cli_missing_teacher_file(tmp_path, capsys):
    line = _cli_error(["distill", "--quiet", "--teacher", str(tmp_path / "logits.pt")], capsys)
    assert f"no teacher output file at {tmp_path / 'logits.pt'}" in line


def test_refused_api_crafted_teacher_file(in_tmp):
    with pytest.raises(GraphkdError, match="logits.pt is not a file of teacher outputs: it holds objects other"):
        run_distillation(DistillConfig(runs=1, teacher=_crafted(in_tmp / "logits.pt")), data=_graph(), progress=False)


def test_refused_whole_saved_module_gives_no_advice_to_allowlist_it(tmp_path):
    # torch's message goes on to advise add_safe_globals, which would let the file's code run
    torch.save(torch.nn.Linear(3, 2), tmp_path / "model.pt")
    with pytest.raises(GraphkdError, match="model.pt is not a file of teacher outputs") as error:
        run_distillation(DistillConfig(runs=1, teacher=tmp_path / "model.pt"), data=_graph(), progress=False)
    assert "torch.nn.modules.linear.Linear" in str(error.value) and "safe_globals" not in str(error.value)


def test_error_cli_bench_latency_bad_config(capsys):
    line = _cli_error(["bench", "latency", "--depths", "1-2", "--ref-depth", "3", "--quiet"], capsys)
    assert "ref_depth 3 must be one of the depths (1, 2)" in line


def test_error_cli_export_of_a_missing_model(tmp_path, capsys):
    line = _cli_error(["export", "--model", str(tmp_path / "student.pt"), "--out", str(tmp_path / "x")], capsys)
    assert f"no graphkd model file at {tmp_path / 'student.pt'}" in line


def test_refused_cli_export_of_a_crafted_model(in_tmp, capsys):
    line = _cli_error(["export", "--model", str(_crafted(in_tmp / "student.pt")), "--out", "x"], capsys)
    assert "student.pt is not a graphkd model file: it holds objects other than tensors" in line


def test_error_cli_export_of_a_truncated_model(tmp_path, capsys):
    path = _truncated_model(tmp_path / "student.pt")
    assert "student.pt is not a readable graphkd model file" in _cli_error(
        ["export", "--model", str(path), "--out", str(tmp_path / "x")], capsys)


def test_error_cli_export_of_a_gnn(tmp_path, capsys):
    save_model(GCN(4, 8, 2, 2), tmp_path / "gcn.pt")
    assert "only MLP students can be exported" in _cli_error(
        ["export", "--model", str(tmp_path / "gcn.pt"), "--out", str(tmp_path / "x")], capsys)


def test_error_cli_export_onto_a_file(tmp_path, capsys):
    save_model(MLP(4, 8, 2, 2), tmp_path / "student.pt", meta={"preprocessing": {"row_normalize": False}})
    (tmp_path / "x").write_text("a file")
    assert f"export folder {tmp_path / 'x'} is a file" in _cli_error(
        ["export", "--model", str(tmp_path / "student.pt"), "--out", str(tmp_path / "x")], capsys)


# ---- Python API: the configuration -------------------------------------------------------------------------

@pytest.mark.parametrize("options, message", [
    ({"teacher": "transformer"}, "neither a name"),
    ({"teacher": object()}, "a teacher is a name, a torch.nn.Module, logits, .* got object"),
    ({"student": "gat"}, "valid: mlp, gcn, sage"),
    ({"temperature": 0}, "temperature must be a finite number > 0"),
    ({"temperature": 1e-30}, r"temperature must be a number in \[0.05, 100.0\]"),
    ({"alpha": 1.2}, r"alpha must lie in \[0, 1\]"),
    ({"transfer": "some"}, "valid: all, labelled, unlabelled"),
    ({"student": "gcn", "student_layers": 3}, "GNN students are shallow"),
    ({"runs": 0}, r"runs must be an integer in \[1, 100000\]"),
    ({"runs": 1.5}, "runs must be an integer"),
    ({"ensemble": 0}, r"ensemble must be an integer in \[1, 64\], got 0"),
    ({"lsp_weight": 1.0}, "needs a GNN student"),
    ({"student": "gcn", "positions": 8}, "position features are for MLP students"),
    ({"student": "sage", "adversarial_weight": 1.0}, "adversarial augmentation and position features are for MLP"),
    ({"hint_weight": -1.0}, r"hint_weight must be a number in \[0.0, 1000000.0\], got -1.0"),
    ({"hint_weight": float("nan")}, "hint_weight must be a number"),
    ({"similarity_weight": float("inf")}, "similarity_weight must be a number"),
    ({"refine": "magic"}, "valid: none, cs"),
    ({"hint_metric": "l1"}, "valid: mse, cosine"),
    ({"student_hidden": 0}, r"student_hidden must be an integer in \[1, 65536\], got 0"),
    ({"student_hidden": 2.5}, "student_hidden must be an integer"),
    ({"teacher_hidden": 0}, "teacher_hidden must be an integer"),
    ({"student_dropout": 1.0}, r"student_dropout must be a number in \[0.0, 0.95\]"),
    ({"teacher_dropout": float("nan")}, "teacher_dropout must be a number"),
    ({"student_layers": 100}, "student_layers must be an integer in"),
    ({"heads": 0}, "heads must be an integer"),
    ({"teacher": "gat", "heads": 3}, r"GAT hidden width \(64\) must be divisible by heads \(3\)"),
    ({"lr": 0.0}, r"lr must be a number in \[1e-07, 10.0\]"),
    ({"cs_smoothing_alpha": 1.5}, r"cs_smoothing_alpha must be a number in \[0.0, 1.0\]"),
    ({"teacher_layer": "convs.0"}, "teacher_layer is read by the hint, similarity and LSP terms only"),
    ({"student_weight_decay": float("nan")}, "student_weight_decay must be a number"),
    ({"teacher": torch.zeros(6, 2), "split": "random"}, "a given teacher was trained on one split"),
    ({"teacher": torch.zeros(6, 2), "teacher_consistency": 1.0}, "teacher_consistency set how graphkd trains"),
    ({"teacher": torch.zeros(6, 2), "teacher_hidden": 64, "heads": 4}, "teacher_hidden, heads set how graphkd "
                                                                         "trains a teacher"),
    ({"teacher": torch.zeros(6, 2), "weight_decay": 0.0}, "weight_decay set how graphkd trains a teacher"),
    ({"teacher_norm": "batchnorm"}, "unknown teacher norm 'batchnorm'; valid: batch_norm, layer_norm, none"),
    ({"teacher": "gcn", "heads": 4}, "heads is read by the GAT teachers"),
    ({"hint_metric": "cosine"}, "hint_metric is read by the hint term; give hint_weight"),
    ({"adversarial_epsilon": 0.1}, "adversarial_epsilon is read by adversarial augmentation"),
    ({"cs_correction_alpha": 0.3}, "cs_correction_alpha is read by Correct and Smooth; set refine='cs'"),
    ({"arrival_fraction": 0.5}, "arrival_fraction is read by the inductive, production and cold-start settings"),
    ({"teacher": "gat+sage", "teacher_hops": 3}, "teacher_hops is for the appnp and grand teachers; gat\\+sage has"),
    ({"teacher": "grand", "teacher_samples": 2.5}, "teacher_samples must be an integer"),
    ({"teacher": "grand", "teacher_node_dropout": float("nan")}, "teacher_node_dropout must be a number"),
    ({"task": "regression"}, "unknown task 'regression'; valid: multiclass, binary, multilabel"),
    ({"metric": "f1"}, "unknown metric 'f1'; valid: accuracy, average_precision, macro_f1, roc_auc"),
    ({"task": "binary", "metric": "macro_f1"}, "metric 'macro_f1' does not score a binary task; valid: roc_auc"),
    ({"task": "multiclass", "metric": "roc_auc"}, "metric 'roc_auc' does not score a multiclass task"),
    ({"alpha_choices": []}, "alpha_choices must be a non-empty list of alphas"),
    ({"alpha_choices": "0.5"}, "alpha_choices must be a non-empty list of alphas"),
    ({"alpha_choices": [0.5, 2.0]}, r"alpha must lie in \[0, 1\], got 2.0"),
    ({"alpha_choices": [0.0, 1.0], "alpha": 0.5}, "give alpha or alpha_choices, not both"),
    ({"class_weights": "yes"}, "class_weights must be True or False"),
])
def test_error_api_config(options, message):
    with pytest.raises(GraphkdError, match=message):
        DistillConfig(**options)


def test_choices_are_stored_as_spelled_in_the_valid_list():
    # later code compares them exactly: "Labelled" once passed the check, then failed after a teacher trained
    cfg = DistillConfig(transfer="Labelled", teacher_norm="Layer_Norm", student="MLP")
    assert (cfg.transfer, cfg.teacher_norm, cfg.student) == ("labelled", "layer_norm", "mlp")


# ---- Python API: the user's graph, checked at every entry point before any training ------------------------

@pytest.mark.parametrize("changes, message", [
    ({"edge_index": torch.tensor([[0, 9], [1, 2]])}, r"outside \[0, 6\)"),
    ({"edge_index": torch.tensor([[0, -1], [1, 2]])}, r"outside \[0, 6\)"),
    ({"edge_index": torch.tensor([[0.0, 1.0], [1.0, 2.0]])}, "edge_index must be torch.long"),
    ({"edge_index": torch.tensor([[0, 1], [1, 2], [2, 3]])}, r"edge_index must have shape \[2, num_edges\]"),
    ({"num_nodes": 10}, "data.num_nodes is 10 but data.x has 6 rows"),
    ({"test_mask": torch.zeros(6, dtype=torch.bool)}, "data.test_mask selects no node"),
    ({"train_mask": torch.tensor([1, 0, 0, 0, 0, 1])}, "data.train_mask must be a bool tensor"),
    ({"test_mask": torch.tensor([True, False, True, True, False, False])}, "train_mask and data.test_mask share 1"),
    ({"test_mask": None}, "random_split"),
    ({"y": torch.tensor([0, -2, 0, 1, 1, 1])}, r"1 negative label\(s\) below -1"),
    ({"y": torch.tensor([0, -1, 0, 1, 1, 1])}, r"data.val_mask selects 1 node\(s\) labelled -1 \(unlabelled\)"),
    ({"y": torch.full((6,), -1)}, "labels no node"),
    ({"y": torch.tensor([0.0, 0, 0, 1, 1, 1])}, "torch.long"),
    ({"y": torch.tensor([0, 0, 1, 1])}, "data.y has 4 labels for 6 nodes"),
    ({"x": torch.full((6, 3), float("nan"))}, "NaN or inf"),
    ({"x": torch.rand(6, 3, dtype=torch.complex64)}, "real-valued"),
    ({"x": torch.eye(6, 3).to_sparse()}, "data.x must be a dense tensor"),
    # Labels that fit no task (issue 40): one class, multi-label values that are no labels, a label none trains
    ({"y": torch.zeros(6, dtype=torch.long)}, "gives every labelled node the class 0: a task needs at least two"),
    ({"y": torch.tensor([[0.2, 1.0]] * 6)}, r"multi-label data.y must hold only 0 and 1, got 6 other value\(s\)"),
    ({"y": torch.tensor([[1, -1]] * 6)}, "multi-label data.y must hold only 0 and 1"),
    ({"y": torch.tensor([[1, 0], [0, 1], [0, 1], [1, 0], [1, 0], [1, 0]])},
     r"label\(s\) \[1\] of data.y have no positive training node"),
    ({"y": torch.ones(4, 2, dtype=torch.long)}, r"data.y \(4, 2\) must be \[num_nodes=6, num_labels\]"),
])
def test_error_api_graph(changes, message):
    with pytest.raises(GraphkdError, match=message):
        check_graph(_graph(**changes))
    with pytest.raises(GraphkdError, match=message):  # the pipeline refuses it before any training
        run_distillation(DistillConfig(runs=1, epochs=1), data=_graph(**changes), progress=False)


@pytest.mark.parametrize("options, y, message", [
    ({"task": "multilabel"}, None, r"task 'multilabel' needs labels \[num_nodes, num_labels\] of 0/1, but data.y "
                                   r"\(6,\) reads as 'binary'"),
    ({"task": "binary"}, torch.tensor([0, 1, 2, 1, 2, 0]), "task 'binary' needs labels .* reads as 'multiclass'"),
    ({"metric": "roc_auc"}, torch.tensor([0, 1, 2, 1, 2, 0]), "metric 'roc_auc' does not score a multiclass task"),
    ({"task": "binary"}, torch.tensor([[0, 1], [1, 0], [1, 1], [0, 1], [1, 0], [1, 1]]),
     "task 'binary' needs labels .* reads as 'multilabel'"),
])
def test_error_api_task_that_contradicts_the_labels(options, y, message):
    # Mechanism: silent misreadings. A task or metric that does not fit the labels is refused before any training,
    # not trained as something else.
    graph = _graph() if y is None else _graph(y=y)
    with pytest.raises(GraphkdError, match=message):
        run_distillation(DistillConfig(runs=1, **FAST, **options), data=graph, progress=False)


def test_unlabelled_nodes_outside_every_split_are_taken():
    # -1 marks a node with no label (random_split leaves such nodes out): it is in the graph, in no split.
    graph = _graph(y=torch.tensor([0, -1, 0, 1, 1, 1]))
    graph.val_mask[1] = False
    assert check_graph(graph) is graph
    # one validation node: ROC-AUC, the binary default, could not score it
    summary = run_distillation(DistillConfig(runs=1, epochs=1, transfer="unlabelled", metric="accuracy"), data=graph,
                               progress=False)
    assert summary["student"]["test_acc_mean"] is not None
    resplit = random_split(_graph(y=torch.tensor([0, -1, 0, 1, 1, 1])), seed=0, train_per_class=1, val_per_class=1)
    assert not (resplit.train_mask | resplit.val_mask | resplit.test_mask)[1]


def test_error_api_graph_that_is_not_data():
    with pytest.raises(GraphkdError, match="expected a torch_geometric Data, got dict"):
        prepare_data({"x": torch.rand(6, 3)})


@pytest.mark.parametrize("changes, message", [
    ({"edge_index": None}, r"edge_index is missing: give the edges as a torch.long tensor \[2, num_edges\]"),
    ({"edge_index": np.array([[0, 1], [1, 2]])}, r"edge_index must be a torch.long tensor .*got a numpy.ndarray "
                                                 r"\(dtype int64, shape \(2, 2\)\): convert it with torch.as_tensor"),
    ({"edge_index": [[0, 1], [1, 2]]}, "edge_index must be a torch.long tensor .*got a list"),
    ({"train_mask": [True, False, False, False, False, True]}, "data.train_mask must be a torch.bool tensor .*got a "
                                                               "list"),
    ({"y": torch.tensor([0, 0, 0, 1, 1, 2**40])}, "data.y holds class id 1099511627776 on a graph of 6 nodes"),
])
def test_error_api_graph_parts_of_the_wrong_kind(changes, message):
    # Mechanism: exception kinds nobody expects. These ended in AttributeError ('NoneType' object has no attribute
    # 'dim') or, for a label id of 2**40, in torch asking for 2**48 bytes of weights.
    with pytest.raises(GraphkdError, match=message):
        run_distillation(DistillConfig(runs=1, **FAST), data=_graph(**changes), progress=False)


def test_error_api_numpy_bool_mask_is_told_what_it_is():
    # Mechanism: messages that mislead. A NumPy bool mask was told it "must be a bool tensor ... got bool".
    with pytest.raises(GraphkdError, match=r"data.train_mask must be a torch.bool tensor of shape \[6\], got a "
                                           r"numpy.ndarray \(dtype bool, shape \(6,\)\): convert it"):
        run_distillation(DistillConfig(runs=1, **FAST), data=_graph(train_mask=np.array([1, 0, 0, 0, 0, 1], bool)),
                         progress=False)


def test_accepted_class_ids_that_label_no_node_are_said():
    # Mechanism: exception kinds nobody expects. Labels 0 and 5 built models of 6 classes without a word.
    with pytest.warns(UserWarning, match=r"class id\(s\) \[1, 2, 3, 4\] label no node, so the models get 6 outputs"):
        run_distillation(DistillConfig(runs=1, **FAST), data=_graph(y=torch.tensor([0, 0, 0, 5, 5, 5])),
                         progress=False)


def test_error_api_teacher_forward_that_raises_type_error_inside():
    # Mechanism: messages that mislead. A TypeError inside a user's forward was reported as the teacher
    # refusing model(x, edge_index).
    class Broken(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 2)

        def forward(self, x, edge_index):
            return self.lin(x) + None

    with pytest.raises(GraphkdError, match="Broken takes model\\(x, edge_index\\), but its forward raised TypeError on "
                                           "this graph: unsupported operand") as info:
        run_distillation(DistillConfig(runs=1, epochs=3, patience=3, teacher=Broken()), data=_graph(), progress=False)
    assert "refused" not in str(info.value)


def test_error_api_named_split_with_a_given_graph():
    with pytest.raises(GraphkdError, match="split='public' names one of a dataset's standard splits"):
        run_distillation(DistillConfig(runs=1, split="public", **FAST), data=_graph(), progress=False)


def test_error_api_class_without_training_nodes_is_said():
    with pytest.warns(UserWarning, match=r"class\(es\) \[2\] have nodes but none in data.train_mask"):
        check_graph(_graph(y=torch.tensor([0, 0, 2, 1, 1, 1])))


def test_error_api_teacher_module_with_the_wrong_signature():
    with pytest.raises(GraphkdError, match=r"model\(x, edge_index\)"):
        run_distillation(DistillConfig(runs=1, teacher=torch.nn.Linear(3, 2), epochs=1), data=_graph(),
                         progress=False)


def test_error_api_capture_of_a_function():
    # Mechanism: exception kinds nobody expects. capture(lambda x, e: ..., graph) ended in AttributeError
    # ('function' object has no attribute 'named_modules').
    with pytest.raises(GraphkdError, match=r"capture takes a trained torch.nn.Module called as model\(x, edge_index\), "
                                           "got function"):
        capture(lambda x, edge_index: x[:, :2], _graph())


@pytest.mark.parametrize("raises, message", [
    (lambda x: {}["a"], "the teacher Raising failed on this graph \\(6 nodes, 3 features\\): KeyError: 'a'"),
    (lambda x: x.nope, "the teacher Raising failed on this graph .*AttributeError: 'Tensor' object has no attribute"),
])
def test_error_api_teacher_forward_that_raises_anything(raises, message):
    # Mechanism: exception kinds nobody expects. A KeyError or AttributeError from a user's forward escaped as
    # itself, where a RuntimeError of the same forward became a GraphkdError.
    class Raising(torch.nn.Module):
        def forward(self, x, edge_index):
            return raises(x)

    with pytest.raises(GraphkdError, match=message):
        run_distillation(DistillConfig(runs=1, epochs=3, patience=3, teacher=Raising()), data=_graph(), progress=False)


@pytest.mark.parametrize("teacher, message", [
    (torch.zeros(6, 0), r"teacher logits must be \[num_nodes=6, channels\] with at least one class, got \(6, 0\)"),
    (torch.full((6, 2), 1e300, dtype=torch.float64), r"teacher logits holds 12 finite value\(s\) beyond float32's "
                                                      "range"),
])
def test_error_api_teacher_logits_without_classes_or_beyond_float32(teacher, message):
    # Mechanism: exception kinds nobody expects (logits of 0 classes ended in an IndexError from argmax) and
    # messages that mislead (finite float64 logits were "12 NaN or inf value(s)").
    with pytest.raises(GraphkdError, match=message):
        run_distillation(DistillConfig(runs=1, epochs=3, patience=3, teacher=teacher), data=_graph(), progress=False)


@pytest.mark.parametrize("member_logits, message", [
    ([], "member_logits must be a non-empty list of logits"),
    (torch.zeros(6, 2), "member_logits must be a non-empty list of logits .*got a torch.float32 tensor"),
    ([torch.zeros(6, 0)], r"logits must be \[members, 6, classes\] with at least one class, got \(1, 6, 0\)"),
])
def test_error_soft_targets_from_logits_of_no_member_or_no_class(member_logits, message):
    # Mechanism: exception kinds nobody expects: an empty list raised RuntimeError from torch.stack.
    with pytest.raises(GraphkdError, match=message):
        SoftTargets.from_logits(member_logits, prepare_data(_graph()))


def test_accepted_soft_targets_from_numpy_logits_equal_tensor_logits():
    # Mechanism: exception kinds nobody expects: NumPy logits raised TypeError from torch.stack, where the
    # teacher option takes them.
    logits = np.random.default_rng(0).normal(size=(6, 2)).astype(np.float32)
    data = prepare_data(_graph())
    assert SoftTargets.from_logits([logits], data).content_hash() == \
        SoftTargets.from_logits([torch.from_numpy(logits)], data).content_hash()


@pytest.mark.parametrize("seed", [2**70, 0.5, "0", True])
def test_error_seed_that_torch_cannot_take(seed):
    # Mechanism: exception kinds nobody expects. random_split and load_dataset passed any seed to torch, which
    # raised ValueError ("Overflow when unpacking long long") or RuntimeError for a float.
    with pytest.raises(GraphkdError, match="seed must be an integer from -2\\*\\*63 to 2\\*\\*64 - 1"):
        random_split(_graph(), seed, train_per_class=1, val_per_class=1)
    with pytest.raises(GraphkdError, match="seed must be an integer"):
        load_dataset("CSBM", seed=seed)


def test_error_api_teacher_logits_of_the_wrong_shape():
    with pytest.raises(GraphkdError, match=r"\[6, classes\]|num_nodes"):
        run_distillation(DistillConfig(runs=1, teacher=torch.zeros(5, 2), epochs=1), data=_graph(), progress=False)


def _entry_point(name):
    """One entry point that takes a user's graph, run on ``graph`` with the fewest epochs."""
    from graphkd.distill import born_again, capture, teacher_soft_targets, union_teacher

    return {"run_distillation": lambda g: run_distillation(DistillConfig(runs=1, **FAST), data=g, progress=False),
            "born_again": lambda g: born_again(DistillConfig(**FAST), g, rounds=1, kind="mlp"),
            "union_teacher": lambda g: union_teacher(DistillConfig(**FAST), g, [[0], [1]], rule="confidence"),
            "capture": lambda g: capture(GCN(3, 4, 2, 2), g),
            "teacher_soft_targets": lambda g: teacher_soft_targets(DistillConfig(**FAST), g, seed=0)}[name]


ENTRY_POINTS = ("run_distillation", "born_again", "union_teacher", "capture", "teacher_soft_targets")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_error_api_features_beyond_float32s_range(entry):
    # Mechanism: checks before conversions. 1e39 is finite in float64 and inf in the float32 the models see: it
    # passed a check made before the conversion, and the student trained to NaN weights without a word.
    x = torch.rand(6, 3, dtype=torch.float64)
    x[4, 1] = -1e39
    with pytest.raises(GraphkdError, match=r"data.x holds 1 value\(s\) beyond float32's range .*rescale"):
        _entry_point(entry)(_graph(x=x))
    if entry != "run_distillation":
        return
    with pytest.raises(GraphkdError, match="beyond float32's range"):  # the same with a random split per seed
        run_distillation(DistillConfig(runs=1, split="random", labels_per_class=1, **FAST), data=_graph(x=x),
                         progress=False)


@pytest.mark.parametrize("dtype", [torch.float64, torch.int64, torch.float16])
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_accepted_features_of_any_real_dtype_at_every_entry_point(entry, dtype):
    # Mechanism: checks before conversions. born_again, union_teacher and capture failed on float64 or int64
    # features that run_distillation took: every entry point now converts in one shared place (model_graph).
    from graphkd.data import model_graph
    from graphkd.distill import graph_fingerprint

    graph = _graph(x=(torch.rand(6, 3, generator=torch.Generator().manual_seed(0)) * 4).to(dtype))
    assert _entry_point(entry)(graph) is not None
    assert graph.x.dtype == dtype  # the caller's Data as it was
    assert graph_fingerprint(model_graph(graph)) == graph_fingerprint(_graph(x=graph.x.float()))


class _ChangesItsInputs(torch.nn.Module):
    """A teacher whose forward zeroes its features and rewires its edges in place."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x, edge_index):
        x.mul_(0)
        edge_index.fill_(0)
        return self.lin(x)


def test_accepted_module_teacher_that_changes_its_inputs_in_place():
    # Mechanism: user code and the caller's data. The module got the caller's own x and edge_index: the
    # labels-only MLP and the student then learned from the zeroed features, and the user's Data was changed.
    from graphkd.distill import capture

    graph, before = _graph(), _graph()
    changed = run_distillation(DistillConfig(runs=1, epochs=3, patience=3, teacher=_ChangesItsInputs()), data=graph,
                               progress=False)
    plain = run_distillation(DistillConfig(runs=1, epochs=3, patience=3, teacher=torch.randn(6, 2)), data=before,
                             progress=False)
    assert torch.equal(graph.x, before.x) and torch.equal(graph.edge_index, before.edge_index)
    assert changed["per_seed"][0]["baseline_mlp"] == plain["per_seed"][0]["baseline_mlp"]  # labels alone: same run
    capture(_ChangesItsInputs(), graph)
    assert torch.equal(graph.x, before.x) and torch.equal(graph.edge_index, before.edge_index)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("attribute, value, message", [
    ("edge_weight", torch.rand(5), "data.edge_weight is not used: .* so every edge counts the same"),
    ("edge_attr", torch.rand(5, 2), "data.edge_attr is not used: .* so every edge counts the same"),
    ("pos", torch.rand(6, 2), "data.pos is not used: graphkd reads x, edge_index, y and the three masks;"),
])
def test_error_api_attributes_no_model_reads_are_said(entry, attribute, value, message):
    # Mechanism: ignored without a word. Edge weights and edge features were dropped silently, a weighted graph
    # trained as an unweighted one.
    graph = _graph(**{attribute: value})
    with pytest.warns(UserWarning, match=message):
        _entry_point(entry)(graph)
    assert torch.equal(graph[attribute], value)  # said, not deleted from the caller's Data


def test_error_api_networkx_edge_attributes_are_said():
    # Mechanism: ignored without a word. from_networkx read no edge attribute, and said nothing.
    import networkx as nx

    from graphkd.data import from_networkx

    graph = nx.path_graph(4)
    for node in graph:
        graph.nodes[node].update(x=[float(node)], y=node % 2)
    nx.set_edge_attributes(graph, {(0, 1): 5.0, (1, 2): 0.1, (2, 3): 1.0}, "weight")
    with pytest.warns(UserWarning, match="edge attribute\\(s\\) 'weight' are not used: .* every edge counts the same"):
        from_networkx(graph)


# ---- The data root ------------------------------------------------------------------------------------------

def test_error_data_root_missing_files_offline(tmp_path, monkeypatch):
    monkeypatch.setattr("graphkd.data.load.download_url", lambda *a, **k: (_ for _ in ()).throw(URLError("off")))
    with pytest.raises(MissingFileError) as err:
        load_dataset("Cora", root=tmp_path)
    assert str(tmp_path / "Cora" / "raw") in str(err.value) and "GRAPHKD_DATA" in str(err.value)


def test_refused_data_root_crafted_raw_pickle(in_tmp):
    with pytest.raises(GraphkdError, match=r"ind.cora.x: not a valid Planetoid file .*refused to load posix.system"):
        safe_unpickle(_crafted(in_tmp / "ind.cora.x"))


def test_error_data_root_truncated_raw_pickle(tmp_path):
    (tmp_path / "ind.cora.x").write_bytes(pickle.dumps(np.eye(2))[:20])
    with pytest.raises(GraphkdError, match="ind.cora.x: not a valid Planetoid file"):
        safe_unpickle(tmp_path / "ind.cora.x")


def test_refused_data_root_crafted_file_among_real_ones(data_root, in_tmp):
    shutil.copytree(data_root / "Cora", in_tmp / "Cora")
    _crafted(in_tmp / "Cora" / "raw" / "ind.cora.graph")
    with pytest.raises(GraphkdError, match="ind.cora.graph"):
        load_dataset("Cora", root=in_tmp)


def test_error_data_root_wrong_type_in_a_raw_file(data_root, tmp_path):
    shutil.copytree(data_root / "Cora", tmp_path / "Cora")
    (tmp_path / "Cora" / "raw" / "ind.cora.graph").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(GraphkdError, match="ind.cora.graph: expected adjacency lists"):
        load_dataset("Cora", root=tmp_path)


@pytest.mark.parametrize("name, damage, message", [
    ("ind.cora.test.index", lambda path: path.write_text("99999\n" * 1000),
     "ind.cora.test.index: test index 99999 is out of range: the graph's nodes are 0 to 2707"),
    ("ind.cora.ally", lambda path: path.write_bytes(pickle.dumps(np.full((1708, 7), np.nan))),
     r"ind.cora.ally: 1708 of 1708 label rows are not one-hot \(a single 1, zeros elsewhere\), e.g. row 0: \[nan"),
    ("ind.cora.y", lambda path: path.write_bytes(pickle.dumps(np.eye(7)[:3])),
     "ind.cora.y: 3 label rows for the 140 feature rows of .*ind.cora.x"),
], ids=["test-index-out-of-range", "nan-label-rows", "fewer-label-rows-than-feature-rows"])
def test_error_data_root_damaged_planetoid_raw_file(data_root, tmp_path, name, damage, message):
    # Mechanism: exception kinds nobody expects (a test index past the last node ended in IndexError), and ignored
    # without a word (NaN label rows loaded as class 0; 3 label rows for x's 140 loaded with a 3-node train mask).
    shutil.copytree(data_root / "Cora", tmp_path / "Cora")
    damage(tmp_path / "Cora" / "raw" / name)
    with pytest.raises(RawFileError, match=message):
        load_dataset("Cora", root=tmp_path)


@pytest.mark.parametrize("name, num_nodes", [("Cora", 2708), ("Photo", 7487)])
def test_refused_data_root_crafted_processed_cache_is_never_read(data_root, in_tmp, name, num_nodes):
    # PyG retries processed/data.pt with weights_only=False; graphkd never opens processed/ at all.
    shutil.copytree(data_root / name / "raw", in_tmp / name / "raw")
    (in_tmp / name / "processed").mkdir()
    for file in ("data.pt", "pre_filter.pt", "pre_transform.pt"):
        _crafted(in_tmp / name / "processed" / file)
    assert load_dataset(name, root=in_tmp).num_nodes == num_nodes  # Photo: its largest connected component


def test_refused_data_root_npz_with_pickled_objects(in_tmp):
    path = in_tmp / "amazon_electronics_photo.npz"
    np.savez(path, attr_data=np.array([RunsCode()], dtype=object))
    with pytest.raises(GraphkdError, match="amazon_electronics_photo.npz: not a valid graph archive"):
        read_npz_graph(path)


def test_error_data_root_corrupt_npz(tmp_path):
    (tmp_path / "g.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(GraphkdError, match="g.npz: not a valid graph archive"):
        read_npz_graph(tmp_path / "g.npz")


# ---- Soft targets -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def made_targets():
    """Soft targets of a GCN teacher on :func:`_graph`, and the configuration that made them."""
    cfg = DistillConfig(**FAST)
    return cfg, pipeline.teacher_soft_targets(cfg, prepare_data(_graph()), seed=0)


def test_recomputed_when_given_soft_targets_change_in_place(tmp_path):
    # Mechanism: a hash taken before a change. The record and the cached student were once keyed by the hash
    # SoftTargets took when made, so a rerun after an in-place change reused the old results.
    cfg = DistillConfig(**FAST)
    targets = pipeline.teacher_soft_targets(cfg, prepare_data(_graph()), seed=0)
    given = DistillConfig(teacher=targets, runs=1, epochs=3, patience=3)
    first = run_distillation(given, data=_graph(), out=tmp_path, progress=False)
    targets.logits.mul_(-1.0)  # the caller changes the teacher's logits in place
    with pytest.warns(UserWarning, match="made with other options or another graph"):
        again = run_distillation(given, data=_graph(), out=tmp_path, progress=False)
    fresh = run_distillation(given, data=_graph(), progress=False)  # the same run without an output folder
    assert again["per_seed"][0]["soft_targets_hash"] == fresh["per_seed"][0]["soft_targets_hash"] \
        != first["per_seed"][0]["soft_targets_hash"]
    assert again["per_seed"][0]["student"] == fresh["per_seed"][0]["student"]


def test_refused_soft_targets_crafted_file(in_tmp):
    with pytest.raises(GraphkdError, match="file.pt is not a soft-target file: it holds objects other than tensors"):
        SoftTargets.load(_crafted(in_tmp / "file.pt"))


def test_error_soft_targets_truncated_file(tmp_path, made_targets):
    made_targets[1].save(tmp_path / "t.pt")
    (tmp_path / "t.pt").write_bytes((tmp_path / "t.pt").read_bytes()[:100])
    with pytest.raises(GraphkdError, match="t.pt is not a readable soft-target file"):
        SoftTargets.load(tmp_path / "t.pt")


def test_refused_soft_targets_without_a_content_hash(tmp_path, made_targets):
    targets = made_targets[1]
    meta = {k: v for k, v in targets.meta.items() if k != "content_hash"}
    torch.save({"logits": targets.logits, "node_index": targets.node_index, "hidden": {},
                "meta_json": json.dumps(meta)}, tmp_path / "t.pt")
    with pytest.raises(GraphkdError, match="differs from the stored None"):
        SoftTargets.load(tmp_path / "t.pt")


def test_refused_soft_targets_with_edited_logits(tmp_path, made_targets):
    made_targets[1].save(tmp_path / "t.pt")
    blob = torch.load(tmp_path / "t.pt", weights_only=True)
    blob["logits"][0, 0, 0] += 1.0
    torch.save(blob, tmp_path / "t.pt")
    with pytest.raises(GraphkdError, match="t.pt: content hash .* differs from the stored"):
        SoftTargets.load(tmp_path / "t.pt")


@pytest.mark.parametrize("change, message", [
    ({"x": torch.rand(6, 3) + 1.0}, "made for other features, edges or labels"),
    ({"edge_index": torch.tensor([[0, 1], [1, 2]])}, "made for other features, edges or labels"),
    ({"test_mask": torch.tensor([False, False, True, False, False, False])},
     r"made for other train/val/test masks \(both are called split 'custom'"),
])
def test_refused_soft_targets_of_another_graph(made_targets, change, message):
    with pytest.raises(GraphkdError, match=message):
        made_targets[1].check_compatible(prepare_data(_graph(**change)))


def test_refused_soft_targets_of_another_label_space(made_targets):
    cfg, targets = made_targets
    one_class = SoftTargets(targets.logits[:, :, :1], targets.node_index, targets.meta)
    with pytest.raises(GraphkdError, match="teacher has 1 classes, student 2"):
        pipeline.train_student(cfg, prepare_data(_graph()), one_class, seed=0, kind="mlp")


def test_refused_given_soft_targets_of_another_transfer_set(made_targets):
    with pytest.raises(GraphkdError, match="transfer"):
        run_distillation(DistillConfig(runs=1, teacher=made_targets[1], transfer="labelled", epochs=1),
                         data=_graph(), progress=False)


@pytest.mark.parametrize("term", [{"hint_weight": 1.0}, {"similarity_weight": 1.0}])
def test_error_teacher_representation_without_channels(term):
    # Mechanism: ignored without a word. A hint on a [num_nodes, 0] representation trained nothing (a similarity
    # term compared zeros): the run went on as if the term were off.
    outputs = {"logits": torch.randn(6, 2), "hidden": {"h": torch.zeros(6, 0)}}
    with pytest.raises(GraphkdError, match=r"teacher hidden representation 'h' has no channels \(6, 0\)"):
        run_distillation(DistillConfig(runs=1, epochs=1, teacher=outputs, teacher_layer="h", **term), data=_graph(),
                         progress=False)


def test_error_teacher_outputs_corrupt_npz(tmp_path):
    (tmp_path / "t.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(GraphkdError, match="t.npz is not a readable .npz of teacher outputs"):
        load_teacher_outputs(tmp_path / "t.npz")


def test_error_teacher_outputs_truncated_pt(tmp_path):
    torch.save({"logits": torch.zeros(3, 2)}, tmp_path / "t.pt")
    (tmp_path / "t.pt").write_bytes((tmp_path / "t.pt").read_bytes()[:40])
    with pytest.raises(GraphkdError, match="t.pt is not a readable file of teacher outputs"):
        load_teacher_outputs(tmp_path / "t.pt")


def test_refused_teacher_outputs_npz_with_pickled_objects(in_tmp):
    np.savez(in_tmp / "t.npz", logits=np.array([RunsCode()], dtype=object))
    with pytest.raises(GraphkdError, match="t.npz is not a readable .npz of teacher outputs"):
        load_teacher_outputs(in_tmp / "t.npz")


def test_error_soft_targets_file_with_metadata_nested_too_deeply(tmp_path, made_targets):
    # Mechanism: exception kinds nobody expects (json's RecursionError escaped SoftTargets.load).
    targets = made_targets[1]
    torch.save({"logits": targets.logits, "node_index": targets.node_index, "meta_json": "[" * 5000 + "]" * 5000},
               tmp_path / "targets.pt")
    with pytest.raises(GraphkdError, match="its metadata is not the JSON graphkd writes: it nests arrays or objects "
                                           "too deeply"):
        SoftTargets.load(tmp_path / "targets.pt")


def test_error_teacher_logits_of_float64_beyond_float32_are_not_called_log_of_zero():
    # Mechanism: messages that mislead. Finite float64 logits of -1e300 became -inf in float32 and were called
    # "the log of a probability of 0".
    logits = torch.zeros(6, 2, dtype=torch.float64)
    logits[3:, 0] = -1e300
    with pytest.raises(GraphkdError, match="teacher logits holds 3 finite value\\(s\\) beyond float32's range") as info:
        SoftTargets.from_logits([logits], prepare_data(_graph()))
    assert "probability of 0" not in str(info.value) and "NaN" not in str(info.value)


def test_error_soft_targets_without_the_named_representation(made_targets):
    targets = made_targets[1]
    one = SoftTargets(targets.logits, targets.node_index, targets.meta, hidden={"convs.0": torch.zeros(6, 2)})
    with pytest.raises(GraphkdError, match=r"hold no teacher representation 'convs.7' \(stored: convs.0\)"):
        one.hidden_layer("convs.7")


def test_recomputed_soft_targets_renamed_to_another_seed(tmp_path):
    cfg, data = DistillConfig(**FAST), prepare_data(_graph())
    made = pipeline.cached_teachers(cfg, data, seed=0, teacher_dir=tmp_path)
    stored = tmp_path / f"soft_targets-{cfg.teacher_key()}-seed0.pt"
    shutil.copy(stored, stored.with_name(stored.name.replace("seed0", "seed1")))
    with pytest.warns(UserWarning, match="made for seed 0, not 1; making them again"):
        remade = pipeline.cached_teachers(cfg, data, seed=1, teacher_dir=tmp_path)
    assert remade.meta["seed"] == 1 and not torch.equal(remade.logits, made.logits)


def test_recomputed_soft_targets_renamed_to_another_teachers_name(tmp_path):
    data, gcn, sage = prepare_data(_graph()), DistillConfig(**FAST), DistillConfig(**{**FAST, "teacher": "sage"})
    pipeline.cached_teachers(gcn, data, seed=0, teacher_dir=tmp_path)
    stored = tmp_path / f"soft_targets-{gcn.teacher_key()}-seed0.pt"
    shutil.copy(stored, tmp_path / f"soft_targets-{sage.teacher_key()}-seed0.pt")
    with pytest.warns(UserWarning, match=f"made for teacher options {gcn.teacher_key()}, not {sage.teacher_key()}"):
        remade = pipeline.cached_teachers(sage, data, seed=0, teacher_dir=tmp_path)
    assert remade.meta["teachers"][0]["kind"] == "sage"


def test_recomputed_teacher_members_rewritten_as_other_models(tmp_path):
    # A forger can recompute the content hash; the members must still be the models the options build.
    from graphkd.distill import teacher_cache

    cfg, data = DistillConfig(**{**FAST, "teacher": "grand"}), prepare_data(_graph())
    teacher_cache.cached_members(cfg, data, seed=0, teacher_dir=tmp_path)
    path = tmp_path / f"teacher-{cfg.training_key()}-seed0.pt"
    for change in (lambda members: members.clear(), lambda members: members[0]["config"].update(K=2)):
        blob = torch.load(path, weights_only=True)
        change(blob["members"])
        blob["content_hash"] = teacher_cache._members_hash(blob)
        torch.save(blob, path)
        with pytest.warns(UserWarning, match="its members are not the models these options build; making the "
                                             "teacher again"):
            members = teacher_cache.cached_members(cfg, data, seed=0, teacher_dir=tmp_path)
        assert [m.K for m in members] == [8]


def test_error_api_teacher_layer_never_called():
    # GRAND applies its first layer's weight directly, so a hook on lins.0 would never fire.
    cfg = DistillConfig(hint_weight=1.0, teacher_layer="lins.0", **{**FAST, "teacher": "grand"})
    with pytest.raises(GraphkdError, match="teacher layer 'lins.0' of GRAND is not called in its forward pass.*"
                                           "e.g. 'propagation'"):
        run_distillation(cfg, data=_graph(), progress=False)


def test_recomputed_soft_targets_cached_for_another_graph(tmp_path):
    cfg = DistillConfig(**FAST)
    pipeline.cached_teachers(cfg, prepare_data(_graph()), seed=0, teacher_dir=tmp_path)
    changed = prepare_data(_graph(x=torch.rand(6, 3) + 1.0))
    with pytest.warns(UserWarning, match="made for other features, edges or labels.*; making them again"):
        remade = pipeline.cached_teachers(cfg, changed, seed=0, teacher_dir=tmp_path)
    remade.check_compatible(changed)


def test_recomputed_soft_targets_damaged_in_the_cache(tmp_path):
    cfg, data = DistillConfig(**FAST), prepare_data(_graph())
    pipeline.cached_teachers(cfg, data, seed=0, teacher_dir=tmp_path)
    stored = tmp_path / f"soft_targets-{cfg.teacher_key()}-seed0.pt"
    stored.write_bytes(stored.read_bytes()[:200])
    with pytest.warns(UserWarning, match="is not a readable soft-target file.*making them again"):
        pipeline.cached_teachers(cfg, data, seed=0, teacher_dir=tmp_path)
    SoftTargets.load(stored)  # whole again


# ---- Per-seed records and results ------------------------------------------------------------------------

@pytest.fixture
def finished_run(tmp_path):
    cfg = DistillConfig(runs=2, metric="accuracy", **FAST)  # the records' keys are then val_acc, test_acc
    return cfg, run_distillation(cfg, data=_graph(), out=tmp_path, progress=False), tmp_path


def test_recomputed_record_that_was_edited(finished_run):
    cfg, first, out = finished_run
    record = out / "runs" / "seed1.json"
    edited = json.loads(record.read_text())
    edited["student"]["test_acc"] = 0.99
    record.write_text(json.dumps(edited))
    with pytest.warns(UserWarning, match="seed1.json was edited after it was written"):
        again = run_distillation(cfg, data=_graph(), out=out, progress=False)
    assert again["per_seed"][1]["student"]["test_acc"] == first["per_seed"][1]["student"]["test_acc"] != 0.99


def test_recomputed_record_that_is_truncated(finished_run):
    cfg, first, out = finished_run
    record = out / "runs" / "seed0.json"
    record.write_text(record.read_text()[:50])
    with pytest.warns(UserWarning, match="seed0.json is unreadable"):
        again = run_distillation(cfg, data=_graph(), out=out, progress=False)
    assert again["student"] == first["student"]


def test_recomputed_record_of_another_graph(finished_run):
    cfg, first, out = finished_run
    with pytest.warns(UserWarning, match="seed0.json was made with other options or another graph"):
        second = run_distillation(cfg, data=_graph(x=torch.rand(6, 3) + 1.0), out=out, progress=False)
    assert second["per_seed"][0]["data_key"] != first["per_seed"][0]["data_key"]
    assert len(list(out.glob("soft_targets-*-seed0.pt"))) == 1  # the stale soft targets were replaced


def test_recomputed_record_of_other_options_is_not_reused(finished_run):
    cfg, first, out = finished_run
    other = DistillConfig(runs=2, temperature=2.0, **FAST)
    with pytest.warns(UserWarning, match="seed1.json was made with other options or another graph"):
        second = run_distillation(other, data=_graph(), out=out, progress=False)
    assert second["config"]["temperature"] == 2.0
    assert {r["config_key"] for r in second["per_seed"]} == {other.key()} != {cfg.key()}


def test_seed_records_are_reused_by_a_run_over_other_seeds(finished_run, monkeypatch):
    # A seed's record does not depend on which seeds ran with it: seeds 1-2 reuse seed 1 from the run of seeds 0-1.
    cfg, first, out = finished_run
    later = dataclasses.replace(cfg, seed=1, runs=2)
    assert later.key() == cfg.key()
    ran, real = [], pipeline.run_seed
    monkeypatch.setattr(pipeline, "run_seed", lambda c, d, seed, *a, **k: ran.append(seed) or real(c, d, seed, *a, **k))
    second = run_distillation(later, data=_graph(), out=out, progress=False)
    assert ran == [2] and second["per_seed"][0] == first["per_seed"][1]


def test_recomputed_record_of_another_thread_count_is_said(finished_run, monkeypatch):
    cfg, first, out = finished_run
    record = out / "runs" / "seed0.json"
    saved = json.loads(record.read_text())
    saved["threads"] = torch.get_num_threads() + 1
    saved["record_hash"] = records.record_hash(saved)
    record.write_text(json.dumps(saved))
    with pytest.warns(UserWarning, match="seed0.json ran with .* threads, this process has"):
        run_distillation(cfg, data=_graph(), out=out, progress=False)


@pytest.mark.parametrize("depth", [900, 100_000])
def test_recomputed_record_nested_too_deeply(finished_run, depth):
    # Mechanism: exception kinds nobody expects. JSON nested a thousand deep made json.loads raise RecursionError,
    # which killed the run with a traceback; nested just below that, hashing the record could.
    cfg, first, out = finished_run
    record = out / "runs" / "seed0.json"
    saved = json.loads(record.read_text())
    record.write_text(json.dumps({**saved, "student": "STUDENT"}).replace('"STUDENT"', "[" * depth + "]" * depth))
    with pytest.warns(UserWarning, match="seed0.json (is unreadable: its text is not the JSON graphkd writes: it "
                                         "nests arrays or objects too deeply|was edited after it was written)"):
        again = run_distillation(cfg, data=_graph(), out=out, progress=False)
    assert again["student"] == first["student"]


def test_recomputed_record_edited_with_its_hash_made_again(finished_run):
    # Mechanism: exception kinds nobody expects. The hash is no secret: a record edited with its hash made again
    # held a string where the summary reads accuracies, and the run ended in a TypeError.
    cfg, first, out = finished_run
    record = out / "runs" / "seed0.json"
    saved = json.loads(record.read_text())
    saved["student"] = "0.99"
    saved["record_hash"] = records.record_hash(saved)
    record.write_text(json.dumps(saved))
    with pytest.warns(UserWarning, match="seed0.json holds no accuracy in \\[0, 1\\] for 'student'"):
        again = run_distillation(cfg, data=_graph(), out=out, progress=False)
    assert again["student"] == first["student"]


# ---- Training checkpoints --------------------------------------------------------------------------------

def _state():
    model = MLP(3, 4, 2, 2)
    return model, torch.optim.Adam(model.parameters())


def test_error_checkpoint_truncated(tmp_path):
    (tmp_path / "student.ckpt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(GraphkdError, match="student.ckpt is not a readable training checkpoint"):
        load_training_state(tmp_path / "student.ckpt", {}, *_state())


def test_refused_checkpoint_crafted(in_tmp):
    with pytest.raises(GraphkdError, match="student.ckpt is not a training checkpoint: it holds objects other"):
        load_training_state(_crafted(in_tmp / "student.ckpt"), {}, *_state())


def test_refused_checkpoint_of_another_format(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "model.pt")
    with pytest.raises(GraphkdError, match="model.pt is not a graphkd training checkpoint"):
        load_training_state(tmp_path / "model.pt", {}, *_state())


def test_error_checkpoint_damaged_in_a_run_names_it(tmp_path, monkeypatch):
    real_path = pipeline._checkpoint

    def damaged(checkpoints, name):
        path = real_path(checkpoints, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"damaged")
        return path

    monkeypatch.setattr(pipeline, "_checkpoint", damaged)
    with pytest.raises(GraphkdError, match="seed0-baseline.ckpt is not a readable training checkpoint"):
        run_distillation(DistillConfig(runs=1, **FAST), data=_graph(), out=tmp_path, progress=False)


# ---- Model files and exports -----------------------------------------------------------------------------

def test_refused_model_file_crafted(in_tmp):
    with pytest.raises(GraphkdError, match="file.pt is not a graphkd model file: it holds objects other"):
        load_model(_crafted(in_tmp / "file.pt"))


def test_error_model_file_truncated(tmp_path):
    with pytest.raises(GraphkdError, match="file.pt is not a readable graphkd model file"):
        load_model(_truncated_model(tmp_path / "file.pt"))


@pytest.mark.parametrize("config", [{"kind": "mlp", "in_channels": 4, "hidden_channels": 16, "out_channels": 2},
                                    {"kind": "mlp", "in_channels": 4, "unknown_option": 1}])
def test_error_model_file_whose_config_does_not_fit_its_weights(tmp_path, config):
    save_model(MLP(4, 8, 2, 2), tmp_path / "m.pt")
    blob = torch.load(tmp_path / "m.pt", weights_only=True)
    blob["config"] = config
    torch.save(blob, tmp_path / "m.pt")
    with pytest.raises(GraphkdError, match="m.pt: the stored model configuration does not fit its weights"):
        load_model(tmp_path / "m.pt")


@pytest.mark.parametrize("model, args, kwargs, message", [
    (MLP, (3, -1, 2, 2), {}, "hidden_channels must be an integer >= 1, got -1"),
    (GraphSAGE, ("3", 8, 2, 2), {}, "in_channels must be an integer >= 1, got '3'"),
    (MLP, (3.5, 8, 2, 2), {}, "in_channels must be an integer >= 1, got 3.5"),
    (GAT, (3, 8, 2, 2), {"heads": 0}, "heads must be an integer >= 1, got 0"),
    (GCN, (0, 8, 2, 2), {}, "in_channels must be an integer >= 1, got 0"),
    (APPNP, (3, 8, 2, 0), {}, "out_channels must be an integer >= 1, got 0"),
    (GRAND, (3, 8, 0, 2), {}, "num_layers must be an integer >= 1, got 0"),
    (GCN, (3, 8, 2, 2), {"dropout": 2.0}, r"dropout must be a number in \[0, 1\], got 2.0"),
    (MLP, (3, 8, 2, 2), {"dropout": -0.5}, r"dropout must be a number in \[0, 1\], got -0.5"),
], ids=["negative-width", "string-width", "float-width", "no-heads", "zero-width", "zero-classes", "no-layers",
        "gnn-dropout-2", "mlp-dropout-negative"])
def test_error_model_constructor_arguments(model, args, kwargs, message):
    # Mechanism: exception kinds nobody expects (torch's RuntimeError and TypeError for widths of -1, 3.5 or '3',
    # ZeroDivisionError for GAT's heads=0), and ignored without a word (a width of 0 built a model; a dropout of 2
    # or -0.5 built one that failed only at its first forward).
    with pytest.raises(GraphkdError, match=message):
        model(*args, **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"formats": ["tflite"]}, "valid: onnx, torch_export, numpy"),
    ({"formats": []}, "no export format given"),
    ({"example_features": torch.rand(4, 5)}, r"shape \[n >= 2, 6\]"),
    ({"example_features": torch.full((4, 6), float("nan"))}, "NaN"),
    ({"preprocessing": {"standardize": True}}, "valid: row_normalize"),
])
def test_error_export_options(tmp_path, kwargs, message):
    with pytest.raises(GraphkdError, match=message):
        export_student(MLP(6, 5, 2, 3), tmp_path / "out", **kwargs)


def test_error_export_of_a_gnn(tmp_path):
    with pytest.raises(GraphkdError, match="only MLP students"):
        export_student(GCN(6, 4, 2, 3), tmp_path / "out")


def test_error_export_of_a_model_that_records_no_preprocessing(tmp_path):
    save_model(MLP(6, 5, 2, 3), tmp_path / "m.pt", meta={"dataset": "citeseer"})
    with pytest.raises(GraphkdError, match="does not record what was done to its features"):
        export_student(tmp_path / "m.pt", tmp_path / "out")


def test_error_export_fails_and_keeps_the_previous_export_whole(tmp_path, monkeypatch):
    import graphkd.serve.export as export

    export_student(MLP(6, 5, 2, 3), tmp_path / "out", formats=["numpy", "onnx"])
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    monkeypatch.setattr(export, "_write_onnx", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(OSError, match="No space left"):
        export_student(MLP(6, 5, 2, 3), tmp_path / "out", formats=["numpy", "onnx"])
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left behind


@pytest.mark.parametrize("name,content", [("results.json", '{"mine": 1}'), ("results.json", "[[["),
                                          ("results.json", '{"config": {}, "per_seed": [], "my notes": "kept"}'),
                                          ("run.toml", "[data]\ndataset = 'Cora'\n"),
                                          ("student_seed0.pt", "my own weights")])
def test_error_distill_into_a_folder_with_a_users_file_of_a_runs_name(tmp_path, capsys, name, content):
    # Mechanism: destructive writes. graphkd distill --out once replaced a user's results.json or run.toml.
    (tmp_path / name).write_text(content)
    line = _cli_error(["distill", "--runs", "1", "--epochs", "2", "--out", str(tmp_path), "--quiet"], capsys)
    assert f"already holds {name}, which no graphkd run wrote" in line and "choose another --out" in line
    assert [p.name for p in tmp_path.iterdir()] == [name] and (tmp_path / name).read_text() == content


def test_recomputed_record_place_holding_a_users_file_keeps_it(tmp_path):
    # Mechanism: destructive writes. A file at a seed record's place that no run wrote was replaced.
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "seed0.json").write_text('{"my": "notes"}')
    with pytest.warns(UserWarning, match="was not a record a run wrote as it is; kept as seed0.json.replaced"):
        run_distillation(DistillConfig(runs=1, **FAST), data=_graph(), out=tmp_path, progress=False)
    assert (tmp_path / "runs" / "seed0.json.replaced").read_text() == '{"my": "notes"}'
    assert json.loads((tmp_path / "runs" / "seed0.json").read_text())["seed"] == 0


def test_accepted_distill_into_a_folder_of_an_earlier_run_and_a_users_files(finished_run):
    # Mechanism: destructive writes. A run's own files are its to rewrite; the user's stay as they were.
    cfg, _, out = finished_run
    (out / "notes.txt").write_text("mine")
    run_distillation(dataclasses.replace(cfg, temperature=2.0), data=_graph(), out=out, progress=False)
    assert (out / "notes.txt").read_text() == "mine" and json.loads((out / "results.json").read_text())["config"][
        "temperature"] == 2.0


def _listing(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_accepted_export_into_the_run_folder_it_came_from(finished_run, capsys):
    # Mechanism: destructive writes. The export once replaced the whole folder, deleting the run's results,
    # students, seed records and soft targets; it now adds its own files beside them.
    _, _, out = finished_run
    before = _listing(out)
    assert main(["export", "--model", str(out / "student_seed0.pt"), "--out", str(out), "--format", "numpy"]) == 0
    after = _listing(out)
    assert {name: after[name] for name in before} == before  # nothing the run wrote is gone or changed
    assert set(after) - set(before) == {"student.npz", "metadata.json"}
    Predictor.load(out).predict_proba(np.random.default_rng(0).random((2, 3)))
    # exported again, with another format: its own earlier files are replaced, the run's stay
    assert main(["export", "--model", str(out / "student_seed0.pt"), "--out", str(out), "--format", "onnx"]) == 0
    assert set(_listing(out)) - set(before) == {"student.onnx", "metadata.json"}


def test_accepted_export_beside_a_users_files(tmp_path):
    # Mechanism: destructive writes. A user's files in the export folder stay as they were.
    folder = tmp_path / "mine"
    (folder / "notes").mkdir(parents=True)
    (folder / "notes" / "todo.txt").write_text("keep me")
    (folder / "model.pt").write_bytes(b"the user's")
    before = _listing(folder)
    export_student(MLP(6, 5, 2, 3), folder, formats=["numpy"], preprocessing={"row_normalize": False})
    after = _listing(folder)
    assert {name: after[name] for name in before} == before
    assert set(after) - set(before) == {"student.npz", "metadata.json"}


@pytest.mark.parametrize("name,content", [("metadata.json", b'{"mine": 1}'), ("metadata.json", b"not json"),
                                          ("student.npz", b"the user's"), ("positions.npz", b"x")])
def test_error_export_onto_a_file_graphkd_did_not_write(tmp_path, capsys, name, content):
    # Mechanism: destructive writes. A file of an export's name that no export wrote is never replaced.
    save_model(MLP(6, 5, 2, 3), tmp_path / "student.pt", meta={"preprocessing": {"row_normalize": False}})
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / name).write_bytes(content)
    line = _cli_error(["export", "--model", str(tmp_path / "student.pt"), "--out", str(folder)], capsys)
    assert f"already holds {name}, which no graphkd export wrote" in line and "choose another --out" in line
    assert _listing(folder) == {name: content}


def test_error_export_onto_an_exported_file_the_user_changed(tmp_path, capsys):
    # Mechanism: destructive writes. An export's own file edited since is the user's now.
    export_student(MLP(6, 5, 2, 3), tmp_path / "out", formats=["numpy"], preprocessing={"row_normalize": False})
    (tmp_path / "out" / "student.npz").write_bytes(b"edited")
    before = _listing(tmp_path / "out")
    with pytest.raises(GraphkdError, match="already holds student.npz, which no graphkd export wrote"):
        export_student(MLP(6, 5, 2, 3), tmp_path / "out", formats=["numpy"], preprocessing={"row_normalize": False})
    assert _listing(tmp_path / "out") == before


@pytest.fixture
def export_dir(tmp_path):
    export_student(MLP(6, 5, 2, 3), tmp_path / "export", formats=["numpy"], preprocessing={"row_normalize": False})
    return tmp_path / "export"


def _edit_metadata(export_dir, edit):
    meta_path = export_dir / "metadata.json"
    metadata = json.loads(meta_path.read_text())
    edit(metadata)
    meta_path.write_text(json.dumps(metadata))


@pytest.mark.parametrize("listed", ["../elsewhere.npz", "ABSOLUTE", ".", "", ".."])
def test_refused_export_pointing_outside_its_folder(export_dir, listed):
    shutil.copy(export_dir / "student.npz", export_dir.parent / "elsewhere.npz")
    listed = str(export_dir.parent / "elsewhere.npz") if listed == "ABSOLUTE" else listed
    _edit_metadata(export_dir, lambda m: m["files"]["numpy"].update(path=listed))
    with pytest.raises(GraphkdError, match=f"lists '{re.escape(listed)}' as the numpy file, which is not a file in the "
                                           "export folder; refused"):
        Predictor.load(export_dir)


def test_refused_export_file_changed_after_export(export_dir):
    weights = dict(np.load(export_dir / "student.npz"))
    weights["bias_0"] = weights["bias_0"] + 1
    np.savez(export_dir / "student.npz", **weights)
    with pytest.raises(GraphkdError, match="student.npz differs from the file exported"):
        Predictor.load(export_dir)


def test_error_export_file_missing(export_dir):
    (export_dir / "student.npz").unlink()
    with pytest.raises(MissingFileError, match="student.npz is missing"):
        Predictor.load(export_dir)


def test_error_export_folder_without_metadata(tmp_path):
    with pytest.raises(MissingFileError, match="no metadata.json"):
        Predictor.load(tmp_path)


@pytest.mark.parametrize("text", ["{not json", '{"num_features": 6}', "[]", "\udcff"])
def test_error_export_metadata_damaged(export_dir, text):
    (export_dir / "metadata.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(GraphkdError, match="metadata.json is not a graphkd export's metadata"):
        Predictor.load(export_dir)


@pytest.mark.parametrize("kwargs, message", [
    ({"backend": "tensorrt"}, "valid: auto, onnx, torch_export, numpy"),
    ({"backend": "onnx"}, "without the onnx backend; exported: numpy"),
    ({"backend": "numpy", "num_threads": 2}, "OMP_NUM_THREADS"),
])
def test_error_predictor_load_options(export_dir, kwargs, message):
    with pytest.raises(GraphkdError, match=message):
        Predictor.load(export_dir, **kwargs)


@pytest.mark.parametrize("names", [["a"], [1, 2, 3], "abc", ["a", "b", "c", "d"], {"a": 0, "b": 1, "c": 2}])
def test_error_predictor_class_names_export_would_refuse(export_dir, names):
    # Mechanism: ignored without a word. Export checks class names; Predictor.load took whatever metadata.json
    # held, and served names that did not fit the classes.
    with pytest.raises(GraphkdError, match="class_names must be a list of 3 strings"):
        export_student(MLP(6, 5, 2, 3), export_dir.parent / "other", formats=["numpy"],
                       preprocessing={"row_normalize": False}, class_names=names)
    _edit_metadata(export_dir, lambda m: m.update(class_names=names))
    with pytest.raises(GraphkdError, match="metadata.json is not a graphkd export's metadata .*class_names must be"):
        Predictor.load(export_dir)


@pytest.mark.parametrize("kwargs, message", [
    ({"preprocessing": {"row_normalize": "false"}}, "row_normalize must be True or False, got 'false'"),
    ({"preprocessing": {"row_normalize": 0}}, "row_normalize must be True or False, got 0"),
    ({"class_names": [], "meta": {"class_names": ["a", "b", "c"]}}, r"class_names must be a list of 3 strings.*\[\]"),
])
def test_error_export_option_that_was_read_as_something_else(tmp_path, kwargs, message):
    # Mechanism: ignored without a word. bool("false") is True: the export recorded row normalisation the user
    # had said no to; an empty class_names fell back to the model file's names.
    kwargs = {"preprocessing": {"row_normalize": False}, **kwargs}
    with pytest.raises(GraphkdError, match=message):
        export_student(MLP(6, 5, 2, 3), tmp_path / "out", formats=["numpy"], **kwargs)


# ---- Predictor inputs ------------------------------------------------------------------------------------

def _nan_row():
    x = np.ones((4, 6), np.float32)
    x[2, 3] = np.nan
    return x


@pytest.fixture(scope="module")
def predictors(tmp_path_factory):
    """One exported student loaded with each backend: the checks must not depend on the backend."""
    out = tmp_path_factory.mktemp("export")
    export_student(MLP(6, 5, 2, 3), out, preprocessing={"row_normalize": False})
    return {backend: Predictor.load(out, backend=backend) for backend in BACKENDS}


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # NaN through the matmul
@pytest.mark.parametrize("features, message", [
    (lambda: __import__("scipy.sparse").sparse.csr_matrix(np.ones((2, 6))),
     r"features must be a dense array, got a SciPy sparse csr_matrix: give features.toarray\(\)"),
    (lambda: np.full((2, 6), 1e300), "features hold 12 finite value\\(s\\) beyond float32's range"),
    (lambda: [[1e300] * 6], "features hold 6 finite value\\(s\\) beyond float32's range"),
    (lambda: None, "features is None: give an array of real numbers"),
    (lambda: [[1, 2], [1, 2, 3, 4, 5, 6]], "features must be real numbers, got list"),
])
def test_error_predictor_features_said_for_what_they_are(predictors, features, message):
    # Mechanism: messages that mislead (a SciPy matrix "must be numbers"; finite float64 values "NaN or inf"; None
    # "got shape []"), and exception kinds nobody expects (a ragged list raised a bare ValueError).
    for predictor in predictors.values():
        with pytest.raises(GraphkdError, match=message):
            predictor.predict_proba(features())


def test_error_predictor_metadata_nested_too_deeply(export_dir):
    # Mechanism: exception kinds nobody expects (json's RecursionError escaped Predictor.load).
    (export_dir / "metadata.json").write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(GraphkdError, match="is not a graphkd export's metadata \\(RecursionError"):
        Predictor.load(export_dir)


@pytest.mark.parametrize("kwargs, message", [
    ({"example_features": np.ones((3, 6))}, None),
    ({"example_features": "abc"}, "example_features must be an array of real numbers, got a str"),
    ({"example_features": np.full((3, 6), 1e300)}, "example_features holds 18 finite value\\(s\\) beyond float32"),
    ({"formats": 5}, "formats must be a format name or a list of them \\(onnx, torch_export, numpy\\), got int"),
])
def test_error_export_inputs_said_for_what_they_are(tmp_path, kwargs, message):
    # Mechanism: exception kinds nobody expects (formats=5 raised TypeError) and messages that mislead (float64
    # example features beyond float32's range were "NaN or inf").
    options = {"formats": ["numpy"], **kwargs}
    if message is None:  # float64 features in range are taken
        export_student(MLP(6, 5, 2, 3), tmp_path / "out", **options)
        return
    with pytest.raises(GraphkdError, match=message):
        export_student(MLP(6, 5, 2, 3), tmp_path / "out", **options)
    assert not (tmp_path / "out" / "metadata.json").exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"meta": [1]}, "meta must be a dict of JSON values or None, got list"),
    ({"out_dir": None}, "out_dir must be the path of a folder, got NoneType"),
])
def test_error_export_meta_or_folder_of_the_wrong_kind(tmp_path, kwargs, message):
    # Mechanism: exception kinds nobody expects: a TypeError from dict() and from pathlib.
    with pytest.raises(GraphkdError, match=message):
        export_student(MLP(6, 5, 2, 3), **{"out_dir": tmp_path / "out", "formats": ["numpy"], **kwargs})


def test_error_sharded_manifest_nested_too_deeply(tmp_path):
    # Mechanism: exception kinds nobody expects (json's RecursionError escaped read_logits).
    from graphkd.large.sharded import read_logits

    (tmp_path / "manifest.json").write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(GraphkdError, match="manifest.json is not the JSON graphkd writes"):
        read_logits(tmp_path / "manifest.json")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("features, message", [
    (np.zeros((4, 5), np.float32), r"shape \[n, 6\] or \[6\], got \[4, 5\]"),
    (np.zeros(7, np.float32), r"got \[7\]"),
    (np.float32(1.0), r"got \[\]"),
    (np.zeros((2, 3, 6), np.float32), r"got \[2, 3, 6\]"),
    (_nan_row(), r"1 NaN or inf value\(s\) in row\(s\) \[2\]"),
    (np.full(6, np.inf, np.float32), "NaN or inf"),
    (np.ones((2, 6)) + 1j, "features must be real numbers, got complex values"),
    (np.array([["a"] * 6]), "features must be real numbers, got ndarray"),
])
def test_error_predictor_features(predictors, backend, features, message):
    with pytest.raises(GraphkdError, match=message):
        predictors[backend].predict_proba(features)


def test_error_predictor_negative_features_under_row_normalisation(tmp_path):
    export_student(MLP(6, 5, 2, 3), tmp_path, formats=["numpy"], preprocessing={"row_normalize": True})
    x = np.ones((3, 6), np.float32)
    x[2, 4] = -5.0
    with pytest.raises(GraphkdError, match="row 2 has negative values"):
        Predictor.load(tmp_path).predict_proba(x)


@pytest.fixture
def position_export(tmp_path):
    positions = {"kind": "spectral", "dim": 2, "new_node": "the mean of its neighbours' position features"}
    export_student(MLP(8, 5, 2, 3), tmp_path, formats=["numpy"], preprocessing={"row_normalize": False},
                   meta={"position_features": positions})
    return Predictor.load(tmp_path)


@pytest.mark.parametrize("positions, message", [
    (None, "2 spectral position features per node.*mean of its neighbours"),
    (np.ones((5, 1), np.float32), r"positions must have shape \[5, 2\]"),
    (np.full((5, 2), np.nan, np.float32), "positions hold 10 NaN or inf"),
    (np.ones((5, 2)) + 1j, "positions must be real numbers"),
])
def test_error_predictor_positions(position_export, positions, message):
    with pytest.raises(GraphkdError, match=message):
        position_export.predict_proba(np.ones((5, 6), np.float32), positions)


def test_error_predictor_positions_for_a_student_without_them(export_dir):
    with pytest.raises(GraphkdError, match="trained without position features"):
        Predictor.load(export_dir).predict_proba(np.ones((1, 6), np.float32), np.ones((1, 2), np.float32))


def test_refused_raw_pickle_where_a_pytorch_file_belongs(in_tmp):
    (in_tmp / "file.pt").write_bytes(pickle.dumps(RunsCode()))
    with pytest.raises(GraphkdError, match="file.pt is not a readable graphkd model file .not written by torch.save"):
        load_model(in_tmp / "file.pt")


@pytest.mark.parametrize("field,value,message", [
    ("student_batch_norm", "no", "student_batch_norm must be True or False, got 'no'"),
    ("root", 123, "root must be the path of a data folder or None, got 123"),
    ("dataset", 123, "dataset must be a name, got 123"),
    ("split", 5, "split must be a name or None, got 5"),
])
def test_error_api_config_field_of_the_wrong_kind(field, value, message):
    # Mechanism: ignored without a word ("no" read as on) and exception kinds nobody expects (root=123 reached
    # Path() as a TypeError at run time).
    with pytest.raises(GraphkdError, match=re.escape(message)):
        DistillConfig(**{field: value})


def test_error_api_setting_with_a_given_teacher():
    with pytest.raises(GraphkdError, match="the inductive setting holds test nodes out before the teacher trains"):
        DistillConfig(teacher=torch.zeros(6, 2), setting="inductive")


@pytest.mark.parametrize("argv, message", [
    (["--setting", "online"], "invalid choice: 'online'"),
    (["--setting", "production", "--arrival-fraction", "1.0"], "arrival_fraction must be a number in [0.01, 0.99]"),
])
def test_error_cli_setting(argv, message, capsys):
    assert message in _cli_error(["distill", "--quiet", "--runs", "1", *argv], capsys)


# ---- Found in the second hostile trial ------------------------------------------------------------------

def test_recomputed_record_copied_from_another_seed(finished_run):
    cfg, first, out = finished_run
    (out / "runs" / "seed0.json").write_text((out / "runs" / "seed1.json").read_text())
    with pytest.warns(UserWarning, match="seed0.json is not the record of seed 0"):
        again = run_distillation(cfg, data=_graph(), out=out, progress=False)
    assert [r["seed"] for r in again["per_seed"]] == [0, 1] and again["student"] == first["student"]


def test_recomputed_record_that_is_not_an_object(finished_run):
    cfg, first, out = finished_run
    (out / "runs" / "seed0.json").write_text("[1, 2]")
    with pytest.warns(UserWarning, match="seed0.json is not the record of seed 0"):
        assert run_distillation(cfg, data=_graph(), out=out, progress=False)["student"] == first["student"]


@pytest.mark.parametrize("edit, message", [
    (lambda g: g.update({"abc": [1]}), "adjacency lists must map node ids to lists of node ids"),
    (lambda g: g[0].append(-5), "negative node id -5"),
])
def test_error_data_root_bad_adjacency_lists(data_root, tmp_path, edit, message):
    from graphkd.data.raw import safe_unpickle

    shutil.copytree(data_root / "Cora", tmp_path / "Cora")
    path = tmp_path / "Cora" / "raw" / "ind.cora.graph"
    graph = dict(safe_unpickle(path))
    edit(graph)
    path.write_bytes(pickle.dumps(graph))
    with pytest.raises(GraphkdError, match=message):
        load_dataset("Cora", root=tmp_path)


def test_error_api_graph_without_features():
    with pytest.raises(GraphkdError, match="at least one node and one feature, got \\(6, 0\\)"):
        check_graph(_graph(x=torch.zeros(6, 0)))


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(num_features=10), r"student.npz is not a loadable numpy student .*size 6 is different from 10"),
    (lambda m: m.update(num_classes=4), r"student.npz maps 6 features to 3 outputs; .*metadata.json says 4 classes"),
    (lambda m: m["files"]["numpy"].pop("sha256"), "must hold a path and a sha256"),
    (lambda m: m.update(preprocessing=None), "is not a graphkd export's metadata"),
    (lambda m: m.update(position_features={"dim": -3}), "position_features must hold an integer dim"),
    (lambda m: m["preprocessing"].update(row_normalize="no"), "row_normalize must be true or false"),
])
def test_error_export_metadata_of_the_wrong_type_or_shape(export_dir, edit, message):
    _edit_metadata(export_dir, edit)
    with pytest.raises(GraphkdError, match=message):
        Predictor.load(export_dir)


def test_error_export_file_damaged_with_its_hash_updated(export_dir):
    import hashlib

    path = export_dir / "student.npz"
    path.write_bytes(path.read_bytes()[:60])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    _edit_metadata(export_dir, lambda m: m["files"]["numpy"].update(sha256=digest))
    with pytest.raises(GraphkdError, match="student.npz is not a loadable numpy student"):
        Predictor.load(export_dir)


def test_error_export_of_something_that_is_no_model(tmp_path):
    with pytest.raises(GraphkdError, match="export a torch.nn.Module or the path of a saved model, got int"):
        export_student(42, tmp_path / "out")


def test_error_spectral_positions_of_edges_outside_the_graph():
    from graphkd.distill.positions import spectral_positions

    with pytest.raises(GraphkdError, match=r"outside \[0, 3\)"):
        spectral_positions(torch.tensor([[0, 9], [9, 0]]), 3, 1)


# ---- Found in the second hostile trial: what was left, and the messages that confused -------------------

def test_error_checkpoint_changed_after_it_was_written(tmp_path):
    from graphkd.checkpoint import save_training_state

    model, optimizer = _state()
    path = save_training_state(tmp_path / "student.ckpt", {}, 7, model, optimizer, model.state_dict(), 0.5, 2)
    blob = torch.load(path, weights_only=True)
    blob["best_acc"] = 0.99  # still a loadable checkpoint, with another best accuracy
    torch.save(blob, path)
    with pytest.raises(GraphkdError, match="student.ckpt was changed after it was written"):
        load_training_state(path, {}, *_state())
    assert save_training_state(path, {}, 7, model, optimizer, model.state_dict(), 0.5, 2)
    assert load_training_state(path, {}, *_state())["best_acc"] == 0.5  # unedited, it resumes


def test_recomputed_record_beside_another_runs_student(finished_run):
    cfg, first, out = finished_run
    other = DistillConfig(runs=2, temperature=2.0, **FAST)
    kept = (out / "runs" / "seed0.json").read_text()  # a backup of the first run's record
    run_distillation(other, data=_graph(), out=out, progress=False)  # overwrites student_seed0.pt
    (out / "runs" / "seed0.json").write_text(kept)
    with pytest.warns(UserWarning, match="student_seed0.pt is missing or is not the student that .*seed0.json "
                                         "describes"):
        again = run_distillation(cfg, data=_graph(), out=out, progress=False)
    assert again["student"] == first["student"]
    _, meta = load_model(out / "student_seed0.pt")
    assert meta["temperature"] == cfg.temperature  # the file matches the record again


def test_error_atomic_write_onto_a_folder_names_it(tmp_path):
    from graphkd.io import atomic_save

    (tmp_path / "target").mkdir()
    with pytest.raises(GraphkdError, match="target is a folder; a file was to be written there") as info:
        atomic_save({}, tmp_path / "target")
    assert ".tmp" not in str(info.value)


def test_error_model_config_that_does_not_fit_says_which_weights(tmp_path):
    torch.save({"config": MLP(4, 8, 2, 2).config(), "state_dict": MLP(4, 16, 2, 2).state_dict(), "meta": {}},
               tmp_path / "model.pt")
    with pytest.raises(GraphkdError, match="does not fit its weights .*size mismatch for"):
        load_model(tmp_path / "model.pt")


def test_error_model_file_that_is_text(tmp_path):
    (tmp_path / "model.pt").write_text("hello, not a model")
    with pytest.raises(GraphkdError, match="model.pt is not a readable graphkd model file \\(not written by "
                                           "torch.save, or damaged"):
        load_model(tmp_path / "model.pt")


def test_accepted_numpy_numbers_as_options_become_python_numbers():
    cfg = DistillConfig(runs=np.int64(2), temperature=np.float32(2.0), student_hidden=np.int32(16), **FAST)
    assert (cfg.runs, cfg.temperature, cfg.student_hidden) == (2, 2.0, 16)
    assert type(cfg.runs) is int and type(cfg.student_hidden) is int
    json.dumps(cfg.describe())  # NumPy scalars would not serialise
    with pytest.raises(GraphkdError, match="runs must be an integer"):
        DistillConfig(runs=np.float64(2.5))


def test_accepted_numpy_floats_leave_readable_files(tmp_path):
    # np.float64 is a float subclass: kept as it was, it reached a model's config and made the saved student (and a
    # cached teacher) a file that weights_only loading refuses.
    cfg = DistillConfig(runs=1, student_dropout=np.float64(0.3), teacher_node_dropout=np.float64(0.3),
                        teacher="grand", teacher_consistency=1, epochs=3, patience=3)
    assert type(cfg.student_dropout) is float and type(cfg.teacher_consistency) is float
    assert cfg.key() == DistillConfig(runs=1, student_dropout=0.3, teacher_node_dropout=0.3, teacher="grand",
                                      teacher_consistency=1.0, epochs=3, patience=3).key()
    run_distillation(cfg, data=_graph(), out=tmp_path, progress=False)
    model, _ = load_model(tmp_path / "student_seed0.pt")
    assert model.dropout == 0.3


def test_error_option_set_after_making_the_config():
    cfg = DistillConfig(runs=1, **FAST)
    cfg.temperature = 0.0
    with pytest.raises(GraphkdError, match="temperature"):
        run_distillation(cfg, data=_graph(), progress=False)
    cfg.temperature, cfg.student = 1.0, "transformer"
    with pytest.raises(GraphkdError, match="student"):
        run_distillation(cfg, data=_graph(), progress=False)


def test_accepted_numpy_logits_as_the_teacher_equal_tensor_logits():
    logits = np.random.default_rng(0).normal(size=(6, 2)).astype(np.float32)
    as_array = run_distillation(DistillConfig(runs=1, teacher=logits, epochs=3, patience=3), data=_graph(),
                                progress=False)
    as_tensor = run_distillation(DistillConfig(runs=1, teacher=torch.from_numpy(logits), epochs=3, patience=3),
                                 data=_graph(), progress=False)
    assert as_array["student"] == as_tensor["student"]
    with pytest.raises(GraphkdError, match="teacher logits must be a numeric array, got dtype object"):
        DistillConfig(teacher=np.array([object()]))


@pytest.mark.parametrize("stored, message", [
    ({}, r"hold no teacher representation, which .* capture one with the logits"),
    ({"a": torch.zeros(6, 2), "b": torch.zeros(6, 2)}, r"several teacher representations \(stored: a, b\); name one "
                                                       "with teacher_layer"),
])
def test_error_soft_targets_with_no_single_representation(made_targets, stored, message):
    targets = made_targets[1]
    several = SoftTargets(targets.logits, targets.node_index, targets.meta, hidden=stored)
    with pytest.raises(GraphkdError, match=message):
        several.hidden_layer()
    if not stored:  # naming a layer cannot help either
        with pytest.raises(GraphkdError, match="capture one with the logits"):
            several.hidden_layer("convs.0")


def test_recomputed_soft_targets_warning_names_the_file_once(tmp_path):
    cfg, data = DistillConfig(**FAST), prepare_data(_graph())
    pipeline.cached_teachers(cfg, data, seed=0, teacher_dir=tmp_path)
    stored = tmp_path / f"soft_targets-{cfg.teacher_key()}-seed0.pt"
    stored.write_bytes(b"damaged")
    with pytest.warns(UserWarning) as said:
        pipeline.cached_teachers(cfg, data, seed=0, teacher_dir=tmp_path)
    assert str(said[0].message).count(str(stored)) == 1


def test_error_cli_root_that_is_a_file(tmp_path, capsys):
    (tmp_path / "root").write_text("not a folder")
    line = _cli_error(["distill", "--root", str(tmp_path / "root"), "--runs", "1", "--quiet"], capsys)
    assert "data root" in line and "is a file; give the folder that holds <Name>/raw/" in line


# ---- Label-space union and born-again rounds ------------------------------------------------------------

@pytest.mark.parametrize("class_sets, message", [
    ([["a"], ["b"]], "a class set is a non-empty list of distinct integer class ids >= 0 below 2"),
    (3, "class_sets must be a list of class sets, one per teacher"),
    ([], "class_sets must be a list of class sets, one per teacher"),
])
def test_error_union_of_class_sets_that_are_no_classes(class_sets, message):
    from graphkd.distill import union_teacher

    with pytest.raises(GraphkdError, match=message):
        union_teacher(DistillConfig(**FAST), _graph(), class_sets)


@pytest.mark.parametrize("logits, message", [
    ([torch.full((6, 1), float("nan")), torch.zeros(6, 1)], "teacher 0's logits holds 6 NaN or inf value"),
    ([np.array([RunsCode()]), torch.zeros(6, 1)], "teacher logits and weights must be numeric tensors or arrays"),
])
def test_error_union_of_logits_that_are_not_numbers(logits, message):
    from graphkd.distill import union_logits

    with pytest.raises(GraphkdError, match=message):
        union_logits(logits, [[0], [1]], torch.full((6, 2), 0.5))


@pytest.mark.parametrize("change, message", [
    ({"y": torch.tensor([0, -2, 0, 1, 1, 1])}, "data.y holds 1 negative label"),
    ({"train_mask": None}, "data.train_mask is missing"),
])
def test_error_born_again_on_a_graph_that_does_not_check(change, message):
    from graphkd.distill import born_again

    graph = _graph()
    for key, value in change.items():
        if value is None:
            del graph[key]
        else:
            graph[key] = value
    with pytest.raises(GraphkdError, match=message):
        born_again(DistillConfig(**FAST), graph, rounds=1, kind="mlp")



# ---- Found in the third hostile trial -------------------------------------------------------------------

def _killed_fit(checkpoint, kill_at=3):
    """Train an MLP with a checkpoint every epoch and stop it at epoch ``kill_at``, as ``kill -9`` would."""
    from graphkd.training import TrainConfig, fit

    model, epochs = MLP(3, 4, 2, 2), []

    def step(optimizer):
        epochs.append(len(epochs))
        if len(epochs) > kill_at:
            raise KeyboardInterrupt
        return 0.0

    try:
        fit(model, step, lambda: 0.5, TrainConfig(epochs=10, patience=10), checkpoint=checkpoint, checkpoint_every=1)
    except KeyboardInterrupt:
        pass
    return model


@pytest.mark.parametrize("copied_to", ["run-a/seed0-baseline.ckpt", "run-a/seed1-student.ckpt",
                                       "run-b/seed0-student.ckpt"])
def test_refused_checkpoint_copied_from_another_seed_role_or_run(tmp_path, copied_to):
    from graphkd.training import TrainConfig, fit

    _killed_fit(tmp_path / "run-a" / "seed0-student.ckpt")
    (tmp_path / copied_to).parent.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "run-a" / "seed0-student.ckpt", tmp_path / copied_to)
    with pytest.raises(GraphkdError, match=r"belongs to a different model or training configuration \(where:"):
        fit(MLP(3, 4, 2, 2), lambda optimizer: 0.0, lambda: 0.5, TrainConfig(epochs=10, patience=10),
            checkpoint=tmp_path / copied_to)


def test_error_checkpoint_path_that_is_a_folder(tmp_path):
    (tmp_path / "seed0-baseline.ckpt").mkdir()
    with pytest.raises(GraphkdError, match="seed0-baseline.ckpt is a folder, not a file"):
        load_training_state(tmp_path / "seed0-baseline.ckpt", {}, *_state())


@pytest.mark.parametrize("argv, message", [
    (["--threads", "0"], "argument --threads: must lie in [1,"),
    (["--fanouts", "0"], "argument --fanouts: must lie in [1, inf], got 0"),
    (["--teacher-dropout", "1.5"], "argument --teacher-dropout: must lie in [0.0, 0.95], got 1.5"),
    (["--student-lr", "nan"], "argument --student-lr: must lie in (0.0, 10.0], got nan"),
    (["--chunk-size", "x"], "argument --chunk-size: expected an integer, got 'x'"),
])
def test_error_large_distill_option(argv, message, capsys):
    from graphkd.large.distill import main as large_main

    with pytest.raises(SystemExit) as exit_info:
        large_main(["--graph", "arxiv", "--out", "unused", *argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err and message in err


@pytest.mark.parametrize("argv, message", [
    (["--seed", "99999999999999999999999"], "argument --seed: must lie in [0, 2147483647]"),
    (["--student-hidden", "99999999999"], "argument --student-hidden: must lie in [1, 65536]"),
    (["--teacher-hidden", "99999999999"], "argument --teacher-hidden: must lie in [1, 65536]"),
])
def test_error_large_distill_seed_or_width_torch_cannot_take(argv, message, capsys):
    # Mechanism: exception kinds nobody expects. A seed of 10**22 ended in torch's ValueError "Overflow when
    # unpacking long long" as a traceback; a width of 10**11 in the allocator's RuntimeError.
    from graphkd.large.distill import main as large_main

    with pytest.raises(SystemExit) as exit_info:
        large_main(["--graph", "arxiv", "--out", "unused", *argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and "Traceback" not in err


def test_error_large_distill_out_is_a_file(tmp_path, capsys):
    from graphkd.large.distill import main as large_main

    (tmp_path / "out").write_text("a file")
    with pytest.raises(SystemExit) as exit_info:
        large_main(["--graph", "arxiv", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "graphkd.large.distill: error: output folder" in capsys.readouterr().err


@pytest.mark.parametrize("options, message", [
    ({"split": "random", "labels_per_class": 2.5}, "labels_per_class must be an integer >= 1, got 2.5"),
    ({"split": "random", "labels_per_class": True}, "labels_per_class must be an integer >= 1, got True"),
    ({"split": "random", "labels_per_class": 0}, "labels_per_class must be an integer >= 1, got 0"),
])
def test_error_load_dataset_labels_per_class(options, message):
    with pytest.raises(GraphkdError, match=message):
        load_dataset("CSBM", **options)


def test_error_load_dataset_labels_per_class_with_a_fixed_split(data_root):
    with pytest.raises(GraphkdError, match="labels_per_class=5 draws a random split: the 'public' split of Cora"):
        load_dataset("Cora", data_root, split="public", labels_per_class=5)


@pytest.mark.parametrize("argv, message", [
    (["--batch-sizes", ","], "argument --batch-sizes: expected integers >= 0 joined by '-' or ','"),
    (["--depths", "-1"], "argument --depths: expected integers >= 0"),
    (["--repeats", "0"], r"repeats must lie in \[1, 10000\], got 0"),
    (["--teacher-hidden", "0"], r"teacher_hidden must lie in \[1, 65536\], got 0"),
    (["--sparsity", "1"], r"sparsity must lie in \[0, 1\), got 1.0"),
    (["--threads", "1-1"], r"threads repeats a value: \(1, 1\)"),
    (["--nodes", "1000000000"], r"nodes must lie in \[1, 100000\]"),
])
def test_error_cli_bench_latency_option(argv, message, capsys):
    assert re.search(message, _cli_error(["bench", "latency", "--datasets", "CSBM", "--quiet", *argv], capsys))
