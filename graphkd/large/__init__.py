"""Large graphs: fan-out neighbour sampling, sampled teacher training, layer-wise inference, and the same
stages on torch.distributed (torchrun: sharded soft targets, DDP students and teachers; the process group and
the DDP loop are graphkd.training's)."""
from graphkd.large.sampling import NeighborSampler, k_hop_subgraph, neighbor_loader, seed_batches
from graphkd.large.scale import layerwise_inference, teacher_soft_targets, train_sampled, train_wide_student
from graphkd.large.sharded import read_logits, read_soft_targets, sharded_inference

__all__ = [
    "NeighborSampler",
    "k_hop_subgraph",
    "layerwise_inference",
    "neighbor_loader",
    "read_logits",
    "read_soft_targets",
    "seed_batches",
    "sharded_inference",
    "teacher_soft_targets",
    "train_sampled",
    "train_wide_student",
]
