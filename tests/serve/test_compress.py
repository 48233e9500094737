import pytest
import torch
import torch.nn.functional as F

from graphkd.models import build_model
from graphkd.serve.compress import (
    PruneConfig,
    exact_hessian_diagonal,
    half_width_config,
    hutchinson_hessian_diagonal,
    obd_saliency,
    prunable_weights,
    prune,
    prune_lowest,
    quantize_int8,
    sparsity,
)
from graphkd.training import TrainConfig


def _tiny_loss(model, data):
    def loss():
        out = model(data.x, data.edge_index)
        return F.cross_entropy(out[data.train_mask | data.val_mask], data.y[data.train_mask | data.val_mask])
    return loss


def test_exact_hessian_diagonal_matches_dense_hessian():
    # loss = 0.5 w^T A w + sum(w^3): Hessian A + diag(6 w), known in closed form
    a = torch.tensor([[2.0, 0.5, -1.0], [0.5, 3.0, 0.2], [-1.0, 0.2, 1.0]])
    w = torch.tensor([0.3, -0.7, 1.1], requires_grad=True)
    diag = exact_hessian_diagonal(lambda: 0.5 * w @ a @ w + (w ** 3).sum(), [w])[0]
    torch.testing.assert_close(diag, a.diagonal() + 6 * w.detach())


def test_hutchinson_estimates_exact_diagonal_of_a_gnn_loss(tiny_graph):
    torch.manual_seed(0)
    model = build_model("sage", in_channels=2, hidden_channels=3, out_channels=2, num_layers=2, dropout=0.0).eval()
    weights = list(prunable_weights(model).values())
    loss = _tiny_loss(model, tiny_graph)
    exact = torch.cat([d.reshape(-1) for d in exact_hessian_diagonal(loss, weights)])
    est = torch.cat([d.reshape(-1) for d in hutchinson_hessian_diagonal(loss, weights, samples=3000)])
    assert exact.abs().max() > 1e-3  # a non-trivial curvature to estimate
    assert (est - exact).norm() / exact.norm() < 0.15


def test_obd_prunes_lowest_saliency_on_quadratic_with_known_hessian():
    # loss = 0.5 (w - c)^T H (w - c) with diag(H) = h: saliency h w^2 / 2 = [2.5, 2.0, 1.5, 0.9]
    h = torch.tensor([5.0, 1.0, 12.0, 0.2])
    hess = torch.diag(h) + 0.1 * (torch.ones(4, 4) - torch.eye(4))  # off-diagonals do not enter OBD
    c = torch.tensor([0.5, 0.5, 0.5, 0.5])
    w = torch.nn.Parameter(torch.tensor([[1.0, -2.0, 0.5, 3.0]]))
    diag = exact_hessian_diagonal(lambda: 0.5 * (w[0] - c) @ hess @ (w[0] - c), [w])
    scores = obd_saliency([w], diag)
    torch.testing.assert_close(scores[0], torch.tensor([[2.5, 2.0, 1.5, 0.9]]))
    masks = prune_lowest([w], [torch.ones_like(w, dtype=torch.bool)], scores, 0.5)
    assert masks[0].tolist() == [[True, True, False, False]]
    assert w.detach().tolist() == [[1.0, -2.0, 0.0, 0.0]]
    # magnitude would have pruned the two smallest |w| instead: a different choice
    w2 = torch.nn.Parameter(torch.tensor([[1.0, -2.0, 0.5, 3.0]]))
    masks = prune_lowest([w2], [torch.ones_like(w2, dtype=torch.bool)], [w2.detach().abs()], 0.5)
    assert masks[0].tolist() == [[False, True, False, True]]


def test_prune_lowest_keeps_previous_masks_and_rejects_bad_target():
    w = torch.nn.Parameter(torch.tensor([[4.0, 3.0, 2.0, 1.0]]))
    mask = torch.tensor([[True, True, True, False]])
    with torch.no_grad():
        w.mul_(mask)
    masks = prune_lowest([w], [mask], [torch.tensor([[0.1, 5.0, 6.0, 9.0]])], 0.5)
    assert masks[0].tolist() == [[False, True, True, False]]  # the old mask counts towards the target
    with pytest.raises(ValueError, match="target sparsity"):
        prune_lowest([w], masks, [w.abs()], 1.0)


@pytest.mark.parametrize("criterion", ["obd", "magnitude"])
def test_prune_reaches_sparsity_and_masked_weights_stay_zero(tiny_graph, criterion):
    torch.manual_seed(0)
    model = build_model("gcn", in_channels=2, hidden_channels=8, out_channels=2, num_layers=2, dropout=0.0)
    cfg = PruneConfig(criterion=criterion, target_sparsity=0.5, rounds=2, hessian_samples=4,
                      retrain=TrainConfig(epochs=15, patience=15, weight_decay=0.0))
    history = prune(model, tiny_graph, cfg)
    assert [h["round"] for h in history] == [1, 2]
    assert history[0]["sparsity"] == pytest.approx(0.25, abs=0.02)
    assert sparsity(model) == pytest.approx(0.5, abs=0.02)
    zeros = {n: (w == 0) for n, w in prunable_weights(model).items()}
    # a second call starts from the zeros as masks: retraining never revives a pruned weight
    prune(model, tiny_graph, PruneConfig(criterion=criterion, target_sparsity=0.5, rounds=1,
                                         retrain=TrainConfig(epochs=5, patience=5)))
    for n, w in prunable_weights(model).items():
        assert (w[zeros[n]] == 0).all()


def test_prune_config_rejects_bad_values():
    with pytest.raises(ValueError, match="criterion"):
        PruneConfig(criterion="random")
    with pytest.raises(ValueError, match="target_sparsity"):
        PruneConfig(target_sparsity=1.0)


@pytest.mark.parametrize("kind", ["gcn", "sage", "gat", "mlp"])
def test_quantized_model_close_to_float(tiny_graph, kind):
    torch.manual_seed(0)
    extra = {"heads": 2} if kind == "gat" else {}
    model = build_model(kind, in_channels=2, hidden_channels=16, out_channels=2, num_layers=2, dropout=0.0,
                        **extra).eval()
    quantized, names = quantize_int8(model)
    assert len(names) >= 2
    assert not any(isinstance(m, torch.nn.Linear) for m in quantized.modules())  # all swapped for int8
    with torch.no_grad():
        ref, out = model(tiny_graph.x, tiny_graph.edge_index), quantized(tiny_graph.x, tiny_graph.edge_index)
    assert (out - ref).abs().max() < 0.05 * ref.abs().max() + 1e-3
    assert (out.argmax(-1) == ref.argmax(-1)).float().mean() >= 5 / 6


def test_half_width_config():
    model = build_model("gat", in_channels=4, hidden_channels=64, out_channels=3, heads=8, num_layers=2)
    assert half_width_config(model.config())["hidden_channels"] == 32
    assert build_model(**half_width_config(model.config())).hidden_channels == 32
    with pytest.raises(ValueError, match="hidden_channels"):
        half_width_config({"kind": "gcn"})
