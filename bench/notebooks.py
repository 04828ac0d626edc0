"""How long each lesson takes, top to bottom in a fresh kernel.

The issue asks for under a minute per lesson on the 2-core machine; this
prints each lesson's time (kernel start included) and whether it left a
port, thread or child process behind (``notebooks/tools/run_fresh.py``).
Run it with ``python -m bench.notebooks [NOTEBOOK ...]``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_S = 60.0


def main(argv: list[str] | None = None) -> int:
    """Run the lessons (all by default); return 1 if one is over the limit or unclean."""
    path = ROOT / "notebooks" / "tools" / "run_fresh.py"
    spec = importlib.util.spec_from_file_location("notebook_tools_run_fresh", path)
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = tool
    spec.loader.exec_module(tool)
    names = argv if argv else None
    paths = [Path(n) for n in names] if names else sorted(tool.NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    worst = 0.0
    status = 0
    for nb in paths:
        run = tool.run_fresh(nb)
        worst = max(worst, run.seconds)
        verdict = "clean" if run.clean else f"LEFT {run.listening} {run.threads} {run.children}"
        if not run.clean or run.seconds > LIMIT_S:
            status = 1
        print(f"  {nb.name:<45} {run.seconds:6.1f} s  {verdict}", flush=True)
    print(f"  slowest lesson: {worst:.1f} s (limit {LIMIT_S:.0f} s)")
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
