"""Distillation: teacher outputs, soft targets, the knowledge losses and the pipeline that joins them."""
from graphkd.distill.born_again import born_again
from graphkd.distill.config import STUDENTS, DistillConfig
from graphkd.distill.knowledge import adversarial_loss, hint_loss, local_structure_loss, similarity_loss
from graphkd.distill.losses import distillation_loss, logit_matching_loss, soft_target_loss, tempered_softmax
from graphkd.distill.pipeline import run_distillation, train_student
from graphkd.distill.positions import new_node_positions, spectral_positions
from graphkd.distill.records import summarize, summarize_runs
from graphkd.distill.refine import correct_and_smooth
from graphkd.distill.run_file import (
    Adversarial,
    Arrivals,
    Compute,
    CorrectAndSmooth,
    DataSpec,
    GivenTeacher,
    Hint,
    LocalStructure,
    Objective,
    Positions,
    RunConfig,
    Seeds,
    Similarity,
    StudentSpec,
    StudentTraining,
    TeacherSpec,
    TeacherTraining,
    read_run_file,
    write_run_file,
)
from graphkd.distill.soft_targets import SoftTargets, graph_fingerprint, split_fingerprint, transfer_nodes
from graphkd.distill.teacher import Teacher, as_teacher, teacher_soft_targets
from graphkd.distill.teachers import DEEP_TEACHER, TEACHER_DEFAULTS, capture
from graphkd.distill.union import (
    UNION_RULES,
    class_halves,
    confidence_weights,
    gate_weights,
    partial_graph,
    union_logits,
    union_teacher,
)

__all__ = [
    "Adversarial",
    "Arrivals",
    "Compute",
    "CorrectAndSmooth",
    "DataSpec",
    "GivenTeacher",
    "Hint",
    "LocalStructure",
    "Objective",
    "Positions",
    "RunConfig",
    "Seeds",
    "Similarity",
    "StudentSpec",
    "StudentTraining",
    "TeacherSpec",
    "TeacherTraining",
    "read_run_file",
    "write_run_file",
    "DEEP_TEACHER",
    "DistillConfig",
    "STUDENTS",
    "SoftTargets",
    "TEACHER_DEFAULTS",
    "Teacher",
    "UNION_RULES",
    "adversarial_loss",
    "as_teacher",
    "born_again",
    "capture",
    "class_halves",
    "confidence_weights",
    "correct_and_smooth",
    "distillation_loss",
    "gate_weights",
    "graph_fingerprint",
    "hint_loss",
    "local_structure_loss",
    "logit_matching_loss",
    "new_node_positions",
    "partial_graph",
    "run_distillation",
    "similarity_loss",
    "soft_target_loss",
    "spectral_positions",
    "split_fingerprint",
    "summarize",
    "summarize_runs",
    "teacher_soft_targets",
    "tempered_softmax",
    "train_student",
    "transfer_nodes",
    "union_logits",
    "union_teacher",
]
