"""Every lesson, run top to bottom in a fresh kernel, leaves nothing behind.

A lesson that starts a broker must stop it: no listening port, no thread and
no child process of the lesson's survives its last cell (the probe is in
``notebooks/tools/run_fresh.py``). How long each lesson takes is printed by
``python -m bench.notebooks``, not asserted here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .notebook_tools import tool

pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="the probe reads /proc (Linux only)"
)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_lesson_leaves_no_broker_port_or_thread(path: Path) -> None:
    run = tool("run_fresh").run_fresh(path)
    assert run.clean, (
        f"{path.name} left behind: listening ports {run.listening},"
        f" threads {run.threads}, child processes {run.children}"
    )
