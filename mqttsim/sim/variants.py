"""Variants of a scenario, by dotted keys: what sweeps, ``--set`` and ``with_values`` share.

A key names what to change:

* a scenario field: ``qos``, ``seed``, ``duration_s``, ``drain_s``,
  ``mqtt_version``, ``name``;
* ``link.FIELD`` (every link) or ``link.NAME.FIELD`` (one): ``preset`` (a
  preset's name: the link becomes that preset) or any keyword of
  :meth:`LinkSpec.with_overrides <mqttsim.sim.linkspec.LinkSpec.with_overrides>`
  (``loss_rate``, ``delay_s``, ``bandwidth_bps``, ...);
* ``client.FIELD`` / ``client.NAME.FIELD``: a field of
  :class:`~mqttsim.sim.scenario.ClientNode` (``profile``, ``keep_alive_s``,
  ``clean_start``...) or a setting of its profile (``max_inflight``,
  ``qos2_handover``, ``backoff_max_s``...);
* ``broker.FIELD`` / ``broker.NAME.FIELD``: ``profile``, ``port``, or a
  setting of the broker profile or its ``BrokerConfig``;
* ``traffic.FIELD`` (every traffic that has the field) or
  ``traffic.K.FIELD`` (the K-th, from 0): e.g. ``traffic.every_s``.

Every value goes through the same validation as when the scenario was
built, so a bad one is one line naming the key.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from mqttsim.protocol.errors import ConfigError

from .presets import get_preset
from .profiles import broker_profile, client_profile

if TYPE_CHECKING:  # pragma: no cover
    from .scenario import Scenario

__all__ = ["apply_values", "SCENARIO_KEYS"]

SCENARIO_KEYS = ("name", "duration_s", "drain_s", "seed", "qos", "mqtt_version")
_GROUPS = ("link", "client", "broker", "traffic")


def apply_values(scenario: Scenario, values: dict[str, Any]) -> Scenario:
    """A copy of ``scenario`` with every ``key: value`` applied, in order."""
    from .scenario import Scenario

    settings = {k: getattr(scenario, k) for k in SCENARIO_KEYS}
    links, brokers = list(scenario.links), list(scenario.brokers)
    clients, traffic = list(scenario.clients), list(scenario.traffic)
    for key, value in values.items():
        try:
            parts = key.split(".")
            if len(parts) == 1 and key in SCENARIO_KEYS:
                settings[key] = value
            elif parts[0] == "link" and len(parts) in (2, 3):
                links = _each(links, parts, _link, value)
            elif parts[0] == "client" and len(parts) in (2, 3):
                clients = _each(clients, parts, _client, value)
            elif parts[0] == "broker" and len(parts) in (2, 3):
                brokers = _each(brokers, parts, _broker, value)
            elif parts[0] == "traffic" and len(parts) in (2, 3):
                traffic = _traffic(traffic, parts, value)
            else:
                allowed = ", ".join([*SCENARIO_KEYS, *(f"{g}.FIELD" for g in _GROUPS)])
                raise ConfigError(f"unknown key; allowed: {allowed} (or GROUP.NAME.FIELD)")
        except ConfigError as exc:
            raise ConfigError(f"{key}={value!r}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{key}={value!r}: {exc}") from None
    return Scenario(**settings, links=links, brokers=brokers, clients=clients, traffic=traffic)


def _each(nodes: list[Any], parts: list[str], change: Any, value: Any) -> list[Any]:
    """``change(node, field, value)`` for every node (``group.FIELD``) or one
    (``group.NAME.FIELD``)."""
    if len(parts) == 2:
        if not nodes:
            raise ConfigError(f"the scenario has no {parts[0]}")
        return [change(node, parts[1], value) for node in nodes]
    name, what = parts[1], parts[2]
    names = [node.name for node in nodes]
    if name not in names:
        raise ConfigError(f"no {parts[0]} named {name!r}; names: {', '.join(names)}")
    return [change(node, what, value) if node.name == name else node for node in nodes]


def _link(node: Any, what: str, value: Any) -> Any:
    from .linkspec import overridden

    if what == "preset":
        return replace(node, spec=get_preset(str(value)))
    return replace(node, spec=overridden(node.spec, {what: value}))


def _client(node: Any, what: str, value: Any) -> Any:
    own = {f.name for f in fields(node)} - {"name", "settings", "broker", "site"}
    if what in own:
        if what == "profile":
            client_profile(str(value)).with_overrides(**dict(node.settings))
        return replace(node, **{what: value})
    settings = {**dict(node.settings), what: value}
    client_profile(node.profile).with_overrides(**settings)  # validates
    return replace(node, settings=tuple(settings.items()))


def _broker(node: Any, what: str, value: Any) -> Any:
    if what in ("profile", "port"):
        if what == "profile":
            broker_profile(str(value)).with_overrides(**dict(node.settings))
        return replace(node, **{what: value})
    settings = {**dict(node.settings), what: value}
    broker_profile(node.profile).with_overrides(**settings)  # validates
    return replace(node, settings=tuple(settings.items()))


def _traffic(traffic: list[Any], parts: list[str], value: Any) -> list[Any]:
    if len(parts) == 3:
        try:
            k = int(parts[1])
            traffic[k]
        except (ValueError, IndexError):
            raise ConfigError(f"traffic.K.FIELD needs K in 0..{len(traffic) - 1}") from None
        out = list(traffic)
        out[k] = replace(traffic[k], **{parts[2]: value})
        return out
    what = parts[1]
    hits = [what in {f.name for f in fields(t)} for t in traffic]
    if not any(hits):
        raise ConfigError(f"no traffic of this scenario has a field {what!r}")
    return [replace(t, **{what: value}) if hit else t for t, hit in zip(traffic, hits, strict=True)]
