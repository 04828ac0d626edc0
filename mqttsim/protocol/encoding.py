"""Writing packets: the sending half of :mod:`mqttsim.protocol.codec`.

Import from :mod:`mqttsim.protocol.codec`, not from here. The encoder is
canonical: one packet value has exactly one encoding (properties in table
order, the shortest Variable Byte Integers, the short forms of §3.4.2.1,
§3.14.2.1 and §3.15.2.1 whenever they apply), so encode -> decode -> encode
gives the same bytes.

It refuses, with :class:`LocalProtocolError`, whatever the decoder would
refuse from a peer (strings with U+0000 or surrogates, a reason code a packet
may not carry, a property outside its packets or its range) and whatever
MQTT 3.1.1 cannot express. Dropping such content silently would let a
program believe something was sent that was not. Two things are not
refused: a success reason code below 0x80 on PUBACK, PUBREC or UNSUBACK is
left off (the 3.1.1 packet says "success" by existing), and CONNACK and
SUBACK refusals map onto 3.1.1's coarser return codes
(``REASON_TO_CONNACK_V311``; every SUBACK failure becomes 0x80).
"""

from __future__ import annotations

from typing import Any, Final

from .decoding import MAX_REMAINING_LENGTH, ONCE_IN, PROPERTY_RULES, context_name, property_label
from .enums import (
    REASON_CODES_BY_PACKET,
    REASON_TO_CONNACK_V311,
    SUBACK_V311_FAILURE,
    PacketType,
    ProtocolVersion,
    ReasonCode,
)
from .enums import PacketType as _P
from .errors import LocalProtocolError
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
    UnsubAck,
    Unsubscribe,
)
from .properties import NO_PROPERTIES, PROPERTY_TABLE, WILL, Context, Properties, PropertySpec
from .properties import WireType as W

# For codec only; the public names are codec's.
__all__ = [
    "encode_varint",
    "utf8_field",
    "binary_field",
    "encode_properties",
    "encode_publish",
    "encode_success_ack",
    "encode_packet",
]

_SMALL_VARINTS: Final = tuple(bytes((i,)) for i in range(0x80))


def encode_varint(value: int) -> bytes:
    """Encode a Variable Byte Integer in the fewest bytes (§1.5.5, [MQTT-1.5.5-1]).

    Args:
        value: 0 to 268,435,455.

    Returns:
        One to four bytes.

    Raises:
        LocalProtocolError: ``value`` is outside that range.
    """
    if 0 <= value < 0x80:
        return _SMALL_VARINTS[value]
    if not 0 <= value <= MAX_REMAINING_LENGTH:
        raise LocalProtocolError(
            f"{value} is outside 0..{MAX_REMAINING_LENGTH}, the range of a Variable Byte"
            " Integer (§1.5.5)"
        )
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def utf8_field(text: str, what: str) -> bytes:
    """A UTF-8 Encoded String: two-byte length, then the characters (§1.5.4).

    Raises:
        LocalProtocolError: surrogates [MQTT-1.5.4-1], U+0000
            [MQTT-1.5.4-2], or more than 65,535 bytes.
    """
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raise LocalProtocolError(
            f"{what} contains a surrogate code point (U+D800..U+DFFF) [MQTT-1.5.4-1]"
        ) from None
    n = len(raw)
    if n > 0xFFFF:
        raise LocalProtocolError(f"{what} is {n} bytes of UTF-8; at most 65,535 fit (§1.5.4)")
    # No other character puts a zero byte in UTF-8. (`0 in raw` looks for the
    # byte value; `b"\x00" in raw` would first fail to read it as an int.)
    if 0 in raw:
        raise LocalProtocolError(f"{what} contains U+0000 [MQTT-1.5.4-2]")
    return n.to_bytes(2, "big") + raw


def binary_field(data: bytes, what: str) -> bytes:
    """Binary Data: two-byte length, then the bytes (§1.5.6)."""
    n = len(data)
    if n > 0xFFFF:
        raise LocalProtocolError(f"{what} is {n} bytes; Binary Data holds at most 65,535 (§1.5.6)")
    return n.to_bytes(2, "big") + bytes(data)


def _frame(first_byte: int, body: bytes) -> bytes:
    """Prefix ``body`` with its fixed header (§2.1)."""
    n = len(body)
    if n < 0x80:
        return bytes((first_byte, n)) + body
    return bytes((first_byte,)) + encode_varint(n) + body


# --- properties -----------------------------------------------------------------------------

_INT_SIZE: Final = {W.BYTE: 1, W.TWO_BYTE_INT: 2, W.FOUR_BYTE_INT: 4}
_WIRE_MAX: Final = {
    W.BYTE: 0xFF,
    W.TWO_BYTE_INT: 0xFFFF,
    W.FOUR_BYTE_INT: 0xFFFF_FFFF,
    W.VARIABLE_BYTE_INT: MAX_REMAINING_LENGTH,
}
# Allowed range of every integer property: its rule where it has one, else
# whatever its wire type holds.
_RANGES: Final[dict[int, tuple[int, int, ReasonCode, str]]] = {
    pid: PROPERTY_RULES.get(pid, (0, _WIRE_MAX[spec.wire_type], ReasonCode.PROTOCOL_ERROR, "§1.5"))
    for pid, spec in PROPERTY_TABLE.items()
    if spec.wire_type in _WIRE_MAX
}
_SPECS: Final = tuple(PROPERTY_TABLE.values())  # identifier order: the canonical order


def _encode_property(spec: PropertySpec, value: Any) -> bytes:
    pid = int(spec.id)
    head = bytes((pid,))  # every identifier is below 0x80, so one varint byte
    wire = spec.wire_type
    if wire is W.UTF8_STRING:
        return head + utf8_field(value, property_label(pid))
    if wire is W.BINARY_DATA:
        return head + binary_field(value, property_label(pid))
    if wire is W.UTF8_STRING_PAIR:
        name, text = value
        return (
            head + utf8_field(name, "User Property name") + utf8_field(text, "User Property value")
        )
    lo, hi, reason, ref = _RANGES[pid]
    if not lo <= value <= hi:
        raise LocalProtocolError(
            f"{property_label(pid)} is {value}; allowed: {lo}..{hi} ({ref})", reason
        )
    if wire is W.VARIABLE_BYTE_INT:
        return head + encode_varint(value)
    return head + int(value).to_bytes(_INT_SIZE[wire], "big")


def encode_properties(props: Properties, context: Context) -> bytes:
    """A property block with its Property Length (§2.2.2); ``b"\\x00"`` if empty."""
    if props is NO_PROPERTIES:
        return b"\x00"
    parts = []
    for spec in _SPECS:
        value = getattr(props, spec.name)
        if value is None or value == ():
            continue
        if context not in spec.contexts:
            raise LocalProtocolError(
                f"{property_label(spec.id)} is not allowed in {context_name(context)}"
                " (§2.2.2.2, Table 2-4)"
            )
        if not spec.repeatable:
            parts.append(_encode_property(spec, value))
            continue
        if len(value) > 1 and (spec.id, context) in ONCE_IN:
            raise LocalProtocolError(
                f"{context_name(context)} may carry one {property_label(spec.id)} (§3.8.2.1.2)"
            )
        parts.extend(_encode_property(spec, item) for item in value)
    body = b"".join(parts)
    return encode_varint(len(body)) + body


def _no_properties(props: Properties, what: str) -> bytes:
    """For MQTT 3.1.1: refuse properties rather than drop them."""
    if props is not NO_PROPERTIES and props:
        raise LocalProtocolError(
            f"{what} carries MQTT 5 properties ({', '.join(props.present())}),"
            " which MQTT 3.1.1 cannot express"
        )
    return b""


def _check_reason(ptype: PacketType, reason: ReasonCode) -> int:
    if reason not in REASON_CODES_BY_PACKET[ptype]:
        raise LocalProtocolError(
            f"{ptype.name} may not carry reason code {reason!r} (see REASON_CODES_BY_PACKET)"
        )
    return int(reason)


def _v311_success_only(ptype: PacketType, reason: ReasonCode) -> None:
    # A failing code changes the meaning of the packet, so it cannot be
    # dropped; a success code below 0x80 can (the 3.1.1 packet means success).
    if reason >= 0x80 or reason == ReasonCode.DISCONNECT_WITH_WILL_MESSAGE:
        raise LocalProtocolError(
            f"{ptype.name} with reason code {reason.name} cannot be expressed in MQTT 3.1.1"
        )


# --- packets --------------------------------------------------------------------------------


def encode_publish(p: Publish, v5: bool) -> bytes:
    """PUBLISH (§3.3): the hot path, so laid out by hand in one join."""
    try:
        topic = p.topic.encode("utf-8")
    except UnicodeEncodeError:
        topic = utf8_field(p.topic, "PUBLISH Topic Name")  # raises with the reason
    tlen = len(topic)
    if tlen > 0xFFFF or 0 in topic:  # a zero byte is U+0000 (see utf8_field)
        utf8_field(p.topic, "PUBLISH Topic Name")  # raises with the reason
    qos = p.qos
    if not 0 <= qos <= 2:
        raise LocalProtocolError(f"PUBLISH QoS {qos} does not exist [MQTT-3.3.1-4]")
    props = p.properties
    if v5:
        pbytes = b"\x00" if props is NO_PROPERTIES else encode_properties(props, _P.PUBLISH)
    else:
        pbytes = _no_properties(props, "PUBLISH")
    payload = p.payload
    first = 0x30 | (qos << 1) | (0x08 if p.dup else 0) | (0x01 if p.retain else 0)
    length = 2 + tlen + len(pbytes) + len(payload) + (2 if qos else 0)
    if length < 0x80:
        head = bytes((first, length, tlen >> 8, tlen & 0xFF))
    else:
        head = bytes((first,)) + encode_varint(length) + tlen.to_bytes(2, "big")
    if qos:
        assert p.packet_id is not None  # Publish.__post_init__ guarantees it
        return b"".join((head, topic, p.packet_id.to_bytes(2, "big"), pbytes, payload))
    return b"".join((head, topic, pbytes, payload))


_PROTOCOL_NAME_LEVEL: Final = {
    ProtocolVersion.V31: b"\x00\x06MQIsdp\x03",
    ProtocolVersion.V311: b"\x00\x04MQTT\x04",
    ProtocolVersion.V5: b"\x00\x04MQTT\x05",
}


def _connect(p: Connect, version: ProtocolVersion) -> bytes:
    if p.version is not version:
        raise LocalProtocolError(
            f"a CONNECT for MQTT {p.version.label} cannot be encoded as MQTT {version.label}"
        )
    v5 = version is V5
    flags = 0x02 if p.clean_start else 0x00
    payload = [utf8_field(p.client_id, "CONNECT Client Identifier")]
    will = p.will
    if will is not None:
        if not 0 <= will.qos <= 2:
            raise LocalProtocolError(f"Will QoS {will.qos} does not exist [MQTT-3.1.2-12]")
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0x00)
        if v5:
            payload.append(encode_properties(will.properties, WILL))
        else:
            _no_properties(will.properties, "the Will Message")
        payload.append(utf8_field(will.topic, "CONNECT Will Topic"))
        payload.append(binary_field(will.payload, "CONNECT Will Payload"))
    if p.username is not None:
        flags |= 0x80
        payload.append(utf8_field(p.username, "CONNECT User Name"))
    if p.password is not None:
        flags |= 0x40
        payload.append(binary_field(p.password, "CONNECT Password"))
    if v5:
        props = encode_properties(p.properties, _P.CONNECT)
    else:
        props = _no_properties(p.properties, "CONNECT")
    head = _PROTOCOL_NAME_LEVEL[version] + bytes((flags,)) + p.keep_alive_s.to_bytes(2, "big")
    return _frame(0x10, b"".join((head, props, *payload)))


def _connack(p: ConnAck, v5: bool) -> bytes:
    ack_flags = 0x01 if p.session_present else 0x00
    if v5:
        code = _check_reason(_P.CONNACK, p.reason_code)
        return _frame(0x20, bytes((ack_flags, code)) + encode_properties(p.properties, _P.CONNACK))
    return_code = REASON_TO_CONNACK_V311.get(p.reason_code)
    if return_code is None:
        raise LocalProtocolError(f"CONNACK may not carry reason code {p.reason_code!r}")
    _no_properties(p.properties, "CONNACK")
    return bytes((0x20, 2, ack_flags, return_code))


# The first byte of each acknowledgement: type << 4, and PUBREL's reserved
# flags 0b0010 [MQTT-3.6.1-1].
_ACK_FIRST_BYTE: Final[dict[type[Packet], int]] = {
    PubAck: 0x40,
    PubRec: 0x50,
    PubRel: 0x62,
    PubComp: 0x70,
}


def encode_success_ack(kind: type[PubAck | PubRec | PubRel | PubComp], packet_id: int) -> bytes:
    """``kind(packet_id=packet_id)`` encoded, for an identifier in 1..65535.

    The same four bytes in 3.1.1 and 5.0 (MQTT 5 §3.4.2.1 lets a Success
    reason code without properties go), and half the packets of a QoS 1/2
    exchange: the hot paths write these without building the packet.
    """
    return bytes((_ACK_FIRST_BYTE[kind], 2, packet_id >> 8, packet_id & 0xFF))


def _pub_ack(p: PubAck | PubRec | PubRel | PubComp, v5: bool) -> bytes:
    ptype = p.packet_type
    first = 0x62 if ptype is _P.PUBREL else ptype << 4
    pid = p.packet_id
    reason = p.reason_code
    props = p.properties
    if reason == 0 and props is NO_PROPERTIES:  # the common case, either version
        return bytes((first, 2, pid >> 8, pid & 0xFF))
    code = _check_reason(ptype, reason)
    if not v5:
        _v311_success_only(ptype, reason)
        _no_properties(props, ptype.name)
        return bytes((first, 2, pid >> 8, pid & 0xFF))
    pbytes = encode_properties(props, ptype)
    if pbytes == b"\x00":
        # §3.4.2.1: Remaining Length 2 means Success, 3 means no properties.
        pbytes = b""
        if code == 0:
            return bytes((first, 2, pid >> 8, pid & 0xFF))
    return _frame(first, bytes((pid >> 8, pid & 0xFF, code)) + pbytes)


def _subscribe(p: Subscribe, v5: bool) -> bytes:
    parts = [p.packet_id.to_bytes(2, "big")]
    parts.append(
        encode_properties(p.properties, _P.SUBSCRIBE)
        if v5
        else _no_properties(p.properties, "SUBSCRIBE")
    )
    for sub in p.subscriptions:
        parts.append(utf8_field(sub.topic_filter, "SUBSCRIBE Topic Filter"))
        if not 0 <= sub.qos <= 2 or not 0 <= sub.retain_handling <= 2:
            raise LocalProtocolError(
                f"SUBSCRIBE options QoS {sub.qos}, Retain Handling {sub.retain_handling}:"
                " each must be 0..2 (§3.8.3.1)"
            )
        options = int(sub.qos)
        if v5:
            options |= (
                (0x04 if sub.no_local else 0)
                | (0x08 if sub.retain_as_published else 0)
                | (sub.retain_handling << 4)
            )
        elif sub.no_local or sub.retain_as_published or sub.retain_handling:
            raise LocalProtocolError(
                f"subscription to {sub.topic_filter!r} uses MQTT 5 options (No Local, Retain As"
                " Published, Retain Handling), which MQTT 3.1.1 cannot express"
            )
        parts.append(bytes((options,)))
    return _frame(0x82, b"".join(parts))


def _suback(p: SubAck, v5: bool) -> bytes:
    codes = [_check_reason(_P.SUBACK, code) for code in p.reason_codes]
    if v5:
        props = encode_properties(p.properties, _P.SUBACK)
    else:
        props = _no_properties(p.properties, "SUBACK")
        # 3.1.1 has one failure code (§3.9.3); every MQTT 5 refusal maps to it.
        codes = [code if code < 0x80 else SUBACK_V311_FAILURE for code in codes]
    return _frame(0x90, p.packet_id.to_bytes(2, "big") + props + bytes(codes))


def _unsubscribe(p: Unsubscribe, v5: bool) -> bytes:
    parts = [p.packet_id.to_bytes(2, "big")]
    parts.append(
        encode_properties(p.properties, _P.UNSUBSCRIBE)
        if v5
        else _no_properties(p.properties, "UNSUBSCRIBE")
    )
    parts.extend(utf8_field(f, "UNSUBSCRIBE Topic Filter") for f in p.topic_filters)
    return _frame(0xA2, b"".join(parts))


def _unsuback(p: UnsubAck, v5: bool) -> bytes:
    codes = bytes(_check_reason(_P.UNSUBACK, code) for code in p.reason_codes)
    pid = p.packet_id.to_bytes(2, "big")
    if v5:
        return _frame(0xB0, pid + encode_properties(p.properties, _P.UNSUBACK) + codes)
    for code in p.reason_codes:
        _v311_success_only(_P.UNSUBACK, code)
    _no_properties(p.properties, "UNSUBACK")
    return b"\xb0\x02" + pid  # 3.1.1 UNSUBACK has no payload (§3.11.3)


def _disconnect(p: Disconnect, v5: bool) -> bytes:
    code = _check_reason(_P.DISCONNECT, p.reason_code)
    if not v5:
        _v311_success_only(_P.DISCONNECT, p.reason_code)
        _no_properties(p.properties, "DISCONNECT")
        return b"\xe0\x00"
    props = encode_properties(p.properties, _P.DISCONNECT)
    if props == b"\x00":
        # §3.14.2.1: Remaining Length 0 means Normal disconnection;
        # §3.14.2.2.1: below 2 means no properties.
        return b"\xe0\x00" if code == 0 else bytes((0xE0, 1, code))
    return _frame(0xE0, bytes((code,)) + props)


def _auth(p: Auth, v5: bool) -> bytes:
    if not v5:
        raise LocalProtocolError("AUTH does not exist in MQTT 3.1.1")
    code = _check_reason(_P.AUTH, p.reason_code)
    props = encode_properties(p.properties, _P.AUTH)
    if code == 0 and props == b"\x00":
        return b"\xf0\x00"  # §3.15.2.1: Success with no properties may be empty
    return _frame(0xF0, bytes((code,)) + props)


def encode_packet(packet: Packet, version: ProtocolVersion) -> bytes:
    """Encode any packet; see :func:`mqttsim.protocol.codec.encode`."""
    v5 = version is V5
    match packet:
        case Publish():
            return encode_publish(packet, v5)
        case PubAck() | PubRec() | PubRel() | PubComp():
            return _pub_ack(packet, v5)
        case Connect():
            return _connect(packet, version)
        case ConnAck():
            return _connack(packet, v5)
        case Subscribe():
            return _subscribe(packet, v5)
        case SubAck():
            return _suback(packet, v5)
        case Unsubscribe():
            return _unsubscribe(packet, v5)
        case UnsubAck():
            return _unsuback(packet, v5)
        case PingReq():
            return b"\xc0\x00"
        case PingResp():
            return b"\xd0\x00"
        case Disconnect():
            return _disconnect(packet, v5)
        case Auth():
            return _auth(packet, v5)
    # Compiled, a non-packet is refused on the way in, with a TypeError too.
    raise TypeError(f"{type(packet).__name__} is not an MQTT control packet")
