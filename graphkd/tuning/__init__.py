"""Tuning: the distillation run that validates best on a graph, found by Optuna within a budget (``graphkd tune``).

Optuna is an optional dependency (``pip install 'graphkd[tune]'``): the names here load on first use, so the rest of
graphkd, its command line included, imports without it.
"""
import importlib

# Public names and the module holding each, imported on first use (PEP 562).
_EXPORTS = {
    "tune": "graphkd.tuning.search", "TuneResult": "graphkd.tuning.search",
    "SearchSpace": "graphkd.tuning.space", "Choice": "graphkd.tuning.space", "Range": "graphkd.tuning.space",
    "DEFAULT_SPACE": "graphkd.tuning.space", "read_space": "graphkd.tuning.space_file",
    "Budget": "graphkd.tuning.budget", "parse_duration": "graphkd.tuning.budget",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'graphkd.tuning' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
