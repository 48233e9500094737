"""OGB loaders on tiny graphs written in OGB's own on-disk layout (header-less gzip CSVs, as ogb's zips hold)."""
import gzip
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.utils import is_undirected

from graphkd.data import DatasetNotFoundError, load_dataset
from graphkd.data.ogb import CACHE_NAME, ogb_accuracy

NUM_NODES, NUM_FEATURES = 50, 6


def _write_csv(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        f.writelines(",".join(str(v) for v in np.atleast_1d(row)) + "\n" for row in rows)


def write_ogb_dataset(folder: Path, split_type: str, seed: int = 0) -> dict:
    """OGB's layout: raw/{edge,node-feat,node-label,num-node-list,num-edge-list}.csv.gz, split/<type>/*.csv.gz."""
    rng = np.random.default_rng(seed)
    pairs = {(int(a), int(b)) for a, b in rng.integers(0, NUM_NODES, size=(150, 2)) if a != b}
    edges = np.array(sorted(pairs), dtype=np.int64)  # some pairs appear in both directions, as in arxiv
    x = np.round(rng.normal(size=(NUM_NODES, NUM_FEATURES)), 4).astype(np.float32)
    y = rng.integers(0, 40, size=NUM_NODES)
    order = rng.permutation(NUM_NODES)
    split = {"train": order[:30], "valid": order[30:40], "test": order[40:]}
    _write_csv(folder / "raw" / "edge.csv.gz", edges)
    _write_csv(folder / "raw" / "node-feat.csv.gz", x)
    _write_csv(folder / "raw" / "node-label.csv.gz", y)
    _write_csv(folder / "raw" / "num-node-list.csv.gz", [NUM_NODES])
    _write_csv(folder / "raw" / "num-edge-list.csv.gz", [len(edges)])
    for part, idx in split.items():
        _write_csv(folder / "split" / split_type / f"{part}.csv.gz", idx)
    return {"edges": edges, "x": x, "y": y, "split": split}


def _mask(idx) -> torch.Tensor:
    return torch.zeros(NUM_NODES, dtype=torch.bool).index_fill_(0, torch.as_tensor(idx), True)


def _edge_set(edge_index: torch.Tensor) -> set:
    return set(map(tuple, edge_index.t().tolist()))


def test_arxiv_loads_official_split_and_is_made_undirected(tmp_path, ogb_offline):
    truth = write_ogb_dataset(tmp_path / "ogbn_arxiv", "time")
    data = load_dataset("ogbn-arxiv", root=tmp_path)
    assert data.x.shape == (NUM_NODES, NUM_FEATURES) and data.x.dtype == torch.float32
    assert torch.allclose(data.x, torch.from_numpy(truth["x"]))
    assert data.y.dtype == torch.long and data.y.dim() == 1 and data.y.tolist() == truth["y"].tolist()
    for mask, part in (("train_mask", "train"), ("val_mask", "valid"), ("test_mask", "test")):
        assert torch.equal(getattr(data, mask), _mask(truth["split"][part]))
    assert (data.dataset, data.split, getattr(data, "split_seed", None)) == ("ogbn-arxiv", "official", None)
    directed = {tuple(e) for e in truth["edges"].tolist()}
    assert is_undirected(data.edge_index)
    assert _edge_set(data.edge_index) == directed | {(b, a) for a, b in directed}
    assert data.edge_index.size(1) == len(directed | {(b, a) for a, b in directed})  # no duplicate edges

    kept = load_dataset("arxiv", root=tmp_path, to_undirected=False)
    assert torch.equal(kept.edge_index, torch.from_numpy(truth["edges"]).t())
    assert not is_undirected(kept.edge_index)
    assert ogb_offline == []  # everything was on disk: no download attempted


def test_products_split_type_and_inverse_edges_come_from_master_csv(tmp_path, ogb_offline):
    truth = write_ogb_dataset(tmp_path / "ogbn_products", "sales_ranking", seed=1)
    data = load_dataset("ogbn-products", root=tmp_path)
    edges = torch.from_numpy(truth["edges"]).t()
    assert data.edge_index.size(1) == 2 * edges.size(1)  # OGB adds every edge's inverse for products
    assert _edge_set(data.edge_index) == _edge_set(edges) | _edge_set(edges.flip(0))
    assert torch.equal(data.test_mask, _mask(truth["split"]["test"])) and data.split == "official"


def test_parsed_tensors_are_cached_and_refreshed_when_files_change(tmp_path, ogb_offline, monkeypatch):
    folder = tmp_path / "ogbn_arxiv"
    write_ogb_dataset(folder, "time")
    first = load_dataset("ogbn-arxiv", root=tmp_path)
    cache = folder / "processed" / CACHE_NAME
    assert cache.is_file()
    assert isinstance(torch.load(cache, weights_only=True), dict)  # plain tensors, safe to load

    def no_csv(*args, **kwargs):
        raise AssertionError("CSV parsed again although the cache is valid")

    with monkeypatch.context() as patch:
        patch.setattr("graphkd.data.ogb._read_csv", no_csv)
        again = load_dataset("ogbn-arxiv", root=tmp_path)
        assert torch.equal(again.x, first.x) and torch.equal(again.edge_index, first.edge_index)
        (folder / "raw" / "node-feat.csv.gz").unlink()  # raw files deleted to save disk: the cache still serves
        assert torch.equal(load_dataset("ogbn-arxiv", root=tmp_path).x, first.x)

    truth = write_ogb_dataset(folder, "time", seed=5)  # rewritten files must not be answered from the stale cache
    fresh = load_dataset("ogbn-arxiv", root=tmp_path)
    assert fresh.y.tolist() == truth["y"].tolist() and not torch.equal(fresh.x, first.x)


def test_inconsistent_files_are_reported(tmp_path, ogb_offline):
    folder = tmp_path / "ogbn_arxiv"
    write_ogb_dataset(folder, "time")
    _write_csv(folder / "raw" / "num-node-list.csv.gz", [NUM_NODES + 1])
    with pytest.raises(ValueError, match="num-node-list says 51 nodes"):
        load_dataset("ogbn-arxiv", root=tmp_path)


def test_missing_files_offline_name_folder_and_files(tmp_path, ogb_offline):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("ogbn-arxiv", root=tmp_path)
    message = str(err.value)
    assert str(tmp_path / "ogbn_arxiv") in message and "GRAPHKD_DATA" in message
    assert "raw/edge.csv.gz" in message and "raw/node-label.csv.gz" in message
    assert "split/time/train.csv.gz" in message and "URLError" in message
    assert ogb_offline == ["http://snap.stanford.edu/ogb/data/nodeproppred/arxiv.zip"]  # master.csv's url

    folder = tmp_path / "ogbn_arxiv"
    write_ogb_dataset(folder, "time")
    (folder / "split" / "time" / "valid.csv.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match="Expected: split/time/valid.csv.gz. Put them"):
        load_dataset("ogbn-arxiv", root=tmp_path)


def test_download_unpacks_ogb_zip_into_the_dataset_folder(tmp_path, monkeypatch):
    staging = tmp_path / "staging"
    truth = write_ogb_dataset(staging / "arxiv", "time")  # OGB's zip holds arxiv/raw, arxiv/split, ...

    def fake_download(url, folder, log=True):
        path = Path(folder) / url.rpartition("/")[2]
        with zipfile.ZipFile(path, "w") as archive:
            for file in (staging / "arxiv").rglob("*.csv.gz"):
                archive.write(file, file.relative_to(staging).as_posix())
        return str(path)

    monkeypatch.setattr("ogb.utils.url.download_url", fake_download)
    root = tmp_path / "root"
    data = load_dataset("ogbn-arxiv", root=root)
    assert data.y.tolist() == truth["y"].tolist()
    assert (root / "ogbn_arxiv" / "split" / "time" / "test.csv.gz").is_file()
    assert sorted(p.name for p in root.iterdir()) == ["ogbn_arxiv"]  # zip and unpacking folder removed


def test_ogb_accuracy_matches_hand_count():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(37, 40, generator=gen)
    y = torch.randint(0, 40, (37,), generator=gen)
    y[:9] = logits[:9].argmax(dim=1)  # make some right so the value is not trivially zero
    hand = sum(int(logits[i].argmax()) == int(y[i]) for i in range(37)) / 37
    assert hand >= 9 / 37
    assert ogb_accuracy("ogbn-arxiv", logits, y) == pytest.approx(hand)
    assert ogb_accuracy("ogbn-arxiv", logits.argmax(dim=1), y.view(-1, 1)) == pytest.approx(hand)
    with pytest.raises(ValueError, match="one prediction per label"):
        ogb_accuracy("ogbn-arxiv", logits[:5], y)
    with pytest.raises(ValueError, match="unknown dataset"):
        ogb_accuracy("ogbn-foo", logits, y)


def test_glnn_benchmark_runs_on_raw_layout_data(tmp_path, ogb_offline, capsys):
    """benchmarks/ogb_glnn.py end to end on a tiny ogbn-arxiv in OGB's layout, scored by the Evaluator."""
    import json
    import runpy

    write_ogb_dataset(tmp_path / "ogbn_arxiv", "time")
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "ogb_glnn.py"
    main = runpy.run_path(str(script))["main"]
    out = tmp_path / "glnn.json"
    main(["--dataset", "ogbn-arxiv", "--root", str(tmp_path), "--runs", "2", "--fanouts", "3", "2",
          "--teacher-hidden", "8", "--teacher-epochs", "2", "--student-hidden", "8", "--student-epochs", "2",
          "--patience", "1", "--threads", "1", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["stand_in"] is False and [r["seed"] for r in saved["runs"]] == [0, 1]
    for run in saved["runs"]:
        for name in ("teacher", "labels_only_mlp", "distilled_mlp"):
            assert 0 <= run[name] <= 100
            assert run[name] * 10 == pytest.approx(round(run[name] * 10))  # a count out of 10 test nodes
    printed = capsys.readouterr().out
    assert "ogbn-arxiv, 2 seed(s)" in printed and "70.73" in printed  # beside GLNN's published teacher
