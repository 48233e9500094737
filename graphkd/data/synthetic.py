"""Contextual stochastic block model: a seeded graph generated in-process, so the demo needs no download.

Node features are drawn from class-dependent Gaussians whose means are close enough that an MLP
on features alone is mediocre; edges fall mostly within classes, so message passing recovers the
class signal. That gap is exactly what distillation should transfer to an MLP. :func:`multilabel_csbm` poses
the multi-label task on the same kind of graph.
"""
from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, to_undirected

from graphkd.errors import GraphkdError

__all__ = ["csbm", "multilabel_csbm"]


def csbm(
    num_nodes: int = 3000,
    num_classes: int = 5,
    num_features: int = 64,
    avg_degree: float = 10.0,
    homophily: float = 0.7,
    feature_signal: float = 0.25,
    seed: int = 0,
) -> Data:
    """Generate an undirected CSBM graph.

    ``homophily`` is the expected share of edges joining nodes of the same class;
    ``feature_signal`` is the norm of each class mean relative to the noise per dimension; features are
    divided by ``sqrt(num_features)``, so each row has a norm of about 1.
    """
    if not 0.0 <= homophily <= 1.0:
        raise GraphkdError(f"homophily must lie in [0, 1], got {homophily}")
    if num_nodes < num_classes or num_classes < 2:
        raise GraphkdError("csbm needs num_classes >= 2 and num_nodes >= num_classes")
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(num_classes, (num_nodes,), generator=gen)
    means = torch.randn(num_classes, num_features, generator=gen)
    means = feature_signal * means / means.norm(dim=1, keepdim=True) * num_features**0.5
    # Scaled to rows of norm about 1, like the row-normalised features of real citation graphs: at unit
    # variance per dimension a GAT teacher started with a loss of 5-6 and sat at chance for 60 epochs,
    # long enough for early stopping to keep an untrained model on 1 seed of 10.
    x = (means[y] + torch.randn(num_nodes, num_features, generator=gen)) / num_features**0.5

    num_edges = int(num_nodes * avg_degree / 2)
    src = torch.randint(num_nodes, (num_edges,), generator=gen)
    same = torch.rand(num_edges, generator=gen) < homophily
    # Same-class partner: a random member of src's class; otherwise any node.
    order = torch.argsort(y)
    counts = torch.bincount(y, minlength=num_classes)
    starts = torch.cumsum(counts, 0) - counts
    cls = y[src]
    pick = (torch.rand(num_edges, generator=gen) * counts[cls]).long()
    dst = torch.where(same, order[starts[cls] + pick], torch.randint(num_nodes, (num_edges,), generator=gen))
    keep = src != dst
    edge_index = to_undirected(torch.stack([src[keep], dst[keep]]), num_nodes=num_nodes)
    return Data(x=x, y=y, edge_index=coalesce(edge_index, num_nodes=num_nodes))


def multilabel_csbm(
    num_nodes: int = 600,
    num_labels: int = 6,
    num_features: int = 32,
    num_communities: int = 4,
    avg_degree: float = 10.0,
    homophily: float = 0.9,
    feature_signal: float = 0.25,
    label_noise: float = 0.05,
    train_fraction: float = 0.4,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> Data:
    """Generate an undirected multi-label graph: ``y`` is ``[num_nodes, num_labels]`` of 0/1, with masks.

    Nodes fall in ``num_communities`` latent communities; edges join a node to its own community with
    probability ``homophily``, and features are the community's mean (norm ``feature_signal`` relative to the
    noise, as in :func:`csbm`) plus Gaussian noise. Each community has a label profile: each label is on for
    its members or off, independently, with an extra per-node flip of each label with probability
    ``label_noise``. A node's own features hint at its community; its neighbours' features tell it, so a GNN
    teacher beats an MLP on features alone, as on :func:`csbm`. Every label is given to at least one
    community and withheld from another, so every label has both values. ``train_mask``, ``val_mask`` and
    ``test_mask`` split the nodes at random in the given fractions (:func:`graphkd.data.random_split`
    draws per class, which multi-label labels have not). Deterministic given ``seed``.
    """
    if num_communities < 2 or num_labels < 1 or num_nodes < 4 * num_communities:
        raise GraphkdError("multilabel_csbm needs num_communities >= 2, num_labels >= 1 and num_nodes >= "
                           "4 * num_communities")
    if not (0.0 <= homophily <= 1.0 and 0.0 <= label_noise < 0.5):
        raise GraphkdError(f"homophily must lie in [0, 1] and label_noise in [0, 0.5), got {homophily}, "
                           f"{label_noise}")
    if not (0.0 < train_fraction and 0.0 < val_fraction and train_fraction + val_fraction < 1.0):
        raise GraphkdError(f"train_fraction and val_fraction must be positive and leave test nodes, got "
                           f"{train_fraction}, {val_fraction}")
    gen = torch.Generator().manual_seed(seed)
    graph = csbm(num_nodes, num_communities, num_features, avg_degree, homophily, feature_signal,
                 seed=int(torch.randint(2**31 - 1, (1,), generator=gen)))
    community = graph.y
    profiles = torch.rand(num_communities, num_labels, generator=gen) < 0.5
    labels = torch.arange(num_labels)
    profiles[torch.randint(num_communities, (num_labels,), generator=gen), labels] = True  # each label: on once
    off = torch.randint(num_communities - 1, (num_labels,), generator=gen)  # ... and off once, elsewhere
    on = profiles.int().argmax(dim=0)
    profiles[off + (off >= on).long(), labels] = False
    flip = torch.rand(num_nodes, num_labels, generator=gen) < label_noise
    y = (profiles[community] ^ flip).long()
    order = torch.randperm(num_nodes, generator=gen)
    num_train, num_val = int(train_fraction * num_nodes), int(val_fraction * num_nodes)
    masks = [torch.zeros(num_nodes, dtype=torch.bool) for _ in range(3)]
    for mask, nodes in zip(masks, (order[:num_train], order[num_train:num_train + num_val],
                                   order[num_train + num_val:]), strict=True):
        mask[nodes] = True
    return Data(x=graph.x, y=y, edge_index=graph.edge_index, train_mask=masks[0], val_mask=masks[1],
                test_mask=masks[2])
