"""What a search leaves in its output folder besides the study: every trial as a table (``trials.csv``,
``trials.md``), a plot of the metric against trials and of which settings mattered (``tune.png``), and the chosen
run's result (``result.md``, ``result.json``)."""
from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path

import optuna
from matplotlib.figure import Figure  # a figure without pyplot: no display, no global backend
from matplotlib.ticker import MaxNLocator
from optuna.trial import FrozenTrial, TrialState

from graphkd.io import atomic_write_text
from graphkd.report import format_summary, markdown_table, metric_column

__all__ = ["importances", "plot_study", "trial_rows", "write_result", "write_trials"]

MIN_TRIALS_FOR_IMPORTANCE = 5  # fewer finished trials say nothing about which settings mattered


def _value(trial: FrozenTrial) -> float | None:
    """A trial's selection score: its value, or a pruned trial's last reported mean."""
    if trial.state == TrialState.COMPLETE:
        return trial.value
    return trial.intermediate_values[max(trial.intermediate_values)] if trial.intermediate_values else None


def trial_rows(study: optuna.Study) -> tuple[list[str], list[list]]:
    """Every trial as a row: number, state, validation score, seconds, the value of each option, and a note."""
    trials = study.get_trials(deepcopy=False)
    options = list(dict.fromkeys(name for t in trials for name in t.user_attrs.get("settings", {})))
    metric = study.user_attrs.get("metric", "accuracy")
    header = ["trial", "state", f"val {metric_column(metric)[1]}", "seeds", "seconds",
              *options, "note"]
    rows = []
    for t in trials:
        value, settings = _value(t), t.user_attrs.get("settings", {})
        rows.append([t.number, t.state.name.lower(), "" if value is None else f"{value:.4f}",
                     len(t.user_attrs.get("val", [])),
                     "" if t.duration is None else f"{t.duration.total_seconds():.1f}",
                     *[_cell(settings.get(name)) for name in options], t.user_attrs.get("note", "")])
    return header, rows


def _cell(value) -> str:
    if value is None:
        return ""  # not drawn: the run did not read it
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def importances(study: optuna.Study) -> dict[str, float] | None:
    """Optuna's importance of each drawn option for the validation score, or ``None`` with too few finished trials
    (or options that never varied) to tell."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError, ZeroDivisionError, IndexError):
        return None
    return found or None


def write_trials(study: optuna.Study, out: Path) -> None:
    """``trials.csv`` and ``trials.md``: every trial, and which settings mattered."""
    header, rows = trial_rows(study)
    text = io.StringIO()
    csv.writer(text).writerows([header, *rows])
    atomic_write_text(out / "trials.csv", text.getvalue())
    found = importances(study)
    mattered = (markdown_table(["option", "importance"], [[name, f"{value:.3f}"] for name, value in found.items()])
                if found else "Too few finished trials to tell which settings mattered.")
    atomic_write_text(out / "trials.md", f"# Trials of study {study.study_name!r}\n\n"
                      f"Scores are the mean validation {study.user_attrs.get('metric', 'metric')} over the selection "
                      "seeds (a pruned trial: over the seeds it ran); a blank setting was not drawn (the run does not "
                      "read it).\n\n" + markdown_table(header, rows) +
                      "\n\n## Which settings mattered\n\n" + mattered + "\n")


def plot_study(study: optuna.Study, path: Path) -> None:
    """The validation score of each trial with the best so far, beside the importance of each option."""
    trials = study.get_trials(deepcopy=False)
    metric = study.user_attrs.get("metric", "metric")
    fig = Figure(figsize=(12, 4.5))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    complete = [(t.number, t.value) for t in trials if t.state == TrialState.COMPLETE]
    pruned = [(t.number, _value(t)) for t in trials if t.state == TrialState.PRUNED and _value(t) is not None]
    if complete:
        left.scatter(*zip(*complete, strict=True), s=18, label="trial (selection seeds)")
        best, line = float("-inf"), []
        for number, value in complete:
            best = max(best, value)
            line.append((number, best))
        left.step(*zip(*line, strict=True), where="post", color="C3", label="best so far")
    if pruned:
        left.scatter(*zip(*pruned, strict=True), marker="x", color="0.5", s=18, label="pruned (seeds it ran)")
    left.set_xlabel("trial")
    left.set_ylabel(f"validation {metric}")
    left.set_title(f"{study.user_attrs.get('dataset', '')}: validation {metric} by trial")
    if complete or pruned:
        left.legend(loc="best", fontsize=8)
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    found = importances(study)
    if found:
        names = list(found)[:12][::-1]
        right.barh(names, [found[name] for name in names])
        right.set_xlabel("importance (Optuna, validation score)")
        right.set_title(f"which settings mattered ({sum(t.state == TrialState.COMPLETE for t in trials)} trials)")
    else:
        right.axis("off")
        right.text(0.5, 0.5, "too few finished trials\nto tell which settings mattered", ha="center", va="center")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    path.write_bytes(buffer.getvalue())


def write_result(out: Path, summary: dict, chosen: int, finalists: dict[int, float], run_folder: Path,
                 best_file: Path, skipped: list[int]) -> str:
    """``result.md`` and ``result.json``: the chosen run's final result (its test metric, the only one a search
    reports), the finalists' validation scores and the finalists ``skipped`` for want of time; returns the text
    of ``result.md``."""
    metric = summary["metric"]
    rows = [[f"trial {number}", f"{100 * value:.2f}", "chosen" if number == chosen else ""]
            for number, value in sorted(finalists.items(), key=lambda item: -item[1])]
    text = (f"# Tuned: {summary['dataset']}\n\n"
            f"Finalists re-run on {summary['runs']} seeds, chosen on mean validation {metric}:\n\n"
            + markdown_table(["finalist", f"val {metric} (%)", ""], rows) +
            (f"\n\nNot re-run, their estimated final runs did not fit the time left: "
             f"{', '.join(f'trial {n}' for n in skipped)}." if skipped else "") +
            f"\n\nThe chosen run (trial {chosen}), as `graphkd distill --config {best_file.name}` prints it:\n\n"
            + format_summary(summary) +
            f"\n\nIts students, soft targets and per-seed records: {run_folder}\n")
    atomic_write_text(out / "result.md", text)
    atomic_write_text(out / "result.json", json.dumps({
        "chosen_trial": chosen, "finalists_val": finalists, "finalists_skipped": skipped,
        "run_folder": str(run_folder), "summary": summary}, indent=1))
    return text
