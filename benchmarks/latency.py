"""Same as ``graphkd bench latency``: ``python benchmarks/latency.py --datasets Cora arxiv-scale --plot``.

Run ``products-scale`` alone and under the heavy-job lock: ``flock /tmp/graphkd-heavy.lock python
benchmarks/latency.py --datasets products-scale``.
"""
import argparse
import sys

from graphkd.serve.latency_bench import add_parser

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="benchmarks/latency.py")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["latency", *sys.argv[1:]])
    sys.exit(args.func(args))
