"""``mqttsim passwd``: manage a password file in mosquitto_passwd's format.

The options mirror mosquitto_passwd's, so the habits and files users already
have carry over. Only argparse is imported at module level: every command's
parser is built each time ``mqttsim`` runs.
"""

from __future__ import annotations

import argparse
import getpass

from ..protocol.errors import ConfigError
from .common import fail, positive_int

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
        type=positive_int,
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


def run(args: argparse.Namespace) -> int:
    from ..aio.passwd import DEFAULT_ITERATIONS, PasswordFile, check_username

    problem = _check_passwd_arguments(args)
    if problem is not None:
        return fail(problem)
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
