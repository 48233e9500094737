"""Dataset facts in one table: code looks facts up here instead of branching on names."""
from __future__ import annotations

from dataclasses import dataclass

from graphkd.errors import GraphkdError

__all__ = ["DATASETS", "DatasetInfo", "PER_SEED_SPLITS", "dataset_info"]

PLANETOID_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
# What OGB's zips hold under <folder>/raw for a homogeneous node-property dataset (see ogb/io/read_graph_raw.py).
OGB_RAW_FILES = ("edge.csv.gz", "node-feat.csv.gz", "node-label.csv.gz", "num-node-list.csv.gz",
                 "num-edge-list.csv.gz")
# ogbn-proteins has edge features instead of node features (graphkd.data.ogb averages them onto the nodes); its
# node_species.csv.gz is not read: split/species already holds the split by species.
OGB_PROTEINS_RAW_FILES = ("edge.csv.gz", "edge-feat.csv.gz", "node-label.csv.gz", "num-node-list.csv.gz",
                          "num-edge-list.csv.gz")


@dataclass(frozen=True)
class DatasetInfo:
    """What graphkd knows about a dataset before loading it.

    ``family`` picks the reader in :mod:`graphkd.data.load`; ``splits[0]`` is the default split.
    ``raw_files`` are the files expected under ``<root>/<folder>/raw`` (empty for generated graphs).
    ``directed``: the edges as distributed are one-way (citations); ``load_dataset`` adds reverse edges
    unless asked not to. ``task`` and ``metric``: what the labels pose and what scores it (``None``: the
    task's default, see :mod:`graphkd.tasks`), recorded as OGB's ``master.csv`` records them.
    """

    name: str
    family: str
    folder: str
    num_nodes: int
    num_features: int
    num_classes: int
    splits: tuple[str, ...]
    raw_files: tuple[str, ...] = ()
    normalize_features: bool = False
    directed: bool = False
    task: str = "multiclass"
    metric: str | None = None

    @property
    def default_split(self) -> str:
        return self.splits[0]


def _planetoid(name: str, nodes: int, features: int, classes: int) -> DatasetInfo:
    raw = tuple(f"ind.{name.lower()}.{s}" for s in PLANETOID_SUFFIXES)
    return DatasetInfo(name, "planetoid", name, nodes, features, classes,
                       ("public", "full", "random"), raw, normalize_features=True)


def _heterophilous(name: str, nodes: int, features: int, classes: int, folder: str | None = None) -> DatasetInfo:
    # Platonov et al. score the binary graphs by ROC-AUC, the others by accuracy; folder as PyG names it.
    folder = folder or name.lower().replace("-", "_")
    task, metric = ("binary", "roc_auc") if classes == 2 else ("multiclass", None)
    return DatasetInfo(name, "heterophilous", folder, nodes, features, classes, ("fixed",), (f"{folder}.npz",),
                       task=task, metric=metric)


def _ogbn(name: str, nodes: int, features: int, classes: int, directed: bool = False) -> DatasetInfo:
    # OGB's own folder naming: ogbn-arxiv lives in <root>/ogbn_arxiv.
    return DatasetInfo(name, "ogb", name.replace("-", "_"), nodes, features, classes, ("official",),
                       OGB_RAW_FILES, directed=directed)


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        _planetoid("Cora", 2708, 1433, 7),
        _planetoid("CiteSeer", 3327, 3703, 6),
        _planetoid("PubMed", 19717, 500, 3),
        DatasetInfo("Computers", "amazon", "Computers", 13752, 767, 10, ("random",),
                    ("amazon_electronics_computers.npz",)),
        DatasetInfo("Photo", "amazon", "Photo", 7650, 745, 8, ("random",),
                    ("amazon_electronics_photo.npz",)),
        DatasetInfo("CS", "coauthor", "CS", 18333, 6805, 15, ("random",), ("ms_academic_cs.npz",)),
        DatasetInfo("Physics", "coauthor", "Physics", 34493, 8415, 5, ("random",),
                    ("ms_academic_phy.npz",)),
        _ogbn("ogbn-arxiv", 169343, 128, 40, directed=True),
        _ogbn("ogbn-products", 2449029, 100, 47),
        DatasetInfo("ogbn-proteins", "ogb", "ogbn_proteins", 132534, 8, 112, ("official",), OGB_PROTEINS_RAW_FILES,
                    task="multilabel", metric="roc_auc"),  # 112 labels of 0/1, each scored by ROC-AUC
        _heterophilous("Roman-empire", 22662, 300, 18),
        _heterophilous("Amazon-ratings", 24492, 300, 5),
        _heterophilous("Minesweeper", 10000, 7, 2),
        _heterophilous("Tolokers", 11758, 10, 2),
        _heterophilous("Questions", 48921, 301, 2),
        _heterophilous("chameleon-filtered", 890, 2325, 5, folder="chameleon_filtered"),
        _heterophilous("squirrel-filtered", 2223, 2089, 5, folder="squirrel_filtered"),
        DatasetInfo("CSBM", "synthetic", "", 3000, 64, 5, ("random",)),
    )
}

# Splits that differ per seed, so a result names the seed that picked its split: "random" draws one (CPF), and
# "fixed" picks split k of the ten a dataset's authors published (Platonov et al.'s heterophilous graphs).
PER_SEED_SPLITS = ("random", "fixed")

# Names users type for the same datasets.
ALIASES = {
    "amazon-computers": "Computers", "amazoncomputers": "Computers", "amazon_computers": "Computers",
    "amazon-photo": "Photo", "amazonphoto": "Photo", "amazon_photo": "Photo",
    "coauthor-cs": "CS", "coauthorcs": "CS", "coauthor_cs": "CS",
    "coauthor-physics": "Physics", "coauthorphysics": "Physics", "coauthor_physics": "Physics",
    "synthetic": "CSBM",
    "roman_empire": "Roman-empire", "amazon_ratings": "Amazon-ratings",
    "chameleon_filtered": "chameleon-filtered", "squirrel_filtered": "squirrel-filtered",
    "arxiv": "ogbn-arxiv", "ogbn_arxiv": "ogbn-arxiv", "products": "ogbn-products", "ogbn_products": "ogbn-products",
    "proteins": "ogbn-proteins", "ogbn_proteins": "ogbn-proteins",
}


def dataset_info(name: str) -> DatasetInfo:
    """Look a dataset up by name (case-insensitive, common aliases accepted)."""
    key = str(name).lower()
    by_lower = {n.lower(): n for n in DATASETS}
    canonical = by_lower.get(key) or ALIASES.get(key)
    if canonical is None:
        raise GraphkdError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    return DATASETS[canonical]
