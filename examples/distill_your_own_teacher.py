"""Distil a GNN you trained yourself into an MLP that serves without the graph.

    GRAPHKD_DATA=/path/to/data python examples/distill_your_own_teacher.py

The first half is plain PyG: a 2-layer GCN trained on Cora. The second half hands the trained model
to graphkd, which runs it once for its soft targets (and, with a knowledge term such as ``hint_weight``,
its hidden layer), trains a labels-only MLP and the distilled MLP, and prints them side by side.
"""
import torch
import torch.nn.functional as F
from torch_geometric.nn.models import GCN

import graphkd
from graphkd.report import format_summary

# --- your own code: any trained module called as model(x, edge_index) ---
data = graphkd.load_dataset("Cora")  # Planetoid's public split, features row-normalised
torch.manual_seed(0)
teacher = GCN(data.num_features, hidden_channels=64, num_layers=2, out_channels=7, dropout=0.8)
optimizer = torch.optim.Adam(teacher.parameters(), lr=0.01, weight_decay=5e-4)
for _ in range(200):
    teacher.train()
    optimizer.zero_grad()
    F.cross_entropy(teacher(data.x, data.edge_index)[data.train_mask], data.y[data.train_mask]).backward()
    optimizer.step()

# --- graphkd: distil it ---
config = graphkd.DistillConfig(teacher=teacher, student="mlp", runs=5)
summary = graphkd.run_distillation(config, data=data, out="runs/your_teacher")
print(format_summary(summary))
