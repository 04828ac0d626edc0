"""Settings that come from the command line or a TOML file, checked alike.

A command describes each setting once, as a :class:`Setting` (its name,
type, range or choices, default and help); the same table then builds the
argparse options (:func:`add_to_parser`), reads the TOML file (:func:`read_file`)
and merges the two (:func:`merge`). A value is checked by the same rule
wherever it came from, before anything starts, and a wrong one is a
one-line :class:`ConfigError` (argparse's usage error on the command line)
naming where it came from, what was given and what is allowed.

It fails closed: TOML values must already have the setting's type, so
``allow-anonymous = "false"`` (a string, and a true one in Python) is refused
rather than read as a yes; no value is ever converted from another type.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..protocol.errors import ConfigError

__all__ = ["Setting", "add_to_parser", "read_file", "merge", "is_origin"]

# RFC 6454 §6.2: an origin is scheme "://" host [ ":" port ], nothing after.
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://(\[[0-9A-Fa-f:.]+\]|[^\s/:?#\[\]@]+)(:[0-9]{1,5})?")


def is_origin(text: str) -> bool:
    """Return True if ``text`` is a serialised origin such as ``https://host:8443``."""
    return _ORIGIN.fullmatch(text) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    """One setting, the same on the command line and in the file.

    Attributes:
        name: the long option without ``--``, and the key in the file.
        kind: ``bool``, ``int``, ``str`` or ``list`` (of strings; the option
            is repeated on the command line).
        default: the value when neither the file nor the command line sets it.
        help: one line for ``--help``; the default is added to it.
        group: the ``--help`` section it is listed in.
        low: the smallest whole number allowed (``int``).
        high: the largest whole number allowed (``int``).
        choices: the strings allowed (``str``), if only some are.
        metavar: the placeholder in ``--help``.
        file_key: the key in the file when it differs from ``name`` (a list
            is named in the plural in the file: ``ws-origins``).
        item_check: for ``list``, a check of one item.
        item_words: for ``list``, what one item and several are, in words.
    """

    name: str
    kind: type
    default: Any
    help: str
    group: str
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    file_key: str | None = None
    item_check: Callable[[str], bool] | None = None
    item_words: tuple[str, str] = ("a string", "strings")

    @property
    def dest(self) -> str:
        """The key in the merged settings: the file's key with ``_`` for ``-``."""
        return self.key.replace("-", "_")

    @property
    def key(self) -> str:
        """The key in the file."""
        return self.file_key or self.name

    def allowed(self) -> str:
        """What the setting accepts, in words."""
        if self.kind is bool:
            return "true or false"
        if self.kind is int:
            if self.high is None:
                return f"a whole number of at least {self.low}"
            return f"a whole number from {self.low} to {self.high}"
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        if self.kind is list:
            return f"a list of {self.item_words[1]}"
        return "a non-empty string"

    def accepts(self, value: object) -> bool:
        """Return True if ``value``, of its exact type, is allowed."""
        if self.kind is bool:
            return type(value) is bool
        if self.kind is int:
            # type() and not isinstance(): True is an int to Python, not to us.
            return (
                type(value) is int
                and (self.low is None or value >= self.low)
                and (self.high is None or value <= self.high)
            )
        if self.kind is list:
            return type(value) is list and all(self._accepts_item(v) for v in value)
        if type(value) is not str or not value:
            return False
        return not self.choices or value in self.choices

    def _accepts_item(self, value: object) -> bool:
        return type(value) is str and (self.item_check is None or self.item_check(value))

    def from_text(self, text: str) -> Any:
        """The argparse ``type`` of the option: ``text`` checked, as the value.

        Raises:
            argparse.ArgumentTypeError: naming the text and what is allowed.
        """
        value: Any = text
        if self.kind is int:
            try:
                value = int(text)
            except ValueError:
                pass
        ok = self._accepts_item(value) if self.kind is list else self.accepts(value)
        if not ok:
            allowed = self.item_words[0] if self.kind is list else self.allowed()
            raise argparse.ArgumentTypeError(f"{text!r}: expected {allowed}")
        return value


def _help(setting: Setting) -> str:
    """The help line with the default (and the range), as ``--help`` shows it."""
    default = setting.default
    if setting.kind is bool:
        notes = ["default: yes" if default else "default: no"]
    elif default is None:
        notes = []
    elif setting.kind is list:
        notes = [f"default: {', '.join(default)}"]
    else:
        notes = [f"default: {default}"]
    if setting.kind is int:
        notes.append(setting.allowed().removeprefix("a whole number "))
    text = f"{setting.help} ({'; '.join(notes)})" if notes else setting.help
    return text.replace("%", "%%")  # argparse formats help with %


def add_to_parser(parser: argparse.ArgumentParser, settings: Iterable[Setting]) -> None:
    """Add one option per setting, grouped as the table says.

    Every option's argparse default is None, so that :func:`merge` can tell
    a value the user typed from one left out (the file then decides).
    """
    groups: dict[str, Any] = {}
    for setting in settings:
        group = groups.get(setting.group)
        if group is None:
            group = groups[setting.group] = parser.add_argument_group(setting.group)
        flag = f"--{setting.name}"
        if setting.kind is bool:
            group.add_argument(
                flag,
                dest=setting.dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=_help(setting),
            )
        elif setting.kind is list:
            group.add_argument(
                flag,
                dest=setting.dest,
                action="append",
                type=setting.from_text,
                metavar=setting.metavar,
                help=_help(setting) + "; repeat it for more",
            )
        else:
            group.add_argument(
                flag,
                dest=setting.dest,
                type=setting.from_text,
                metavar=setting.metavar or _choices_metavar(setting),
                help=_help(setting),
            )


def _choices_metavar(setting: Setting) -> str | None:
    """``{a,b,c}`` as argparse shows choices, or None (argparse's own)."""
    return "{" + ",".join(setting.choices) + "}" if setting.choices else None


def _toml(value: object) -> str:
    """``value`` as it was written in the file, shortened for one line."""
    if type(value) is bool:
        text = "true" if value else "false"
    elif type(value) is str:
        text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif type(value) is list:
        text = "[" + ", ".join(_toml(v) for v in value) + "]"
    elif type(value) is dict:
        text = "a table"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def read_file(path: str, settings: Iterable[Setting]) -> dict[str, Any]:
    """Read and check a TOML settings file: ``dest -> value`` for the keys it sets.

    Raises:
        ConfigError: ``"<file>: ..."`` for bad TOML, an unknown key, or a value
            of the wrong type or out of range (naming key, value and what is
            allowed).
        OSError: if the file cannot be read.
    """
    import tomllib

    by_key = {setting.key: setting for setting in settings}
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    values: dict[str, Any] = {}
    for key, value in data.items():
        setting = by_key.get(key)
        if setting is None:
            raise ConfigError(f"{path}: unknown setting {key!r} (allowed: {', '.join(by_key)})")
        if not setting.accepts(value):
            raise ConfigError(f"{path}: {key} = {_toml(value)}: expected {setting.allowed()}")
        values[setting.dest] = value
    return values


def merge(
    settings: Iterable[Setting], from_file: Mapping[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """Defaults, then the file, then the command line: ``dest -> value``."""
    merged: dict[str, Any] = {}
    for setting in settings:
        typed = getattr(args, setting.dest, None)
        if typed is not None:
            merged[setting.dest] = typed
        else:
            merged[setting.dest] = from_file.get(setting.dest, setting.default)
    return merged
