"""Loaders on the real shared datasets (through a temporary copy), splits, and bad-input errors."""
from urllib.error import URLError

import pytest
import torch

from graphkd.data import (
    DatasetNotFoundError,
    csbm,
    data_root,
    dataset_info,
    largest_connected_component,
    load_dataset,
    prepare_data,
    random_split,
)


def test_cora_public_split(data_root):
    data = load_dataset("Cora", root=data_root)
    assert (data.num_nodes, data.num_edges, data.num_features) == (2708, 10556, 1433)
    assert [int(m.sum()) for m in (data.train_mask, data.val_mask, data.test_mask)] == [140, 500, 1000]
    assert torch.bincount(data.y).tolist() == [351, 217, 418, 818, 426, 298, 180]
    assert torch.allclose(data.x.sum(1), torch.ones(2708))  # Planetoid features are row-normalised
    assert (data.dataset, data.split, getattr(data, "split_seed", None)) == ("Cora", "public", None)


def test_citeseer_full_split(data_root):
    data = load_dataset("citeseer", root=data_root, split="full")
    assert (data.num_nodes, data.num_edges, data.num_features) == (3327, 9104, 3703)
    assert int(data.train_mask.sum()) == 1827 and data.split == "full"


@pytest.mark.parametrize("name, classes", [("Cora", 7), ("Photo", 8), ("Computers", 10), ("CS", 15)])
def test_cpf_random_split(data_root, name, classes):
    data = load_dataset(name, root=data_root, split="random", seed=3)
    assert data.split == "random" and data.split_seed == 3
    assert torch.bincount(data.y[data.train_mask], minlength=classes).tolist() == [20] * classes
    assert torch.bincount(data.y[data.val_mask], minlength=classes).tolist() == [30] * classes
    assert int(data.test_mask.sum()) == data.num_nodes - 50 * classes
    assert not (data.train_mask & data.test_mask).any()
    # Drawn on the largest connected component: every node reaches node 0.
    assert largest_connected_component(data).num_nodes == data.num_nodes
    again, other = (load_dataset(name, root=data_root, split="random", seed=s) for s in (3, 4))
    assert torch.equal(again.train_mask, data.train_mask) and not torch.equal(other.train_mask, data.train_mask)


def test_physics_loads(data_root):
    data = load_dataset("Coauthor-Physics", root=data_root, seed=0)
    assert (data.num_features, int(data.y.max()) + 1) == (8415, 5)
    assert data.num_nodes == 34493  # connected already
    assert set(data.x.unique().tolist()) <= {0.0, 1.0}


def test_offline_missing_files_explained(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr("torch_geometric.data.download_url", offline)  # what graphkd downloads raw files with
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("Cora", root=tmp_path)
    message = str(err.value)
    assert str(tmp_path / "Cora" / "raw") in message and "ind.cora.x" in message and "GRAPHKD_DATA" in message


def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHKD_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("GRAPHKD_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_root() == tmp_path / "cache" / "graphkd"


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError, match="unknown dataset 'Corra'; valid: Cora, CiteSeer"):
        dataset_info("Corra")
    with pytest.raises(ValueError, match="valid: random"):
        load_dataset("Photo", split="public")


def test_synthetic_graph_is_seeded_and_homophilous():
    a, b = csbm(seed=1), csbm(seed=1)
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)
    same = (a.y[a.edge_index[0]] == a.y[a.edge_index[1]]).float().mean()
    assert 0.65 < same < 0.85  # homophily 0.7 plus chance agreements of the random edges
    data = load_dataset("CSBM")
    assert data.split == "random" and int(data.train_mask.sum()) == 100


def test_random_split_needs_enough_nodes(tiny_graph):
    with pytest.raises(ValueError, match="class 0 has 3 nodes"):
        random_split(tiny_graph, seed=0)
    split = random_split(tiny_graph, seed=0, train_per_class=1, val_per_class=1)
    assert split.train_mask.sum() == 2 and split.test_mask.sum() == 2


def test_prepare_data_rejects_bad_graphs(tiny_graph):
    prepare_data(tiny_graph.clone())
    bad = tiny_graph.clone()
    bad.edge_index = torch.tensor([[0, 6], [1, 0]])
    with pytest.raises(ValueError, match="outside"):
        prepare_data(bad)
    bad = tiny_graph.clone()
    bad.x[2, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or inf"):
        prepare_data(bad)
    bad = tiny_graph.clone()
    bad.val_mask = torch.zeros(6, dtype=torch.bool)
    with pytest.raises(ValueError, match="val_mask selects no node"):
        prepare_data(bad)
    bad = tiny_graph.clone()
    del bad.test_mask
    with pytest.raises(ValueError, match="random_split"):
        prepare_data(bad)


def _graph(**changes):
    from torch_geometric.data import Data

    mask = lambda idx: torch.zeros(6, dtype=torch.bool).index_fill_(0, torch.tensor(idx), True)  # noqa: E731
    graph = Data(x=torch.rand(6, 3), y=torch.tensor([0, 0, 0, 1, 1, 1]),
                 edge_index=torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]]),
                 train_mask=mask([0, 5]), val_mask=mask([1, 4]), test_mask=mask([2, 3]))
    for key, value in changes.items():
        graph[key] = value
    return graph


@pytest.mark.parametrize("changes, message", [
    ({"edge_index": torch.tensor([[0, 9], [1, 2]])}, r"outside \[0, 6\)"),
    ({"num_nodes": 10}, "data.num_nodes is 10 but data.x has 6 rows"),
    ({"test_mask": torch.zeros(6, dtype=torch.bool)}, "data.test_mask selects no node"),
    ({"train_mask": torch.tensor([1, 0, 0, 0, 0, 1])}, "data.train_mask must be a bool tensor"),
    ({"test_mask": torch.tensor([True, False, True, True, False, False])}, "train_mask and data.test_mask share 1"),
    ({"y": torch.tensor([0, -1, 0, 1, 1, 1])}, "1 negative label"),
    ({"x": torch.full((6, 3), float("nan"))}, "NaN or inf"),
    ({"x": torch.rand(6, 3, dtype=torch.complex64)}, "real-valued"),
    ({"y": torch.tensor([0.0, 0, 0, 1, 1, 1])}, "torch.long"),
])
def test_bad_user_graphs_are_refused_before_training(changes, message):
    from graphkd.data import check_graph
    from graphkd.distill import DistillConfig, run_distillation

    check_graph(_graph())  # the unchanged graph is fine
    with pytest.raises(ValueError, match=message):
        check_graph(_graph(**changes))
    with pytest.raises(ValueError, match=message):  # the pipeline refuses it before any training
        run_distillation(DistillConfig(runs=1, epochs=1), data=_graph(**changes), progress=False)


def test_a_class_without_training_nodes_is_said():
    from graphkd.data import check_graph

    with pytest.warns(UserWarning, match=r"class\(es\) \[2\] have nodes but none in data.train_mask"):
        check_graph(_graph(y=torch.tensor([0, 0, 2, 1, 1, 1])))
