"""Fixtures shared by the tests: tiny hand-made graphs, and a writable copy of ../shared/data.

Only the tests (and .ci/run) know where the shared data lives; the package finds data through its
root setting. ``GRAPHKD_SHARED_DATA`` overrides the location.
"""
import importlib.util
import os
import shutil
import socket
import sys
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from torch_geometric.data import Data

from graphkd.tasks import Task

# One thread: the suite's graphs are small, where thread start-up dominates, and a busy machine turns
# two threads on two cores into 40-100x slower small ops.
torch.set_num_threads(1)

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SHARED_DATA = Path(os.environ.get("GRAPHKD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """A temporary root holding copies of the shared datasets' ``raw/`` folders (never the shared folder)."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared data not found at {SHARED_DATA}; CI must have ../shared/data beside the clone")
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    root = tmp_path_factory.mktemp("graphkd-data")
    for raw in SHARED_DATA.glob("*/raw"):
        shutil.copytree(raw, root / raw.parent.name / "raw")
    return root


@pytest.fixture
def tiny_graph() -> Data:
    """Six nodes, two classes, two triangles joined by one edge; two labelled nodes per split. Scored by accuracy:
    ROC-AUC on two validation nodes is 1.0 from the first epoch, so early stopping on it would keep that epoch."""
    edge_index = torch.tensor([[0, 1, 1, 2, 0, 2, 3, 4, 4, 5, 3, 5, 2, 3],
                               [1, 0, 2, 1, 2, 0, 4, 3, 5, 4, 5, 3, 3, 2]])
    x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.8, 0.3], [0.2, 0.7], [0.1, 0.9], [0.0, 1.0]])
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    mask = lambda idx: torch.zeros(6, dtype=torch.bool).index_fill_(0, torch.tensor(idx), True)  # noqa: E731
    return Data(x=x, y=y, edge_index=edge_index, train_mask=mask([0, 5]), val_mask=mask([1, 4]),
                test_mask=mask([2, 3]), task=Task("binary", "accuracy"))


@pytest.fixture
def ring_graph():
    """``ring_graph(num_nodes=40, classes=3, features=6, seed=0)``: a ring with chords (undirected), random
    features, masks split in thirds (the serving and latency tests' graph)."""

    def make(num_nodes=40, classes=3, features=6, seed=0) -> Data:
        gen = torch.Generator().manual_seed(seed)
        src = torch.arange(num_nodes)
        pairs = torch.cat([torch.stack([src, (src + 1) % num_nodes]), torch.stack([src, (src + 7) % num_nodes])], 1)
        edge_index = torch.cat([pairs, pairs.flip(0)], 1)
        y = torch.randint(classes, (num_nodes,), generator=gen)
        x = torch.randn(num_nodes, features, generator=gen) + torch.nn.functional.one_hot(y, features).float()
        part = torch.arange(num_nodes) % 3
        return Data(x=x, y=y, edge_index=edge_index, train_mask=part == 0, val_mask=part == 1, test_mask=part == 2)

    return make


@pytest.fixture
def benchmark_script(monkeypatch):
    """``benchmark_script("distill_table")``: the script ``benchmarks/distill_table.py`` as a module."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as when run as a script: it may import the scripts beside it

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)  # a spawned process pickles its functions by module name
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def ogb_offline(monkeypatch):
    """Every download ogb attempts fails as it would without network; records the urls asked for."""
    urls = []

    def fail(url, folder, log=True):
        urls.append(url)
        raise URLError("no network")

    monkeypatch.setattr("ogb.utils.url.download_url", fail)
    return urls


@pytest.fixture
def torchrun_env(monkeypatch):
    """``torchrun_env(local_rank=0)``: the environment torchrun gives one rank of a world of one, on a free local
    port, set for this test only."""

    def set_env(local_rank: int = 0) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        for name, value in {"RANK": "0", "LOCAL_RANK": str(local_rank), "WORLD_SIZE": "1",
                            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}.items():
            monkeypatch.setenv(name, value)

    return set_env
