"""What a search tries first: the recipes that won across the knowledge table's graphs, queued as a new study's
first trials, before the sampler draws at random.

The knowledge table (``benchmarks/results/knowledge.md``, six graphs, 39 to 45 configurations each, chosen on
validation) and the first searches agree on a shape more than on any one setting:

- a deep teacher 256 wide, the architecture varying by graph: GRAND (Cora, Computers), three APPNPs (CiteSeer),
  three GCNs (CS), GCN (Physics), all five architectures averaged (Photo, and the search's choice on Cora);
- a 2-layer MLP student with dropout 0.3-0.5 and no weight decay in the Cora, CiteSeer and Computers winners. Weight
  decay won on Photo, CS and Physics (5e-4 to 2e-3) by at most 0.4 points of validation accuracy over the others,
  but 5e-4 cost 6 points on Cora (85.7 to 79.5) and CiteSeer (72 to 66), so the start points leave it out;
- KD at T = 1, alpha = 0 in all six best combinations; the knowledge term that won differs by graph (a hint on Cora and
  CS, similarity on Computers, adversarial augmentation on Photo, none on CiteSeer and Physics), so the search
  adds terms and the start points do not.

So the start points share that student and objective and vary the teacher, cheapest first. TPE counts them among
its first, random trials; a start point whose setting the user's space does not allow is left out, and an option
the space does not vary is the base run's.
"""
from __future__ import annotations

from graphkd.tuning.space import Choice, Range, SearchSpace

__all__ = ["FIRST_TRIALS", "first_params"]

_STUDENT = {"student.num_layers": 2, "student.hidden_channels": 256, "student.dropout": 0.5,
            "student.training.lr": 0.01, "student.training.weight_decay": 0.0, "objective.temperature": 1.0,
            "objective.alpha": 0.0, "hint.weight": 0.0, "similarity.weight": 0.0, "adversarial.weight": 0.0,
            "refine.kind": "none", "positions.dim": 0}
_TEACHER = {"teacher.hidden_channels": 256, "teacher.ensemble": 1}
FIRST_TRIALS: tuple[dict, ...] = (
    {**_STUDENT, **_TEACHER, "teacher.architecture": "gcn", "teacher.dropout": 0.5},
    {**_STUDENT, **_TEACHER, "teacher.architecture": "appnp", "teacher.dropout": 0.5, "teacher.ensemble": 3},
    {**_STUDENT, **_TEACHER, "teacher.architecture": "grand", "teacher.dropout": 0.2},
    {**_STUDENT, **_TEACHER, "teacher.architecture": "gcn+gat+sage+appnp+grand", "teacher.dropout": 0.5},
)


def first_params(space: SearchSpace, recipes=FIRST_TRIALS) -> list[dict]:
    """Optuna's parameters of each recipe in ``space`` (``Study.enqueue_trial`` takes them), distinct, in order:
    options outside the space dropped, a recipe with a value the space does not allow left out."""
    queued = []
    for recipe in recipes:
        params = {}
        for name, value in recipe.items():
            spec = space.options.get(name)
            if spec is None:
                continue
            drawn = _params(spec, name, value)
            if drawn is None:
                break
            params.update(drawn)
        else:
            if params and params not in queued:
                queued.append(params)
    return queued


def _params(spec: Choice | Range, name: str, value) -> dict | None:
    """How ``spec`` records ``value`` as Optuna parameters (a fixed choice records none), or ``None`` where it
    cannot take it."""
    if isinstance(spec, Choice):
        if value not in spec.values:
            return None
        return {} if len(spec.values) == 1 else {name: value}
    if value == 0 and spec.or_zero:
        return {f"{name}:on": False}
    if not spec.low <= value <= spec.high:
        return None
    return {**({f"{name}:on": True} if spec.or_zero else {}), name: value}
