"""Where graphkd computes: ``"cpu"`` (the default), ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA where present).

A run names its device as a string (:data:`DEVICES` says which), checked when the run is configured
(:func:`check_device`: a malformed name is refused at once) and resolved when it starts
(:func:`resolve_device`: ``"cuda"`` on a machine without CUDA is refused there, so a configuration written on
a GPU machine still reads on a CPU-only one). Under torchrun, ``"cuda"`` and ``"auto"`` mean each rank's own GPU,
``cuda:<LOCAL_RANK>``. What graphkd writes never depends on the device: files hold CPU tensors
(:func:`graphkd.io.atomic_save`) and load with ``map_location="cpu"`` (:func:`graphkd.io.load_tensors`).
"""
from __future__ import annotations

import copy
import os
import re

import torch
from torch_geometric.data import Data

from graphkd.errors import GraphkdError

__all__ = ["DEVICES", "check_device", "graph_on", "local_gpu", "module_device", "resolve_device"]

DEVICES = '"cpu", "cuda", "cuda:N" (the N-th GPU) or "auto" (CUDA where present, else the CPU)'
_PATTERN = re.compile(r"cpu|cuda(:\d{1,3})?|auto")


def check_device(value) -> str:
    """``value`` as graphkd spells a device (lower case, no blanks), or one error listing the valid forms; whether
    CUDA is present is asked only when a run starts (:func:`resolve_device`)."""
    spelled = value.strip().lower() if isinstance(value, str) else None
    if spelled is None or not _PATTERN.fullmatch(spelled):
        raise GraphkdError(f"device must be {DEVICES}, got {value!r:.80}")
    return spelled


def local_gpu() -> int | None:
    """The GPU a torchrun rank owns (its ``LOCAL_RANK``) when every rank of its machine has one, else ``None``;
    for a process started plainly, GPU 0 where CUDA is present."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    return local_rank if count >= local_world and local_rank < count else None


def resolve_device(value) -> torch.device:
    """The ``torch.device`` a run computes on (see the module docstring); refused with a sentence saying what to
    do when CUDA, or the GPU named, is absent."""
    spelled = check_device(value)
    if spelled == "cpu":
        return torch.device("cpu")
    gpu = local_gpu()
    if spelled == "auto":
        return torch.device("cpu") if gpu is None else torch.device("cuda", gpu)
    if not torch.cuda.is_available():
        raise GraphkdError(f"device {spelled!r} asks for CUDA, which this machine's torch {torch.__version__} "
                           "cannot use (no GPU, or a CPU-only build): use device 'cpu', or 'auto' to take CUDA "
                           "only where it is present")
    if spelled == "cuda":
        if gpu is None:
            raise GraphkdError(f"device 'cuda' under torchrun gives each rank a GPU of its own, and this machine "
                               f"has {torch.cuda.device_count()} for {os.environ.get('LOCAL_WORLD_SIZE')} ranks: "
                               "start at most that many processes per machine (--nproc-per-node), or use 'cpu'")
        return torch.device("cuda", gpu)
    index = int(spelled.split(":")[1])
    if index >= torch.cuda.device_count():
        raise GraphkdError(f"device {spelled!r} names GPU {index}, and this machine has "
                           f"{torch.cuda.device_count()} (cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    return torch.device("cuda", index)


def module_device(module: torch.nn.Module) -> torch.device:
    """Where ``module``'s first parameter (or buffer) lives; the CPU for a module with neither."""
    tensor = next(module.parameters(), None)
    if tensor is None:
        tensor = next(module.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def graph_on(data: Data, device: torch.device | str) -> Data:
    """``data`` with every tensor on ``device``: ``data`` itself when its features are there already, else a
    shallow copy (the caller's ``Data`` is never changed)."""
    device = torch.device(device)
    if data.x.device == device:
        return data
    return copy.copy(data).to(device)
