"""Every Markdown document the code mentions is in the repository.

The comments, docstrings and tests under ``mqttsim/`` and ``tests/`` point
readers at documents such as ``docs/ARCHITECTURE.md``. A pointer to a file
that is not in the repository leaves the reader with nothing to read, so each
mention of a Markdown file must resolve, relative to the repository root, to
a file that exists. A bare name (no folder) may also name any Markdown file in
the repository by its file name, as ``validation.md`` names
``docs/validation.md``. Absolute paths are not references: tests use them for
files that must be missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("mqttsim", "tests")

# A relative path ending in .md, not part of a longer path, a URL or a word.
MENTION = re.compile(r"(?<![\w./-])([\w.-]+(?:/[\w.-]+)*\.md)\b")

# Names that look like documents but are placeholders, with why.
PLACEHOLDERS = {
    "FILE.md": "the metavar of `mqttsim validate --report/--deviations`",
}


def _in_repository(path: Path) -> bool:
    """False for files of the environment and of tools (.venv, caches, build output)."""
    parts = path.relative_to(ROOT).parts
    return not any(
        p.startswith(".") or p in ("build", "__pycache__") or p.endswith(".egg-info") for p in parts
    )


def markdown_files() -> set[Path]:
    """Every Markdown file in the repository, relative to its root."""
    return {p.relative_to(ROOT) for p in ROOT.rglob("*.md") if _in_repository(p)}


def text_files() -> Iterator[Path]:
    """Every text file under the scanned folders (compiled modules and data skipped)."""
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and _in_repository(path):
                yield path


def mentions(path: Path) -> Iterator[tuple[int, str]]:
    """Each (line number, document) a file mentions; nothing for a binary file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, ValueError):
        return
    for number, line in enumerate(text.splitlines(), 1):
        for match in MENTION.finditer(line):
            yield number, match.group(1)


def resolves(document: str, existing: set[Path]) -> bool:
    """True if ``document`` names a Markdown file of the repository."""
    if document in PLACEHOLDERS or Path(document) in existing:
        return True
    return "/" not in document and any(p.name == document for p in existing)


def test_every_mentioned_document_exists() -> None:
    existing = markdown_files()
    missing = [
        f"{path.relative_to(ROOT)}:{number}: mentions {document}, which is not in the repository"
        for path in text_files()
        for number, document in mentions(path)
        if not resolves(document, existing)
    ]
    assert not missing, "\n".join(missing)


def test_the_scan_sees_references() -> None:
    """Guards against a pattern that matches nothing and so passes vacuously."""
    found = {doc for path in text_files() for _, doc in mentions(path)}
    assert {"docs/ARCHITECTURE.md", "docs/scenarios.md", "datasets/README.md"} <= found
    assert resolves("CONTRIBUTING.md", markdown_files())
    assert not resolves("docs/NOWHERE." + "md", markdown_files())  # split: not a mention
