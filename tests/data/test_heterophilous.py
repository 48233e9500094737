"""Platonov et al.'s heterophilous graphs on the real shared archives (through a temporary copy): their catalogue
facts, the ten fixed splits, undirected edges, homophily, and damaged or missing archives."""
from urllib.error import URLError

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from graphkd.data import DatasetNotFoundError, dataset_info, fixed_split, homophily, load_dataset
from graphkd.data.heterophilous import read_heterophilous
from graphkd.data.raw import RawFileError
from graphkd.distill import DistillConfig, run_distillation
from graphkd.errors import GraphkdError

SHARED = [("Minesweeper", "minesweeper"), ("Tolokers", "tolokers"), ("chameleon-filtered", "chameleon_filtered")]


def archive(data_root, folder: str) -> dict[str, np.ndarray]:
    with np.load(data_root / folder / "raw" / f"{folder}.npz") as npz:
        return {key: npz[key] for key in npz.files}


def numpy_homophily(edges: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Edge homophily and Lim et al.'s class-insensitive edge homophily of the undirected graph ``edges``
    (each edge stored once), computed from the definitions."""
    both = np.concatenate([edges, edges[:, ::-1]])  # no edge is stored twice (test_edges_get_their_reverses)
    same = y[both[:, 0]] == y[both[:, 1]]
    classes = y.max() + 1
    per_class = np.array([same[y[both[:, 1]] == k].mean() for k in range(classes)])
    share = np.bincount(y, minlength=classes) / y.size
    return same.mean(), np.clip(per_class - share, 0, None).sum() / (classes - 1)


@pytest.mark.parametrize("name, folder", SHARED)
def test_counts_match_catalogue_and_archive(data_root, name, folder):
    data, raw, info = load_dataset(name, root=data_root), archive(data_root, folder), dataset_info(name)
    assert (data.num_nodes, data.num_features, int(data.y.max()) + 1) == (
        info.num_nodes, info.num_features, info.num_classes)
    assert torch.equal(data.x, torch.from_numpy(raw["node_features"]))
    assert torch.equal(data.y, torch.from_numpy(raw["node_labels"]))
    assert (data.dataset, data.split, data.split_seed) == (info.name, "fixed", 0)


@pytest.mark.parametrize("name, folder", SHARED)
def test_edges_get_their_reverses(data_root, name, folder):
    data, edges = load_dataset(name, root=data_root), archive(data_root, folder)["edges"]
    pair_ids = lambda pairs: np.sort(pairs[:, 0] * data.num_nodes + pairs[:, 1])  # noqa: E731
    expected = pair_ids(np.concatenate([edges, edges[:, ::-1]]))
    assert np.array_equal(pair_ids(data.edge_index.t().numpy()), expected)
    assert np.unique(expected).size == expected.size  # no edge is stored both ways, and none is a self loop


@pytest.mark.parametrize("seed", [0, 3, 9])
def test_seed_k_runs_split_k(data_root, seed):
    data, raw = load_dataset("Tolokers", root=data_root, seed=seed), archive(data_root, "tolokers")
    assert data.split_seed == seed
    for mask in ("train", "val", "test"):
        assert torch.equal(data[f"{mask}_mask"], torch.from_numpy(raw[f"{mask}_masks"][seed]))


def test_splits_differ_between_seeds(data_root):
    first, fourth = (load_dataset("chameleon_filtered", root=data_root, seed=seed) for seed in (0, 3))
    assert not torch.equal(first.train_mask, fourth.train_mask)
    assert torch.equal(first.x, fourth.x) and torch.equal(first.edge_index, fourth.edge_index)


@pytest.mark.parametrize("seed", [10, -1])
def test_seed_outside_the_ten_splits_refused(data_root, seed):
    with pytest.raises(GraphkdError, match=r"Minesweeper.*10 splits.*seeds 0 \.\. 9"):
        load_dataset("Minesweeper", root=data_root, seed=seed)


def test_other_splits_refused(data_root):
    with pytest.raises(GraphkdError, match="fixed"):
        load_dataset("Minesweeper", root=data_root, split="random")
    with pytest.raises(GraphkdError, match="labels_per_class"):
        load_dataset("Minesweeper", root=data_root, labels_per_class=5)


@pytest.mark.parametrize("name, folder", SHARED)
def test_homophily_matches_definition(data_root, name, folder):
    raw = archive(data_root, folder)
    edge, insensitive = numpy_homophily(raw["edges"], raw["node_labels"])
    measured = homophily(load_dataset(name, root=data_root))
    assert measured["edge"] == pytest.approx(edge, abs=1e-6)
    assert measured["edge_insensitive"] == pytest.approx(insensitive, abs=1e-6)


def test_homophily_of_a_tiny_graph():
    # Path 0-1-2-3 with labels 0 0 1 1 and node 4 unlabelled beside node 0: 2 of the 3 labelled edges agree.
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3, 0, 4], [1, 0, 2, 1, 3, 2, 4, 0]])
    measured = homophily(Data(edge_index=edge_index, y=torch.tensor([0, 0, 1, 1, -1])))
    assert measured["edge"] == pytest.approx(4 / 6)
    assert measured["node"] == pytest.approx((1 + 0.5 + 0.5 + 1) / 4)
    # Each class: 2 of its 3 incoming edges agree, against a 1/2 share of the nodes.
    assert measured["edge_insensitive"] == pytest.approx(2 * (2 / 3 - 1 / 2))
    with pytest.raises(GraphkdError, match="one class id per node"):
        homophily(Data(edge_index=edge_index, y=torch.zeros(5, 3)))


@pytest.mark.parametrize("name, task, metric", [
    ("Minesweeper", "binary", "roc_auc"), ("Tolokers", "binary", "roc_auc"), ("Questions", "binary", "roc_auc"),
    ("Roman-empire", "multiclass", None), ("Amazon-ratings", "multiclass", None),
    ("chameleon-filtered", "multiclass", None), ("squirrel-filtered", "multiclass", None)])
def test_catalogue_task_and_metric(name, task, metric):
    info = dataset_info(name)
    assert (info.task, info.metric, info.splits, info.family) == (task, metric, ("fixed",), "heterophilous")


@pytest.mark.parametrize("typed, name, folder", [
    ("roman_empire", "Roman-empire", "roman_empire"), ("amazon-ratings", "Amazon-ratings", "amazon_ratings"),
    ("QUESTIONS", "Questions", "questions"), ("chameleon_filtered", "chameleon-filtered", "chameleon_filtered"),
    ("Squirrel-Filtered", "squirrel-filtered", "squirrel_filtered")])
def test_names_users_type(typed, name, folder):
    info = dataset_info(typed)
    assert (info.name, info.folder, info.raw_files) == (name, folder, (f"{folder}.npz",))


def test_offline_missing_archive_explained(tmp_path, monkeypatch):
    asked = []

    def offline(url, *args, **kwargs):
        asked.append(url)
        raise URLError("no network")

    monkeypatch.setattr("graphkd.data.load.download_url", offline)
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("Roman-empire", root=tmp_path)
    assert asked == ["https://github.com/yandex-research/heterophilous-graphs/raw/main/data/roman_empire.npz"]
    message = str(err.value)
    assert str(tmp_path / "roman_empire" / "raw") in message and "roman_empire.npz" in message


def good_arrays() -> dict[str, np.ndarray]:
    masks = np.zeros((2, 4), dtype=bool)
    return {"node_features": np.eye(4, dtype=np.float32), "node_labels": np.array([0, 1, 0, 1]),
            "edges": np.array([[0, 1], [2, 3]]), "train_masks": masks, "val_masks": masks, "test_masks": masks}


@pytest.mark.parametrize("change, message", [
    ({"edges": None}, "not a heterophilous-graphs archive"),
    ({"edges": np.array([[0, 4]])}, "node 4, outside"),
    ({"node_labels": np.array([0, 1, 0])}, "node_labels"),
    ({"val_masks": np.zeros((3, 4), dtype=bool)}, "val_masks must be bool"),
    ({"test_masks": np.zeros((2, 4), dtype=np.int64)}, "test_masks must be bool"),
    ({"node_labels": np.array([{"a": 1}, 1, 0, 1], dtype=object)}, "not a heterophilous-graphs archive"),
])
def test_damaged_archive_refused(tmp_path, change, message):
    arrays = {key: value for key, value in {**good_arrays(), **change}.items() if value is not None}
    np.savez(tmp_path / "graph.npz", **arrays)
    with pytest.raises(RawFileError, match=message):
        read_heterophilous(tmp_path / "graph.npz")


def test_fixed_split_of_a_pyg_style_graph():
    # PyG's HeterophilousGraphDataset keeps the masks as [num_nodes, 10] columns, as read_heterophilous does.
    masks = torch.rand(4, 10) > 0.5
    data = Data(x=torch.ones(4, 1), train_mask=masks, val_mask=~masks, test_mask=masks)
    assert torch.equal(fixed_split(data, 7).val_mask, ~masks[:, 7])
    assert data.train_mask.shape == (4, 10)  # the caller's graph keeps all ten


def test_given_teacher_refused_on_per_seed_splits(data_root):
    # Seed k distils on split k, whose test nodes another split's teacher trained on.
    cfg = DistillConfig(dataset="Minesweeper", root=str(data_root), teacher=torch.zeros(10000, 2), runs=1)
    with pytest.raises(GraphkdError, match="Minesweeper's split is 'fixed', another one per seed"):
        run_distillation(cfg, progress=False)
