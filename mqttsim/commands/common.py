"""Helpers shared by the subcommands: one-line errors and argparse types."""

from __future__ import annotations

import argparse
import sys

__all__ = ["PROG", "USAGE_ERROR", "fail", "positive_int"]

PROG = "mqttsim"
USAGE_ERROR = 2


def fail(message: str) -> int:
    """Print ``mqttsim: error: <message>`` on one line and return the usage status."""
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return USAGE_ERROR


def positive_int(text: str) -> int:
    """argparse type for ``-I``: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
