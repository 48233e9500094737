"""Training: full-batch and mini-batch loops with early stopping and resumable checkpoints (``loops``), the
process group torchrun starts and what its ranks share (``distributed``), and mini-batch training with
DistributedDataParallel over those ranks (``ddp``)."""
from graphkd.training.ddp import train_minibatch_ddp
from graphkd.training.loops import (
    TrainConfig,
    accuracy,
    consistency_loss,
    cross_entropy_on,
    fit,
    predict,
    train_full_batch,
    train_minibatch,
    validation_score,
)

__all__ = [
    "TrainConfig",
    "accuracy",
    "consistency_loss",
    "cross_entropy_on",
    "fit",
    "predict",
    "train_full_batch",
    "train_minibatch",
    "train_minibatch_ddp",
    "validation_score",
]
