"""``graphkd tune``: the command line of :func:`graphkd.tune` (a thin layer: every check is the function's)."""
from __future__ import annotations

import argparse
import dataclasses
import sys

from graphkd.distill import RunConfig, read_run_file
from graphkd.errors import GraphkdError
from graphkd.report import format_summary
from graphkd.tuning.budget import DEFAULT_TRIALS, FINAL_RUNS, FINALISTS, SELECTION_RUNS, STUDY_FILE, STUDY_NAME
from graphkd.tuning.space import SearchSpace
from graphkd.tuning.space_file import read_space, space_text

__all__ = ["add_parser"]


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except ``None`` and a switch's: their help says what unset means."""

    def _get_help_string(self, action):
        return action.help if action.default is None or isinstance(action.default, bool) else \
            super()._get_help_string(action)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "tune", help="search for the distillation run that validates best on a graph",
        description="Search teachers, objectives and students with Optuna (TPE, median pruning) on a few selection "
                    "seeds per trial, within a budget of trials or wall time; re-run the best trials on the final "
                    "seeds and choose on the validation metric. Writes best.toml (graphkd distill --config runs "
                    "it), result.md, trials.csv, trials.md and tune.png to --out. The study lives in a database: "
                    "the same command continues a killed search, and processes given the same study share it.",
        formatter_class=_HelpFormatter)
    p.add_argument("--config", default=None, metavar="RUN.toml",
                   help="base run file: what the search does not vary (epochs, patience, data, ...); default: "
                        "graphkd's defaults")
    p.add_argument("--dataset", default=None, help="dataset (on top of --config; see graphkd distill --help)")
    p.add_argument("--split", default=None, help="split (on top of --config), e.g. random for the CPF split")
    p.add_argument("--root", default=None, help="data folder; default $GRAPHKD_DATA, else ~/.cache/graphkd")
    p.add_argument("--teacher", default=None, metavar="FILE",
                   help="a given teacher's outputs (as graphkd distill --teacher takes a file): fixed, and the "
                        "teacher options leave the space")
    p.add_argument("--space", default=None, metavar="SPACE.toml",
                   help="search space file: each option a list of choices or {low, high, log, or_zero}, on top of "
                        "the default space (defaults = false: only the file's options); see docs/tune.md")
    p.add_argument("--show-space", action="store_true",
                   help="print the space (the default, with --space on top) as a space file and exit")
    p.add_argument("--trials", type=int, default=None,
                   help=f"finished trials the study should hold, earlier runs' included (default {DEFAULT_TRIALS} "
                        "when --time is not given either)")
    p.add_argument("--time", default=None, metavar="DURATION",
                   help="wall time of this command, final runs included: 90s, 45m, 1.5h, 1h30m")
    p.add_argument("--out", default=None, help="output folder (required): study, teachers, finalists, results")
    p.add_argument("--storage", default=None, metavar="URL",
                   help=f"study database; default sqlite:///<out>/{STUDY_FILE}; postgresql://... or "
                        "mysql+pymysql://... to share a study between machines")
    p.add_argument("--study-name", default=STUDY_NAME, help="the study's name in the database")
    p.add_argument("--selection-runs", type=int, default=SELECTION_RUNS,
                   help="seeds per trial (the cheap fidelity; the pruner looks after each)")
    p.add_argument("--final-runs", type=int, default=FINAL_RUNS,
                   help="seeds of the finalists' runs, which choose (0: none; the best trial is chosen)")
    p.add_argument("--finalists", type=int, default=FINALISTS, help="best trials re-run on the final seeds")
    p.add_argument("--seed", type=int, default=0, help="the sampler's seed (distillation seeds: the run file's)")
    p.add_argument("--no-first-trials", dest="first_trials", action="store_false",
                   help="a new study draws from its first trial, without first trying the recipes that won across "
                        "the knowledge table's graphs (graphkd.tuning.first)")
    p.add_argument("--workers", type=int, default=1, help="seeds of a final run at once, each in its own process")
    p.add_argument("--quiet", action="store_true", help="no progress bar or trial lines")
    p.set_defaults(func=_tune)


def _tune(args) -> int:
    space = read_space(args.space) if args.space else SearchSpace()
    if args.show_space:
        sys.stdout.write(space_text(space))
        return 0
    if args.out is None:
        raise GraphkdError("give --out, the folder of the study and its results")
    try:  # Optuna and matplotlib are the [tune] extra's: the rest of the command line runs without them
        from graphkd.tuning.search import tune
    except ImportError as exc:
        raise GraphkdError(f"graphkd tune needs Optuna and matplotlib: pip install 'graphkd[tune]' ({exc})") from None
    run = read_run_file(args.config) if args.config else RunConfig()
    data = {name: getattr(args, name) for name in ("dataset", "split", "root") if getattr(args, name) is not None}
    run = dataclasses.replace(run, data=dataclasses.replace(run.data, **data))
    result = tune(run, out=args.out, teacher=args.teacher, trials=args.trials, time=args.time, space=space,
                  storage=args.storage, study_name=args.study_name, selection_runs=args.selection_runs,
                  final_runs=args.final_runs, finalists=args.finalists, seed=args.seed,
                  first_trials=args.first_trials, progress=not args.quiet,
                  workers=args.workers)
    if result.summary is not None:
        print(format_summary(result.summary))
    print(f"chosen: trial {result.trial} of {result.trials} finished; its run file: {result.out / 'best.toml'} "
          f"(graphkd distill --config {result.out / 'best.toml'} runs it again)")
    return 0
