"""mqttsim's broker and some clients in memory, on a clock that moves only when told.

Some things a lesson must show take minutes or hours of real time: a will
sent 60 s after a station vanished, a session that expires after 10 minutes,
a dead satellite link noticed one and a half keep-alive periods later. A
:class:`Timeline` runs the real protocol core (:class:`~mqttsim.protocol.Broker`
and one :class:`~mqttsim.protocol.ClientConnection` per client) with every
network connection an in-memory pipe, and a fake clock that jumps from one
deadline of the core to the next. Nothing reads a clock, opens a socket or
draws a random number, so the same script always gives the same rows::

    timeline = Timeline()
    timeline.connect("scada", clean_start=False, session_expiry_s=600)
    timeline.subscribe("scada", "pipeline/+/alarm", qos=1)
    timeline.disconnect("scada", at=10)
    timeline.publish("st-07", "pipeline/st-07/alarm", "pressure low", qos=1, at=20)
    timeline.run_until(900)
    timeline.events()       # time, who, what: one row per thing that happened

Each command returns the events its client's core reported meanwhile (a
CONNACK refused, a SUBACK, a PUBACK with its reason code), so a table of
MQTT 5's answers is one call per row; :attr:`Timeline.client_events` keeps
them all, and :meth:`Timeline.received` the messages each client got.

Packets cross a pipe at once (no delay): the lessons that use this are about
what the protocol decides, and round numbers read better. Three ways a
connection can end:

* :meth:`Timeline.disconnect`: the client says DISCONNECT (no will);
* :meth:`Timeline.vanish`: the connection closes without DISCONNECT, and
  both ends see it close (a crash: the operating system closes the socket);
* :meth:`Timeline.cut`: the link dies silently. Nobody is told; every byte
  sent afterwards is lost. Only keep-alive can notice (a half-open
  connection).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from mqttsim.protocol import (
    NO_PROPERTIES,
    Broker,
    BrokerConfig,
    BrokerConnection,
    ClientConnection,
    ClientDisconnected,
    ConfigError,
    Connected,
    ConnectionRefused,
    Disconnected,
    Event,
    MessageReceived,
    Properties,
    ProtocolVersion,
    Publish,
    QoS,
    Will,
)

from .wire import lesson_version, packet_name, split_packets

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    from mqttsim.protocol.hooks import Authenticator, Authorizer

__all__ = ["Timeline", "TimelineRow", "PacketRow", "BROKER", "will_message"]

BROKER = "broker"
_MAX_STEPS = 100_000  # bounds every loop; a lesson's timeline takes a few hundred


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineRow:
    """One thing that happened.

    Attributes:
        time: seconds on the fake clock.
        who: the client id, ``"broker"`` or ``"link"``.
        what: what happened, in a word or two ("publishes", "receives", ...).
        detail: the message, the reason, the session concerned.
    """

    time: float
    who: str
    what: str
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PacketRow:
    """One MQTT packet on one pipe.

    Attributes:
        time: when it left its sender.
        sender, receiver: a client's name or ``"broker"``.
        packet: its type, e.g. ``"PINGREQ"``.
        bytes: its size on the wire (MQTT only, no TCP/IP headers).
        lost: sent into a cut link, so it never arrived.
        data: the packet itself, fixed header included (not a column of
            :meth:`Timeline.packets`).
    """

    data: bytes = field(repr=False)  # first: below, the field ``bytes`` hides the type
    time: float
    sender: str
    receiver: str
    packet: str
    bytes: int
    lost: bool


_PACKET_COLUMNS = ["time", "sender", "receiver", "packet", "bytes", "lost"]
_EVENT_COLUMNS = ["time", "who", "what", "detail"]


@dataclass(eq=False)
class _Pipe:
    """One network connection: a client end and the broker end."""

    name: str
    client: ClientConnection
    conn: BrokerConnection
    cut: bool = False
    open: bool = True  # both ends still attached to the transport


def _text(payload: bytes) -> str:
    return payload.decode("utf-8", errors="backslashreplace")


def _message(topic: str, payload: bytes, qos: int, retain: bool) -> str:
    """``pipeline/st-07/status = 'online', QoS 1, retained``."""
    return f"{topic} = {_text(payload)!r}, QoS {qos}" + (", retained" if retain else "")


def _seconds(t: float) -> str:
    return f"{t:g} s"


class Timeline:
    """A broker and its clients in memory on a fake clock; see the module docstring.

    Clients are known by a name: the MQTT Client Identifier unless
    :meth:`connect` is given another one (two names with one client id make
    a session takeover).

    Args:
        config: the broker's limits (``BrokerConfig``); by default mqttsim's
            defaults without the periodic ``$SYS`` publication.
        version: 5 (MQTT 5.0) or 4 (MQTT 3.1.1): what clients speak unless
            :meth:`connect` says otherwise.
        authenticator, authorizer: the broker's security hooks (by default
            everyone may do anything), e.g. lesson 11's password file and ACL.

    Attributes:
        now: the fake clock, in seconds.
        broker: the broker core (its ``stats`` hold the ``$SYS`` counters).
        rows: what happened so far (see :meth:`events`).
        packet_rows: every packet so far (see :meth:`packets`).
        client_events: name -> every event its client core reported, in order.
    """

    def __init__(
        self,
        config: BrokerConfig | None = None,
        *,
        version: ProtocolVersion | int = 5,
        authenticator: Authenticator | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        self.version = lesson_version(version)
        self.broker = Broker(
            config or BrokerConfig(sys_interval_s=0),
            authenticator=authenticator,
            authorizer=authorizer,
            now=0.0,
        )
        self.now = 0.0
        self.rows: list[TimelineRow] = []
        self.packet_rows: list[PacketRow] = []
        self.client_events: dict[str, list[Event]] = {}
        self._pipes: list[_Pipe] = []
        self._current: dict[str, _Pipe] = {}
        self._known: dict[str, ClientConnection] = {}
        self._dropped: Counter[str] = Counter()

    # -- the clock ---------------------------------------------------------------------------

    def run_until(self, t: float) -> Timeline:
        """Move the clock to ``t``, acting on every deadline of the core on the way.

        Raises:
            ConfigError: ``t`` is before :attr:`now`.
        """
        if t < self.now:
            raise ConfigError(f"the clock cannot go back from {self.now:g} s to {t:g} s")
        for _ in range(_MAX_STEPS):
            deadline = self._next_deadline()
            if deadline is None or deadline > t:
                break
            self.now = max(self.now, deadline)
            self._fire()
        else:
            raise RuntimeError(f"more than {_MAX_STEPS} deadlines before {t:g} s")
        self.now = float(t)
        return self

    def _at(self, at: float | None) -> None:
        if at is not None:
            self.run_until(at)

    def _next_deadline(self) -> float | None:
        deadlines = [self.broker.next_deadline()]
        for pipe in self._pipes:
            if not pipe.client.is_closed:
                deadlines.append(pipe.client.next_deadline())
            if not pipe.conn.is_closed:
                deadlines.append(pipe.conn.next_deadline())
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    def _fire(self) -> None:
        now = self.now
        sessions = set(self.broker.sessions)
        self._broker_events(self.broker.handle_timeout(now=now))
        for gone in sorted(sessions - set(self.broker.sessions)):
            self._log(BROKER, "ends a session", f"{gone}'s: Session Expiry Interval over")
        for pipe in list(self._pipes):
            if not pipe.client.is_closed:
                self._client_events(pipe.name, pipe.client.handle_timeout(now=now))
            if not pipe.conn.is_closed:
                self._broker_events(pipe.conn.handle_timeout(now=now))
        self._settle()

    # -- commands ----------------------------------------------------------------------------

    def connect(
        self,
        name: str,
        *,
        client_id: str | None = None,
        version: ProtocolVersion | int | None = None,
        clean_start: bool = True,
        session_expiry_s: int = 0,
        keep_alive_s: int = 0,
        will: Will | None = None,
        password: str | None = None,
        use_topic_aliases: bool = False,
        at: float | None = None,
    ) -> list[Event]:
        """Open a new network connection for ``name`` and send CONNECT.

        The client keeps its side of the session between connections, as a
        real client does; ``clean_start=True`` throws it away (both sides).

        Args:
            name: who the rows and :attr:`client_events` say it is.
            client_id: the MQTT Client Identifier; ``name`` by default.
            version: 4 or 5; the timeline's own by default.
            clean_start: start a new session rather than resume this name's.
            session_expiry_s: MQTT 5's Session Expiry Interval (ignored in 3.1.1).
            keep_alive_s: the Keep Alive; 0 for none.
            will: the will message (see :func:`will_message`).
            password: log in as user ``client_id`` with this password.
            use_topic_aliases: send Topic Aliases when the broker allows them.
            at: move the clock here first.

        Returns:
            The events the client reported (Connected or ConnectionRefused).

        Raises:
            ConfigError: ``name`` is connected already.
        """
        self._at(at)
        old = self._current.get(name)
        if old is not None and old.open and not old.cut and not old.client.is_closed:
            raise ConfigError(f"{name} is connected: disconnect, vanish or cut first")
        wire = self.version if version is None else lesson_version(version)
        ident = name if client_id is None else client_id
        known = self._known.get(name)
        client = ClientConnection(
            client_id=ident,
            version=wire,
            keep_alive_s=keep_alive_s,
            clean_start=clean_start,
            session_expiry_interval_s=session_expiry_s if wire is ProtocolVersion.V5 else 0,
            username=None if password is None else ident,
            password=None if password is None else password.encode(),
            will=will,
            use_topic_aliases=use_topic_aliases,
            session=None if clean_start or known is None else known.session,
        )
        self._known[name] = client
        pipe = _Pipe(name, client, self.broker.connection_made(now=self.now))
        self._pipes.append(pipe)
        self._current[name] = pipe
        mark = self._mark(name)
        client.connect(now=self.now)
        self._settle()
        return self._since(name, mark)

    def subscribe(
        self, name: str, topic_filter: str, *, qos: int = 1, at: float | None = None
    ) -> list[Event]:
        """SUBSCRIBE ``name`` to ``topic_filter`` at ``qos``; returns its events (the SUBACK)."""
        self._at(at)
        return self._command(
            name,
            lambda client: client.subscribe(topic_filter, qos=qos, now=self.now),
            "subscribes",
            f"{topic_filter} (QoS {qos})",
        )

    def publish(
        self,
        name: str,
        topic: str,
        payload: str | bytes = b"",
        *,
        qos: int = 0,
        retain: bool = False,
        properties: Properties = NO_PROPERTIES,
        at: float | None = None,
    ) -> list[Event]:
        """PUBLISH from ``name``, which connects first (clean, no keep-alive)
        if it is not connected: a station that only talks.

        Returns:
            The publisher's events (its acknowledgement, at QoS 1 and 2).
        """
        self._at(at)
        data = payload.encode() if isinstance(payload, str) else payload
        if name not in self._current or self._current[name].client.is_closed:
            self.connect(name)
        return self._command(
            name,
            lambda client: client.publish(
                topic, data, qos=qos, retain=retain, properties=properties, now=self.now
            ),
            "publishes",
            _message(topic, data, qos, retain),
        )

    def disconnect(self, name: str, *, at: float | None = None) -> list[Event]:
        """Send DISCONNECT and close: a goodbye, so the broker drops the will."""
        self._at(at)
        return self._command(
            name, lambda client: client.disconnect(now=self.now), "disconnects", "sends DISCONNECT"
        )

    def vanish(self, name: str, *, at: float | None = None) -> list[Event]:
        """Close the connection without DISCONNECT; both ends see it close."""
        self._at(at)
        pipe = self._pipe(name)
        mark = self._mark(name)
        self._log(name, "vanishes", "the connection closes without DISCONNECT")
        pipe.open = False
        # The client knows it closed: its events are kept, but no row says so.
        self._reported(name, pipe.client.connection_lost(now=self.now))
        self._broker_events(pipe.conn.connection_lost(now=self.now))
        self._settle()
        return self._since(name, mark)

    def cut(self, name: str, *, at: float | None = None) -> None:
        """The link of ``name`` dies silently: nobody is told, and
        whatever either end sends from now on is lost."""
        self._at(at)
        pipe = self._pipe(name)
        pipe.cut = True
        self._log("link", "dies", f"{name}'s link, silently")

    # -- what happened -----------------------------------------------------------------------

    def events(self, who: str | None = None) -> pd.DataFrame:
        """What happened, one row per event: time, who, what, detail (optionally
        only what ``who`` did)."""
        import pandas as pd

        rows = [asdict(r) for r in self.rows if who is None or r.who == who]
        return pd.DataFrame(rows, columns=_EVENT_COLUMNS)

    def packets(self, *kinds: str) -> pd.DataFrame:
        """Every packet (or only those of the given types, e.g. ``"PINGREQ"``):
        time, sender, receiver, packet, bytes, lost."""
        import pandas as pd

        rows = [asdict(r) for r in self.packet_rows if not kinds or r.packet in kinds]
        return pd.DataFrame(rows, columns=_PACKET_COLUMNS)

    def received(self, name: str) -> list[Publish]:
        """Every PUBLISH ``name``'s client handed to its application, in order."""
        events = self.client_events.get(name, [])
        return [e.publish for e in events if isinstance(e, MessageReceived)]

    def sys_topics(self, prefix: str = "") -> dict[str, str]:
        """The broker's ``$SYS/broker/...`` statistics now, as the broker would
        publish them; only the topics below ``$SYS/broker/<prefix>``."""
        tree = self.broker.stats.tree(
            now=self.now,
            sessions=len(self.broker.sessions),
            subscriptions=len(self.broker.subscriptions),
            retained=len(self.broker.retained),
            version="",
        )
        start = "$SYS/broker/" + prefix
        return {topic: value for topic, value in tree.items() if topic.startswith(start)}

    def is_connected(self, name: str) -> bool:
        """Whether ``name`` believes it is connected (true on a cut link too)."""
        pipe = self._current.get(name)
        return pipe is not None and pipe.client.is_connected

    # -- moving bytes ------------------------------------------------------------------------

    def _pipe(self, name: str) -> _Pipe:
        pipe = self._current.get(name)
        if pipe is None or not pipe.open or pipe.client.is_closed:
            raise ConfigError(f"{name} is not connected")
        return pipe

    def _command(
        self, name: str, act: Callable[[ClientConnection], object], what: str, detail: str
    ) -> list[Event]:
        """``name``'s client does ``act``, a row says ``what``, the bytes move
        until nothing does; returns the events the client reported meanwhile."""
        client = self._pipe(name).client
        mark = self._mark(name)
        act(client)
        self._log(name, what, detail)
        self._settle()
        return self._since(name, mark)

    def _log(self, who: str, what: str, detail: str = "") -> None:
        self.rows.append(TimelineRow(time=self.now, who=who, what=what, detail=detail))

    def _settle(self) -> None:
        for _ in range(_MAX_STEPS):
            moved = False
            for pipe in list(self._pipes):
                moved |= self._carry(pipe)
            if not moved:
                self._count_drops()
                return
        raise RuntimeError("the exchange did not settle")

    def _carry(self, pipe: _Pipe) -> bool:
        """Move what each end of ``pipe`` has to send; close the transport
        when one end has closed. True if anything happened."""
        now = self.now
        moved = False
        up = pipe.client.data_to_send(now=now)
        if up:
            moved = True
            for raw in self._record(up, pipe, pipe.name, BROKER):
                self._broker_events(pipe.conn.receive_data(raw, now=now))
        down = pipe.conn.data_to_send(now=now)
        if down:
            moved = True
            for raw in self._record(down, pipe, BROKER, pipe.name):
                self._client_events(pipe.name, pipe.client.receive_data(raw, now=now))
        if pipe.open and (pipe.client.is_closed or pipe.conn.is_closed):
            # One end closed its socket; over a live link the other end sees it.
            if not pipe.cut:
                self._close(pipe)
            else:
                pipe.open = False
            moved = True
        return moved

    def _record(self, data: bytes, pipe: _Pipe, sender: str, receiver: str) -> list[bytes]:
        """Log each packet; return those that arrive (none on a cut or closed pipe)."""
        arriving = []
        for raw in split_packets(data):
            lost = pipe.cut or not pipe.open
            self.packet_rows.append(
                PacketRow(
                    time=self.now,
                    sender=sender,
                    receiver=receiver,
                    packet=packet_name(raw),
                    bytes=len(raw),
                    lost=lost,
                    data=raw,
                )
            )
            if not lost:
                arriving.append(raw)
        return arriving

    def _close(self, pipe: _Pipe) -> None:
        pipe.open = False
        now = self.now
        self._client_events(pipe.name, pipe.client.connection_lost(now=now))
        self._broker_events(pipe.conn.connection_lost(now=now))

    # -- turning events into rows -------------------------------------------------------------

    def _mark(self, name: str) -> int:
        return len(self.client_events.setdefault(name, []))

    def _since(self, name: str, mark: int) -> list[Event]:
        return self.client_events[name][mark:]

    def _reported(self, name: str, events: list[Event]) -> None:
        self.client_events.setdefault(name, []).extend(events)

    def _client_events(self, name: str, events: list[Event]) -> None:
        self._reported(name, events)
        for event in events:
            match event:
                case Connected(session_present=present):
                    kept = "the broker kept its session" if present else "a new session"
                    self._log(name, "connected", kept)
                case ConnectionRefused(reason_code=code):
                    self._log(name, "refused", code.name)
                case MessageReceived(publish=p):
                    message = _message(p.topic, p.payload, int(p.qos), p.retain)
                    self._log(name, "receives", message)
                case Disconnected(detail=detail, by_peer=True):
                    self._log(name, "sees the end", detail)
                case Disconnected(detail=detail):
                    self._log(name, "gives up", detail)
                case _:
                    pass

    def _broker_events(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, ClientDisconnected):
                what = "closes, sends will" if event.will_published else "closes"
                self._log(BROKER, what, f"{event.client_id}'s connection: {event.detail}")

    def _count_drops(self) -> None:
        """Log messages the broker gave up on since the last look, as ``$SYS`` counts them."""
        dropped = self.broker.stats.dropped
        for reason in sorted(dropped):
            new = dropped[reason] - self._dropped[reason]
            if new > 0:
                noun = "message" if new == 1 else "messages"
                self._log(BROKER, "drops", f"{new} {noun}: {reason}")
        self._dropped = Counter(dropped)


def will_message(
    topic: str, payload: str, *, qos: int = 1, retain: bool = True, delay_s: int | None = None
) -> Will:
    """A will message; ``delay_s`` sets MQTT 5's Will Delay Interval."""
    properties = NO_PROPERTIES if delay_s is None else Properties(will_delay_interval=delay_s)
    return Will(
        topic=topic, payload=payload.encode(), qos=QoS(qos), retain=retain, properties=properties
    )
