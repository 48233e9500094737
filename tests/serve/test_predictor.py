"""Serving exported students: every backend against eager PyTorch, single nodes, preprocessing, errors."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from graphkd import GraphkdError, MissingFileError
from graphkd.models import MLP
from graphkd.serve.export import export_student
from graphkd.serve.predictor import BACKENDS, Predictor, mean_of_neighbour_rows

CONFIGS = [(1, False), (2, True), (2, False), (3, True)]  # (num_layers, batch_norm)


def _student(num_layers, batch_norm, in_channels=6, seed=0):
    torch.manual_seed(seed)
    model = MLP(in_channels, 5, num_layers, 3, norm="batch_norm" if batch_norm else None)
    for norm in model.norms:  # non-trivial running statistics, as after training
        if isinstance(norm, torch.nn.BatchNorm1d):
            norm.running_mean.normal_()
            norm.running_var.uniform_(0.5, 2.0)
            norm.bias.data.normal_()
    return model.eval()


def _eager_proba(model, x: np.ndarray, row_normalize: bool = False) -> np.ndarray:
    x = torch.from_numpy(x)
    if row_normalize:
        x = x / x.sum(dim=-1, keepdim=True).clamp(min=1e-12)
    with torch.no_grad():
        return torch.softmax(model.eval()(x), dim=-1).numpy()


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda c: f"layers{c[0]}-bn{int(c[1])}")
def exported(request, tmp_path_factory):
    model = _student(*request.param)
    out = tmp_path_factory.mktemp("export")
    export_student(model, out, preprocessing={"row_normalize": False})
    return model, out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("batch", [1, 17])
def test_backends_match_eager(exported, backend, batch):
    model, out = exported
    predictor = Predictor.load(out, backend=backend)
    x = np.random.default_rng(batch).normal(size=(batch, 6)).astype(np.float32)
    expected = _eager_proba(model, x)
    probs = predictor.predict_proba(x)
    assert probs.shape == (batch, 3) and probs.dtype == np.float32
    assert np.abs(probs - expected).max() < 1e-5
    np.testing.assert_array_equal(predictor.predict(x), expected.argmax(axis=1))
    # one node's features [F] -> [C] and an int label
    single = predictor.predict_proba(x[0])
    assert single.shape == (3,) and np.abs(single - expected[0]).max() < 1e-5
    label = predictor.predict(x[0])
    assert isinstance(label, int) and label == expected[0].argmax()


@pytest.mark.parametrize("backend", BACKENDS)
def test_row_normalize_applied(tmp_path, backend):
    model = _student(2, True)
    export_student(model, tmp_path, preprocessing={"row_normalize": True})
    x = np.random.default_rng(0).random((5, 6)).astype(np.float32) * 4
    x[2] = 0.0  # an all-zero row, clamped like load_dataset does
    predictor = Predictor.load(tmp_path, backend=backend)
    assert np.abs(predictor.predict_proba(x) - _eager_proba(model, x, row_normalize=True)).max() < 1e-5
    assert np.abs(predictor.predict_proba(x[1]) - _eager_proba(model, x[1:2], row_normalize=True)[0]).max() < 1e-5
    # without normalisation the answer would differ: the preprocessing really is applied
    assert np.abs(predictor.predict_proba(x) - _eager_proba(model, x)).max() > 1e-3


def test_metadata_round_trip(tmp_path):
    export_student(_student(2, False), tmp_path, class_names=["x", "y", "z"],
                   meta={"dataset": "CiteSeer", "split": "random", "seed": 1, "soft_targets": "h", "temperature": 4,
                         "preprocessing": {"row_normalize": True}})
    predictor = Predictor.load(tmp_path)
    assert predictor.backend == "numpy"  # auto: no torch, fastest for single nodes
    assert (predictor.num_features, predictor.num_classes, predictor.class_names) == (6, 3, ["x", "y", "z"])
    assert predictor.metadata == json.loads((tmp_path / "metadata.json").read_text())
    assert predictor.metadata["preprocessing"] == {"row_normalize": True}
    assert Predictor.load(tmp_path, num_threads=1).backend == "onnx"


def test_auto_never_loads_torch_export(tmp_path):
    export_student(_student(1, False), tmp_path, formats=["torch_export"])
    with pytest.raises(MissingFileError, match="can run code when loaded: .* backend='torch_export'"):
        Predictor.load(tmp_path)
    assert Predictor.load(tmp_path, backend="torch_export").backend == "torch_export"


def test_onnx_num_threads(exported):
    model, out = exported
    x = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    probs = Predictor.load(out, backend="onnx", num_threads=1).predict_proba(x)
    assert np.abs(probs - _eager_proba(model, x)).max() < 1e-5


_NO_TORCH = """
import sys
import numpy as np
{import_line}
predictor = Predictor.load(sys.argv[1], backend="numpy")
print(predictor.predict(np.ones(6, np.float32)), "torch" in sys.modules)
"""


def _run_without_torch(import_line: str, directory: Path) -> str:
    script = _NO_TORCH.format(import_line=import_line)
    done = subprocess.run([sys.executable, "-c", script, str(directory)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_numpy_backend_module_never_imports_torch(tmp_path):
    model = _student(2, True)
    export_student(model, tmp_path, formats=["numpy"])
    # The module file on its own (graphkd/__init__ is the package's business; see the next test).
    path = Path(__file__).resolve().parents[2] / "graphkd" / "serve" / "predictor.py"
    load = (f"import importlib.util; spec = importlib.util.spec_from_file_location('p', {str(path)!r}); "
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
            "Predictor = module.Predictor")
    label, torch_loaded = _run_without_torch(load, tmp_path)
    assert torch_loaded == "False"
    assert int(label) == _eager_proba(model, np.ones((1, 6), np.float32)).argmax()


def test_import_graphkd_predictor_never_imports_torch(tmp_path):
    export_student(_student(1, False), tmp_path, formats=["numpy"])
    assert _run_without_torch("from graphkd.serve.predictor import Predictor", tmp_path)[1] == "False"


@pytest.mark.parametrize("name", ["Cora", "CiteSeer", "Computers", "Photo", "CS", "Physics"])
def test_shared_dataset_end_to_end(name, data_root, tmp_path):
    """A briefly trained student on a real dataset, exported: every backend matches eager on (up to 4096 of)
    its nodes, fed the raw features, since the predictor applies the recorded preprocessing itself."""
    from graphkd.data import load_dataset
    from graphkd.data.catalog import dataset_info
    from graphkd.models import save_model

    data = load_dataset(name, root=data_root)
    classes = int(data.y.max()) + 1
    torch.manual_seed(0)
    model = MLP(data.num_features, 64, 2, classes, norm="batch_norm")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    x_train, y_train = data.x[data.train_mask], data.y[data.train_mask]
    for _ in range(60):  # an MLP needs only the labelled nodes' features: a few quick steps
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x_train), y_train).backward()
        optimizer.step()
    save_model(model, tmp_path / "student.pt", meta={"dataset": data.dataset, "split": data.split,
                                                    "preprocessing": {"row_normalize": data.row_normalized}})
    export_student(tmp_path / "student.pt", tmp_path / "export")

    nodes = torch.arange(min(4096, data.num_nodes))
    if dataset_info(name).normalize_features:  # Planetoid public split: the whole graph, features as stored
        from torch_geometric.datasets import Planetoid

        raw = Planetoid(str(data_root), name)[0].x[nodes].numpy()
    else:
        raw = data.x[nodes].numpy()
    with torch.no_grad():
        expected = torch.softmax(model.eval()(data.x[nodes]), dim=-1).numpy()
    test = data.test_mask[nodes].numpy()
    test_acc = (expected.argmax(1)[test] == data.y[nodes][test].numpy()).mean()
    assert test_acc > 2 / classes  # it did learn
    for backend in BACKENDS:
        predictor = Predictor.load(tmp_path / "export", backend=backend)
        diff = np.abs(predictor.predict_proba(raw) - expected).max()
        assert diff < 1e-5, (backend, diff)
        np.testing.assert_array_equal(predictor.predict(raw), expected.argmax(1))
        print(f"{name} {backend}: max abs diff {diff:.2e}, test accuracy {test_acc:.3f}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_student_with_position_features(tmp_path, backend):
    # 6 node features then 2 position features; row normalisation covers the node features only.
    model = _student(2, True, in_channels=8)
    positions = {"kind": "spectral", "dim": 2, "new_node": "the mean of its neighbours' position features"}
    example = torch.rand(8, 8, generator=torch.Generator().manual_seed(1))
    metadata = export_student(model, tmp_path, formats=[backend], example_features=example,
                              preprocessing={"row_normalize": True}, meta={"position_features": positions})
    assert metadata["num_features"] == 6 and metadata["position_features"]["dim"] == 2
    predictor = Predictor.load(tmp_path, backend=backend)
    features, pos = np.random.default_rng(0).random((5, 6), dtype=np.float32), np.ones((5, 2), np.float32)
    expected = _eager_proba(model, np.concatenate([features / features.sum(1, keepdims=True), pos], 1))
    np.testing.assert_allclose(predictor.predict_proba(features, pos), expected, atol=1e-5)
    np.testing.assert_allclose(predictor.predict_proba(features[0], pos[0]), expected[0], atol=1e-5)


@pytest.mark.parametrize("setting", ["transductive", "inductive"])
def test_a_distilled_position_student_serves_from_its_export(tmp_path, setting):
    # The export ships the training graph's position table: a training node's row by its id in the graph
    # given to graphkd distill (inductive: the observed part of it, renumbered in training), and a new
    # node's from its neighbours, as the pipeline scored the arrivals.
    from graphkd.data import csbm, random_split
    from graphkd.distill import DistillConfig, run_distillation, spectral_positions
    from graphkd.distill.settings import arrival_graph, hold_out_arrivals
    from graphkd.models import load_model

    data = random_split(csbm(num_nodes=300, num_features=8, seed=1), seed=0)
    cfg = DistillConfig(runs=1, teacher="gcn", positions=4, setting=setting, epochs=20, patience=10)
    run_distillation(cfg, data=data, out=tmp_path / "run", progress=False)
    export_student(tmp_path / "run" / "student_seed0.pt", tmp_path / "export", formats=["numpy"])
    predictor = Predictor.load(tmp_path / "export")
    student, _ = load_model(tmp_path / "run" / "student_seed0.pt")
    if setting == "transductive":
        table = spectral_positions(data.edge_index, 300, 4).numpy()
        np.testing.assert_array_equal(predictor.node_positions(np.arange(300)), table)
        expected = _eager_proba(student, np.concatenate([data.x.numpy(), table], 1))
        np.testing.assert_allclose(predictor.predict_proba(data.x, predictor.node_positions(range(300))), expected,
                                   atol=1e-5)
        return
    arrivals = hold_out_arrivals(data, seed=0, fraction=cfg.arrival_fraction)
    observed = arrivals.observed
    table = spectral_positions(observed.edge_index, observed.num_nodes, 4)
    np.testing.assert_array_equal(predictor.node_positions(arrivals.observed_nodes), table.numpy())
    with pytest.raises(GraphkdError, match=f"node {int(arrivals.nodes[0])} was not in the training graph"):
        predictor.node_positions(arrivals.nodes[:1])
    scored = arrival_graph(arrivals, cold=False, positions=table)  # the arrivals' rows as the pipeline made them
    source, target = data.edge_index
    rows = np.stack([predictor.new_node_positions(source[(target == node) & ~torch.isin(source, arrivals.nodes)])
                     for node in arrivals.nodes.tolist()])
    np.testing.assert_allclose(rows, scored.x[arrivals.nodes, 8:].numpy(), atol=1e-6)
    np.testing.assert_allclose(predictor.predict_proba(data.x[arrivals.nodes], rows),
                               _eager_proba(student, scored.x[arrivals.nodes].numpy()), atol=1e-5)


def test_position_rules_refuse_what_they_would_misread(tmp_path):
    model = _student(1, False, in_channels=8)
    positions = {"kind": "spectral", "dim": 2, "new_node": "the mean of its neighbours' position features"}
    export_student(model, tmp_path, formats=["numpy"], meta={"position_features": positions})
    with pytest.raises(GraphkdError, match="holds no position table"):  # a module exported without one
        Predictor.load(tmp_path).node_positions([0])
    table = np.arange(10.0).reshape(5, 2)
    assert np.array_equal(mean_of_neighbour_rows(table, [1, 3]), [4.0, 5.0])
    assert np.array_equal(mean_of_neighbour_rows(table, torch.tensor([1, 3]).to_sparse()), [4.0, 5.0])
    assert np.array_equal(mean_of_neighbour_rows(table, []), [0.0, 0.0])  # no neighbours: zeros
    with pytest.raises(GraphkdError, match=r"must lie in \[0, 5\)"):
        mean_of_neighbour_rows(table, [5])
    mask = np.zeros(5, bool)
    mask[[3, 4]] = True
    for neighbours in (mask, [[1, 2]], [1.5]):  # a mask's 0/1 would read as nodes 0 and 1
        with pytest.raises(GraphkdError, match="1-D list of integer node ids"):
            mean_of_neighbour_rows(table, neighbours)
    with pytest.raises(GraphkdError, match=r"a position table is \[num_nodes, P\]"):
        mean_of_neighbour_rows(table[0], [1])


def test_torch_inputs_sparse_or_needing_grad_are_served(exported):
    model, out = exported
    predictor = Predictor.load(out, backend="numpy")
    x = torch.rand(4, 6, requires_grad=True)
    expected = _eager_proba(model, x.detach().numpy())
    np.testing.assert_allclose(predictor.predict_proba(x), expected, atol=1e-5)
    np.testing.assert_allclose(predictor.predict_proba(x.detach().to_sparse()), expected, atol=1e-5)


def test_negative_features_without_row_normalisation_and_zero_rows_with_it(tmp_path):
    # The refusals are in tests/test_catalogue.py; these are the inputs that must still be served.
    export_student(_student(1, False), tmp_path / "plain", formats=["numpy"])
    export_student(_student(1, False), tmp_path / "normalised", formats=["numpy"],
                   preprocessing={"row_normalize": True})
    plain, normalised = Predictor.load(tmp_path / "plain"), Predictor.load(tmp_path / "normalised")
    assert plain.predict_proba(-np.ones((2, 6), np.float32)).shape == (2, 3)  # nothing to divide: allowed
    # A zero row stays zero, as load_dataset leaves it in training.
    zero = normalised.predict_proba(np.zeros(6, np.float32))
    assert np.allclose(zero, _eager_proba(_student(1, False), np.zeros((1, 6), np.float32))[0], atol=1e-6)
