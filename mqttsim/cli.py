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
import getpass
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from . import __version__
from .protocol.errors import ConfigError

__all__ = ["Command", "COMMANDS", "main", "build_parser"]

_PROG = "mqttsim"
_USAGE_ERROR = 2


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
        self.exit(_USAGE_ERROR, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _fail(message: str) -> int:
    """Print ``mqttsim: error: <message>`` on one line and return the usage status."""
    print(f"{_PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return _USAGE_ERROR


def _describe_os_error(exc: OSError) -> str:
    """``"<file>: <reason>"``, the way a shell tool reports a file it cannot use."""
    reason = exc.strerror or str(exc) or exc.__class__.__name__
    return f"{exc.filename}: {reason}" if exc.filename else reason


# --- mqttsim passwd --------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    """argparse type for ``-I``: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _passwd_arguments(parser: argparse.ArgumentParser) -> None:
    # No imports from mqttsim.aio here: every parser is built for every command.
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "-c", dest="create", action="store_true", help="create FILE, overwriting it if it exists"
    )
    mode.add_argument("-D", dest="delete", action="store_true", help="delete USERNAME")
    mode.add_argument(
        "-U",
        dest="update",
        action="store_true",
        help="hash a file of plain-text 'username:password' lines in place",
    )
    parser.add_argument(
        "-b",
        dest="batch",
        action="store_true",
        help="take PASSWORD from the command line (visible to other users: scripts only)",
    )
    parser.add_argument(
        "-I",
        dest="iterations",
        type=_positive_int,
        default=None,
        metavar="N",
        help="PBKDF2 iterations for new hashes (default: 101, as mosquitto_passwd)",
    )
    parser.add_argument("file", metavar="FILE", help="the password file")
    parser.add_argument("username", metavar="USERNAME", nargs="?", help="the user to change")
    parser.add_argument("password", metavar="PASSWORD", nargs="?", help="the password, with -b")


def _check_passwd_arguments(args: argparse.Namespace) -> str | None:
    """Return what is wrong with the combination of arguments, or None."""
    if args.update:
        if args.batch or args.username is not None:
            return "-U takes only FILE"
        return None
    if args.username is None:
        return "USERNAME is missing"
    if args.delete and (args.batch or args.password is not None):
        return "-D takes only FILE and USERNAME"
    if args.batch and args.password is None:
        return "-b needs PASSWORD after USERNAME"
    if not args.batch and args.password is not None:
        return "PASSWORD on the command line needs -b"
    return None


def _ask_password() -> str:
    """Prompt twice without echo, as mosquitto_passwd does."""
    try:
        first = getpass.getpass("Password: ")
        second = getpass.getpass("Reenter password: ")
    except EOFError:
        raise ConfigError("no password given") from None
    if first != second:
        raise ConfigError("passwords do not match")
    if not first:
        raise ConfigError("empty password")
    return first


def _passwd(args: argparse.Namespace) -> int:
    from .aio.passwd import DEFAULT_ITERATIONS, PasswordFile, check_username

    problem = _check_passwd_arguments(args)
    if problem is not None:
        return _fail(problem)
    iterations: int = DEFAULT_ITERATIONS if args.iterations is None else args.iterations
    if args.update:
        PasswordFile.from_plain_text(args.file, iterations=iterations).save(args.file)
        return 0
    check_username(args.username)
    if args.delete:
        passwords = PasswordFile.load(args.file)
        if not passwords.delete(args.username):
            raise ConfigError(f"user {args.username!r} is not in {args.file}")
        passwords.save(args.file)
        return 0
    # Load before prompting, so a bad file is reported before the user types anything.
    passwords = PasswordFile() if args.create else PasswordFile.load(args.file)
    password = args.password if args.batch else _ask_password()
    verb = "Updating" if args.username in passwords else "Adding"
    passwords.set_password(args.username, password, iterations=iterations)
    passwords.save(args.file)
    print(f"{verb} password for user {args.username}")
    return 0


# --- the registry ----------------------------------------------------------------------------

COMMANDS: tuple[Command, ...] = (
    Command(
        name="passwd",
        help="manage a password file in mosquitto_passwd's format",
        add_arguments=_passwd_arguments,
        run=_passwd,
    ),
)
"""Every subcommand, in the order ``mqttsim --help`` lists them."""


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    """Build the top-level parser with one subparser per command."""
    parser = _Parser(prog=_PROG, description="Learn MQTT and try it on hostile satellite links.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
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
        return _USAGE_ERROR
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except ConfigError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(_describe_os_error(exc))
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
