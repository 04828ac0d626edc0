"""Record one publish -> broker -> subscriber exchange of the real protocol core.

The message-sequence charts of the lessons are drawn from what the actual
:class:`~mqttsim.protocol.ClientConnection` and :class:`~mqttsim.protocol.Broker`
send to each other, not from a hand-made list of arrows. This module wires a
publisher and a subscriber to a broker with two in-memory links, runs one
PUBLISH at the chosen QoS through them on a fixed, fake clock, and returns
one :class:`TraceRow` per packet that crossed (or failed to cross) a link.

The network model is deliberately simple, so the chart shows the protocol
and nothing else:

* every packet takes :data:`HOP_S` seconds from one end of a link to the
  other; packets leaving one end together go :data:`GAP_S` apart;
* with ``loss_after=n`` the link named by ``loss_on`` loses its packet
  number ``n`` (counting from 0, both directions, from the PUBLISH on). MQTT
  runs over TCP, where a lost segment is retransmitted until TCP gives up
  and the connection breaks; so here the connection breaks with the loss,
  whatever else was sent on it afterwards is lost too, and
  :data:`DETECT_S` seconds later both ends notice. The client reconnects at
  once without Clean Start and the session resumes: what the core resends
  then (PUBLISH with DUP=1, PUBREL) is exactly what the specification asks
  [MQTT-4.4.0-1].

Nothing here reads a clock, opens a socket or draws a random number, so the
same arguments always give the same rows.
"""

from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

from mqttsim.protocol import (
    Broker,
    BrokerConfig,
    BrokerConnection,
    ClientConnection,
    ConfigError,
    MessageReceived,
    ProtocolVersion,
    Publish,
    decode,
)

from .wire import lesson_version, split_packets

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

__all__ = [
    "TraceRow",
    "record_exchange",
    "exchange_frame",
    "packet_label",
    "HOP_S",
    "GAP_S",
    "DETECT_S",
    "TOPIC",
    "PAYLOAD",
]

HOP_S = 0.25
"""One-way time across a link, in seconds (about one geostationary satellite hop)."""
GAP_S = 0.1
"""Spacing of packets that leave one end of a link together, in seconds."""
DETECT_S = 1.0
"""From a loss to both ends seeing the broken connection, in seconds."""
TOPIC = "pipeline/st-01/pressure"
PAYLOAD = b"42.1"

PUBLISHER, BROKER, SUBSCRIBER = "publisher", "broker", "subscriber"
_PARTIES = (PUBLISHER, BROKER, SUBSCRIBER)
_MAX_STEPS = 500  # an exchange takes a few dozen; a bound keeps a bug from hanging a lesson


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceRow:
    """One packet on one link.

    Attributes:
        time: when it left its sender, in seconds from the PUBLISH.
        arrived: when it reached its receiver; ``None`` if it was lost.
        sender, receiver: ``"publisher"``, ``"broker"`` or ``"subscriber"``.
        packet: the control packet type, e.g. ``"PUBLISH"``.
        packet_id: the Packet Identifier, if the packet has one.
        flags: the four flag bits of the fixed header as sent, e.g. ``"1010"``.
        qos: the QoS of a PUBLISH (``None`` for other packets).
        dup: the DUP flag of a PUBLISH.
        bytes: the packet's size on the wire, fixed header included.
        lost: the packet never arrived.
        retransmission: the same packet again: a PUBLISH with DUP=1, or a
            PUBREL sent a second time because no PUBCOMP came back.
        delivered: a PUBLISH the subscriber handed to its application.
    """

    time: float
    arrived: float | None
    sender: str
    receiver: str
    packet: str
    packet_id: int | None
    flags: str
    qos: int | None
    dup: bool
    bytes: int
    lost: bool
    retransmission: bool
    delivered: bool

    @property
    def label(self) -> str:
        """How a sequence chart names it: ``"PUBLISH id=1 QoS 1, DUP"``."""
        return packet_label(self.packet, self.packet_id, self.qos, self.dup)


def packet_label(packet: str, packet_id: int | None, qos: int | None, dup: bool) -> str:
    """``"PUBLISH id=1 QoS 1"``, ``"PUBACK id=1"``, ``"CONNECT"``; ``", DUP"`` when set."""
    parts = [packet]
    if packet_id is not None:
        parts.append(f"id={packet_id}")
    if qos is not None:
        parts.append(f"QoS {qos}")
    return " ".join(parts) + (", DUP" if dup else "")


def exchange_frame(rows: list[TraceRow]) -> pd.DataFrame:
    """The rows as a DataFrame, one column per :class:`TraceRow` field.

    ``packet_id``, ``qos`` and ``arrived`` are nullable, so they read as
    ``<NA>`` rather than turning into floats.
    """
    import pandas as pd

    columns = [f.name for f in fields(TraceRow)]
    frame = pd.DataFrame([asdict(r) for r in rows], columns=columns)
    return frame.astype({"packet_id": "Int64", "qos": "Int64", "arrived": "Float64"})


# --- the in-memory network -------------------------------------------------------------------


@dataclass
class _Link:
    """A client and the broker connection that serves it."""

    name: str
    client: ClientConnection
    conn: BrokerConnection | None = None
    generation: int = 0  # bumped at every reconnect: old bytes never reach a new connection
    broken: bool = False
    # Per sender on this link: when it may start sending its next packet.
    free_at: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_PARTIES, 0.0))


@dataclass(order=True)
class _Arrival:
    time: float
    seq: int
    link: str = ""
    to_broker: bool = True
    data: bytes = b""
    generation: int = 0
    row: int = -1


class _Recorder:
    """Moves bytes between the cores on a fake clock and writes the rows."""

    def __init__(
        self,
        version: ProtocolVersion,
        loss_on: str,
        loss_after: int | None,
    ) -> None:
        self.version = version
        self.broker = Broker(BrokerConfig(sys_interval_s=0), now=0.0)
        expiry = 3600 if version is ProtocolVersion.V5 else 0
        self.links = {
            name: _Link(
                name,
                ClientConnection(
                    client_id=name,
                    version=version,
                    clean_start=False,  # keep the session, so a reconnect resumes it
                    session_expiry_interval_s=expiry,
                ),
            )
            for name in (PUBLISHER, SUBSCRIBER)
        }
        self.loss_on, self.loss_after = loss_on, loss_after
        self.counted = 0  # packets so far on the lossy link
        self.recording = False
        self.rows: list[dict[str, Any]] = []
        self.queue: list[_Arrival] = []
        self.seq = 0
        self.detect_at: float | None = None

    # -- set-up, instantly and unrecorded ---------------------------------------------------

    def setup(self) -> None:
        for link in self.links.values():
            link.client.connect(now=0.0)
            link.conn = self.broker.connection_made(now=0.0)
        self._settle()
        sub = self.links[SUBSCRIBER].client
        sub.subscribe(TOPIC, qos=2, now=0.0)  # granted 2: the publisher's QoS decides
        self._settle()

    def _settle(self) -> None:
        for _ in range(_MAX_STEPS):
            moved = False
            for link in self.links.values():
                assert link.conn is not None
                up = link.client.data_to_send(now=0.0)
                down = link.conn.data_to_send(now=0.0)
                if up:
                    link.conn.receive_data(up, now=0.0)
                if down:
                    link.client.receive_data(down, now=0.0)
                moved = moved or bool(up or down)
            if not moved:
                return
        raise RuntimeError("the set-up exchange did not settle")

    # -- the recorded exchange ------------------------------------------------------------

    def run(self) -> None:
        for _ in range(_MAX_STEPS):
            if self.detect_at is not None and (
                not self.queue or self.queue[0].time >= self.detect_at
            ):
                now, self.detect_at = self.detect_at, None
                self._reconnect(self.links[self.loss_on], now)
                continue
            if not self.queue:
                return
            arrival = heapq.heappop(self.queue)
            self._arrive(arrival)
        raise RuntimeError(f"the exchange did not end within {_MAX_STEPS} steps")

    def flush(self, now: float) -> None:
        """Send whatever any core has queued, packet by packet."""
        for link in self.links.values():
            self._send(link, link.client.data_to_send(now=now), now, to_broker=True)
            if link.conn is not None:
                self._send(link, link.conn.data_to_send(now=now), now, to_broker=False)

    def _send(self, link: _Link, data: bytes, now: float, *, to_broker: bool) -> None:
        sender = link.name if to_broker else BROKER
        receiver = BROKER if to_broker else link.name
        for raw in split_packets(data):
            leaves = max(now, link.free_at[sender])
            link.free_at[sender] = leaves + GAP_S
            lost = link.broken
            if self.recording and link.name == self.loss_on and not lost:
                if self.counted == self.loss_after:
                    lost = link.broken = True
                    self.detect_at = leaves + DETECT_S
                self.counted += 1
            self.rows.append(self._row(raw, leaves, sender, receiver, lost))
            if not lost:
                self.seq += 1
                heapq.heappush(
                    self.queue,
                    _Arrival(
                        leaves + HOP_S,
                        self.seq,
                        link.name,
                        to_broker,
                        raw,
                        link.generation,
                        len(self.rows) - 1,
                    ),
                )

    def _row(
        self, raw: bytes, leaves: float, sender: str, receiver: str, lost: bool
    ) -> dict[str, Any]:
        packet = decode(raw, self.version)
        publish = packet if isinstance(packet, Publish) else None
        return {
            "time": round(leaves, 6),
            "arrived": None if lost else round(leaves + HOP_S, 6),
            "sender": sender,
            "receiver": receiver,
            "packet": packet.packet_type.name,
            "packet_id": getattr(packet, "packet_id", None),
            "flags": f"{raw[0] & 0x0F:04b}",
            "qos": None if publish is None else int(publish.qos),
            "dup": bool(publish is not None and publish.dup),
            "bytes": len(raw),
            "lost": lost,
            "retransmission": False,  # worked out once every row is known
            "delivered": False,
        }

    def _arrive(self, arrival: _Arrival) -> None:
        link = self.links[arrival.link]
        now = arrival.time
        if arrival.generation != link.generation or link.conn is None:
            self.rows[arrival.row].update(lost=True, arrived=None)  # its connection is gone
            return
        if arrival.to_broker:
            link.conn.receive_data(arrival.data, now=now)
        else:
            events = link.client.receive_data(arrival.data, now=now)
            if link.name == SUBSCRIBER and any(isinstance(e, MessageReceived) for e in events):
                self.rows[arrival.row]["delivered"] = True
        self.flush(now)

    def _reconnect(self, link: _Link, now: float) -> None:
        """Both ends notice the broken connection; the client connects again."""
        link.client.connection_lost(now=now)
        if link.conn is not None:
            link.conn.connection_lost(now=now)
            link.conn.data_to_send(now=now)  # nothing can leave on a dead connection
        link.generation += 1
        link.broken = False
        link.client.connect(now=now, clean_start=False)
        link.conn = self.broker.connection_made(now=now)
        self.flush(now)


def _mark_retransmissions(rows: list[dict[str, Any]]) -> None:
    """A PUBLISH with DUP=1 is one; so is any other packet sent again with the
    same identifier on the same link before the peer answered that identifier."""
    sent: dict[tuple[Any, ...], int] = {}
    answered: dict[tuple[Any, ...], int] = {}
    for i, row in enumerate(rows):
        pid = row["packet_id"]
        if pid is None:
            continue
        key = (row["sender"], row["receiver"], row["packet"], pid)
        if row["packet"] == "PUBLISH":
            row["retransmission"] = bool(row["dup"])
        elif key in sent and answered.get((row["receiver"], row["sender"], pid), -1) < sent[key]:
            row["retransmission"] = True
        sent[key] = i
        answered[(row["sender"], row["receiver"], pid)] = i


def record_exchange(
    qos: int,
    *,
    version: ProtocolVersion | int = ProtocolVersion.V5,
    loss_after: int | None = None,
    loss_on: Literal["publisher", "subscriber"] = "publisher",
) -> list[TraceRow]:
    """Publish one message at ``qos`` and record every packet it causes.

    A subscriber to ``pipeline/st-01/pressure`` and a publisher are connected
    first (not recorded); then the publisher sends ``42.1`` to that topic and
    the recording starts at time 0.

    Args:
        qos: 0, 1 or 2.
        version: 4 (MQTT 3.1.1) or 5 (MQTT 5.0).
        loss_after: how many packets on the ``loss_on`` link get through
            before one is lost (0: the very first); ``None``: no loss. A
            number past the end of the exchange loses nothing.
        loss_on: which link loses it: the publisher's or the subscriber's.

    Returns:
        One row per packet, in the order they left.

    Raises:
        ConfigError: an argument out of range.
    """
    if qos not in (0, 1, 2):
        raise ConfigError(f"qos must be 0, 1 or 2, not {qos!r}")
    wire = lesson_version(version)
    if loss_after is not None and loss_after < 0:
        raise ConfigError(f"loss_after must be 0 or more, not {loss_after}")
    if loss_on not in (PUBLISHER, SUBSCRIBER):
        raise ConfigError(f"loss_on must be 'publisher' or 'subscriber', not {loss_on!r}")
    recorder = _Recorder(wire, loss_on, loss_after)
    recorder.setup()
    recorder.recording = True
    recorder.links[PUBLISHER].client.publish(TOPIC, PAYLOAD, qos=qos, now=0.0)
    recorder.flush(0.0)
    recorder.run()
    rows = sorted(recorder.rows, key=lambda r: r["time"])  # stable: ties keep their order
    _mark_retransmissions(rows)
    return [TraceRow(**r) for r in rows]
