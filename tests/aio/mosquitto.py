"""Starting Debian's mosquitto broker for interop tests, in one place."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
)


def start_mosquitto(config: Path) -> subprocess.Popen[str]:
    """Start mosquitto with ``config`` and wait, bounded in time and lines,
    until its log says it is running; fail the test with the log otherwise."""
    assert MOSQUITTO is not None
    broker = subprocess.Popen(
        [MOSQUITTO, "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stdout = broker.stdout
    assert stdout is not None
    # A reader thread, not select(): select() cannot see lines already
    # pulled into the pipe's Python buffer by an earlier readline().
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 10
    log: list[str] = []
    for _ in range(100):
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        log.append(line)
        if " running" in line:
            return broker
    broker.kill()
    broker.wait(timeout=10)
    pytest.fail("mosquitto did not start:\n" + "".join(log))
