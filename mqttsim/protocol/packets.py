"""One frozen dataclass per MQTT control packet (§3 of both specifications).

A packet is a plain value: it knows its fields, not the protocol version it
will be written in (only CONNECT carries one) and not how to encode itself;
that is :mod:`mqttsim.protocol.codec`'s job. Fields that exist only in MQTT 5
(properties, reason codes on acknowledgements) are simply left at their
defaults for 3.1.1 and the codec leaves them off the wire.

``__post_init__`` checks the structural rules that hold whatever the version
(a packet identifier is 1..65535 [MQTT-2.2.1-3], a QoS 0 PUBLISH has none
[MQTT-2.2.1-2], a SUBSCRIBE has at least one filter [MQTT-3.8.3-3]) and
raises :class:`LocalProtocolError` when a caller builds a packet that could
never be sent. The codec reports the same mistakes in received bytes as
:class:`MalformedPacket` or :class:`RemoteProtocolError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .enums import PacketType, ProtocolVersion, QoS, ReasonCode, RetainHandling
from .errors import LocalProtocolError
from .members import SUCCESS
from .properties import NO_PROPERTIES, Properties

__all__ = [
    "Packet",
    "Will",
    "Connect",
    "ConnAck",
    "Publish",
    "PubAck",
    "PubRec",
    "PubRel",
    "PubComp",
    "Subscription",
    "Subscribe",
    "SubAck",
    "Unsubscribe",
    "UnsubAck",
    "PingReq",
    "PingResp",
    "Disconnect",
    "Auth",
    "PACKET_CLASSES",
]

MAX_PACKET_ID = 0xFFFF


def _check_packet_id(kind: str, packet_id: int) -> None:
    if not 1 <= packet_id <= MAX_PACKET_ID:
        raise LocalProtocolError(
            f"{kind} packet identifier {packet_id} is outside 1..65535 [MQTT-2.2.1-3]"
        )


class Packet:
    """Base of all control packets; ``packet_type`` names the wire type
    (set from :data:`PACKET_CLASSES`)."""

    __slots__ = ()
    packet_type: ClassVar[PacketType]


@dataclass(frozen=True, slots=True, kw_only=True)
class Will:
    """The Will Message carried in CONNECT (§3.1.2.5, §3.1.3.2-3)."""

    topic: str
    payload: bytes = b""
    qos: QoS = QoS.AT_MOST_ONCE
    retain: bool = False
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True, kw_only=True)
class Connect(Packet):
    """CONNECT: the first packet from client to server (§3.1).

    Attributes:
        version: Protocol Level; 3 (3.1), 4 (3.1.1) or 5.
        client_id: may be empty, asking the server to assign one.
        clean_start: "Clean Session" in 3.1.1, "Clean Start" in 5.
        keep_alive_s: seconds; 0 turns keep-alive off.
    """

    version: ProtocolVersion = ProtocolVersion.V5
    client_id: str = ""
    clean_start: bool = True
    keep_alive_s: int = 60
    username: str | None = None
    password: bytes | None = None
    will: Will | None = None
    properties: Properties = NO_PROPERTIES

    def __post_init__(self) -> None:
        if not 0 <= self.keep_alive_s <= 0xFFFF:
            raise LocalProtocolError(f"CONNECT keep alive {self.keep_alive_s} is outside 0..65535")
        if (
            self.version is not ProtocolVersion.V5
            and self.password is not None
            and self.username is None
        ):
            raise LocalProtocolError(
                "CONNECT has a password without a user name, which MQTT 3.1.1 forbids"
                " [MQTT-3.1.2-22]"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnAck(Packet):
    """CONNACK (§3.2). In 3.1.1 the reason code maps onto a return code."""

    session_present: bool = False
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES

    def __post_init__(self) -> None:
        if self.session_present and self.reason_code.is_error:
            raise LocalProtocolError(
                "CONNACK refusing a connection must not set Session Present [MQTT-3.2.2-6]"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Publish(Packet):
    """PUBLISH (§3.3). ``packet_id`` is ``None`` exactly when ``qos`` is 0."""

    topic: str
    payload: bytes = b""
    qos: QoS = QoS.AT_MOST_ONCE
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None
    properties: Properties = NO_PROPERTIES

    def __post_init__(self) -> None:
        if self.qos == 0:
            if self.packet_id is not None:
                raise LocalProtocolError(
                    "a QoS 0 PUBLISH must not have a packet identifier [MQTT-2.2.1-2]"
                )
            if self.dup:
                raise LocalProtocolError("a QoS 0 PUBLISH must have DUP=0 [MQTT-3.3.1-2]")
        elif self.packet_id is None:
            raise LocalProtocolError(
                f"a QoS {int(self.qos)} PUBLISH needs a packet identifier [MQTT-2.2.1-3]"
            )
        else:
            _check_packet_id("PUBLISH", self.packet_id)

    def __new__(cls, *args: object, **kwargs: object) -> Publish:
        # Compiled, Publish.__new__(Publish) in unchecked() is then a C call
        # that allocates, not a lookup and a call through the type.
        return object.__new__(cls)

    @staticmethod
    def unchecked(
        topic: str,
        payload: bytes,
        qos: QoS,
        retain: bool,
        dup: bool,
        packet_id: int | None,
        properties: Properties,
    ) -> Publish:
        """A PUBLISH built without ``__post_init__``'s checks, for the hot
        paths (see the note above :func:`with_packet_id`)."""
        # In the class's own code mypyc makes each object.__setattr__ a store
        # into the object; anywhere else it stays a call.
        packet = Publish.__new__(Publish)
        object.__setattr__(packet, "topic", topic)
        object.__setattr__(packet, "payload", payload)
        object.__setattr__(packet, "qos", qos)
        object.__setattr__(packet, "retain", retain)
        object.__setattr__(packet, "dup", dup)
        object.__setattr__(packet, "packet_id", packet_id)
        object.__setattr__(packet, "properties", properties)
        return packet


@dataclass(frozen=True, slots=True, kw_only=True)
class _PacketIdReason(Packet):
    """The shape shared by PUBACK, PUBREC, PUBREL and PUBCOMP."""

    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES

    def __post_init__(self) -> None:
        _check_packet_id(self.packet_type.name, self.packet_id)

    @staticmethod
    def _success(
        cls: type[PubAck | PubRec | PubRel | PubComp], packet_id: int
    ) -> PubAck | PubRec | PubRel | PubComp:
        packet = cls.__new__(cls)
        fields: _PacketIdReason = packet  # stores, not calls: see Publish.unchecked
        object.__setattr__(fields, "packet_id", packet_id)
        object.__setattr__(fields, "reason_code", SUCCESS)
        object.__setattr__(fields, "properties", NO_PROPERTIES)
        return packet


@dataclass(frozen=True, slots=True, kw_only=True)
class PubAck(_PacketIdReason):
    """PUBACK: QoS 1 acknowledgement (§3.4)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PubRec(_PacketIdReason):
    """PUBREC: QoS 2 delivery, part 1 (§3.5)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PubRel(_PacketIdReason):
    """PUBREL: QoS 2 delivery, part 2 (§3.6)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PubComp(_PacketIdReason):
    """PUBCOMP: QoS 2 delivery, part 3 (§3.7)."""


# Hot paths (a client publishing, a broker forwarding, the decoder) build
# packets whose fields they have checked already. A frozen dataclass's
# __init__ costs an object.__setattr__ per field plus __post_init__, more
# than the rest of the work on a message, so these fill the fields directly.
# The filling is in the classes' own code: there mypyc compiles each
# object.__setattr__ spelt out into a store into the object, while anywhere
# else (or through an alias) it stays a call. Callers must uphold what
# __post_init__ checks; tests/protocol checks that the results equal what
# __init__ builds.


def with_packet_id(packet: Publish, packet_id: int) -> Publish:
    """``dataclasses.replace(packet, packet_id=packet_id)`` for a QoS 1/2
    PUBLISH and an identifier in 1..65535, without the checks."""
    return Publish.unchecked(
        packet.topic,
        packet.payload,
        packet.qos,
        packet.retain,
        packet.dup,
        packet_id,
        packet.properties,
    )


def ack_unchecked(
    cls: type[PubAck | PubRec | PubRel | PubComp], packet_id: int
) -> PubAck | PubRec | PubRel | PubComp:
    """A success acknowledgement with no properties, ``cls(packet_id=...)``
    for an identifier in 1..65535, without the check."""
    return _PacketIdReason._success(cls, packet_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    """One topic filter with its Subscription Options (§3.8.3.1).

    ``no_local``, ``retain_as_published`` and ``retain_handling`` are MQTT 5
    only; in 3.1.1 only ``qos`` goes on the wire.
    """

    topic_filter: str
    qos: QoS = QoS.AT_MOST_ONCE
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: RetainHandling = RetainHandling.SEND_ON_SUBSCRIBE


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscribe(Packet):
    """SUBSCRIBE (§3.8)."""

    packet_id: int
    subscriptions: tuple[Subscription, ...]
    properties: Properties = NO_PROPERTIES

    def __post_init__(self) -> None:
        _check_packet_id("SUBSCRIBE", self.packet_id)
        if not self.subscriptions:
            raise LocalProtocolError("SUBSCRIBE needs at least one topic filter [MQTT-3.8.3-3]")


@dataclass(frozen=True, slots=True, kw_only=True)
class SubAck(Packet):
    """SUBACK: one reason code per filter, in order (§3.9)."""

    packet_id: int
    reason_codes: tuple[ReasonCode, ...]
    properties: Properties = NO_PROPERTIES

    def __post_init__(self) -> None:
        _check_packet_id("SUBACK", self.packet_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsubscribe(Packet):
    """UNSUBSCRIBE (§3.10)."""

    packet_id: int
    topic_filters: tuple[str, ...]
    properties: Properties = NO_PROPERTIES

    def __post_init__(self) -> None:
        _check_packet_id("UNSUBSCRIBE", self.packet_id)
        if not self.topic_filters:
            raise LocalProtocolError("UNSUBSCRIBE needs at least one topic filter [MQTT-3.10.3-2]")


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsubAck(Packet):
    """UNSUBACK (§3.11). 3.1.1 has no reason codes: ``reason_codes`` is empty."""

    packet_id: int
    reason_codes: tuple[ReasonCode, ...] = ()
    properties: Properties = NO_PROPERTIES

    def __post_init__(self) -> None:
        _check_packet_id("UNSUBACK", self.packet_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class PingReq(Packet):
    """PINGREQ (§3.12)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PingResp(Packet):
    """PINGRESP (§3.13)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnect(Packet):
    """DISCONNECT (§3.14). 3.1.1 sends only the fixed header."""

    reason_code: ReasonCode = ReasonCode.NORMAL_DISCONNECTION
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True, kw_only=True)
class Auth(Packet):
    """AUTH (§3.15, MQTT 5 only): extended authentication exchange."""

    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = field(default=NO_PROPERTIES)


#: Each control packet's class by its wire type. The classes get their
#: ``packet_type`` from here: mypyc, which compiles this module, would take a
#: ClassVar given a value in a dataclass body for one more field.
PACKET_CLASSES: dict[PacketType, type[Packet]] = {
    PacketType.CONNECT: Connect,
    PacketType.CONNACK: ConnAck,
    PacketType.PUBLISH: Publish,
    PacketType.PUBACK: PubAck,
    PacketType.PUBREC: PubRec,
    PacketType.PUBREL: PubRel,
    PacketType.PUBCOMP: PubComp,
    PacketType.SUBSCRIBE: Subscribe,
    PacketType.SUBACK: SubAck,
    PacketType.UNSUBSCRIBE: Unsubscribe,
    PacketType.UNSUBACK: UnsubAck,
    PacketType.PINGREQ: PingReq,
    PacketType.PINGRESP: PingResp,
    PacketType.DISCONNECT: Disconnect,
    PacketType.AUTH: Auth,
}
for _type, _cls in PACKET_CLASSES.items():
    _cls.packet_type = _type
