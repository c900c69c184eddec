"""Every relative link in README.md and docs/*.md leads somewhere: the file exists and, where the
link names a `#section`, the target has a heading with that GitHub anchor. A placeholder left in a
link (`({A})`) or an anchor broken by a renamed heading fails here, not in a reader's browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]*)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, every character but letters, digits,
    spaces, hyphens and underscores dropped (so `—` and `×` vanish), spaces turned into hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    kept = "".join(c for c in text.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def prose_lines(document: Path) -> list[str]:
    """The document's lines outside fenced code blocks (where `#` is a comment, not a heading)."""
    lines, in_block = [], False
    for line in document.read_text().splitlines():
        if line.strip().startswith("```"):
            in_block = not in_block
        elif not in_block:
            lines.append(line)
    return lines


def anchors_of(document: Path) -> set[str]:
    anchors: set[str] = set()
    for line in prose_lines(document):
        match = HEADING.match(line)
        if match:
            anchor, n = github_anchor(match.group(1)), 0
            while (anchor if n == 0 else f"{anchor}-{n}") in anchors:  # repeats get -1, -2, ...
                n += 1
            anchors.add(anchor if n == 0 else f"{anchor}-{n}")
    return anchors


def relative_links(document: Path) -> list[str]:
    return [target for line in prose_lines(document) for target in LINK.findall(line)
            if not re.match(r"[a-z]+:", target)]


def test_github_anchors_follow_githubs_rule():
    assert github_anchor("Round 21: what domain2 sees — bolder, blurrier strokes") == \
        "round-21-what-domain2-sees--bolder-blurrier-strokes"
    assert github_anchor("Round 23: among 3× the samples") == "round-23-among-3-the-samples"
    assert github_anchor("`ganforge train --preset hour`") == "ganforge-train---preset-hour"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: d.name)
def test_every_relative_link_resolves(document):
    broken = []
    for target in relative_links(document):
        path, _, anchor = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in anchors_of(file):
            broken.append(f"{target} (no heading with that anchor in {file.name})")
    assert not broken, f"{document.name}: " + "; ".join(broken)
