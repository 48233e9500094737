"""graphkd.device and the device plumbing, on any machine: names checked and resolved ("auto", refusals, torchrun
ranks), keys unchanged by the device, the device in each seed's record, every file written as CPU tensors and
read with ``map_location``, and a model trained with ``device="cpu"`` or written on a GPU round-tripping through
save, resume and export. The runs on CUDA itself are tests/test_cuda.py."""
import ast
import dataclasses
import json
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

import graphkd
from graphkd.bench.latency import LatencyConfig
from graphkd.bench.latency import run as run_latency
from graphkd.checkpoint import load_training_state, save_training_state, training_fingerprint
from graphkd.cli import main
from graphkd.device import check_device, graph_on, module_device, resolve_device
from graphkd.distill import Compute, DistillConfig, RunConfig, SoftTargets, run_distillation
from graphkd.distill.records import record_hash
from graphkd.distill.run_file import read_run_file, write_run_file
from graphkd.errors import GraphkdError
from graphkd.io import atomic_save, load_tensors, on_cpu
from graphkd.models import build_model, load_model, save_model
from graphkd.serve.export import export_student
from graphkd.serve.predictor import Predictor
from graphkd.training import TrainConfig, cross_entropy_on, fit, predict
from graphkd.training.distributed import distributed


@pytest.fixture
def no_cuda(monkeypatch):
    """A machine without CUDA, also where the tests run on a GPU machine."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.fixture
def gpus(monkeypatch):
    """``gpus(n)``: torch reports ``n`` GPUs (nothing runs on them: only names are resolved)."""
    def make(count: int):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    return make


@pytest.fixture
def written_on_a_gpu():
    """Files saved inside this context record their tensors as CUDA ones, as torch.save from a GPU does: loading
    such a file without ``map_location`` on a machine without CUDA raises."""
    return mock.patch("torch.serialization.location_tag", lambda storage: "cuda:0")


@pytest.mark.parametrize("given, spelled", [("cpu", "cpu"), (" CUDA ", "cuda"), ("cuda:1", "cuda:1"),
                                            ("auto", "auto"), ("Cuda:12", "cuda:12")])
def test_device_names_are_spelled_one_way(given, spelled):
    assert check_device(given) == spelled


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cuda:-1", "cuda:a", "mps", "", "cpu:0", 0, None,
                                 torch.device("cpu")])
def test_a_malformed_device_is_refused_with_the_valid_forms(bad):
    with pytest.raises(GraphkdError, match='device must be "cpu", "cuda", "cuda:N"'):
        check_device(bad)
    with pytest.raises(GraphkdError, match="device must be"):
        DistillConfig(device=bad)


def test_without_cuda_auto_is_the_cpu_and_cuda_is_refused(no_cuda):
    assert resolve_device("auto") == resolve_device("cpu") == torch.device("cpu")
    for name in ("cuda", "cuda:0"):
        with pytest.raises(GraphkdError, match="asks for CUDA, which this machine's torch .* cannot use"):
            resolve_device(name)


def test_with_gpus_each_name_resolves_to_one(gpus, monkeypatch):
    gpus(2)
    assert resolve_device("auto") == resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(GraphkdError, match="names GPU 2, and this machine has 2"):
        resolve_device("cuda:2")
    monkeypatch.setenv("LOCAL_RANK", "1")  # a torchrun rank: its own GPU
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert resolve_device("cuda") == resolve_device("auto") == torch.device("cuda", 1)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # more ranks than GPUs: auto stays on the CPU, every rank alike
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(GraphkdError, match="has 2 for 4 ranks"):
        resolve_device("cuda")


# Keys computed by graphkd before the device option existed: a run's key is the same on every device.
GOLDEN_KEYS = [
    ({}, ("f49d3490dd60", "299d353a3562", "dcff7efcc7b7")),
    ({"dataset": "Cora", "teacher": "gcn", "runs": 3}, ("0004bf37110d", "55b002e93bbb", "debad716858c")),
    ({"dataset": "Cora", "teacher": "gat+sage", "hint_weight": 1.0, "setting": "inductive", "epochs": 100},
     ("1b6a93c00caa", "230d1e269dd2", "e778b8531c5a")),
    ({"dataset": "CS", "student": "sage", "student_layers": 1, "refine": "cs", "alpha": 0.3, "root": "/tmp/x"},
     ("a9754a4bb4a9", "3e69ccba73d3", "6089b66605fa")),
]


@pytest.mark.parametrize("options, keys", GOLDEN_KEYS)
@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:3", "auto"])
def test_the_device_changes_no_key(options, keys, device):
    cfg = DistillConfig(**options, device=device)
    assert (cfg.key(), cfg.teacher_key(), cfg.training_key()) == keys
    assert cfg.describe()["device"] == device


def test_run_file_has_a_compute_part_only_off_the_cpu(tmp_path):
    write_run_file(RunConfig.from_distill_config(DistillConfig(device="cpu")), tmp_path / "cpu.toml")
    assert "[compute]" not in (tmp_path / "cpu.toml").read_text()
    write_run_file(RunConfig.from_distill_config(DistillConfig(device="auto")), tmp_path / "auto.toml")
    assert '[compute]\ndevice = "auto"' in (tmp_path / "auto.toml").read_text()
    assert read_run_file(tmp_path / "auto.toml").distill_config().device == "auto"
    assert RunConfig(compute=Compute("cuda:1")).distill_config().device == "cuda:1"
    (tmp_path / "bad.toml").write_text('[compute]\ndevice = "gpu"\n')
    with pytest.raises(GraphkdError, match='bad.toml: compute.device must be "cpu"'):
        read_run_file(tmp_path / "bad.toml")


def test_cli_refuses_cuda_without_it_in_one_line(no_cuda, tmp_path, capsys):
    for device, said in (("cuda", "asks for CUDA"), ("gpu", "device must be")):
        with pytest.raises(SystemExit) as exit_info:
            main(["distill", "--runs", "1", "--device", device, "--out", str(tmp_path), "--quiet"])
        assert exit_info.value.code == 2 and said in capsys.readouterr().err
    assert not (tmp_path / "run.toml").exists()  # refused before anything was written


def test_latency_refuses_a_teacher_device_it_lacks(no_cuda, tmp_path):
    with pytest.raises(GraphkdError, match="device must be"):
        LatencyConfig(teacher_device="gpu")
    with pytest.raises(GraphkdError, match="asks for CUDA"):
        run_latency(["Cora"], LatencyConfig(teacher_device="cuda"), out=tmp_path, progress=False)
    assert not list(tmp_path.iterdir())


def test_torchrun_without_cuda_joins_gloo_or_refuses_cuda(no_cuda, torchrun_env):
    torchrun_env(local_rank=0)
    with pytest.raises(GraphkdError, match="asks for CUDA"), distributed("cuda"):
        pass
    with distributed("auto") as world:
        assert world == 1 and torch.distributed.get_backend() == "gloo"
    assert not torch.distributed.is_initialized()


def test_each_record_names_its_device_and_a_gpu_record_is_kept_with_a_warning(tiny_graph, tmp_path):
    cfg = DistillConfig(runs=2, epochs=3, patience=3, student_hidden=8, device="auto" if not
                        torch.cuda.is_available() else "cpu")
    summary = run_distillation(cfg, data=tiny_graph, out=tmp_path, progress=False)
    assert [record["device"] for record in summary["per_seed"]] == ["cpu", "cpu"]
    assert summary["devices"] == ["cpu"] and summary["config"]["device"] == cfg.device
    record_path = tmp_path / "runs" / "seed1.json"
    record = json.loads(record_path.read_text())
    record["device"] = "cuda:0"  # the same seed, run on a GPU machine
    record["record_hash"] = record_hash(record)
    record_path.write_text(json.dumps(record))
    with pytest.warns(UserWarning, match="ran on cuda:0, this run computes on cpu"):
        again = run_distillation(DistillConfig(runs=2, epochs=3, patience=3, student_hidden=8), data=tiny_graph,
                                 out=tmp_path, progress=False)
    assert again["per_seed"][1] == record and again["devices"] == ["cpu", "cuda:0"]
    del record["device"]  # a record written before graphkd named devices ran on the CPU
    record["record_hash"] = record_hash(record)
    record_path.write_text(json.dumps(record))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*ran on")
        assert run_distillation(cfg, data=tiny_graph, out=tmp_path, progress=False)["devices"] == ["cpu"]


def _torch_load_calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "load" and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"]


def test_every_torch_load_in_graphkd_maps_to_the_cpu_and_refuses_code():
    package = Path(graphkd.__file__).parent
    calls = {f"{path.relative_to(package)}:{call.lineno}": {k.arg: k.value for k in call.keywords}
             for path in package.rglob("*.py") for call in _torch_load_calls(ast.parse(path.read_text()))}
    assert calls, "no torch.load found: the check would pass for nothing"
    for where, keywords in calls.items():
        assert isinstance(keywords.get("map_location"), ast.Constant), where
        assert keywords["map_location"].value == "cpu", where
        assert isinstance(keywords.get("weights_only"), ast.Constant) and keywords["weights_only"].value, where


def test_on_cpu_keeps_cpu_tensors_and_state_dict_metadata():
    model = build_model("mlp", in_channels=3, hidden_channels=4, out_channels=2, num_layers=2, norm="batch_norm")
    state = model.state_dict()
    assert on_cpu(state) is state  # nothing to move: the same object, views still shared
    nested = {"a": [torch.ones(2), (torch.zeros(1), "text")], "b": 3}
    assert on_cpu(nested) is nested
    with mock.patch.object(torch.Tensor, "cpu", lambda self: self.clone()):  # every tensor "moves"
        moved = on_cpu(state)
    assert moved is not state and type(moved) is type(state) and moved._metadata == state._metadata
    assert all(torch.equal(moved[key], state[key]) for key in state)


def test_files_written_on_a_gpu_load_here(written_on_a_gpu, tiny_graph, tmp_path, no_cuda):
    model = build_model("gcn", in_channels=2, hidden_channels=4, out_channels=2, num_layers=2)
    targets = SoftTargets.from_logits([torch.randn(6, 2)], tiny_graph)
    with written_on_a_gpu:
        save_model(model, tmp_path / "model.pt")
        targets.save(tmp_path / "targets.pt")
        torch.save({"logits": torch.randn(6, 2)}, tmp_path / "outputs.pt")  # a user's, with torch.save
    with pytest.raises(RuntimeError, match="CUDA"):  # what a load without map_location meets here
        torch.load(tmp_path / "model.pt", weights_only=True)
    loaded, _ = load_model(tmp_path / "model.pt")
    assert module_device(loaded) == torch.device("cpu")
    assert SoftTargets.load(tmp_path / "targets.pt").content_hash() == targets.content_hash()
    assert load_tensors(tmp_path / "outputs.pt", "outputs")["logits"].device == torch.device("cpu")
    summary = run_distillation(DistillConfig(teacher=str(tmp_path / "outputs.pt"), runs=1, epochs=2, patience=2,
                                             student_hidden=8), data=tiny_graph, progress=False)
    assert summary["per_seed"][0]["device"] == "cpu"


def _gcn() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("gcn", in_channels=2, hidden_channels=8, out_channels=2, num_layers=2, dropout=0.5)


def _fit(model, data, checkpoint=None, scores=range(100)) -> None:
    """8 epochs of full-batch training with dropout; ``scores``: the validation score of each epoch in turn
    (rising: the last epoch's weights are kept)."""
    loss, scores = cross_entropy_on(data.train_mask, data.y), iter(scores)

    def step(optimizer):
        optimizer.zero_grad()
        value = loss(model(data.x, data.edge_index))
        value.backward()
        optimizer.step()
        return value.item()

    fit(model, step, lambda: float(next(scores)), TrainConfig(epochs=8, lr=0.05, patience=8),
        checkpoint=checkpoint, checkpoint_every=1 if checkpoint else None)


def _stopped_after(epochs: int):
    yield from range(epochs)
    raise KeyboardInterrupt  # the run is killed while scoring the next epoch


def test_training_checkpointed_on_a_gpu_resumes_here_bit_identically(tiny_graph, tmp_path, written_on_a_gpu,
                                                                     no_cuda):
    checkpoint = tmp_path / "run.ckpt"
    with written_on_a_gpu, pytest.raises(KeyboardInterrupt):
        _fit(_gcn(), tiny_graph, checkpoint, _stopped_after(3))
    assert load_tensors(checkpoint, "checkpoint")["next_epoch"] == 3
    resumed = _gcn()
    _fit(resumed, tiny_graph, checkpoint, range(3, 100))
    whole = _gcn()  # seeded as the interrupted run was: dropout draws the same numbers
    _fit(whole, tiny_graph)
    assert all(torch.equal(a, b) for a, b in zip(resumed.state_dict().values(), whole.state_dict().values(),
                                                  strict=True))


def test_a_checkpoint_with_gpu_random_states_resumes_on_a_cpu_only_machine(tmp_path, monkeypatch):
    model = build_model("mlp", in_channels=2, hidden_channels=4, out_channels=2, num_layers=2)
    optimizer = torch.optim.Adam(model.parameters())
    config = TrainConfig(epochs=4)
    fingerprint = training_fingerprint(model, config)
    with monkeypatch.context() as gpu:  # saved where CUDA ran: the GPUs' generator states go in too
        gpu.setattr(torch.cuda, "is_available", lambda: True)
        gpu.setattr(torch.cuda, "is_initialized", lambda: True)
        gpu.setattr(torch.cuda, "get_rng_state_all", lambda: [torch.zeros(16, dtype=torch.uint8)])
        save_training_state(tmp_path / "c.ckpt", fingerprint, 2, model, optimizer, model.state_dict(), 0.5, 0)
    assert "cuda" in load_tensors(tmp_path / "c.ckpt", "checkpoint")["rng"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    state = load_training_state(tmp_path / "c.ckpt", fingerprint, model, optimizer)
    assert state["next_epoch"] == 2


def test_a_cpu_run_round_trips_through_save_resume_and_export(tiny_graph, tmp_path):
    cfg = DistillConfig(runs=1, epochs=4, patience=4, student_hidden=8, device="cpu")
    summary = run_distillation(cfg, data=tiny_graph, out=tmp_path / "run", progress=False)
    student, meta = load_model(tmp_path / "run" / "student_seed0.pt")
    assert module_device(student) == torch.device("cpu") and meta["seed"] == 0
    scores = predict(student, tiny_graph)
    assert summary["per_seed"][0]["student"]["test_acc"] == pytest.approx(
        (scores[tiny_graph.test_mask].argmax(-1) == tiny_graph.y[tiny_graph.test_mask]).float().mean().item())
    export_student(tmp_path / "run" / "student_seed0.pt", tmp_path / "export", formats=("numpy",))
    served = Predictor.load(tmp_path / "export", "numpy").predict_proba(tiny_graph.x.numpy())
    np.testing.assert_allclose(served, scores.softmax(-1).numpy(), atol=1e-5)
    # run again with the device named otherwise ("auto": the CPU here): the same key, so the seed is read back
    with mock.patch("graphkd.distill.pipeline.run_seed", side_effect=AssertionError("trained again")), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")  # on a GPU machine: the record ran on the CPU, this run on cuda:0
        again = run_distillation(dataclasses.replace(cfg, device="auto"), data=tiny_graph, out=tmp_path / "run",
                                 progress=False)
    assert again["per_seed"] == summary["per_seed"]


def test_graph_on_copies_only_when_it_moves(tiny_graph):
    assert graph_on(tiny_graph, "cpu") is tiny_graph
    assert graph_on(tiny_graph, torch.device("cpu")) is tiny_graph
    moved = graph_on(tiny_graph, "meta")  # a device without data, where moving is all that can be checked
    assert moved is not tiny_graph and moved.task is tiny_graph.task
    assert {value.device.type for value in moved.to_dict().values() if isinstance(value, torch.Tensor)} == {"meta"}
    assert tiny_graph.x.device.type == "cpu" and tiny_graph.edge_index.device.type == "cpu"  # the caller's, as it was


def test_atomic_save_writes_cpu_tensors(tmp_path):
    with mock.patch.object(torch.Tensor, "cpu", lambda self: self + 1):  # stands for the copy off a GPU
        atomic_save({"w": torch.zeros(2)}, tmp_path / "w.pt")
    assert torch.equal(load_tensors(tmp_path / "w.pt", "tensors")["w"], torch.ones(2))
