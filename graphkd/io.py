"""Saving and loading files: atomic writes, tensors loaded ``weights_only``, content hashes, shared JSON.

Model files (config + state dict) are graphkd.models' :func:`~graphkd.models.save_model` and
:func:`~graphkd.models.load_model`."""
from __future__ import annotations

import copy
import errno
import fcntl
import hashlib
import json
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from graphkd.errors import GraphkdError, MissingFileError, parse_json

__all__ = ["atomic_save", "atomic_write_text", "file_sha256", "folder_path", "load_tensors", "on_cpu", "one_line",
           "os_error_message", "update_hash", "update_json", "writable_folder"]


def folder_path(value: str | os.PathLike, what: str) -> Path:
    """``value`` as a folder's path, ``~`` expanded as a shell would; an empty string (an unset shell variable,
    ``--out ""``) is refused rather than taken as the current folder."""
    if isinstance(value, str) and not value.strip():
        raise GraphkdError(f"{what} is empty; give a folder (\".\" for the current one)")
    if not isinstance(value, (str, os.PathLike)):
        raise GraphkdError(f"{what} must be a path, got {type(value).__name__}")
    return Path(value).expanduser()


def writable_folder(path: str | os.PathLike, what: str) -> Path:
    """Create ``path`` if needed and check that files can be made in it, before any work that would be lost."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise GraphkdError(f"{what} {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as exc:
        raise GraphkdError(f"{what} {path} cannot be written ({exc.strerror or exc})") from exc
    return path


def _atomic_write(path: str | os.PathLike, write) -> Path:
    """``write(file)`` into a temporary file beside ``path``, then rename: a killed run never leaves half a file."""
    path = Path(path)
    if path.is_dir():  # os.replace would fail naming the temporary file, not this one
        raise GraphkdError(f"{path} is a folder; a file was to be written there")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically, its tensors as CPU tensors (:func:`on_cpu`): a file written
    from a GPU loads on a machine without one."""
    return _atomic_write(path, lambda f: torch.save(on_cpu(obj), f))


def on_cpu(obj):
    """``obj`` with every tensor in it (inside dicts, lists and tuples) on the CPU. What holds only CPU tensors is
    returned as it is; a dict that changes is copied with its type and attributes (a state dict's ``_metadata``)."""
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        moved = {key: on_cpu(value) for key, value in obj.items()}
        if all(moved[key] is obj[key] for key in obj):
            return obj
        out = copy.copy(obj)
        out.update(moved)
        return out
    if type(obj) in (list, tuple):
        moved = [on_cpu(value) for value in obj]
        return obj if all(a is b for a, b in zip(moved, obj, strict=True)) else type(obj)(moved)
    return obj


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return _atomic_write(path, lambda f: f.write(text.encode()))


def update_json(path: str | os.PathLike, update: Callable[[dict], None], initial: dict,
                then: Callable[[dict], None] | None = None) -> dict:
    """Read the JSON at ``path`` (``initial`` if absent), ``update`` it in place, write it back atomically,
    then call ``then`` on it, all under an exclusive lock on ``<path>.lock``: several processes can add
    to one results file without losing each other's entries. Returns the updated contents."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        contents = parse_json(path.read_bytes(), str(path)) if path.is_file() else initial
        update(contents)
        atomic_write_text(path, json.dumps(contents, indent=1))
        if then is not None:
            then(contents)
    return contents


def load_tensors(path: str | os.PathLike, what: str):
    """``torch.load`` with ``weights_only=True`` (plain tensors and containers, never code); a missing,
    truncated, corrupt or code-carrying file raises one error that names it and says what was expected."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no {what} at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # PyTorch's message advises weights_only=False, which would run the file's code: say what happened instead
        reason = _weights_only_reason(exc)
        if "global" not in reason.lower():  # damaged bytes, or a plain pickle, rather than a refused object
            raise GraphkdError(f"{path} is not a readable {what} (not written by torch.save, or damaged: {reason})") \
                from exc
        raise GraphkdError(f"{path} is not a {what}: it holds objects other than tensors and plain containers "
                           f"({reason}), which graphkd refuses to unpickle") from exc
    except Exception as exc:  # RuntimeError (bad zip), EOFError (truncated), KeyError (text), ...
        raise GraphkdError(f"{path} is not a readable {what} (not written by torch.save, or damaged: "
                           f"{one_line(exc)})") from exc


def os_error_message(exc: OSError) -> str:
    """An ``OSError`` as a sentence that names the path, what is wrong with it and what to do: Python's own reads
    "[Errno 17] File exists: 'out/runs'", which says neither."""
    path = exc.filename if exc.filename is not None else "a file graphkd uses"
    move = "move it away or choose another folder"
    if isinstance(exc, FileExistsError):
        return f"cannot make the folder {path}: a file of that name is in the way; {move}"
    if isinstance(exc, NotADirectoryError):
        return f"cannot use {path}: part of that path is a file where graphkd needs a folder; {move}"
    if isinstance(exc, IsADirectoryError):
        return f"cannot use {path}: it is a folder where graphkd needs a file; {move}"
    if isinstance(exc, PermissionError):
        return f"cannot use {path}: permission denied; change its permissions or choose another folder"
    if isinstance(exc, FileNotFoundError):
        return f"{path} does not exist"
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device that holds {path}; free some, or choose a folder on another device"
    return f"cannot use {path}: {exc.strerror or one_line(exc)}"


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line: its type and its message's lines joined, cut at ``limit`` characters."""
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _weights_only_reason(exc: Exception) -> str:
    """The line of a ``weights_only`` refusal that says what was found, without PyTorch's advice around it."""
    advice = ("Weights only load failed", "Please file an issue", "Check the documentation")
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and not line.strip().startswith(advice)]
    # newer releases put numbered advice ("(1) In PyTorch 2.6, ...") before the line that says what was found
    found = [line for line in lines if line.startswith("WeightsUnpickler error:")] or lines
    if not found:
        return type(exc).__name__
    # the line goes on to advise allowlisting the class, which would let the file's code run: cut that off
    return found[0].removeprefix("WeightsUnpickler error:").split(" Please use `torch.serialization")[0].strip()


def file_sha256(path: str | os.PathLike) -> str | None:
    """The sha256 of a file's bytes, or ``None`` when there is no such file."""
    path = Path(path)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def update_hash(h, value) -> None:
    """Feed ``value``, a tensor or a nested structure of tensors and plain values, into hash ``h`` (shapes
    and dtypes included, so equal bytes of another shape hash differently)."""
    if isinstance(value, torch.Tensor):
        value = value.to_dense() if value.layout != torch.strided else value
        h.update(f"{tuple(value.shape)}{value.dtype}".encode())
        h.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        h.update(f"dict{len(value)}".encode())
        for key in sorted(value, key=repr):
            h.update(repr(key).encode())
            update_hash(h, value[key])
    elif isinstance(value, (list, tuple)):
        h.update(f"list{len(value)}".encode())
        for item in value:
            update_hash(h, item)
    else:
        h.update(repr(value).encode())
