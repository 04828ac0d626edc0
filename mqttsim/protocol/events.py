"""What the protocol core tells its driver: frozen, printable, picklable values.

``receive_data`` and ``handle_timeout`` return a list of these, in the order
they happened. Client-side and broker-side connections share the common
ones (:class:`Disconnected`, :class:`ProtocolViolation`, the trace events).
"""

from __future__ import annotations

from dataclasses import dataclass

from .enums import ProtocolVersion, QoS, ReasonCode
from .packets import Packet, Publish
from .properties import NO_PROPERTIES, Properties

__all__ = [
    "Event",
    "PacketReceived",
    "PacketSent",
    "ProtocolViolation",
    "Disconnected",
    "Connected",
    "ConnectionRefused",
    "MessageReceived",
    "PublishAcked",
    "PublishReceived",
    "PublishCompleted",
    "PublishDropped",
    "Subscribed",
    "Unsubscribed",
    "PongReceived",
    "AuthReceived",
    "ClientConnected",
    "ClientDisconnected",
    "ActionDenied",
    "MessageDropped",
    "WillPublished",
]


class Event:
    """Base of every event."""

    __slots__ = ()


# -- trace (only when a connection is built with trace=True) ----------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PacketReceived(Event):
    """A whole packet arrived. ``size`` counts its bytes on the wire."""

    packet: Packet
    size: int
    now: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PacketSent(Event):
    """A packet left through ``data_to_send`` at ``now``."""

    packet: Packet
    size: int
    now: float


# -- both sides --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolViolation(Event):
    """The peer broke the rules; a DISCONNECT with ``reason_code`` was queued
    (MQTT 5) and the connection is closed. ``detail`` cites the rule."""

    reason_code: ReasonCode
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnected(Event):
    """The connection is over; the driver should close the transport once
    ``data_to_send`` is drained.

    Attributes:
        reason_code: the DISCONNECT's reason (or the reason we closed with).
        by_peer: True when the peer sent DISCONNECT or the transport closed.
        detail: a human-readable sentence for logs and lessons.
    """

    reason_code: ReasonCode
    by_peer: bool
    detail: str = ""
    properties: Properties = NO_PROPERTIES


# -- client side -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected(Event):
    """CONNACK accepted the connection."""

    session_present: bool
    client_id: str
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionRefused(Event):
    """CONNACK refused the connection (3.1.1 return codes mapped to 5)."""

    reason_code: ReasonCode
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class MessageReceived(Event):
    """An application message arrived (for QoS 2: once, on PUBLISH).

    ``publish`` is the packet with any Topic Alias already resolved, so
    ``publish.topic`` is always the full topic name.
    """

    publish: Publish

    # Written out, here and in _Ack, so that mypyc compiles it: one is made
    # per message (see mqttsim.native).
    def __init__(self, *, publish: Publish) -> None:
        object.__setattr__(self, "publish", publish)

    @property
    def topic(self) -> str:
        return self.publish.topic

    @property
    def payload(self) -> bytes:
        return self.publish.payload

    @property
    def qos(self) -> QoS:
        return self.publish.qos


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class _Ack(Event):
    """The shape of the three acknowledgement events."""

    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES

    def __init__(
        self,
        *,
        packet_id: int,
        reason_code: ReasonCode = ReasonCode.SUCCESS,
        properties: Properties = NO_PROPERTIES,
    ) -> None:
        object.__setattr__(self, "packet_id", packet_id)
        object.__setattr__(self, "reason_code", reason_code)
        object.__setattr__(self, "properties", properties)


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class PublishAcked(_Ack):
    """PUBACK for our QoS 1 PUBLISH ``packet_id``."""


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class PublishReceived(_Ack):
    """PUBREC for our QoS 2 PUBLISH: the receiver owns the message now."""


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class PublishCompleted(_Ack):
    """PUBCOMP ended the QoS 2 exchange for ``packet_id``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishDropped(Event):
    """A message was given up without delivery, and why (never silent)."""

    packet_id: int | None
    topic: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscribed(Event):
    """SUBACK: one reason code (granted QoS or failure) per filter."""

    packet_id: int
    reason_codes: tuple[ReasonCode, ...]
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsubscribed(Event):
    """UNSUBACK (3.1.1 carries no reason codes: the tuple is empty)."""

    packet_id: int
    reason_codes: tuple[ReasonCode, ...] = ()
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True, kw_only=True)
class PongReceived(Event):
    """PINGRESP arrived."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthReceived(Event):
    """AUTH arrived during enhanced authentication (MQTT 5 §4.12)."""

    reason_code: ReasonCode
    properties: Properties = NO_PROPERTIES


# -- broker side ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConnected(Event):
    """The broker accepted a client's CONNECT."""

    client_id: str
    version: ProtocolVersion
    session_present: bool
    username: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientDisconnected(Event):
    """A client's connection ended; ``will_published`` says whether its
    will went out now (a delayed will is reported by :class:`WillPublished`
    when it is sent)."""

    client_id: str
    reason_code: ReasonCode
    detail: str = ""
    will_published: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionDenied(Event):
    """The authoriser refused a client's action (``"publish"``,
    ``"subscribe"``, ``"connect"``) on ``topic``; ``username`` is the one the
    client gave (or its session's owner), so a log can name who was refused."""

    client_id: str
    action: str
    topic: str
    reason_code: ReasonCode
    username: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDropped(Event):
    """The broker could not keep a message for ``client_id`` (a full offline
    queue, an expired message, a packet over the client's Maximum Packet
    Size, QoS 0 for an absent client, a subscriber not allowed to read it),
    or lost one ``client_id`` sent: a QoS 2 message held for a PUBREL that
    its session ended before (``BrokerConfig.qos2_handover``), or that
    expired while held. Counted in ``$SYS`` too: nothing disappears in silence."""

    client_id: str
    topic: str
    qos: QoS
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WillPublished(Event):
    """The broker published ``client_id``'s will on ``topic``: at once when
    the connection was lost, or after its Will Delay Interval (MQTT 5
    §3.1.3.2.2), or when the session ended first."""

    client_id: str
    topic: str
