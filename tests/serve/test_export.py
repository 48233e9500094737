"""Exporting MLP students: folded NumPy weights, files, metadata, dynamic batch axis, errors, CLI."""
import argparse
import hashlib
import json

import numpy as np
import pytest
import torch

from graphkd.cli import main
from graphkd.models import MLP, save_model
from graphkd.serve.export import FILES, add_parser, export_student, fold_batch_norm


def _student(num_layers=2, batch_norm=True, seed=0):
    torch.manual_seed(seed)
    model = MLP(6, 5, num_layers, 3, norm="batch_norm" if batch_norm else None)
    for norm in model.norms:  # non-trivial running statistics, as after training
        if isinstance(norm, torch.nn.BatchNorm1d):
            norm.running_mean.normal_()
            norm.running_var.uniform_(0.5, 2.0)
            norm.weight.data.uniform_(0.5, 1.5)
            norm.bias.data.normal_()
    return model.eval()


def test_fold_batch_norm_golden():
    model = MLP(2, 2, 2, 1, norm="batch_norm").eval()
    lin, norm = model.lins[0], model.norms[0]
    lin.weight.data = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # [out, in]
    lin.bias.data = torch.tensor([0.5, -1.0])
    norm.eps = 0.0
    norm.running_mean.copy_(torch.tensor([1.0, 2.0]))
    norm.running_var.copy_(torch.tensor([4.0, 16.0]))
    norm.weight.data = torch.tensor([2.0, 1.0])
    norm.bias.data = torch.tensor([0.0, 3.0])
    (w0, b0), (w1, b1) = fold_batch_norm(model)
    # scale = gamma / sqrt(var) = [1, 0.25]; W' = W^T * scale; b' = (b - mean) * scale + beta
    np.testing.assert_allclose(w0, [[1.0, 0.75], [2.0, 1.0]])
    np.testing.assert_allclose(b0, [-0.5, 2.25])
    np.testing.assert_allclose(w1, model.lins[1].weight.detach().numpy().T)
    assert w0.dtype == np.float32 and w0.flags.c_contiguous


@pytest.mark.parametrize("num_layers,batch_norm", [(1, False), (2, True), (3, True), (3, False)])
def test_folded_weights_reproduce_eager(num_layers, batch_norm):
    model = _student(num_layers, batch_norm)
    x = torch.randn(9, 6)
    h = x.numpy()
    layers = fold_batch_norm(model)
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    assert np.abs(h - model(x).detach().numpy()).max() < 1e-5


def test_export_from_file_writes_files_and_metadata(tmp_path):
    model = _student()
    save_model(model, tmp_path / "student.pt",
               meta={"dataset": "Cora", "split": "public", "seed": 3, "soft_targets": "abc123", "temperature": 2.0,
                     "preprocessing": {"row_normalize": True}})
    out = tmp_path / "export"
    returned = export_student(tmp_path / "student.pt", out)
    assert set(returned["max_abs_diff"]) == {"onnx", "torch_export", "numpy"}
    assert all(diff < 1e-5 for diff in returned["max_abs_diff"].values())
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["num_features"] == 6 and metadata["num_classes"] == 3 and metadata["hidden_sizes"] == [5]
    assert (metadata["dataset"], metadata["split"], metadata["seed"]) == ("Cora", "public", 3)
    assert metadata["soft_targets_hash"] == "abc123" and metadata["temperature"] == 2.0
    assert metadata["preprocessing"] == {"row_normalize": True}  # as the model file records
    assert metadata["model"] == model.config()
    for fmt, name in FILES.items():
        assert metadata["files"][fmt]["path"] == name
        assert metadata["files"][fmt]["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert sorted(p.name for p in out.iterdir()) == sorted([*FILES.values(), "metadata.json"])


def test_export_preprocessing_default_and_override(tmp_path):
    model = _student(1, False)
    custom = export_student(model, tmp_path / "a", formats=["numpy"])  # a bare module: nothing was done
    assert custom["preprocessing"] == {"row_normalize": False}
    # Never guessed from a name: a user's graph called "citeseer" was not row-normalised.
    recorded = export_student(model, tmp_path / "c", formats=["numpy"],
                              meta={"dataset": "citeseer", "preprocessing": {"row_normalize": False}})
    assert recorded["preprocessing"] == {"row_normalize": False}
    with pytest.raises(ValueError, match="does not record what was done to its features"):
        export_student(model, tmp_path / "d", formats=["numpy"], meta={"dataset": "CiteSeer"})
    forced = export_student(model, tmp_path / "b", formats="numpy", preprocessing={"row_normalize": True},
                            class_names=["a", "b", "c"])
    assert forced["preprocessing"] == {"row_normalize": True} and forced["class_names"] == ["a", "b", "c"]
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["metadata.json", "student.npz"]
    for names in (["a"], "abc", [1, 2, 3]):  # one string per class
        with pytest.raises(ValueError, match="class_names must be a list of 3 strings"):
            export_student(model, tmp_path / "e", formats="numpy", class_names=names)
    save_model(model, tmp_path / "student.pt", meta={"preprocessing": {"row_normalize": False}})
    assert main(["export", "--model", str(tmp_path / "student.pt"), "--out", str(tmp_path / "f"), "--format", "numpy",
                 "--class-names", "cat", "dog", "fish"]) == 0
    assert json.loads((tmp_path / "f" / "metadata.json").read_text())["class_names"] == ["cat", "dog", "fish"]


def test_onnx_has_dynamic_batch_axis(tmp_path):
    import onnx

    export_student(_student(), tmp_path, formats=["onnx"])
    graph = onnx.load(tmp_path / "student.onnx").graph
    (inp,), (out,) = graph.input, graph.output
    assert (inp.name, out.name) == ("features", "probabilities")
    assert inp.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert inp.type.tensor_type.shape.dim[1].dim_value == 6


def test_cli_export(tmp_path, capsys):
    save_model(_student(), tmp_path / "student.pt", meta={"dataset": "Photo"})
    parser = argparse.ArgumentParser(prog="graphkd")
    add_parser(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["export", "--help"])
    assert exit_info.value.code == 0 and "--row-normalize" in capsys.readouterr().out
    args = parser.parse_args(["export", "--model", str(tmp_path / "student.pt"), "--out", str(tmp_path / "out"),
                              "--format", "numpy", "--row-normalize", "yes"])
    assert args.func(args) == 0
    assert "student.npz" in capsys.readouterr().out
    metadata = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert list(metadata["files"]) == ["numpy"] and metadata["preprocessing"] == {"row_normalize": True}


def test_a_new_export_replaces_the_previous_one_whole(tmp_path):
    # A failed export leaves the previous one untouched: see tests/test_catalogue.py.
    first = export_student(_student(), tmp_path / "out", formats=["numpy", "onnx"])
    second = export_student(_student(seed=1), tmp_path / "out", formats=["numpy"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["metadata.json", "student.npz"]
    assert second["files"]["numpy"]["sha256"] != first["files"]["numpy"]["sha256"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left behind
