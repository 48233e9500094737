"""Large graphs on one CPU: fan-out neighbour sampling, sampled teacher training, layer-wise inference."""
from graphkd.large.sampling import NeighborSampler, k_hop_subgraph, neighbor_loader, seed_batches
from graphkd.large.scale import layerwise_inference, teacher_soft_targets, train_sampled, train_wide_student

__all__ = [
    "NeighborSampler",
    "k_hop_subgraph",
    "layerwise_inference",
    "neighbor_loader",
    "seed_batches",
    "teacher_soft_targets",
    "train_sampled",
    "train_wide_student",
]
