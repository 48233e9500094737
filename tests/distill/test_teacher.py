"""One teacher type: every form a user passes becomes one Teacher, whose fingerprint names it as before."""
import hashlib

import numpy as np
import pytest
import torch

from graphkd import GraphkdError, MissingFileError
from graphkd.distill import DistillConfig, SoftTargets
from graphkd.distill.teacher import (
    GivenOutputs,
    GivenSoftTargets,
    ModuleTeacher,
    TeacherFile,
    TrainedTeacher,
    as_teacher,
)
from graphkd.models import GCN


def test_each_form_becomes_one_teacher(tmp_path, tiny_graph):
    logits = torch.randn(6, 2)
    torch.save(logits, tmp_path / "logits.pt")
    targets = SoftTargets.from_logits([logits], tiny_graph)
    for value, kind in [("GCN+Sage", TrainedTeacher), (GCN(2, 4, 2, 2), ModuleTeacher), (logits, GivenOutputs),
                        (logits.numpy(), GivenOutputs), ({"logits": logits, "hidden": {"h": logits}}, GivenOutputs),
                        (targets, GivenSoftTargets), (str(tmp_path / "logits.pt"), TeacherFile),
                        (tmp_path / "logits.pt", TeacherFile)]:
        teacher = as_teacher(value)
        assert type(teacher) is kind and as_teacher(teacher) is teacher
        assert teacher.trains_here == (kind is TrainedTeacher)
        assert teacher.cacheable == (kind is not ModuleTeacher)
    assert as_teacher("GCN+Sage").members == ("gcn", "sage") and as_teacher("GCN+Sage").value == "gcn+sage"
    assert as_teacher(logits).members == ()


def test_fingerprints_name_teachers_as_the_keys_of_earlier_runs_did(tmp_path, tiny_graph):
    """Cached soft targets and committed seed records are keyed by these strings: their form must not change."""
    logits = torch.arange(12, dtype=torch.float).view(6, 2)
    (tmp_path / "t.pt").write_bytes(b"bytes")
    assert as_teacher("gat").fingerprint() == "gat"
    assert as_teacher("gcn+gat").fingerprint() == "gcn+gat"
    # golden values: what graphkd computed for these teachers before they became one type
    assert as_teacher(logits).fingerprint() == as_teacher(logits.numpy()).fingerprint() == "logits:d04a75db7de04e76"
    assert as_teacher({"logits": logits, "hidden": {"h": logits}}).fingerprint() == "outputs:27a83a7270fbc61f"
    torch.manual_seed(0)
    assert as_teacher(GCN(2, 4, 2, 2)).fingerprint() == "module:2d32f2cf35c67e81"
    assert as_teacher(tmp_path / "t.pt").fingerprint() == "file:" + hashlib.sha256(b"bytes").hexdigest()[:16]
    targets = SoftTargets.from_logits([logits], tiny_graph)
    assert as_teacher(targets).fingerprint() == f"soft_targets:{targets.content_hash()}"


def test_fingerprint_follows_what_the_teacher_holds_now(tmp_path):
    logits = torch.randn(6, 2)
    cfg = DistillConfig(teacher=logits)
    before = cfg.teacher_id
    logits.add_(1.0)  # changed in place after the configuration was made
    assert cfg.teacher_id != before
    (tmp_path / "t.pt").write_bytes(b"one")
    cfg = DistillConfig(teacher=str(tmp_path / "t.pt"))
    before = cfg.teacher_id
    (tmp_path / "t.pt").write_bytes(b"two")
    assert cfg.teacher_id != before


@pytest.mark.parametrize("value,error,message", [
    (3, GraphkdError, "a teacher is a name, a torch.nn.Module, logits, a dict of outputs, SoftTargets or a file"),
    ("gcm", GraphkdError, "unknown teacher 'gcm': neither a name"),
    ("missing/t.pt", MissingFileError, "no teacher output file at missing/t.pt"),
    ({"hidden": {}}, GraphkdError, "teacher outputs are a dict"),
    ({"logits": torch.zeros(6, 2), "hiddens": {}}, GraphkdError, "unknown key.*hiddens"),
    (np.array(["a", "b"], dtype=object), GraphkdError, "must be a numeric array"),
])
def test_error_what_is_no_teacher(value, error, message):
    with pytest.raises(error, match=message):
        as_teacher(value)
