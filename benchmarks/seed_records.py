"""Finished seeds' records, kept beside the results so that a long table resumes in a fresh checkout.

``--work`` holds what a seed needs while it runs (teachers, checkpoints, student files); it is not committed,
and a session that ends takes it along. A seed's record (its accuracies) is a few kilobytes: it is added here
as soon as the seed finishes, and a seed found here is not run again. A Physics seed of the adversarial row
costs about an hour of one core, so losing them with the work folder cost whole sessions.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

from graphkd.distill import DistillConfig
from graphkd.distill.pipeline import record_mismatch
from graphkd.io import update_json

__all__ = ["SeedRecords"]


class SeedRecords:
    """One dataset's finished seed records in a JSON file, ``{config key: {seed: record}}``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._records = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def get(self, cfg: DistillConfig, seed: int, data_key: str) -> dict | None:
        """``seed``'s record for ``cfg`` if one is kept, made on the graph ``data_key`` (see
        :func:`graphkd.distill.pipeline.seed_data_key`) and untouched since; else ``None``."""
        record = self._records.get(cfg.key(), {}).get(str(seed))
        if record is None:
            return None
        if (mismatch := record_mismatch(record, cfg, seed, data_key)) is not None:
            warnings.warn(f"the kept record of seed {seed} in {self.path} {mismatch}; running the seed again",
                          stacklevel=2)
            return None
        return record

    def add(self, cfg: DistillConfig, record: dict) -> None:
        """Keep ``record``, a finished seed of ``cfg``, merged into the file (other processes may add to it)."""
        def merge(records: dict) -> None:
            records.setdefault(cfg.key(), {})[str(record["seed"])] = record

        self._records = update_json(self.path, merge, {})
