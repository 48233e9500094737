"""The teacher cache: a named teacher trains once per seed and graph, whatever soft targets are made from it."""
import pytest
import torch

import graphkd.distill.teacher as teacher
import graphkd.distill.teacher_cache as teacher_cache
import graphkd.distill.teachers as teachers
from graphkd.data import csbm, random_split
from graphkd.distill import DistillConfig
from graphkd.distill.teacher_cache import cached_members, cached_teachers

FAST = {"epochs": 20, "patience": 10}


@pytest.fixture(scope="module")
def graph():
    return random_split(csbm(num_nodes=300, num_features=8, seed=1), seed=0)


@pytest.fixture
def fits(monkeypatch):
    """The configurations whose teachers were trained, here or by teacher_soft_targets."""
    trained, real = [], teachers.fit_teachers

    def counted(cfg, *args, **kwargs):
        trained.append(cfg)
        return real(cfg, *args, **kwargs)

    monkeypatch.setattr(teacher_cache, "fit_teachers", counted)
    monkeypatch.setattr(teacher, "fit_teachers", counted)
    return trained


def test_one_training_serves_every_kind_of_soft_targets(graph, tmp_path, fits):
    configs = [DistillConfig(teacher="gcn", **FAST), DistillConfig(teacher="gcn", hint_weight=1.0, **FAST),
               DistillConfig(teacher="gcn", refine="cs", **FAST), DistillConfig(teacher="gcn", transfer="labelled",
                                                                                **FAST)]
    assert len({cfg.teacher_key() for cfg in configs}) == 4 and len({cfg.training_key() for cfg in configs}) == 1
    made = [cached_teachers(cfg, graph, 0, tmp_path) for cfg in configs]
    assert len(fits) == 1
    alone = [cached_teachers(cfg, graph, 0, None) for cfg in configs]  # each trained afresh, nothing cached
    assert len(fits) == 5
    for cached, fresh in zip(made, alone, strict=True):  # the same numbers as training anew: seeded alike
        assert torch.allclose(cached.logits, fresh.logits, atol=1e-6) and cached.hidden.keys() == fresh.hidden.keys()
    assert list(made[1].hidden) == ["convs.0"] and not made[0].hidden
    cached_teachers(DistillConfig(teacher="gcn", **FAST), graph, 1, tmp_path)  # another seed trains
    cached_teachers(DistillConfig(teacher="gcn", teacher_dropout=0.1, **FAST), graph, 0, tmp_path)  # other training
    assert len(fits) == 7


def test_members_of_another_graph_are_trained_again(graph, tmp_path, fits):
    cfg = DistillConfig(teacher="sage", **FAST)
    cached_members(cfg, graph, 0, tmp_path)
    other = random_split(csbm(num_nodes=300, num_features=8, seed=2), seed=0)
    with pytest.warns(UserWarning, match="trained for .*graph_fingerprint.*; making the teacher again"):
        cached_members(cfg, other, 0, tmp_path)
    assert len(fits) == 2
    assert cached_members(cfg, other, 0, tmp_path) is not None and len(fits) == 2  # now stored for it


def test_edited_or_damaged_members_are_trained_again(graph, tmp_path, fits):
    cfg = DistillConfig(teacher="gcn+sage", **FAST)
    first = cached_members(cfg, graph, 0, tmp_path)
    path = tmp_path / f"teacher-{cfg.training_key()}-seed0.pt"
    blob = torch.load(path, weights_only=True)
    blob["members"][0]["state_dict"]["convs.0.bias"] += 1.0
    torch.save(blob, path)
    with pytest.warns(UserWarning, match="changed after it was written.*making the teacher again"):
        again = cached_members(cfg, graph, 0, tmp_path)
    assert [m.kind for m in again] == ["gcn", "sage"]
    assert torch.equal(again[0].convs[0].bias, first[0].convs[0].bias)  # trained alike, not the edited weights
    path.write_bytes(b"damaged")
    with pytest.warns(UserWarning, match="making the teacher again"):
        cached_members(cfg, graph, 0, tmp_path)
    assert len(fits) == 3


@pytest.mark.parametrize("change", [{"hidden": torch.zeros(3, 3)}, {"meta_json": "[1]"}, {"logits": [0.0]}])
def test_edited_soft_targets_are_made_again(graph, tmp_path, fits, change):
    cfg = DistillConfig(teacher="gcn", **FAST)
    first = cached_teachers(cfg, graph, 0, tmp_path)
    path = tmp_path / f"soft_targets-{cfg.teacher_key()}-seed0.pt"
    torch.save({**torch.load(path, weights_only=True), **change}, path)
    with pytest.warns(UserWarning, match="not a graphkd soft-target file.*; making them again"):
        again = cached_teachers(cfg, graph, 0, tmp_path)
    assert torch.equal(again.logits, first.logits) and len(fits) == 1  # from the stored members


def test_given_teachers_have_no_members_to_cache(graph, tmp_path, fits):
    assert cached_members(DistillConfig(teacher=torch.zeros(300, 5)), graph, 0, tmp_path) is None
    assert cached_members(DistillConfig(teacher="gcn", **FAST), graph, 0, None) is None
    assert fits == [] and not list(tmp_path.iterdir())
