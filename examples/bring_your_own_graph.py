"""Distil a GNN into an MLP on your own graph: any PyG ``Data`` with features and labels.

    python examples/bring_your_own_graph.py

Here the graph comes from networkx (Zachary's karate club with noisy features); with your own
data, build ``Data(x=..., edge_index=..., y=...)`` the same way.
"""
import networkx as nx
import torch
from torch_geometric.utils import from_networkx

from graphkd import DistillConfig, prepare_data, random_split, run_distillation
from graphkd.report import format_summary

graph = from_networkx(nx.karate_club_graph())
generator = torch.Generator().manual_seed(0)
graph.y = torch.tensor([int(club == "Officer") for club in graph.club])
# Weak, noisy features: an MLP alone struggles, the graph carries the signal.
graph.x = 0.3 * graph.y[:, None].float() + torch.randn(graph.num_nodes, 8, generator=generator)
graph = prepare_data(random_split(graph, seed=0, train_per_class=3, val_per_class=4), dataset="karate")

# The graph's own masks are kept for every seed (split=None); seeds vary the models' initialisation.
config = DistillConfig(teacher="sage", runs=5, student_hidden=32, epochs=200)
summary = run_distillation(config, data=graph)
print(format_summary(summary))
