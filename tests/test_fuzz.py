"""Property-based fuzzing of the input checks: any input gives a valid answer or a ValueError, never a
crash, a traceback of another kind or a silent wrong answer."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch_geometric.data import Data

from graphkd.data import check_graph
from graphkd.distill.losses import distillation_loss
from graphkd.models import MLP
from graphkd.serve.export import export_student
from graphkd.serve.predictor import Predictor

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
def test_predictor_answers_probabilities_or_a_value_error(predictors, features):
    for predictor in predictors:
        try:
            probs = predictor.predict_proba(features)
        except ValueError:
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
