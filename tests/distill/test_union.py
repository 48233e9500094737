"""Teachers with different label spaces joined into one distribution: placement, the two weighting rules,
partial graphs, and the whole path on Cora."""
import math

import pytest
import torch
from torch_geometric.data import Data

from graphkd import GraphkdError, load_dataset, run_distillation
from graphkd.distill import DistillConfig, class_halves, partial_graph, union_logits, union_teacher
from graphkd.distill.union import confidence_weights, gate_weights, train_partial_teachers


def _graph(y, train) -> Data:
    n = len(y)
    mask = lambda idx: torch.zeros(n, dtype=torch.bool).index_fill_(0, torch.tensor(idx, dtype=torch.long), True)  # noqa: E731
    rest = [i for i in range(n) if i not in train]
    return Data(x=torch.eye(n), y=torch.tensor(y), edge_index=torch.tensor([[0, 1], [1, 0]]),
                train_mask=mask(train), val_mask=mask(rest[:1]), test_mask=mask(rest[1:]))


def test_confidence_union_places_each_teacher_in_its_block_golden():
    first = torch.tensor([[0.0, math.log(3.0)]]).repeat(4, 1)  # classes 0, 2: probabilities 0.25, 0.75
    second = torch.tensor([[math.log(4.0), 0.0]]).repeat(4, 1)  # classes 1, 3: probabilities 0.8, 0.2
    union = union_logits([first, second], [[0, 2], [1, 3]], confidence_weights([first, second])).exp()
    w_first, w_second = 0.75 / 1.55, 0.8 / 1.55  # each teacher's top probability, normalised
    expected = torch.tensor([0.25 * w_first, 0.8 * w_second, 0.75 * w_first, 0.2 * w_second])
    assert torch.allclose(union[0], expected, atol=1e-6)
    assert torch.allclose(union.sum(1), torch.ones(4), atol=1e-6)


def test_overlapping_blocks_add_their_shares_and_still_sum_to_one():
    first, second = torch.zeros(4, 2), torch.zeros(4, 2)  # uniform within {0, 2} and within {1, 2}
    union = union_logits([first, second], [[0, 2], [1, 2]], torch.full((4, 2), 0.5)).exp()
    assert torch.allclose(union[0], torch.tensor([0.25, 0.25, 0.5]), atol=1e-6)


def test_gate_learns_which_teacher_knows_the_node():
    # Two communities, each of one block's classes; a feature marks the community, and four labelled nodes
    # (one per class) are all the gate learns from.
    y = torch.tensor([0, 2, 0, 2, 0, 2, 1, 3, 1, 3, 1, 3])
    community = torch.tensor([0] * 6 + [1] * 6)
    pairs = [(i, j) for i in range(12) for j in range(12) if i != j and community[i] == community[j]]
    x = torch.cat([torch.nn.functional.one_hot(torch.arange(12) % 2, 2), community[:, None]], 1).float()
    data = _graph(y.tolist(), train=[0, 1, 6, 7])
    data.x, data.edge_index = x, torch.tensor(pairs).t()
    weights = gate_weights(DistillConfig(teacher="sage", epochs=100, patience=100), data, [[0, 2], [1, 3]])
    assert torch.allclose(weights.sum(1), torch.ones(12))
    assert torch.equal(weights.argmax(1), community)  # every node handed to the teacher of its block


def test_error_gate_of_overlapping_blocks(tiny_graph):
    with pytest.raises(GraphkdError, match="the gate gives each node one block: class_sets .* overlap"):
        gate_weights(DistillConfig(teacher="gcn", epochs=2), tiny_graph, [[0, 1], [1]])


def test_confidence_weights_follow_the_top_probability():
    weights = confidence_weights([torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 0.0, 0.0]])])
    top = torch.tensor([math.exp(2) / (math.exp(2) + 1), 1 / 3])
    assert torch.allclose(weights[0], top / top.sum())


def test_partial_graph_keeps_the_graph_and_renumbers_its_classes():
    data = _graph([0, 1, 2, 3, 2, 0], train=[0, 1, 2, 3])
    part = partial_graph(data, [2, 0])
    assert torch.equal(part.edge_index, data.edge_index) and torch.equal(part.x, data.x)
    inside = torch.tensor([True, False, True, False, True, True])
    assert torch.equal(part.y[inside], torch.tensor([1, 0, 0, 1]))  # class 2 is local 0, class 0 local 1
    for name in ("train_mask", "val_mask", "test_mask"):
        assert torch.equal(part[name], data[name] & inside)


@pytest.mark.parametrize("class_sets, logits_shapes, weights, message", [
    ([[0, 1], [2, 2, 3]], [(4, 2), (4, 3)], (4, 2), "a class set is a non-empty list of distinct integer class ids"),
    ([[0.0, 1.9], [2, 3]], [(4, 2), (4, 2)], (4, 2), "a class set is a non-empty list of distinct integer class ids"),
    ([[0, 1], [2, 3]], [(4, 2), (5, 2)], (4, 2), r"teacher 1's logits must be \[num_nodes, its classes\] with the same "
                                                 r"nodes as teacher 0's \(4, 2\), got \(5, 2\)"),
    ([[0, 1], [2, 3]], [(4, 2)], (4, 2), "1 teachers but 2 class sets"),
    ([[0, 1], [2, 3]], [(4, 2), (4, 3)], (4, 2), r"teacher 1 knows 2 classes: its logits must be \[4, 2\]"),
    ([[0, 1], [2, 7]], [(4, 2), (4, 2)], (4, 2), r"must cover the classes 0 .. 7"),
    ([[0, 1], [2, 3]], [(4, 2), (4, 2)], (4, 3), r"weights must be \[4, 2\], non-negative, with rows summing to 1"),
])
def test_error_union_of_teachers_that_do_not_fit(class_sets, logits_shapes, weights, message):
    with pytest.raises(GraphkdError, match=message):
        union_logits([torch.zeros(shape) for shape in logits_shapes], class_sets,
                     torch.full(weights, 1 / weights[1]))


def test_error_weights_that_are_no_distribution():
    weights = torch.tensor([[2.0, -1.0]]).repeat(4, 1)  # rows sum to 1, but a teacher weighs -1
    with pytest.raises(GraphkdError, match="non-negative"):
        union_logits([torch.zeros(4, 2), torch.zeros(4, 2)], [[0, 1], [2, 3]], weights)


@pytest.mark.parametrize("classes", [[0, 0], [-1], [0.7], [], "ab", [9]])
def test_error_partial_graph_of_classes_that_are_not_the_graphs(tiny_graph, classes):
    with pytest.raises(GraphkdError, match="a class set is a non-empty list of distinct integer class ids >= 0 "
                                           "below 2"):
        partial_graph(tiny_graph, classes)


@pytest.mark.parametrize("cfg, class_sets, seed, message", [
    (DistillConfig(teacher="gcn"), [[0]], 0, r"must cover the classes 0 .. 1"),
    (DistillConfig(teacher=torch.zeros(6, 2)), [[0], [1]], 0, "cfg must be a DistillConfig naming a teacher"),
    ("gcn", [[0], [1]], 0, "cfg must be a DistillConfig naming a teacher"),
    (DistillConfig(teacher="gcn"), [[0], [1]], "a", "seed must be an integer, got 'a'"),
])
def test_error_union_teacher_arguments(tiny_graph, cfg, class_sets, seed, message):
    with pytest.raises(GraphkdError, match=message):
        union_teacher(cfg, tiny_graph, class_sets, seed=seed)


@pytest.mark.parametrize("bad", [[], torch.zeros(3, 2), [torch.zeros(3)]])
def test_error_confidence_of_logits_that_are_not_teachers(bad):
    with pytest.raises(GraphkdError, match="logits"):
        confidence_weights(bad)


def test_error_unknown_union_rule(tiny_graph):
    with pytest.raises(GraphkdError, match="unknown union rule 'vote'"):
        union_teacher(DistillConfig(teacher="gcn"), tiny_graph, [[0], [1]], rule="vote")


def test_class_halves():
    assert class_halves(7) == [[0, 1, 2, 3], [4, 5, 6]]
    for bad in (1, 2.5, "4", None, True):
        with pytest.raises(GraphkdError, match="an integer number of classes >= 2"):
            class_halves(bad)


def test_union_of_two_half_teachers_teaches_a_student_on_cora(data_root):
    data = load_dataset("Cora", data_root, split="public")
    cfg = DistillConfig(teacher="gcn", epochs=100, patience=20)
    union, halves = union_teacher(cfg, data, class_halves(7), rule="gate")
    assert [h.shape for h in halves] == [(data.num_nodes, 4), (data.num_nodes, 3)]
    assert all(torch.equal(a, b) for a, b in zip(halves, train_partial_teachers(cfg, data, class_halves(7)),
                                                 strict=True))  # the same seed trains the same teachers
    test = data.test_mask
    union_acc = (union[test].argmax(1) == data.y[test]).float().mean().item()
    assert union_acc > 0.6  # a GCN trained on all labels reaches about 0.8; chance is 0.14
    summary = run_distillation(DistillConfig(teacher=union, runs=1, epochs=100, patience=20), data=data,
                               progress=False)
    assert summary["teacher"]["test_acc_mean"] == pytest.approx(union_acc)
    assert summary["student"]["test_acc_mean"] > summary["baseline_mlp"]["test_acc_mean"]
