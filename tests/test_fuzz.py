"""Property-based fuzzing of the input checks and the public entry points (run_distillation, load_dataset on
written files, Predictor.predict_proba, the CLI): any input gives a correct answer or a GraphkdError, never a
crash, an exception of another kind, a NaN result or a silent wrong answer."""
import contextlib
import io
import tempfile
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch_geometric.data import Data

from graphkd import GraphkdError
from graphkd.cli import main
from graphkd.data import check_graph, load_dataset
from graphkd.distill import DistillConfig, run_distillation
from graphkd.distill.losses import distillation_loss
from graphkd.models import MLP, load_model
from graphkd.serve.export import export_student
from graphkd.serve.predictor import Predictor
from graphkd.tasks import metric_key

FUZZ = settings(max_examples=60, deadline=None, derandomize=True)  # the same cases every run
floats = st.floats(allow_nan=True, allow_infinity=True, width=32)


@FUZZ
@given(logits=hnp.arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(2, 5)),
                         elements=st.floats(-30, 30, width=32)),
       temperature=st.floats(0.05, 50), alpha=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_distillation_loss_is_finite_non_negative_and_zero_at_the_teacher(logits, temperature, alpha, seed):
    z = torch.from_numpy(logits)
    soft = torch.softmax(z / temperature, -1)
    labels = torch.randint(0, z.size(1), (z.size(0),), generator=torch.Generator().manual_seed(seed))
    loss = distillation_loss(z, soft, temperature, alpha, labels, torch.ones(z.size(0), dtype=torch.bool))
    rounding = 1e-6 * max(1.0, temperature**2)  # float32 KL rounding, scaled by the T^2 factor
    assert torch.isfinite(loss) and loss >= -rounding
    assert distillation_loss(z, soft, temperature, 0.0).abs() < rounding  # KL of a distribution to itself


@pytest.fixture(scope="module")
def predictors(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzz")
    torch.manual_seed(0)
    model = MLP(4, 8, 2, 3)
    export_student(model, out / "plain", formats=["numpy"])
    export_student(model, out / "rownorm", formats=["numpy"], preprocessing={"row_normalize": True})
    return Predictor.load(out / "plain"), Predictor.load(out / "rownorm")


@FUZZ
@given(features=hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64, np.complex64]),
                           hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), elements=None))
def test_predictor_answers_probabilities_or_a_graphkd_error(predictors, features):
    for predictor in predictors:
        try:
            probs = predictor.predict_proba(features)
        except GraphkdError:
            continue
        assert np.isfinite(probs).all() and np.allclose(probs.sum(-1), 1, atol=1e-5)
        assert features.shape[-1] == 4 and not np.iscomplexobj(features)
        if predictor.row_normalize:
            assert (np.asarray(features) >= 0).all()


@FUZZ
@given(num_nodes=st.integers(1, 6), num_features=st.integers(1, 3), edges=st.lists(
    st.tuples(st.integers(-2, 8), st.integers(-2, 8)), max_size=8), labels=st.lists(st.integers(-1, 3), min_size=1,
                                                                                 max_size=8),
       masks=st.lists(st.lists(st.booleans(), min_size=1, max_size=8), min_size=3, max_size=3), value=floats)
def test_graph_checks_refuse_or_accept_a_consistent_graph(num_nodes, num_features, edges, labels, masks, value):
    x = torch.full((num_nodes, num_features), value)
    edge_index = torch.tensor(edges, dtype=torch.long).view(-1, 2).T
    graph = Data(x=x, edge_index=edge_index, y=torch.tensor(labels),
                 train_mask=torch.tensor(masks[0]), val_mask=torch.tensor(masks[1]), test_mask=torch.tensor(masks[2]))
    try:
        check_graph(graph)
    except ValueError:
        return
    # Accepted: then it is a graph graphkd can train on.
    assert torch.isfinite(x).all() and graph.y.numel() == num_nodes and (graph.y >= 0).all()
    assert edge_index.numel() == 0 or (0 <= edge_index.min() and edge_index.max() < num_nodes)
    assert all(m.numel() == num_nodes and m.any() for m in (graph.train_mask, graph.val_mask, graph.test_mask))
    assert not (graph.train_mask & graph.test_mask).any()


# ---- Every public entry point: a clear GraphkdError or a correct result, never another exception kind ----------
# Tiny graphs and 1-3 epochs: the four tests below take about a minute together on a 2-core machine.

FEW = settings(max_examples=12, deadline=None, derandomize=True)
DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_]


@st.composite
def features(draw, num_nodes: int):
    """A feature matrix of any dtype: mostly ordinary values, sometimes any value the dtype holds (NaN, inf,
    float64 beyond float32's range, the integer extremes)."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = (num_nodes, draw(st.integers(1, 4)))
    if draw(st.booleans()) or dtype.kind == "b":
        return draw(hnp.arrays(dtype, shape))
    ordinary = st.floats(0, 3, width=16) if dtype.kind == "f" else st.integers(0, 3)
    return draw(hnp.arrays(dtype, shape, elements=ordinary))


@st.composite
def user_graphs(draw):
    """A graph of 6-8 nodes, two classes, each split holding a node of each; its features of any dtype. Now and
    then one part is damaged: labels out of range, masks that overlap or select nothing, edges outside the graph."""
    n = draw(st.integers(6, 8))
    labels = [i % 2 for i in range(n)]
    masks = [torch.tensor([i // 2 == k for i in range(n)]) for k in range(3)]  # nodes 0-1 train, 2-3 val, 4-5 test
    edges = [(i, (i + 1) % n) for i in range(n)] + draw(st.lists(st.tuples(st.integers(0, n - 1),
                                                                           st.integers(0, n - 1)), max_size=6))
    damage = draw(st.sampled_from(["none"] * 4 + ["labels", "masks", "edges"]))
    if damage == "labels":
        labels = draw(st.lists(st.integers(-2, 2 * n), min_size=n, max_size=n))
    elif damage == "masks":
        masks = [torch.tensor(draw(st.lists(st.booleans(), min_size=n, max_size=n))) for _ in range(3)]
    elif damage == "edges":
        edges += draw(st.lists(st.tuples(st.integers(-3, n + 3), st.integers(-3, n + 3)), min_size=1, max_size=3))
    return Data(x=torch.from_numpy(draw(features(n))), y=torch.tensor(labels),
                edge_index=torch.tensor(edges, dtype=torch.long).T.contiguous(),
                train_mask=masks[0], val_mask=masks[1], test_mask=masks[2])


@st.composite
def configs(draw):
    return DistillConfig(
        runs=1, teacher=draw(st.sampled_from(["gcn", "sage", "appnp"])), student=draw(st.sampled_from(["mlp", "gcn"])),
        epochs=draw(st.integers(1, 3)), patience=draw(st.integers(1, 3)), student_hidden=draw(st.integers(1, 16)),
        student_layers=draw(st.integers(1, 2)), temperature=draw(st.floats(0.05, 100)), alpha=draw(st.floats(0, 1)),
        student_dropout=draw(st.sampled_from([0.0, 0.5])), hint_weight=draw(st.sampled_from([0.0, 1.0])),
        batch_size=draw(st.integers(1, 8)))


@settings(FEW, max_examples=20)
@given(graph=user_graphs(), cfg=configs())
def test_run_distillation_refuses_clearly_or_trains_finite_students(graph, cfg):
    with tempfile.TemporaryDirectory() as out, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            summary = run_distillation(cfg, data=graph, out=out, progress=False, workers=1)
        except GraphkdError as exc:
            event(f"refused: {str(exc)[:40]}")
            return
        event("trained")
        # Accepted: then the graph was one graphkd can train on, and what it trained is finite.
        assert torch.isfinite(graph.x.float()).all() and graph.edge_index.min() >= 0
        for role in ("teacher", "baseline_mlp", "student"):  # the graph's metric: accuracy, or ROC-AUC if binary
            score = summary[role][f"test_{metric_key(summary['metric'])}_mean"]
            assert score is None or 0 <= score <= 1, (role, score)
        student, _ = load_model(Path(out) / "student_seed0.pt")
        assert all(torch.isfinite(p).all() for p in student.parameters())


def _npz_graph(draw, n: int) -> dict:
    """An Amazon/Coauthor archive (Shchur et al.'s keys) of ``n`` nodes: a ring with extra edges, two classes."""
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=20))
    rows, cols = zip(*([(i, (i + 1) % n) for i in range(n)] + extra), strict=True)
    adj = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, n))
    with np.errstate(all="ignore"):
        x = sp.csr_matrix(draw(features(n)).astype(np.float32))
    return {"adj_data": adj.data, "adj_indices": adj.indices, "adj_indptr": adj.indptr,
            "adj_shape": np.array(adj.shape), "attr_data": x.data, "attr_indices": x.indices,
            "attr_indptr": x.indptr, "attr_shape": np.array(x.shape), "labels": np.array([i % 2 for i in range(n)])}


@st.composite
def npz_archives(draw):
    arrays = _npz_graph(draw, draw(st.sampled_from([8, 70])))  # 70 nodes: 35 per class, enough for a split
    for _ in range(draw(st.integers(0, 2))):  # damage: a key dropped, or an array replaced by another of any kind
        key = draw(st.sampled_from(sorted(arrays)))
        if draw(st.booleans()):
            del arrays[key]
        else:
            arrays[key] = draw(hnp.arrays(st.sampled_from([np.int64, np.float64, np.int8]),
                                          hnp.array_shapes(min_dims=0, max_dims=2, max_side=4)))
    return arrays


@FEW
@given(arrays=npz_archives())
def test_load_dataset_refuses_clearly_or_loads_a_checked_graph(arrays):
    with tempfile.TemporaryDirectory() as root, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = Path(root) / "Photo" / "raw"
        raw.mkdir(parents=True)
        np.savez(raw / "amazon_electronics_photo.npz", **arrays)
        try:
            data = load_dataset("Photo", root=root, seed=0, labels_per_class=1)
        except GraphkdError as exc:
            event(f"refused: {str(exc)[:40]}")
            return
        event("loaded")
        check_graph(data)
        assert data.x.dtype == torch.float32 and torch.isfinite(data.x).all()


@FEW
@given(features=st.one_of(
    hnp.arrays(st.sampled_from(DTYPES + [np.uint64, np.complex64]),
               hnp.array_shapes(min_dims=0, max_dims=3, max_side=5)),
    st.lists(st.lists(st.floats() | st.integers(-2**70, 2**70), max_size=5), max_size=3),
    st.sampled_from([None, "abc", {"x": 1}, [[1, 2], [1, 2, 3, 4]]])))
def test_predictor_refuses_with_a_graphkd_error_or_answers_probabilities(predictors, features):
    for predictor in predictors:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                probs = predictor.predict_proba(features)
            except GraphkdError:
                continue
        assert np.isfinite(probs).all() and np.allclose(probs.sum(-1), 1, atol=1e-5)


CLI_VALUES = ["1", "2", "0.5"] * 4 + [  # ordinary values most often, so that some command lines pass
    "0", "-1", "3", "nan", "inf", "-inf", "1e300", "99999999999999999999", "abc", "", "gcn", "mlp", "sage", "grand",
    "random", "public", "Cora", "cosine", "cs", "inductive", "all"]
CLI_OPTIONS = ["--dataset", "--split", "--labels-per-class", "--setting", "--arrival-fraction", "--runs", "--seed",
               "--workers", "--teacher", "--teacher-layers", "--teacher-hidden", "--teacher-dropout", "--teacher-norm",
               "--teacher-hops", "--teacher-node-dropout", "--teacher-consistency", "--teacher-samples", "--heads",
               "--ensemble", "--weight-decay", "--student", "--student-layers", "--student-hidden",
               "--student-dropout", "--lr", "--batch-size", "--temperature", "--alpha", "--transfer", "--refine",
               "--epochs", "--patience", "--teacher-layer", "--hint", "--hint-metric", "--similarity", "--lsp",
               "--adversarial", "--adversarial-steps", "--positions"]


class Accepted(Exception):
    """Raised in place of training: the command line was taken."""


@settings(FEW, max_examples=60)  # a few milliseconds each: nothing trains
@given(argv=st.lists(st.tuples(st.sampled_from(CLI_OPTIONS), st.sampled_from(CLI_VALUES)), min_size=1, max_size=3))
def test_cli_refuses_in_one_line_with_status_2_or_accepts(argv):
    flat = [part for option, value in argv for part in (option, value)]
    err = io.StringIO()
    with mock.patch("graphkd.cli.run_distillation", side_effect=Accepted), contextlib.redirect_stderr(err), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            main(["distill", "--quiet", *flat])
        except Accepted:
            event("accepted")
            return
        except SystemExit as exit_info:
            assert exit_info.code == 2, (flat, err.getvalue())
    text = err.getvalue()
    assert "Traceback" not in text and text.strip(), (flat, text)
    assert text.strip().splitlines()[-1].startswith("graphkd"), (flat, text)
