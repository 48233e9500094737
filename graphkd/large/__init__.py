"""Large graphs: fan-out neighbour sampling, sampled teacher training, layer-wise inference, and the same
stages on torch.distributed (torchrun: sharded soft targets, DDP students and teachers)."""
from graphkd.large.ddp import train_minibatch_ddp
from graphkd.large.distributed import distributed
from graphkd.large.sampling import NeighborSampler, k_hop_subgraph, neighbor_loader, seed_batches
from graphkd.large.scale import layerwise_inference, teacher_soft_targets, train_sampled, train_wide_student
from graphkd.large.sharded import read_logits, read_soft_targets, sharded_inference

__all__ = [
    "NeighborSampler",
    "distributed",
    "k_hop_subgraph",
    "layerwise_inference",
    "neighbor_loader",
    "read_logits",
    "read_soft_targets",
    "seed_batches",
    "sharded_inference",
    "teacher_soft_targets",
    "train_minibatch_ddp",
    "train_sampled",
    "train_wide_student",
]
