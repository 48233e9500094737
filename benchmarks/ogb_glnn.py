"""The GLNN setting on ogbn-arxiv / ogbn-products in one command, printed beside the published numbers.

Transductive setting, OGB official split, scored with ``ogb.nodeproppred.Evaluator``: a 3-layer SAGE
teacher (256 hidden, batch norm) trained on sampled neighbourhoods, soft targets for every node by
chunked layer-wise inference, then a labels-only MLP and a distilled MLP (3 x 1024 for arxiv, 3 x 2048
for products, batch norm, batches of 4096), as in /work/shared/docs/anchors.md.

    python benchmarks/ogb_glnn.py --dataset ogbn-arxiv --root /data/ogb --runs 10
    python benchmarks/ogb_glnn.py --dataset ogbn-arxiv --synthetic arxiv --runs 1   # stand-in, no OGB files needed

(Not named ogb.py: a script's folder comes first on sys.path, so that name would hide the ogb package.)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from graphkd.data import load_dataset
from graphkd.data.large import arxiv_scale, products_scale
from graphkd.data.ogb import ogb_accuracy
from graphkd.distill import summarize
from graphkd.large.sampling import NeighborSampler
from graphkd.large.scale import teacher_soft_targets, train_sampled, train_wide_student, wide_student_config
from graphkd.models import GraphSAGE
from graphkd.training import TrainConfig, predict

# Transductive SAGE-teacher results of GLNN (anchors.md), test accuracy in %.
PUBLISHED = {"ogbn-arxiv": {"teacher": 70.73, "labels_only_mlp": 55.67, "distilled_mlp": 63.75},
             "ogbn-products": {"teacher": 77.17, "labels_only_mlp": 60.02, "distilled_mlp": 63.71}}
STUDENT_WIDTH = {"ogbn-arxiv": 1024, "ogbn-products": 2048}
STAND_INS = {"arxiv": arxiv_scale, "products": products_scale}


def load(args):
    if args.synthetic is not None:
        data = STAND_INS[args.synthetic](seed=0)
        return data, True
    if args.root is None:
        raise SystemExit("give --root (a folder holding OGB's ogbn_arxiv/ or ogbn_products/) or --synthetic")
    return load_dataset(args.dataset, root=args.root), False


def run_seed(args, data, undirected: bool, seed: int) -> dict:
    def score(logits):  # OGB's Evaluator, on the test nodes, in %
        return 100 * ogb_accuracy(args.dataset, logits[data.test_mask], data.y[data.test_mask])

    sampler = NeighborSampler(data.edge_index, data.num_nodes, args.fanouts, undirected=undirected)
    torch.manual_seed(seed)
    teacher = GraphSAGE(data.num_features, args.teacher_hidden, len(args.fanouts), int(data.y.max()) + 1,
                        dropout=args.teacher_dropout, norm="batch_norm")
    config = TrainConfig(epochs=args.teacher_epochs, lr=args.teacher_lr, weight_decay=0.0,
                         patience=args.patience, batch_size=args.batch_size)
    train_sampled(teacher, data, sampler, config, max_batches=args.max_batches, seed=seed, progress=True)
    targets = teacher_soft_targets(teacher, data, sampler, args.chunk_size, progress=True, seed=seed)
    result = {"seed": seed, "teacher": score(targets.mean_logits())}
    del sampler, teacher
    student_cfg = wide_student_config(student_hidden=args.student_hidden or STUDENT_WIDTH[args.dataset],
                                      student_dropout=args.student_dropout, epochs=args.student_epochs,
                                      patience=args.patience, lr=args.student_lr, batch_size=4096)
    for name, soft in (("labels_only_mlp", None), ("distilled_mlp", targets)):
        result[name] = score(predict(train_wide_student(data, soft, student_cfg, seed=seed, progress=True), data))
    print(json.dumps(result), flush=True)
    return result


def report(dataset: str, runs: list[dict], stand_in: bool) -> str:
    lines = [f"{dataset}{' (synthetic stand-in: published numbers do not apply)' if stand_in else ''}, "
             f"{len(runs)} seed(s), test accuracy %", f"{'model':<18}{'graphkd':>18}{'GLNN (published)':>20}"]
    for name in ("teacher", "labels_only_mlp", "distilled_mlp"):
        mean, std = summarize([r[name] for r in runs])
        lines.append(f"{name:<18}{f'{mean:.2f} ± {std:.2f}':>18}{PUBLISHED[dataset][name]:>20.2f}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=list(PUBLISHED), default="ogbn-arxiv", help="the OGB dataset")
    parser.add_argument("--root", default=None, help="data folder holding OGB's files (ogbn_arxiv/, ogbn_products/)")
    parser.add_argument("--synthetic", choices=list(STAND_INS), default=None,
                        help="run end to end on a synthetic graph of this OGB size instead of the real data")
    parser.add_argument("--runs", type=int, default=10, help="seeds 0..runs-1 (GLNN reports 10)")
    parser.add_argument("--fanouts", type=int, nargs="+", default=[15, 10, 5],
                        help="teacher neighbours sampled per hop (-1: all); their count is the teacher's depth")
    parser.add_argument("--teacher-hidden", type=int, default=256, help="teacher hidden width")
    parser.add_argument("--teacher-dropout", type=float, default=0.5, help="teacher dropout")
    parser.add_argument("--teacher-lr", type=float, default=0.003, help="teacher Adam learning rate")
    parser.add_argument("--teacher-epochs", type=int, default=200, help="most teacher epochs")
    parser.add_argument("--batch-size", type=int, default=1024, help="seed nodes per teacher batch")
    parser.add_argument("--max-batches", type=int, default=None, help="cap on teacher batches per epoch (smoke runs)")
    parser.add_argument("--chunk-size", type=int, default=8192, help="target nodes per chunk of layer-wise inference")
    parser.add_argument("--student-hidden", type=int, default=None,
                        help="MLP width (default: GLNN's, 1024 for arxiv, 2048 for products)")
    parser.add_argument("--student-dropout", type=float, default=0.2, help="MLP dropout")
    parser.add_argument("--student-lr", type=float, default=0.001, help="MLP Adam learning rate")
    parser.add_argument("--student-epochs", type=int, default=500, help="most MLP epochs")
    parser.add_argument("--patience", type=int, default=50, help="epochs without better validation accuracy")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=None, help="write the per-seed results as JSON here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    data, stand_in = load(args)
    runs = [run_seed(args, data, stand_in, seed) for seed in range(args.runs)]
    text = report(args.dataset, runs, stand_in)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"dataset": args.dataset, "stand_in": stand_in, "options": {
            k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
