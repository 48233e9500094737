"""What a model is fed on CPU: sparse features and a sparse adjacency, where they are faster; on a GPU, the
dense features and the edge list, what its kernels are made for.

Bag-of-words features are mostly zeros (Cora 1.3% non-zero, Coauthor CS 0.9%, Physics 0.4%). As a
CSR matrix, a first layer costs non-zeros x width instead of nodes x features x width, and input
dropout touches only the non-zeros; on Coauthor CS that makes one 6805 -> 256 layer about 6x faster
forward and backward. GCN and SAGE (``model.spmm_aggregation``) aggregate over a CSR adjacency by
sparse matmul instead of materialising one message per edge. Both are the same functions as the
dense path: only the summation order differs.
"""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import to_torch_csr_tensor

from graphkd.errors import GraphkdError

__all__ = ["SPARSE_DENSITY", "feature_dropout", "feature_rows", "model_inputs", "sparse_adjacency",
           "sparse_features"]

# Features at or below this fraction of non-zeros are used as a sparse matrix. Amazon Photo and
# Computers (35% non-zero) stay dense: there the sparse product is slower than BLAS.
SPARSE_DENSITY = 0.1

# torch warns once per process that CSR support is beta (the operations used here are tested), and
# PyG builds its CSR adjacency without saying whether to check invariants (it builds them valid).
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


def sparse_features(x: Tensor) -> Tensor:
    """``x`` as a sparse CSR matrix when it is on the CPU and at most ``SPARSE_DENSITY`` of it is non-zero, else
    ``x``."""
    if x.layout != torch.strided or x.dim() != 2 or x.numel() == 0 or x.device.type != "cpu":
        return x
    if torch.count_nonzero(x).item() > SPARSE_DENSITY * x.numel():
        return x
    return x.to_sparse_csr()


def feature_rows(x: Tensor, index: Tensor) -> Tensor:
    """``x[index]`` for a dense or a sparse CSR ``x`` (torch has no row selection for CSR)."""
    if x.layout != torch.sparse_csr:
        return x[index]
    crow, col, values = x.crow_indices(), x.col_indices(), x.values()
    start, counts = crow[index], crow[index + 1] - crow[index]
    new_crow = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    positions = torch.repeat_interleave(start - new_crow[:-1], counts) + torch.arange(
        int(new_crow[-1]), dtype=crow.dtype, device=crow.device)
    return torch.sparse_csr_tensor(new_crow, col[positions], values[positions], (index.numel(), x.size(1)),
                                   check_invariants=False)


def _dropout(x: Tensor, p: float) -> Tensor:
    """Keep each value with probability 1 - p and scale it by the inverse, as F.dropout does, but drawn
    as 16 random bits per value (four from each int64): on CPU, bernoulli makes F.dropout about 5x
    slower (2708 x 256 values: 1.6 ms here against 9.0 ms). p is rounded to a multiple of 2^-16, and
    the scale uses the rounded keep probability, so the expectation stays exact. Off the CPU: ``F.dropout``."""
    if x.device.type != "cpu":
        return F.dropout(x, p, training=True)
    dropped = round(p * 65536)
    if dropped >= 65536:
        return torch.zeros_like(x)
    n = x.numel()
    bits = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), 2**63 - 1).view(torch.int16)[:n]
    keep = bits.view(x.shape) >= dropped - 32768  # uniform over [-32768, 32767]
    return x * (keep.to(x.dtype) * (65536 / (65536 - dropped)))


def feature_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout for graphkd's models, dense or sparse CSR ``x`` (zeros stay zero either way, so dropping
    only the stored values of a sparse matrix has the same distribution)."""
    if not 0 <= p <= 1:
        raise GraphkdError(f"dropout probability must lie in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if x.layout != torch.sparse_csr:
        return _dropout(x, p)
    return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), _dropout(x.values(), p), x.shape,
                                   check_invariants=False)


def sparse_adjacency(edge_index: Tensor, num_nodes: int) -> Tensor:
    """``edge_index`` as a transposed sparse CSR adjacency (row = target): PyG layers then aggregate by
    sparse matmul, whose memory is O(nodes x features) instead of O(edges x features)."""
    return to_torch_csr_tensor(edge_index.flip(0), size=(num_nodes, num_nodes))  # coalesces (sorts by target)


def model_inputs(model: torch.nn.Module, data: Data) -> tuple[Tensor, Tensor]:
    """``(x, graph)`` for ``model(x, graph)`` on the whole of ``data``: sparse features where they are
    sparse, and a CSR adjacency for models that aggregate by sparse matmul (GAT's attention needs the
    edge list), or the graph as a model's own ``prepare_graph`` builds it (GRAND's normalised adjacency).
    Build once per training run; the conversion is not free on large graphs. Off the CPU, the features stay
    dense and GCN and SAGE take the edge list."""
    graph = data.edge_index
    if hasattr(model, "prepare_graph") and graph.layout == torch.strided:
        graph = model.prepare_graph(graph, data.num_nodes)
    elif getattr(model, "spmm_aggregation", False) and graph.layout == torch.strided and graph.device.type == "cpu":
        graph = sparse_adjacency(graph, data.num_nodes)
    return sparse_features(data.x), graph
