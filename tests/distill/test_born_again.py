"""Born-again rounds: each round's student teaches the next, on a tiny graph and on Cora."""
import importlib

import pytest
import torch

from graphkd import GraphkdError, load_dataset
from graphkd.data import prepare_data
from graphkd.distill import DistillConfig, SoftTargets, born_again
from graphkd.distill.teachers import teacher_outputs

FAST = {"teacher": "gcn", "epochs": 5, "patience": 5}
born_again_module = importlib.import_module("graphkd.distill.born_again")  # the attribute is the function


def test_each_round_learns_from_the_round_before(tiny_graph, monkeypatch):
    data = prepare_data(tiny_graph)
    seen, train_student = [], born_again_module.train_student

    def recorded(cfg, graph, targets, seed, kind, *args, **kwargs):
        model = train_student(cfg, graph, targets, seed, kind, *args, **kwargs)
        seen.append((targets.logits[0].clone(), teacher_outputs(model, graph)[0], seed))
        return model

    monkeypatch.setattr(born_again_module, "train_student", recorded)
    records = born_again(DistillConfig(**FAST), data, rounds=3, kind="mlp", seed=2)
    assert [r["round"] for r in records] == [0, 1, 2, 3]
    assert [r["model"] for r in records] == ["gcn", "mlp", "mlp", "mlp"]
    for (_, made, _), (taught_by, _, _) in zip(seen, seen[1:], strict=False):
        assert torch.equal(taught_by, made)  # all nodes are the transfer set: row i is node i
    assert [s for _, _, s in seen] == [2001, 2002, 2003]  # a fresh initialisation per round


def test_hand_made_soft_targets_start_the_rounds_unscored(tiny_graph):
    data = prepare_data(tiny_graph)
    targets = SoftTargets.from_logits([torch.randn(6, 2, generator=torch.Generator().manual_seed(0))], data)
    records = born_again(DistillConfig(**{**FAST, "teacher": targets}), data, rounds=1, kind="mlp")
    assert records[0]["val_acc"] is None and records[0]["test_acc"] is None  # nobody scored them
    assert records[1]["val_acc"] is not None


@pytest.mark.parametrize("options, rounds, kind, message", [
    ({}, 0, "mlp", "rounds must be an integer >= 1, got 0"),
    ({}, 2, "gat", "unknown student kind 'gat'"),
    ({"positions": 4}, 2, "mlp", "born-again rounds pass logits from round to round"),
    ({"hint_weight": 1.0}, 2, "mlp", "born-again rounds pass logits from round to round"),
])
def test_error_born_again_options(tiny_graph, options, rounds, kind, message):
    with pytest.raises(GraphkdError, match=message):
        born_again(DistillConfig(**FAST, **options), prepare_data(tiny_graph), rounds=rounds, kind=kind)


@pytest.mark.parametrize("cfg, seed, message", [(None, 0, "cfg must be a DistillConfig, got NoneType"),
                                                 (DistillConfig(**FAST), 1.5, "seed must be an integer, got 1.5")])
def test_error_born_again_arguments(tiny_graph, cfg, seed, message):
    with pytest.raises(GraphkdError, match=message):
        born_again(cfg, prepare_data(tiny_graph), rounds=1, kind="mlp", seed=seed)


@pytest.mark.parametrize("kind", ["gcn", "mlp"])
def test_born_again_rounds_on_cora(data_root, kind):
    data = load_dataset("Cora", data_root, split="public")
    cfg = DistillConfig(teacher="gcn", student_hidden=64, student_layers=2, epochs=100, patience=20)
    records = born_again(cfg, data, rounds=2, kind=kind)
    assert len(records) == 3 and records[0]["test_acc"] > 0.75
    # A GCN student keeps the teacher's accuracy; an MLP student stays well above a labels-only MLP (~0.58).
    assert all(r["test_acc"] > (0.75 if kind == "gcn" else 0.65) for r in records[1:])
