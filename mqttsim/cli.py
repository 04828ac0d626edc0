"""The ``mqttsim`` command line.

Each subcommand is a :class:`Command` in :data:`COMMANDS`: a function that
adds its arguments to an ``argparse`` parser, and a function that runs it and
returns the exit status. To add one (``broker``, ``sim``, ``lab``), write the
two functions and append a ``Command`` to the tuple; import heavy modules inside
the run function, so that ``mqttsim --help`` stays fast.

A user's mistake never shows a traceback. Usage errors print one line, as do
:class:`~mqttsim.protocol.errors.ConfigError` and ``OSError`` from a run
function (``mqttsim: error: ...``); all of them exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from . import __version__
from .commands import broker, native, passwd, sim, validate
from .commands.common import PROG, USAGE_ERROR, fail
from .protocol.errors import ConfigError

__all__ = ["Command", "COMMANDS", "EXIT_STATUS", "main", "build_parser"]

EXIT_STATUS = (
    "exit status: 0 done; 2 a usage or configuration error (one line on stderr says"
    " which); 1 a failure while running (a compile that did not build, an emulator"
    " that could not start); 130 interrupted"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """One subcommand.

    Attributes:
        name: what the user types after ``mqttsim``.
        help: one line for ``mqttsim --help``.
        add_arguments: adds the subcommand's options to its parser.
        run: does the work and returns the exit status; may raise ConfigError
            or OSError for a user's mistake.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _describe_os_error(exc: OSError) -> str:
    """``"<file>: <reason>"``, the way a shell tool reports a file it cannot use."""
    reason = exc.strerror or str(exc) or exc.__class__.__name__
    return f"{exc.filename}: {reason}" if exc.filename else reason


# --- the registry ----------------------------------------------------------------------------

COMMANDS: tuple[Command, ...] = (
    Command(
        name="broker",
        help="run an MQTT broker (TCP, TLS, WebSocket)",
        add_arguments=broker.add_arguments,
        run=broker.run,
    ),
    Command(
        name="passwd",
        help="manage a password file in mosquitto_passwd's format",
        add_arguments=passwd.add_arguments,
        run=passwd.run,
    ),
    Command(
        name="sim",
        help="simulate: a scenario file, the link presets, the 1999 pipeline",
        add_arguments=sim.add_arguments,
        run=sim.run,
    ),
    Command(
        name="validate",
        help="compare the simulator with real stacks through the link emulator (needs root)",
        add_arguments=validate.add_arguments,
        run=validate.run,
    ),
    Command(
        name="native",
        help="compile the protocol core and the simulator with mypyc (or show or undo it)",
        add_arguments=native.add_arguments,
        run=native.run,
    ),
)
"""Every subcommand, in the order ``mqttsim --help`` lists them."""


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    """Build the top-level parser with one subparser per command."""
    parser = _Parser(
        prog=PROG,
        description="Learn MQTT and try it on hostile satellite links.",
        epilog=EXIT_STATUS,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # Not required=True: argparse would then report a missing COMMAND before an
    # unknown flag (``mqttsim --frobnicate``); main() asks for the command itself.
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in commands:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return the exit status (the ``mqttsim`` script).

    Args:
        argv: the arguments after the program name; ``sys.argv[1:]`` if None.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors, already printed
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        return USAGE_ERROR
    if args.command is None:
        try:
            parser.error("the following arguments are required: COMMAND")
        except SystemExit:
            return USAGE_ERROR
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except ConfigError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(_describe_os_error(exc))
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
