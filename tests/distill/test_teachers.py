"""Teachers from anywhere: a user's trained module, precomputed outputs and files, ensembles across
architectures; hidden representations captured once and stored with the soft targets."""
import copy
import json
import warnings

import numpy as np
import pytest
import torch
from torch_geometric.nn.models import GCN as PyGGCN

from graphkd import MissingFileError
from graphkd.data import csbm, random_split
from graphkd.distill import DistillConfig, SoftTargets, run_distillation
from graphkd.distill.refine import correct_and_smooth
from graphkd.distill.teacher import teacher_fingerprint, teacher_soft_targets
from graphkd.distill.teachers import capture, default_hidden_layer, load_teacher_outputs, teacher_outputs

FAST = {"epochs": 60, "patience": 20}


@pytest.fixture(scope="module")
def graph():
    return random_split(csbm(num_nodes=600, num_features=16, seed=3), seed=0)


@pytest.fixture(scope="module")
def trained_pyg_gcn(graph):
    torch.manual_seed(0)
    model = PyGGCN(16, hidden_channels=32, num_layers=2, out_channels=5)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(100):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(graph.x, graph.edge_index)[graph.train_mask],
                                          graph.y[graph.train_mask]).backward()
        optimizer.step()
    return model.eval()


def test_hooks_capture_the_named_layers_of_any_module(graph, trained_pyg_gcn):
    assert default_hidden_layer(trained_pyg_gcn) == "convs.0"
    logits, hidden = teacher_outputs(trained_pyg_gcn, graph, ["convs.0"])
    with torch.no_grad():
        expected_hidden = trained_pyg_gcn.convs[0](graph.x, graph.edge_index)
        assert torch.allclose(logits, trained_pyg_gcn(graph.x, graph.edge_index))
    assert torch.allclose(hidden["convs.0"], expected_hidden)
    with pytest.raises(ValueError, match="no submodule 'convs.7'"):
        teacher_outputs(trained_pyg_gcn, graph, ["convs.7"])
    with pytest.raises(ValueError, match="name one"):
        default_hidden_layer(torch.nn.Linear(3, 3))


def test_captured_knowledge_round_trips_with_its_hash(graph, trained_pyg_gcn, tmp_path):
    targets = capture(trained_pyg_gcn, graph, ["convs.0"], transfer="unlabelled")
    assert targets.hidden["convs.0"].shape == (targets.node_index.numel(), 32)
    loaded = SoftTargets.load(targets.save(tmp_path / "t.pt"))
    assert torch.equal(loaded.hidden_layer(), targets.hidden["convs.0"]) and loaded.meta == targets.meta
    with pytest.raises(ValueError, match="no teacher representation 'convs.1'"):
        loaded.hidden_layer("convs.1")
    # The hash covers the representations: an edited one is refused, and so is a file without a hash.
    blob = torch.load(tmp_path / "t.pt", weights_only=True)
    blob["hidden"]["convs.0"] = blob["hidden"]["convs.0"] + 1
    torch.save(blob, tmp_path / "edited.pt")
    with pytest.raises(ValueError, match="content hash"):
        SoftTargets.load(tmp_path / "edited.pt")
    meta = json.loads(blob["meta_json"])
    del meta["content_hash"]
    torch.save({**torch.load(tmp_path / "t.pt", weights_only=True), "meta_json": json.dumps(meta)}, tmp_path / "n.pt")
    with pytest.raises(ValueError, match="differs from the stored None"):
        SoftTargets.load(tmp_path / "n.pt")


def test_a_users_module_teaches_through_the_whole_pipeline(graph, trained_pyg_gcn, tmp_path):
    cfg = DistillConfig(teacher=trained_pyg_gcn, runs=2, hint_weight=0.5, **FAST)
    summary = run_distillation(cfg, data=graph, out=tmp_path, progress=False)
    with torch.no_grad():
        logits = trained_pyg_gcn(graph.x, graph.edge_index)
    own_acc = (logits.argmax(-1) == graph.y)[graph.test_mask].float().mean().item()
    assert summary["teacher"]["test_acc_mean"] == pytest.approx(own_acc)  # scored from the logits used
    assert summary["teacher"]["params"] == sum(p.numel() for p in trained_pyg_gcn.parameters())
    assert summary["student"]["test_acc_mean"] > summary["baseline_mlp"]["test_acc_mean"]
    assert summary["config"]["teacher"].startswith("module:")
    targets = teacher_soft_targets(cfg, graph, seed=0)
    assert "convs.0" in targets.hidden  # captured with the soft targets for the hint term
    assert summary["per_seed"][0]["soft_targets_hash"] == targets.content_hash()
    assert not list(tmp_path.glob("soft_targets-*.pt"))  # a module is run again each time, never cached
    # Resume: the finished run is read back, not retrained.
    again = run_distillation(cfg, data=graph, out=tmp_path, progress=False)
    assert again["per_seed"] == summary["per_seed"]
    # The student exports and serves like any other.
    from graphkd.serve.export import export_student
    from graphkd.serve.predictor import Predictor

    metadata = export_student(tmp_path / "student_seed0.pt", tmp_path / "export", formats=["numpy"],
                              example_features=graph.x[:16])
    labels = Predictor.load(tmp_path / "export").predict(graph.x.numpy())
    assert metadata["soft_targets_hash"] == targets.content_hash()
    assert (torch.from_numpy(labels) == graph.y)[graph.test_mask].float().mean() == pytest.approx(
        summary["per_seed"][0]["student"]["test_acc"])


def test_changed_weights_change_the_fingerprint(trained_pyg_gcn):
    before = teacher_fingerprint(trained_pyg_gcn)
    copy = PyGGCN(16, hidden_channels=32, num_layers=2, out_channels=5)
    copy.load_state_dict(trained_pyg_gcn.state_dict())
    assert teacher_fingerprint(copy) == before
    with torch.no_grad():
        copy.convs[0].lin.weight[0, 0] += 1e-3
    assert teacher_fingerprint(copy) != before
    assert DistillConfig(teacher=copy).key() != DistillConfig(teacher=trained_pyg_gcn).key()


@pytest.mark.parametrize("form", ["tensor", "dict", "pt", "npz", "soft_targets"])
def test_precomputed_outputs_in_every_form(graph, trained_pyg_gcn, tmp_path, form):
    logits, hidden = teacher_outputs(trained_pyg_gcn, graph, ["convs.0"])
    teacher = {"tensor": logits, "dict": {"logits": logits, "hidden": hidden}}.get(form)
    if form == "pt":
        torch.save({"logits": logits, "hidden": hidden}, tmp_path / "outputs.pt")
        teacher = str(tmp_path / "outputs.pt")
    elif form == "npz":
        np.savez(tmp_path / "outputs.npz", logits=logits.numpy(), **{"hidden.convs.0": hidden["convs.0"].numpy()})
        teacher = tmp_path / "outputs.npz"
    elif form == "soft_targets":
        teacher = str(capture(trained_pyg_gcn, graph, ["convs.0"]).save(tmp_path / "targets.pt"))
    cfg = DistillConfig(teacher=teacher, runs=1, **FAST)
    targets = teacher_soft_targets(cfg, graph, seed=0)
    assert torch.allclose(targets.logits[0], logits)
    if form != "tensor":
        assert torch.allclose(targets.hidden["convs.0"], hidden["convs.0"])
    summary = run_distillation(cfg, data=graph, progress=False)
    assert summary["student"]["test_acc_mean"] > 0.5


def test_bad_precomputed_outputs_are_refused(graph, tmp_path):
    with pytest.raises(ValueError, match=r"logits must be \[num_nodes=600"):
        teacher_soft_targets(DistillConfig(teacher=torch.zeros(599, 5)), graph, seed=0)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="expected teacher logits"):
        load_teacher_outputs(tmp_path / "bad.pt")
    torch.save({"logits": torch.zeros(600, 5), "hiddens": {}}, tmp_path / "misspelt.pt")
    np.savez(tmp_path / "misspelt.npz", logits=np.zeros((600, 5)), hidden_0=np.zeros((600, 3)))
    for path in ("misspelt.pt", "misspelt.npz"):  # the representations would go unused without a word
        with pytest.raises(ValueError, match=r"unknown key\(s\): hidden"):
            load_teacher_outputs(tmp_path / path)
    with pytest.raises(MissingFileError, match="no teacher output file at .*missing.pt"):
        DistillConfig(teacher=str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="split='random'"):
        DistillConfig(teacher=torch.zeros(600, 5), split="random")


def test_ensemble_across_architectures(graph):
    targets = teacher_soft_targets(DistillConfig(teacher="gcn+sage", runs=1, **FAST), graph, seed=0)
    assert [t["kind"] for t in targets.meta["teachers"]] == ["gcn", "sage"]
    assert targets.logits.shape[0] == 2
    assert targets.meta["params"] == sum(
        sum(p.numel() for p in __import__("graphkd").build_model(**t).parameters()) for t in targets.meta["teachers"])
    assert DistillConfig(teacher="GCN+Sage").teacher == "gcn+sage"


@pytest.mark.parametrize("teacher, own_settings, layer", [
    ("appnp", {"K": 10, "alpha": 0.1}, "lins.0"),  # its last linear layer before the propagation
    ("grand", {"K": 8, "node_dropout": 0.5}, "propagation"),  # its propagated representation
])
def test_propagating_teachers_teach_by_name_with_their_hidden_layer(graph, teacher, own_settings, layer):
    cfg = DistillConfig(teacher=teacher, hint_weight=1.0, runs=1, **FAST)
    targets = teacher_soft_targets(cfg, graph, seed=0)
    assert targets.meta["teachers"][0] == {"kind": teacher, "in_channels": 16, "hidden_channels": 64,
                                           "out_channels": 5, "num_layers": 2, "dropout": 0.5, "norm": None,
                                           **own_settings}
    assert list(targets.hidden) == [layer] and targets.hidden[layer].shape == (600, 64)
    assert targets.meta["teacher_test_acc"] > 0.8  # CSBM's classes are well separated by features and edges


@pytest.mark.parametrize("options, expected", [
    ({"teacher": "grand"}, {"K": 8, "node_dropout": 0.5, "consistency": 1.0, "samples": 4, "dropout": 0.5}),
    ({"teacher": "grand", "teacher_hops": 2, "teacher_consistency": 0.0, "teacher_node_dropout": 0.1},
     {"K": 2, "node_dropout": 0.1, "consistency": 0.0, "samples": 1}),
    ({"teacher": "gcn"}, {"consistency": 0.0, "samples": 1, "dropout": 0.8}),
    ({"teacher": "gcn", "teacher_consistency": 0.5, "teacher_samples": 2}, {"consistency": 0.5, "samples": 2}),
    ({"teacher": "appnp", "teacher_hops": 3}, {"K": 3, "consistency": 0.0}),
])
def test_teacher_recipe_takes_the_configuration_over_the_architectures_defaults(options, expected):
    from graphkd.distill.teachers import teacher_recipe

    cfg = DistillConfig(**options)
    recipe = teacher_recipe(cfg, cfg.teacher)
    assert {key: recipe[key] for key in expected} == expected


def test_a_consistency_teacher_trains_longer_on_several_passes(graph, monkeypatch):
    import graphkd.distill.teachers

    calls, real = [], graphkd.distill.teachers.train_full_batch

    def recording(model, data, loss, config, **kwargs):
        calls.append((model.kind, config.epochs, config.patience, kwargs["samples"]))
        return real(model, data, loss, config, **kwargs)

    monkeypatch.setattr(graphkd.distill.teachers, "train_full_batch", recording)
    teacher_soft_targets(DistillConfig(teacher="gcn+grand", epochs=6, patience=2), graph, seed=0)
    assert calls == [("gcn", 6, 2, 1), ("grand", 12, 8, 4)]


def test_a_changed_grand_recipe_changes_the_keys(monkeypatch):
    import graphkd.distill.teachers as teachers

    configs = (DistillConfig(teacher="grand"), DistillConfig(teacher="gcn", teacher_consistency=1.0),
               DistillConfig(teacher="gcn"))
    before = [(cfg.key(), cfg.teacher_key()) for cfg in configs]
    monkeypatch.setitem(teachers.TEACHER_DEFAULTS, "grand", {**teachers.TEACHER_DEFAULTS["grand"], "K": 4})
    monkeypatch.setattr(teachers, "CONSISTENCY_SAMPLES", 2)
    after = [(cfg.key(), cfg.teacher_key()) for cfg in configs]
    assert after[0][1] != before[0][1] and after[1][1] != before[1][1]  # not reused from the earlier recipe
    assert after[2] == before[2]


def test_correct_and_smooth_refines_soft_targets(graph):
    plain = teacher_soft_targets(DistillConfig(teacher="gcn", runs=1, **FAST), graph, seed=0)
    refined = teacher_soft_targets(DistillConfig(teacher="gcn", refine="cs", runs=1, **FAST), graph, seed=0)
    assert refined.meta["teacher_test_acc"] == plain.meta["teacher_test_acc"]  # the teacher itself is unchanged
    assert "soft_targets_test_acc" in refined.meta and refined.meta["refine"] == "cs"
    assert torch.allclose(refined.probs().sum(-1), torch.ones(600), atol=1e-5)
    train = graph.train_mask.nonzero().view(-1)  # smoothing clamps the training labels
    assert (refined.probs()[train].argmax(-1) == graph.y[train]).all()


def test_correct_and_smooth_of_a_teacher_right_on_every_training_node(tiny_graph):
    # no training error to spread: PyG's autoscale alone would divide 0 by 0 and return NaN everywhere
    probs = torch.tensor([[1.0, 0.0], [0.7, 0.3], [0.6, 0.4], [0.4, 0.6], [0.2, 0.8], [0.0, 1.0]])
    refined = correct_and_smooth(probs, tiny_graph)
    assert torch.isfinite(refined).all() and torch.allclose(refined.sum(-1), torch.ones(6))
    assert refined.argmax(-1).tolist() == [0, 0, 0, 1, 1, 1]


def test_distill_your_own_teacher_example_runs(data_root, tmp_path):
    # The README's example: a PyG GCN trained in plain user code on Cora, distilled into an MLP that
    # ends within a point of it.
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "distill_your_own_teacher.py"
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "GRAPHKD_DATA": str(data_root), "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "runs" / "your_teacher" / "results.json").read_text())
    teacher, student = results["teacher"]["test_acc_mean"], results["student"]["test_acc_mean"]
    assert teacher > 0.78 and student > teacher - 0.01


def test_soft_targets_with_representations_are_cached_apart(graph, tmp_path):
    plain, hinted = DistillConfig(teacher="gcn", **FAST), DistillConfig(teacher="gcn", hint_weight=1.0, **FAST)
    assert plain.teacher_key() != hinted.teacher_key()
    assert hinted.teacher_key() != DistillConfig(teacher="gcn", hint_weight=1.0, teacher_layer="convs.1",
                                                 **FAST).teacher_key()
    assert hinted.teacher_key() == DistillConfig(teacher="gcn", similarity_weight=2.0, **FAST).teacher_key()
    run_distillation(DistillConfig(teacher="gcn", runs=1, **FAST), data=graph, out=tmp_path, progress=False)
    summary = run_distillation(DistillConfig(teacher="gcn", runs=1, hint_weight=1.0, **FAST), data=graph,
                               out=tmp_path, progress=False)
    assert summary["student"]["test_acc_mean"] > 0.5


def test_similarity_term_only_ever_sees_one_batch(graph, monkeypatch):
    # Memory O(batch^2), never O(num_nodes^2): the similarity matrices are built per mini-batch.
    import graphkd.distill.objective as objective

    sizes, real = [], objective.similarity_loss
    monkeypatch.setattr(objective, "similarity_loss", lambda s, t: sizes.append(s.size(0)) or real(s, t))
    cfg = DistillConfig(teacher="gcn", runs=1, similarity_weight=1.0, batch_size=64, epochs=3, patience=3)
    run_distillation(cfg, data=graph, progress=False)
    assert sizes and max(sizes) <= 64 and sum(sizes) >= 3 * graph.num_nodes - 64


@pytest.mark.parametrize("layers, min_epochs", [(2, 0), (4, 40)])
def test_deep_teachers_train_at_least_two_patiences(graph, monkeypatch, layers, min_epochs):
    import graphkd.distill.teachers

    configs, real = [], graphkd.distill.teachers.train_full_batch

    def recording(model, data, loss, config, **kwargs):
        configs.append(config)
        return real(model, data, loss, config, **kwargs)

    monkeypatch.setattr(graphkd.distill.teachers, "train_full_batch", recording)
    teacher_soft_targets(DistillConfig(teacher="gcn", teacher_layers=layers, epochs=60, patience=20), graph, seed=0)
    assert [c.min_epochs for c in configs] == [min_epochs]


class Flipped(torch.nn.Module):
    """The same weights as a trained teacher; ``flip`` changes only the code path."""

    def __init__(self, inner, flip):
        super().__init__()
        self.inner, self.flip = inner, flip

    def forward(self, x, edge_index):
        out = self.inner(x, edge_index)
        return out.roll(1, dims=1) if self.flip else out


def test_a_module_whose_code_changed_is_run_again(graph, trained_pyg_gcn, tmp_path):
    first = run_distillation(DistillConfig(teacher=Flipped(trained_pyg_gcn, False), runs=1, **FAST), data=graph,
                             out=tmp_path, progress=False)
    second = run_distillation(DistillConfig(teacher=Flipped(trained_pyg_gcn, True), runs=1, **FAST), data=graph,
                              out=tmp_path, progress=False)
    assert first["teacher"]["test_acc_mean"] > 0.9 > second["teacher"]["test_acc_mean"]
    assert trained_pyg_gcn.training is False  # left in the mode it came in


def test_a_student_resumes_only_against_its_own_soft_targets(graph, trained_pyg_gcn, tmp_path, monkeypatch):
    # Same weights, so the same run key: an interrupted student of one must not resume under the other.
    import graphkd.distill.pipeline

    student_checkpoints, real = [], graphkd.distill.pipeline.train_minibatch

    def recording(model, data, nodes, loss, config, desc, progress, checkpoint, **kwargs):
        if "student" in desc:
            student_checkpoints.append(checkpoint)
        return real(model, data, nodes, loss, config, desc, progress, checkpoint, **kwargs)

    monkeypatch.setattr(graphkd.distill.pipeline, "train_minibatch", recording)
    for flip in (False, True):
        run_distillation(DistillConfig(teacher=Flipped(trained_pyg_gcn, flip), runs=1, **FAST), data=graph,
                         out=tmp_path, progress=False)
    assert student_checkpoints[0].parent == student_checkpoints[1].parent
    assert student_checkpoints[0] != student_checkpoints[1]


class ReturnsTuple(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin, self.lstm = torch.nn.Linear(16, 5), torch.nn.LSTM(16, 8)

    def forward(self, x, edge_index):
        self.lstm(x[None])
        return self.lin(x)


class TakesData(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(16, 5)

    def forward(self, data):
        return self.lin(data.x)


@pytest.mark.parametrize("teacher, options, message", [
    (ReturnsTuple(), {"hint_weight": 1.0, "teacher_layer": "lstm"}, "teacher layer 'lstm' returns tuple"),
    (TakesData(), {}, r"called as model\(x, edge_index\), the PyG way"),
    ({"hidden": {}}, {}, "teacher outputs are a dict"),
    ({"logits": torch.zeros(600, 5), "hidden": [torch.zeros(600, 3)]}, {}, "hidden of type list"),
    ({"logits": torch.zeros(600, 5), "hidden": torch.zeros(600, 3)}, {}, "hidden of type Tensor"),
    ({"logits": torch.zeros(600, 5), "hidden": np.zeros((600, 3))}, {}, "hidden of type ndarray"),
    ({"logits": torch.zeros(600, 5), "hiddens": {}}, {}, r"the teacher dict: .* unknown key\(s\): hiddens"),
    (torch.zeros(600, 5, dtype=torch.complex64), {}, "must be real-valued"),
])
def test_odd_teachers_get_one_clear_error(graph, teacher, options, message):
    with pytest.raises(ValueError, match=message):
        run_distillation(DistillConfig(teacher=teacher, runs=1, **FAST, **options), data=graph, progress=False)


def test_a_given_teacher_on_a_dataset_split_anew_per_seed_is_refused():
    with pytest.raises(ValueError, match="CSBM's split is 'random'"):
        run_distillation(DistillConfig(teacher=torch.zeros(3000, 5), runs=2, **FAST), progress=False)


def test_given_soft_targets_must_match_the_transfer_set(graph, trained_pyg_gcn):
    targets = capture(trained_pyg_gcn, graph, transfer="labelled")
    with pytest.raises(ValueError, match="cover the 'labelled' transfer set and the configuration asks for 'all'"):
        teacher_soft_targets(DistillConfig(teacher=targets, **FAST), graph, seed=0)
    assert teacher_soft_targets(DistillConfig(teacher=targets, transfer="labelled", **FAST), graph, seed=0) is targets


def test_soft_targets_on_chosen_nodes_teach_under_any_transfer_setting(graph, trained_pyg_gcn):
    chosen = torch.arange(0, 600, 3)
    targets = capture(trained_pyg_gcn, graph, transfer=chosen)
    assert targets.meta["transfer"] == "indices" and torch.equal(targets.node_index, chosen)
    assert teacher_soft_targets(DistillConfig(teacher=targets, **FAST), graph, seed=0) is targets


def test_capture_copies_representations_and_checks_the_graph(graph):
    class ReluInPlace(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin1, self.lin2 = torch.nn.Linear(16, 8), torch.nn.Linear(8, 5)

        def forward(self, x, edge_index):
            return self.lin2(self.lin1(x).relu_())  # changes lin1's output after its hook saw it

    model = ReluInPlace()
    targets = capture(model, graph, "lin1")  # one layer by its name
    with torch.no_grad():
        assert torch.allclose(targets.hidden["lin1"], model.lin1(graph.x)) and targets.hidden["lin1"].min() < 0
    unmasked = graph.clone()
    del unmasked.val_mask
    with pytest.raises(ValueError, match="val_mask is missing"):
        capture(model, unmasked)


def test_logits_outside_the_transfer_set_must_be_numbers_too(graph):
    # They score the teacher: NaN rows would be scored as class 0 (argmax of NaN) and reported as real.
    logits = torch.full((600, 5), float("nan"))
    logits[graph.train_mask] = torch.randn(int(graph.train_mask.sum()), 5)
    with pytest.raises(ValueError, match="teacher logits holds .* NaN or inf"):
        teacher_soft_targets(DistillConfig(teacher=logits, transfer="labelled", **FAST), graph, seed=0)

    class Diverged(torch.nn.Module):
        def forward(self, x, edge_index):
            return torch.full((x.size(0), 5), float("nan"))

    with pytest.raises(ValueError, match="logits of Diverged holds 3000 NaN or inf"):
        capture(Diverged(), graph)


def test_sparse_logits_are_their_dense_values(graph, trained_pyg_gcn):
    logits, _ = teacher_outputs(trained_pyg_gcn, graph)
    assert teacher_fingerprint(logits.to_sparse()) == teacher_fingerprint(logits)
    sparse = teacher_soft_targets(DistillConfig(teacher=logits.to_sparse(), **FAST), graph, seed=0)
    assert torch.equal(sparse.logits, teacher_soft_targets(DistillConfig(teacher=logits, **FAST), graph, 0).logits)


def test_capture_on_float64_features_teaches_the_float32_graph(graph, trained_pyg_gcn):
    # prepare_data casts features to float32 before any training: the graph is the same one.
    doubled = graph.clone()
    doubled.x = doubled.x.double()
    targets = capture(copy.deepcopy(trained_pyg_gcn).double(), doubled, layers=None)
    assert targets.hidden == {}
    assert teacher_soft_targets(DistillConfig(teacher=targets, **FAST), graph, seed=0) is targets


def test_hand_made_soft_targets_teach_though_their_teacher_is_unknown(graph, trained_pyg_gcn):
    from graphkd.report import format_summary

    logits, _ = teacher_outputs(trained_pyg_gcn, graph)
    summary = run_distillation(DistillConfig(teacher=SoftTargets.from_logits([logits], graph), runs=1, **FAST),
                               data=graph, progress=False)
    assert summary["teacher"]["params"] is None  # nobody said how large the teacher was
    assert summary["teacher"]["test_acc_mean"] == pytest.approx(
        (logits[graph.test_mask].argmax(-1) == graph.y[graph.test_mask]).float().mean().item())
    # on the labelled nodes alone they cannot be scored on the test nodes: the table says so
    labelled = SoftTargets.from_logits([logits], graph, transfer="labelled")
    summary = run_distillation(DistillConfig(teacher=labelled, transfer="labelled", runs=1, **FAST), data=graph,
                               progress=False)
    assert summary["teacher"]["test_acc_mean"] is None and summary["student"]["test_acc_mean"] > 0.3
    assert "unknown (not scored)" in format_summary(summary)


class PerEdgeLayer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.edge = torch.nn.Linear(32, 8)
        self.lin = torch.nn.Linear(16, 5)

    def forward(self, x, edge_index):
        self.edge(torch.cat([x[edge_index[0]], x[edge_index[1]]], dim=1))  # one row per edge
        return self.lin(x)


class ReturnsLabels(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(16, 5)

    def forward(self, x, edge_index):
        return self.lin(x).argmax(-1, keepdim=True).expand(-1, 5)


@pytest.mark.parametrize("teacher, options, message", [
    (torch.zeros(600, 5, dtype=torch.long), {}, "logits must be floating point, got torch.int64"),
    (ReturnsLabels(), {}, "must return real floating-point logits, got torch.int64"),
    (PyGGCN(7, hidden_channels=8, num_layers=2, out_channels=5), {}, r"failed on this graph \(600 nodes, 16 "),
    (PerEdgeLayer(), {"hint_weight": 1.0, "teacher_layer": "edge"}, r"returns \[\d+, 8\]; a representation must "
                                                                    r"be \[num_nodes=600, d\], one row per node"),
    (torch.zeros(600, 4), {}, "teacher has 4 classes, student 5"),
    (torch.zeros(600, 5), {"hint_weight": 1.0}, "hold no teacher representation"),
    ("gat", {"teacher_layers": 1, "hint_weight": 1.0}, "cannot tell which layer of GAT"),
    ("gcn", {"hint_weight": 1.0, "teacher_layer": "conv.0"}, "teacher has no submodule 'conv.0'"),
])
def test_teachers_that_cannot_teach_are_refused_before_any_training(graph, monkeypatch, teacher, options, message):
    import graphkd.distill.pipeline
    import graphkd.distill.teachers

    def fail(*args, **kwargs):
        pytest.fail("a model trained before the refusal")

    monkeypatch.setattr(graphkd.distill.pipeline, "train_student", fail)
    monkeypatch.setattr(graphkd.distill.teachers, "train_teachers", fail)
    with pytest.raises(ValueError, match=message):
        run_distillation(DistillConfig(teacher=teacher, runs=1, **FAST, **options), data=graph, progress=False)


class Softmaxed(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, edge_index):
        return self.model(x, edge_index).softmax(-1)


def test_probabilities_given_as_logits_are_warned_about(graph, trained_pyg_gcn):
    logits, _ = teacher_outputs(trained_pyg_gcn, graph)
    with pytest.warns(UserWarning, match="look like probabilities"):
        teacher_soft_targets(DistillConfig(teacher=logits.softmax(-1), **FAST), graph, seed=0)
    with pytest.warns(UserWarning, match=r"pass their log instead, e.g. probs.clamp_min\(1e-8\).log\(\)"):
        capture(Softmaxed(trained_pyg_gcn), graph)
    with pytest.raises(ValueError, match="-inf value"):  # the log of a one-hot row, unclamped
        teacher_soft_targets(DistillConfig(teacher=torch.nn.functional.one_hot(graph.y).float().log(), **FAST),
                             graph, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        teacher_soft_targets(DistillConfig(teacher=logits, **FAST), graph, seed=0)


def test_a_deep_teacher_at_defaults_is_keyed_by_the_deep_recipe(graph, monkeypatch):
    import graphkd.distill.teachers as teachers

    deep = DistillConfig(teacher="gcn", teacher_layers=4)
    assert teachers.build_teacher(deep, graph, "gcn").norm == "layer_norm"
    explicit = DistillConfig(teacher="gcn", teacher_layers=4, teacher_norm="batch_norm", teacher_dropout=0.2)
    shallow = DistillConfig(teacher="gcn")
    configs = (deep, explicit, shallow)
    before = [(cfg.key(), cfg.teacher_key()) for cfg in configs]
    monkeypatch.setitem(teachers.DEEP_TEACHER, "norm", "batch_norm")  # the default of an earlier release
    after = [(cfg.key(), cfg.teacher_key()) for cfg in configs]
    # teachers trained under another default recipe are not reused; runs that name the recipe keep their keys
    assert after[0][0] != before[0][0] and after[0][1] != before[0][1]
    assert after[1:] == before[1:]
