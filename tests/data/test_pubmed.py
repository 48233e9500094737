"""PubMed through load_dataset: a tiny copy in Planetoid's on-disk format, and offline errors for missing files."""
import pickle
import shutil
from collections import defaultdict
from urllib.error import URLError

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import SHARED_DATA

from graphkd.data import DatasetNotFoundError, load_dataset

NUM_TRAIN, NUM_UNLABELLED, NUM_TEST, NUM_FEATURES, NUM_CLASSES = 6, 4, 20, 5, 3
NUM_ALLX = NUM_TRAIN + 500 + NUM_UNLABELLED  # Planetoid's public split validates on the 500 nodes after y's
NUM_NODES = NUM_ALLX + NUM_TEST


def _dump(path, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def write_tiny_pubmed(raw, seed: int = 0) -> dict:
    """``ind.pubmed.*`` as the Planetoid repository stores them (see torch_geometric/io/planetoid.py)."""
    rng = np.random.default_rng(seed)
    raw.mkdir(parents=True)
    features = rng.random((NUM_NODES, NUM_FEATURES)) * (rng.random((NUM_NODES, NUM_FEATURES)) < 0.6)
    labels = rng.integers(0, NUM_CLASSES, size=NUM_NODES)
    labels[:NUM_TRAIN] = np.arange(NUM_TRAIN) % NUM_CLASSES
    one_hot = np.eye(NUM_CLASSES, dtype=np.int64)[labels]
    # Test nodes come after allx; tx/ty list them in test.index order, which is not sorted.
    test_index = NUM_ALLX + rng.permutation(NUM_TEST)
    csr = lambda rows: sp.csr_matrix(features[rows].astype(np.float32))  # noqa: E731
    _dump(raw / "ind.pubmed.x", csr(np.arange(NUM_TRAIN)))
    _dump(raw / "ind.pubmed.allx", csr(np.arange(NUM_ALLX)))
    _dump(raw / "ind.pubmed.tx", csr(test_index))
    _dump(raw / "ind.pubmed.y", one_hot[:NUM_TRAIN])
    _dump(raw / "ind.pubmed.ally", one_hot[:NUM_ALLX])
    _dump(raw / "ind.pubmed.ty", one_hot[test_index])
    (raw / "ind.pubmed.test.index").write_text("".join(f"{i}\n" for i in test_index))
    graph = defaultdict(list)
    pairs = {tuple(sorted(p)) for p in rng.integers(0, NUM_NODES, size=(900, 2)).tolist() if p[0] != p[1]}
    for a, b in pairs:
        graph[a].append(b)
        graph[b].append(a)
    _dump(raw / "ind.pubmed.graph", graph)
    return {"features": features, "labels": labels, "test_index": test_index, "pairs": pairs}


def test_tiny_pubmed_loads_with_public_split(tmp_path):
    truth = write_tiny_pubmed(tmp_path / "PubMed" / "raw")
    data = load_dataset("PubMed", root=tmp_path, split="public")
    assert data.x.shape == (NUM_NODES, NUM_FEATURES) and data.num_nodes == NUM_NODES
    assert data.y.tolist() == truth["labels"].tolist()
    row_sums = truth["features"].sum(axis=1, keepdims=True).clip(min=1e-12)
    assert torch.allclose(data.x, torch.from_numpy(truth["features"] / row_sums).float(), atol=1e-6)
    assert data.train_mask.nonzero().view(-1).tolist() == list(range(NUM_TRAIN))
    assert data.val_mask.nonzero().view(-1).tolist() == list(range(NUM_TRAIN, NUM_TRAIN + 500))
    assert data.test_mask.nonzero().view(-1).tolist() == sorted(truth["test_index"].tolist())
    assert not (data.train_mask & data.val_mask).any() and not (data.val_mask & data.test_mask).any()
    edges = set(map(tuple, data.edge_index.t().tolist()))
    assert edges == truth["pairs"] | {(b, a) for a, b in truth["pairs"]}
    assert (data.dataset, data.split) == ("PubMed", "public")


@pytest.fixture
def offline(monkeypatch):
    def fail(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr("graphkd.data.load.download_url", fail)  # what graphkd downloads raw files with


def test_missing_pubmed_raw_folder_is_explained(tmp_path, offline):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("PubMed", root=tmp_path, split="public")
    message = str(err.value)
    assert str(tmp_path / "PubMed" / "raw") in message and "PubMed/raw/" in message
    assert all(f"ind.pubmed.{s}" in message for s in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"))


def test_incomplete_real_pubmed_names_only_the_missing_files(tmp_path, offline):
    incomplete = SHARED_DATA / "PubMed_incomplete"
    if not incomplete.is_dir():
        pytest.skip(f"no incomplete PubMed copy at {incomplete}")
    shutil.copytree(incomplete, tmp_path / "PubMed" / "raw")
    present = {p.name for p in incomplete.iterdir()}
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("PubMed", root=tmp_path)
    expected = "ind.pubmed." + ", ind.pubmed.".join(
        s for s in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index") if f"ind.pubmed.{s}" not in present)
    assert f"Expected: {expected}." in str(err.value)
