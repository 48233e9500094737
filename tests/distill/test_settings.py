"""Inductive, production and cold-start settings: who is held out, what each model sees on arrival."""
import pytest
import torch
from torch_geometric.data import Data

from graphkd.data import load_dataset
from graphkd.distill import DistillConfig, run_distillation
from graphkd.distill.settings import arrival_graph, hold_out_arrivals


def _path_graph() -> Data:
    """Nodes 0-7 on a path (both directions); 0-1 train, 2 validation, 3-7 test."""
    source = torch.arange(7)
    edge_index = torch.cat([torch.stack([source, source + 1]), torch.stack([source + 1, source])], dim=1)
    mask = lambda idx: torch.zeros(8, dtype=torch.bool).index_fill_(0, torch.tensor(idx), True)  # noqa: E731
    return Data(x=torch.arange(16.0).view(8, 2), y=torch.tensor([0, 1, 0, 1, 0, 1, 0, 1]), edge_index=edge_index,
                train_mask=mask([0, 1]), val_mask=mask([2]), test_mask=mask([3, 4, 5, 6, 7]))


def test_arrivals_are_test_nodes_held_out_with_all_their_edges():
    data = _path_graph()
    arrivals = hold_out_arrivals(data, seed=0, fraction=0.4)
    assert arrivals.nodes.numel() == 2 and data.test_mask[arrivals.nodes].all()
    kept = torch.tensor([i for i in range(8) if i not in arrivals.nodes.tolist()])
    assert torch.equal(arrivals.observed_nodes, kept)
    observed = arrivals.observed
    assert observed.num_nodes == 6 and torch.equal(observed.x, data.x[kept])
    assert observed.test_mask.sum() == 3 and observed.train_mask.sum() == 2
    # No observed edge touches an arrival: every observed edge joins two kept nodes, relabelled.
    full_edges = {tuple(e) for e in data.edge_index.T.tolist()}
    for u, v in observed.edge_index.T.tolist():
        assert (kept[u].item(), kept[v].item()) in full_edges
    assert observed.edge_index.size(1) == sum(u in kept and v in kept for u, v in full_edges)
    # Cold start keeps every node but drops the arrivals' edges.
    touches = torch.isin(arrivals.cold.edge_index, arrivals.nodes).any(dim=0)
    assert not touches.any() and arrivals.cold.num_nodes == 8
    assert torch.equal(hold_out_arrivals(data, seed=0, fraction=0.4).nodes, arrivals.nodes)
    assert any(not torch.equal(hold_out_arrivals(data, seed=s, fraction=0.4).nodes, arrivals.nodes) for s in (1, 2, 3))


def test_position_features_are_computed_on_arrival():
    data = _path_graph()
    arrivals = hold_out_arrivals(data, seed=0, fraction=0.4)
    positions = torch.arange(12.0).view(6, 2)  # one row per observed node
    graph = arrival_graph(arrivals, cold=False, positions=positions)
    assert graph.x.shape == (8, 4) and torch.equal(graph.x[:, :2], data.x)
    table = dict(zip(arrivals.observed_nodes.tolist(), positions, strict=True))
    for node in arrivals.nodes.tolist():
        neighbours = [n for n in (node - 1, node + 1) if n in table]  # observed path neighbours only
        expected = torch.stack([table[n] for n in neighbours]).mean(0) if neighbours else torch.zeros(2)
        assert torch.allclose(graph.x[node, 2:], expected), node
    for node, row in table.items():
        assert torch.equal(graph.x[node, 2:], row)
    cold = arrival_graph(arrivals, cold=True, positions=positions)
    assert (cold.x[arrivals.nodes, 2:] == 0).all()  # no neighbour to average


def test_a_graph_with_too_few_test_nodes_is_refused():
    with pytest.raises(ValueError, match="leaves no arrival or no observed test node"):
        hold_out_arrivals(_path_graph(), seed=0, fraction=0.05)


@pytest.mark.parametrize("student, positions", [("mlp", 0), ("mlp", 4), ("sage", 0)])
def test_production_run_reports_every_part(tmp_path, student, positions):
    cfg = DistillConfig(runs=2, teacher="sage", student=student, positions=positions, setting="production",
                        epochs=40, patience=15)
    summary = run_distillation(cfg, out=tmp_path, progress=False)
    data = load_dataset("CSBM")
    held_out = round(0.2 * int(data.test_mask.sum()))
    assert summary["setting"] == "production"
    for record in summary["per_seed"]:
        for role in ("teacher", "baseline_mlp", "student"):
            scores = record[role]
            assert scores["production_test_acc"] == pytest.approx(
                0.8 * scores["transductive_test_acc"] + 0.2 * scores["inductive_test_acc"])
            assert scores["transductive_test_acc"] == scores["test_acc"]
        if student == "mlp" and not positions:  # an MLP sees no edges: arriving with or without them is alike
            assert record["student"]["inductive_test_acc"] == record["student"]["cold_start_test_acc"]
    targets = next(tmp_path.glob("soft_targets-*-seed0.pt"))
    from graphkd.distill import SoftTargets

    assert SoftTargets.load(targets).meta["num_nodes"] == data.num_nodes - held_out  # none for arrivals
    assert summary["student"]["inductive_test_acc_mean"] > 0.4  # five classes: chance is 0.2
    assert summary["teacher"]["inductive_test_acc_mean"] > summary["teacher"]["cold_start_test_acc_mean"] - 0.05
