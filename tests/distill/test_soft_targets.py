import numpy as np
import pytest
import torch

from graphkd import GraphkdError
from graphkd.data import random_split
from graphkd.distill.soft_targets import SoftTargets, split_fingerprint, transfer_nodes


def _targets(graph, transfer="all", members=1, classes=2):
    logits = [torch.randn(graph.num_nodes, classes, generator=torch.Generator().manual_seed(m)) for m in range(members)]
    return SoftTargets.from_logits(logits, graph, transfer, seed=0)


@pytest.mark.parametrize("transfer, expected", [("all", [0, 1, 2, 3, 4, 5]), ("labelled", [0, 5]),
                                                ("unlabelled", [1, 2, 3, 4])])
def test_transfer_sets(tiny_graph, transfer, expected):
    assert transfer_nodes(tiny_graph, transfer).tolist() == expected
    assert _targets(tiny_graph, transfer).node_index.tolist() == expected


def test_transfer_indices_and_errors(tiny_graph):
    assert transfer_nodes(tiny_graph, torch.tensor([4, 1, 4])).tolist() == [1, 4]
    with pytest.raises(ValueError, match="valid: all, labelled, unlabelled"):
        transfer_nodes(tiny_graph, "everything")
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        transfer_nodes(tiny_graph, torch.tensor([6]))
    # a bool mask selects its nodes (its 0/1 values are no node ids)
    assert transfer_nodes(tiny_graph, tiny_graph.val_mask).tolist() == [1, 4]
    with pytest.raises(ValueError, match=r"transfer mask must be bool of shape \[6\]"):
        transfer_nodes(tiny_graph, torch.tensor([True, False]))
    with pytest.raises(ValueError, match="must be integers"):
        transfer_nodes(tiny_graph, torch.tensor([1.0, 4.0]))
    assert transfer_nodes(tiny_graph, [4, 1]).tolist() == [1, 4]  # node ids as a list, as the README says
    assert transfer_nodes(tiny_graph, np.array([4, 1])).tolist() == [1, 4]


def test_ensemble_averages_tempered_distributions(tiny_graph):
    targets = _targets(tiny_graph, members=3)
    expected = torch.stack([torch.softmax(m / 2.0, -1) for m in targets.logits]).mean(0)
    assert torch.allclose(targets.probs(2.0), expected)
    # Not the softmax of the averaged logits: that would be a different (wrong) target.
    assert not torch.allclose(targets.probs(2.0), torch.softmax(targets.logits.mean(0) / 2.0, -1))
    assert torch.allclose(targets.probs(3.0).sum(-1), torch.ones(6))


def test_save_load_round_trip(tiny_graph, tmp_path):
    targets = _targets(tiny_graph, "unlabelled", members=2)
    path = targets.save(tmp_path / "t.pt")
    loaded = SoftTargets.load(path)
    assert torch.equal(loaded.logits, targets.logits) and torch.equal(loaded.node_index, targets.node_index)
    assert loaded.meta == targets.meta and loaded.meta["split_fingerprint"] == split_fingerprint(tiny_graph)
    loaded.check_compatible(tiny_graph, num_classes=2)


def test_tampered_file_refused(tiny_graph, tmp_path):
    targets = _targets(tiny_graph)
    blob = {"logits": targets.logits + 1, "node_index": targets.node_index,
            "meta_json": __import__("json").dumps(targets.meta)}
    torch.save(blob, tmp_path / "t.pt")
    with pytest.raises(ValueError, match="content hash"):
        SoftTargets.load(tmp_path / "t.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a graphkd soft-target file"):
        SoftTargets.load(tmp_path / "other.pt")


@pytest.mark.parametrize("change, message", [
    ({"hidden": torch.zeros(6, 3)}, "not a graphkd soft-target file: logits and node_index must be tensors"),
    ({"logits": [[0.0, 1.0]]}, "not a graphkd soft-target file"),
    ({"node_index": torch.arange(6) + 0.5}, r"node ids integers"),
    ({"meta_json": "[1]"}, "meta_json a JSON object"),
    ({"meta_json": "{not json"}, "its metadata is not JSON"),
])
def test_edited_file_gets_one_clear_error(tiny_graph, tmp_path, change, message):
    targets = _targets(tiny_graph)
    path = targets.save(tmp_path / "t.pt")
    torch.save({**torch.load(path, weights_only=True), **change}, path)
    with pytest.raises(GraphkdError, match=message):
        SoftTargets.load(path)


def test_mismatches_refused(tiny_graph):
    targets = _targets(tiny_graph)
    with pytest.raises(ValueError, match="teacher has 2 classes, student 3"):
        targets.check_compatible(tiny_graph, num_classes=3)
    bigger = tiny_graph.clone()
    bigger.x = torch.cat([bigger.x, bigger.x[:1]])
    bigger.y = torch.cat([bigger.y, bigger.y[:1]])
    for name in ("train_mask", "val_mask", "test_mask"):
        setattr(bigger, name, torch.cat([getattr(bigger, name), torch.tensor([False])]))
    with pytest.raises(ValueError, match="made for 6 nodes, graph has 7"):
        targets.check_compatible(bigger)
    resplit = random_split(tiny_graph, seed=1, train_per_class=1, val_per_class=1)
    with pytest.raises(ValueError, match="split"):
        targets.check_compatible(resplit)


def test_non_finite_logits_refused(tiny_graph):
    logits = torch.zeros(6, 2)
    logits[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        SoftTargets.from_logits([logits], tiny_graph)
    logits[3, 1] = float("-inf")  # the log of a probability of 0
    with pytest.raises(ValueError, match=r"1 -inf value\(s\), the log of a probability of 0: clamp"):
        SoftTargets.from_logits([logits], tiny_graph)
