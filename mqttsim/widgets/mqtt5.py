"""Lesson 12's MQTT 5: reason codes, message expiry, shared subscriptions, user properties, aliases.

Everything runs mqttsim's real broker core and client core in memory, on a
fake clock (:class:`~mqttsim.widgets.timeline.Timeline`): packets cross at
once, time moves only when told, so a valve command can wait two hours for
its station in a millisecond, and every table comes out the same on every run.

* :func:`reason_code_table`: what a refused CONNECT, SUBSCRIBE and PUBLISH
  (and a taken-over session) look like in MQTT 5 and in 3.1.1;
* :func:`expiry_table`: a valve command that waits for an offline station,
  with and without a Message Expiry Interval;
* :func:`shared_subscription_table`: alarms shared between two SCADA
  workers (``$share/...``), and what happens when one of them stops;
* :func:`user_properties_table`: metadata that travels beside the payload,
  and what a 3.1.1 subscriber gets of it;
* :func:`topic_alias_table`, :func:`alias_saving`: the bytes a Topic Alias
  saves on each PUBLISH, and what that is worth on a link billed by the MB.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd  # type: ignore[import-untyped,unused-ignore]

from mqttsim.protocol import (
    ConfigError,
    ConnectionRefused,
    Disconnected,
    Event,
    LocalProtocolError,
    Properties,
    ProtocolVersion,
    Publish,
    PublishAcked,
    QoS,
    ReasonCode,
    Subscribed,
    decode,
    encode,
)
from mqttsim.protocol.enums import REASON_TO_CONNACK_V311, SUBACK_V311_FAILURE
from mqttsim.protocol.session import SESSION_NEVER_EXPIRES
from mqttsim.sim.metrics import MB
from mqttsim.sim.presets import get_preset

from .security import lesson_acl, lesson_password_file, lesson_passwords
from .timeline import Timeline
from .wire import lesson_version

__all__ = [
    "alias_saving",
    "expiry_table",
    "reason_code_table",
    "shared_subscription_table",
    "topic_alias_table",
    "user_properties_table",
]

V5, V311 = ProtocolVersion.V5, ProtocolVersion.V311


# -- reason codes -----------------------------------------------------------------------------


def _v5_text(code: ReasonCode, packet: str) -> str:
    return f"{packet} 0x{int(code):02X} {code.name.replace('_', ' ').capitalize()}"


def _answer(events: Sequence[Event], version: ProtocolVersion) -> str:
    """The broker's answer to one command, as the client's version can say it."""
    v5 = version is V5
    for event in events:
        match event:
            case ConnectionRefused(reason_code=code):
                if v5:
                    return _v5_text(code, "CONNACK")
                return f"CONNACK return code {REASON_TO_CONNACK_V311.get(code, 5)}"
            case Subscribed(reason_codes=codes):
                if v5:
                    return _v5_text(codes[0], "SUBACK")
                return f"SUBACK 0x{SUBACK_V311_FAILURE:02X}" if codes[0].is_error else "SUBACK ok"
            case PublishAcked(reason_code=code):
                return _v5_text(code, "PUBACK") if v5 else "PUBACK (no reason code)"
            case Disconnected(reason_code=code, by_peer=True):
                if v5:
                    return _v5_text(code, "DISCONNECT")
                return "the connection just closes"
            case Disconnected():
                return "the connection just closes"
    return "(nothing)"


def _scenario(name: str, version: ProtocolVersion) -> str:
    """Run one refusal on a fresh secured broker; return the answer st-01 gets."""
    timeline = Timeline(
        version=version, authenticator=lesson_password_file(), authorizer=lesson_acl()
    )
    secret = lesson_passwords()["st-01"]
    if name == "password":
        return _answer(timeline.connect("st-01", password="guess"), version)
    timeline.connect("st-01", password=secret)
    if name == "subscribe":
        return _answer(timeline.subscribe("st-01", "pipeline/#"), version)
    if name in ("publish", "nobody"):
        owner = "st-02" if name == "publish" else "st-01"  # the ACL lets st-01 write its own
        events = timeline.publish("st-01", f"pipeline/{owner}/pressure", "1 50400 41.9", qos=1)
        return _answer(events, version)
    if name == "takeover":
        start = len(timeline.client_events["st-01"])
        timeline.connect("spare RTU", client_id="st-01", password=secret)
        return _answer(timeline.client_events["st-01"][start:], version)
    raise ConfigError(f"unknown scenario {name!r}")


_SCENARIOS = [
    ("password", "CONNECT with a wrong password"),
    ("subscribe", "SUBSCRIBE to pipeline/# (the ACL says no)"),
    ("publish", "PUBLISH to st-02's topic (the ACL says no)"),
    ("nobody", "PUBLISH to its own topic, nobody subscribed"),
    ("takeover", "another client logs in as st-01"),
]


def reason_code_table() -> pd.DataFrame:
    """What station st-01 is told when the broker says no, in MQTT 5 and in 3.1.1.

    The broker has lesson 11's password file and ACL; each row starts on a
    fresh broker.

    Returns:
        One row per situation: what st-01 does, the MQTT 5 answer, the 3.1.1 answer.
    """
    rows = [
        {"st-01 ...": text, "MQTT 5": _scenario(key, V5), "MQTT 3.1.1": _scenario(key, V311)}
        for key, text in _SCENARIOS
    ]
    return pd.DataFrame(rows).set_index("st-01 ...")


# -- message expiry ---------------------------------------------------------------------------


def _command_after(
    away_s: float, expiry_s: int | None, version: ProtocolVersion
) -> dict[str, object]:
    """SCADA sends st-03 a close command while st-03 is away for ``away_s``."""
    timeline = Timeline(version=version)
    timeline.connect("st-03", clean_start=False, session_expiry_s=SESSION_NEVER_EXPIRES)
    timeline.subscribe("st-03", "pipeline/st-03/cmd/#", qos=1)
    timeline.vanish("st-03")  # the satellite link goes down
    timeline.connect("scada-host", at=60)
    props = Properties(message_expiry_interval=expiry_s)  # None: the message never expires
    timeline.publish("scada-host", "pipeline/st-03/cmd/valve", "close", qos=1, properties=props)
    timeline.connect("st-03", clean_start=False, session_expiry_s=SESSION_NEVER_EXPIRES, at=away_s)
    got = timeline.received("st-03")
    left = got[0].properties.message_expiry_interval if got else None
    return {
        "MQTT": "5" if version is V5 else "3.1.1",
        "command's expiry": "none" if expiry_s is None else _duration(expiry_s),
        "station back after": _duration(away_s),
        "command delivered": "yes: the valve closes" if got else "no: it expired",
        "age on arrival": _duration(away_s - 60) if got else "",
        "expiry left on arrival": "" if left is None else _duration(left),
    }


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    if s >= 3600 and s % 3600 == 0:
        return f"{s // 3600} h"
    if s >= 60 and s % 60 == 0:
        return f"{s // 60} min"
    return f"{s} s"


def expiry_table(
    cases: Sequence[tuple[float, int | None, int]] = (
        (300, 600, 5),
        (7200, 600, 5),
        (7200, None, 5),
        (7200, None, 4),
    ),
) -> pd.DataFrame:
    """A valve command that waits for its station: delivered, or expired.

    Station st-03 (persistent session, subscribed to its commands at QoS 1)
    loses its link; a minute later the SCADA host publishes ``close`` to
    ``pipeline/st-03/cmd/valve`` at QoS 1; the station comes back after the
    time given.

    Args:
        cases: ``(station away for s, Message Expiry Interval s or None, MQTT version)``.

    Returns:
        One row per case: whether the command arrived, its age, and the
        expiry interval left in it (the broker counts the wait down,
        [MQTT-3.3.2-6]).
    """
    rows = []
    for away, expiry, version in cases:
        if away <= 60:
            raise ConfigError(f"the station must be away more than 60 s, got {away!r}")
        rows.append(_command_after(float(away), expiry, lesson_version(version)))
    return pd.DataFrame(rows)


# -- shared subscriptions ---------------------------------------------------------------------


def shared_subscription_table(
    alarms: int = 8, *, worker_stops_after: int | None = 5
) -> pd.DataFrame:
    """Alarms shared between two SCADA workers, and a historian that gets them all.

    ``scada-1`` and ``scada-2`` subscribe to ``$share/scada/pipeline/+/alarm/#``
    (one group: each message goes to one of them); ``historian`` subscribes
    to ``pipeline/+/alarm/#``. Stations st-01 to st-04 raise alarms in turn.

    Args:
        alarms: how many alarms, 1 to 50.
        worker_stops_after: ``scada-2`` disconnects after this many alarms
            (None: never).

    Returns:
        One row per alarm: its topic and who got it.
    """
    if not 1 <= alarms <= 50:
        raise ConfigError(f"alarms must be 1 to 50, got {alarms!r}")
    timeline = Timeline()
    for worker in ("scada-1", "scada-2"):
        timeline.connect(worker)
        timeline.subscribe(worker, "$share/scada/pipeline/+/alarm/#", qos=1)
    timeline.connect("historian")
    timeline.subscribe("historian", "pipeline/+/alarm/#", qos=1)
    rows = []
    for n in range(1, alarms + 1):
        station = f"st-{(n - 1) % 4 + 1:02d}"  # connects on its first alarm
        topic = f"pipeline/{station}/alarm/pressure"
        before = {c: len(timeline.received(c)) for c in ("scada-1", "scada-2", "historian")}
        timeline.publish(station, topic, f"alarm {n} LOW", qos=1)
        got = {c: len(timeline.received(c)) > before[c] for c in before}
        rows.append(
            {
                "alarm": n,
                "topic": topic,
                "scada-1": "✓" if got["scada-1"] else "",
                "scada-2": "✓" if got["scada-2"] else "",
                "historian": "✓" if got["historian"] else "",
            }
        )
        if worker_stops_after == n:
            timeline.disconnect("scada-2")
    return pd.DataFrame(rows).set_index("alarm")


# -- user properties --------------------------------------------------------------------------


def user_properties_table(
    properties: Sequence[tuple[str, str]] = (("unit", "bar"), ("tag", "PT-101")),
) -> pd.DataFrame:
    """A reading with user properties, as an MQTT 5 and a 3.1.1 subscriber receive it.

    Returns:
        One row per subscriber: its version, the payload, the user
        properties it got, and the PUBLISH's size on its pipe (bytes).
    """
    timeline = Timeline()
    for name, version in (("scada-host", V5), ("old-hmi", V311)):
        timeline.connect(name, version=version)
        timeline.subscribe(name, "pipeline/st-01/pressure", qos=0)
    timeline.connect("st-01")
    props = Properties(user_properties=tuple(properties))
    timeline.publish("st-01", "pipeline/st-01/pressure", "41.83", qos=0, properties=props)
    rows = []
    for name in ("scada-host", "old-hmi"):
        message = timeline.received(name)[-1]
        size = next(p.bytes for p in reversed(timeline.packet_rows) if p.receiver == name)
        rows.append(
            {
                "subscriber": name,
                "MQTT": "5" if name == "scada-host" else "3.1.1",
                "payload": message.payload.decode(),
                "user properties": dict(message.properties.user_properties),
                "PUBLISH bytes": size,
            }
        )
    return pd.DataFrame(rows).set_index("subscriber")


# -- topic aliases ----------------------------------------------------------------------------


def topic_alias_table(
    topic: str = "pipeline/st-02/discharge_pressure",
    readings: Sequence[str] = ("70.1", "70.3", "69.8"),
) -> pd.DataFrame:
    """A station's PUBLISHes of one topic with and without a Topic Alias, as sent.

    An MQTT 5 client with ``use_topic_aliases`` sends the topic and an alias
    the first time, then the alias alone (an empty topic name, [MQTT-3.3.2-12]);
    the broker allows 10 aliases per connection. Compared with the same
    readings sent by an MQTT 3.1.1 client, and by MQTT 5 without aliases.

    Returns:
        One row per PUBLISH: the client, its number, the topic name on the
        wire, the alias, and the packet's bytes. ``attrs["packets"]`` holds
        the raw bytes, for :func:`~mqttsim.widgets.inspect_packet`.
    """
    rows, packets = [], []
    for label, version, aliases in (
        ("MQTT 3.1.1", V311, False),
        ("MQTT 5", V5, False),
        ("MQTT 5 + alias", V5, True),
    ):
        timeline = Timeline(version=version)
        timeline.connect("st-02", use_topic_aliases=aliases)
        for n, value in enumerate(readings, 1):
            start = len(timeline.packet_rows)
            timeline.publish("st-02", topic, value, qos=1)
            sent = next(p for p in timeline.packet_rows[start:] if p.packet == "PUBLISH")
            publish = decode(sent.data, version)
            assert isinstance(publish, Publish)
            rows.append(
                {
                    "client": label,
                    "PUBLISH": n,
                    "topic on the wire": publish.topic or "(empty)",
                    "topic alias": publish.properties.topic_alias or "",
                    "bytes": len(sent.data),
                }
            )
            packets.append(sent.data)
    frame = pd.DataFrame(rows).set_index(["client", "PUBLISH"])
    frame.attrs["packets"] = packets
    return frame


def alias_saving(
    topic: str = "pipeline/st-02/discharge_pressure",
    *,
    messages_per_day: int = 61_056,
    link: str = "vsat-1999",
) -> pd.Series:
    """Bytes an aliased PUBLISH saves over a plain MQTT 5 one, and what that is worth a day.

    Args:
        topic: the topic name.
        messages_per_day: PUBLISHes a day; the default is lesson 09's line
            (7,632 reports in 3 h).
        link: the preset whose price applies.
    """
    plain = Publish(topic=topic, payload=b"70.1", qos=QoS(1), packet_id=1)
    aliased = Publish(
        topic="", payload=b"70.1", qos=QoS(1), packet_id=1, properties=Properties(topic_alias=1)
    )
    try:
        saved = len(encode(plain, V5)) - len(encode(aliased, V5))
    except LocalProtocolError as exc:
        raise ConfigError(str(exc)) from None
    price = get_preset(link).price_per_mb_usd
    return pd.Series(
        {
            "bytes saved per PUBLISH": saved,
            "MB saved per day": round(saved * messages_per_day / MB, 2),
            "US$ saved per day": round(saved * messages_per_day / MB * price, 2),
        },
        dtype=object,
        name=topic,
    )
