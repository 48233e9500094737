"""Every task through serving: a multi-label run on the synthetic graph end to end (teacher, labels-only MLP,
student, export, Predictor), exported multi-label students against eager sigmoids, and a binary export."""
import json

import numpy as np
import pytest
import torch

from graphkd import GraphkdError
from graphkd.data import csbm, multilabel_csbm
from graphkd.distill import DistillConfig, run_distillation
from graphkd.models import MLP, load_model
from graphkd.serve.export import FILES, export_student
from graphkd.serve.predictor import BACKENDS, Predictor
from graphkd.tasks import Task

FAST = {"runs": 1, "teacher": "sage", "epochs": 100, "patience": 30, "student_hidden": 64}


def test_multilabel_csbm_is_seeded_multilabel_and_split():
    graph = multilabel_csbm(num_nodes=200, num_labels=5, seed=3)
    again = multilabel_csbm(num_nodes=200, num_labels=5, seed=3)
    assert graph.y.shape == (200, 5) and set(graph.y.unique().tolist()) == {0, 1}
    for key in ("x", "y", "edge_index", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(graph[key], again[key])
    assert not torch.equal(graph.y, multilabel_csbm(num_nodes=200, num_labels=5, seed=4).y)
    assert (graph.train_mask.long() + graph.val_mask.long() + graph.test_mask.long() == 1).all()
    assert (graph.train_mask.sum(), graph.val_mask.sum()) == (80, 40)
    assert ((graph.y.sum(0) > 0) & (graph.y.sum(0) < 200)).all()  # every label has both values
    assert (graph.edge_index[0] != graph.edge_index[1]).all()
    with pytest.raises(GraphkdError, match="label_noise"):
        multilabel_csbm(label_noise=0.5)


@pytest.fixture(scope="module")
def multilabel_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("multilabel-run")
    data = multilabel_csbm(seed=0)
    summary = run_distillation(DistillConfig(**FAST), data=data, out=out, progress=False)
    return data, summary, out


def test_multilabel_run_is_scored_by_mean_roc_auc(multilabel_run):
    data, summary, out = multilabel_run
    assert (summary["task"], summary["metric"]) == ("multilabel", "roc_auc")
    teacher, mlp, student = (summary[role]["test_roc_auc_mean"] for role in ("teacher", "baseline_mlp", "student"))
    assert teacher > mlp + 0.1  # the labels follow the communities, which the neighbourhood tells
    assert student > mlp + 0.05 and summary["student_beats_labels_only_on_validation"]
    record = summary["per_seed"][0]
    assert (record["task"], record["metric"]) == ("multilabel", "roc_auc") and "majority_rate" not in record
    # The student's score is the per-label ROC-AUC averaged over labels, as OGB's Evaluator does.
    model, meta = load_model(out / "student_seed0.pt")
    with torch.no_grad():
        logits = model(data.x)
    assert Task("multilabel").score(logits[data.test_mask], data.y[data.test_mask]) == pytest.approx(student)
    assert (meta["task"], meta["metric"]) == ("multilabel", "roc_auc")
    assert meta["scores"] == {"val_roc_auc": record["student"]["val_roc_auc"], "test_roc_auc": student}


def test_multilabel_student_exported_and_served(multilabel_run, tmp_path):
    data, summary, out = multilabel_run
    metadata = export_student(out / "student_seed0.pt", tmp_path)
    assert all(diff < 1e-5 for diff in metadata["max_abs_diff"].values())
    written = json.loads((tmp_path / "metadata.json").read_text())
    assert (written["task"], written["metric"], written["num_classes"]) == ("multilabel", "roc_auc", 6)
    assert written["scores"]["test_roc_auc"] == summary["student"]["test_roc_auc_mean"]
    assert "sigmoid" in written["output"] and "sigmoid" in written["numpy_layout"]
    model, _ = load_model(out / "student_seed0.pt")
    with torch.no_grad():
        expected = torch.sigmoid(model(data.x)).numpy()
    x = data.x.numpy()
    for backend in BACKENDS:
        predictor = Predictor.load(tmp_path, backend=backend)
        assert (predictor.task, predictor.metric, predictor.multilabel) == ("multilabel", "roc_auc", True)
        probs = predictor.predict_proba(x)
        assert probs.shape == (data.num_nodes, 6) and np.abs(probs - expected).max() < 1e-5
        assert np.abs(probs.sum(axis=1) - 1).max() > 0.5  # independent labels: rows do not sum to 1
        np.testing.assert_array_equal(predictor.predict(x), (expected > 0.5).astype(np.int64))
        # The served probabilities score what the run recorded.
        test = data.test_mask.numpy()
        assert Task("multilabel").score(torch.from_numpy(probs[test]), data.y[data.test_mask]) == pytest.approx(
            summary["student"]["test_roc_auc_mean"], abs=1e-6)


def _student(out_channels=4, seed=0):
    torch.manual_seed(seed)
    model = MLP(6, 8, 2, out_channels, norm="batch_norm")
    model.norms[0].running_mean.normal_()
    model.norms[0].running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(scope="module")
def label_export(tmp_path_factory):
    model, out = _student(), tmp_path_factory.mktemp("label-export")
    export_student(model, out, meta={"task": "multilabel"}, class_names=["a", "b", "c", "d"])
    return model, out


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_gives_per_label_sigmoids(label_export, backend):
    model, out = label_export
    predictor = Predictor.load(out, backend=backend)
    x = np.random.default_rng(1).normal(size=(9, 6)).astype(np.float32) * 3
    with torch.no_grad():
        logits = model(torch.from_numpy(x))
    probs = predictor.predict_proba(x)
    assert probs.dtype == np.float32 and np.abs(probs - torch.sigmoid(logits).numpy()).max() < 1e-5
    decisions = predictor.predict(x)
    assert decisions.dtype == np.int64 and decisions.shape == (9, 4)
    np.testing.assert_array_equal(decisions, (logits > 0).long().numpy())  # probability above 0.5: logit above 0
    single = predictor.predict_proba(x[0])
    assert single.shape == (4,) and np.abs(single - probs[0]).max() < 1e-6
    np.testing.assert_array_equal(predictor.predict(x[0]), decisions[0])
    assert predictor.class_names == ["a", "b", "c", "d"] and predictor.metric == "roc_auc"
    # Saturated logits give exact 0 and 1, not overflow; a NaN or inf input is refused, not mapped to 0 or 1.
    far = np.random.default_rng(2).normal(size=(3, 6)).astype(np.float32) * 1e4
    with torch.no_grad():
        saturated = torch.sigmoid(model(torch.from_numpy(far))).numpy()
    assert ((saturated == 0) | (saturated == 1)).any()
    assert np.abs(predictor.predict_proba(far) - saturated).max() < 1e-6
    bad = x[:2].copy()
    bad[1, 3] = np.inf
    with pytest.raises(GraphkdError, match=r"NaN or inf value\(s\) in row\(s\) \[1\]"):
        predictor.predict_proba(bad)


def test_an_export_without_a_task_is_multiclass(tmp_path):
    model = _student(3)
    export_student(model, tmp_path, formats=["numpy"])
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert (metadata["task"], metadata["metric"], metadata["scores"]) == ("multiclass", "accuracy", None)
    for key in ("task", "metric", "scores"):  # as written before tasks existed
        del metadata[key]
    (tmp_path / "metadata.json").write_text(json.dumps(metadata))
    predictor = Predictor.load(tmp_path)
    assert (predictor.task, predictor.metric, predictor.multilabel) == ("multiclass", None, False)
    x = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    probs = predictor.predict_proba(x)
    assert np.abs(probs.sum(axis=1) - 1).max() < 1e-5
    with torch.no_grad():
        assert np.abs(probs - torch.softmax(model(torch.from_numpy(x)), -1).numpy()).max() < 1e-5
    metadata["task"] = "regression"
    (tmp_path / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(GraphkdError, match="task must be one of multiclass, binary, multilabel"):
        Predictor.load(tmp_path)


@pytest.mark.parametrize("meta, message", [
    ({"task": "ranking"}, "unknown task 'ranking'"),
    ({"task": "multilabel", "metric": "accuracy"}, "metric 'accuracy' does not score a multilabel task"),
    ({"task": "binary"}, "a binary task's student has 2 outputs; this one has 4"),
    ({"task": "binary", "scores": {"test_roc_auc": "high"}}, "meta scores must map names"),
])
def test_export_refuses_a_task_that_does_not_fit(tmp_path, meta, message):
    model = _student(2 if "scores" in meta else 4)
    with pytest.raises(GraphkdError, match=message):
        export_student(model, tmp_path, formats=["numpy"], meta=meta)


def test_binary_run_export_names_its_metric(tmp_path):
    graph = csbm(num_nodes=300, num_classes=2, num_features=16, seed=2)
    summary = run_distillation(DistillConfig(split="random", **{**FAST, "epochs": 60, "patience": 20}), data=graph,
                               out=tmp_path / "run", progress=False)
    assert (summary["task"], summary["metric"]) == ("binary", "roc_auc")
    metadata = export_student(tmp_path / "run" / "student_seed0.pt", tmp_path / "export", formats=["numpy", "onnx"])
    written = json.loads((tmp_path / "export" / "metadata.json").read_text())
    assert (written["task"], written["metric"], written["num_classes"]) == ("binary", "roc_auc", 2)
    assert written["scores"]["test_roc_auc"] == pytest.approx(summary["student"]["test_roc_auc_mean"])
    assert written["output"] == "probabilities [batch, num_classes] float32"  # two classes, a softmax
    assert set(metadata["files"]) == {"numpy", "onnx"} and metadata["files"]["numpy"]["path"] == FILES["numpy"]
    predictor = Predictor.load(tmp_path / "export")
    probs = predictor.predict_proba(graph.x.numpy())
    assert predictor.task == "binary" and np.abs(probs.sum(axis=1) - 1).max() < 1e-5
    np.testing.assert_array_equal(predictor.predict(graph.x.numpy()), probs.argmax(axis=1))
