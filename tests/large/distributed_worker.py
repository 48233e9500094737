"""What test_distributed.py runs under ``torchrun`` (one process per rank); not a test module itself.

    torchrun --standalone --nproc-per-node 2 tests/large/distributed_worker.py soft-targets OUT
    torchrun --standalone --nproc-per-node 2 tests/large/distributed_worker.py student INPUTS OUT [--die-after K]
    torchrun --standalone --nproc-per-node 2 tests/large/distributed_worker.py hint-student INPUTS OUT
"""
from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

import torch
from torch_geometric.data import Data

import graphkd.distill.pipeline
import graphkd.training.ddp
from graphkd.data import prepare_data
from graphkd.data.large import synthetic_graph
from graphkd.distill import DistillConfig
from graphkd.distill.losses import distillation_loss
from graphkd.distill.soft_targets import SoftTargets
from graphkd.io import atomic_save, load_tensors
from graphkd.large.sampling import NeighborSampler
from graphkd.large.sharded import sharded_inference
from graphkd.models import GAT, GCN, GraphSAGE, build_model
from graphkd.training import TrainConfig, accuracy, predict
from graphkd.training.distributed import distributed, is_rank_zero, rank

CHUNK_SIZE = 333  # 2000 nodes: 7 chunks, split 3 + 4 over two ranks
STUDENT = TrainConfig(epochs=12, lr=0.01, weight_decay=5e-4, patience=12, batch_size=512)


def tiny_graph() -> Data:
    return synthetic_graph(2000, 8000, 16, 4, homophily=0.9, feature_signal=0.25, seed=2)


def teachers(graph: Data) -> dict[str, torch.nn.Module]:
    """Three 3-layer teachers with non-trivial batch-norm statistics, the same in every process."""
    out = {}
    for name, cls, kwargs in (("gcn", GCN, {}), ("sage", GraphSAGE, {}), ("gat", GAT, {"heads": 2})):
        torch.manual_seed(0)
        model = cls(16, 16, 3, 4, norm="batch_norm", **kwargs)
        model.train()
        with torch.no_grad():
            model(graph.x, graph.edge_index)
        out[name] = model.eval()
    return out


def soft_targets(out: Path) -> None:
    graph = tiny_graph()
    sampler = NeighborSampler(graph.edge_index, graph.num_nodes, [-1])
    for name, model in teachers(graph).items():
        sharded_inference(model, graph, sampler, out / name, chunk_size=CHUNK_SIZE)


def train_student(inputs: Path, out: Path) -> dict:
    """A 2-layer MLP (no dropout, no batch norm) distilled from the soft targets in ``inputs`` with DDP;
    rank 0 saves its weights and accuracies to ``out/result.pt``."""
    blob = load_tensors(inputs, "test inputs")
    data = Data(x=blob["x"], y=blob["y"], train_mask=blob["train_mask"], val_mask=blob["val_mask"],
                test_mask=blob["test_mask"], edge_index=torch.empty(2, 0, dtype=torch.long))
    soft = blob["soft"]
    torch.manual_seed(0)
    model = build_model("mlp", in_channels=data.num_features, hidden_channels=64, out_channels=soft.size(1),
                        num_layers=2, dropout=0.0)

    def batch_loss(logits, batch):  # soft term alone (alpha 0): a mean over all rows, as DDP's weighting assumes
        return distillation_loss(logits, soft[batch], 2.0, 0.0)

    best = graphkd.training.ddp.train_minibatch_ddp(model, data, torch.arange(data.num_nodes), batch_loss, STUDENT,
                                                 checkpoint=out / "student.ckpt", checkpoint_every=1)
    test = data.test_mask.nonzero().view(-1)
    result = {"state": model.state_dict(), "val_acc": best,
              "test_acc": accuracy(predict(model, data, test), data.y[test])}
    if is_rank_zero():
        atomic_save(result, out / "result.pt")
    return result


def train_hint_student(inputs: Path, out: Path) -> dict:
    """The pipeline's own MLP student (no dropout) with a FitNets hint, on a 16-wide teacher representation
    (a fixed random projection of the features), trained with DDP when a process group is up; every rank
    saves its student's and its hint projector's weights to ``out/result-rank<r>.pt``."""
    blob = load_tensors(inputs, "test inputs")
    data = prepare_data(Data(x=blob["x"], y=blob["y"], train_mask=blob["train_mask"], val_mask=blob["val_mask"],
                             test_mask=blob["test_mask"], edge_index=torch.empty(2, 0, dtype=torch.long)))
    hidden = blob["x"] @ torch.randn(blob["x"].size(1), 16, generator=torch.Generator().manual_seed(1))
    targets = SoftTargets.from_logits([blob["soft"].log()], data, hidden={"teacher.hidden": hidden})
    cfg = DistillConfig(epochs=6, patience=6, student_hidden=64, student_dropout=0.0, batch_size=512,
                        hint_weight=1.0)
    objectives = []

    class Recorded(graphkd.distill.pipeline.StudentObjective):  # keeps the objective, whose projector trains
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            objectives.append((self, {k: v.clone() for k, v in self.projector.state_dict().items()}))

    original, graphkd.distill.pipeline.StudentObjective = graphkd.distill.pipeline.StudentObjective, Recorded
    try:
        student = graphkd.distill.pipeline.train_student(cfg, data, targets, seed=0, kind="mlp")
    finally:  # the test process calls this too: leave the pipeline as it was
        graphkd.distill.pipeline.StudentObjective = original
    objective, initial = objectives[0]
    result = {"student": student.state_dict(), "projector": objective.projector.state_dict(),
              "initial_projector": initial}
    atomic_save(result, out / f"result-rank{rank()}.pt")
    return result


def die_at_epoch_end(epochs: int) -> None:
    """Rank 1 kills itself (SIGKILL, no clean-up) at the end of epoch ``epochs``, before the ranks sync."""
    sync, calls = graphkd.training.ddp.sync_epoch_end, []

    def counting(model):
        calls.append(1)
        if rank() == 1 and len(calls) == epochs:
            os.kill(os.getpid(), signal.SIGKILL)
        sync(model)

    graphkd.training.ddp.sync_epoch_end = counting


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=["soft-targets", "student", "hint-student"])
    parser.add_argument("paths", type=Path, nargs="+")
    parser.add_argument("--die-after", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with distributed():
        if args.task == "soft-targets":
            soft_targets(args.paths[0])
        elif args.task == "hint-student":
            train_hint_student(*args.paths)
        else:
            if args.die_after is not None:
                die_at_epoch_end(args.die_after)
            train_student(*args.paths)


if __name__ == "__main__":
    main()
