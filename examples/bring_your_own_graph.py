"""Distil a GNN into an MLP on your own graph: a networkx graph whose nodes carry features and labels
(or any PyG ``Data`` with ``x``, ``edge_index`` and ``y``).

    python examples/bring_your_own_graph.py

Here the graph is Zachary's karate club, each member given a label (the club they joined) and weak,
noisy features: an MLP alone struggles, the graph carries the signal.
"""
import networkx as nx
import torch

from graphkd import DistillConfig, prepare_data, random_split, run_distillation
from graphkd.data import from_networkx
from graphkd.report import format_summary

graph = nx.karate_club_graph()
generator = torch.Generator().manual_seed(0)
for _, attributes in graph.nodes(data=True):
    attributes["y"] = int(attributes["club"] == "Officer")
    attributes["x"] = (0.3 * attributes["y"] + torch.randn(8, generator=generator)).tolist()

data = prepare_data(random_split(from_networkx(graph), seed=0, train_per_class=3, val_per_class=4), dataset="karate")

# The graph's own masks are kept for every seed (split=None); seeds vary the models' initialisation.
config = DistillConfig(teacher="sage", runs=5, student_hidden=32, epochs=200)
summary = run_distillation(config, data=data)
print(format_summary(summary))
