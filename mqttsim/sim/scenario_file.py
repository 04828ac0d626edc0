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

This module reads the document (its tables, ``count``, the values beside
it); what each key takes is :mod:`.scenario_keys`, and the tables become
builder calls in :mod:`.scenario_build`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Final

from mqttsim.protocol.errors import ConfigError

from .scenario import Scenario
from .scenario_build import build
from .scenario_keys import Table, shown, traffic_keys, whole
from .traffic import TRAFFIC_KINDS

__all__ = ["GROUPS", "load_scenario", "parse_set"]

#: The tables of a scenario file: ``[scenario]`` once, the others as arrays ``[[link]]``.
GROUPS: Final = ("scenario", "link", "broker", "client", "traffic")
_COUNTED: Final = ("link", "client", "traffic")  # the tables that take count = N
_MAX_COUNT: Final = 100_000


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
                pairs.append((key, value, f"values {key}={shown(value)}"))
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
    return build(Path(file).parent, Path(file).stem, expanded)


def _tables(file: str, document: dict[str, Any]) -> dict[str, list[Table]]:
    """The document's tables by group; one line for an unknown or misshapen table."""
    tables: dict[str, list[Table]] = {group: [] for group in GROUPS}
    allowed = "[scenario], " + ", ".join(f"[[{g}]]" for g in GROUPS[1:])
    for key, value in document.items():
        if key not in GROUPS:
            hint = f"; did you mean [[{key[:-1]}]]?" if key[:-1] in GROUPS[1:] else ""
            raise ConfigError(f'{file}: unknown table or key "{key}"; allowed: {allowed}{hint}')
        if key == "scenario":
            if type(value) is not dict:
                raise ConfigError(f"{file}: scenario must be a table, [scenario]")
            tables[key].append(Table(file, key, 1, None, dict(value)))
            continue
        if type(value) is not list or not all(type(v) is dict for v in value):
            raise ConfigError(f"{file}: {key} must be an array of tables, [[{key}]]")
        tables[key] = [Table(file, key, k, None, dict(v)) for k, v in enumerate(value, 1)]
    if not tables["scenario"]:
        tables["scenario"].append(Table(file, "scenario", 1, None, {}))
    return tables


def _expand(table: Table) -> list[Table]:
    """``count = N``: N copies of the table with ``{i}`` replaced, 1 to N."""
    if "count" not in table.data:
        return [table]
    if table.group not in _COUNTED:
        # The key check names it with the keys allowed.
        return [table]
    count = table.get("count", whole)
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
                    f"{key} = {shown(value)}: a template with {{i}} only (write {{{{ and }}}}"
                    f" for braces): {detail}",
                    key,
                ) from None
        copies.append(Table(table.file, table.group, table.index, i, filled, dict(table.origins)))
    return copies


def _fill(value: Any, i: int) -> Any:
    if type(value) is str:
        return value.format(i=i)
    if type(value) is list:
        return [_fill(v, i) for v in value]
    if type(value) is dict:
        return {k: _fill(v, i) for k, v in value.items()}
    return value


def _set_all(tables: dict[str, list[Table]], one: _Set) -> None:
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


def _set_named(tables: dict[str, list[Table]], one: _Set) -> None:
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


def _put(table: Table, one: _Set) -> None:
    if table.group == "scenario":
        # One length or the other: a value for one replaces the file's other.
        other = {"duration_s": "hours", "hours": "duration_s"}.get(one.key)
        if other is not None:
            table.data.pop(other, None)
    table.data[one.key] = one.value
    table.origins[one.key] = one.origin


def _takes(table: Table, key: str) -> bool:
    kind = table.data.get("kind")
    if not isinstance(kind, str) or kind not in TRAFFIC_KINDS:
        return True  # building it will say what is wrong with the kind
    return key in traffic_keys(kind) or key in ("name", "kind", "client", "count")
