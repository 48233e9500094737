"""Datasets: the fact table, loaders with offline errors, CPF random splits and synthetic graphs."""
from graphkd.data.catalog import DATASETS, DatasetInfo, dataset_info
from graphkd.data.graphs import from_networkx
from graphkd.data.load import check_graph, load_dataset, model_features, model_graph, prepare_data
from graphkd.data.root import DatasetNotFoundError, data_root
from graphkd.data.splits import largest_connected_component, random_split
from graphkd.data.synthetic import csbm

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DatasetNotFoundError",
    "check_graph",
    "csbm",
    "data_root",
    "dataset_info",
    "from_networkx",
    "largest_connected_component",
    "load_dataset",
    "model_features",
    "model_graph",
    "prepare_data",
    "random_split",
]
