"""graphkd on a GPU: teachers, soft targets and students on CUDA, what they write read back on the CPU, a user's
module and graph given on CUDA, large-graph inference and per-node serving from a GPU, and torchrun over NCCL.

Every test needs CUDA and is skipped without it (as PyG's ``withCUDA`` tests are); the device plumbing that can
be checked on a CPU is tests/test_device.py. benchmarks/gpu_check.py runs these where a GPU is lent.
"""
import copy
import dataclasses
import json
import os
import subprocess
import sys
import warnings

import pytest
import torch

from graphkd.bench.latency import LatencyConfig, bench_graph
from graphkd.checkpoint import load_training_state, save_training_state, training_fingerprint
from graphkd.device import module_device
from graphkd.distill import DistillConfig, SoftTargets, capture, run_distillation
from graphkd.distill.teachers import teacher_outputs
from graphkd.io import load_tensors
from graphkd.large.sampling import NeighborSampler
from graphkd.large.scale import layerwise_inference, train_sampled
from graphkd.models import build_model, load_model
from graphkd.serve.export import export_student
from graphkd.serve.per_node import PerNodeGNN
from graphkd.training import TrainConfig, predict

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs CUDA (a GPU and a CUDA build of torch); the CPU half of the device "
                                       "plumbing is tests/test_device.py")
GPU = torch.device("cuda", 0)


def _all_on_cpu(blob) -> bool:
    if isinstance(blob, torch.Tensor):
        return blob.device.type == "cpu"
    if isinstance(blob, dict):
        return all(_all_on_cpu(value) for value in blob.values())
    if isinstance(blob, list | tuple):
        return all(_all_on_cpu(value) for value in blob)
    return True


@pytest.mark.parametrize("kind", ["gcn", "sage", "gat", "appnp", "grand"])
def test_teacher_outputs_agree_across_devices(kind, ring_graph):
    data = ring_graph(num_nodes=60)
    torch.manual_seed(0)
    model = build_model(kind, in_channels=6, hidden_channels=16, out_channels=3, num_layers=2)
    layer = "convs.0" if kind in ("gcn", "sage", "gat") else None
    cpu_logits, cpu_hidden = teacher_outputs(model, data, [layer] if layer else [])
    gpu_logits, gpu_hidden = teacher_outputs(copy.deepcopy(model).to(GPU), data, [layer] if layer else [])
    assert gpu_logits.device.type == "cpu"  # back where the data is
    torch.testing.assert_close(gpu_logits, cpu_logits, atol=1e-4, rtol=1e-4)
    for name in cpu_hidden:
        torch.testing.assert_close(gpu_hidden[name], cpu_hidden[name], atol=1e-4, rtol=1e-4)


def test_a_run_on_cuda_writes_files_a_cpu_reads(tiny_graph, tmp_path):
    cfg = DistillConfig(runs=2, epochs=5, patience=5, student_hidden=8, hint_weight=0.5, device="cuda")
    summary = run_distillation(cfg, data=tiny_graph, out=tmp_path, progress=False)
    assert summary["devices"] == ["cuda:0"] and all(r["device"] == "cuda:0" for r in summary["per_seed"])
    for path in tmp_path.glob("*.pt"):
        assert _all_on_cpu(load_tensors(path, "file")), path
    student, _ = load_model(tmp_path / "student_seed0.pt")
    assert module_device(student).type == "cpu"
    export_student(tmp_path / "student_seed0.pt", tmp_path / "export", formats=("numpy", "onnx"))
    with pytest.warns(UserWarning, match="ran on cuda:0, this run computes on cpu"):
        again = run_distillation(dataclasses.replace(cfg, device="cpu"), data=tiny_graph, out=tmp_path,
                                 progress=False)
    assert again["per_seed"] == summary["per_seed"]  # the same key: the GPU's records are kept


def test_inductive_run_with_positions_and_cs_on_cuda(ring_graph, tmp_path):
    cfg = DistillConfig(runs=1, epochs=5, patience=5, student_hidden=8, setting="inductive", positions=2,
                        refine="cs", teacher="gcn+sage", device="cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = run_distillation(cfg, data=ring_graph(), out=tmp_path, progress=False)
    assert summary["per_seed"][0]["device"] == "cuda:0"
    assert 0 <= summary["student"]["inductive_test_acc_mean"] <= 1


def test_a_module_and_graph_given_on_cuda_are_taken_as_they_are(ring_graph):
    data = ring_graph()
    torch.manual_seed(0)  # an MLP: no scatter, whose atomic additions could change the last bits between runs
    module = build_model("mlp", in_channels=6, hidden_channels=8, out_channels=3, num_layers=2).to(GPU)
    gpu_data = copy.copy(data).to(GPU)
    with_hidden = capture(module, gpu_data, layers="lins.0")
    assert with_hidden.logits.device.type == "cpu" and with_hidden.hidden["lins.0"].device.type == "cpu"
    expected = capture(module, gpu_data).content_hash()
    cpu_module = copy.deepcopy(module).cpu()
    for device, teacher, given in (("cpu", module, gpu_data), ("cuda", module, data), ("cuda", cpu_module, data)):
        cfg = DistillConfig(teacher=teacher, runs=1, epochs=3, patience=3, student_hidden=8, device=device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            record = run_distillation(cfg, data=given, progress=False)["per_seed"][0]
        assert record["device"] == ("cuda:0" if device == "cuda" else "cpu")
        if teacher is module:  # the module runs where it is, whatever the run's device: the same soft targets
            assert record["soft_targets_hash"] == expected
    # the user's objects are left where they were
    assert module_device(module) == GPU and gpu_data.x.device == GPU and data.x.device.type == "cpu"


def test_training_state_moves_between_devices(tmp_path):
    config = TrainConfig(epochs=4)
    gpu_model = build_model("mlp", in_channels=4, hidden_channels=8, out_channels=2, num_layers=2).to(GPU)
    gpu_optimizer = torch.optim.Adam(gpu_model.parameters())
    gpu_model(torch.randn(5, 4, device=GPU)).sum().backward()
    gpu_optimizer.step()
    fingerprint = training_fingerprint(gpu_model, config)
    save_training_state(tmp_path / "c.ckpt", fingerprint, 1, gpu_model, gpu_optimizer, gpu_model.state_dict(), 0.5, 0)
    assert _all_on_cpu(load_tensors(tmp_path / "c.ckpt", "checkpoint"))
    cpu_model = build_model("mlp", in_channels=4, hidden_channels=8, out_channels=2, num_layers=2)
    cpu_optimizer = torch.optim.Adam(cpu_model.parameters())
    load_training_state(tmp_path / "c.ckpt", fingerprint, cpu_model, cpu_optimizer)
    for (name, a), b in zip(cpu_model.state_dict().items(), gpu_model.state_dict().values(), strict=True):
        assert torch.equal(a, b.cpu()), name
    state = next(iter(cpu_optimizer.state.values()))
    assert state["exp_avg"].device.type == "cpu"
    back = build_model("mlp", in_channels=4, hidden_channels=8, out_channels=2, num_layers=2).to(GPU)
    back_optimizer = torch.optim.Adam(back.parameters())
    load_training_state(tmp_path / "c.ckpt", fingerprint, back, back_optimizer)
    assert next(iter(back_optimizer.state.values()))["exp_avg"].device == GPU


def test_layerwise_inference_and_sampled_training_on_cuda(ring_graph):
    data = ring_graph(num_nodes=80)
    torch.manual_seed(0)
    model = build_model("sage", in_channels=6, hidden_channels=16, out_channels=3, num_layers=2,
                        norm="batch_norm").eval()
    sampler = NeighborSampler(data.edge_index, data.num_nodes, [-1])
    cpu = layerwise_inference(model, data, sampler, chunk_size=16)
    gpu = layerwise_inference(copy.deepcopy(model).to(GPU), data, sampler, chunk_size=16)
    assert gpu.device.type == "cpu"
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)
    model.to(GPU)
    stats = train_sampled(model, data, sampler.with_fanouts([3, 2]), TrainConfig(epochs=2, patience=2, batch_size=16))
    assert stats["epochs"] == 2 and module_device(model) == GPU


@pytest.mark.parametrize("fanouts", [None, [3, 2]])
def test_per_node_serving_from_a_gpu(ring_graph, fanouts):
    data = ring_graph()
    torch.manual_seed(0)
    model = build_model("sage", in_channels=6, hidden_channels=8, out_channels=3, num_layers=2).eval()
    nodes = torch.tensor([0, 5, 9])
    torch.manual_seed(1)
    cpu = PerNodeGNN(model, data, fanouts)(nodes)
    torch.manual_seed(1)
    gpu = PerNodeGNN(copy.deepcopy(model).to(GPU), data, fanouts)(nodes)
    assert gpu.device.type == "cpu"
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)
    if fanouts is None:  # the whole neighbourhood: the full-graph forward's logits
        torch.testing.assert_close(gpu, predict(model, data)[nodes], atol=1e-4, rtol=1e-4)


def test_latency_serves_the_teachers_from_the_gpu_too(ring_graph):
    cfg = LatencyConfig(depths=(1, 2), ref_depth=2, student_widths=(8,), fanouts=(3, 2), nodes=4, positions=0,
                        warmup=1, batch_sizes=(1, 16), repeats=2, threads=(1,), epochs=3, compress=False,
                        teacher_device="cuda")
    result = bench_graph(ring_graph(), "ring", cfg, progress=False)
    on_gpu = [r for r in result["models"] if r["device"] == "cuda:0"]
    assert [r["name"] for r in on_gpu] == ["SAGE 1x128 on cuda:0", "SAGE 2x128 on cuda:0"]
    cpu_acc = {r["name"]: r["test_acc"] for r in result["models"]}
    for r in on_gpu:
        assert r["test_acc"] == pytest.approx(cpu_acc[r["name"].removesuffix(" on cuda:0")], abs=0.05)
        assert all(v > 0 for v in r["batched"][1].values())
    assert "SAGE 2x128 on cuda:0 [fanout 3-2]" in result["speedups"][1]["warm"]["gnn_over_student"]


def test_torchrun_on_one_gpu_talks_over_nccl(tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m",
               "graphkd.cli", "distill", "--runs", "1", "--epochs", "5", "--patience", "5", "--student-hidden",
               "16", "--device", "cuda", "--out", str(tmp_path), "--quiet"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "TORCH_DISTRIBUTED_DEBUG": "OFF"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads((tmp_path / "results.json").read_text())
    assert summary["devices"] == ["cuda:0"]


def test_soft_targets_stay_on_the_cpu(tiny_graph):
    logits = torch.randn(6, 2, device=GPU)
    targets = SoftTargets.from_logits([logits], tiny_graph.to(GPU), "labelled")
    assert targets.logits.device.type == "cpu" and targets.node_index.device.type == "cpu"
    torch.testing.assert_close(targets.logits[0], logits[tiny_graph.train_mask.to(GPU)].cpu())
