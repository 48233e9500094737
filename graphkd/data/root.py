"""Where datasets live: the data folder, and the error that names the files missing from it.

Both loaders read it: :mod:`graphkd.data.load` (Planetoid, Amazon, Coauthor) and :mod:`graphkd.data.ogb`.
"""
from __future__ import annotations

import os
from pathlib import Path

from graphkd.data.catalog import DatasetInfo
from graphkd.errors import GraphkdError, MissingFileError

__all__ = ["DATA_ENV", "DatasetNotFoundError", "data_root", "missing_files_error"]

DATA_ENV = "GRAPHKD_DATA"


class DatasetNotFoundError(MissingFileError):
    """The dataset's files are not on disk and could not be downloaded."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: ``root`` if given, else ``$GRAPHKD_DATA``, else a per-user cache folder."""
    if root is None and os.environ.get(DATA_ENV):
        root = os.environ[DATA_ENV]
    if root is not None:
        root = Path(root).expanduser()
        if root.exists() and not root.is_dir():
            raise GraphkdError(f"data root {root} is a file; give the folder that holds <Name>/raw/")
        return root
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "graphkd"


def missing_files_error(info: DatasetInfo, root: Path, folder: Path, missing: list[str],
                        exc: BaseException) -> DatasetNotFoundError:
    """The error for files absent from ``folder`` (below ``root``) whose download failed with ``exc``."""
    return DatasetNotFoundError(
        f"{info.name}: files missing from {folder} and the download failed ({type(exc).__name__}: {exc}). "
        f"Expected: {', '.join(missing)}. Put them there, or point --root / ${DATA_ENV} at a folder "
        f"holding {folder.relative_to(root).as_posix()}/."
    )
