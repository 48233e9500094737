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

    monkeypatch.setattr("graphkd.data.load.download_url", offline)  # what graphkd downloads raw files with
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
