"""Reading a latency benchmark result (graphkd.bench.latency): speed-ups, the markdown report, the plot.

A record's ``online[threads][mode][path]`` holds the percentiles of one serving path, ``mode`` being
``warm`` (the path alone, back to back over the nodes) or ``cold`` (every path on one node before the
next). Paths starting with ``arrival`` serve a node that arrives after training (graphkd.serve.arrivals);
the others a node of the graph. Ratios are taken within one mode and one kind of node, never across.
"""
from __future__ import annotations

from pathlib import Path

from graphkd.errors import GraphkdError
from graphkd.report import markdown_table

__all__ = ["ARRIVAL", "MODES", "markdown", "plot", "speedups"]

MODES = {"warm": "each path back to back over the nodes", "cold": "the paths alternating node by node"}
ARRIVAL = "arrival "  # prefix of the paths that serve a node arriving after training


def _kind(path: str) -> str:
    return ARRIVAL if path.startswith(ARRIVAL) else ""


def _thread_counts(result: dict) -> list:
    return [t for t in result["speedups"] if t != "reference_student"]


def speedups(records: list[dict]) -> dict:
    """Per thread count and mode: each GNN path's per-node p50 over the reference student's (the one
    with most parameters: the widest, with position features if one takes them) for the same kind of
    node, eager (torch against torch) and served (its fastest exported Predictor, what a user deploys);
    and each student's Predictor p50 over its NumPy floor (acceptance: within 2x)."""
    students = [r for r in records if r["role"] == "student"]
    if not students:
        raise GraphkdError("speed-ups need at least one student")
    ref = max(students, key=lambda r: r["params"])
    result = {"reference_student": ref["name"]}
    for threads, modes in ref["online"].items():
        result[threads] = {}
        for mode, ref_paths in modes.items():
            eager = {kind: ref_paths[kind + "eager"]["p50_ms"] for kind in ("", ARRIVAL)}
            served = {kind: min(s["p50_ms"] for p, s in ref_paths.items() if p.startswith(kind + "predictor"))
                      for kind in ("", ARRIVAL)}
            gnn = [(f"{r['name']} [{p}]", p, s["p50_ms"]) for r in records if r["role"] != "student"
                   for p, s in r["online"][threads][mode].items()]
            result[threads][mode] = {
                "gnn_over_student": {key: p50 / eager[_kind(p)] for key, p, p50 in gnn},
                "gnn_over_served_student": {key: p50 / served[_kind(p)] for key, p, p50 in gnn},
                "predictor_over_numpy_floor": {
                    f"{r['name']} [{p}]": s["p50_ms"] / r["online"][threads][mode][_kind(p) + "numpy floor"]["p50_ms"]
                    for r in students for p, s in r["online"][threads][mode].items()
                    if p.removeprefix(ARRIVAL).startswith("predictor")},
            }
    return result


def markdown(result: dict, env: dict) -> str:
    """Accuracy beside per-node latency in both modes, the speed-ups within each mode, then throughput."""
    lines = [f"# Latency: {result['dataset']} ({result['num_nodes']:,} nodes, {result['num_edges']:,} edges, "
             f"{result['num_features']} features)", "",
             f"{env['cpu']}, {env['cores']} cores, {env['memory_gib']} GiB"
             + (f"; GPU {env['gpu']} (CUDA {env['cuda']})" if env.get("gpu") else "") + f"; torch {env['torch']}, "
             f"PyG {env['torch_geometric']}, numpy {env['numpy']}. Peak memory {result['peak_rss_gib']:.2f} GiB. "
             f"Training: {result['training']}.", "",
             f"Online: every path on the same {result['timed_nodes']} random test node draws; `arrival` paths on "
             f"{result['arrivals']['timed']} draws of the {result['arrivals']['held_out']} test nodes held out with "
             "their edges, each served into the observed graph as it arrives (the teacher fetches its "
             "neighbourhood, a position-feature student averages its neighbours' positions). Modes: "
             + "; ".join(f"**{m}**: {d}" for m, d in MODES.items()) + ". p99 is in the JSON.", ""]
    ref = result["speedups"]["reference_student"]
    for threads in _thread_counts(result):
        per = f"{threads} thread{'s' * (int(threads) > 1)}"
        rows = [[r["name"], f"{100 * r['test_acc']:.1f}", f"{r['params']:,}", path,
                 *(f"{r['online'][threads][m][path][k]:.3f}" for m in MODES for k in ("p50_ms", "p95_ms"))]
                for r in result["models"] for path in r["online"][threads]["warm"]]
        lines += [f"## Online, one node at a time ({per})", "",
                  markdown_table(["model", "test acc (%)", "params", "path",
                                  *(f"{m} {k}" for m in MODES for k in ("p50 ms", "p95 ms"))], rows), ""]
        ratios = result["speedups"][threads]
        rows = [[key, *(f"{ratios[m][r][key]:.1f}x" for m in MODES
                        for r in ("gnn_over_student", "gnn_over_served_student"))]
                for key in ratios["warm"]["gnn_over_student"]]
        lines += [f"## Per-node p50 over {ref}, within each mode ({per})", "",
                  "A teacher's arrival path is divided by the student's arrival path of the same mode.", "",
                  markdown_table(["teacher [path]", *(f"{m}: over the student's {s}" for m in MODES
                                                      for s in ("eager torch", "fastest Predictor"))], rows), ""]
        rows = [[key, *(f"{ratios[m]['predictor_over_numpy_floor'][key]:.2f}x" for m in MODES)]
                for key in ratios["warm"]["predictor_over_numpy_floor"]]
        lines += ["Predictor p50 over the bare NumPy forward, same mode (acceptance < 2x):", "",
                  markdown_table(["student [path]", *MODES], rows), ""]
        cols = list(result["models"][0]["batched"][threads])
        rows = [[r["name"], *(f"{r['batched'][threads][c]:,.0f}" for c in cols)] for r in result["models"]]
        lines += [f"## Throughput, nodes/s ({per})", "",
                  markdown_table(["model", *(f"batch {c}" if c.isdigit() else c for c in cols)], rows), ""]
    if result["whole_graph_inputs_ms"]:
        built = "; ".join(f"{k} {v:.1f} ms" for k, v in result["whole_graph_inputs_ms"].items())
        lines += [f"Batches are distinct random nodes, at most the graph's {result['num_nodes']:,}. The whole-graph "
                  f"inputs are built once per kind before timing and not counted in the whole-graph column: {built}.",
                  ""]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> Path:
    """Accuracy against per-node p50 latency (log scale, fewest threads, both modes): teachers by depth
    (fan-out fetch), students by width (eager), compressed teachers; hollow markers are the warm mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    threads = min(_thread_counts(result), key=int)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (role, marker), colour in zip((("teacher", "o"), ("student", "s"), ("compressed", "^")), ("C0", "C1", "C2"),
                                      strict=True):
        rows = [r for r in result["models"] if r["role"] == role]
        if not rows:
            continue
        acc = [100 * r["test_acc"] for r in rows]
        lat = {m: [next(iter(r["online"][threads][m].values()))["p50_ms"] for r in rows] for m in MODES}
        ax.scatter(lat["cold"], acc, marker=marker, color=colour, label=f"{role}, cold")
        ax.scatter(lat["warm"], acc, marker=marker, facecolors="none", edgecolors=colour, label=f"{role}, warm")
        for r, x, y in zip(rows, lat["cold"], acc, strict=True):
            ax.annotate(r["name"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel(f"per-node p50 latency (ms, {threads} thread, GNN with fan-out sampling)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{result['dataset']}: accuracy vs CPU latency (hollow: warm, back to back)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
