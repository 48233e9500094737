"""A run's output folder: graphkd writes its own files there and never replaces a file it did not write.

A run writes ``results.json``, ``run.toml``, ``student_seed<k>.pt``, its per-seed records in ``runs/`` and its
cached teachers (``soft_targets-<key>-seed<k>.pt``, ``teacher-<key>-seed<k>.pt``) into ``--out``, beside whatever
else the folder holds. Before any work, the files of the first three names already there are checked: one that
no graphkd run wrote is refused, never replaced. In ``runs/`` a file at a record's place that no run wrote as it
is (damaged, edited, a user's) is kept as ``<name>.replaced`` and the seed made again with a warning; the cached
teachers' names carry a hash of their options.
"""
from __future__ import annotations

from pathlib import Path

from graphkd.distill.run_file import RUN_FILE, RUN_FILE_HEADER
from graphkd.errors import GraphkdError, parse_json
from graphkd.io import load_tensors

__all__ = ["RESULTS_FILE", "check_run_folder"]

RESULTS_FILE = "results.json"
# What every results.json a run writes holds (the summary of run_distillation).
RESULTS_KEYS = {"dataset", "split", "runs", "setting", "config", "teacher", "baseline_mlp", "student", "per_seed"}


def _written_by_a_run(path: Path) -> bool:
    try:
        if path.name == RUN_FILE:
            return path.read_text().startswith(RUN_FILE_HEADER)
        if path.name == RESULTS_FILE:
            results = parse_json(path.read_bytes(), "results")
            return isinstance(results, dict) and RESULTS_KEYS <= results.keys() and isinstance(
                results["config"], dict) and isinstance(results["per_seed"], list)
        model = load_tensors(path, "graphkd model file")  # a student: tensors only, never unpickled
        return isinstance(model, dict) and {"config", "state_dict"} <= model.keys()
    except (OSError, UnicodeDecodeError, GraphkdError):
        return False


def check_run_folder(out: Path) -> None:
    """Refuse ``out`` when its ``results.json``, ``run.toml`` or a ``student_seed<k>.pt`` was not written by a
    graphkd run."""
    mine = [out / RESULTS_FILE, out / RUN_FILE, *sorted(out.glob("student_seed*.pt"))]
    foreign = [path.name for path in mine if path.exists() and not _written_by_a_run(path)]
    if foreign:
        raise GraphkdError(f"output folder {out} already holds {', '.join(foreign)}, which no graphkd run wrote; "
                           "graphkd never replaces a file it did not write: choose another --out, or move "
                           f"{'them' if len(foreign) > 1 else 'it'} away (a run file to start from can stay "
                           "anywhere else: --config FILE)")
