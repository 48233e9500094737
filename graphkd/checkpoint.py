"""Resumable training: save and restore everything a training loop needs to continue bit-identically.

A checkpoint holds the next epoch, the model and optimizer state, the best weights so far with their
validation accuracy and the epochs since, and the random states (torch CPU and, where CUDA was used, the GPUs',
python ``random``, numpy), because dropout and ``randperm`` draw from the global generators. Its tensors are
saved on the CPU and load onto the model's device, so a run checkpointed on a GPU resumes on a CPU-only machine
and the reverse. It also stores a fingerprint of the
model and training configuration and refuses to resume a run whose fingerprint differs, and a content
hash of everything it holds: a checkpoint changed after it was written stops the run instead of
being resumed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
from pathlib import Path

import numpy as np
import torch

from graphkd.errors import GraphkdError
from graphkd.io import atomic_save, load_tensors, update_hash

__all__ = ["load_training_state", "save_training_state", "training_fingerprint"]

FORMAT = "graphkd-training-checkpoint-v1"


def _describe(model: torch.nn.Module) -> dict:
    if hasattr(model, "config"):
        return model.config()
    return {"class": type(model).__qualname__,
            "parameters": {name: list(p.shape) for name, p in model.named_parameters()}}


def training_fingerprint(model: torch.nn.Module, config, auxiliary: torch.nn.Module | None = None) -> dict:
    """Plain-typed description of what a run is: the model's ``config()`` (else its class and parameter
    shapes), any auxiliary modules trained beside it, and the training configuration (a dataclass). The
    data and loss are the caller's concern."""
    described = {"model": _describe(model), "train": dataclasses.asdict(config)}
    if auxiliary is not None:
        described["auxiliary"] = _describe(auxiliary)
    # The JSON round-trip turns tuples into lists, so a stored and a fresh fingerprint compare equal.
    return json.loads(json.dumps(described, default=str))


def _rng_state() -> dict:
    np_state = np.random.get_state(legacy=False)
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": {"bit_generator": np_state["bit_generator"],
                       "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                       "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                       "gauss": float(np_state["gauss"])}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # dropout on a GPU draws from its generator
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    # A GPU's generators resume where they were on a machine with as many GPUs; elsewhere (a CPU-only machine) the
    # run continues from the CPU state alone, equal within the seeds' spread rather than bit for bit.
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    np_state = state["numpy"]
    np.random.set_state({"bit_generator": np_state["bit_generator"],
                         "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
                         "has_gauss": np_state["has_gauss"], "gauss": np_state["gauss"]})


def _content_hash(blob: dict) -> str:
    h = hashlib.sha256()
    update_hash(h, {key: value for key, value in blob.items() if key != "content_hash"})
    return h.hexdigest()


def save_training_state(path: str | os.PathLike, fingerprint: dict, next_epoch: int, model: torch.nn.Module,
                        optimizer: torch.optim.Optimizer, best_state: dict, best_acc: float,
                        since_best: int, auxiliary: torch.nn.Module | None = None) -> Path:
    """Atomically write the state at an epoch boundary; ``next_epoch`` is the first epoch still to run."""
    blob = {"format": FORMAT, "fingerprint": fingerprint, "next_epoch": next_epoch,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "auxiliary": auxiliary.state_dict() if auxiliary is not None else {},
            "best_state": best_state, "best_acc": best_acc, "since_best": since_best, "rng": _rng_state()}
    blob["content_hash"] = _content_hash(blob)
    return atomic_save(blob, path)


def _differences(stored: dict, current: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(stored) | set(current)):
        a, b = stored.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: checkpoint {a!r}, this run {b!r}")
    return out


def load_training_state(path: str | os.PathLike, fingerprint: dict, model: torch.nn.Module,
                        optimizer: torch.optim.Optimizer, auxiliary: torch.nn.Module | None = None) -> dict | None:
    """Restore ``model``, ``optimizer`` and the random states from ``path``; return the loop state
    (``next_epoch``, ``best_state``, ``best_acc``, ``since_best``), or ``None`` if there is no checkpoint.

    Raises ``GraphkdError`` if the file is not a training checkpoint, was changed after it was written
    (its content hash differs), or was written for another model or training configuration.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        raise GraphkdError(f"checkpoint {path} is a folder, not a file; remove it or choose another checkpoint path")
    if not path.is_file():
        return None
    blob = load_tensors(path, "training checkpoint")
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise GraphkdError(f"{path} is not a graphkd training checkpoint (expected format {FORMAT!r})")
    if blob.get("content_hash") != _content_hash(blob):
        raise GraphkdError(f"checkpoint {path} was changed after it was written (its content hash is missing or "
                           "differs); delete it to train from the start")
    differences = _differences(blob["fingerprint"], fingerprint)
    if differences:
        raise GraphkdError(f"checkpoint {path} belongs to a different model or training configuration "
                           f"({'; '.join(differences)}); delete it or choose another checkpoint path")
    model.load_state_dict(blob["model"])
    if auxiliary is not None:
        auxiliary.load_state_dict(blob["auxiliary"])
    optimizer.load_state_dict(blob["optimizer"])
    _set_rng_state(blob["rng"])
    return {key: blob[key] for key in ("next_epoch", "best_state", "best_acc", "since_best")}
