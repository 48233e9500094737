"""Self-distillation in born-again rounds (Furlanello et al., 2018): the student of round k teaches round k+1.

Round 0 is ``cfg.teacher`` (trained here, or given). In every later round a fresh student of ``kind`` (``mlp``,
``gcn`` or ``sage``) learns from the previous round's soft targets with ``cfg``'s
objective, and its logits on every node become the next round's soft targets. The rounds share the graph,
its split and the transfer set; each round's model starts from its own seed.
"""
from __future__ import annotations

from torch_geometric.data import Data
from tqdm.auto import tqdm

from graphkd.checks import check_choice
from graphkd.data.load import model_graph
from graphkd.distill.config import STUDENTS, DistillConfig
from graphkd.distill.pipeline import train_student, with_task
from graphkd.distill.teacher import teacher_soft_targets
from graphkd.distill.teachers import capture
from graphkd.errors import GraphkdError
from graphkd.tasks import task_of

__all__ = ["born_again"]


def born_again(cfg: DistillConfig, data: Data, rounds: int, kind: str, seed: int = 0,
               progress: bool = False) -> list[dict]:
    """Run ``rounds`` born-again rounds after the teacher; one record per round, round 0 the teacher:
    ``{"round", "model", "val_<metric>", "test_<metric>"}`` (``val_acc`` for accuracy; see :mod:`graphkd.tasks`).
    ``data`` carries its masks (e.g. from :func:`graphkd.prepare_data`); ``kind``: the students' kind (``mlp``,
    ``gcn``, ``sage``)."""
    if not isinstance(cfg, DistillConfig):
        raise GraphkdError(f"cfg must be a DistillConfig, got {type(cfg).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise GraphkdError(f"seed must be an integer, got {seed!r}")
    kind = check_choice("student kind", kind, STUDENTS)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise GraphkdError(f"rounds must be an integer >= 1, got {rounds!r}")
    if cfg.needs_representations() or cfg.positions or cfg.setting != "transductive":
        raise GraphkdError("born-again rounds pass logits from round to round on one graph: leave the hint, "
                           "similarity and LSP weights at 0, positions at 0 and the setting transductive")
    # checked, with the float32 features the models take and the run's task, as run_distillation's
    data = with_task(cfg, model_graph(data))
    scores = [f"val_{task_of(data).key}", f"test_{task_of(data).key}"]
    targets = teacher_soft_targets(cfg, data, seed, progress)
    records = [{"round": 0, "model": cfg.teacher_id, **{name: targets.meta.get(f"teacher_{name}") for name in scores}}]
    for round_ in tqdm(range(1, rounds + 1), desc=f"born-again {kind}", disable=not progress):
        model = train_student(cfg, data, targets, seed * 1000 + round_, kind)
        targets = capture(model, data, transfer=cfg.transfer)  # this round's logits teach the next
        records.append({"round": round_, "model": kind, **{name: targets.meta.get(f"teacher_{name}")
                                                            for name in scores}})
    return records
