"""Teachers and students: the GNN family (GCN, GraphSAGE, GAT), APPNP, GRAND and the MLP."""
from graphkd.checks import check_choice
from graphkd.models.appnp import APPNP
from graphkd.models.gnn import GAT, GCN, GNN, GraphSAGE
from graphkd.models.grand import GRAND
from graphkd.models.mlp import MLP

__all__ = ["APPNP", "GAT", "GCN", "GNN", "GRAND", "GraphSAGE", "MLP", "MODELS", "build_model", "count_parameters"]

MODELS = {"gcn": GCN, "sage": GraphSAGE, "gat": GAT, "appnp": APPNP, "grand": GRAND, "mlp": MLP}


def build_model(kind: str, **kwargs):
    """Build a model from its short name (``gcn``, ``sage``, ``gat``, ``appnp``, ``grand``, ``mlp``) and
    constructor arguments; ``build_model(**model.config())`` rebuilds ``model``."""
    return MODELS[check_choice("model", kind, list(MODELS))](**kwargs)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
