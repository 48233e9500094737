"""MkDocs hook: the committed results in ``benchmarks/results/`` and the root ``CHANGELOG.md`` join the site, so
the docs link figures, tables and release notes where they are committed instead of copying them.

A page writes the link that works when the Markdown is read in the repository, e.g.
``../benchmarks/results/label_rate.png``; in the site the file lives at ``benchmarks/results/label_rate.png``,
so the hook drops that one ``../`` before MkDocs checks the link (a missing file still fails a strict build).
"""
from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File, InclusionLevel

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
LINK = re.compile(r"(\]\(|\bsrc=\")((?:\.\./)*)\.\./(benchmarks/results/|CHANGELOG\.md)")


def _file(path: Path, config, inclusion: InclusionLevel) -> File:
    file = File(path.relative_to(ROOT).as_posix(), str(ROOT), config["site_dir"], config["use_directory_urls"])
    file.inclusion = inclusion
    return file


def on_files(files, config):
    for path in sorted(RESULTS.rglob("*")):
        if path.is_file() and path.suffix in {".md", ".json", ".png"}:
            files.append(_file(path, config, InclusionLevel.NOT_IN_NAV))  # a results page is reached by links
    files.append(_file(ROOT / "CHANGELOG.md", config, InclusionLevel.INCLUDED))
    return files


def on_page_markdown(markdown, page, config, files):
    return LINK.sub(r"\1\2\3", markdown)
