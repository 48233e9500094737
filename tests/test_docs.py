"""Every code block in README.md and docs/ runs, so the documentation cannot show code that fails.

A page's blocks run in order, in one temporary working directory, as a reader following the page would run them
(a later block may read what an earlier one wrote): each ```python block in a fresh namespace, each ```bash
block's commands as a shell would (``graphkd ...`` through :func:`graphkd.cli.main` in this process,
``torchrun ...`` as a subprocess), with ``$GRAPHKD_DATA`` set to a temporary copy of the shared datasets.
```text blocks are output and do not run. A block right after ``<!-- not run: REASON -->`` does not run either;
the reason is required, so each such block says on its page why it is not run here.

The blocks use tiny settings (one seed, few epochs) and say in the prose what a user would change.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from graphkd.cli import main as graphkd_main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LANGUAGES = ("python", "bash", "text")
NOT_RUN = re.compile(r"<!-- not run: (?P<reason>.*\S.*) -->")
FENCE = re.compile(r"^```(?P<language>\S*)\s*$")
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    not_run: str | None  # the reason given by a `<!-- not run: ... -->` marker on the line before

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page, each with the not-run reason written right before it."""
    found, lines, i = [], page.read_text().splitlines(), 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].rstrip() == "```"), None)
        assert end is not None, f"{page.relative_to(ROOT)}:{i + 1}: a code block is never closed"
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = NOT_RUN.fullmatch(before.strip())
        found.append(Block(page, i + 1, fence["language"], "\n".join(lines[i + 1:end]) + "\n",
                           marker["reason"] if marker else None))
        i = end + 1
    return found


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def commands(script: str) -> list[list[str]]:
    """A bash block's commands as argument lists: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n", " ", script)
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


def run_command(words: list[str], block: Block) -> None:
    env = {}
    while words and ASSIGNMENT.match(words[0]):  # VAR=value before the command, as a shell reads it
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    program, args = words[0], words[1:]
    if program == "graphkd" and not env:
        assert graphkd_main(args) == 0, f"{block.where()}: `{shlex.join(words)}` failed"
    elif program in ("graphkd", "torchrun", "python"):
        command = {"graphkd": [sys.executable, "-m", "graphkd.cli"],
                   "torchrun": [sys.executable, "-m", "torch.distributed.run"],
                   "python": [sys.executable]}[program] + args
        run = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, f"{block.where()}: `{shlex.join(words)}` failed\n{run.stdout[-3000:]}" \
                                    f"\n{run.stderr[-3000:]}"
    else:
        pytest.fail(f"{block.where()}: this test runs graphkd, torchrun and python commands, not {program!r}; "
                    "mark the block `<!-- not run: REASON -->` if it cannot run here")


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_block_is_python_bash_or_text(page):
    for block in blocks(page):
        assert block.language in LANGUAGES, (f"{block.where()}: a block is ```{block.language}; use ```python or "
                                             "```bash for code that runs, ```text for output")
        assert not (block.not_run and block.language == "text"), f"{block.where()}: text never runs, so no marker"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_not_run_markers_stand_before_a_block(page):
    lines = page.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        if "<!-- not run" in line:
            assert NOT_RUN.fullmatch(line.strip()), f"{page_id(page)}:{number}: write `<!-- not run: REASON -->`"
            following = next((next_line for next_line in lines[number:] if next_line.strip()), "")
            assert FENCE.match(following), f"{page_id(page)}:{number}: a not-run marker must stand before a block"


@pytest.mark.parametrize("page", [page for page in PAGES if any(b.language != "text" for b in blocks(page))],
                         ids=page_id)
def test_code_blocks_run(page, data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHKD_DATA", str(data_root))
    monkeypatch.chdir(tmp_path)
    for block in blocks(page):
        if block.language == "text" or block.not_run:
            continue
        if block.language == "python":
            exec(compile(block.code, block.where(), "exec"), {"__name__": "__main__"})
        else:
            for words in commands(block.code):
                run_command(words, block)


def test_readme_links_resolve():
    """The README is read on its own (on a repository's page or a package index): its relative links must land."""
    text = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if "://" in target:
            continue
        path = (ROOT / target.split("#")[0]).resolve()
        assert path.exists(), f"README.md links to {target}, which is not in the repository"


def test_readme_results_come_from_the_committed_table():
    """Each number of the README's results table is in the committed knowledge table it links to."""
    section = (ROOT / "README.md").read_text().split("\n## Results\n", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    committed = (ROOT / "benchmarks" / "results" / "knowledge.md").read_text()
    numbers = re.findall(r"\d+\.\d+ ± \d+\.\d+|\b\d+\.\d+\b", table)
    assert len(numbers) > 20
    for number in numbers:
        assert number in committed, f"README's results table shows {number}, which knowledge.md does not hold"
