"""Lesson 12's MQTT 5: reason codes, message expiry, shared subscriptions, user properties, aliases.

Everything runs mqttsim's real broker core and client core in memory, on a
fake clock (:class:`CoreBench`): packets cross at once, time moves only when
told, so a valve command can wait two hours for its station in a
millisecond, and every table comes out the same on every run.

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
from dataclasses import dataclass, field

import pandas as pd  # type: ignore[import-untyped,unused-ignore]

from mqttsim.protocol import (
    Broker,
    BrokerConfig,
    BrokerConnection,
    ClientConnection,
    ConfigError,
    ConnectionRefused,
    Disconnected,
    Event,
    LocalProtocolError,
    MessageReceived,
    PacketType,
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

__all__ = [
    "CoreBench",
    "WireRow",
    "alias_saving",
    "expiry_table",
    "reason_code_table",
    "shared_subscription_table",
    "topic_alias_table",
    "user_properties_table",
]

_MAX_STEPS = 10_000  # bounds every exchange; the lessons' take a few dozen
V5, V311 = ProtocolVersion.V5, ProtocolVersion.V311


@dataclass(frozen=True, slots=True)
class WireRow:
    """One packet on one pipe: when, from whom to whom, its bytes."""

    time: float
    sender: str
    receiver: str
    data: bytes

    @property
    def packet(self) -> str:
        return PacketType(self.data[0] >> 4).name


@dataclass(eq=False)
class _Pipe:
    client_id: str
    client: ClientConnection
    conn: BrokerConnection
    open: bool = True


@dataclass
class CoreBench:
    """mqttsim's broker core and its clients in memory, on a fake clock.

    Attributes:
        broker: the broker core.
        now: the fake clock, in seconds.
        events: client id -> every event its client core reported, in order.
        wire: every packet that crossed a pipe.
    """

    broker: Broker = field(default_factory=lambda: Broker(BrokerConfig(sys_interval_s=0), now=0.0))
    now: float = 0.0
    events: dict[str, list[Event]] = field(default_factory=dict)
    wire: list[WireRow] = field(default_factory=list)
    _pipes: dict[str, _Pipe] = field(default_factory=dict)
    _known: dict[str, ClientConnection] = field(default_factory=dict)

    @classmethod
    def with_lesson_security(cls) -> CoreBench:
        """A broker with lesson 11's password file and ACL."""
        broker = Broker(
            BrokerConfig(sys_interval_s=0),
            authenticator=lesson_password_file(),
            authorizer=lesson_acl(),
            now=0.0,
        )
        return cls(broker=broker)

    # -- commands ----------------------------------------------------------------------

    def connect(
        self,
        name: str,
        *,
        client_id: str | None = None,
        version: ProtocolVersion = V5,
        clean_start: bool = True,
        password: str | None = None,
        **options: object,
    ) -> list[Event]:
        """A new connection called ``name``; its session carries over unless ``clean_start``.

        Args:
            name: how the bench calls this client (its events are kept under it).
            client_id: the MQTT client identifier; ``name`` by default. Two
                names with one client id make a session takeover.
            version: the protocol version.
            clean_start: start a new session (else resume this name's).
            password: log in as user ``client_id`` with this password.
            **options: passed to :class:`ClientConnection`.

        Returns:
            The client's events (Connected or ConnectionRefused).
        """
        old = self._pipes.get(name)
        if old is not None and old.open and not old.client.is_closed:
            raise ConfigError(f"{name} is connected: drop it first")
        ident = name if client_id is None else client_id
        known = self._known.get(name)
        client = ClientConnection(
            client_id=ident,
            version=version,
            clean_start=clean_start,
            session=None if clean_start or known is None else known.session,
            username=ident if password is not None else None,
            password=password.encode() if password is not None else None,
            **options,  # type: ignore[arg-type]
        )
        self._known[name] = client
        self._pipes[name] = _Pipe(name, client, self.broker.connection_made(now=self.now))
        start = len(self.events.setdefault(name, []))
        client.connect(now=self.now)
        self._settle()
        return self.events[name][start:]

    def publish(
        self,
        client_id: str,
        topic: str,
        payload: str | bytes = b"",
        *,
        qos: int = 1,
        properties: Properties | None = None,
    ) -> list[Event]:
        """PUBLISH from ``client_id``; returns its events (the acknowledgement)."""
        data = payload.encode() if isinstance(payload, str) else payload
        client = self._client(client_id)
        start = len(self.events[client_id])
        props = properties if properties is not None else Properties()
        client.publish(topic, data, qos=qos, properties=props, now=self.now)
        self._settle()
        return self.events[client_id][start:]

    def subscribe(self, client_id: str, topic_filter: str, *, qos: int = 1) -> list[Event]:
        """SUBSCRIBE ``client_id``; returns its events (the SUBACK)."""
        client = self._client(client_id)
        start = len(self.events[client_id])
        client.subscribe(topic_filter, qos=qos, now=self.now)
        self._settle()
        return self.events[client_id][start:]

    def drop(self, client_id: str) -> None:
        """The connection ends without DISCONNECT (both ends see it close)."""
        pipe = self._pipes[client_id]
        pipe.open = False
        self._record(client_id, pipe.client.connection_lost(now=self.now))
        pipe.conn.connection_lost(now=self.now)
        self._settle()

    def disconnect(self, client_id: str) -> None:
        """DISCONNECT, then the connection closes."""
        self._client(client_id).disconnect(now=self.now)
        self._settle()

    def advance(self, seconds: float) -> None:
        """Move the clock on, acting on the cores' deadlines (keep-alive, expiry) on the way."""
        end = self.now + seconds
        for _ in range(_MAX_STEPS):
            deadlines = [self.broker.next_deadline()]
            for pipe in self._pipes.values():
                if pipe.open:
                    deadlines += [pipe.client.next_deadline(), pipe.conn.next_deadline()]
            due = [d for d in deadlines if d is not None and d <= end]
            if not due:
                break
            self.now = max(self.now, min(due))
            self.broker.handle_timeout(now=self.now)
            for pipe in self._pipes.values():
                if pipe.open:
                    self._record(pipe.client_id, pipe.client.handle_timeout(now=self.now))
                    pipe.conn.handle_timeout(now=self.now)
            self._settle()
        else:
            raise RuntimeError(f"more than {_MAX_STEPS} deadlines in {seconds:g} s")
        self.now = end

    # -- what happened -------------------------------------------------------------------

    def received(self, client_id: str) -> list[Publish]:
        """Every PUBLISH ``client_id`` was handed, in order."""
        return [e.publish for e in self.events.get(client_id, []) if isinstance(e, MessageReceived)]

    # -- moving bytes --------------------------------------------------------------------

    def _client(self, client_id: str) -> ClientConnection:
        pipe = self._pipes.get(client_id)
        if pipe is None or not pipe.open or pipe.client.is_closed:
            raise ConfigError(f"{client_id} is not connected")
        return pipe.client

    def _record(self, client_id: str, events: list[Event]) -> None:
        self.events.setdefault(client_id, []).extend(events)

    def _settle(self) -> None:
        for _ in range(_MAX_STEPS):
            moved = False
            for pipe in list(self._pipes.values()):
                moved |= self._carry(pipe)
            if not moved:
                return
        raise RuntimeError("the exchange did not settle")

    def _carry(self, pipe: _Pipe) -> bool:
        if not pipe.open:
            return False
        moved = False
        up = pipe.client.data_to_send(now=self.now)
        if up:
            moved = True
            self._log_wire(up, pipe.client.version, pipe.client_id, "broker")
            pipe.conn.receive_data(up, now=self.now)
        down = pipe.conn.data_to_send(now=self.now)
        if down:
            moved = True
            self._log_wire(down, pipe.client.version, "broker", pipe.client_id)
            self._record(pipe.client_id, pipe.client.receive_data(down, now=self.now))
        if pipe.client.is_closed or pipe.conn.is_closed:
            pipe.open = False
            self._record(pipe.client_id, pipe.client.connection_lost(now=self.now))
            pipe.conn.connection_lost(now=self.now)
            moved = True
        return moved

    def _log_wire(self, data: bytes, version: ProtocolVersion, sender: str, receiver: str) -> None:
        pos = 0
        while pos < len(data):  # split at fixed headers (§2.1.1, §2.2.3)
            length, shift, i = 0, 0, pos + 1
            while True:
                byte = data[i]
                length |= (byte & 0x7F) << shift
                i += 1
                shift += 7
                if byte < 0x80:
                    break
            self.wire.append(WireRow(self.now, sender, receiver, data[pos : i + length]))
            pos = i + length


# -- reason codes -----------------------------------------------------------------------------


def _v5_text(code: ReasonCode, packet: str) -> str:
    return f"{packet} 0x{int(code):02X} {code.name.replace('_', ' ').capitalize()}"


def _first(events: Sequence[Event], kind: type) -> Event | None:
    return next((e for e in events if isinstance(e, kind)), None)


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
    bench = CoreBench.with_lesson_security()
    secret = lesson_passwords()["st-01"]
    if name == "password":
        return _answer(bench.connect("st-01", version=version, password="guess"), version)
    bench.connect("st-01", version=version, password=secret)
    if name == "subscribe":
        return _answer(bench.subscribe("st-01", "pipeline/#"), version)
    if name == "publish":
        return _answer(bench.publish("st-01", "pipeline/st-02/pressure", "1 50400 41.9"), version)
    if name == "nobody":
        return _answer(bench.publish("st-01", "pipeline/st-01/pressure", "1 50400 41.9"), version)
    if name == "takeover":
        start = len(bench.events["st-01"])
        bench.connect("spare RTU", client_id="st-01", version=version, password=secret)
        return _answer(bench.events["st-01"][start:], version)
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
    bench = CoreBench()
    expiry = SESSION_NEVER_EXPIRES if version is V5 else 0
    bench.connect("st-03", version=version, clean_start=False, session_expiry_interval_s=expiry)
    bench.subscribe("st-03", "pipeline/st-03/cmd/#", qos=1)
    bench.drop("st-03")  # the satellite link goes down
    bench.advance(60)
    bench.connect("scada-host", version=version)
    props = Properties(message_expiry_interval=expiry_s) if expiry_s is not None else None
    bench.publish("scada-host", "pipeline/st-03/cmd/valve", "close", qos=1, properties=props)
    bench.advance(away_s - 60)
    bench.connect("st-03", version=version, clean_start=False, session_expiry_interval_s=expiry)
    got = bench.received("st-03")
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
        rows.append(_command_after(float(away), expiry, ProtocolVersion(version)))
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
    bench = CoreBench()
    for worker in ("scada-1", "scada-2"):
        bench.connect(worker)
        bench.subscribe(worker, "$share/scada/pipeline/+/alarm/#", qos=1)
    bench.connect("historian")
    bench.subscribe("historian", "pipeline/+/alarm/#", qos=1)
    rows = []
    for n in range(1, alarms + 1):
        station = f"st-{(n - 1) % 4 + 1:02d}"
        if station not in bench._pipes:
            bench.connect(station)
        topic = f"pipeline/{station}/alarm/pressure"
        before = {c: len(bench.received(c)) for c in ("scada-1", "scada-2", "historian")}
        bench.publish(station, topic, f"alarm {n} LOW", qos=1)
        got = {c: len(bench.received(c)) > before[c] for c in before}
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
            bench.disconnect("scada-2")
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
    bench = CoreBench()
    for name, version in (("scada-host", V5), ("old-hmi", V311)):
        bench.connect(name, version=version)
        bench.subscribe(name, "pipeline/st-01/pressure", qos=0)
    bench.connect("st-01")
    props = Properties(user_properties=tuple(properties))
    bench.publish("st-01", "pipeline/st-01/pressure", "41.83", qos=0, properties=props)
    rows = []
    for name in ("scada-host", "old-hmi"):
        message = bench.received(name)[-1]
        size = next(len(w.data) for w in reversed(bench.wire) if w.receiver == name)
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
        bench = CoreBench()
        bench.connect("st-02", version=version, use_topic_aliases=aliases)
        for n, value in enumerate(readings, 1):
            start = len(bench.wire)
            bench.publish("st-02", topic, value, qos=1)
            sent = next(w for w in bench.wire[start:] if w.packet == "PUBLISH")
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
