"""Resumable training: a run killed midway and started again ends exactly where an uninterrupted run ends."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from graphkd.models import build_model
from graphkd.training import TrainConfig, cross_entropy_on, train_full_batch

# A training run as its own process. Every loss call sleeps a little (deterministically) so the parent can
# kill the run midway, and adds noise from python `random` and numpy so their restored states matter too.
TRAIN_SCRIPT = textwrap.dedent("""
    import random, sys, time
    import numpy as np
    import torch
    import torch.nn.functional as F
    from graphkd.data import csbm, random_split
    from graphkd.models import build_model
    from graphkd.training import TrainConfig, cross_entropy_on, predict, train_full_batch, train_minibatch

    kind, checkpoint, out, sleep = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    checkpoint = None if checkpoint == "none" else checkpoint
    torch.set_num_threads(1)
    data = random_split(csbm(num_nodes=600, num_features=16, seed=0), seed=0)
    torch.manual_seed(0), random.seed(0), np.random.seed(0)
    model = build_model(kind, in_channels=16, hidden_channels=32, out_channels=5, num_layers=2, dropout=0.5)
    config = TrainConfig(epochs=30, lr=0.01, patience=30, batch_size=40)
    calls = 0

    def noisy(loss):
        global calls
        calls += 1
        print("loss call", calls, flush=True)
        time.sleep(sleep)
        return loss * (1 + 0.01 * random.random() + 0.01 * float(np.random.rand()))

    if kind == "mlp":
        nodes = data.train_mask.nonzero().view(-1)
        best = train_minibatch(model, data, nodes, lambda logits, batch: noisy(F.cross_entropy(logits, data.y[batch])),
                               config, checkpoint=checkpoint, checkpoint_every=1)
    else:
        loss = cross_entropy_on(data.train_mask, data.y)
        best = train_full_batch(model, data, lambda logits: noisy(loss(logits)), config,
                                checkpoint=checkpoint, checkpoint_every=1)
    torch.save({"state_dict": model.state_dict(), "best_acc": best, "calls": calls, "logits": predict(model, data)},
               out)
""")
CALLS_PER_EPOCH = {"gcn": 1, "mlp": 3}  # 100 training nodes (20 per class) in batches of 40


def run_script(script, kind, checkpoint, out, sleep=0.0, **popen):
    return subprocess.Popen([sys.executable, str(script), kind, str(checkpoint), str(out), str(sleep)],
                            env={**os.environ, "PYTHONHASHSEED": "0"}, **popen)


@pytest.mark.parametrize("kind", ["gcn", "mlp"])
def test_killed_run_resumes_to_identical_result(tmp_path, kind):
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    checkpoint = tmp_path / "run.ckpt"
    reference = run_script(script, kind, "none", tmp_path / "reference.pt", stdout=subprocess.DEVNULL)

    victim = run_script(script, kind, checkpoint, tmp_path / "victim.pt", sleep=0.1, stdout=subprocess.PIPE,
                        text=True)
    calls, deadline = 0, time.monotonic() + 60
    while calls < 5 * CALLS_PER_EPOCH[kind] or not checkpoint.exists():
        line = victim.stdout.readline()
        assert line and time.monotonic() < deadline, "training run ended before it could be killed"
        calls += line.startswith("loss call")
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL
    victim.stdout.close()
    killed_at = torch.load(checkpoint, weights_only=True)["next_epoch"]
    assert 1 <= killed_at < 30
    assert not (tmp_path / "victim.pt").exists()

    restarted = run_script(script, kind, checkpoint, tmp_path / "resumed.pt", stdout=subprocess.DEVNULL)
    assert restarted.wait(timeout=120) == 0
    assert reference.wait(timeout=120) == 0
    expected = torch.load(tmp_path / "reference.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)

    assert resumed["calls"] == expected["calls"] - killed_at * CALLS_PER_EPOCH[kind]  # it really resumed
    assert resumed["best_acc"] == expected["best_acc"]
    assert expected["state_dict"].keys() == resumed["state_dict"].keys()
    for name, tensor in expected["state_dict"].items():
        assert torch.equal(tensor, resumed["state_dict"][name]), name
    assert torch.equal(expected["logits"], resumed["logits"])
    assert not checkpoint.exists()  # removed once training finished


class Interrupt(Exception):
    pass


def gcn_run(tiny_graph, checkpoint=None, crash_at=None, hidden=16, lr=0.05, checkpoint_every=5):
    """Train a GCN with dropout on the tiny graph; ``crash_at`` raises in that epoch, like a killed process."""
    torch.manual_seed(0)
    model = build_model("gcn", in_channels=2, hidden_channels=hidden, out_channels=2, num_layers=2, dropout=0.5)
    loss = cross_entropy_on(tiny_graph.train_mask, tiny_graph.y)
    train_logits = []  # one per epoch: with dropout, they depend on the weights and the random state

    def loss_fn(logits):
        train_logits.append(logits.detach().clone())
        if len(train_logits) == crash_at:
            raise Interrupt
        return loss(logits)

    best = train_full_batch(model, tiny_graph, loss_fn, TrainConfig(epochs=20, lr=lr, patience=20),
                            checkpoint=checkpoint, checkpoint_every=checkpoint_every)
    return model, best, train_logits


def test_interrupted_run_recomputes_epochs_after_last_checkpoint(tiny_graph, tmp_path):
    checkpoint = tmp_path / "gcn.ckpt"
    expected, expected_best, expected_logits = gcn_run(tiny_graph)
    with pytest.raises(Interrupt):
        gcn_run(tiny_graph, checkpoint, crash_at=8)
    assert torch.load(checkpoint, weights_only=True)["next_epoch"] == 5
    # gcn_run seeds and initialises afresh: the checkpoint's weights and random state must replace both.
    resumed, best, logits = gcn_run(tiny_graph, checkpoint)
    assert len(logits) == 15  # epochs 6-20
    for epoch, (want, got) in enumerate(zip(expected_logits[5:], logits, strict=True), start=6):
        assert torch.equal(want, got), f"epoch {epoch}"
    assert best == expected_best
    for name, tensor in expected.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name
    assert not checkpoint.exists()


@pytest.mark.parametrize("change, message", [
    ({"hidden": 8}, "model.hidden_channels: checkpoint 16, this run 8"),
    ({"lr": 0.01}, "train.lr: checkpoint 0.05, this run 0.01"),
])
def test_checkpoint_of_another_config_is_refused(tiny_graph, tmp_path, change, message):
    checkpoint = tmp_path / "gcn.ckpt"
    with pytest.raises(Interrupt):
        gcn_run(tiny_graph, checkpoint, crash_at=3, checkpoint_every=1)
    with pytest.raises(ValueError, match="different model or training configuration") as error:
        gcn_run(tiny_graph, checkpoint, **change)
    assert message in str(error.value)
    assert checkpoint.exists()  # a refused checkpoint is left alone


def test_checkpoint_holds_the_full_state_and_loads_with_weights_only(tiny_graph, tmp_path):
    checkpoint = tmp_path / "gcn.ckpt"
    with pytest.raises(Interrupt):
        gcn_run(tiny_graph, checkpoint, crash_at=3, checkpoint_every=1)
    blob = torch.load(checkpoint, weights_only=True)
    assert blob["next_epoch"] == 2
    assert blob["fingerprint"]["model"]["kind"] == "gcn" and blob["fingerprint"]["train"]["epochs"] == 20
    assert blob["model"].keys() == blob["best_state"].keys()
    assert len(blob["optimizer"]["state"]) == len(blob["model"])  # Adam moments for every parameter
    assert isinstance(blob["best_acc"], float) and blob["since_best"] in (0, 1)
    assert blob["rng"]["torch"].dtype == torch.uint8 and set(blob["rng"]) == {"torch", "python", "numpy"}
