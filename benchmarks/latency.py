"""Same as ``graphkd bench latency``: ``python benchmarks/latency.py --datasets Cora arxiv-scale --plot``.

Every serving path is timed on the same nodes, warm (each path back to back) and cold (paths alternating
node by node); held-out nodes are also timed as they arrive. Run ``products-scale`` alone, under the
heavy-job lock and with few nodes (a full 3-hop fetch there takes about a minute per node), or without
the full fetch: ``flock /tmp/graphkd-heavy.lock python benchmarks/latency.py --datasets products-scale
--nodes 50 --no-full``.
"""
import argparse
import sys

from graphkd.serve.latency_bench import add_parser

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="benchmarks/latency.py")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["latency", *sys.argv[1:]])
    sys.exit(args.func(args))
