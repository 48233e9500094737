"""Hostile and damaged files: one clear error naming the file, no code run, no traceback on the CLI."""
import os
import pickle

import pytest
import torch

from graphkd.cli import main
from graphkd.distill import SoftTargets
from graphkd.io import load_model, save_model
from graphkd.models import MLP


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def _crafted(path):
    path.write_bytes(pickle.dumps(RunsCode()))
    return path


def _truncated(path):
    save_model(MLP(4, 8, 2), path)
    path.write_bytes(path.read_bytes()[:100])
    return path


@pytest.mark.parametrize("damage", [_crafted, _truncated])
@pytest.mark.parametrize("load, what", [(SoftTargets.load, "soft-target file"), (load_model, "graphkd model file")])
def test_damaged_files_name_themselves(tmp_path, monkeypatch, damage, load, what):
    monkeypatch.chdir(tmp_path)
    path = damage(tmp_path / "file.pt")
    with pytest.raises(ValueError, match=f"file.pt is not a readable {what}"):
        load(path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("damage", [_crafted, _truncated])
def test_cli_export_of_a_damaged_model_is_one_line(tmp_path, monkeypatch, capsys, damage):
    monkeypatch.chdir(tmp_path)
    path = damage(tmp_path / "student.pt")
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--model", str(path), "--out", str(tmp_path / "export")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "student.pt is not a readable graphkd model file" in err
    assert "Traceback" not in err and not (tmp_path / "pwned").exists()


def test_cli_out_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "taken").write_text("not a folder")
    with pytest.raises(SystemExit) as exit_info:
        main(["distill", "--runs", "1", "--epochs", "2", "--patience", "2", "--quiet",
              "--out", str(tmp_path / "taken")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "taken" in err and "Traceback" not in err


def test_damaged_teacher_output_files(tmp_path):
    from graphkd.distill.teachers import load_teacher_outputs

    (tmp_path / "t.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="t.npz is not a readable .npz of teacher outputs"):
        load_teacher_outputs(tmp_path / "t.npz")
    torch.save({"logits": torch.zeros(3, 2)}, tmp_path / "t.pt")
    (tmp_path / "t.pt").write_bytes((tmp_path / "t.pt").read_bytes()[:40])
    with pytest.raises(ValueError, match="t.pt is not a readable file of teacher outputs"):
        load_teacher_outputs(tmp_path / "t.pt")


def test_model_file_whose_config_does_not_fit_its_weights(tmp_path):
    save_model(MLP(4, 8, 2), tmp_path / "m.pt")
    blob = torch.load(tmp_path / "m.pt", weights_only=True)
    blob["config"]["hidden_channels"] = 16
    torch.save(blob, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="m.pt: the stored model configuration does not fit its weights"):
        load_model(tmp_path / "m.pt")
    blob["config"] = {"kind": "mlp", "in_channels": 4, "unknown_option": 1}
    torch.save(blob, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="does not fit its weights"):
        load_model(tmp_path / "m.pt")


@pytest.mark.parametrize("text", ["{not json", '{"num_features": 6}', "[]"])
def test_damaged_export_metadata(tmp_path, text):
    from graphkd.serve.export import export_student
    from graphkd.serve.predictor import Predictor

    export_student(MLP(6, 5, 3), tmp_path, formats=["numpy"])
    (tmp_path / "metadata.json").write_text(text)
    with pytest.raises(ValueError, match="metadata.json is not a graphkd export's metadata"):
        Predictor.load(tmp_path)
