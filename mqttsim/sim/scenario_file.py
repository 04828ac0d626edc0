"""Scenarios written as TOML files: everything :class:`~mqttsim.sim.scenario.Scenario` offers.

A file is read with :func:`load_scenario` and becomes an ordinary
:class:`~mqttsim.sim.scenario.Scenario`, built with the same builder methods
a Python script calls, so a file and a script describing the same network
give the same seeded results. ``docs/scenarios.md`` describes every key;
``datasets/scenarios/`` holds examples. In short::

    [scenario]             # name, duration_s (or hours), drain_s, seed, qos, mqtt_version
    [[link]]               # between = ["station", "hub"], preset = "geo-vsat", overrides
    [[broker]]             # name, site, profile, port, tcp, profile settings
    [[client]]             # name, site, broker, profile, subscribe, will, ..., profile settings
    [[traffic]]            # client, kind = "periodic" | ..., and that kind's keys

Figures are in the units people quote them (``delay_ms``, ``uplink_kbps``);
everything else is in seconds, bytes and plain numbers. ``count = N`` on a
``[[link]]``, ``[[client]]`` or ``[[traffic]]`` table repeats it N times,
with ``{i}`` (1 to N; format specs allowed, ``"st-{i:02}"``) replaced in its
strings.

Values given beside the file (``mqttsim sim run --set KEY=VALUE``, or
``values=`` here) are dotted paths into the document, in the file's own
units: ``scenario.qos``, ``link.loss`` (every ``[[link]]``),
``link.NAME.delay_ms`` (the one named NAME), ``client.keep_alive_s``,
``broker.profile``, ``traffic.every_s`` (every ``[[traffic]]`` whose kind
has that key). They are written into the document before it is read, so
they are checked exactly as the file's own values are; keys for a whole
group are written before ``count`` is expanded (they may use ``{i}``), keys
for one name after it (names are the expanded ones, ``st-07``).

It fails closed, as the broker's settings file does
(:mod:`mqttsim.commands.settings`): a value must already have its key's
type (``clean_start = "false"`` is refused, not read as a yes); a whole
number is accepted where a number is. Every mistake is one
:class:`~mqttsim.protocol.errors.ConfigError` line naming the file, the
table (by name, or by its place in the file), the key, and what is allowed::

    scenario.toml: [[link]] "uplink": unknown key "delay"; allowed: name, between, ...
    scenario.toml: [[client]] "rtu": keep_alive_s = "60": expected a whole number
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from os import PathLike
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, Final

from mqttsim.protocol.broker_config import BrokerConfig
from mqttsim.protocol.enums import QoS
from mqttsim.protocol.errors import ConfigError, TopicFilterInvalid, TopicNameInvalid
from mqttsim.protocol.packets import Will
from mqttsim.protocol.session import SESSION_NEVER_EXPIRES
from mqttsim.protocol.topics import validate_topic_filter, validate_topic_name

from .linkspec import (
    KEEP,
    LINK_FIGURES,
    LinkSpec,
    LossSpec,
    Outage,
    check_jitter_model,
    check_outage_windows,
)
from .presets import get_preset
from .profiles import BrokerProfile, ClientProfile, broker_profile, client_profile
from .scenario import MQTT_VERSIONS, Scenario
from .tcp_segment import TcpConfig
from .traffic import TRAFFIC_KINDS, Bursts, Replay, Traffic

__all__ = ["GROUPS", "load_scenario", "parse_set"]

#: The tables of a scenario file: ``[scenario]`` once, the others as arrays ``[[link]]``.
GROUPS: Final = ("scenario", "link", "broker", "client", "traffic")
_COUNTED: Final = ("link", "client", "traffic")  # the tables that take count = N
_MAX_COUNT: Final = 100_000

_SCENARIO_KEYS: Final = ("name", "duration_s", "hours", "drain_s", "seed", "qos", "mqtt_version")
_LINK_KEYS: Final = (
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
_BROKER_KEYS: Final = ("name", "site", "profile", "port", "tcp")
_CLIENT_KEYS: Final = (
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
_WILL_KEYS: Final = ("topic", "payload", "qos", "retain")
# A field of a traffic kind spelt differently in the file: a burst's own
# count would clash with the count that repeats a table.
_TRAFFIC_RENAMED: Final[dict[type[Traffic], dict[str, str]]] = {Bursts: {"count": "burst_size"}}
_BASE_KEYS: Final = ("count",)  # besides a group's own keys, on the counted tables

# (file key, LinkSpec figure, the file's unit)
_UNIT_FIGURES: Final = (
    ("delay_ms", "delay_s", "ms"),
    ("jitter_ms", "jitter_s", "ms"),
    ("bandwidth_kbps", "bandwidth_bps", "kbit/s"),
    ("uplink_kbps", "uplink_bps", "kbit/s"),
    ("downlink_kbps", "downlink_bps", "kbit/s"),
)


# --- values beside the file: --set KEY=VALUE ----------------------------------------------------


def parse_set(text: str) -> tuple[str, Any]:
    """``"link.loss=0.05"`` -> ``("link.loss", 0.05)``: the text of ``--set KEY=VALUE``.

    VALUE is read as a TOML value when it is one (``2``, ``0.05``, ``true``,
    ``"text"``, ``[1, 2]``, ``{model = "bernoulli", loss_rate = 0.1}``) and
    taken as a string otherwise, so ``link.preset=bgan`` needs no quotes.

    Raises:
        ConfigError: no ``=``, or an empty key or key part (one line naming ``--set``).
    """
    key, equals, raw = text.partition("=")
    key = key.strip()
    if not equals or not key or any(not part for part in key.split(".")):
        raise ConfigError(
            f"--set {text!r}: expected KEY=VALUE with a dotted KEY, e.g. link.loss=0.05"
        )
    raw = raw.strip()
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


@dataclass(frozen=True, slots=True)
class _Set:
    """One value given beside the file, and how to name it in a message."""

    group: str
    name: str | None  # the table's name, for group.NAME.KEY
    key: str
    value: Any
    origin: str  # e.g. "--set link.loss=0.05"


def _sets(values: Sequence[str | tuple[str, Any]] | Mapping[str, Any]) -> list[_Set]:
    if isinstance(values, str):  # one KEY=VALUE, not a sequence of characters
        values = [values]
    if isinstance(values, Mapping):
        pairs = [(key, value, f"values[{key!r}]") for key, value in values.items()]
    else:
        pairs = []
        for item in values:
            if isinstance(item, str):
                key, value = parse_set(item)
                pairs.append((key, value, f"--set {item.strip()}"))
            else:
                key, value = item
                pairs.append((key, value, f"values {key}={_shown(value)}"))
    made = []
    for key, value, origin in pairs:
        parts = key.split(".")
        if any(not part for part in parts):
            raise ConfigError(f"{origin}: empty part in the key")
        group = parts[0]
        if group not in GROUPS:
            raise ConfigError(
                f'{origin}: unknown group "{group}"; allowed: {", ".join(GROUPS)}'
                " (as in scenario.qos, link.loss, link.NAME.delay_ms)"
            )
        if len(parts) < 2 or (group == "scenario" and len(parts) != 2):
            shape = "scenario.KEY" if group == "scenario" else f"{group}.KEY or {group}.NAME.KEY"
            raise ConfigError(f"{origin}: expected {shape}")
        name = ".".join(parts[1:-1]) if len(parts) > 2 else None
        made.append(_Set(group, name, parts[-1], value, origin))
    return made


# --- one table of the file ----------------------------------------------------------------------


class _Expected(Exception):
    """A value of the wrong type or out of range; its text says what is allowed."""


class _Located(ConfigError):
    """A message that already names the file and the table."""


@contextmanager
def _located(table: _Table, prefix: str = "", key: str | None = None) -> Iterator[None]:
    """Give a builder's one-line ConfigError the file and the table (and the key)."""
    try:
        yield
    except _Located:
        raise
    except ConfigError as exc:
        raise table.error(f"{prefix}{exc}", key) from None


Check = Callable[[object], Any]


@dataclass(slots=True)
class _Table:
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
            a, b = _pair(between)
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
        return _Located(f"{self.file}: {self.where}: {message}{suffix}")

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
        except _Expected as exc:
            raise self.error(f"{key} = {_shown(value)}: expected {exc}", key) from None
        except _Located:
            raise
        except ConfigError as exc:
            raise self.error(f"{key} = {_shown(value)}: {exc}", key) from None

    def need(self, key: str, check: Check) -> Any:
        if key not in self.data:
            raise self.error(f"{key} is missing", key)
        return self.get(key, check)


def _shown(value: object) -> str:
    """``value`` as TOML writes it, shortened for one line."""
    if type(value) is bool:
        text = "true" if value else "false"
    elif type(value) is str:
        text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif type(value) is list:
        text = "[" + ", ".join(_shown(v) for v in value) + "]"
    elif type(value) is dict:
        text = "{" + ", ".join(f"{k} = {_shown(v)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


# --- checks of one value ------------------------------------------------------------------------


def _string(value: object) -> str:
    if type(value) is str and value:
        return value
    raise _Expected("a non-empty string")


def _text(value: object) -> str:
    if type(value) is str:
        return value
    raise _Expected("a string")


def _bool(value: object) -> bool:
    if type(value) is bool:
        return value
    raise _Expected("true or false")


def _whole(value: object) -> int:
    # type() and not isinstance(): True is an int to Python, not to us.
    if type(value) is int:
        return value
    raise _Expected("a whole number")


def _number(value: object) -> float:
    number = _real(value)
    if number is not None and math.isfinite(number):
        return number
    raise _Expected("a finite number")


def _qos(value: object) -> int:
    if type(value) is int and value in (0, 1, 2):
        return value
    raise _Expected("0, 1 or 2")


def _version(value: object) -> str:
    # 5 as a number too: --set scenario.mqtt_version=5 reads as TOML's 5.
    text = str(value) if type(value) is int else value
    if type(text) is str and text in MQTT_VERSIONS:
        return text
    raise _Expected(" or ".join(f'"{v}"' for v in MQTT_VERSIONS))


def _or_false(check: Check, words: str) -> Check:
    """``check``, or ``false`` for None (TOML has no null)."""

    def checked(value: object) -> Any:
        if value is False:
            return None
        try:
            return check(value)
        except _Expected:
            raise _Expected(f"{words}, or false for none") from None

    return checked


def _pair(value: object) -> tuple[str, str]:
    if _is_pair(value):
        assert isinstance(value, list)
        return value[0], value[1]
    raise _Expected('two site names, e.g. ["station", "hub"]')


def _is_pair(value: object) -> bool:
    return type(value) is list and len(value) == 2 and all(type(v) is str and v for v in value)


def _table(value: object) -> dict[str, Any]:
    if type(value) is dict:
        return value
    raise _Expected("a table, {key = value, ...}")


def _unit_figure(figure: str, unit: str) -> Check:
    """A link figure in the file's unit (ms, kbit/s): checked in its range, returned in SI."""
    allowed = LINK_FIGURES[figure]

    def checked(value: object) -> float:
        # Every range with a unit starts at 0 and has no upper end, so it
        # reads the same in ms as in s, in kbit/s as in bit/s.
        number = _real(value)
        if number is None or number not in allowed:
            raise _Expected(_range_words(figure))
        # 300 / 1000 is exactly the 0.3 a script would write; 300 * 1e-3 need not be.
        return number / 1000.0 if unit == "ms" else number * 1000.0

    return checked


def _figure(figure: str) -> Check:
    allowed = LINK_FIGURES[figure]

    def checked(value: object) -> float:
        number = _real(value)
        if number is None or number not in allowed:
            raise _Expected(_range_words(figure))
        return number

    return checked


def _range_words(figure: str) -> str:
    """``"a number in [0, 1]"``, ``"a finite number > 0"``: a figure's range as expected."""
    text = LINK_FIGURES[figure].text
    return f"a number {text}" if text.startswith("in ") else text


def _real(value: object) -> float | None:
    """``value`` as a float if it is a TOML integer or float, else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _typed(hint: Any) -> Check:
    """The check of a dataclass field of type ``hint`` (a profile setting, a TCP setting)."""
    if isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union:
        members = [h for h in typing.get_args(hint) if h is not NoneType]
        if len(members) == 1 and len(typing.get_args(hint)) == 2:
            inner = _typed(members[0])
            return _or_false(inner, _words(members[0]))
        return lambda value: value
    if hint is bool:
        return _bool
    if hint is int:
        return _whole
    if hint is float:
        return _number
    if hint is str:
        return _text
    if isinstance(hint, type) and issubclass(hint, Enum):
        return _enum(hint)
    return lambda value: value


def _words(hint: Any) -> str:
    if isinstance(hint, type) and issubclass(hint, Enum):
        return "one of " + ", ".join(_shown(m.value) for m in hint)
    return {bool: "true or false", int: "a whole number", float: "a finite number"}.get(
        hint, "a string"
    )


def _enum(kind: type[Enum]) -> Check:
    def checked(value: object) -> Enum:
        for member in kind:
            if type(member.value) is type(value) and member.value == value:
                return member
        raise _Expected(_words(kind))

    return checked


def _fields(cls: type, skip: Iterable[str] = ()) -> dict[str, Check]:
    """Each field of dataclass ``cls`` (but ``skip``) -> the check of its type."""
    hints = typing.get_type_hints(cls)
    left_out = set(skip)
    return {
        f.name: _typed(hints[f.name]) for f in dataclasses.fields(cls) if f.name not in left_out
    }


_CLIENT_SETTINGS: Final = _fields(ClientProfile, ("name", "description", "sources"))
_BROKER_SETTINGS: Final = {
    **_fields(BrokerProfile, ("name", "description", "sources", "config")),
    **_fields(BrokerConfig),
}
_TCP_SETTINGS: Final = _fields(TcpConfig)


def _traffic_keys(kind: str) -> dict[str, str]:
    """File key -> field of the traffic kind ``kind`` (a key of TRAFFIC_KINDS)."""
    cls = TRAFFIC_KINDS[kind]
    renamed = _TRAFFIC_RENAMED.get(cls, {})
    keys = {renamed.get(f.name, f.name): f.name for f in dataclasses.fields(cls)}
    if cls is Replay:
        keys["trace"] = "trace"  # a CSV file, read by Replay.of
    return keys


# --- the document -------------------------------------------------------------------------------


def load_scenario(
    path: str | PathLike[str],
    *,
    values: Sequence[str | tuple[str, Any]] | Mapping[str, Any] = (),
) -> Scenario:
    """Read a TOML scenario file (see the module docstring and ``docs/scenarios.md``).

    Args:
        path: the file. A ``[[traffic]]`` replay's ``trace`` is relative to it.
        values: values set beside the file: ``"KEY=VALUE"`` texts as
            ``--set`` takes them (see :func:`parse_set`), ``(key, value)``
            pairs, or a mapping ``{key: value}``; applied in order.

    Returns:
        The scenario, ready to :meth:`~mqttsim.sim.scenario.Scenario.run`.

    Raises:
        ConfigError: one line naming the file, the table and the key (or
            the ``--set`` value) and what is allowed.
    """
    file = os.fspath(path)
    try:
        with open(file, "rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"scenario file not found: {file}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {file}: {exc}") from None
    tables = _tables(file, document)
    sets = _sets(values)
    for one in sets:
        if one.name is None:
            _set_all(tables, one)
    expanded = {group: [t for raw in tables[group] for t in _expand(raw)] for group in GROUPS}
    for one in sets:
        if one.name is not None:
            _set_named(expanded, one)
    return _build(Path(file).parent, Path(file).stem, expanded)


def _tables(file: str, document: dict[str, Any]) -> dict[str, list[_Table]]:
    """The document's tables by group; one line for an unknown or misshapen table."""
    tables: dict[str, list[_Table]] = {group: [] for group in GROUPS}
    allowed = "[scenario], " + ", ".join(f"[[{g}]]" for g in GROUPS[1:])
    for key, value in document.items():
        if key not in GROUPS:
            hint = f"; did you mean [[{key[:-1]}]]?" if key[:-1] in GROUPS[1:] else ""
            raise ConfigError(f'{file}: unknown table or key "{key}"; allowed: {allowed}{hint}')
        if key == "scenario":
            if type(value) is not dict:
                raise ConfigError(f"{file}: scenario must be a table, [scenario]")
            tables[key].append(_Table(file, key, 1, None, dict(value)))
            continue
        if type(value) is not list or not all(type(v) is dict for v in value):
            raise ConfigError(f"{file}: {key} must be an array of tables, [[{key}]]")
        tables[key] = [_Table(file, key, k, None, dict(v)) for k, v in enumerate(value, 1)]
    if not tables["scenario"]:
        tables["scenario"].append(_Table(file, "scenario", 1, None, {}))
    return tables


def _expand(table: _Table) -> list[_Table]:
    """``count = N``: N copies of the table with ``{i}`` replaced, 1 to N."""
    if "count" not in table.data:
        return [table]
    if table.group not in _COUNTED:
        # The key check names it with the keys allowed.
        return [table]
    count = table.get("count", _whole)
    if not 1 <= count <= _MAX_COUNT:
        raise table.error(
            f"count = {count}: expected a whole number from 1 to {_MAX_COUNT}", "count"
        )
    data = {k: v for k, v in table.data.items() if k != "count"}
    copies = []
    for i in range(1, count + 1):
        filled: dict[str, Any] = {}
        for key, value in data.items():
            try:
                filled[key] = _fill(value, i)
            except (KeyError, IndexError, ValueError) as exc:
                detail = f"unknown field {exc}" if isinstance(exc, KeyError) else str(exc)
                raise table.error(
                    f"{key} = {_shown(value)}: a template with {{i}} only (write {{{{ and }}}}"
                    f" for braces): {detail}",
                    key,
                ) from None
        copies.append(_Table(table.file, table.group, table.index, i, filled, dict(table.origins)))
    return copies


def _fill(value: Any, i: int) -> Any:
    if type(value) is str:
        return value.format(i=i)
    if type(value) is list:
        return [_fill(v, i) for v in value]
    if type(value) is dict:
        return {k: _fill(v, i) for k, v in value.items()}
    return value


def _set_all(tables: dict[str, list[_Table]], one: _Set) -> None:
    """A value for every table of a group (before ``count`` is expanded)."""
    targets = tables[one.group]
    if one.group == "traffic":
        targets = [t for t in targets if _takes(t, one.key)]
        if not targets:
            raise ConfigError(f'{one.origin}: no [[traffic]] has a key "{one.key}"')
    elif not targets:
        raise ConfigError(f"{one.origin}: the file has no [[{one.group}]]")
    for table in targets:
        _put(table, one)


def _set_named(tables: dict[str, list[_Table]], one: _Set) -> None:
    """A value for the table named ``one.name`` (after ``count`` is expanded)."""
    if one.group == "scenario":  # pragma: no cover - _sets refuses scenario.NAME.KEY
        raise ConfigError(f"{one.origin}: expected scenario.KEY")
    if one.key == "count":
        raise ConfigError(
            f"{one.origin}: count repeats a table before names exist; set {one.group}.count"
        )
    named = [t for t in tables[one.group] if t.name == one.name]
    if not named:
        names = ", ".join(dict.fromkeys(t.name for t in tables[one.group] if t.name)) or "none"
        raise ConfigError(f'{one.origin}: no [[{one.group}]] named "{one.name}"; names: {names}')
    for table in named:
        _put(table, one)


def _put(table: _Table, one: _Set) -> None:
    if table.group == "scenario":
        # One length or the other: a value for one replaces the file's other.
        other = {"duration_s": "hours", "hours": "duration_s"}.get(one.key)
        if other is not None:
            table.data.pop(other, None)
    table.data[one.key] = one.value
    table.origins[one.key] = one.origin


def _takes(table: _Table, key: str) -> bool:
    kind = table.data.get("kind")
    if not isinstance(kind, str) or kind not in TRAFFIC_KINDS:
        return True  # building it will say what is wrong with the kind
    return key in _traffic_keys(kind) or key in ("name", "kind", "client", "count")


# --- building the Scenario ----------------------------------------------------------------------


def _build(folder: Path, stem: str, tables: dict[str, list[_Table]]) -> Scenario:
    (head,) = tables["scenario"]
    net = _scenario(head, stem)
    for table in tables["link"]:
        _link(net, table)
    for table in tables["broker"]:
        _broker(net, table)
    for table in tables["client"]:
        _client(net, table)
    for table in tables["traffic"]:
        _traffic(net, table, folder)
    return net


def _scenario(table: _Table, stem: str) -> Scenario:
    table.check_keys(_SCENARIO_KEYS)
    if table.has("duration_s") and table.has("hours"):
        raise table.error("give duration_s or hours, not both", "hours")
    settings: dict[str, Any] = {"name": table.get("name", _string, stem)}
    if table.has("hours"):
        settings["duration_s"] = table.get("hours", _number) * 3600.0
    for key, check in (
        ("duration_s", _number),
        ("drain_s", _number),
        ("seed", _whole),
        ("qos", _qos),
        ("mqtt_version", _version),
    ):
        if table.has(key):
            settings[key] = table.get(key, check)
    with _located(table):
        return Scenario(**settings)


def _link(net: Scenario, table: _Table) -> None:
    table.check_keys((*_LINK_KEYS, *_BASE_KEYS))
    a, b = table.need("between", _pair)
    name = table.get("name", _string, f"{a}-{b}")
    figures = _link_figures(table)
    with _located(table):
        if table.has("preset"):
            spec = _on_preset(table, table.get("preset", _preset), figures)
        else:
            spec = _new_link(table, name, figures)
        net.link(a, b, spec, name=name, billed=table.get("billed", _bool, True))


def _preset(value: object) -> LinkSpec:
    return get_preset(_string(value))


def _link_figures(table: _Table) -> dict[str, Any]:
    """The table's link figures in SI units, by LinkSpec field (and ``loss_rate``,
    ``mean_burst_len`` for a per-packet loss); None where the file says false."""
    figures: dict[str, Any] = {}
    for key, figure, unit in _UNIT_FIGURES:
        if table.has(key):
            check = _unit_figure(figure, unit)
            if key.endswith("_kbps"):
                check = _or_false(check, _range_words(figure))
            figures[figure] = table.get(key, check)
    both = figures.pop("bandwidth_bps", KEEP)
    for direction in ("uplink_bps", "downlink_bps"):
        if both is not KEEP:
            figures.setdefault(direction, both)
    if table.has("jitter"):
        figures["jitter"] = table.get("jitter", lambda v: check_jitter_model(_string(v)))
    if table.has("queue_limit_bytes"):
        figures["queue_limit_bytes"] = table.get(
            "queue_limit_bytes", _or_false(_positive_whole, "a whole number of bytes > 0")
        )
    if table.has("outages"):
        figures["outages"] = table.get("outages", _windows)
    random_outages = table.get("random_outages", _bool, True)
    if table.has("outage"):
        if not random_outages:
            raise table.error(
                "outage gives random outages and random_outages = false removes them", "outage"
            )
        figures["outage"] = table.get("outage", _outage)
    elif not random_outages:
        figures["outage"] = None
    if table.has("loss_model"):
        if table.has("loss") or table.has("burst"):
            raise table.error("give loss_model, or loss and burst, not both", "loss_model")
        figures["loss"] = table.get("loss_model", _loss_model)
    for key, figure in (("loss", "loss_rate"), ("burst", "mean_burst_len")):
        if table.has(key):
            figures[figure] = table.get(key, _figure(figure))
    for key, check in (
        ("price_per_mb_usd", _figure("price_per_mb_usd")),
        ("price_per_message_usd", _or_false(_figure("price_per_message_usd"), ">= 0")),
        ("price_year", _whole),
        ("description", _text),
    ):
        if table.has(key):
            figures[key] = table.get(key, check)
    return figures


# The figures LinkSpec.with_overrides takes (a bandwidth only as a number).
_OVERRIDES: Final = (
    "delay_s",
    "jitter_s",
    "jitter",
    "queue_limit_bytes",
    "outages",
    "outage",
    "loss",
    "loss_rate",
    "mean_burst_len",
)


def _on_preset(table: _Table, spec: LinkSpec, figures: dict[str, Any]) -> LinkSpec:
    """A preset with the table's figures in place of its own."""
    if ("loss_rate" in figures or "mean_burst_len" in figures) and (
        spec.loss.per_packet_figures is None
    ):
        key = "loss" if table.has("loss") else "burst"
        raise table.error(
            f"the preset's loss is {spec.loss.model}, not a rate and a burst length;"
            " give loss_model = {model = ..., ...} instead",
            key,
        )
    overrides = {k: v for k, v in figures.items() if k in _OVERRIDES}
    rest = {k: v for k, v in figures.items() if k not in _OVERRIDES}
    for direction in ("uplink_bps", "downlink_bps"):
        if direction in rest and rest[direction] is not None:
            overrides[direction] = rest.pop(direction)
    spec = spec.with_overrides(**overrides)
    if not rest:
        return spec
    # What with_overrides does not take: no bandwidth limit, prices, the description.
    sources = dict(spec.sources)
    for key, value in rest.items():
        if key != "description":
            shown = "none" if value is None else f"{value:g}"
            sources[key] = f"[scenario file] set to {shown} by {table.file}"
    return dataclasses.replace(spec, sources=sources, **rest)


def _new_link(table: _Table, name: str, figures: dict[str, Any]) -> LinkSpec:
    """A link without a preset: its delay and bandwidths must be given, the rest defaults."""
    if "delay_s" not in figures:
        raise table.error("delay_ms is missing (a link without a preset gives its figures)")
    if "uplink_bps" not in figures or "downlink_bps" not in figures:
        raise table.error(
            "bandwidth_kbps, or uplink_kbps and downlink_kbps, are missing (a link without"
            " a preset gives its figures; false for no limit)"
        )
    if "loss" not in figures:
        figures["loss"] = LossSpec.per_packet(
            figures.pop("loss_rate", 0.0), figures.pop("mean_burst_len", 1.0)
        )
    source = f"[scenario file] {table.file}"
    sources = {key: source for key in figures if key not in ("description", "loss")}
    sources.update({key: source for key, _ in figures["loss"].params})
    return LinkSpec(name=name, sources=sources, **figures)


def _positive_whole(value: object) -> int:
    if type(value) is int and value > 0:
        return value
    raise _Expected("a whole number of bytes > 0")


def _windows(value: object) -> tuple[tuple[float, float], ...]:
    if type(value) is not list or not all(type(w) is list and len(w) == 2 for w in value):
        raise _Expected("a list of [start_s, duration_s] pairs")
    return check_outage_windows([(w[0], w[1]) for w in value])


def _outage(value: object) -> Outage:
    data = _table(value)
    unknown = sorted(set(data) - {"mean_up_s", "mean_down_s"})
    if unknown or len(data) != 2:
        raise _Expected("{mean_up_s = ..., mean_down_s = ...}")
    return Outage(mean_up_s=data["mean_up_s"], mean_down_s=data["mean_down_s"])


def _loss_model(value: object) -> LossSpec:
    data = dict(_table(value))
    model = data.pop("model", None)
    if type(model) is not str:
        raise _Expected('a table with a model, e.g. {model = "bernoulli", loss_rate = 0.01}')
    for key, number in data.items():
        if type(number) not in (int, float):
            raise ConfigError(f"{key} = {_shown(number)}: expected a number")
    return LossSpec.of(model, **data)


def _profile_settings(table: _Table, checks: Mapping[str, Check]) -> dict[str, Any]:
    return {key: table.get(key, check) for key, check in checks.items() if table.has(key)}


def _tcp(table: _Table, base: TcpConfig, settings: Mapping[str, Any]) -> TcpConfig | None:
    """The ``tcp`` table over the profile's TCP settings, or None without one."""
    if not table.has("tcp"):
        return None
    data = table.get("tcp", _table)
    for key in data:
        if key not in _TCP_SETTINGS:
            raise table.error(
                f'tcp: unknown key "{key}"; allowed: {", ".join(_TCP_SETTINGS)}', "tcp"
            )
    if "nagle" in data and "tcp_nodelay" in settings:
        raise table.error("give tcp_nodelay or tcp.nagle, not both", "tcp")
    changes = {}
    for key, value in data.items():
        try:
            changes[key] = _TCP_SETTINGS[key](value)
        except _Expected as exc:
            raise table.error(f"tcp.{key} = {_shown(value)}: expected {exc}", "tcp") from None
    with _located(table, "tcp: ", "tcp"):
        return dataclasses.replace(base, **changes)


def _broker(net: Scenario, table: _Table) -> None:
    table.check_keys((*_BROKER_KEYS, *_BROKER_SETTINGS))
    name = table.need("name", _string)
    site = table.need("site", _string)
    profile = table.get("profile", lambda v: broker_profile(_string(v)).name, "mqttsim")
    settings = _profile_settings(table, _BROKER_SETTINGS)
    with _located(table):
        base = broker_profile(profile).with_overrides(**settings)
    tcp = _tcp(table, base.tcp_config(), settings)
    port = table.get("port", _whole, 1883)
    with _located(table):
        net.broker(name, site=site, profile=profile, port=port, tcp=tcp, **settings)


def _client(net: Scenario, table: _Table) -> None:
    table.check_keys((*_CLIENT_KEYS, *_CLIENT_SETTINGS, *_BASE_KEYS))
    name = table.need("name", _string)
    site = table.need("site", _string)
    profile = table.get("profile", lambda v: client_profile(_string(v)).name, "mqttsim")
    settings = _profile_settings(table, _CLIENT_SETTINGS)
    with _located(table):
        base = client_profile(profile).with_overrides(**settings)
    options: dict[str, Any] = {}
    for key, check in (
        ("broker", _string),
        ("keep_alive_s", _whole),
        ("clean_start", _bool),
        ("session_expiry_s", _expiry),
        ("start_s", _number),
        ("mqtt_version", _version),
    ):
        if table.has(key):
            options[key] = table.get(key, check)
    if table.has("subscribe"):
        options["subscribe"] = table.get("subscribe", _subscriptions)
    if table.has("will"):
        options["will"] = table.get("will", lambda v: _will(v, net.qos))
    with _located(table):
        node = net.client(
            name,
            site=site,
            profile=profile,
            tcp=_tcp(table, base.tcp_config(), settings),
            **options,
            **settings,
        )
    # The world would say so only when run; the file's reader says so now.
    home = next(b.site for b in net.brokers if b.name == node.broker)
    if site != home and not any({link.a, link.b} == {site, home} for link in net.links):
        key = "site" if "site" in table.origins or not table.has("broker") else "broker"
        raise table.error(
            f'no [[link]] joins site "{site}" to site "{home}" of broker "{node.broker}";'
            " a client reaches its broker over one link, or over loopback on the broker's site",
            key,
        )


def _expiry(value: object) -> int:
    if value == "never":
        return SESSION_NEVER_EXPIRES
    if type(value) is int:
        return value
    raise _Expected('a whole number of seconds, or "never"')


def _subscriptions(value: object) -> list[tuple[str, int]]:
    """``["a/#"]`` (QoS 2 each) or ``[{filter = "a/#", qos = 1}]``, or one filter."""
    items = [value] if type(value) is str else value
    words = '"filter", a list of them, or [{filter = "...", qos = 0|1|2}, ...]'
    if type(items) is not list:
        raise _Expected(words)
    pairs = []
    for item in items:
        if type(item) is str and item:
            pairs.append((_filter(item), 2))  # each message then arrives at the QoS it was sent at
        elif type(item) is dict and set(item) <= {"filter", "qos"} and "filter" in item:
            if type(item["filter"]) is not str or item.get("qos", 2) not in (0, 1, 2):
                raise _Expected(words)
            qos = item.get("qos", 2)
            if type(qos) is not int:
                raise _Expected(words)
            pairs.append((_filter(item["filter"]), qos))
        else:
            raise _Expected(words)
    return pairs


def _filter(text: str) -> str:
    try:
        validate_topic_filter(text)
    except TopicFilterInvalid as exc:
        raise ConfigError(exc.detail) from None
    return text


def _will(value: object, default_qos: int) -> Will:
    data = _table(value)
    unknown = [k for k in data if k not in _WILL_KEYS]
    if unknown or "topic" not in data:
        raise _Expected(
            '{topic = "...", payload = "...", qos = 0|1|2, retain = true|false}'
            " (topic required; qos defaults to the scenario's)"
        )
    try:
        topic = _string(data["topic"])
        payload = _text(data.get("payload", ""))
        qos = _qos(data.get("qos", default_qos))
        retain = _bool(data.get("retain", False))
    except _Expected as exc:
        raise _Expected(f"{exc} in the will") from None
    try:
        validate_topic_name(topic)
    except TopicNameInvalid as exc:
        raise ConfigError(f"will topic: {exc.detail}") from None
    return Will(topic=topic, payload=payload.encode(), qos=QoS(qos), retain=retain)


def _traffic(net: Scenario, table: _Table, folder: Path) -> None:
    kind = table.need("kind", _kind)
    keys = _traffic_keys(kind)
    own = [k for k in keys if k not in ("client", "rows", "trace")]
    if kind == "replay":
        own = ["trace", "rows", *own]
    table.check_keys(("name", "kind", "client", *own, *_BASE_KEYS))
    cls = TRAFFIC_KINDS[kind]
    hints = typing.get_type_hints(cls)
    client = table.get("client", _string)
    if kind == "process":
        function = table.need("function", _string)
        options = table.get("options", _table, {})
        with _located(table, f"function = {_shown(function)}: ", "function"):
            net.process(function, client=client, **options)
        return
    if client is None:
        raise table.error(f"client is missing (a {kind} traffic publishes for a client)", "client")
    values: dict[str, Any] = {}
    for key, name in keys.items():
        if name in ("client", "rows", "values", "trace") or not table.has(key):
            continue
        values[name] = table.get(key, _typed(hints[name]))
    if "values" in keys and table.has("values"):
        values["values"] = table.get("values", _value_trace)
    with _located(table):
        if kind == "replay":
            net.add(_replay(table, client, folder, values))
        else:
            if not table.has("topic"):
                raise table.error("topic is missing", "topic")
            net.add(cls(client=client, **values))


def _replay(table: _Table, client: str, folder: Path, values: dict[str, Any]) -> Replay:
    if table.has("trace") == table.has("rows"):
        raise table.error("give trace (a CSV file) or rows, one of them", "trace")
    if table.has("trace"):
        trace = folder / table.get("trace", _string)
        with _located(table, f"trace = {_shown(table.data['trace'])}: ", "trace"):
            return Replay.of(client, trace, **values)
    return Replay.of(client, table.get("rows", _rows), **values)


def _rows(value: object) -> list[tuple[float, str, int]]:
    words = 'a list of [time_s, "topic", payload_bytes]'
    if type(value) is not list:
        raise _Expected(words)
    rows = []
    for row in value:
        if (
            type(row) is not list
            or len(row) != 3
            or type(row[0]) not in (int, float)
            or type(row[1]) is not str
            or type(row[2]) is not int
        ):
            raise _Expected(words)
        rows.append((float(row[0]), row[1], row[2]))
    return rows


def _value_trace(value: object) -> tuple[tuple[float, float], ...]:
    words = "a list of [time_s, value] pairs"
    if type(value) is not list:
        raise _Expected(words)
    for pair in value:
        if (
            type(pair) is not list
            or len(pair) != 2
            or not all(type(x) in (int, float) and math.isfinite(x) for x in pair)
        ):
            raise _Expected(words)
    return tuple(sorted((float(t), float(v)) for t, v in value))


def _kind(value: object) -> str:
    if isinstance(value, str) and value in TRAFFIC_KINDS:
        return value
    raise _Expected(f"one of {', '.join(TRAFFIC_KINDS)}")
