"""Raw files read without running code from them: a restricted unpickler, npz without pickles, and
exactly PyG's data on the real shared datasets."""
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from graphkd.data import load_dataset
from graphkd.data.raw import RawFileError, read_npz_graph, read_planetoid, safe_unpickle


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("name, reader", [("Cora", "planetoid"), ("CiteSeer", "planetoid"), ("Photo", "npz"),
                                          ("CS", "npz")])
def test_same_data_as_pygs_readers(data_root, tmp_path, name, reader):
    from torch_geometric.datasets import Amazon, Coauthor, Planetoid

    shutil.copytree(data_root / name, tmp_path / name)
    raw = tmp_path / name / "raw"
    if reader == "planetoid":
        mine, theirs = read_planetoid(raw, name), Planetoid(str(tmp_path), name)[0]
        keys = ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask")
    else:
        mine = read_npz_graph(next(raw.glob("*.npz")))
        theirs = (Amazon if name == "Photo" else Coauthor)(str(tmp_path), name)[0]
        keys = ("x", "edge_index", "y")
    for key in keys:
        assert torch.equal(mine[key], theirs[key]), key


def test_pickles_of_other_types_are_refused_and_run_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "ind.cora.x"
    path.write_bytes(pickle.dumps(RunsCode()))
    with pytest.raises(RawFileError, match=r"ind.cora.x: not a valid Planetoid file .*refused to load posix.system"):
        safe_unpickle(path)
    assert not (tmp_path / "pwned").exists()
    path.write_bytes(pickle.dumps(np.eye(2))[:20])  # truncated
    with pytest.raises(RawFileError, match="ind.cora.x"):
        safe_unpickle(path)


def test_crafted_raw_file_in_the_data_root_is_refused(data_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(data_root / "Cora", tmp_path / "Cora")
    (tmp_path / "Cora" / "raw" / "ind.cora.graph").write_bytes(pickle.dumps(RunsCode()))
    with pytest.raises(RawFileError, match="ind.cora.graph"):
        load_dataset("Cora", root=tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_a_crafted_processed_cache_is_never_read(data_root, tmp_path, monkeypatch):
    # PyG retries processed/data.pt with weights_only=False; graphkd never opens processed/ at all.
    monkeypatch.chdir(tmp_path)
    shutil.copytree(data_root / "Cora", tmp_path / "Cora")
    for folder in ("Cora/processed", "Photo/processed"):
        (tmp_path / folder).mkdir(parents=True)
        for name in ("data.pt", "pre_filter.pt", "pre_transform.pt"):
            (tmp_path / folder / name).write_bytes(pickle.dumps(RunsCode()))
    shutil.copytree(data_root / "Photo" / "raw", tmp_path / "Photo" / "raw")
    assert load_dataset("Cora", root=tmp_path).num_nodes == 2708
    assert load_dataset("Photo", root=tmp_path).num_nodes == 7487  # its largest connected component
    assert not (tmp_path / "pwned").exists()


def test_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "amazon_electronics_photo.npz"
    np.savez(path, attr_data=np.array([{"a": 1}], dtype=object))
    with pytest.raises(RawFileError, match="amazon_electronics_photo.npz: not a valid graph archive"):
        read_npz_graph(path)


def test_missing_files_are_downloaded_from_the_real_address(data_root, tmp_path, monkeypatch):
    requested = []

    def fake_download(url, folder, log=True):  # stands in for the network: serves the shared copy
        requested.append(url)
        name = url.rsplit("/", 1)[1]
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(data_root / "Photo" / "raw" / name, Path(folder) / name)
        return str(Path(folder) / name)

    monkeypatch.setattr("torch_geometric.data.download_url", fake_download)
    assert load_dataset("Photo", root=tmp_path).num_features == 745
    assert requested == ["https://github.com/shchur/gnn-benchmark/raw/master/data/npz/amazon_electronics_photo.npz"]
