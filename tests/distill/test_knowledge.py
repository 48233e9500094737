"""Knowledge terms beyond the logits: golden values computed by hand, and gradient checks."""
import math

import pytest
import torch

from graphkd.distill.knowledge import adversarial_loss, hint_loss, local_structure_loss, similarity_loss


def test_hint_loss_golden_values():
    assert hint_loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])).item() == pytest.approx(2.5)
    cosine = hint_loss(torch.tensor([[1.0, 1.0], [1.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]]), "cosine")
    assert cosine.item() == pytest.approx(((1 - 1 / math.sqrt(2)) + 1) / 2)
    with pytest.raises(ValueError, match="differ in shape"):
        hint_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="unknown hint metric"):
        hint_loss(torch.zeros(2, 3), torch.zeros(2, 3), "l1")


def test_similarity_loss_golden_value_and_width_free():
    # Student similarities: the identity; teacher: all ones; two of four entries differ by 1.
    student = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    teacher = torch.tensor([[2.0, 0.0, 0.0], [5.0, 0.0, 0.0]])
    assert similarity_loss(student, teacher).item() == pytest.approx(0.5)
    assert similarity_loss(teacher, teacher).item() == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="same nodes"):
        similarity_loss(torch.zeros(3, 2), torch.zeros(4, 2))


def test_similarity_loss_golden_value_when_the_batch_outnumbers_the_channels():
    # 4 nodes, 1 + 2 channels: computed through channel products. Student similarities v v^T with
    # v = (1, 1, -1, 1); teacher: nodes {0, 1} and {2, 3} alike, the pairs orthogonal. Squared
    # differences: rows 0 and 1 add 1 + 1, rows 2 and 3 add 1 + 1 + 4: 16 over 16 entries.
    student = torch.tensor([[1.0], [2.0], [-1.0], [3.0]])
    teacher = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 5.0]])
    assert similarity_loss(student, teacher).item() == pytest.approx(1.0)
    assert similarity_loss(teacher, teacher).item() == pytest.approx(0.0, abs=1e-7)


def test_similarity_loss_through_channel_products_equals_the_two_matrices():
    torch.manual_seed(0)
    student, teacher = torch.randn(300, 16, dtype=torch.double), torch.randn(300, 8, dtype=torch.double)
    a, c = torch.nn.functional.normalize(student, dim=-1), torch.nn.functional.normalize(teacher, dim=-1)
    assert similarity_loss(student, teacher).item() == pytest.approx(((a @ a.T - c @ c.T) ** 2).mean().item(),
                                                                     rel=1e-12)


def test_local_structure_loss_golden_value():
    # Node 0 has neighbours 1 and 2 (edges 1->0, 2->0); the others have none and do not count.
    edge_index = torch.tensor([[1, 2], [0, 0]])
    teacher = torch.tensor([[0.0], [0.0], [1.0]])  # squared distances 0 and 1: softmax(0, -1/2)
    student = torch.zeros(3, 1)  # both neighbours equally similar: (1/2, 1/2)
    p = 1 / (1 + math.exp(-0.5))
    expected = p * math.log(2 * p) + (1 - p) * math.log(2 * (1 - p))  # 0.0302999
    assert local_structure_loss(student, teacher, edge_index).item() == pytest.approx(expected, rel=1e-5)
    assert local_structure_loss(teacher, teacher, edge_index).item() == pytest.approx(0.0, abs=1e-7)
    # A wider kernel flattens the teacher's distribution: sigma = 2 gives softmax(0, -1/8).
    p = 1 / (1 + math.exp(-1 / 8))
    wide = p * math.log(2 * p) + (1 - p) * math.log(2 * (1 - p))
    wide_loss = local_structure_loss(student, teacher, edge_index, sigma=2.0).item()
    assert wide_loss == pytest.approx(wide, rel=1e-4)  # float32 rounding on a small value


def test_adversarial_loss_golden_value():
    # Identity student, input 0, target class 0: the gradient of KL at delta = 0 is softmax(0) - p =
    # (-1/2, 1/2), so one step of size epsilon moves to (-eps, eps), where the loss is log(1 + e^(2 eps)).
    student = lambda x: x  # noqa: E731
    features, target = torch.zeros(1, 2), torch.tensor([[1.0, 0.0]])
    loss = adversarial_loss(student, features, target, epsilon=0.5, steps=1, step_size=0.5)
    assert loss.item() == pytest.approx(math.log(1 + math.e), rel=1e-6)
    # The ball caps the perturbation: a larger step lands on the same corner.
    assert adversarial_loss(student, features, target, epsilon=0.5, steps=2, step_size=10.0).item() == pytest.approx(
        math.log(1 + math.e), rel=1e-6)
    # No steps, or a zero radius: the plain soft-target loss, log 2 here.
    for kwargs in ({"steps": 0}, {"epsilon": 0.0}):
        assert adversarial_loss(student, features, target, **kwargs).item() == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match=">= 0"):
        adversarial_loss(student, features, target, epsilon=-1.0)


def test_adversarial_loss_is_at_least_the_clean_loss():
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 3)
    x, target = torch.randn(20, 6), torch.softmax(torch.randn(20, 3), -1)
    clean = adversarial_loss(model, x, target, steps=0)
    assert adversarial_loss(model, x, target, epsilon=0.1, steps=3) > clean


def test_gradients_match_finite_differences():
    torch.manual_seed(0)
    s, t = torch.randn(5, 3, dtype=torch.double, requires_grad=True), torch.randn(5, 3, dtype=torch.double)
    for metric in ("mse", "cosine"):
        assert torch.autograd.gradcheck(lambda a, m=metric: hint_loss(a, t, m), (s,))
    wide_teacher = torch.randn(5, 7, dtype=torch.double)
    assert torch.autograd.gradcheck(lambda a: similarity_loss(a, wide_teacher), (s,))
    many = torch.randn(12, 3, dtype=torch.double, requires_grad=True)  # more nodes than channels
    many_teacher = torch.randn(12, 4, dtype=torch.double)
    assert torch.autograd.gradcheck(lambda a: similarity_loss(a, many_teacher), (many,))
    edge_index = torch.tensor([[1, 2, 3, 0, 4, 2], [0, 0, 1, 2, 3, 4]])
    assert torch.autograd.gradcheck(lambda a: local_structure_loss(a, t, edge_index), (s,))
    weight = torch.randn(3, 4, dtype=torch.double, requires_grad=True)
    target = torch.softmax(torch.randn(5, 4, dtype=torch.double), -1)
    x = torch.randn(5, 3, dtype=torch.double)
    assert torch.autograd.gradcheck(
        lambda w: adversarial_loss(lambda f: f @ w, x, target, temperature=2.0, epsilon=0.05, steps=2), (weight,))
