"""What each key of a scenario file takes: the keys each table allows, and each value's check.

:mod:`.scenario_file` reads the document and :mod:`.scenario_build` turns its
tables into :class:`~mqttsim.sim.scenario.Scenario` calls; both read a value
only through :meth:`Table.get` or :meth:`Table.need` with a check from here.

A check takes a value as TOML gives it and returns it checked and converted
(a link figure in the file's unit returned in SI, a profile setting as its
field's type), or raises :class:`Expected` with the words for what is
allowed. It fails closed, as the broker's settings file does: a value must
already have its key's type (``type()``, not ``isinstance()``: ``true`` is
not a whole number, ``"false"`` is not false); a whole number is accepted
where a number is. :class:`Table` makes a refusal the one
:class:`~mqttsim.protocol.errors.ConfigError` line that names the file, the
table (by name, or by its place in the file), the key and the ``--set`` that
gave it::

    scenario.toml: [[client]] "rtu": keep_alive_s = "60": expected a whole number

The key tables: ``SCENARIO_KEYS``, ``LINK_KEYS``, ``BROKER_KEYS``,
``CLIENT_KEYS`` and ``WILL_KEYS``; the profile and TCP settings from their
dataclasses' fields (``CLIENT_SETTINGS``, ``BROKER_SETTINGS``,
``TCP_SETTINGS``, each key with the check of its field's type); a traffic
kind's keys from its fields (:func:`traffic_keys`).
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from types import NoneType, UnionType
from typing import Any, Final

from mqttsim.protocol.broker_config import BrokerConfig
from mqttsim.protocol.errors import ConfigError
from mqttsim.protocol.session import SESSION_NEVER_EXPIRES

from .linkspec import LINK_FIGURES
from .profiles import BrokerProfile, ClientProfile
from .scenario import MQTT_VERSIONS
from .tcp_segment import TcpConfig
from .traffic import TRAFFIC_KINDS, Bursts, Replay, Traffic

__all__ = [
    "Check",
    "Expected",
    "Located",
    "Table",
    "BASE_KEYS",
    "BROKER_KEYS",
    "BROKER_SETTINGS",
    "CLIENT_KEYS",
    "CLIENT_SETTINGS",
    "LINK_KEYS",
    "SCENARIO_KEYS",
    "TCP_SETTINGS",
    "UNIT_FIGURES",
    "WILL_KEYS",
    "boolean",
    "expiry",
    "figure",
    "kind",
    "number",
    "or_false",
    "pair",
    "positive_whole",
    "qos",
    "range_words",
    "shown",
    "string",
    "table",
    "text",
    "traffic_keys",
    "typed",
    "unit_figure",
    "version",
    "whole",
]

SCENARIO_KEYS: Final = ("name", "duration_s", "hours", "drain_s", "seed", "qos", "mqtt_version")
LINK_KEYS: Final = (
    "name",
    "between",
    "preset",
    "description",
    "delay_ms",
    "jitter_ms",
    "jitter",
    "bandwidth_kbps",
    "uplink_kbps",
    "downlink_kbps",
    "queue_limit_bytes",
    "loss",
    "burst",
    "loss_model",
    "outages",
    "outage",
    "random_outages",
    "price_per_mb_usd",
    "price_per_message_usd",
    "price_year",
    "billed",
)
BROKER_KEYS: Final = ("name", "site", "profile", "port", "tcp")
CLIENT_KEYS: Final = (
    "name",
    "site",
    "broker",
    "profile",
    "keep_alive_s",
    "clean_start",
    "session_expiry_s",
    "subscribe",
    "will",
    "start_s",
    "tcp",
    "mqtt_version",
)
WILL_KEYS: Final = ("topic", "payload", "qos", "retain")
# A field of a traffic kind spelt differently in the file: a burst's own
# count would clash with the count that repeats a table.
_TRAFFIC_RENAMED: Final[dict[type[Traffic], dict[str, str]]] = {Bursts: {"count": "burst_size"}}
BASE_KEYS: Final = ("count",)  # besides a group's own keys, on the counted tables

# (file key, LinkSpec figure, the file's unit)
UNIT_FIGURES: Final = (
    ("delay_ms", "delay_s", "ms"),
    ("jitter_ms", "jitter_s", "ms"),
    ("bandwidth_kbps", "bandwidth_bps", "kbit/s"),
    ("uplink_kbps", "uplink_bps", "kbit/s"),
    ("downlink_kbps", "downlink_bps", "kbit/s"),
)


# --- one table of the file ----------------------------------------------------------------------


class Expected(Exception):
    """A value of the wrong type or out of range; its text says what is allowed."""


class Located(ConfigError):
    """A message that already names the file and the table."""


Check = Callable[[object], Any]


@dataclass(slots=True)
class Table:
    """One table of the document, with what a message needs to name it.

    Attributes:
        file: the file as the user named it.
        group: ``scenario``, ``link``, ...
        index: its place among its group's tables in the file, from 1.
        i: its repetition with ``count``, from 1 (None if not repeated).
        data: its keys and values.
        origins: key -> where a value given beside the file came from.
    """

    file: str
    group: str
    index: int
    i: int | None
    data: dict[str, Any]
    origins: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        name = self.data.get("name")
        if isinstance(name, str):
            return name
        between = self.data.get("between")
        if self.group == "link" and _is_pair(between):
            a, b = pair(between)
            return f"{a}-{b}"  # Scenario.link's default name
        return None

    @property
    def where(self) -> str:
        if self.group == "scenario":
            return "[scenario]"
        name = self.name
        label = f'"{name}"' if name is not None else f"#{self.index}"
        if self.i is not None and name is None:
            label += f" (i={self.i})"
        return f"[[{self.group}]] {label}"

    def error(self, message: str, key: str | None = None) -> ConfigError:
        """``"<file>: [[group]] "name": <message>"``, and the ``--set`` that gave ``key``."""
        origin = self.origins.get(key) if key is not None else None
        if key is None:  # a builder's message: it names its key
            words = set(re.findall(r"[A-Za-z_0-9]+", message))
            origin = next((o for k, o in self.origins.items() if k in words), None)
        suffix = f" (from {origin})" if origin else ""
        return Located(f"{self.file}: {self.where}: {message}{suffix}")

    def check_keys(self, allowed: Iterable[str]) -> None:
        names = list(allowed)
        for key in self.data:
            if key not in names:
                raise self.error(f'unknown key "{key}"; allowed: {", ".join(names)}', key)

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, check: Check, default: Any = None) -> Any:
        """The value of ``key`` checked (and converted) by ``check``; ``default`` if absent."""
        if key not in self.data:
            return default
        value = self.data[key]
        try:
            return check(value)
        except Expected as exc:
            raise self.error(f"{key} = {shown(value)}: expected {exc}", key) from None
        except Located:
            raise
        except ConfigError as exc:
            raise self.error(f"{key} = {shown(value)}: {exc}", key) from None

    def need(self, key: str, check: Check) -> Any:
        if key not in self.data:
            raise self.error(f"{key} is missing", key)
        return self.get(key, check)


def shown(value: object) -> str:
    """``value`` as TOML writes it, shortened for one line."""
    if type(value) is bool:
        text = "true" if value else "false"
    elif type(value) is str:
        text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif type(value) is list:
        text = "[" + ", ".join(shown(v) for v in value) + "]"
    elif type(value) is dict:
        text = "{" + ", ".join(f"{k} = {shown(v)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


# --- checks of one value ------------------------------------------------------------------------


def string(value: object) -> str:
    if type(value) is str and value:
        return value
    raise Expected("a non-empty string")


def text(value: object) -> str:
    if type(value) is str:
        return value
    raise Expected("a string")


def boolean(value: object) -> bool:
    if type(value) is bool:
        return value
    raise Expected("true or false")


def whole(value: object) -> int:
    # type() and not isinstance(): True is an int to Python, not to us.
    if type(value) is int:
        return value
    raise Expected("a whole number")


def number(value: object) -> float:
    real = _real(value)
    if real is not None and math.isfinite(real):
        return real
    raise Expected("a finite number")


def qos(value: object) -> int:
    if type(value) is int and value in (0, 1, 2):
        return value
    raise Expected("0, 1 or 2")


def version(value: object) -> str:
    # 5 as a number too: --set scenario.mqtt_version=5 reads as TOML's 5.
    text = str(value) if type(value) is int else value
    if type(text) is str and text in MQTT_VERSIONS:
        return text
    raise Expected(" or ".join(f'"{v}"' for v in MQTT_VERSIONS))


def or_false(check: Check, words: str) -> Check:
    """``check``, or ``false`` for None (TOML has no null)."""

    def checked(value: object) -> Any:
        if value is False:
            return None
        try:
            return check(value)
        except Expected:
            raise Expected(f"{words}, or false for none") from None

    return checked


def positive_whole(value: object) -> int:
    if type(value) is int and value > 0:
        return value
    raise Expected("a whole number of bytes > 0")


def expiry(value: object) -> int:
    if value == "never":
        return SESSION_NEVER_EXPIRES
    if type(value) is int:
        return value
    raise Expected('a whole number of seconds, or "never"')


def kind(value: object) -> str:
    if isinstance(value, str) and value in TRAFFIC_KINDS:
        return value
    raise Expected(f"one of {', '.join(TRAFFIC_KINDS)}")


def pair(value: object) -> tuple[str, str]:
    if _is_pair(value):
        assert isinstance(value, list)
        return value[0], value[1]
    raise Expected('two site names, e.g. ["station", "hub"]')


def _is_pair(value: object) -> bool:
    return type(value) is list and len(value) == 2 and all(type(v) is str and v for v in value)


def table(value: object) -> dict[str, Any]:
    if type(value) is dict:
        return value
    raise Expected("a table, {key = value, ...}")


def unit_figure(figure: str, unit: str) -> Check:
    """A link figure in the file's unit (ms, kbit/s): checked in its range, returned in SI."""
    allowed = LINK_FIGURES[figure]

    def checked(value: object) -> float:
        # Every range with a unit starts at 0 and has no upper end, so it
        # reads the same in ms as in s, in kbit/s as in bit/s.
        number = _real(value)
        if number is None or number not in allowed:
            raise Expected(range_words(figure))
        # 300 / 1000 is exactly the 0.3 a script would write; 300 * 1e-3 need not be.
        return number / 1000.0 if unit == "ms" else number * 1000.0

    return checked


def figure(figure: str) -> Check:
    allowed = LINK_FIGURES[figure]

    def checked(value: object) -> float:
        number = _real(value)
        if number is None or number not in allowed:
            raise Expected(range_words(figure))
        return number

    return checked


def range_words(figure: str) -> str:
    """``"a number in [0, 1]"``, ``"a finite number > 0"``: a figure's range as expected."""
    text = LINK_FIGURES[figure].text
    return f"a number {text}" if text.startswith("in ") else text


def _real(value: object) -> float | None:
    """``value`` as a float if it is a TOML integer or float, else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def typed(hint: Any) -> Check:
    """The check of a dataclass field of type ``hint`` (a profile setting, a TCP setting)."""
    if isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union:
        members = [h for h in typing.get_args(hint) if h is not NoneType]
        if len(members) == 1 and len(typing.get_args(hint)) == 2:
            inner = typed(members[0])
            return or_false(inner, _words(members[0]))
        return lambda value: value
    if hint is bool:
        return boolean
    if hint is int:
        return whole
    if hint is float:
        return number
    if hint is str:
        return text
    if isinstance(hint, type) and issubclass(hint, Enum):
        return _enum(hint)
    return lambda value: value


def _words(hint: Any) -> str:
    if isinstance(hint, type) and issubclass(hint, Enum):
        return "one of " + ", ".join(shown(m.value) for m in hint)
    return {bool: "true or false", int: "a whole number", float: "a finite number"}.get(
        hint, "a string"
    )


def _enum(kind: type[Enum]) -> Check:
    def checked(value: object) -> Enum:
        for member in kind:
            if type(member.value) is type(value) and member.value == value:
                return member
        raise Expected(_words(kind))

    return checked


def _fields(cls: type, skip: Iterable[str] = ()) -> dict[str, Check]:
    """Each field of dataclass ``cls`` (but ``skip``) -> the check of its type."""
    hints = typing.get_type_hints(cls)
    left_out = set(skip)
    return {f.name: typed(hints[f.name]) for f in dataclasses.fields(cls) if f.name not in left_out}


CLIENT_SETTINGS: Final = _fields(ClientProfile, ("name", "description", "sources"))
BROKER_SETTINGS: Final = {
    **_fields(BrokerProfile, ("name", "description", "sources", "config")),
    **_fields(BrokerConfig),
}
TCP_SETTINGS: Final = _fields(TcpConfig)


def traffic_keys(kind: str) -> dict[str, str]:
    """File key -> field of the traffic kind ``kind`` (a key of TRAFFIC_KINDS)."""
    cls = TRAFFIC_KINDS[kind]
    renamed = _TRAFFIC_RENAMED.get(cls, {})
    keys = {renamed.get(f.name, f.name): f.name for f in dataclasses.fields(cls)}
    if cls is Replay:
        keys["trace"] = "trace"  # a CSV file, read by Replay.of
    return keys
