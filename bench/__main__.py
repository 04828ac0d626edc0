"""``python -m bench``: run every benchmark in this folder, one after the other.

A benchmark is a module ``bench/<name>.py`` with a ``main(argv) -> int``; each
runs with its default options and prints its own figures. ``python -m bench
NAME ...`` runs only those named. Timings belong here, never in the tests.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def benchmarks() -> list[str]:
    """The names of the modules here that have a ``main``, sorted."""
    here = Path(__file__).resolve().parent
    names = []
    for path in sorted(here.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        if "\ndef main(" in path.read_text(encoding="utf-8"):
            names.append(path.stem)
    return names


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (all of them by default); return the worst status."""
    available = benchmarks()
    chosen = (argv if argv is not None else sys.argv[1:]) or available
    unknown = [name for name in chosen if name not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(available)}")
        return 2
    status = 0
    for name in chosen:
        print(f"== bench.{name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        status = max(status, int(module.main([]) or 0))
        print(flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
