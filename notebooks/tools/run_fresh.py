"""Run a lesson top to bottom in a fresh kernel and report what it left behind.

nbval checks that a lesson's outputs hold; this checks how it ends. A probe
cell before the lesson notes which listening TCP sockets, threads and child
processes the kernel already has (its own ZeroMQ ports among them); a probe
cell after the lesson lists what is new. A lesson that starts a broker and
forgets to stop it shows up here as a listening port and a thread.

Used by ``tests/test_notebooks_clean.py`` (nothing left behind) and by
``bench/notebooks.py`` (how long each lesson takes). Linux only: the probe
reads ``/proc``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent
CELL_TIMEOUT_S = 120

# Runs inside the kernel; names start with _mqttsim_ to stay out of the lesson's way.
_STATE = r"""
def _mqttsim_state():
    import os, threading
    own = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            own.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in own:  # 0A: LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    kernel = ("zmq.", "ipykernel.", "IPython.", "jupyter_client.")  # the kernel's own, made lazily
    threads = {
        t.ident: t.name
        for t in threading.enumerate()
        if t.is_alive() and not type(t).__module__.startswith(kernel)
    }
    children = set()
    for task in os.listdir("/proc/self/task"):
        try:
            children.update(open(f"/proc/self/task/{task}/children").read().split())
        except OSError:
            continue
    return ports, threads, children
"""
_BEFORE = _STATE + "_mqttsim_before = _mqttsim_state()\n"
_AFTER = (
    "import json as _mqttsim_json\n"
    "_mqttsim_now = _mqttsim_state()\n"
    "print(_mqttsim_json.dumps({\n"
    "    'listening': sorted(_mqttsim_now[0] - _mqttsim_before[0]),\n"
    "    'threads': sorted(n for i, n in _mqttsim_now[1].items() if i not in _mqttsim_before[1]),\n"
    "    'children': sorted(_mqttsim_now[2] - _mqttsim_before[2]),\n"
    "}))\n"
)


@dataclass(frozen=True, slots=True)
class FreshRun:
    """What one lesson did in a fresh kernel.

    Attributes:
        seconds: wall-clock time from starting the kernel to the last cell's end.
        listening: TCP ports the kernel still listens on that it did not before.
        threads: names of threads still alive that were not there before.
        children: process ids of child processes still running.
    """

    seconds: float
    listening: list[int]
    threads: list[str]
    children: list[str]

    @property
    def clean(self) -> bool:
        return not (self.listening or self.threads or self.children)


def run_fresh(path: Path) -> FreshRun:
    """Execute the notebook at ``path`` in a new kernel; raise if a cell fails."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(_BEFORE))
    nb.cells.append(nbformat.v4.new_code_cell(_AFTER))
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    left = json.loads(text)
    return FreshRun(seconds, left["listening"], left["threads"], left["children"])

