"""A run's output folder: graphkd writes its own files there and never replaces a file it did not write.

A run writes ``results.json``, ``run.toml``, ``runs/seed<k>.json``, ``student_seed<k>.pt`` and its cached
teachers (``soft_targets-<key>-seed<k>.pt``, ``teacher-<key>-seed<k>.pt``) into ``--out``, beside whatever else
the folder holds. The two names a user is likely to have used for files of their own, ``results.json`` and
``run.toml``, are checked before any work: such a file that no graphkd run wrote is refused, never replaced.
"""
from __future__ import annotations

import json
from pathlib import Path

from graphkd.distill.run_file import RUN_FILE, RUN_FILE_HEADER
from graphkd.errors import GraphkdError

__all__ = ["RESULTS_FILE", "check_run_folder"]

RESULTS_FILE = "results.json"


def _written_by_a_run(path: Path) -> bool:
    try:
        if path.name == RUN_FILE:
            return path.read_text().startswith(RUN_FILE_HEADER)
        results = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(results, dict) and {"config", "per_seed"} <= results.keys()


def check_run_folder(out: Path) -> None:
    """Refuse ``out`` when its ``results.json`` or ``run.toml`` was not written by a graphkd run."""
    foreign = [name for name in (RESULTS_FILE, RUN_FILE)
               if (out / name).exists() and not _written_by_a_run(out / name)]
    if foreign:
        raise GraphkdError(f"output folder {out} already holds {' and '.join(foreign)}, which no graphkd run wrote; "
                           "graphkd never replaces a file it did not write: choose another --out, or move "
                           f"{'them' if len(foreign) > 1 else 'it'} away (a run file to start from can stay "
                           "anywhere else: --config FILE)")
