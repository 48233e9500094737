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
from graphkd.data.raw import RawFileError, read_npz_graph, read_planetoid


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


def test_missing_files_are_downloaded_from_the_real_address(data_root, tmp_path, monkeypatch):
    requested = []

    def fake_download(url, folder, log=True):  # stands in for the network: serves the shared copy
        requested.append(url)
        name = url.rsplit("/", 1)[1]
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(data_root / "Photo" / "raw" / name, Path(folder) / name)
        return str(Path(folder) / name)

    monkeypatch.setattr("graphkd.data.load.download_url", fake_download)
    assert load_dataset("Photo", root=tmp_path).num_features == 745
    assert requested == ["https://github.com/shchur/gnn-benchmark/raw/master/data/npz/amazon_electronics_photo.npz"]


def _dump(path, value):
    path.write_bytes(pickle.dumps(value))


@pytest.mark.parametrize("name, damage, message", [
    ("ind.cora.test.index", lambda path: path.write_text("1708\n" * 1000), "a test index is listed more than once"),
    ("ind.cora.ty", lambda path: _dump(path, np.zeros((1000, 7))), "1000 of 1000 label rows are not one-hot"),
    ("ind.cora.ally", lambda path: _dump(path, np.full((1708, 7), 0.5)), "label rows are not one-hot"),
    ("ind.cora.tx", lambda path: _dump(path, np.zeros((999, 1433), dtype=np.float32)),
     "ind.cora.ty: 1000 label rows for the 999 feature rows of .*ind.cora.tx"),
    ("ind.cora.ally", lambda path: _dump(path, np.eye(6)[np.zeros(1708, dtype=int)]),
     "ind.cora.ally: 6 columns where .*ind.cora.y has 7"),
    ("ind.cora.tx", lambda path: _dump(path, np.zeros((1000, 5), dtype=np.float32)),
     "ind.cora.tx: 5 columns where .*ind.cora.x has 1433"),
])
def test_damaged_planetoid_files_are_refused_by_name(data_root, tmp_path, name, damage, message):
    raw = tmp_path / "raw"
    shutil.copytree(data_root / "Cora" / "raw", raw)
    damage(raw / name)
    with pytest.raises(RawFileError, match=message):
        read_planetoid(raw, "Cora")
