"""Skip the emulator's tests in one line where this machine cannot emulate.

Root is not always enough: a container without the right to create network
namespaces (no CAP_SYS_ADMIN) or without /dev/net/tun cannot run the link
emulator. Each session probes once, by creating and deleting one namespace;
the tests that need the emulator (``needs_emulator`` in their module) are
then skipped with the probe's one-line reason instead of failing.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest

_NEEDS_EMULATOR = ("test_emulation.py", "test_validation.py")


@functools.cache
def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "the link emulator needs root"
    if not os.path.exists("/dev/net/tun"):
        return "the link emulator needs /dev/net/tun"
    if shutil.which("ip") is None:
        return "the link emulator needs iproute2's ip command"
    name = f"mqv-{os.getpid()}-probe"  # removed by the emulator's stale cleanup if left
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, timeout=30)
    if made.returncode != 0:
        first = (made.stderr.strip().splitlines() or ["no message"])[0]
        return f"the link emulator cannot create a network namespace here: {first}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in _NEEDS_EMULATOR and (why := _why_not()) is not None:
            item.add_marker(pytest.mark.skip(reason=why))
