"""graphkd.tasks: the rule that reads a task from labels, contradictions, each metric against scikit-learn called
directly, the multi-label average, class weights, the majority rate and the collapse warning."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from torch_geometric.data import Data

from graphkd import GraphkdError
from graphkd.report import metric_column
from graphkd.tasks import (
    Task,
    class_weights,
    infer_task,
    majority_rate,
    metric_key,
    metric_title,
    split_scores,
    task_for,
    task_of,
    warn_if_collapsed,
)


@pytest.mark.parametrize("y, kind", [
    (torch.tensor([[0, 1], [1, 1], [0, 0]]), "multilabel"),  # two-dimensional: one column per label
    (torch.tensor([0, 1, 1, 0]), "binary"),
    (torch.tensor([1, -1, 0, 0]), "binary"),  # -1 marks an unlabelled node, not a class
    (torch.tensor([0, 1, 2, 1]), "multiclass"),
    (torch.tensor([1, 2, 1, 2]), "multiclass"),  # two classes, but not 0 and 1
    (torch.tensor([0, 0, 0, -1]), "multiclass"),  # labelled values are not exactly {0, 1}
])
def test_infer_task_rule(y, kind):
    assert infer_task(y) == kind


def test_task_for_reads_and_checks_the_labels():
    binary, multiclass, multilabel = torch.tensor([0, 1, 1]), torch.tensor([0, 2, 1]), torch.tensor([[0, 1], [1, 0]])
    assert task_for(binary) == Task("binary", "roc_auc")
    assert task_for(multiclass) == Task("multiclass", "accuracy")
    assert task_for(multilabel, metric="average_precision") == Task("multilabel", "average_precision")
    assert task_for(binary, "multiclass") == Task("multiclass", "accuracy")  # 0/1 labels may be scored as classes
    with pytest.raises(GraphkdError, match=r"task 'multilabel' needs labels \[num_nodes, num_labels\] of 0/1, but "
                                           r"data.y \(3,\) reads as 'binary'"):
        task_for(binary, "multilabel")
    with pytest.raises(GraphkdError, match=r"task 'binary' needs labels \[num_nodes\] of 0/1, but .* 'multiclass'"):
        task_for(multiclass, "binary")
    with pytest.raises(GraphkdError, match=r"task 'multiclass' needs labels \[num_nodes\] of class ids, but .* "
                                           r"'multilabel'"):
        task_for(multilabel, "multiclass")
    with pytest.raises(GraphkdError, match="unknown task 'regression'"):
        task_for(binary, "regression")
    with pytest.raises(GraphkdError, match="metric 'roc_auc' does not score a multiclass task; valid: accuracy, "
                                           "macro_f1"):
        task_for(multiclass, metric="roc_auc")


def test_task_names_and_outputs():
    assert (Task().kind, Task().metric, Task().key, Task().title) == ("multiclass", "accuracy", "acc", "accuracy")
    assert (Task("binary").key, Task("binary", "average_precision").key) == ("roc_auc", "ap")
    assert Task("multilabel").describe() == "multilabel, ROC-AUC"
    assert metric_key("macro_f1") == "macro_f1"
    with pytest.raises(GraphkdError, match="unknown metric 'f2'"):
        metric_key("f2")
    assert metric_title("average_precision") == "AP"
    with pytest.raises(GraphkdError, match="unknown metric 'auc'"):
        metric_title("auc")
    # Tables name accuracy "acc", as every committed table does; the other metrics by their titles.
    assert [metric_column(m) for m in ("accuracy", "roc_auc", "macro_f1")] == [
        ("acc", "acc"), ("roc_auc", "ROC-AUC"), ("macro_f1", "macro-F1")]
    assert Task("multilabel").num_outputs(torch.zeros(5, 7, dtype=torch.long)) == 7
    assert Task().num_outputs(torch.tensor([0, 3, 1])) == 4


def test_probabilities_and_hard_loss_by_task():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.0, -3.0]])
    assert torch.allclose(Task().probabilities(logits, 2.0), torch.softmax(logits / 2, dim=-1))
    assert torch.allclose(Task("multilabel").probabilities(logits, 2.0), torch.sigmoid(logits / 2))
    labels = torch.tensor([[1, 0, 1], [0, 0, 1]])
    weight = torch.tensor([1.0, 2.0, 0.5])
    by_hand = -(weight * labels * F.logsigmoid(logits) + (1 - labels) * F.logsigmoid(-logits)).mean()
    assert Task("multilabel").hard_loss(logits, labels, weight).item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert Task().hard_loss(logits, torch.tensor([0, 1])).item() == pytest.approx(
        F.cross_entropy(logits, torch.tensor([0, 1])).item())


def _scores(n=40, columns=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, columns, generator=gen), torch.Generator().manual_seed(seed + 1)


def test_binary_metrics_match_scikit_learn():
    logits, gen = _scores()
    y = torch.randint(2, (40,), generator=gen)
    positive = logits.softmax(dim=-1)[:, 1].numpy()  # what a user would hand scikit-learn
    assert Task("binary").score(logits, y) == pytest.approx(roc_auc_score(y.numpy(), positive))
    assert Task("binary", "average_precision").score(logits, y) == pytest.approx(
        average_precision_score(y.numpy(), positive))
    assert Task("binary", "accuracy").score(logits, y) == pytest.approx((logits.argmax(1) == y).float().mean().item())
    # probabilities or logits rank the same
    assert Task("binary").score(logits.softmax(dim=-1), y) == pytest.approx(Task("binary").score(logits, y))
    with pytest.raises(GraphkdError, match="needs positive and negative nodes, and these are all 1"):
        Task("binary").score(logits, torch.ones(40, dtype=torch.long))


def test_macro_f1_matches_scikit_learn_with_a_class_never_predicted():
    logits, gen = _scores(columns=4)
    logits[:, 3] = -10  # class 3 is never predicted: its F1 is 0 and still counted in the macro average
    y = torch.randint(4, (40,), generator=gen)
    expected = f1_score(y.numpy(), logits.argmax(1).numpy(), average="macro", labels=[0, 1, 2, 3], zero_division=0)
    assert Task("multiclass", "macro_f1").score(logits, y) == pytest.approx(expected)


@pytest.mark.parametrize("metric, rank", [("roc_auc", roc_auc_score), ("average_precision", average_precision_score)])
def test_multilabel_average_skips_labels_with_one_value(metric, rank):
    logits, gen = _scores(columns=4)
    y = torch.randint(2, (40, 4), generator=gen)
    y[:, 2] = 1  # one value on these nodes: no ranking to score, so left out of the average, as OGB does
    scored = [rank(y[:, j].numpy(), logits[:, j].numpy()) for j in (0, 1, 3)]
    assert Task("multilabel", metric).score(logits, y) == pytest.approx(np.mean(scored))
    assert Task("multilabel", metric).score(logits.sigmoid(), y) == pytest.approx(np.mean(scored))
    with pytest.raises(GraphkdError, match="no label has both here"):
        Task("multilabel", metric).score(logits, torch.ones(40, 4, dtype=torch.long))


def test_score_refuses_mismatched_or_empty_input():
    with pytest.raises(GraphkdError, match="3 score rows for 2 labels"):
        Task().score(torch.zeros(3, 2), torch.tensor([0, 1]))
    with pytest.raises(GraphkdError, match="no node to score accuracy on"):
        Task().score(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))


def test_split_scores_and_task_of_follow_the_recorded_task():
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7], [0.1, 0.9], [0.6, 0.4]])
    masks = {"val_mask": torch.tensor([True, True, True, False, False, False]),
             "test_mask": torch.tensor([False, False, False, True, True, True])}
    data = Data(y=y, **masks)
    assert task_of(data) == Task("binary")  # read from the labels
    assert split_scores(scores, data) == {"val_roc_auc": 1.0, "test_roc_auc": 1.0}
    data.task = Task("binary", "accuracy")  # recorded by the run
    assert split_scores(scores, data, "teacher_") == {"teacher_val_acc": pytest.approx(2 / 3),
                                                      "teacher_test_acc": 1.0}


def test_class_weights_values():
    # scikit-learn's "balanced": n / (C * n_c); a class with no training node gets 0.
    weights = class_weights(Task(), torch.tensor([0, 0, 0, 1]))
    assert torch.allclose(weights, torch.tensor([4 / (2 * 3), 4 / (2 * 1)]))
    assert torch.allclose(class_weights(Task(), torch.tensor([0, 0, 2, 2, 2, 2])), torch.tensor([1.0, 0.0, 0.5]))
    # multi-label: each label's negatives over its positives (BCE's pos_weight)
    y = torch.tensor([[1, 0], [0, 1], [0, 1], [0, 1]])
    assert torch.allclose(class_weights(Task("multilabel"), y), torch.tensor([3.0, 1 / 3]))
    with pytest.raises(GraphkdError, match=r"label\(s\) \[1\] have no positive training node"):
        class_weights(Task("multilabel"), torch.tensor([[1, 0], [0, 0]]))


def test_majority_rate():
    assert majority_rate(torch.tensor([0, 0, 0, 1, 2])) == pytest.approx(0.6)
    assert majority_rate(torch.tensor([[1, 0], [0, 0]])) == pytest.approx(0.75)  # the most common value overall
    assert majority_rate(torch.tensor([[1, 1], [1, 0]])) == pytest.approx(0.75)


def test_warn_if_collapsed():
    collapsed = torch.zeros(50, 2)
    collapsed[:, 0] = 1.0
    collapsed[0] = torch.tensor([0.0, 1.0])  # 49 of 50 nodes (98%) get class 0
    with pytest.warns(UserWarning, match="the student predicts one class for 98.0% of the nodes"):
        assert warn_if_collapsed("the student", Task("binary"), collapsed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_if_collapsed("x", Task("binary"), torch.cat([collapsed[:30], collapsed[:20].flip(1)]))
        assert not warn_if_collapsed("x", Task("binary"), collapsed[:19])  # too few nodes to tell
        assert not warn_if_collapsed("x", Task("multilabel"), collapsed)  # labels, not one class per node
