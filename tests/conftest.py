"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import random
import socket

import pytest
from hypothesis import settings

from mqttsim import native

SEED = 1999

# Hypothesis draws its examples from a seed of its own, different on every run,
# and a machine without its example database (CI's clean clone) would meet a
# new failing case at random. Derandomized, each run tries the same examples,
# so the suite fails the same way every run; new cases come from changing the
# strategies or from @example, on purpose.
settings.register_profile("mqttsim", derandomize=True, print_blob=True)
settings.load_profile("mqttsim")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the ``pure_python`` tests when the compiled modules run (see tests/test_native.py)."""
    if not native.is_compiled():
        return
    skip = pytest.mark.skip(reason="patches compiled code; tests/test_native.py runs it as Python")
    for item in items:
        if "pure_python" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng() -> random.Random:
    """A seeded random generator, so a failing test fails the same way every run."""
    return random.Random(SEED)


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (never 1883).

    Prefer binding servers to port 0 and reading the port back; use this only
    when a port must be known before the server starts.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
