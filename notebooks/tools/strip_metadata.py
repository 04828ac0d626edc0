"""Strip the volatile metadata of executed notebooks, keeping their outputs.

nbval compares a notebook's stored outputs with a fresh run, so the outputs
(and the execution counts 1..n that go with them) are committed. What changes
from one machine or run to the next is not: per-cell execution timestamps,
the Python version in ``language_info``, and the saved state of widgets.

Usage::

    python notebooks/tools/strip_metadata.py notebooks/*.ipynb
    python notebooks/tools/strip_metadata.py --check notebooks/*.ipynb   # exit 1 if any is dirty
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import nbformat

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO_KEPT = ("file_extension", "name", "pygments_lexer")
CELL_METADATA_KEPT = ("tags",)


def stripped(nb: Any) -> Any:
    """A copy of ``nb`` with only stable metadata left."""
    new = copy.deepcopy(nb)
    info = new.metadata.get("language_info", {})
    new.metadata = nbformat.NotebookNode(
        kernelspec=dict(KERNELSPEC),
        language_info={k: info[k] for k in LANGUAGE_INFO_KEPT if k in info},
    )
    for cell in new.cells:
        cell.metadata = nbformat.NotebookNode(
            {k: v for k, v in cell.metadata.items() if k in CELL_METADATA_KEPT}
        )
    return new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if dirty")
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    dirty = 0
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        new = stripped(nb)
        if new == nb:
            continue
        dirty += 1
        if args.check:
            print(f"{path.name}: volatile metadata")
        else:
            nbformat.write(new, path)
            print(f"{path.name}: stripped")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
