"""Training loops: early stopping, best-weight restore, full-batch and mini-batch training, chunked predict;
the consistency objective."""
import math

import pytest
import torch
import torch.nn.functional as F

from graphkd.models import build_model
from graphkd.training import (
    TrainConfig,
    accuracy,
    consistency_loss,
    cross_entropy_on,
    fit,
    predict,
    train_full_batch,
    train_minibatch,
)


def test_accuracy_and_cross_entropy_on_golden_values():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.5, 0.2]])
    y = torch.tensor([0, 0, 0, 1])
    assert accuracy(logits, y) == pytest.approx(0.5)
    mask = torch.tensor([True, False, False, True])
    expected = (F.cross_entropy(logits[:1], y[:1]) + F.cross_entropy(logits[3:], y[3:])) / 2
    assert torch.allclose(cross_entropy_on(mask, y)(logits), expected)


# Two random passes over node 0 (label 0): logits [0, 0] and [ln 3, 0], distributions [1/2, 1/2] and [3/4, 1/4].
# Their mean [5/8, 3/8] sharpened at T = 1/2 (squared, renormalised) is [25/34, 9/34]. Squared distances to it:
# 2 (8/34)^2 = 128/1156 and 2 (1/68)^2 = 0.5/1156, mean over passes 128.5/2312. Cross-entropy: ln 2 and
# ln(4/3), mean ln(8/3)/2. Node 1 is unlabelled and both passes give [0, 0]: target [1/2, 1/2], distance 0.
CONSISTENCY_PASSES = (torch.tensor([[0.0, 0.0], [0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]]))


def test_consistency_loss_golden_value():
    labelled, y = torch.tensor([True, False]), torch.tensor([0, 1])
    loss = consistency_loss(labelled, y, weight=2.0, sharpening=0.5)(*CONSISTENCY_PASSES)
    # the agreement term is a mean over both nodes, the cross-entropy over the labelled one only
    assert loss.item() == pytest.approx(math.log(8 / 3) / 2 + 2.0 * (128.5 / 2312) / 2, rel=1e-6)
    with pytest.raises(ValueError, match="samples >= 2"):
        consistency_loss(labelled, y, 1.0)(CONSISTENCY_PASSES[0])
    # several passes without the term: their mean cross-entropy
    assert cross_entropy_on(labelled, y)(*CONSISTENCY_PASSES).item() == pytest.approx(math.log(8 / 3) / 2, rel=1e-6)


def test_consistency_loss_gradient_treats_the_sharpened_mean_as_a_target():
    """Finite differences of CE + w * mean ||softmax(z_s) - target||^2 with the target held fixed."""
    generator = torch.Generator().manual_seed(0)
    passes = [torch.randn(3, 4, dtype=torch.float64, generator=generator) for _ in range(3)]
    labelled, y = torch.tensor([True, False, True]), torch.tensor([1, 0, 3])
    mean = torch.stack([p.softmax(-1) for p in passes]).mean(0)
    target = mean**2 / (mean**2).sum(-1, keepdim=True)

    def fixed_target_loss(logits):
        ce = sum(F.cross_entropy(z[labelled], y[labelled]) for z in logits) / 3
        return ce + 0.7 * sum((z.softmax(-1) - target).pow(2).sum(-1).mean() for z in logits) / 3

    inputs = [p.clone().requires_grad_() for p in passes]
    consistency_loss(labelled, y, weight=0.7, sharpening=0.5)(*inputs).backward()
    eps = 1e-6
    for s, logits in enumerate(passes):
        numeric = torch.zeros_like(logits)
        for index in range(logits.numel()):
            shift = torch.zeros(logits.numel(), dtype=torch.float64)
            shift[index] = eps
            up = [p + shift.view_as(p) if k == s else p for k, p in enumerate(passes)]
            down = [p - shift.view_as(p) if k == s else p for k, p in enumerate(passes)]
            numeric.view(-1)[index] = (fixed_target_loss(up) - fixed_target_loss(down)) / (2 * eps)
        assert torch.allclose(inputs[s].grad, numeric, atol=1e-8)


def test_consistency_loss_refuses_what_it_cannot_compare():
    labelled, y = torch.tensor([True, False]), torch.tensor([0, 1])
    for weight, sharpening in ((float("nan"), 0.5), (-1.0, 0.5), (1.0, 0.0), ("x", 0.5)):
        with pytest.raises(ValueError, match="consistency (weight|sharpening) must be a finite number"):
            consistency_loss(labelled, y, weight, sharpening)
    with pytest.raises(ValueError, match="of one shape"):
        consistency_loss(labelled, y, 1.0)(torch.zeros(2, 2), torch.zeros(2, 3))
    # a sharp temperature is no underflow: p^(1/T) would be 0/0 here
    sharp = consistency_loss(labelled, y, 1.0, sharpening=1e-3)(*CONSISTENCY_PASSES)
    assert torch.isfinite(sharp)


def test_train_full_batch_hands_the_loss_every_random_pass(tiny_graph):
    torch.manual_seed(0)
    model = build_model("gcn", in_channels=2, hidden_channels=16, out_channels=2, num_layers=2, dropout=0.5)
    seen = []

    def loss(*logits):
        seen.append(len(logits))
        assert not torch.allclose(logits[0], logits[1])  # dropout drew other masks
        return consistency_loss(tiny_graph.train_mask, tiny_graph.y, 1.0)(*logits)

    train_full_batch(model, tiny_graph, loss, TrainConfig(epochs=3, patience=3), samples=3)
    assert seen == [3, 3, 3]
    with pytest.raises(ValueError, match="samples .* must be an integer >= 1, got 0"):
        train_full_batch(model, tiny_graph, loss, TrainConfig(epochs=3, patience=3), samples=0)


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "epochs"), ({"patience": 0}, "patience"), ({"batch_size": 0}, "batch_size"),
    ({"lr": 0.0}, "lr"), ({"weight_decay": -1e-4}, "weight_decay"),
])
def test_train_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def scripted_fit(val_accs, patience, epochs=20):
    """Fit a 1-weight model whose weight equals the epoch number; validation accuracy follows ``val_accs``."""
    model = torch.nn.Linear(1, 1, bias=False)
    epochs_run = []

    def step(optimizer):
        epochs_run.append(len(epochs_run) + 1)
        with torch.no_grad():
            model.weight.fill_(epochs_run[-1])
        return 0.0

    best = fit(model, step, lambda: val_accs[len(epochs_run) - 1], TrainConfig(epochs=epochs, patience=patience))
    return model, best, epochs_run


def test_fit_stops_after_patience_and_restores_best_weights():
    model, best, epochs_run = scripted_fit([0.1, 0.5, 0.3, 0.5, 0.4, 0.9, 0.9], patience=3)
    # Best at epoch 2; epochs 3-5 bring no strict improvement, so training stops after epoch 5.
    assert epochs_run == [1, 2, 3, 4, 5]
    assert best == 0.5
    assert model.weight.item() == 2.0
    assert not model.training


def test_fit_runs_all_epochs_while_improving():
    model, best, epochs_run = scripted_fit([0.1 * k for k in range(1, 7)], patience=2, epochs=6)
    assert epochs_run == [1, 2, 3, 4, 5, 6]
    assert best == pytest.approx(0.6)
    assert model.weight.item() == 6.0


def test_fit_rejects_bad_checkpoint_every(tmp_path):
    model = torch.nn.Linear(1, 1)
    with pytest.raises(ValueError, match="checkpoint_every"):
        fit(model, lambda opt: 0.0, lambda: 1.0, TrainConfig(epochs=2), checkpoint=tmp_path / "c.pt",
            checkpoint_every=0)


def test_checkpoints_are_written_by_elapsed_time_when_no_epoch_interval_is_given(tmp_path, monkeypatch):
    import graphkd.training.loops

    saved = []
    monkeypatch.setattr(graphkd.training.loops, "save_training_state",
                        lambda path, fp, epoch, *a, **k: saved.append(epoch))
    clock = iter(range(0, 1000, 10))  # each call to the clock moves it 10 s on
    monkeypatch.setattr(graphkd.training.loops.time, "monotonic", lambda: next(clock))
    model = torch.nn.Linear(1, 1)
    fit(model, lambda opt: 0.0, lambda: 1.0, TrainConfig(epochs=6, patience=10), checkpoint=tmp_path / "c.pt",
        checkpoint_seconds=25)
    assert saved == [3, 6]  # from 0 the clock reads 10, 20, 30 (save after epoch 3), 40, 50, 60 (save)
    saved.clear()
    fit(model, lambda opt: 0.0, lambda: 1.0, TrainConfig(epochs=6, patience=10), checkpoint=tmp_path / "c.pt",
        checkpoint_seconds=1e9)
    assert saved == []  # a run shorter than the interval writes nothing


def test_train_full_batch_fits_tiny_graph(tiny_graph):
    torch.manual_seed(0)
    model = build_model("gcn", in_channels=2, hidden_channels=16, out_channels=2, num_layers=2, dropout=0.0)
    tiny_graph.val_mask = torch.ones(6, dtype=torch.bool)  # select on every node, so "best" means "fits"
    best = train_full_batch(model, tiny_graph, cross_entropy_on(tiny_graph.train_mask, tiny_graph.y),
                            TrainConfig(epochs=200, lr=0.05, weight_decay=0.0, patience=10))
    logits = predict(model, tiny_graph)
    assert accuracy(logits[tiny_graph.train_mask], tiny_graph.y[tiny_graph.train_mask]) == 1.0
    assert best == 1.0
    assert not model.training


def test_train_minibatch_visits_every_node_once_per_epoch(tiny_graph):
    torch.manual_seed(0)
    model = build_model("mlp", in_channels=2, hidden_channels=16, out_channels=2, num_layers=2, dropout=0.0)
    nodes = torch.tensor([0, 1, 4, 5])
    seen = []

    def batch_loss(logits, batch):
        seen.append(batch)
        return F.cross_entropy(logits, tiny_graph.y[batch])

    epochs = 30
    train_minibatch(model, tiny_graph, nodes, batch_loss,
                    TrainConfig(epochs=epochs, lr=0.05, weight_decay=0.0, patience=epochs, batch_size=3))
    assert [b.numel() for b in seen] == [3, 1] * epochs
    for epoch in range(epochs):
        assert torch.equal(torch.cat(seen[2 * epoch:2 * epoch + 2]).sort().values, nodes)
    logits = predict(model, tiny_graph, nodes)
    assert accuracy(logits, tiny_graph.y[nodes]) == 1.0


def test_predict_mlp_chunks_equal_one_forward():
    torch.manual_seed(0)
    model = build_model("mlp", in_channels=5, hidden_channels=8, out_channels=3, num_layers=3, dropout=0.5,
                        norm="batch_norm")
    x = torch.randn(10, 5)
    model.train()
    model(x)  # give batch norm non-trivial running statistics
    data = type("Graph", (), {"x": x, "edge_index": None})()
    model.eval()
    full = model(x)
    assert torch.allclose(predict(model, data, batch_size=3), full)
    nodes = torch.tensor([7, 2, 9])
    assert torch.allclose(predict(model, data, nodes, batch_size=2), full[nodes])
    assert predict(model, data, torch.tensor([], dtype=torch.long)).shape[0] == 0
    assert not model.training


def test_predict_gnn_selects_nodes_from_full_graph(tiny_graph):
    torch.manual_seed(0)
    model = build_model("gcn", in_channels=2, hidden_channels=4, out_channels=2, num_layers=2)
    full = predict(model, tiny_graph)
    assert full.shape == (6, 2)
    assert torch.equal(predict(model, tiny_graph, torch.tensor([5, 0])), full[[5, 0]])


def test_min_epochs_defers_early_stopping():
    model = torch.nn.Linear(1, 1)
    epochs_run = []

    def step(optimizer):
        epochs_run.append(len(epochs_run))
        return 0.0

    # Validation accuracy never improves after the first epoch: patience 2 alone stops at epoch 3.
    fit(model, step, lambda: 0.5, TrainConfig(epochs=20, patience=2, min_epochs=8))
    assert len(epochs_run) == 8
    with pytest.raises(ValueError, match="min_epochs"):
        TrainConfig(min_epochs=-1)
