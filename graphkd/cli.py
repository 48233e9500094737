"""``graphkd`` command line: ``graphkd distill`` (and the serving and benchmark subcommands)."""
from __future__ import annotations

import argparse
import dataclasses
import sys

from graphkd.bench import latency
from graphkd.data import dataset_info
from graphkd.device import DEVICES, resolve_device
from graphkd.distill import DEEP_TEACHER, STUDENTS, TEACHER_DEFAULTS, DistillConfig, run_distillation
from graphkd.distill.config import TEACHER_NORMS
from graphkd.distill.run_file import read_run_file
from graphkd.distill.seeds import PARALLEL_SEEDS_MAX_NODES, default_workers
from graphkd.distill.settings import SETTINGS
from graphkd.distill.soft_targets import TRANSFER_SETS
from graphkd.distill.teachers import (
    CONSISTENCY_EPOCHS_SCALE,
    CONSISTENCY_PATIENCE_SCALE,
    CONSISTENCY_SAMPLES,
    PRE_NORM_TEACHER,
)
from graphkd.errors import GraphkdError
from graphkd.io import os_error_message
from graphkd.report import format_summary
from graphkd.serve import export
from graphkd.tasks import METRICS, TASKS
from graphkd.training.distributed import distributed, is_rank_zero
from graphkd.tuning import command as tune_command

__all__ = ["build_parser", "main"]


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except ``None``: the help of such an option says what leaving it unset means."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def add_distill_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "distill", help="train a GNN teacher and distil it into a student",
        description="Train a GNN teacher, compute its soft targets on a transfer set, and distil them into "
                    "a student; a labels-only MLP of the student's width and depth is trained beside it. "
                    "Prints teacher / labels-only MLP / distilled student test metric (accuracy, ROC-AUC, ...: "
                    "the task's; mean ± std over runs) and writes student weights, soft targets and results.json "
                    "to --out.",
        formatter_class=_HelpFormatter)
    d = DistillConfig()
    p.add_argument("--config", default=None, metavar="RUN.toml",
                   help="a run file (TOML; every --out holds the run.toml of its run): its settings, with every "
                        "option below that is given on the command line on top")
    data = p.add_argument_group("data")
    data.add_argument("--dataset", default=d.dataset,
                      help="dataset name (Cora, CiteSeer, PubMed, Computers, Photo, CS, Physics, ogbn-arxiv, "
                           "ogbn-products, ogbn-proteins; the heterophilous Roman-empire, Amazon-ratings, "
                           "Minesweeper, Tolokers, Questions, chameleon-filtered, squirrel-filtered) or CSBM, a "
                           "synthetic graph generated in-process (no download)")
    data.add_argument("--split", default=None,
                      help="public / full (Planetoid fixed splits), random (CPF/GLNN: largest connected "
                           "component, 20 train and 30 validation nodes per class, redrawn per seed), "
                           "official (OGB), fixed (the heterophilous graphs' 10 published splits: seed k runs "
                           "split k); default: the dataset's own default")
    data.add_argument("--labels-per-class", type=int, default=d.labels_per_class,
                      help="with --split random: labelled training nodes per class (fewer labels; the soft "
                           "targets cover the unlabelled nodes too)")
    data.add_argument("--task", default=None, choices=list(TASKS),
                      help="what the labels pose; default: the dataset's, or read from the labels (2-D: "
                           "multilabel; classes exactly 0 and 1: binary; else multiclass)")
    data.add_argument("--metric", default=None, choices=sorted({m for ms in METRICS.values() for m in ms}),
                      help="what scores the task and drives every early stop and choice; default: the task's ("
                           + ", ".join(f"{task} {metrics[0]}" for task, metrics in METRICS.items()) + ")")
    data.add_argument("--root", default=None,
                      help="data folder; default $GRAPHKD_DATA, else $XDG_CACHE_HOME/graphkd (~/.cache/graphkd)")
    data.add_argument("--setting", default=d.setting, choices=SETTINGS,
                      help="transductive (students scored on nodes they trained on), or inductive, production, "
                           "cold-start: --arrival-fraction of the test nodes is held out of all training with its "
                           "edges and scored when it arrives, with its edges (inductive; production = 0.8 x "
                           "transductive + 0.2 x inductive) or without (cold-start); every such run reports all parts")
    data.add_argument("--arrival-fraction", type=float, default=d.arrival_fraction,
                      help="share of the test nodes held out as arrivals outside the transductive setting")
    runs = p.add_argument_group("runs")
    runs.add_argument("--runs", type=int, default=d.runs, help="number of seeds; the metric is mean ± std over them")
    runs.add_argument("--seed", type=int, default=d.seed, help="first seed (runs use seed, seed+1, ...)")
    runs.add_argument("--out", default=None,
                      help="output folder: results.json, student weights, soft targets and per-seed records "
                           "(a rerun with the same options skips seeds already done)")
    runs.add_argument("--quiet", action="store_true", help="no progress bar")
    runs.add_argument("--device", default=d.device,
                      help=f"where teachers train, soft targets are computed and students train: {DEVICES}; "
                           "under torchrun, cuda is each rank's own GPU and the ranks talk over NCCL. Results, "
                           "checkpoints and students are the same files on any device, and the device is not part "
                           "of a run's key: each seed's record names it")
    runs.add_argument("--workers", type=int, default=None,
                      help="seeds run at once, each in a process of its own that holds a copy of the graph "
                           "(on Cora two 1-thread processes ran 10 seeds 1.5x as fast as one 2-thread process); "
                           "default: one per CPU core, at most --runs, on catalogue graphs of at most "
                           f"{PARALLEL_SEEDS_MAX_NODES:,} nodes, else 1 (and 1 under torchrun)")
    t = p.add_argument_group("teacher")
    t.add_argument("--teacher", default=d.teacher,
                   help="teacher GNN to train (gcn, gat, sage; gatsep: GAT attention over the neighbours with a "
                        "separate weight for the node itself, in pre-norm residual blocks; appnp: an MLP whose "
                        "logits 10 steps of personalized "
                        "PageRank spread over the graph; grand: DropNode and 8-hop mixed-order propagation before an "
                        "MLP, trained with a consistency term on every node), an ensemble across architectures "
                        "joined by '+' (gcn+gat+sage: the soft target is the mean of their tempered distributions), "
                        "or a file of a trained teacher's outputs: a graphkd soft-target file, or logits "
                        "[num_nodes, classes] (and hidden representations) in a .pt dict {'logits', 'hidden': "
                        "{name: tensor}} or an .npz with 'logits' and 'hidden.<name>' arrays")
    t.add_argument("--teacher-layers", type=int, default=d.teacher_layers,
                   help="teacher depth (1 to 8; for appnp and grand, the layers of their MLP)")
    t.add_argument("--teacher-hidden", type=int, default=None,
                   help="teacher width; default per teacher: " +
                        ", ".join(f"{k} {v['hidden_channels']}" for k, v in TEACHER_DEFAULTS.items()))
    t.add_argument("--teacher-dropout", type=float, default=None,
                   help="teacher dropout; default per teacher for 2 layers: " +
                        ", ".join(f"{k} {v['dropout']}" for k, v in TEACHER_DEFAULTS.items()) +
                        f"; {DEEP_TEACHER['dropout']} for deeper teachers")
    t.add_argument("--teacher-norm", default=None, choices=list(TEACHER_NORMS),
                   help="normalisation between teacher layers; default none for 2 layers, "
                        f"{DEEP_TEACHER['norm']} for deeper teachers")
    t.add_argument("--teacher-pre-norm", action="store_const", const=True, default=None,
                   help="teacher built of pre-norm residual blocks (an input projection, then h + dropout(gelu("
                        "conv(norm(h)))) per layer: the form Platonov et al. found strong on heterophilous graphs; "
                        f"dropout {PRE_NORM_TEACHER['dropout']}, {PRE_NORM_TEACHER['norm']} unless given); gcn, "
                        "sage, gat (gatsep always is)")
    t.add_argument("--teacher-hops", type=int, default=None,
                   help="propagation steps of appnp and grand (1 to 64); default: " +
                        ", ".join(f"{k} {v['K']}" for k, v in TEACHER_DEFAULTS.items() if "K" in v))
    t.add_argument("--teacher-node-dropout", type=float, default=None,
                   help="grand's DropNode: probability (0 to 0.95) that a node's features are zeroed in a training "
                        f"pass (default {TEACHER_DEFAULTS['grand']['node_dropout']})")
    t.add_argument("--teacher-consistency", type=float, default=None,
                   help="weight (0 to 1000) of GRAND's consistency term: the teacher's random passes must agree on "
                        "every node, "
                        "labelled or not, with their sharpened mean; any teacher may use it (default: "
                        f"{TEACHER_DEFAULTS['grand']['consistency']} for grand, 0 for the others). A teacher trained "
                        f"with it gets {CONSISTENCY_PATIENCE_SCALE}x --patience and {CONSISTENCY_EPOCHS_SCALE}x "
                        "--epochs")
    t.add_argument("--teacher-samples", type=int, default=None,
                   help=f"random forward passes per teacher step (1 to 16; default {CONSISTENCY_SAMPLES} with the "
                        "consistency term, else 1)")
    t.add_argument("--heads", type=int, default=d.heads, help="GAT attention heads")
    t.add_argument("--ensemble", type=int, default=d.ensemble,
                   help="teachers per architecture and seed; the soft target is the mean of all members' "
                        "tempered distributions")
    t.add_argument("--weight-decay", type=float, default=d.weight_decay, help="teacher weight decay")
    s = p.add_argument_group("student")
    s.add_argument("--student", default=d.student, choices=list(STUDENTS),
                   help="student: an MLP (serves without the graph) or a shallow GCN / SAGE")
    s.add_argument("--student-layers", type=int, default=d.student_layers, help="student depth (GNN: 1 or 2)")
    s.add_argument("--student-hidden", type=int, default=d.student_hidden, help="student width")
    s.add_argument("--student-dropout", type=float, default=d.student_dropout, help="student dropout")
    s.add_argument("--student-batch-norm", action="store_true", help="batch norm between student layers")
    s.add_argument("--student-weight-decay", type=float, default=d.student_weight_decay,
                   help="student (and labels-only MLP) weight decay")
    s.add_argument("--student-epochs", type=int, default=None, help="maximum student epochs (default: --epochs)")
    s.add_argument("--student-patience", type=int, default=None,
                   help="student early stopping: epochs without a better validation metric (default: --patience)")
    s.add_argument("--lr", type=float, default=d.lr, help="student learning rate (Adam)")
    s.add_argument("--batch-size", type=int, default=d.batch_size, help="MLP student mini-batch size (nodes)")
    k = p.add_argument_group("distillation")
    k.add_argument("--temperature", "-T", type=float, default=d.temperature,
                   help="softmax temperature T of the soft targets (0.05 to 100); the soft term is scaled by T^2")
    k.add_argument("--alpha", type=float, default=d.alpha,
                   help="weight of the hard-label cross-entropy in [0, 1]; 1 - alpha weighs the soft term")
    k.add_argument("--alpha-choices", type=float, nargs="+", default=None, metavar="ALPHA",
                   help="alphas to train a student with per seed instead of --alpha, keeping the one of the best "
                        "validation metric (1 among them: the labels alone may win where the teacher does not help)")
    k.add_argument("--class-weights", action="store_true",
                   help="weigh the hard-label terms (teacher's and students') by inverse class frequency, for "
                        "imbalanced labels (multi-label: each label's positives by negatives / positives)")
    k.add_argument("--transfer", default=d.transfer, choices=list(TRANSFER_SETS),
                   help="nodes whose soft targets the student learns from")
    k.add_argument("--refine", default=d.refine, choices=["none", "cs"],
                   help="cs: refine the teacher's soft targets by Correct and Smooth (label propagation over the "
                        "graph from the training labels; the student still serves without the graph)")
    k.add_argument("--cs-correction-alpha", type=float, default=d.cs_correction_alpha,
                   help="with --refine cs: weight of propagated training-node errors against the teacher's own "
                        "(1 = propagation only)")
    k.add_argument("--cs-smoothing-alpha", type=float, default=d.cs_smoothing_alpha,
                   help="with --refine cs: weight of propagated predictions against the corrected ones")
    k.add_argument("--epochs", type=int, default=d.epochs, help="maximum epochs (teacher, and students unless "
                                                                "--student-epochs is given)")
    k.add_argument("--patience", type=int, default=d.patience,
                   help="early stopping: epochs without a better validation metric")
    n = p.add_argument_group("knowledge beyond the logits (weights add terms to the student's loss; 0 = off)")
    n.add_argument("--teacher-layer", default=None,
                   help="name of the teacher submodule whose output is distilled by --hint/--similarity/--lsp "
                        "(default: its last hidden layer: convs.<L-2> for gcn, gat and sage, lins.<L-2> for appnp, "
                        "propagation for grand; for an ensemble, its first member's)")
    n.add_argument("--hint", type=float, default=d.hint_weight, dest="hint_weight",
                   help="FitNets hint: the student's last hidden layer (a 1-layer student's logits), through a "
                        "learned projector, matches the teacher's representation")
    n.add_argument("--hint-metric", default=d.hint_metric, choices=["mse", "cosine"], help="distance of the hint")
    n.add_argument("--similarity", type=float, default=d.similarity_weight, dest="similarity_weight",
                   help="NOSMOG representation similarity: in-batch cosine-similarity matrices of student and "
                        "teacher matched (memory O(batch x width): a batch of B nodes never forms the B x B "
                        "matrices when B exceeds the widths)")
    n.add_argument("--lsp", type=float, default=d.lsp_weight, dest="lsp_weight",
                   help="local structure preserving (GNN students): each node's similarity distribution over its "
                        "neighbours, teacher vs student, matched with KL")
    n.add_argument("--adversarial", type=float, default=d.adversarial_weight, dest="adversarial_weight",
                   help="NOSMOG adversarial augmentation (MLP students): soft-target loss at a PGD perturbation "
                        "of the input. The perturbation is dense, so sparse features lose their sparse speed-up "
                        "(a Coauthor CS seed took about 26x as long as without it)")
    n.add_argument("--adversarial-epsilon", type=float, default=d.adversarial_epsilon,
                   help="L-infinity radius of the perturbation")
    n.add_argument("--adversarial-steps", type=int, default=d.adversarial_steps, help="PGD steps")
    n.add_argument("--positions", type=int, default=d.positions,
                   help="append this many spectral position features to an MLP student's input (a new node then "
                        "needs its neighbour ids at arrival: it gets their mean)")
    p.set_defaults(func=_distill, parser=p)


def _distill(args) -> int:
    """Under torchrun (see graphkd.large.distill for the commands) MLP students train with DDP over the
    ranks, teachers on every rank alike, and rank 0 writes and prints."""
    cfg = _config(args)
    with distributed(cfg.device) as world:
        workers = args.workers
        if workers is None:  # seeds on a GPU run one after another: one device, one process
            workers = 1 if world > 1 or resolve_device(cfg.device).type != "cpu" else default_workers(
                cfg.runs, dataset_info(cfg.dataset).num_nodes)
        summary = run_distillation(cfg, out=args.out, progress=not args.quiet and is_rank_zero(), workers=workers)
        if not is_rank_zero():
            return 0
    print(format_summary(summary))
    if args.out:
        print(f"results, student weights and soft targets in {args.out}")
    return 0


def _config(args) -> DistillConfig:
    """The run the flags describe, or ``--config``'s file with every option given on the command line on top."""
    flags = {f.name: getattr(args, f.name) for f in dataclasses.fields(DistillConfig) if hasattr(args, f.name)}
    if args.config is None:
        return DistillConfig(**flags)
    settings = dataclasses.asdict(read_run_file(args.config).distill_config())
    typed = _typed_options(args.parser, args.argv[args.argv.index("distill") + 1:])
    settings.update({name: value for name, value in flags.items() if name in typed})
    return DistillConfig(**settings)


def _typed_options(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The destinations of the options given in ``argv`` (at their default value or not): parsed again with no
    defaults, so that what is left in the namespace is what was typed."""
    defaults = [(action, action.default) for action in parser._actions]
    for action, _ in defaults:
        action.default = argparse.SUPPRESS
    try:
        typed, _ = parser.parse_known_args(argv)
    finally:
        for action, default in defaults:
            action.default = default
    return set(vars(typed))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphkd", description="Distil GNN teachers into fast students.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_distill_parser(subparsers)
    export.add_parser(subparsers)
    tune_command.add_parser(subparsers)
    bench = subparsers.add_parser("bench", help="benchmarks (latency)",
                                  description="Benchmarks that measure graphkd's claims on this machine.")
    latency.add_parser(bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK"))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except GraphkdError as exc:  # bad input: one line, not a traceback wall
        parser.exit(2, f"graphkd {args.command}: error: {exc}\n")
    except OSError as exc:  # a missing or unwritable file, or a file where a folder belongs
        parser.exit(2, f"graphkd {args.command}: error: {os_error_message(exc)}\n")
    except KeyboardInterrupt:
        parser.exit(130, "interrupted; rerun the same command with the same --out to continue\n")


if __name__ == "__main__":
    sys.exit(main())
