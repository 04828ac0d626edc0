"""The checked tables of a scenario file made into :class:`~mqttsim.sim.scenario.Scenario` calls.

:func:`build` takes the document's tables as :mod:`.scenario_file` leaves
them (``count`` expanded, the ``--set`` values in place) and calls the
builder methods a Python script would: the scenario from ``[scenario]``,
then its links, brokers, clients and traffic, in that order, so that a name
is defined before a table uses it. Each value is read through its key's
check (:mod:`.scenario_keys`); what this module adds is what the keys mean
together: a link's figures over its preset or on their own, a broker's or
client's profile settings and ``tcp`` table over its profile, a will and
subscriptions, a traffic kind's fields or a replay's trace. What a builder
method refuses is given the file and the table, as every message of the
file is.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from mqttsim.protocol.enums import QoS
from mqttsim.protocol.errors import ConfigError, TopicFilterInvalid, TopicNameInvalid
from mqttsim.protocol.packets import Will
from mqttsim.protocol.topics import validate_topic_filter, validate_topic_name

from . import scenario_keys as keys
from .linkspec import KEEP, LinkSpec, LossSpec, Outage, check_jitter_model, check_outage_windows
from .presets import get_preset
from .profiles import broker_profile, client_profile
from .scenario import Scenario
from .scenario_keys import Check, Expected, Located, Table, shown
from .tcp_segment import TcpConfig
from .traffic import TRAFFIC_KINDS, Replay

__all__ = ["build"]


@contextmanager
def _located(table: Table, prefix: str = "", key: str | None = None) -> Iterator[None]:
    """Give a builder's one-line ConfigError the file and the table (and the key)."""
    try:
        yield
    except Located:
        raise
    except ConfigError as exc:
        raise table.error(f"{prefix}{exc}", key) from None


def build(folder: Path, stem: str, tables: dict[str, list[Table]]) -> Scenario:
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


def _scenario(table: Table, stem: str) -> Scenario:
    table.check_keys(keys.SCENARIO_KEYS)
    if table.has("duration_s") and table.has("hours"):
        raise table.error("give duration_s or hours, not both", "hours")
    settings: dict[str, Any] = {"name": table.get("name", keys.string, stem)}
    if table.has("hours"):
        settings["duration_s"] = table.get("hours", keys.number) * 3600.0
    for key, check in (
        ("duration_s", keys.number),
        ("drain_s", keys.number),
        ("seed", keys.whole),
        ("qos", keys.qos),
        ("mqtt_version", keys.version),
    ):
        if table.has(key):
            settings[key] = table.get(key, check)
    with _located(table):
        return Scenario(**settings)


def _link(net: Scenario, table: Table) -> None:
    table.check_keys((*keys.LINK_KEYS, *keys.BASE_KEYS))
    a, b = table.need("between", keys.pair)
    name = table.get("name", keys.string, f"{a}-{b}")
    figures = _link_figures(table)
    with _located(table):
        if table.has("preset"):
            spec = _on_preset(table, table.get("preset", _preset), figures)
        else:
            spec = _new_link(table, name, figures)
        net.link(a, b, spec, name=name, billed=table.get("billed", keys.boolean, True))


def _preset(value: object) -> LinkSpec:
    return get_preset(keys.string(value))


def _link_figures(table: Table) -> dict[str, Any]:
    """The table's link figures in SI units, by LinkSpec field (and ``loss_rate``,
    ``mean_burst_len`` for a per-packet loss); None where the file says false."""
    figures: dict[str, Any] = {}
    for key, figure, unit in keys.UNIT_FIGURES:
        if table.has(key):
            check = keys.unit_figure(figure, unit)
            if key.endswith("_kbps"):
                check = keys.or_false(check, keys.range_words(figure))
            figures[figure] = table.get(key, check)
    both = figures.pop("bandwidth_bps", KEEP)
    for direction in ("uplink_bps", "downlink_bps"):
        if both is not KEEP:
            figures.setdefault(direction, both)
    if table.has("jitter"):
        figures["jitter"] = table.get("jitter", lambda v: check_jitter_model(keys.string(v)))
    if table.has("queue_limit_bytes"):
        figures["queue_limit_bytes"] = table.get(
            "queue_limit_bytes", keys.or_false(keys.positive_whole, "a whole number of bytes > 0")
        )
    if table.has("outages"):
        figures["outages"] = table.get("outages", _windows)
    random_outages = table.get("random_outages", keys.boolean, True)
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
            figures[figure] = table.get(key, keys.figure(figure))
    for key, check in (
        ("price_per_mb_usd", keys.figure("price_per_mb_usd")),
        ("price_per_message_usd", keys.or_false(keys.figure("price_per_message_usd"), ">= 0")),
        ("price_year", keys.whole),
        ("description", keys.text),
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


def _on_preset(table: Table, spec: LinkSpec, figures: dict[str, Any]) -> LinkSpec:
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
            text = "none" if value is None else f"{value:g}"
            sources[key] = f"[scenario file] set to {text} by {table.file}"
    return dataclasses.replace(spec, sources=sources, **rest)


def _new_link(table: Table, name: str, figures: dict[str, Any]) -> LinkSpec:
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


def _windows(value: object) -> tuple[tuple[float, float], ...]:
    if type(value) is not list or not all(type(w) is list and len(w) == 2 for w in value):
        raise Expected("a list of [start_s, duration_s] pairs")
    return check_outage_windows([(w[0], w[1]) for w in value])


def _outage(value: object) -> Outage:
    data = keys.table(value)
    unknown = sorted(set(data) - {"mean_up_s", "mean_down_s"})
    if unknown or len(data) != 2:
        raise Expected("{mean_up_s = ..., mean_down_s = ...}")
    return Outage(mean_up_s=data["mean_up_s"], mean_down_s=data["mean_down_s"])


def _loss_model(value: object) -> LossSpec:
    data = dict(keys.table(value))
    model = data.pop("model", None)
    if type(model) is not str:
        raise Expected('a table with a model, e.g. {model = "bernoulli", loss_rate = 0.01}')
    for key, number in data.items():
        if type(number) not in (int, float):
            raise ConfigError(f"{key} = {shown(number)}: expected a number")
    return LossSpec.of(model, **data)


def _profile_settings(table: Table, checks: Mapping[str, Check]) -> dict[str, Any]:
    return {key: table.get(key, check) for key, check in checks.items() if table.has(key)}


def _tcp(table: Table, base: TcpConfig, settings: Mapping[str, Any]) -> TcpConfig | None:
    """The ``tcp`` table over the profile's TCP settings, or None without one."""
    if not table.has("tcp"):
        return None
    data = table.get("tcp", keys.table)
    for key in data:
        if key not in keys.TCP_SETTINGS:
            raise table.error(
                f'tcp: unknown key "{key}"; allowed: {", ".join(keys.TCP_SETTINGS)}', "tcp"
            )
    if "nagle" in data and "tcp_nodelay" in settings:
        raise table.error("give tcp_nodelay or tcp.nagle, not both", "tcp")
    changes = {}
    for key, value in data.items():
        try:
            changes[key] = keys.TCP_SETTINGS[key](value)
        except Expected as exc:
            raise table.error(f"tcp.{key} = {shown(value)}: expected {exc}", "tcp") from None
    with _located(table, "tcp: ", "tcp"):
        return dataclasses.replace(base, **changes)


def _broker(net: Scenario, table: Table) -> None:
    table.check_keys((*keys.BROKER_KEYS, *keys.BROKER_SETTINGS))
    name = table.need("name", keys.string)
    site = table.need("site", keys.string)
    profile = table.get("profile", lambda v: broker_profile(keys.string(v)).name, "mqttsim")
    settings = _profile_settings(table, keys.BROKER_SETTINGS)
    with _located(table):
        base = broker_profile(profile).with_overrides(**settings)
    tcp = _tcp(table, base.tcp_config(), settings)
    port = table.get("port", keys.whole, 1883)
    with _located(table):
        net.broker(name, site=site, profile=profile, port=port, tcp=tcp, **settings)


def _client(net: Scenario, table: Table) -> None:
    table.check_keys((*keys.CLIENT_KEYS, *keys.CLIENT_SETTINGS, *keys.BASE_KEYS))
    name = table.need("name", keys.string)
    site = table.need("site", keys.string)
    profile = table.get("profile", lambda v: client_profile(keys.string(v)).name, "mqttsim")
    settings = _profile_settings(table, keys.CLIENT_SETTINGS)
    with _located(table):
        base = client_profile(profile).with_overrides(**settings)
    options: dict[str, Any] = {}
    for key, check in (
        ("broker", keys.string),
        ("keep_alive_s", keys.whole),
        ("clean_start", keys.boolean),
        ("session_expiry_s", keys.expiry),
        ("start_s", keys.number),
        ("mqtt_version", keys.version),
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


def _subscriptions(value: object) -> list[tuple[str, int]]:
    """``["a/#"]`` (QoS 2 each) or ``[{filter = "a/#", qos = 1}]``, or one filter."""
    items = [value] if type(value) is str else value
    words = '"filter", a list of them, or [{filter = "...", qos = 0|1|2}, ...]'
    if type(items) is not list:
        raise Expected(words)
    pairs = []
    for item in items:
        if type(item) is str and item:
            pairs.append((_filter(item), 2))  # each message then arrives at the QoS it was sent at
        elif type(item) is dict and set(item) <= {"filter", "qos"} and "filter" in item:
            if type(item["filter"]) is not str or item.get("qos", 2) not in (0, 1, 2):
                raise Expected(words)
            qos = item.get("qos", 2)
            if type(qos) is not int:
                raise Expected(words)
            pairs.append((_filter(item["filter"]), qos))
        else:
            raise Expected(words)
    return pairs


def _filter(text: str) -> str:
    try:
        validate_topic_filter(text)
    except TopicFilterInvalid as exc:
        raise ConfigError(exc.detail) from None
    return text


def _will(value: object, default_qos: int) -> Will:
    data = keys.table(value)
    unknown = [k for k in data if k not in keys.WILL_KEYS]
    if unknown or "topic" not in data:
        raise Expected(
            '{topic = "...", payload = "...", qos = 0|1|2, retain = true|false}'
            " (topic required; qos defaults to the scenario's)"
        )
    try:
        topic = keys.string(data["topic"])
        payload = keys.text(data.get("payload", ""))
        qos = keys.qos(data.get("qos", default_qos))
        retain = keys.boolean(data.get("retain", False))
    except Expected as exc:
        raise Expected(f"{exc} in the will") from None
    try:
        validate_topic_name(topic)
    except TopicNameInvalid as exc:
        raise ConfigError(f"will topic: {exc.detail}") from None
    return Will(topic=topic, payload=payload.encode(), qos=QoS(qos), retain=retain)


def _traffic(net: Scenario, table: Table, folder: Path) -> None:
    kind = table.need("kind", keys.kind)
    kind_keys = keys.traffic_keys(kind)
    own = [k for k in kind_keys if k not in ("client", "rows", "trace")]
    if kind == "replay":
        own = ["trace", "rows", *own]
    table.check_keys(("name", "kind", "client", *own, *keys.BASE_KEYS))
    cls = TRAFFIC_KINDS[kind]
    hints = typing.get_type_hints(cls)
    client = table.get("client", keys.string)
    if kind == "process":
        function = table.need("function", keys.string)
        options = table.get("options", keys.table, {})
        with _located(table, f"function = {shown(function)}: ", "function"):
            net.process(function, client=client, **options)
        return
    if client is None:
        raise table.error(f"client is missing (a {kind} traffic publishes for a client)", "client")
    values: dict[str, Any] = {}
    for key, name in kind_keys.items():
        if name in ("client", "rows", "values", "trace") or not table.has(key):
            continue
        values[name] = table.get(key, keys.typed(hints[name]))
    if "values" in kind_keys and table.has("values"):
        values["values"] = table.get("values", _value_trace)
    with _located(table):
        if kind == "replay":
            net.add(_replay(table, client, folder, values))
        else:
            if not table.has("topic"):
                raise table.error("topic is missing", "topic")
            net.add(cls(client=client, **values))


def _replay(table: Table, client: str, folder: Path, values: dict[str, Any]) -> Replay:
    if table.has("trace") == table.has("rows"):
        raise table.error("give trace (a CSV file) or rows, one of them", "trace")
    if table.has("trace"):
        trace = folder / table.get("trace", keys.string)
        with _located(table, f"trace = {shown(table.data['trace'])}: ", "trace"):
            return Replay.of(client, trace, **values)
    return Replay.of(client, table.get("rows", _rows), **values)


def _rows(value: object) -> list[tuple[float, str, int]]:
    words = 'a list of [time_s, "topic", payload_bytes]'
    if type(value) is not list:
        raise Expected(words)
    rows = []
    for row in value:
        if (
            type(row) is not list
            or len(row) != 3
            or type(row[0]) not in (int, float)
            or type(row[1]) is not str
            or type(row[2]) is not int
        ):
            raise Expected(words)
        rows.append((float(row[0]), row[1], row[2]))
    return rows


def _value_trace(value: object) -> tuple[tuple[float, float], ...]:
    words = "a list of [time_s, value] pairs"
    if type(value) is not list:
        raise Expected(words)
    for pair in value:
        if (
            type(pair) is not list
            or len(pair) != 2
            or not all(type(x) in (int, float) and math.isfinite(x) for x in pair)
        ):
            raise Expected(words)
    return tuple(sorted((float(t), float(v)) for t, v in value))
