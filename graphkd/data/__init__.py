"""Datasets: the fact table, loaders with offline errors, CPF random and published fixed splits, homophily and
synthetic graphs."""
from graphkd.data.catalog import DATASETS, PER_SEED_SPLITS, DatasetInfo, dataset_info
from graphkd.data.graphs import from_networkx
from graphkd.data.heterophilous import fixed_split
from graphkd.data.homophily import HOMOPHILY_MEASURES, homophily
from graphkd.data.load import check_graph, load_dataset, model_features, model_graph, prepare_data
from graphkd.data.root import DatasetNotFoundError, data_root
from graphkd.data.splits import largest_connected_component, random_split
from graphkd.data.synthetic import csbm, multilabel_csbm

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DatasetNotFoundError",
    "HOMOPHILY_MEASURES",
    "PER_SEED_SPLITS",
    "check_graph",
    "csbm",
    "data_root",
    "dataset_info",
    "fixed_split",
    "from_networkx",
    "homophily",
    "largest_connected_component",
    "load_dataset",
    "model_features",
    "model_graph",
    "multilabel_csbm",
    "prepare_data",
    "random_split",
]
