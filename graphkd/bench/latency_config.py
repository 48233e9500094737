"""The latency benchmark's options (``graphkd bench latency``'s flags), each checked to lie where it runs and
means something."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from graphkd.device import check_device
from graphkd.errors import GraphkdError

__all__ = ["LatencyConfig"]


@dataclass
class LatencyConfig:
    depths: tuple[int, ...] = (1, 2, 3, 4)
    teacher_hidden: int | None = None  # default: 128 on small graphs, 256 with batch norm on large ones
    student_widths: tuple[int, ...] = (64, 256)
    student_layers: int = 3
    ref_depth: int = 3  # teacher the students learn from, compressed, and compared against
    fanouts: tuple[int, ...] = (15, 10, 5)
    nodes: int = 100
    full: bool = True
    positions: int = 16  # 0: no student with position features
    arrival_fraction: float = 0.2
    warmup: int = 5
    batch_sizes: tuple[int, ...] = (1, 64, 1024, 4096)
    repeats: int = 3
    # one and two threads where the machine has two cores (the parser builds a default config on any machine)
    threads: tuple[int, ...] = field(default_factory=lambda: tuple(range(1, min(2, os.cpu_count() or 1) + 1)))
    epochs: int = 200
    large_epochs: int = 3
    large_student_epochs: int = 20
    large_batches: int | None = 40  # teacher batches (1024 seeds) per epoch on large graphs; None: all
    compress: bool = True
    sparsity: float = 0.8
    seed: int = 0
    # also serve every teacher from this device ("cuda", "cuda:N", "auto"; its CPU rows stay); "cpu": none
    teacher_device: str = "cpu"

    def __post_init__(self):
        """Every option within what runs and means something: a width of 0 or 0 repeats would write a report."""
        if not self.depths or min(self.depths) < 1 or max(self.depths) > 8:
            raise GraphkdError(f"depths must be between 1 and 8, got {self.depths}")
        if self.ref_depth not in self.depths:
            raise GraphkdError(f"ref_depth {self.ref_depth} must be one of the depths {self.depths}")
        at_least = {"student_widths": (1, 65536), "fanouts": (1, 10_000), "batch_sizes": (1, 10**8),
                    "threads": (1, os.cpu_count() or 1), "nodes": (1, 100_000), "teacher_hidden": (1, 65536),
                    "student_layers": (1, 8), "positions": (0, 1024), "warmup": (0, 10_000), "repeats": (1, 10_000),
                    "epochs": (1, 100_000), "large_epochs": (1, 100_000), "large_student_epochs": (1, 100_000),
                    "large_batches": (1, 10**8)}
        for name, (low, high) in at_least.items():
            value = getattr(self, name)
            values = value if isinstance(value, tuple) else (value,)
            if value is not None and (not values or not all(low <= v <= high for v in values)):
                raise GraphkdError(f"{name} must lie in [{low}, {high}], got {value}")
        for name in ("depths", "student_widths", "batch_sizes", "threads"):  # each value is one column or row
            if len(set(getattr(self, name))) != len(getattr(self, name)):
                raise GraphkdError(f"{name} repeats a value: {getattr(self, name)}")
        if not 0.01 <= self.arrival_fraction <= 0.99:
            raise GraphkdError(f"arrival_fraction must lie in [0.01, 0.99], got {self.arrival_fraction}")
        if not (math.isfinite(self.sparsity) and 0.0 <= self.sparsity < 1.0):
            raise GraphkdError(f"sparsity must lie in [0, 1), got {self.sparsity}")
        self.teacher_device = check_device(self.teacher_device)

    def fanouts_for(self, depth: int) -> list[int]:
        """Fan-outs for a ``depth``-layer GNN: the given ones, the last repeated for deeper models."""
        return [self.fanouts[min(i, len(self.fanouts) - 1)] for i in range(depth)]
