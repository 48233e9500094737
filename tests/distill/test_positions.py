"""Spectral position features for MLP students, and the rule for nodes that arrive after training."""
import math

import pytest
import torch

from graphkd.distill.positions import new_node_positions, spectral_positions


def cycle(n):
    src = torch.arange(n)
    return torch.stack([torch.cat([src, (src + 1) % n]), torch.cat([(src + 1) % n, src])])


def test_cycle_positions_are_its_fourier_modes():
    # The normalised adjacency of an n-cycle has eigenvalues cos(2 pi k / n); the top one (k = 0) is the
    # constant vector, the next (k = 1) a two-dimensional cosine/sine pair.
    n = 12
    positions = spectral_positions(cycle(n), n, dim=3)
    assert positions.shape == (n, 3) and positions.dtype == torch.float32
    assert torch.allclose(positions[:, 0], torch.ones(n), atol=1e-5)  # unit RMS, sign fixed positive
    pair = positions[:, 1:]
    assert torch.allclose(pair.pow(2).mean(0), torch.ones(2), atol=1e-5)
    # Neighbours on the cycle are close: each step turns the pair by 2 pi / n.
    radius = pair.norm(dim=1)
    assert torch.allclose(radius, torch.full((n,), math.sqrt(2.0)), atol=1e-4)
    cosine = (pair * pair.roll(1, 0)).sum(1) / radius**2
    assert torch.allclose(cosine, torch.full((n,), math.cos(2 * math.pi / n)), atol=1e-4)


def test_positions_are_deterministic_and_isolated_nodes_stay_zero():
    edges = torch.cat([cycle(10), torch.tensor([[0], [10]]), torch.tensor([[10], [0]])], dim=1)
    a = spectral_positions(edges, 12, dim=4)  # node 11 has no edge
    assert torch.equal(a, spectral_positions(edges, 12, dim=4))
    assert torch.equal(a[11], torch.zeros(4))
    with pytest.raises(ValueError, match="dimension"):
        spectral_positions(edges, 12, dim=11)


def test_isolated_nodes_stay_zero_where_eigenvalue_zero_ranks_among_the_leading():
    # A star's normalised adjacency has eigenvalues 1, -1 and 0 (once per leaf but one). An isolated node's
    # zero row adds another 0, so a whole-graph solver's zero-eigenvalue vectors could rest on it.
    star = torch.tensor([[0, 0, 0, 0, 0], [1, 2, 3, 4, 5]])
    edges = torch.cat([star, star.flip(0)], dim=1)
    for seed in range(3):
        positions = spectral_positions(edges, 7, dim=3, seed=seed)  # node 6 has no edge
        assert torch.equal(positions[6], torch.zeros(3))
        # The star's own leading vector (proportional to the root of each degree), then two of eigenvalue 0.
        leading = torch.tensor([5.0, 1, 1, 1, 1, 1]).sqrt()
        assert torch.allclose(positions[:6, 0] / positions[:6, 0].norm(), leading / leading.norm(), atol=1e-5)
        assert torch.allclose(positions[0, 1:], torch.zeros(2), atol=1e-5)  # what the centre's row sees: nothing
        assert torch.allclose(positions[1:6, 1:].sum(0), torch.zeros(2), atol=1e-5)  # and what the leaves' rows see


def test_new_node_gets_the_mean_of_its_neighbours():
    positions = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]])
    assert torch.equal(new_node_positions(positions, [0, 2]), torch.tensor([3.0, 2.0]))
    assert torch.equal(new_node_positions(positions, []), torch.zeros(2))
    with pytest.raises(ValueError, match="training graph"):
        new_node_positions(positions, [3])


def test_odd_inputs():
    import numpy as np

    with pytest.raises(ValueError, match="no edge"):
        spectral_positions(torch.empty(2, 0, dtype=torch.long), 10, dim=2)
    assert torch.equal(new_node_positions(np.ones((4, 2), np.float32), [1, 2]), torch.ones(2))  # a NumPy table
    with pytest.raises(ValueError, match="integer node ids"):
        new_node_positions(torch.ones(4, 2), [1.7])


def path(n):
    src = torch.arange(n - 1)
    return torch.stack([torch.cat([src, src + 1]), torch.cat([src + 1, src])])


def test_each_connected_component_gets_its_own_positions():
    # A 12-path, a 10-path, a 2-node component and an isolated node. Eigenvalue 1 repeats once per
    # component, so a whole-graph eigensolver returns an arbitrary rotation of component indicators.
    # (Paths, not cycles: a path's eigenvalues are distinct, so each eigenvector is unique up to sign.)
    edges = torch.cat([path(12), path(10) + 12, torch.tensor([[22, 23], [23, 22]])], dim=1)
    positions = spectral_positions(edges, 25, dim=3)
    assert torch.allclose(positions, spectral_positions(edges, 25, dim=3, seed=1), atol=1e-5)  # not the start's
    alone = spectral_positions(path(12), 12, dim=3)
    # The 12-path's own modes, up to one scale per column (the RMS is taken over the whole graph).
    assert torch.allclose(positions[:12] / positions[:12].norm(dim=0), alone / alone.norm(dim=0), atol=1e-4)
    assert torch.equal(positions[22:], torch.zeros(3, 3))  # too small for 3 dimensions, and isolated
    with pytest.raises(ValueError, match="component of more than 3 nodes; the largest has 2"):
        spectral_positions(torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]]), 10, dim=2)
