"""Write the navigation of the lessons, never by hand (as PDSH's tools/add_navigation.py).

Every lesson ``notebooks/NN-kebab-title.ipynb`` (NN from 01) gets a first and
a last cell reading ``← previous · Index · next →``, made from the lesson
numbers and the H1 titles; ``00-index.ipynb`` gets the numbered list of
lessons. Cells this script wrote start with a marker comment, so running it
again replaces them: the script is idempotent, and a notebook it would not
change is not written (its outputs and timestamps stay as they are).

Usage, from anywhere::

    python notebooks/tools/add_navigation.py           # rewrite what is out of date
    python notebooks/tools/add_navigation.py --check   # exit 1 if anything is
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path
from typing import Any

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent
INDEX = "00-index.ipynb"
NAV_MARK = "<!--NAVIGATION-->"
LESSONS_MARK = "<!--LESSONS-->"
LESSON_NAME = re.compile(r"^(\d\d)-[a-z0-9]+(?:-[a-z0-9]+)*\.ipynb$")


def lessons(folder: Path = NOTEBOOKS) -> list[Path]:
    """The lesson notebooks, in teaching order (the index excluded)."""
    found = (p for p in folder.glob("*.ipynb") if LESSON_NAME.match(p.name))
    return sorted(p for p in found if p.name != INDEX)


def _is_ours(cell: Any, mark: str) -> bool:
    return bool(cell.cell_type == "markdown" and cell.source.startswith(mark))


def title_of(nb: Any) -> str:
    """The text of the notebook's H1: the first markdown line starting with ``# ``."""
    for cell in nb.cells:
        if cell.cell_type != "markdown" or _is_ours(cell, NAV_MARK):
            continue
        for line in cell.source.splitlines():
            if line.startswith("# "):
                return str(line[2:].strip())
    raise ValueError("the notebook has no H1 title (a markdown line starting with '# ')")


def navigation(prev: tuple[str, str] | None, next_: tuple[str, str] | None) -> str:
    """The navigation line; ``prev`` and ``next_`` are (title, file name) or None."""
    parts = []
    if prev is not None:
        parts.append(f"← [{prev[0]}]({prev[1]})")
    parts.append(f"[Index]({INDEX})")
    if next_ is not None:
        parts.append(f"[{next_[0]}]({next_[1]}) →")
    return f"{NAV_MARK}\n" + " · ".join(parts)


def _markdown(cell_id: str, source: str) -> Any:
    cell = nbformat.v4.new_markdown_cell(source)
    cell.id = cell_id
    return cell


def with_navigation(nb: Any, line: str) -> Any:
    """A copy of ``nb`` whose first and last cells are the navigation."""
    new = copy.deepcopy(nb)
    body = [c for c in new.cells if not _is_ours(c, NAV_MARK)]
    new.cells = [_markdown("navigation-top", line), *body, _markdown("navigation-bottom", line)]
    return new


def with_lesson_list(index: Any, entries: list[tuple[str, str]]) -> Any:
    """A copy of the index whose last cell lists the lessons."""
    items = "\n".join(f"{n}. [{title}]({name})" for n, (title, name) in enumerate(entries, 1))
    new = copy.deepcopy(index)
    new.cells = [c for c in new.cells if not _is_ours(c, LESSONS_MARK)]
    new.cells.append(_markdown("lessons", f"{LESSONS_MARK}\n## Lessons\n\n{items}"))
    return new


def updated(folder: Path = NOTEBOOKS) -> dict[Path, Any]:
    """Every notebook whose navigation is out of date, with its new content."""
    paths = lessons(folder)
    books = {p: nbformat.read(p, as_version=4) for p in paths}
    entries = [(title_of(books[p]), p.name) for p in paths]
    changes: dict[Path, Any] = {}
    for i, path in enumerate(paths):
        prev = entries[i - 1] if i > 0 else None
        next_ = entries[i + 1] if i + 1 < len(paths) else None
        new = with_navigation(books[path], navigation(prev, next_))
        if new != books[path]:
            changes[path] = new
    index_path = folder / INDEX
    if index_path.exists():
        index = nbformat.read(index_path, as_version=4)
        new = with_lesson_list(index, entries)
        if new != index:
            changes[index_path] = new
    return changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if stale")
    parser.add_argument("folder", nargs="?", type=Path, default=NOTEBOOKS)
    args = parser.parse_args(argv)
    changes = updated(args.folder)
    for path, nb in changes.items():
        if args.check:
            print(f"{path.name}: navigation out of date")
        else:
            nbformat.write(nb, path)
            print(f"{path.name}: navigation written")
    return 1 if args.check and changes else 0


if __name__ == "__main__":
    sys.exit(main())
