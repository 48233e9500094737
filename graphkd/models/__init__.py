"""Teachers and students: the GNN family (GCN, GraphSAGE, GAT, GAT-sep), APPNP, GRAND and the MLP, and their files
(``model.config()`` and the weights, loaded ``weights_only``)."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from graphkd.checks import check_choice
from graphkd.errors import GraphkdError
from graphkd.io import atomic_save, load_tensors, one_line
from graphkd.models.appnp import APPNP
from graphkd.models.gnn import GAT, GCN, GNN, GATSep, GraphSAGE
from graphkd.models.grand import GRAND
from graphkd.models.mlp import MLP

__all__ = ["APPNP", "GAT", "GATSep", "GCN", "GNN", "GRAND", "GraphSAGE", "MLP", "MODELS", "build_model",
           "count_parameters", "load_model", "save_model", "upgrade_config"]

MODELS = {"gcn": GCN, "sage": GraphSAGE, "gat": GAT, "gatsep": GATSep, "appnp": APPNP, "grand": GRAND, "mlp": MLP}


def build_model(kind: str, **kwargs):
    """Build a model from its short name (``gcn``, ``sage``, ``gat``, ``gatsep``, ``appnp``, ``grand``, ``mlp``)
    and constructor arguments; ``build_model(**model.config())`` rebuilds ``model``."""
    return MODELS[check_choice("model", kind, list(MODELS))](**kwargs)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def upgrade_config(config: dict) -> dict:
    """A saved model configuration in today's vocabulary: MLPs saved before ``norm=`` replaced
    ``batch_norm: bool`` (graphkd 0.1) load with the same layers."""
    if not isinstance(config, dict) or config.get("kind") != "mlp" or "batch_norm" not in config:
        return config
    config = dict(config)
    config["norm"] = "batch_norm" if config.pop("batch_norm") else None
    return config


def save_model(model: torch.nn.Module, path: str | os.PathLike, meta: dict | None = None) -> Path:
    """Store ``model.config()``, its weights and free-form ``meta`` (plain types and tensors)."""
    return atomic_save({"config": model.config(), "state_dict": model.state_dict(), "meta": meta or {}}, path)


def load_model(path: str | os.PathLike) -> tuple[torch.nn.Module, dict]:
    """Rebuild a model saved by :func:`save_model`; returns ``(model in eval mode, meta)``."""
    path = Path(path)
    blob = load_tensors(path, "graphkd model file")
    if not isinstance(blob, dict) or "config" not in blob or "state_dict" not in blob:
        raise GraphkdError(f"{path} is not a graphkd model file (expected keys 'config' and 'state_dict')")
    try:
        model = build_model(**upgrade_config(blob["config"]))
        model.load_state_dict(blob["state_dict"])
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:  # a config that does not fit the weights
        raise GraphkdError(f"{path}: the stored model configuration does not fit its weights ({one_line(exc)})") \
            from exc
    return model.eval(), blob.get("meta", {})
