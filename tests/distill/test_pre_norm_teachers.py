"""Teachers for heterophilous graphs: ``teacher="gatsep"`` and ``teacher_pre_norm`` (Platonov et al.'s pre-norm
residual blocks), through the recipe, DistillConfig's checks and keys, and the run file."""
import pytest
import torch

from graphkd import GraphkdError
from graphkd.data import csbm, random_split
from graphkd.distill import DistillConfig, teachers
from graphkd.distill.config import ADDED_FIELDS
from graphkd.distill.run_file import RunConfig, read_run_file, write_run_file
from graphkd.models import GATSep


@pytest.fixture(scope="module")
def graph():
    return random_split(csbm(num_nodes=200, num_features=8, homophily=0.2, seed=1), seed=0, train_per_class=5,
                        val_per_class=10)


def test_gatsep_teacher_is_built_as_its_recipe_says(graph):
    cfg = DistillConfig(teacher="gatsep", heads=4)
    model = teachers.build_teacher(cfg, graph, "gatsep")
    assert isinstance(model, GATSep) and model.pre_norm and model.conv_kwargs == {"heads": 4}
    assert (model.hidden_channels, model.dropout, model.norm) == (64, 0.2, "layer_norm")
    assert teachers.default_hidden_layer(model) == "norms.2"
    assert teachers.ensemble_members("gcn+gatsep") == ["gcn", "gatsep"]


@pytest.mark.parametrize("kind", ["gcn", "sage", "gat"])
def test_teacher_pre_norm_asks_for_residual_blocks_with_layer_norm(graph, kind):
    model = teachers.build_teacher(DistillConfig(teacher=kind, teacher_pre_norm=True), graph, kind)
    assert model.pre_norm and (model.norm, model.dropout) == ("layer_norm", 0.2)
    given = DistillConfig(teacher=kind, teacher_pre_norm=True, teacher_norm="none", teacher_dropout=0.5)
    model = teachers.build_teacher(given, graph, kind)
    assert model.pre_norm and (model.norm, model.dropout) == (None, 0.5)
    plain = teachers.build_teacher(DistillConfig(teacher=kind), graph, kind)
    assert not plain.pre_norm and "pre_norm" not in plain.config()


def test_gatsep_without_pre_norm_stacks_its_layers(graph):
    model = teachers.build_teacher(DistillConfig(teacher="gatsep", teacher_pre_norm=False), graph, "gatsep")
    assert not model.pre_norm and model.config()["pre_norm"] is False


def test_pre_norm_is_refused_where_no_teacher_reads_it():
    with pytest.raises(GraphkdError, match="teacher_pre_norm is for the gcn and sage and gat and gatsep"):
        DistillConfig(teacher="appnp", teacher_pre_norm=True)
    with pytest.raises(GraphkdError, match="teacher_pre_norm must be True, False or None"):
        DistillConfig(teacher="gcn", teacher_pre_norm="yes")
    with pytest.raises(GraphkdError, match="must be divisible by heads"):
        DistillConfig(teacher="gatsep", teacher_hidden=30)
    DistillConfig(teacher="gatsep", heads=4)  # heads is read by GAT-sep


def test_keys_of_runs_without_it_stay_and_its_recipe_is_keyed(monkeypatch):
    assert ADDED_FIELDS["teacher_pre_norm"] is None
    plain = DistillConfig(teacher="gcn")
    asked = DistillConfig(teacher="gcn", teacher_pre_norm=True)
    assert plain.key() != asked.key() and plain.teacher_key() != asked.teacher_key()
    before = (plain.key(), asked.key(), DistillConfig(teacher="gatsep").key())
    monkeypatch.setitem(teachers.PRE_NORM_TEACHER, "dropout", 0.3)
    monkeypatch.setitem(teachers.TEACHER_DEFAULTS["gatsep"], "dropout", 0.3)
    after = (plain.key(), asked.key(), DistillConfig(teacher="gatsep").key())
    assert after[0] == before[0] and after[1] != before[1] and after[2] != before[2]


@pytest.mark.parametrize("flat", [{"teacher": "gatsep", "heads": 4}, {"teacher": "sage", "teacher_pre_norm": True},
                                  {"teacher": "gcn+gatsep", "teacher_pre_norm": False}])
def test_run_file_round_trip(tmp_path, flat):
    cfg = DistillConfig(**flat)
    run = RunConfig.from_distill_config(cfg)
    write_run_file(run, tmp_path / "run.toml")
    again = read_run_file(tmp_path / "run.toml")
    assert again == run and again.teacher.pre_norm == cfg.teacher_pre_norm
    assert again.distill_config().key() == cfg.key()


def test_gatsep_teacher_trains_and_gives_its_representation(graph):
    cfg = DistillConfig(teacher="gatsep", teacher_hidden=16, heads=2, epochs=5, patience=5)
    logits, hidden, meta, models = teachers.train_teachers(cfg, graph, seed=0, layers=[None])
    assert logits[0].shape == (200, 5) and torch.isfinite(logits[0]).all()
    assert hidden["norms.2"].shape == (200, 16)
    assert meta["teachers"][0]["kind"] == "gatsep"
