"""graphkd: distil deep GNN teachers into MLP and shallow-GNN students that serve fast on CPU."""
import importlib

__version__ = "0.1.0"

# Public names and the module holding each, imported on first use (PEP 562): `import graphkd.serve.predictor`
# serves an exported student with NumPy alone and must not pull in torch.
_EXPORTS = {
    "APPNP": "graphkd.models", "GAT": "graphkd.models", "GCN": "graphkd.models", "GNN": "graphkd.models",
    "GRAND": "graphkd.models", "GraphSAGE": "graphkd.models", "MLP": "graphkd.models", "build_model": "graphkd.models",
    "DistillConfig": "graphkd.distill", "run_distillation": "graphkd.distill", "RunConfig": "graphkd.distill",
    "read_run_file": "graphkd.distill",
    "SoftTargets": "graphkd.distill.soft_targets", "born_again": "graphkd.distill.born_again",
    "union_logits": "graphkd.distill.union", "union_teacher": "graphkd.distill.union",
    "distillation_loss": "graphkd.distill.losses", "logit_matching_loss": "graphkd.distill.losses",
    "soft_target_loss": "graphkd.distill.losses", "tempered_softmax": "graphkd.distill.losses",
    "load_dataset": "graphkd.data", "prepare_data": "graphkd.data", "random_split": "graphkd.data",
    "load_model": "graphkd.models", "save_model": "graphkd.models",
    "GraphkdError": "graphkd.errors", "MissingFileError": "graphkd.errors",
    "Predictor": "graphkd.serve.predictor", "export_student": "graphkd.serve.export",
    "tune": "graphkd.tuning.search", "TuneResult": "graphkd.tuning.search",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'graphkd' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
