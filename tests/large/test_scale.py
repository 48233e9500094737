"""OGB-scale pipeline on small graphs: chunked inference is exact, sampled training learns, students distil."""
import pytest
import torch
from torch_geometric.data import Data

import graphkd.large.scale
from graphkd.data.large import synthetic_graph
from graphkd.large.sampling import NeighborSampler
from graphkd.large.scale import (
    layerwise_inference,
    sampled_forward,
    teacher_soft_targets,
    train_sampled,
    train_wide_student,
    wide_student_config,
)
from graphkd.models import GAT, GCN, GraphSAGE
from graphkd.training import TrainConfig, accuracy, predict


@pytest.fixture(autouse=True)
def one_thread():
    """On a busy 2-core machine torch's thread pool spins; one thread makes these tests ~100x faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def graph():
    return synthetic_graph(2000, 8000, 16, 4, homophily=0.9, feature_signal=0.25, seed=2)


@pytest.mark.parametrize("model_cls", [GCN, GraphSAGE, GAT])
def test_chunked_layerwise_inference_equals_full_forward(graph, model_cls):
    torch.manual_seed(0)
    kwargs = {"heads": 2} if model_cls is GAT else {}
    model = model_cls(16, 16, 3, 4, norm="batch_norm", **kwargs)
    model.train()
    model(graph.x, graph.edge_index)  # one pass in train mode, so batch-norm statistics are not trivial
    model.eval()
    sampler = NeighborSampler(graph.edge_index, graph.num_nodes, [-1])
    with torch.no_grad():
        full = model(graph.x, graph.edge_index)
    chunked = layerwise_inference(model, graph, sampler, chunk_size=333)
    assert torch.allclose(chunked, full, atol=1e-5)


def test_gcn_chunks_with_self_loops_stay_exact():
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 0, 3, 2], [1, 0, 2, 1, 0, 2, 3, 3]])  # node 3 has a self loop
    data = Data(x=torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), edge_index=edge_index)
    model = GCN(3, 8, 2, 2).eval()
    sampler = NeighborSampler(edge_index, 4, [-1])
    with torch.no_grad():
        assert torch.allclose(layerwise_inference(model, data, sampler, chunk_size=1),
                              model(data.x, edge_index), atol=1e-6)


def test_trimmed_sampled_forward_matches_full_graph(graph):
    model = GraphSAGE(16, 8, 2, 4).eval()
    sampler = NeighborSampler(graph.edge_index, graph.num_nodes, [-1, -1])
    seeds = torch.tensor([4, 1000, 7])
    sample = sampler.sample(seeds)
    with torch.no_grad():
        out = sampled_forward(model, graph.x[sample.n_id], sample)
        assert out.shape == (3, 4)
        assert torch.allclose(out, model(graph.x, graph.edge_index)[seeds], atol=1e-5)
    with pytest.raises(ValueError, match="hops"):
        sampled_forward(GraphSAGE(16, 8, 3, 4), graph.x[sample.n_id], sample)


def test_sampled_teacher_learns_and_students_distil(graph):
    torch.manual_seed(0)
    teacher = GraphSAGE(16, 32, 2, 4, dropout=0.2)
    sampler = NeighborSampler(graph.edge_index, graph.num_nodes, [10, 5])
    stats = train_sampled(teacher, graph, sampler, TrainConfig(epochs=8, lr=0.01, patience=8, batch_size=256))
    assert stats["epochs"] == 8 and len(stats["epoch_seconds"]) == 8 and stats["batches_per_epoch"] == 4
    targets = teacher_soft_targets(teacher, graph, sampler, chunk_size=500)
    assert targets.logits.shape == (1, graph.num_nodes, 4)
    assert targets.meta["teacher_test_acc"] > 0.6  # four classes: chance is 0.25

    config = wide_student_config(student_hidden=64, epochs=30, patience=30, batch_size=512)
    student = train_wide_student(graph, targets, config)
    test = graph.test_mask
    student_acc = accuracy(predict(student, graph)[test], graph.y[test])
    assert student.lins[0].out_features == 64 and len(student.lins) == 3
    assert student_acc > 0.5

    with pytest.raises(ValueError, match="max_batches"):
        train_sampled(teacher, graph, sampler, TrainConfig(epochs=1), max_batches=0)


class Interrupt(Exception):
    pass


def test_interrupted_sampled_training_resumes_bit_identical(graph, tmp_path, monkeypatch):
    """Batches and neighbours come from the checkpointed global generator, so a run interrupted in epoch 4
    and started again draws the same samples and ends with the same weights as an uninterrupted run."""
    sampler = NeighborSampler(graph.edge_index, graph.num_nodes, [10, 5])
    config = TrainConfig(epochs=6, lr=0.01, patience=6, batch_size=256)  # 4 training batches + 1 val batch per epoch
    forward = graphkd.large.scale.sampled_forward

    def run(checkpoint=None, crash_at=None):
        calls, samples = [0], []

        def counting_forward(model, x, sample):
            calls[0] += 1
            if calls[0] == crash_at:
                assert checkpoint.exists()  # epochs 1-3 are saved
                raise Interrupt
            if model.training:
                samples.append(sample.n_id)
            return forward(model, x, sample)

        monkeypatch.setattr(graphkd.large.scale, "sampled_forward", counting_forward)
        torch.manual_seed(0)
        model = GraphSAGE(16, 16, 2, 4, dropout=0.5)
        stats = train_sampled(model, graph, sampler, config, checkpoint=checkpoint, checkpoint_every=1)
        return model, stats, samples

    reference, reference_stats, reference_samples = run()
    checkpoint = tmp_path / "teacher.ckpt"
    with pytest.raises(Interrupt):
        run(checkpoint, crash_at=3 * 5 + 2)
    torch.manual_seed(123)  # the resumed run must take its random state from the checkpoint, not from here
    resumed, resumed_stats, resumed_samples = run(checkpoint)
    assert len(resumed_samples) == 3 * 4
    assert all(torch.equal(a, b) for a, b in zip(resumed_samples, reference_samples[3 * 4:], strict=True))
    assert resumed_stats["best_val_acc"] == reference_stats["best_val_acc"]
    for name, value in reference.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value), name
    assert not checkpoint.exists()
