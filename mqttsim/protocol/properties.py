"""MQTT 5 properties (§2.2.2): the table as data, and a typed value object.

The specification defines 27 properties, each with an identifier, a wire
type and the packets that may carry it. :data:`PROPERTY_TABLE` holds exactly
that, and the codec reads and writes properties from it alone. A packet
holds its properties as a :class:`Properties` value: one optional field per
property, so ``props.message_expiry_interval`` reads like the specification
and a mistyped name fails at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum
from typing import Final, Literal

from .enums import PacketType

__all__ = [
    "WireType",
    "PropertyId",
    "PropertySpec",
    "PROPERTY_TABLE",
    "PROPERTY_BY_NAME",
    "WILL",
    "Properties",
    "NO_PROPERTIES",
]


class WireType(Enum):
    """Data representations of §1.5."""

    BYTE = "byte"
    TWO_BYTE_INT = "two byte integer"
    FOUR_BYTE_INT = "four byte integer"
    VARIABLE_BYTE_INT = "variable byte integer"
    UTF8_STRING = "UTF-8 encoded string"
    BINARY_DATA = "binary data"
    UTF8_STRING_PAIR = "UTF-8 string pair"


class PropertyId(int, Enum):
    """Property identifiers (§2.2.2.2, Table 2-4)."""

    PAYLOAD_FORMAT_INDICATOR = 0x01
    MESSAGE_EXPIRY_INTERVAL = 0x02
    CONTENT_TYPE = 0x03
    RESPONSE_TOPIC = 0x08
    CORRELATION_DATA = 0x09
    SUBSCRIPTION_IDENTIFIER = 0x0B
    SESSION_EXPIRY_INTERVAL = 0x11
    ASSIGNED_CLIENT_IDENTIFIER = 0x12
    SERVER_KEEP_ALIVE = 0x13
    AUTHENTICATION_METHOD = 0x15
    AUTHENTICATION_DATA = 0x16
    REQUEST_PROBLEM_INFORMATION = 0x17
    WILL_DELAY_INTERVAL = 0x18
    REQUEST_RESPONSE_INFORMATION = 0x19
    RESPONSE_INFORMATION = 0x1A
    SERVER_REFERENCE = 0x1C
    REASON_STRING = 0x1F
    RECEIVE_MAXIMUM = 0x21
    TOPIC_ALIAS_MAXIMUM = 0x22
    TOPIC_ALIAS = 0x23
    MAXIMUM_QOS = 0x24
    RETAIN_AVAILABLE = 0x25
    USER_PROPERTY = 0x26
    MAXIMUM_PACKET_SIZE = 0x27
    WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
    SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
    SHARED_SUBSCRIPTION_AVAILABLE = 0x2A


#: The will properties of CONNECT are a context of their own (§3.1.3.2).
WILL: Literal["will"] = "will"
Context = PacketType | Literal["will"]


@dataclass(frozen=True, slots=True)
class PropertySpec:
    """One row of Table 2-4.

    Attributes:
        id: the identifier byte on the wire.
        name: the attribute name on :class:`Properties`.
        wire_type: how the value is encoded.
        contexts: the packets (and ``"will"``) that may carry it.
        repeatable: whether it may appear more than once (User Property, and
            Subscription Identifier in PUBLISH); all others appearing twice
            is a Protocol Error [MQTT-2.2.2-2 ff.].
    """

    id: PropertyId
    name: str
    wire_type: WireType
    contexts: frozenset[Context]
    repeatable: bool = False


_P = PacketType
_ACKS = (_P.PUBACK, _P.PUBREC, _P.PUBREL, _P.PUBCOMP, _P.SUBACK, _P.UNSUBACK)


def _spec(
    pid: PropertyId, wire: WireType, *contexts: Context, repeatable: bool = False
) -> PropertySpec:
    name = pid.name.lower()
    # Repeatable properties are held as tuples, so their attribute is plural.
    name = {"user_property": "user_properties"}.get(name, name)
    name = {"subscription_identifier": "subscription_identifiers"}.get(name, name)
    return PropertySpec(pid, name, wire, frozenset(contexts), repeatable)


W = WireType
PROPERTY_TABLE: dict[int, PropertySpec] = {
    s.id.value: s
    for s in (
        _spec(PropertyId.PAYLOAD_FORMAT_INDICATOR, W.BYTE, _P.PUBLISH, WILL),
        _spec(PropertyId.MESSAGE_EXPIRY_INTERVAL, W.FOUR_BYTE_INT, _P.PUBLISH, WILL),
        _spec(PropertyId.CONTENT_TYPE, W.UTF8_STRING, _P.PUBLISH, WILL),
        _spec(PropertyId.RESPONSE_TOPIC, W.UTF8_STRING, _P.PUBLISH, WILL),
        _spec(PropertyId.CORRELATION_DATA, W.BINARY_DATA, _P.PUBLISH, WILL),
        _spec(
            PropertyId.SUBSCRIPTION_IDENTIFIER, W.VARIABLE_BYTE_INT, _P.PUBLISH, _P.SUBSCRIBE,
            repeatable=True,
        ),
        _spec(
            PropertyId.SESSION_EXPIRY_INTERVAL, W.FOUR_BYTE_INT,
            _P.CONNECT, _P.CONNACK, _P.DISCONNECT,
        ),
        _spec(PropertyId.ASSIGNED_CLIENT_IDENTIFIER, W.UTF8_STRING, _P.CONNACK),
        _spec(PropertyId.SERVER_KEEP_ALIVE, W.TWO_BYTE_INT, _P.CONNACK),
        _spec(PropertyId.AUTHENTICATION_METHOD, W.UTF8_STRING, _P.CONNECT, _P.CONNACK, _P.AUTH),
        _spec(PropertyId.AUTHENTICATION_DATA, W.BINARY_DATA, _P.CONNECT, _P.CONNACK, _P.AUTH),
        _spec(PropertyId.REQUEST_PROBLEM_INFORMATION, W.BYTE, _P.CONNECT),
        _spec(PropertyId.WILL_DELAY_INTERVAL, W.FOUR_BYTE_INT, WILL),
        _spec(PropertyId.REQUEST_RESPONSE_INFORMATION, W.BYTE, _P.CONNECT),
        _spec(PropertyId.RESPONSE_INFORMATION, W.UTF8_STRING, _P.CONNACK),
        _spec(PropertyId.SERVER_REFERENCE, W.UTF8_STRING, _P.CONNACK, _P.DISCONNECT),
        _spec(
            PropertyId.REASON_STRING, W.UTF8_STRING, _P.CONNACK, *_ACKS, _P.DISCONNECT, _P.AUTH
        ),
        _spec(PropertyId.RECEIVE_MAXIMUM, W.TWO_BYTE_INT, _P.CONNECT, _P.CONNACK),
        _spec(PropertyId.TOPIC_ALIAS_MAXIMUM, W.TWO_BYTE_INT, _P.CONNECT, _P.CONNACK),
        _spec(PropertyId.TOPIC_ALIAS, W.TWO_BYTE_INT, _P.PUBLISH),
        _spec(PropertyId.MAXIMUM_QOS, W.BYTE, _P.CONNACK),
        _spec(PropertyId.RETAIN_AVAILABLE, W.BYTE, _P.CONNACK),
        _spec(
            PropertyId.USER_PROPERTY, W.UTF8_STRING_PAIR,
            _P.CONNECT, _P.CONNACK, _P.PUBLISH, WILL, *_ACKS,
            _P.SUBSCRIBE, _P.UNSUBSCRIBE, _P.DISCONNECT, _P.AUTH,
            repeatable=True,
        ),
        _spec(PropertyId.MAXIMUM_PACKET_SIZE, W.FOUR_BYTE_INT, _P.CONNECT, _P.CONNACK),
        _spec(PropertyId.WILDCARD_SUBSCRIPTION_AVAILABLE, W.BYTE, _P.CONNACK),
        _spec(PropertyId.SUBSCRIPTION_IDENTIFIER_AVAILABLE, W.BYTE, _P.CONNACK),
        _spec(PropertyId.SHARED_SUBSCRIPTION_AVAILABLE, W.BYTE, _P.CONNACK),
    )
}
del W

PROPERTY_BY_NAME: dict[str, PropertySpec] = {s.name: s for s in PROPERTY_TABLE.values()}


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Properties:
    """The MQTT 5 properties of one packet; ``None`` means absent.

    Field names are the specification's property names in snake case.
    User properties keep their order and may repeat keys [MQTT-3.3.2-18].
    """

    payload_format_indicator: int | None = None
    message_expiry_interval: int | None = None
    content_type: str | None = None
    response_topic: str | None = None
    correlation_data: bytes | None = None
    subscription_identifiers: tuple[int, ...] = ()
    session_expiry_interval: int | None = None
    assigned_client_identifier: str | None = None
    server_keep_alive: int | None = None
    authentication_method: str | None = None
    authentication_data: bytes | None = None
    request_problem_information: int | None = None
    will_delay_interval: int | None = None
    request_response_information: int | None = None
    response_information: str | None = None
    server_reference: str | None = None
    reason_string: str | None = None
    receive_maximum: int | None = None
    topic_alias_maximum: int | None = None
    topic_alias: int | None = None
    maximum_qos: int | None = None
    retain_available: int | None = None
    user_properties: tuple[tuple[str, str], ...] = ()
    maximum_packet_size: int | None = None
    wildcard_subscription_available: int | None = None
    subscription_identifier_available: int | None = None
    shared_subscription_available: int | None = None

    def present(self) -> dict[str, object]:
        """The properties that are set, by name, in table order."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value != ():
                out[f.name] = value
        return out

    def __bool__(self) -> bool:
        return self is not NO_PROPERTIES and bool(self.present())

    def __repr__(self) -> str:
        # Only the properties that are set: a PUBLISH prints on one line.
        inner = ", ".join(f"{name}={value!r}" for name, value in self.present().items())
        return f"Properties({inner})"


#: The shared empty value; packets default to it.
NO_PROPERTIES: Final = Properties()
