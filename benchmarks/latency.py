"""Same as ``graphkd bench latency``: ``python benchmarks/latency.py --datasets Cora arxiv-scale --plot``.

Every serving path is timed on the same nodes, warm (each path back to back) and cold (paths alternating
node by node); held-out nodes are also timed as they arrive. Run ``products-scale`` alone, under the
heavy-job lock and with few nodes (a full 3-hop fetch there takes about a minute per node), or without
the full fetch: ``flock /tmp/graphkd-heavy.lock python benchmarks/latency.py --datasets products-scale
--nodes 50 --no-full``.
"""
import sys

from graphkd.cli import main

if __name__ == "__main__":  # through the CLI's main: bad input ends in one line, not a traceback
    sys.exit(main(["bench", "latency", *sys.argv[1:]]))
