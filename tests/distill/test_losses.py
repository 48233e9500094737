"""Golden values computed by hand, and the primer's high-temperature limit (section 3)."""
import math

import pytest
import torch
import torch.nn.functional as F

from graphkd.distill.losses import (
    binary_soft_target_loss,
    distillation_loss,
    logit_matching_loss,
    soft_target_loss,
    tempered_sigmoid,
    tempered_softmax,
)
from graphkd.tasks import Task

# One node, two classes: student logits [0, 0] (uniform at any T), teacher distribution [0.8, 0.2].
# KL(p || q) = 0.8 ln(0.8 / 0.5) + 0.2 ln(0.2 / 0.5) = 0.376003 - 0.183258 = 0.192745
KL_GOLDEN = 0.8 * math.log(1.6) + 0.2 * math.log(0.4)


def test_tempered_softmax_softens():
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    assert torch.allclose(tempered_softmax(logits, 1.0), F.softmax(logits, -1))
    # by hand: exp([1, .5, 0]) / sum = [2.71828, 1.64872, 1] / 5.36700
    assert torch.allclose(tempered_softmax(logits, 2.0), torch.tensor([[0.506480, 0.307195, 0.186324]]), atol=1e-6)
    entropy = lambda p: -(p * p.log()).sum()  # noqa: E731
    assert entropy(tempered_softmax(logits, 4.0)) > entropy(tempered_softmax(logits, 2.0)) > entropy(
        tempered_softmax(logits, 1.0))


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
def test_soft_target_loss_golden_and_t_squared(temperature):
    loss = soft_target_loss(torch.zeros(1, 2), torch.tensor([[0.8, 0.2]]), temperature)
    assert loss.item() == pytest.approx(temperature**2 * KL_GOLDEN, rel=1e-6)


def test_kl_is_batchmean_not_mean():
    # Second node agrees exactly with its target: the sum is KL_GOLDEN, divided by 2 nodes (not 4 entries).
    loss = soft_target_loss(torch.zeros(2, 2), torch.tensor([[0.8, 0.2], [0.5, 0.5]]), 1.0)
    assert loss.item() == pytest.approx(KL_GOLDEN / 2, rel=1e-6)


def test_distillation_loss_alpha_mix_golden():
    # alpha * CE([0, 0], y=0) + (1 - alpha) * T^2 * KL = 0.5 * ln 2 + 0.5 * 4 * 0.192745 = 0.732064
    loss = distillation_loss(torch.zeros(1, 2), torch.tensor([[0.8, 0.2]]), temperature=2.0, alpha=0.5,
                             labels=torch.tensor([0]), labelled=torch.tensor([True]))
    assert loss.item() == pytest.approx(0.5 * math.log(2) + 0.5 * 4 * KL_GOLDEN, rel=1e-6)
    assert loss.item() == pytest.approx(0.732064, abs=1e-6)


def test_hard_term_only_on_labelled_and_soft_only_on_transfer():
    logits = torch.tensor([[0.0, 0.0], [3.0, -1.0]])
    targets = torch.tensor([[0.8, 0.2], [0.1, 0.9]])
    labels = torch.tensor([0, 1])
    # Node 1 is unlabelled and outside the transfer set, so it must not count at all.
    mixed = distillation_loss(logits, targets, 1.0, 0.5, labels, torch.tensor([True, False]),
                              transfer=torch.tensor([True, False]))
    assert mixed.item() == pytest.approx(0.5 * math.log(2) + 0.5 * KL_GOLDEN, rel=1e-6)
    # No labelled node in the batch: the hard term is zero, not NaN.
    soft_only = distillation_loss(logits[:1], targets[:1], 1.0, 0.5, labels[:1], torch.tensor([False]))
    assert soft_only.item() == pytest.approx(0.5 * KL_GOLDEN, rel=1e-6)


def test_soft_gradient_is_t_times_q_minus_p():
    # d/dz [T^2 KL(p || softmax(z/T))] = T (q - p), the primer's (1/T)(q - p) scaled by T^2.
    z = torch.tensor([[1.0, -0.5, 2.0]], requires_grad=True)
    p = torch.tensor([[0.2, 0.3, 0.5]])
    soft_target_loss(z, p, 3.0).backward()
    q = F.softmax(z.detach() / 3.0, -1)
    assert torch.allclose(z.grad, 3.0 * (q - p), atol=1e-6)


def test_high_temperature_limit_is_logit_matching():
    # Primer section 3: zero-mean logits, large T: N * T^2 * dKL/dz -> z - v.
    v = torch.tensor([2.0, -1.0, 0.5, -1.5])
    z = torch.tensor([0.5, 1.0, -2.0, 0.5], requires_grad=True)
    n, temperature = v.numel(), 1000.0
    kl = F.kl_div(F.log_softmax(z / temperature, -1), F.softmax(v / temperature, -1), reduction="sum")
    (grad,) = torch.autograd.grad(kl * n * temperature**2, z)
    assert torch.allclose(grad, (z - v).detach(), atol=5e-3)
    # ... and z - v is exactly N/2 times the gradient of the MSE logit-matching loss (which averages over N).
    (mse_grad,) = torch.autograd.grad(logit_matching_loss(z.unsqueeze(0), v.unsqueeze(0)), z)
    assert torch.allclose(mse_grad * n / 2, (z - v).detach(), atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": 0.0, "alpha": 0.5}, "temperature"),
    ({"temperature": -1.0, "alpha": 0.5}, "temperature"),
    ({"temperature": float("nan"), "alpha": 0.5}, "temperature"),
    ({"temperature": 1.0, "alpha": 1.5}, "alpha"),
    ({"temperature": 1.0, "alpha": -0.1}, "alpha"),
])
def test_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        distillation_loss(torch.zeros(1, 2), torch.tensor([[0.5, 0.5]]), labels=torch.tensor([0]),
                          labelled=torch.tensor([True]), **kwargs)


def test_class_count_mismatch():
    with pytest.raises(ValueError, match="class-count mismatch"):
        soft_target_loss(torch.zeros(1, 3), torch.tensor([[0.5, 0.5]]), 1.0)
    with pytest.raises(ValueError, match="differ in shape"):
        logit_matching_loss(torch.zeros(1, 3), torch.zeros(1, 2))


def test_alpha_needs_labels():
    with pytest.raises(ValueError, match="labels"):
        distillation_loss(torch.zeros(1, 2), torch.tensor([[0.5, 0.5]]), 1.0, 0.5)


def test_teacher_logits_for_soft_targets_are_refused():
    # The common slip: logits where probabilities belong. kl_div would return NaN (negative "targets") or,
    # for non-negative logits, a finite wrong value.
    for logits in (torch.tensor([[2.0, -1.0]]), torch.tensor([[2.0, 1.0]])):
        with pytest.raises(ValueError, match="tempered_softmax"):
            distillation_loss(torch.zeros(1, 2), logits, 1.0, 0.0)


@pytest.mark.parametrize("name", ["transfer", "labelled"])
def test_masks_must_be_bool_rows(name):
    # An integer mask would index rows 1, 0, 1, 0 instead of selecting rows 0 and 2.
    masks = {"transfer": None, "labelled": torch.tensor([True, False, True, False]),
             name: torch.tensor([1, 0, 1, 0])}
    with pytest.raises(ValueError, match=f"{name} must be a bool mask of shape \\[4\\]"):
        distillation_loss(torch.zeros(4, 2), torch.full((4, 2), 0.5), 1.0, 0.5, torch.zeros(4, dtype=torch.long),
                          **masks)
    masks[name] = torch.tensor([True, False])
    with pytest.raises(ValueError, match=f"{name} must be a bool mask"):
        distillation_loss(torch.zeros(4, 2), torch.full((4, 2), 0.5), 1.0, 0.5, torch.zeros(4, dtype=torch.long),
                          **masks)


# Multi-label: one Bernoulli per label, KL(p || q) = p ln(p / q) + (1 - p) ln((1 - p) / (1 - q)), q = sigmoid(z / T).
def _bernoulli_kl(p: float, q: float) -> float:
    return (p * math.log(p / q) if p else 0.0) + ((1 - p) * math.log((1 - p) / (1 - q)) if p < 1 else 0.0)


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
def test_binary_soft_target_loss_golden(temperature):
    # One label at z = 0 (q = 0.5 at any T), p = 0.8: the two-class KL_GOLDEN above, times T^2.
    assert binary_soft_target_loss(torch.zeros(1, 1), torch.tensor([[0.8]]), temperature).item() == pytest.approx(
        temperature**2 * KL_GOLDEN, rel=1e-6)
    # Two nodes x three labels, p at 0 and 1 included (0 ln 0 = 0): the mean over nodes and labels, by hand.
    z = [[1.5, -2.0, 0.3], [0.0, 4.0, -1.0]]
    p = [[0.9, 0.0, 0.5], [1.0, 0.7, 0.2]]
    by_hand = temperature**2 * sum(_bernoulli_kl(p[i][j], _sigmoid(z[i][j] / temperature))
                                   for i in range(2) for j in range(3)) / 6
    loss = binary_soft_target_loss(torch.tensor(z), torch.tensor(p), temperature)
    assert loss.item() == pytest.approx(by_hand, rel=1e-5)


def test_binary_soft_gradient_is_t_times_q_minus_p_over_entries():
    # d/dz [T^2 mean KL(p || sigmoid(z / T))] = T (q - p) / (nodes x labels)
    z = torch.tensor([[1.0, -0.5, 2.0], [0.3, 0.0, -4.0]], dtype=torch.float64, requires_grad=True)
    p = torch.tensor([[0.2, 0.3, 1.0], [0.0, 0.5, 0.9]], dtype=torch.float64)
    binary_soft_target_loss(z, p, 3.0).backward()
    q = torch.sigmoid(z.detach() / 3.0)
    assert torch.allclose(z.grad, 3.0 * (q - p) / 6, atol=1e-12)
    assert torch.autograd.gradcheck(lambda logits: binary_soft_target_loss(logits, p, 2.0),
                                    (z.detach().requires_grad_(),))


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_binary_soft_loss_is_zero_when_the_student_is_the_teacher(temperature):
    teacher = torch.tensor([[3.0, -2.0, 0.0], [12.0, -15.0, 0.7]], requires_grad=True)  # saturated labels too
    loss = binary_soft_target_loss(teacher, tempered_sigmoid(teacher.detach(), temperature), temperature)
    loss.backward()
    assert abs(loss.item()) < 1e-6 and teacher.grad.abs().max() < 1e-6
    assert distillation_loss(teacher.detach(), tempered_sigmoid(teacher.detach(), temperature), temperature, 0.0,
                             task=Task("multilabel")).item() == pytest.approx(0.0, abs=1e-6)


def test_multilabel_distillation_mixes_bce_and_binary_kl_golden():
    # alpha * BCE(z = 0) = alpha ln 2 per label; soft: T^2 * mean(KL_GOLDEN, 0) over the two labels.
    loss = distillation_loss(torch.zeros(1, 2), torch.tensor([[0.8, 0.5]]), temperature=2.0, alpha=0.5,
                             labels=torch.tensor([[1, 0]]), labelled=torch.tensor([True]), task=Task("multilabel"))
    assert loss.item() == pytest.approx(0.5 * math.log(2) + 0.5 * 4 * KL_GOLDEN / 2, rel=1e-6)
    # Unlabelled rows add nothing to the hard term; labels are read as floats by BCE.
    z = torch.tensor([[2.0, -1.0], [0.5, 0.5]])
    targets, labels = torch.tensor([[0.9, 0.2], [0.4, 0.6]]), torch.tensor([[1, 0], [0, 1]])
    mixed = distillation_loss(z, targets, 1.0, 0.25, labels, torch.tensor([True, False]), task=Task("multilabel"))
    bce = F.binary_cross_entropy_with_logits(z[:1], labels[:1].float())
    assert mixed.item() == pytest.approx(0.25 * bce.item() + 0.75 * binary_soft_target_loss(z, targets, 1.0).item())


def test_multilabel_soft_targets_must_be_probabilities_of_the_same_shape():
    with pytest.raises(ValueError, match="tempered_sigmoid"):
        distillation_loss(torch.zeros(1, 2), torch.tensor([[2.0, -1.0]]), 1.0, 0.0, task=Task("multilabel"))
    with pytest.raises(ValueError, match="label-count mismatch"):
        binary_soft_target_loss(torch.zeros(1, 3), torch.full((1, 2), 0.5), 1.0)
    # Rows of independent labels need not sum to 1, unlike the softmax's soft targets.
    assert distillation_loss(torch.zeros(1, 3), torch.full((1, 3), 0.9), 1.0, 0.0, task=Task("multilabel")) > 0
