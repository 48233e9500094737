"""Distillation: teacher outputs, soft targets, the knowledge losses and the pipeline that joins them."""
from graphkd.distill.losses import distillation_loss, logit_matching_loss, soft_target_loss, tempered_softmax
from graphkd.distill.pipeline import (
    DEEP_TEACHER,
    STUDENTS,
    TEACHER_DEFAULTS,
    DistillConfig,
    run_distillation,
    summarize,
    train_student,
)
from graphkd.distill.soft_targets import SoftTargets, split_fingerprint, transfer_nodes

__all__ = [
    "DEEP_TEACHER",
    "DistillConfig",
    "STUDENTS",
    "SoftTargets",
    "TEACHER_DEFAULTS",
    "distillation_loss",
    "logit_matching_loss",
    "run_distillation",
    "soft_target_loss",
    "split_fingerprint",
    "summarize",
    "tempered_softmax",
    "train_student",
    "transfer_nodes",
]
