"""graphkd: distil deep GNN teachers into MLP and shallow-GNN students that serve fast on CPU."""
from graphkd.data import load_dataset, prepare_data, random_split
from graphkd.distill import DistillConfig, run_distillation
from graphkd.io import load_model, save_model
from graphkd.losses import distillation_loss, logit_matching_loss, soft_target_loss, tempered_softmax
from graphkd.models import GAT, GCN, GNN, MLP, GraphSAGE, build_model
from graphkd.soft_targets import SoftTargets

__version__ = "0.1.0"

__all__ = [
    "GAT",
    "GCN",
    "GNN",
    "MLP",
    "DistillConfig",
    "GraphSAGE",
    "SoftTargets",
    "build_model",
    "distillation_loss",
    "load_dataset",
    "load_model",
    "logit_matching_loss",
    "prepare_data",
    "random_split",
    "run_distillation",
    "save_model",
    "soft_target_loss",
    "tempered_softmax",
]
