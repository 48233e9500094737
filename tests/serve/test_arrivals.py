"""Serving a node that arrives after training (graphkd.serve.arrivals), on a hand-made graph."""
import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from graphkd.bench.timing import time_online
from graphkd.distill.settings import hold_out_arrivals
from graphkd.models import build_model
from graphkd.serve import arrivals as arrivals_module
from graphkd.serve.arrivals import Arrival, ArrivalGNN, arrivals_to_serve, student_arrival


def _path_graph() -> Data:
    """0-1-2-3-4 (undirected) plus 5 linked to 1 and 3 and 6 linked to 5 only; 5 and 6 are the test
    nodes held out, so 5 arrives with neighbours 1 and 3 and 6 with none observed."""
    pairs = torch.tensor([[0, 1, 2, 3, 5, 5, 6], [1, 2, 3, 4, 1, 3, 5]])
    test = torch.zeros(7, dtype=torch.bool)
    test[[4, 5, 6]] = True
    x = torch.arange(7 * 3, dtype=torch.float).view(7, 3) / 10
    return Data(x=x, edge_index=torch.cat([pairs, pairs.flip(0)], 1), y=torch.tensor([0, 1, 0, 1, 0, 1, 0]),
                test_mask=test)


def _held_out(data, nodes):
    """hold_out_arrivals with the seed that holds out exactly ``nodes`` (2 of the 3 test nodes)."""
    for seed in range(50):
        arrivals = hold_out_arrivals(data, seed, fraction=0.6)
        if arrivals.nodes.tolist() == nodes:
            return arrivals
    raise AssertionError("no seed holds out those nodes")


def test_arrivals_come_with_their_observed_neighbours_only():
    data = _path_graph()
    arrivals = _held_out(data, [5, 6])
    served = arrivals_to_serve(arrivals, torch.tensor([5, 6, 5]))
    assert arrivals.observed_nodes.tolist() == [0, 1, 2, 3, 4]  # observed ids equal full ids here
    assert [a.neighbours.tolist() for a in served] == [[1, 3], [], [1, 3]]  # 6's only neighbour also arrives
    torch.testing.assert_close(served[1].x, data.x[6:7])
    with pytest.raises(ValueError, match="held-out"):
        arrivals_to_serve(arrivals, torch.tensor([2]))


@pytest.mark.parametrize("kind,depth", [("sage", 1), ("sage", 2), ("sage", 3), ("gat", 2)])
def test_arrival_with_every_neighbour_matches_forward_on_observed_graph_plus_the_node(kind, depth):
    torch.manual_seed(0)
    data = _path_graph()
    arrivals = _held_out(data, [5, 6])
    extra = {"heads": 2} if kind == "gat" else {}
    model = build_model(kind, in_channels=3, hidden_channels=8, out_channels=2, num_layers=depth, **extra).eval()
    teacher = ArrivalGNN(model, arrivals.observed)
    for node, arrival in zip(arrivals.nodes, arrivals_to_serve(arrivals, arrivals.nodes), strict=True):
        # the observed graph plus this node (last) with its edges to observed nodes, both ways
        n = arrivals.observed.num_nodes
        both = torch.stack([arrival.neighbours, torch.full_like(arrival.neighbours, n)])
        graph = torch.cat([arrivals.observed.edge_index, both, both.flip(0)], 1)
        with torch.no_grad():
            expected = model(torch.cat([arrivals.observed.x, data.x[node].view(1, -1)]), graph)[n:]
        torch.testing.assert_close(teacher(arrival), expected, atol=1e-5, rtol=1e-4)


def test_arrival_fanout_samples_the_arrivals_own_neighbours():
    data = _path_graph()
    arrivals = _held_out(data, [5, 6])
    model = build_model("sage", in_channels=3, hidden_channels=4, out_channels=2, num_layers=1).eval()
    rows = []
    model.register_forward_pre_hook(lambda module, args: rows.append(args[0].size(0)))
    five, six = arrivals_to_serve(arrivals, torch.tensor([5, 6]))
    assert ArrivalGNN(model, arrivals.observed, [1])(five).shape == (1, 2)
    assert ArrivalGNN(model, arrivals.observed, [-1])(five).shape == (1, 2)
    assert ArrivalGNN(model, arrivals.observed, [1])(six).shape == (1, 2)  # no observed neighbour: alone
    assert rows == [1 + 1, 1 + 2, 1]


def test_student_arrival_computes_the_position_row_inside_the_call(monkeypatch):
    table = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]])
    seen = []
    serve = student_arrival(lambda x, p: seen.append((x, p)), table)
    serve(Arrival(torch.ones(1, 4), torch.tensor([0, 2])))
    serve(Arrival(torch.ones(1, 4), torch.tensor([], dtype=torch.long)))
    torch.testing.assert_close(seen[0][1], torch.tensor([[3.0, 2.0]]))  # the mean of rows 0 and 2
    torch.testing.assert_close(seen[1][1], torch.zeros(1, 2))  # no neighbour: zeros
    student_arrival(lambda x, p: seen.append((x, p)), table, numpy=True)(Arrival(torch.ones(1, 4), torch.tensor([1])))
    assert isinstance(seen[2][0], np.ndarray) and seen[2][1].tolist() == [[3.0, 2.0]]
    student_arrival(lambda x, p: seen.append((x, p)))(Arrival(torch.ones(1, 4), torch.tensor([1])))
    assert seen[3][1] is None  # a student without position features gets none
    # the timed call is the one that averages: one average per timed arrival, none outside
    calls = []
    real = arrivals_module.new_node_positions
    monkeypatch.setattr(arrivals_module, "new_node_positions", lambda *a: calls.append(1) or real(*a))
    timed = student_arrival(lambda x, p: None, table)
    assert not calls
    time_online(timed, [Arrival(torch.ones(1, 4), torch.tensor([0, 1]))] * 3, warmup=0)
    assert len(calls) == 3
