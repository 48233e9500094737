"""Run files: components <-> DistillConfig (same keys), TOML round trips, clear errors, the CLI's --config."""
from pathlib import Path

import pytest
import torch

from graphkd import GraphkdError
from graphkd.cli import main
from graphkd.distill import DistillConfig, run_distillation
from graphkd.distill.run_file import (
    Adversarial,
    Arrivals,
    CorrectAndSmooth,
    DataSpec,
    GivenTeacher,
    Hint,
    Objective,
    Positions,
    RunConfig,
    Seeds,
    StudentSpec,
    StudentTraining,
    TeacherSpec,
    TeacherTraining,
    read_run_file,
    write_run_file,
)
from graphkd.models import GCN, MLP, save_model

FLAT = [
    {},
    {"dataset": "Cora", "split": "random", "labels_per_class": 5, "runs": 3, "seed": 7},
    {"teacher": "gcn+gat", "teacher_hidden": 32, "heads": 4, "ensemble": 2, "hint_weight": 0.5,
     "hint_metric": "cosine", "similarity_weight": 0.1, "teacher_layer": "convs.0", "refine": "cs",
     "cs_smoothing_alpha": 0.5},
    {"teacher": "grand", "teacher_hops": 4, "teacher_node_dropout": 0.3, "teacher_samples": 2, "positions": 8,
     "setting": "cold-start", "arrival_fraction": 0.3, "adversarial_weight": 1.0, "adversarial_steps": 5,
     "student_batch_norm": True, "lr": 0.001, "student_weight_decay": 5e-4, "temperature": 2.0, "alpha": 0.3},
    {"student": "gcn", "student_layers": 1, "lsp_weight": 2.0, "transfer": "labelled", "epochs": 30, "patience": 5},
]


@pytest.mark.parametrize("flat", FLAT)
def test_components_round_trip_through_a_file_with_the_same_key(tmp_path, flat):
    cfg = DistillConfig(**flat)
    run = RunConfig.from_distill_config(cfg)
    write_run_file(run, tmp_path / "run.toml")
    again = read_run_file(tmp_path / "run.toml")
    assert again == run
    assert again.distill_config().key() == cfg.key()
    assert again.distill_config().teacher_key() == cfg.teacher_key()


def test_components_build_the_flat_configuration():
    run = RunConfig(data=DataSpec("Cora"), seeds=Seeds(runs=2, first=3),
                    teacher=TeacherSpec("gat", hidden_channels=32, heads=4,
                                        training=TeacherTraining(epochs=40, patience=10, weight_decay=0.0)),
                    student=StudentSpec(hidden_channels=64, norm="batch_norm",
                                        training=StudentTraining(epochs=40, patience=10, lr=0.005)),
                    objective=Objective(temperature=2.0, terms=(Hint(0.5), Adversarial(1.0, epsilon=0.05))),
                    refine=CorrectAndSmooth(0.5, 0.9), positions=Positions(4), setting=Arrivals("inductive", 0.1))
    cfg = run.distill_config()
    assert (cfg.dataset, cfg.runs, cfg.seed, cfg.teacher, cfg.teacher_hidden, cfg.heads) == ("Cora", 2, 3, "gat", 32, 4)
    assert (cfg.epochs, cfg.patience, cfg.weight_decay, cfg.lr, cfg.student_batch_norm) == (40, 10, 0.0, 0.005, True)
    assert (cfg.hint_weight, cfg.adversarial_weight, cfg.adversarial_epsilon, cfg.similarity_weight) == (
        0.5, 1, 0.05, 0)
    assert (cfg.refine, cfg.cs_correction_alpha, cfg.positions, cfg.setting, cfg.arrival_fraction) == (
        "cs", 0.5, 4, "inductive", 0.1)


def test_teacher_and_student_train_for_their_own_epochs(tiny_graph):
    run = RunConfig(seeds=Seeds(runs=1), teacher=TeacherSpec("gcn", training=TeacherTraining(epochs=4, patience=2)),
                    student=StudentSpec(training=StudentTraining(epochs=3, patience=3)))
    cfg = run.distill_config()
    assert (cfg.epochs, cfg.patience, cfg.student_limits()) == (4, 2, (3, 3))
    assert RunConfig.from_distill_config(cfg) == run
    same = RunConfig(teacher=TeacherSpec("gcn", training=TeacherTraining(epochs=4, patience=2)),
                     student=StudentSpec(training=StudentTraining(epochs=4, patience=2))).distill_config()
    assert (same.student_epochs, same.student_patience) == (None, None)  # keyed as before: one epochs, one patience
    assert same.key() == DistillConfig(teacher="gcn", epochs=4, patience=2).key()
    assert cfg.key() != same.key()
    summary = run_distillation(run, data=tiny_graph, progress=False)
    assert summary["per_seed"][0]["config_key"] == cfg.key()


def test_a_file_names_only_what_it_changes(tmp_path):
    (tmp_path / "run.toml").write_text('[teacher]\narchitecture = "gcn"\n[[objective.terms]]\nkind = "hint"\n'
                                       'weight = 2\n[refine]\n')
    cfg = read_run_file(tmp_path / "run.toml").distill_config()
    assert cfg.key() == DistillConfig(teacher="gcn", hint_weight=2.0, refine="cs").key()


def test_given_teacher_file(tmp_path):
    torch.save(torch.randn(6, 2), tmp_path / "t.pt")
    cfg = DistillConfig(teacher=str(tmp_path / "t.pt"))
    run = RunConfig.from_distill_config(cfg)
    assert run.teacher == GivenTeacher(str(tmp_path / "t.pt"))
    write_run_file(run, tmp_path / "run.toml")
    assert read_run_file(tmp_path / "run.toml").distill_config().key() == cfg.key()


def test_given_module_teacher_is_written_as_its_fingerprint(tmp_path):
    module = GCN(2, 4, 2, 2)
    run = RunConfig(teacher=GivenTeacher(module))
    assert run.distill_config().teacher is module
    write_run_file(run, tmp_path / "run.toml")
    assert f'source = "{run.distill_config().teacher_id}"' in (tmp_path / "run.toml").read_text()
    with pytest.raises(GraphkdError, match="the fingerprint of a teacher given as a Python object, which no file"):
        read_run_file(tmp_path / "run.toml")


def test_run_distillation_takes_components(tiny_graph):
    run = RunConfig(seeds=Seeds(runs=1), teacher=TeacherSpec("gcn", training=TeacherTraining(epochs=3, patience=3)),
                    student=StudentSpec(training=StudentTraining(epochs=3, patience=3)))
    summary = run_distillation(run, data=tiny_graph, progress=False)
    assert summary["per_seed"][0]["config_key"] == run.distill_config().key()


@pytest.mark.parametrize("text,message", [
    ("[datas]\n", "unknown section 'datas'; valid: teacher, data"),
    ("[data]\ndataset = 3\n", "data.dataset must be str, got 3"),
    ("[student]\nhidden = 3\n", "unknown key student.hidden; valid: kind, num_layers, hidden_channels"),
    ("[student.training]\nlr = true\n", "student.training.lr must be float, got True"),
    ("[student]\nhidden_channels = 0\n", r"student.hidden_channels must be an integer in \[1, 65536\], got 0"),
    ("[[objective.terms]]\nkind = 'hints'\n", r"objective.terms\[0\] needs kind = one of hint, similarity"),
    ("[[objective.terms]]\nkind = 'hint'\n[[objective.terms]]\nkind = 'hint'\n", "holds hint 2 times"),
    ("[[objective.terms]]\nkind = 'hint'\nepsilon = 0.1\n", r"unknown key objective.terms\[0\].epsilon"),
    ("[objective]\nterms = 1\n", r"objective.terms must be an array of tables"),
    ("[refine]\nsmoothing_alpha = 2.0\n", r"refine.smoothing_alpha must be a number in \[0.0, 1.0\]"),
    ("[setting]\nsetting = 'offline'\n", "unknown setting 'offline'"),
    ("[student.training]\npatience = 0\n", r"student.training.patience must be an integer in \[1, 100000\]"),
    ("data = 1\n", "data must be a table"),
    ("[data\n", "is not a readable TOML run file"),
])
def test_error_bad_run_file_names_key_and_file(tmp_path, text, message):
    path = tmp_path / "run.toml"
    path.write_text(text)
    with pytest.raises(GraphkdError, match=message) as info:
        read_run_file(path)
    assert str(path) in str(info.value)


def test_error_missing_run_file(tmp_path):
    with pytest.raises(GraphkdError, match="no run file at"):
        read_run_file(tmp_path / "absent.toml")
    for path in (None, 3, "a\0b.toml"):  # once TypeError and ValueError
        with pytest.raises(GraphkdError, match="a run file is given by its path"):
            read_run_file(path)


def test_cli_runs_a_file_writes_its_run_file_and_reruns_from_it(tmp_path, capsys):
    (tmp_path / "run.toml").write_text('[seeds]\nruns = 1\n[teacher]\narchitecture = "gcn"\n'
                                       '[teacher.training]\nepochs = 3\npatience = 3\n'
                                       '[student.training]\nepochs = 3\npatience = 3\n')
    out = tmp_path / "out"
    assert main(["distill", "--config", str(tmp_path / "run.toml"), "--out", str(out), "--quiet"]) == 0
    first = capsys.readouterr().out
    written = read_run_file(out / "run.toml")
    assert written == RunConfig.from_distill_config(read_run_file(tmp_path / "run.toml").distill_config())
    # again from the folder alone: the same run, its seed found done
    assert main(["distill", "--config", str(out / "run.toml"), "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out == first
    # a flag set away from its default goes on top of the file
    assert main(["distill", "--config", str(out / "run.toml"), "--out", str(tmp_path / "T2"), "--quiet",
                 "-T", "2"]) == 0
    assert read_run_file(tmp_path / "T2" / "run.toml").objective.temperature == 2.0


def test_cli_flags_write_components(tmp_path):
    assert main(["distill", "--runs", "1", "--teacher", "gcn", "--epochs", "3", "--patience", "3", "--hint", "0.5",
                 "--refine", "cs", "--out", str(tmp_path), "--quiet"]) == 0
    run = read_run_file(tmp_path / "run.toml")
    assert run.objective.terms == (Hint(0.5),) and run.refine == CorrectAndSmooth()
    assert run.teacher.architecture == "gcn" and run.student.training.epochs == 3


def test_error_cli_bad_run_file(tmp_path, capsys):
    (tmp_path / "run.toml").write_text("[student]\nwidth = 3\n")
    with pytest.raises(SystemExit) as info:
        main(["distill", "--config", str(tmp_path / "run.toml")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err
    assert f"{tmp_path / 'run.toml'}: unknown key student.width" in err


def test_given_teacher_file_is_read_beside_the_run_file(tmp_path, monkeypatch):
    (tmp_path / "project").mkdir()
    torch.save(torch.randn(6, 2), tmp_path / "project" / "t.pt")
    (tmp_path / "project" / "run.toml").write_text('[teacher]\nsource = "t.pt"\n')
    monkeypatch.chdir(tmp_path)  # elsewhere: the path is the run file's, not the working folder's
    run = read_run_file("project/run.toml")
    assert Path(run.teacher.source).resolve() == tmp_path / "project" / "t.pt"
    write_run_file(run, tmp_path / "out" / "run.toml")  # written relative to where it is written
    assert 'source = "../project/t.pt"' in (tmp_path / "out" / "run.toml").read_text()
    assert read_run_file(tmp_path / "out" / "run.toml").distill_config().key() == run.distill_config().key()


@pytest.mark.parametrize("parts,message", [
    ({"teacher": "gcn"}, "RunConfig's teacher must be TeacherSpec or GivenTeacher, got 'gcn'"),
    ({"seeds": 3}, "RunConfig's seeds must be Seeds, got 3"),
    ({"refine": "cs"}, "RunConfig's refine must be CorrectAndSmooth or None"),
    ({"objective": Objective(terms=())}, None),
])
def test_error_parts_of_the_wrong_kind(parts, message):
    if message is None:
        RunConfig(**parts)
        return
    with pytest.raises(GraphkdError, match=message):
        RunConfig(**parts)


@pytest.mark.parametrize("terms", [("hint",), ({"kind": "hint", "weight": 2.0},), Hint()])
def test_error_terms_that_are_not_term_objects(terms):
    with pytest.raises(GraphkdError, match="objective.terms must be a tuple of Hint, Similarity"):
        Objective(terms=terms)


def test_cli_flags_typed_at_their_default_still_go_on_top_of_the_file(tmp_path):
    (tmp_path / "run.toml").write_text('[seeds]\nruns = 1\n[teacher]\narchitecture = "gcn"\n'
                                       '[teacher.training]\nepochs = 3\npatience = 3\n'
                                       '[student.training]\nepochs = 3\npatience = 3\n')
    assert main(["distill", "--config", str(tmp_path / "run.toml"), "--out", str(tmp_path / "o"), "--quiet",
                 "--teacher", "gat", "--temperature", "1.0", "--epochs", "4"]) == 0
    run = read_run_file(tmp_path / "o" / "run.toml")
    assert run.teacher.architecture == "gat" and run.teacher.training.epochs == 4


@pytest.mark.parametrize("argv", [["distill", "--out", ""], ["export", "--model", "m.pt", "--out", " "]])
def test_error_empty_output_folder(tmp_path, monkeypatch, capsys, argv):
    """An unset shell variable (--out "$OUT") once wrote a whole run into the working folder."""
    monkeypatch.chdir(tmp_path)
    save_model(MLP(2, 4, 2, 2), "m.pt", meta={"preprocessing": {"row_normalize": False}})
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and "folder is empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
