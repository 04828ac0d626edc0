"""Reading packet bodies: the receiving half of :mod:`mqttsim.protocol.codec`.

Import from :mod:`mqttsim.protocol.codec`, not from here. This module knows
how to turn the bytes *after* a fixed header into a packet dataclass; the
fixed header, the packet boundaries, the Maximum Packet Size and the order of
packets on a connection are the business of ``codec``.

Every reader works on ``data[pos:end]`` of an immutable ``bytes`` object and
never looks past ``end``: in a stream the next packet starts there. A field
that would cross ``end`` makes the packet malformed (§1.5, §2.2.3: every
length is bounded by the Remaining Length). Body decoders return a packet or
raise a :class:`ProtocolError`; stray ``IndexError`` or ``ValueError`` cannot
happen by construction, and ``codec`` still converts any that would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from .enums import (
    CONNACK_V311_TO_REASON,
    REASON_CODES_BY_PACKET,
    PacketType,
    ProtocolVersion,
    QoS,
    ReasonCode,
    RetainHandling,
)
from .enums import PacketType as _P
from .enums import ReasonCode as _R
from .errors import MalformedPacket, RemoteProtocolError
from .members import V5
from .packets import (
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
    ack_unchecked,
)
from .properties import (
    NO_PROPERTIES,
    PROPERTY_TABLE,
    WILL,
    Context,
    Properties,
    WireType,
)
from .properties import PropertyId as _PID

# For codec and encoding only; the public names are codec's.
__all__ = [
    "MAX_REMAINING_LENGTH",
    "IncompletePacket",
    "decode_varint",
    "read_varint",
    "PROPERTY_RULES",
    "ONCE_IN",
    "context_name",
    "property_label",
    "reason_code",
    "decode_utf8",
    "Reader",
    "decode_publish",
    "BODY_DECODERS",
]

MAX_REMAINING_LENGTH: Final = 268_435_455

_QOS: Final = (QoS.AT_MOST_ONCE, QoS.AT_LEAST_ONCE, QoS.EXACTLY_ONCE)
_RETAIN_HANDLING: Final = tuple(RetainHandling)


class IncompletePacket(MalformedPacket):
    """The bytes end before the field or packet does.

    :class:`~mqttsim.protocol.codec.StreamDecoder` never lets it out: for a
    stream it only means "wait for more bytes". Anywhere a whole packet was
    promised it is what it inherits from: a Malformed Packet (0x81).
    """


def decode_varint(data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[int, int]:
    """Read a Variable Byte Integer (§1.5.5; §2.2.3 in 3.1.1).

    Args:
        data: the bytes to read from.
        offset: where the integer starts.

    Returns:
        ``(value, offset just past the integer)``.

    Raises:
        IncompletePacket: ``data`` ends before the last byte of the integer.
        MalformedPacket: more than four bytes, or not the shortest encoding
            [MQTT-1.5.5-1].
    """
    return read_varint(data, offset, len(data))


def read_varint(data: bytes | bytearray | memoryview, pos: int, end: int) -> tuple[int, int]:
    """:func:`decode_varint` that must finish before ``end``."""
    value = 0
    for i in range(pos, pos + 4):
        if i >= end:
            raise IncompletePacket("the bytes end inside a Variable Byte Integer (§1.5.5)")
        byte = data[i]
        value |= (byte & 0x7F) << (7 * (i - pos))
        if byte < 0x80:
            # A last byte of 0 adds nothing: a shorter encoding existed.
            if byte == 0 and i > pos:
                raise MalformedPacket(
                    "a Variable Byte Integer is not encoded in the minimum number of bytes"
                    " [MQTT-1.5.5-1]"
                )
            return value, i + 1
    raise MalformedPacket("a Variable Byte Integer is longer than four bytes (§1.5.5)")


# --- rules on property values ---------------------------------------------------------------
#
# PROPERTY_TABLE says how each property is encoded and where it may appear. A
# few properties also restrict their values; breaking one is a Protocol Error
# (or Topic Alias Invalid), not a Malformed Packet, so they are kept apart as
# data: identifier -> (lowest, highest, reason code, reference). The encoder
# refuses the same values, so whatever we send we would also accept.

_BOOLEAN = (0, 1, _R.PROTOCOL_ERROR)
PROPERTY_RULES: Final[dict[int, tuple[int, int, ReasonCode, str]]] = {
    _PID.PAYLOAD_FORMAT_INDICATOR: (*_BOOLEAN, "§3.3.2.3.2"),
    _PID.REQUEST_PROBLEM_INFORMATION: (*_BOOLEAN, "§3.1.2.11.7"),
    _PID.REQUEST_RESPONSE_INFORMATION: (*_BOOLEAN, "§3.1.2.11.6"),
    _PID.MAXIMUM_QOS: (*_BOOLEAN, "§3.2.2.3.4"),
    _PID.RETAIN_AVAILABLE: (*_BOOLEAN, "§3.2.2.3.5"),
    _PID.WILDCARD_SUBSCRIPTION_AVAILABLE: (*_BOOLEAN, "§3.2.2.3.11"),
    _PID.SUBSCRIPTION_IDENTIFIER_AVAILABLE: (*_BOOLEAN, "§3.2.2.3.12"),
    _PID.SHARED_SUBSCRIPTION_AVAILABLE: (*_BOOLEAN, "§3.2.2.3.13"),
    _PID.RECEIVE_MAXIMUM: (1, 0xFFFF, _R.PROTOCOL_ERROR, "§3.1.2.11.3, §3.2.2.3.3"),
    _PID.MAXIMUM_PACKET_SIZE: (1, 0xFFFF_FFFF, _R.PROTOCOL_ERROR, "§3.1.2.11.4, §3.2.2.3.6"),
    _PID.SUBSCRIPTION_IDENTIFIER: (
        1,
        MAX_REMAINING_LENGTH,
        _R.PROTOCOL_ERROR,
        "§3.3.2.3.8, §3.8.2.1.2",
    ),
    _PID.TOPIC_ALIAS: (1, 0xFFFF, _R.TOPIC_ALIAS_INVALID, "[MQTT-3.3.2-8]"),
}

# Repeatable properties that may nevertheless appear only once in one packet:
# "It is a Protocol Error to include the Subscription Identifier more than
# once" in SUBSCRIBE (§3.8.2.1.2), while a PUBLISH may carry several.
ONCE_IN: Final[frozenset[tuple[int, Context]]] = frozenset(
    {(_PID.SUBSCRIPTION_IDENTIFIER, _P.SUBSCRIBE)}
)


def context_name(context: Context) -> str:
    """``"PUBLISH"``, or ``"the will properties"`` for the WILL context."""
    return context.name if isinstance(context, PacketType) else "the will properties"


def property_label(pid: int) -> str:
    """A property's name as the specification writes it, e.g. ``"Topic Alias"``."""
    return PROPERTY_TABLE[pid].id.name.replace("_", " ").title()


# --- reading fields ---------------------------------------------------------------------------

_REASON_LOOKUP: Final[dict[PacketType, dict[int, ReasonCode]]] = {
    ptype: {int(code): code for code in codes} for ptype, codes in REASON_CODES_BY_PACKET.items()
}
# The statement that restricts each packet to its own table of reason codes;
# any other value is a Malformed Packet (§2.4).
_REASON_RULE: Final = {
    _P.CONNACK: "[MQTT-3.2.2-8]",
    _P.PUBACK: "[MQTT-3.4.2-1]",
    _P.PUBREC: "[MQTT-3.5.2-1]",
    _P.PUBREL: "[MQTT-3.6.2-1]",
    _P.PUBCOMP: "[MQTT-3.7.2-1]",
    _P.SUBACK: "[MQTT-3.9.3-2]",
    _P.UNSUBACK: "[MQTT-3.11.3-2]",
    _P.DISCONNECT: "[MQTT-3.14.2-1]",
    _P.AUTH: "[MQTT-3.15.2-1]",
}
# 3.1.1 SUBACK return codes (§3.9.3): 0x80 "Failure" is our UNSPECIFIED_ERROR.
_SUBACK_V311: Final = {
    0: _R.GRANTED_QOS_0,
    1: _R.GRANTED_QOS_1,
    2: _R.GRANTED_QOS_2,
    0x80: _R.UNSPECIFIED_ERROR,
}


def reason_code(ptype: PacketType, value: int) -> ReasonCode:
    """The reason code ``value`` if ``ptype`` may carry it, else MalformedPacket."""
    code = _REASON_LOOKUP[ptype].get(value)
    if code is None:
        raise MalformedPacket(
            f"{ptype.name} carries reason code 0x{value:02X}, which it may not use"
            f" {_REASON_RULE[ptype]}"
        )
    return code


def decode_utf8(raw: bytes, what: str) -> str:
    """Decode a UTF-8 Encoded String's character data (§1.5.4).

    Python's strict UTF-8 decoder already refuses ill-formed sequences,
    overlong forms and encoded surrogates [MQTT-1.5.4-1]; it keeps a leading
    U+FEFF as a character, as [MQTT-1.5.4-3] requires. U+0000 is valid UTF-8
    but not allowed in MQTT [MQTT-1.5.4-2].
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPacket(
            f"{what} is not well-formed UTF-8 [MQTT-1.5.4-1] (3.1.1: [MQTT-1.5.3-1])"
        ) from None
    if "\x00" in text:
        raise MalformedPacket(f"{what} contains U+0000 [MQTT-1.5.4-2] (3.1.1: [MQTT-1.5.3-2])")
    return text


class Reader:
    """A cursor over one packet body, ``data[pos:end]``, that never reads past ``end``.

    Attributes:
        data: the bytes holding the packet (and maybe others around it).
        pos: the next byte to read.
        end: one past the packet's last byte.
        what: the packet's name, for error messages.
    """

    __slots__ = ("data", "pos", "end", "what")

    def __init__(self, data: bytes, pos: int, end: int, what: str) -> None:
        self.data = data
        self.pos = pos
        self.end = end
        self.what = what

    def _take(self, n: int) -> int:
        start = self.pos
        if start + n > self.end:
            raise MalformedPacket(
                f"{self.what} ends {start + n - self.end} byte(s) inside a field"
                " (a length overruns the Remaining Length, §2.2.3)"
            )
        self.pos = start + n
        return start

    @property
    def remaining(self) -> int:
        """Bytes left before ``end``."""
        return self.end - self.pos

    def u8(self) -> int:
        """A Byte."""
        return self.data[self._take(1)]

    def u16(self) -> int:
        """A Two Byte Integer, big-endian (§1.5.2)."""
        i = self._take(2)
        return (self.data[i] << 8) | self.data[i + 1]

    def u32(self) -> int:
        """A Four Byte Integer, big-endian (§1.5.3)."""
        i = self._take(4)
        return int.from_bytes(self.data[i : i + 4], "big")

    def varint(self) -> int:
        """A Variable Byte Integer that must end before ``end`` (§1.5.5)."""
        try:
            value, pos = read_varint(self.data, self.pos, self.end)
        except IncompletePacket:
            raise MalformedPacket(f"{self.what} ends inside a Variable Byte Integer") from None
        self.pos = pos
        return value

    def binary(self) -> bytes:
        """Binary Data: a two-byte length, then that many bytes (§1.5.6)."""
        n = self.u16()
        i = self._take(n)
        return self.data[i : i + n]

    def utf8(self, field: str) -> str:
        """A UTF-8 Encoded String (§1.5.4); ``field`` names it in errors."""
        return decode_utf8(self.binary(), f"{self.what} {field}")

    def expect_end(self) -> None:
        """Refuse bytes left over after the last field."""
        if self.pos != self.end:
            raise MalformedPacket(
                f"{self.what} has {self.end - self.pos} byte(s) after its last field"
            )

    def properties(self, context: Context) -> Properties:
        """Read a property block (§2.2.2) through PROPERTY_TABLE alone."""
        length = self.varint()
        if length == 0:
            return NO_PROPERTIES
        stop = self.pos + length
        if stop > self.end:
            raise MalformedPacket(
                f"{self.what} Property Length {length} overruns the Remaining Length (§2.2.2.1)"
            )
        outer_end, self.end = self.end, stop
        found: dict[str, Any] = {}
        while self.pos < stop:
            pid = self.varint()
            spec = PROPERTY_TABLE.get(pid)
            if spec is None:
                raise MalformedPacket(
                    f"{self.what} has unknown property identifier 0x{pid:02X} (§2.2.2.2)"
                )
            if context not in spec.contexts:
                raise MalformedPacket(
                    f"{property_label(pid)} (0x{pid:02X}) is not allowed in"
                    f" {context_name(context)} (§2.2.2.2, Table 2-4)"
                )
            value = _WIRE_READERS[spec.wire_type](self)
            rule = PROPERTY_RULES.get(pid)
            if rule is not None and not rule[0] <= value <= rule[1]:
                raise RemoteProtocolError(
                    f"{property_label(pid)} is {value}; allowed: {rule[0]}..{rule[1]} ({rule[3]})",
                    rule[2],
                )
            name = spec.name
            if spec.repeatable and (pid, context) not in ONCE_IN:
                found.setdefault(name, []).append(value)
            elif name in found:
                # Each property's definition: "It is a Protocol Error to
                # include <it> more than once" (§3.1.2.11 ff., §2.2.2.2).
                raise RemoteProtocolError(
                    f"{self.what} carries {property_label(pid)} more than once (§2.2.2.2)"
                )
            else:
                found[name] = [value] if spec.repeatable else value
        self.end = outer_end
        for name, value in found.items():
            if isinstance(value, list):
                found[name] = tuple(value)
        return Properties(**found)


def _read_pair(r: Reader) -> tuple[str, str]:
    return (r.utf8("User Property name"), r.utf8("User Property value"))


_WIRE_READERS: Final[dict[WireType, Callable[[Reader], Any]]] = {
    WireType.BYTE: Reader.u8,
    WireType.TWO_BYTE_INT: Reader.u16,
    WireType.FOUR_BYTE_INT: Reader.u32,
    WireType.VARIABLE_BYTE_INT: Reader.varint,
    WireType.UTF8_STRING: lambda r: r.utf8("property string"),
    WireType.BINARY_DATA: Reader.binary,
    WireType.UTF8_STRING_PAIR: _read_pair,
}


# --- packet bodies --------------------------------------------------------------------------
#
# Each decoder has the signature (flags, data, pos, end, v5) -> Packet, where
# data[pos:end] is the body after the fixed header and v5 says whether MQTT 5
# fields (properties, reason codes) are present.

Decoder = Callable[[int, bytes, int, int, bool], Packet]


def _decode_connect(flags: int, data: bytes, pos: int, end: int, v5: bool) -> Connect:
    # A CONNECT names its own version, so ``v5`` (the version in force) is
    # not used: the codec only lets a CONNECT through when none is.
    r = Reader(data, pos, end, "CONNECT")
    name = r.binary()
    level = r.u8()
    if name == b"MQTT":
        if level not in (4, 5):
            raise RemoteProtocolError(
                f"CONNECT asks for protocol level {level}; supported: 4 (3.1.1), 5 (5.0)"
                " [MQTT-3.1.2-2]",
                _R.UNSUPPORTED_PROTOCOL_VERSION,
            )
    elif name == b"MQIsdp":
        if level != 3:
            raise RemoteProtocolError(
                f"CONNECT names MQIsdp (3.1) with protocol level {level}, not 3 [MQTT-3.1.2-2]",
                _R.UNSUPPORTED_PROTOCOL_VERSION,
            )
    else:
        raise MalformedPacket(f"CONNECT protocol name is {name!r}, not 'MQTT' [MQTT-3.1.2-1]")
    version = ProtocolVersion(level)
    is_v5 = version is V5
    cflags = r.u8()
    if cflags & 0x01:
        raise MalformedPacket("CONNECT reserved flag (bit 0) is set [MQTT-3.1.2-3]")
    will_flag = cflags & 0x04
    will_qos = (cflags >> 3) & 0x03
    will_retain = bool(cflags & 0x20)
    if not will_flag:
        if will_qos:
            raise MalformedPacket(
                "CONNECT sets Will QoS without the Will Flag [MQTT-3.1.2-11] (3.1.1: -13)"
            )
        if will_retain:
            raise MalformedPacket(
                "CONNECT sets Will Retain without the Will Flag [MQTT-3.1.2-13] (3.1.1: -15)"
            )
    elif will_qos == 3:
        raise MalformedPacket("CONNECT Will QoS is 3 [MQTT-3.1.2-12] (3.1.1: [MQTT-3.1.2-14])")
    has_username = cflags & 0x80
    has_password = cflags & 0x40
    if has_password and not has_username and not is_v5:
        raise MalformedPacket(
            "CONNECT sets the Password Flag without the User Name Flag, which MQTT 3.1.1"
            " forbids [MQTT-3.1.2-22]"
        )
    keep_alive = r.u16()
    properties = r.properties(_P.CONNECT) if is_v5 else NO_PROPERTIES
    # Payload fields in the order of [MQTT-3.1.3-1].
    client_id = r.utf8("Client Identifier")
    will = None
    if will_flag:
        will_props = r.properties(WILL) if is_v5 else NO_PROPERTIES
        will_topic = r.utf8("Will Topic")
        will = Will(
            topic=will_topic,
            payload=r.binary(),
            qos=_QOS[will_qos],
            retain=will_retain,
            properties=will_props,
        )
    username = r.utf8("User Name") if has_username else None
    password = r.binary() if has_password else None
    r.expect_end()
    return Connect(
        version=version,
        client_id=client_id,
        clean_start=bool(cflags & 0x02),
        keep_alive_s=keep_alive,
        username=username,
        password=password,
        will=will,
        properties=properties,
    )


def _decode_connack(flags: int, data: bytes, pos: int, end: int, v5: bool) -> ConnAck:
    r = Reader(data, pos, end, "CONNACK")
    ack_flags = r.u8()
    if ack_flags & 0xFE:
        raise MalformedPacket(
            "CONNACK Acknowledge Flags bits 7-1 are not 0 [MQTT-3.2.2-1] (3.1.1: §3.2.2.1)"
        )
    code = r.u8()
    if v5:
        reason = reason_code(_P.CONNACK, code)
        properties = r.properties(_P.CONNACK)
    else:
        mapped = CONNACK_V311_TO_REASON.get(code)
        if mapped is None:
            raise MalformedPacket(f"CONNACK return code {code} is reserved in 3.1.1 (§3.2.2.3)")
        reason, properties = mapped, NO_PROPERTIES
    r.expect_end()
    return ConnAck(session_present=bool(ack_flags), reason_code=reason, properties=properties)


# Hot path: the decoder builds the PUBLISH with Publish.unchecked,
# skipping __init__ (see there), and makes itself the two checks of
# Publish.__post_init__ that bytes can fail.


def decode_publish(flags: int, data: bytes, pos: int, end: int, v5: bool) -> Publish:
    """PUBLISH (§3.3): the hot path, so fields are read inline."""
    # The topic is only decoded here; whether it is a valid Topic Name (no
    # wildcards [MQTT-3.3.2-2], not empty unless a Topic Alias stands in for
    # it in MQTT 5) is the connection's question.
    if end - pos < 2:
        raise MalformedPacket("PUBLISH ends before its Topic Name length")
    tstart = pos + 2
    pos = tstart + ((data[pos] << 8) | data[pos + 1])
    if pos > end:
        raise MalformedPacket("PUBLISH Topic Name overruns the Remaining Length")
    topic = decode_utf8(data[tstart:pos], "PUBLISH Topic Name")
    qos = (flags >> 1) & 0x03
    packet_id = None
    if qos:
        if end - pos < 2:
            raise MalformedPacket("PUBLISH ends before its Packet Identifier")
        packet_id = (data[pos] << 8) | data[pos + 1]
        if not packet_id:
            raise RemoteProtocolError(f"a QoS {qos} PUBLISH has Packet Identifier 0 [MQTT-2.2.1-3]")
        pos += 2
    elif flags & 0x08:
        raise RemoteProtocolError("a QoS 0 PUBLISH must have DUP=0 [MQTT-3.3.1-2]")
    properties = NO_PROPERTIES
    if v5:
        if pos < end and data[pos] == 0:  # no properties: the common case
            pos += 1
        else:
            r = Reader(data, pos, end, "PUBLISH")
            properties = r.properties(_P.PUBLISH)
            pos = r.pos
    return Publish.unchecked(
        topic,
        data[pos:end],
        _QOS[qos],
        bool(flags & 0x01),
        bool(flags & 0x08),
        packet_id,
        properties,
    )


def _decode_pub_ack(
    cls: type[PubAck | PubRec | PubRel | PubComp],
) -> Callable[[int, bytes, int, int, bool], Packet]:
    ptype = cls.packet_type

    def decode(flags: int, data: bytes, pos: int, end: int, v5: bool) -> Packet:
        n = end - pos
        if n == 2:
            # 3.1.1, and MQTT 5's short form: Success, no properties (§3.4.2.1).
            packet_id = (data[pos] << 8) | data[pos + 1]
            if packet_id:  # the only check __init__ makes; half the packets are acks
                return ack_unchecked(cls, packet_id)
            return cls(packet_id=packet_id)  # raises: identifier 0
        r = Reader(data, pos, end, ptype.name)
        packet_id = r.u16()
        if not v5:
            r.expect_end()  # fails: n != 2
        reason = reason_code(ptype, r.u8())
        # Remaining Length 3: a reason code but no Property Length (§3.4.2.2.1).
        properties = r.properties(ptype) if r.remaining else NO_PROPERTIES
        r.expect_end()
        return cls(packet_id=packet_id, reason_code=reason, properties=properties)

    return decode


def _decode_subscribe(flags: int, data: bytes, pos: int, end: int, v5: bool) -> Subscribe:
    r = Reader(data, pos, end, "SUBSCRIBE")
    packet_id = r.u16()
    properties = r.properties(_P.SUBSCRIBE) if v5 else NO_PROPERTIES
    subscriptions = []
    while r.remaining:
        topic_filter = r.utf8("Topic Filter")
        options = r.u8()
        qos = options & 0x03
        if v5:
            if options & 0xC0:
                raise MalformedPacket(
                    "SUBSCRIBE Subscription Options reserved bits 6-7 are set [MQTT-3.8.3-5]"
                )
            retain_handling = (options >> 4) & 0x03
            # MQTT 5 calls these two a Protocol Error, not malformed (§3.8.3.1).
            if qos == 3:
                raise RemoteProtocolError("SUBSCRIBE Maximum QoS is 3 (§3.8.3.1)")
            if retain_handling == 3:
                raise RemoteProtocolError("SUBSCRIBE Retain Handling is 3 (§3.8.3.1)")
        elif options & 0xFC or qos == 3:
            # "MQTT-3-8.3-4" is how the 3.1.1 specification itself spells it.
            raise MalformedPacket(
                f"SUBSCRIBE Requested QoS byte is 0x{options:02X}: the upper 6 bits must be 0"
                " and QoS at most 2 (3.1.1 [MQTT-3-8.3-4])"
            )
        else:
            retain_handling = 0
        subscriptions.append(
            Subscription(
                topic_filter=topic_filter,
                qos=_QOS[qos],
                no_local=bool(options & 0x04),
                retain_as_published=bool(options & 0x08),
                retain_handling=_RETAIN_HANDLING[retain_handling],
            )
        )
    # No filter at all: Subscribe.__post_init__ says [MQTT-3.8.3-3] and the
    # codec turns that into a RemoteProtocolError.
    return Subscribe(packet_id=packet_id, subscriptions=tuple(subscriptions), properties=properties)


def _decode_suback(flags: int, data: bytes, pos: int, end: int, v5: bool) -> SubAck:
    r = Reader(data, pos, end, "SUBACK")
    packet_id = r.u16()
    if v5:
        properties = r.properties(_P.SUBACK)
        codes = tuple(reason_code(_P.SUBACK, b) for b in data[r.pos : end])
    else:
        properties = NO_PROPERTIES
        codes_v311 = []
        for b in data[r.pos : end]:
            code = _SUBACK_V311.get(b)
            if code is None:
                raise MalformedPacket(
                    f"SUBACK return code 0x{b:02X} is reserved in 3.1.1 [MQTT-3.9.3-2]"
                )
            codes_v311.append(code)
        codes = tuple(codes_v311)
    return SubAck(packet_id=packet_id, reason_codes=codes, properties=properties)


def _decode_unsubscribe(flags: int, data: bytes, pos: int, end: int, v5: bool) -> Unsubscribe:
    r = Reader(data, pos, end, "UNSUBSCRIBE")
    packet_id = r.u16()
    properties = r.properties(_P.UNSUBSCRIBE) if v5 else NO_PROPERTIES
    filters = []
    while r.remaining:
        filters.append(r.utf8("Topic Filter"))
    # None at all: Unsubscribe.__post_init__ raises [MQTT-3.10.3-2].
    return Unsubscribe(packet_id=packet_id, topic_filters=tuple(filters), properties=properties)


def _decode_unsuback(flags: int, data: bytes, pos: int, end: int, v5: bool) -> UnsubAck:
    r = Reader(data, pos, end, "UNSUBACK")
    packet_id = r.u16()
    if not v5:  # 3.1.1 UNSUBACK is the Packet Identifier alone (§3.11.1)
        r.expect_end()
        return UnsubAck(packet_id=packet_id)
    properties = r.properties(_P.UNSUBACK)
    codes = tuple(reason_code(_P.UNSUBACK, b) for b in data[r.pos : end])
    return UnsubAck(packet_id=packet_id, reason_codes=codes, properties=properties)


def _decode_empty(
    cls: type[PingReq | PingResp],
) -> Callable[[int, bytes, int, int, bool], Packet]:
    instance = cls()

    def decode(flags: int, data: bytes, pos: int, end: int, v5: bool) -> Packet:
        if end != pos:
            raise MalformedPacket(f"{cls.packet_type.name} has a Remaining Length of {end - pos}")
        return instance  # frozen and field-less: one value serves every packet

    return decode


def _decode_disconnect(flags: int, data: bytes, pos: int, end: int, v5: bool) -> Disconnect:
    r = Reader(data, pos, end, "DISCONNECT")
    if not v5 or not r.remaining:
        # Remaining Length 0: Normal disconnection, no properties (§3.14.2.1).
        r.expect_end()
        return Disconnect()
    reason = reason_code(_P.DISCONNECT, r.u8())
    # "If the Remaining Length is less than 2, a value of 0 is used" (§3.14.2.2.1).
    properties = r.properties(_P.DISCONNECT) if r.remaining else NO_PROPERTIES
    r.expect_end()
    return Disconnect(reason_code=reason, properties=properties)


def _decode_auth(flags: int, data: bytes, pos: int, end: int, v5: bool) -> Auth:
    r = Reader(data, pos, end, "AUTH")
    if not r.remaining:  # Success with no properties may be sent as nothing (§3.15.2.1)
        return Auth()
    # Unlike DISCONNECT, AUTH has no "less than 2" rule: a reason code comes
    # with a Property Length.
    reason = reason_code(_P.AUTH, r.u8())
    properties = r.properties(_P.AUTH)
    r.expect_end()
    return Auth(reason_code=reason, properties=properties)


def _decode_forbidden(flags: int, data: bytes, pos: int, end: int, v5: bool) -> Packet:
    # The fixed-header check refuses type 0 before a body is ever read.
    raise MalformedPacket("packet type 0 is reserved (§2.1.2)")


#: Body decoders indexed by packet type (the high nibble of the first byte).
BODY_DECODERS: Final[tuple[Decoder, ...]] = (
    _decode_forbidden,
    _decode_connect,
    _decode_connack,
    decode_publish,
    _decode_pub_ack(PubAck),
    _decode_pub_ack(PubRec),
    _decode_pub_ack(PubRel),
    _decode_pub_ack(PubComp),
    _decode_subscribe,
    _decode_suback,
    _decode_unsubscribe,
    _decode_unsuback,
    _decode_empty(PingReq),
    _decode_empty(PingResp),
    _decode_disconnect,
    _decode_auth,
)
