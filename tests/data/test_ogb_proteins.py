"""ogbn-proteins on a tiny graph written in OGB's real layout: gzip CSVs without headers, edge features and no node
features, 112 label columns, the split by species under split/species."""
import dataclasses
import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from ogb.nodeproppred import Evaluator

from graphkd.data import DatasetNotFoundError, load_dataset
from graphkd.data.catalog import dataset_info
from graphkd.data.ogb import CACHE_NAME, CACHE_VERSION, edge_feature_mean, ogb_files, ogb_meta, read_ogb
from graphkd.distill import DistillConfig, run_distillation
from graphkd.models import load_model
from graphkd.tasks import Task

NUM_NODES, NUM_LABELS, NUM_EDGE_FEATURES = 30, 112, 8
ISOLATED = NUM_NODES - 1  # a node without edges: its features are 0


def _write_csv(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        f.writelines(",".join(str(v) for v in np.atleast_1d(row)) + "\n" for row in rows)


def write_proteins(folder: Path, seed: int = 0) -> dict:
    """raw/{edge,edge-feat,node-label,node_species,num-node-list,num-edge-list}.csv.gz, split/species/*.csv.gz;
    each undirected edge stored once, as OGB stores proteins' edges."""
    rng = np.random.default_rng(seed)
    pairs = {tuple(sorted(map(int, p))) for p in rng.integers(0, ISOLATED, size=(80, 2)) if p[0] != p[1]}
    edges = np.array(sorted(pairs), dtype=np.int64)
    edge_feat = np.round(rng.uniform(size=(len(edges), NUM_EDGE_FEATURES)), 3)
    order = rng.permutation(NUM_NODES)
    split = {"train": np.sort(order[:18]), "valid": np.sort(order[18:24]), "test": np.sort(order[24:])}
    y = (rng.uniform(size=(NUM_NODES, NUM_LABELS)) < 0.3).astype(np.int64)
    y[split["train"][np.arange(NUM_LABELS) % len(split["train"])], np.arange(NUM_LABELS)] = 1  # each label learnable
    raw = folder / "raw"
    _write_csv(raw / "edge.csv.gz", edges)
    _write_csv(raw / "edge-feat.csv.gz", edge_feat)
    _write_csv(raw / "node-label.csv.gz", y)
    _write_csv(raw / "node_species.csv.gz", rng.choice([3702, 4932, 9606], size=NUM_NODES))
    _write_csv(raw / "num-node-list.csv.gz", [NUM_NODES])
    _write_csv(raw / "num-edge-list.csv.gz", [len(edges)])
    for part, idx in split.items():
        _write_csv(folder / "split" / "species" / f"{part}.csv.gz", idx)
    return {"edges": edges, "edge_feat": edge_feat, "y": y, "split": split}


def _mean_of_incident_edges(edges: np.ndarray, edge_feat: np.ndarray) -> np.ndarray:
    """Each node's features as OGB's MLP baseline makes them, counted by hand: the mean over the edges it is an
    end of (each edge runs both ways in the graph OGB builds), 0 without edges."""
    x = np.zeros((NUM_NODES, NUM_EDGE_FEATURES))
    for node in range(NUM_NODES):
        incident = [feat for (a, b), feat in zip(edges, edge_feat, strict=True) if node in (a, b)]
        if incident:
            x[node] = np.mean(incident, axis=0)
    return x


def _mask(idx) -> torch.Tensor:
    return torch.zeros(NUM_NODES, dtype=torch.bool).index_fill_(0, torch.as_tensor(idx), True)


def test_edge_feature_mean_on_a_path():
    edge_index = torch.tensor([[0, 1], [1, 2]])  # edges 0-1 and 1-2, stored once
    edge_attr = torch.tensor([[1.0, 10.0], [3.0, 30.0]])
    both_ways = edge_feature_mean(edge_index, edge_attr, 4, add_inverse_edge=True)
    assert torch.equal(both_ways, torch.tensor([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [0.0, 0.0]]))
    sources = edge_feature_mean(edge_index, edge_attr, 4, add_inverse_edge=False)  # one-way: at the source only
    assert torch.equal(sources, torch.tensor([[1.0, 10.0], [3.0, 30.0], [0.0, 0.0], [0.0, 0.0]]))


def test_read_ogb_gives_mean_edge_features_multilabel_y_and_species_split(tmp_path, ogb_offline):
    truth = write_proteins(tmp_path / "ogbn_proteins")
    data = read_ogb(dataset_info("proteins"), tmp_path)
    assert data.x.shape == (NUM_NODES, NUM_EDGE_FEATURES) and data.x.dtype == torch.float32
    expected = _mean_of_incident_edges(truth["edges"], truth["edge_feat"])
    assert np.allclose(data.x.numpy(), expected, atol=1e-6) and not data.x[ISOLATED].any()
    assert data.y.dtype == torch.long and data.y.shape == (NUM_NODES, NUM_LABELS)
    assert torch.equal(data.y, torch.from_numpy(truth["y"]))
    stored = torch.from_numpy(truth["edges"]).t()
    assert torch.equal(data.edge_index, torch.cat([stored, stored.flip(0)], dim=1))  # master.csv: add_inverse_edge
    for mask, part in (("train_mask", "train"), ("val_mask", "valid"), ("test_mask", "test")):
        assert torch.equal(data[mask], _mask(truth["split"][part]))
    assert ogb_offline == []


def test_load_dataset_keeps_the_112_labels(tmp_path, ogb_offline):
    truth = write_proteins(tmp_path / "ogbn_proteins", seed=1)
    data = load_dataset("ogbn-proteins", root=tmp_path)
    assert data.y.shape == (NUM_NODES, NUM_LABELS) and torch.equal(data.y, torch.from_numpy(truth["y"]))
    assert data.edge_index.size(1) == 2 * len(truth["edges"])  # undirected already: nothing added
    assert (data.dataset, data.split, getattr(data, "split_seed", None)) == ("ogbn-proteins", "official", None)
    info = dataset_info("ogbn-proteins")
    assert (info.task, info.metric, info.num_classes, info.num_features) == ("multilabel", "roc_auc", 112, 8)


def test_cache_holds_derived_features_and_2d_labels(tmp_path, ogb_offline, monkeypatch):
    folder = tmp_path / "ogbn_proteins"
    write_proteins(folder)
    info = dataset_info("ogbn-proteins")
    first = read_ogb(info, tmp_path)
    blob = torch.load(folder / "processed" / CACHE_NAME, weights_only=True)
    assert blob["version"] == CACHE_VERSION and blob["x_from"] == "edge-feat mean over incident edges"
    assert blob["y"].shape == (NUM_NODES, NUM_LABELS)

    def no_csv(*args, **kwargs):
        raise AssertionError("CSV parsed again although the cache is valid")

    with monkeypatch.context() as patch:
        patch.setattr("graphkd.data.ogb._read_csv", no_csv)
        (folder / "raw" / "edge-feat.csv.gz").unlink()  # deleted to save disk: the cache still serves
        again = read_ogb(info, tmp_path)
    for key in ("x", "y", "edge_index", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(again[key], first[key]), key

    truth = write_proteins(folder, seed=3)  # rewritten files are read again
    assert torch.equal(read_ogb(info, tmp_path).y, torch.from_numpy(truth["y"]))


def test_missing_files_offline_name_the_proteins_files(tmp_path, ogb_offline):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("proteins", root=tmp_path)
    message = str(err.value)
    assert str(tmp_path / "ogbn_proteins") in message
    for name in ("raw/edge.csv.gz", "raw/edge-feat.csv.gz", "raw/node-label.csv.gz", "split/species/train.csv.gz",
                 "split/species/test.csv.gz"):
        assert name in message
    assert "node-feat" not in message and "node_species" not in message  # neither is read
    assert ogb_offline == ["http://snap.stanford.edu/ogb/data/nodeproppred/proteins.zip"]  # master.csv's url


def test_disagreeing_label_columns_are_reported(tmp_path, ogb_offline):
    folder = tmp_path / "ogbn_proteins"
    truth = write_proteins(folder)
    _write_csv(folder / "raw" / "node-label.csv.gz", truth["y"][:, :40])
    with pytest.raises(ValueError, match=r"node-label.csv.gz \(30, 40\) \(112 label column\(s\) expected\)"):
        read_ogb(dataset_info("ogbn-proteins"), tmp_path)


def test_task_scores_as_ogb_evaluator_for_proteins_and_arxiv():
    gen = torch.Generator().manual_seed(0)
    y = (torch.rand(40, NUM_LABELS, generator=gen) < 0.3).long()
    y[:, 5] = 0  # a label without positives here: skipped by OGB's Evaluator
    scores = torch.randn(40, NUM_LABELS, generator=gen) + y  # better than chance
    official = Evaluator("ogbn-proteins").eval({"y_true": y, "y_pred": scores})["rocauc"]
    assert 0.5 < official < 1
    assert Task(kind="multilabel", ogb_name="ogbn-proteins").score(scores, y) == pytest.approx(official)
    assert Task(kind="multilabel").score(scores, y) == pytest.approx(official)  # scikit-learn's path agrees

    logits = torch.randn(37, 40, generator=gen)
    labels = torch.randint(0, 40, (37,), generator=gen)
    labels[:9] = logits[:9].argmax(dim=1)
    official = Evaluator("ogbn-arxiv").eval({"y_true": labels.view(-1, 1),
                                             "y_pred": logits.argmax(dim=1, keepdim=True)})["acc"]
    assert official >= 9 / 37
    assert Task(kind="multiclass", ogb_name="ogbn-arxiv").score(logits, labels) == pytest.approx(official)


def test_master_csv_is_read_for_what_graphkd_cannot_read_and_agrees_with_the_catalog():
    meta = ogb_meta("ogbn-proteins")
    assert (meta["split"], meta["add_inverse_edge"], meta["num tasks"]) == ("species", "True", "112")
    assert ogb_files(dataset_info("ogbn-proteins"), meta)[:2] == ["raw/edge.csv.gz", "raw/edge-feat.csv.gz"]
    for name in ("ogbn-mag", "ogbn-papers100M"):  # heterogeneous; stored as npz
        with pytest.raises(ValueError, match="homogeneous OGB classification datasets stored as CSV"):
            ogb_meta(name)
    with pytest.raises(ValueError, match="catalog entry for ogbn-proteins disagrees with ogb's master.csv"):
        ogb_files(dataclasses.replace(dataset_info("ogbn-proteins"), num_classes=2), meta)


def test_distillation_on_proteins_is_scored_by_ogbs_evaluator(tmp_path, ogb_offline):
    # The whole path on OGB's real layout: 112 labels, per-label binary KD, every score from ogb's Evaluator.
    write_proteins(tmp_path / "ogbn_proteins", seed=1)
    summary = run_distillation(DistillConfig(dataset="ogbn-proteins", root=str(tmp_path), runs=1, teacher="sage",
                                             epochs=5, patience=5), out=tmp_path / "run", progress=False)
    assert (summary["task"], summary["metric"]) == ("multilabel", "roc_auc")
    data = load_dataset("ogbn-proteins", root=tmp_path)
    student, _ = load_model(tmp_path / "run" / "student_seed0.pt")
    logits = student.eval()(data.x)
    expected = Evaluator("ogbn-proteins").eval({"y_true": data.y[data.test_mask], "y_pred": logits[data.test_mask]})
    assert summary["per_seed"][0]["student"]["test_roc_auc"] == pytest.approx(expected["rocauc"], abs=1e-6)
    assert 0 <= summary["teacher"]["test_roc_auc_mean"] <= 1
