"""The codec: round trips, the stream decoder, and every rule it enforces, with its spec ID.

Hand-made byte strings in this file are built with the small helpers below
(never with the encoder under test), so a rule test fails if the decoder
accepts what the specification forbids, whatever the encoder does.
"""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqttsim.protocol.codec import (
    MAX_REMAINING_LENGTH,
    IncompletePacket,
    StreamDecoder,
    decode,
    decode_varint,
    encode,
    encode_varint,
    publish_packet_id_offset,
)
from mqttsim.protocol.decoding import BODY_DECODERS
from mqttsim.protocol.enums import (
    REASON_CODES_BY_PACKET,
    REASON_TO_CONNACK_V311,
    PacketType,
    ProtocolVersion,
    QoS,
    ReasonCode,
    RetainHandling,
)
from mqttsim.protocol.errors import (
    LocalProtocolError,
    MalformedPacket,
    PacketTooLarge,
    ProtocolError,
    RemoteProtocolError,
)
from mqttsim.protocol.packets import (
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
)
from mqttsim.protocol.properties import NO_PROPERTIES, PROPERTY_TABLE, Properties

from .strategies import DETERMINISTIC, STRATEGIES_BY_CLASS, V5, V31, V311

R = ReasonCode
MALFORMED = R.MALFORMED_PACKET
PROTOCOL_ERROR = R.PROTOCOL_ERROR


# --- helpers that build bytes without the encoder ---------------------------------------------


def frame(first: int, body: bytes) -> bytes:
    """A packet with a one-byte Remaining Length."""
    assert len(body) < 128
    return bytes((first, len(body))) + body


def s(text: str | bytes) -> bytes:
    """A UTF-8 Encoded String / Binary Data field."""
    raw = text.encode() if isinstance(text, str) else text
    return len(raw).to_bytes(2, "big") + raw


def props(*items: bytes) -> bytes:
    """A property block from already-encoded properties."""
    body = b"".join(items)
    assert len(body) < 128
    return bytes((len(body),)) + body


def connect_v5(flags: int = 0x02, properties: bytes = b"\x00", payload: bytes = s("c")) -> bytes:
    return frame(0x10, s("MQTT") + bytes((5, flags)) + b"\x00\x3c" + properties + payload)


def connect_v311(flags: int = 0x02, payload: bytes = s("c"), level: int = 4) -> bytes:
    return frame(0x10, s("MQTT") + bytes((level, flags)) + b"\x00\x3c" + payload)


def publish_v5(properties: bytes, qos: int = 0) -> bytes:
    pid = b"\x00\x01" if qos else b""
    return frame(0x30 | qos << 1, s("t") + pid + properties + b"payload")


def expect_error(
    data: bytes,
    version: ProtocolVersion | None,
    error: type[ProtocolError],
    reason: ReasonCode,
    spec_id: str | None = None,
) -> ProtocolError:
    """decode() and StreamDecoder both refuse ``data`` with exactly this error."""
    with pytest.raises(ProtocolError) as info:
        decode(data, version)
    assert type(info.value) is error, info.value
    assert info.value.reason_code == reason
    if spec_id is not None:
        assert spec_id in str(info.value)
    stream_version = None if data[0] >> 4 == 1 else version
    with pytest.raises(ProtocolError) as stream_info:
        StreamDecoder(version=stream_version).feed(data)
    assert type(stream_info.value) is error
    assert stream_info.value.reason_code == reason
    return info.value


# --- round trips (hypothesis) ---------------------------------------------------------------

ROUND_TRIP_CASES = (
    [(V5, cls) for cls in STRATEGIES_BY_CLASS]
    + [(V311, cls) for cls in STRATEGIES_BY_CLASS if cls is not Auth]
    + [(V31, Connect)]
)


@pytest.mark.parametrize(
    ("version", "cls"),
    ROUND_TRIP_CASES,
    ids=[f"{v.label}-{c.__name__}" for v, c in ROUND_TRIP_CASES],
)
@given(data=st.data())
@DETERMINISTIC
def test_every_packet_round_trips_byte_for_byte(
    version: ProtocolVersion, cls: type[Packet], data: st.DataObject
) -> None:
    packet = data.draw(STRATEGIES_BY_CLASS[cls](version))
    wire = encode(packet, version)
    decoded = decode(wire, None if cls is Connect else version)
    assert type(decoded) is cls
    assert decoded == packet
    assert encode(decoded, version) == wire


@pytest.mark.parametrize("version", [V5, V311, V31], ids=lambda v: v.label)
@given(data=st.data())
@settings(DETERMINISTIC, max_examples=50)
def test_a_session_gives_the_same_packets_however_it_is_sliced(
    version: ProtocolVersion, data: st.DataObject
) -> None:
    # A server-side stream: version unknown, a CONNECT first, then anything else.
    later = V311 if version is V31 else version
    others = [make(later) for cls, make in STRATEGIES_BY_CLASS.items() if cls is not Connect]
    session = [data.draw(STRATEGIES_BY_CLASS[Connect](version))]
    session += data.draw(st.lists(st.one_of(*others), max_size=8))
    wire = encode(session[0], version) + b"".join(encode(p, later) for p in session[1:])
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=12)))
    decoder = StreamDecoder()
    out: list[Packet] = []
    for start, stop in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        out += decoder.feed(wire[start:stop])
    assert out == session
    assert decoder.version is version
    assert decoder.buffered == 0


# --- a whole session fed in every slicing ---------------------------------------------------

SESSION_V5: list[Packet] = [
    Connect(
        client_id="station-07",
        keep_alive_s=30,
        will=Will(topic="st/07/status", payload=b"offline", qos=QoS.AT_LEAST_ONCE, retain=True),
        properties=Properties(session_expiry_interval=3600, receive_maximum=20),
    ),
    Subscribe(
        packet_id=1,
        subscriptions=(
            Subscription(topic_filter="valves/07/#", qos=QoS.EXACTLY_ONCE, no_local=True),
        ),
        properties=Properties(subscription_identifiers=(7,)),
    ),
    Publish(topic="st/07/pressure", payload=b"\x01" * 200, qos=QoS.AT_LEAST_ONCE, packet_id=2),
    Publish(topic="", payload=b"42", properties=Properties(topic_alias=3)),
    PubRec(packet_id=9),
    PubRel(packet_id=9),
    PubComp(packet_id=9, reason_code=R.PACKET_IDENTIFIER_NOT_FOUND),
    PubAck(packet_id=2, reason_code=R.NO_MATCHING_SUBSCRIBERS),
    Unsubscribe(packet_id=3, topic_filters=("valves/07/#",)),
    PingReq(),
    Auth(reason_code=R.RE_AUTHENTICATE, properties=Properties(authentication_method="SCRAM")),
    Disconnect(reason_code=R.DISCONNECT_WITH_WILL_MESSAGE),
]


def _session_bytes() -> bytes:
    return b"".join(encode(p, V5) for p in SESSION_V5)


def test_a_session_fed_one_byte_at_a_time_gives_every_packet() -> None:
    decoder = StreamDecoder()  # server side: version unknown until CONNECT
    out: list[Packet] = []
    for byte in _session_bytes():
        out += decoder.feed(bytes((byte,)))
    assert out == SESSION_V5
    assert decoder.version is V5
    assert decoder.buffered == 0


def test_a_session_fed_in_random_slices_gives_every_packet() -> None:
    wire = _session_bytes()
    rng = random.Random(1999)
    for _ in range(200):
        decoder = StreamDecoder()
        out: list[Packet] = []
        pos = 0
        while pos < len(wire):
            step = rng.choice((0, 1, 2, 3, 5, 8, 13, 64, 300, 1000))
            out += decoder.feed(wire[pos : pos + step])
            pos += step
        assert out == SESSION_V5


def test_feed_accepts_bytearray_and_memoryview() -> None:
    wire = encode(PingReq(), V311) + encode(PubAck(packet_id=5), V311)
    decoder = StreamDecoder(version=V311)
    assert decoder.feed(bytearray(wire[:3])) == [PingReq()]
    assert decoder.feed(memoryview(wire)[3:]) == [PubAck(packet_id=5)]


def test_buffered_counts_the_bytes_of_an_unfinished_packet() -> None:
    wire = encode(Publish(topic="a/b", payload=b"x" * 300), V311)
    decoder = StreamDecoder(version=V311)
    assert decoder.feed(wire[:1]) == []
    assert decoder.buffered == 1
    assert decoder.feed(wire[1:100]) == []
    assert decoder.buffered == 100
    assert decoder.feed(wire[100:] + wire[:2]) == [Publish(topic="a/b", payload=b"x" * 300)]
    assert decoder.buffered == 2


def test_a_large_packet_trickling_in_is_assembled() -> None:
    big = Publish(
        topic="bulk", payload=bytes(range(256)) * 2000, qos=QoS.AT_LEAST_ONCE, packet_id=1
    )
    wire = encode(big, V5)
    decoder = StreamDecoder(version=V5)
    out: list[Packet] = []
    for start in range(0, len(wire), 1024):
        out += decoder.feed(wire[start : start + 1024])
    assert out == [big]


def test_connect_sets_the_stream_version() -> None:
    decoder = StreamDecoder()
    assert decoder.version is None
    wire = encode(Connect(version=V311, client_id="x"), V311) + encode(PubAck(packet_id=1), V311)
    assert decoder.feed(wire) == [Connect(version=V311, client_id="x"), PubAck(packet_id=1)]
    assert decoder.version is V311


def test_a_31_connect_sets_v31_and_later_packets_are_read_as_311() -> None:
    decoder = StreamDecoder()
    connect = Connect(version=V31, client_id="legacy")
    wire = encode(connect, V31) + bytes.fromhex("b0020007")  # 3.1.1 UNSUBACK
    assert decoder.feed(wire) == [connect, UnsubAck(packet_id=7)]
    assert decoder.version is V31


def test_version_and_max_packet_size_are_settable() -> None:
    decoder = StreamDecoder()
    decoder.version = V5
    decoder.max_packet_size = 10
    assert decoder.feed(bytes.fromhex("e000")) == [Disconnect()]
    with pytest.raises(PacketTooLarge):
        decoder.feed(bytes.fromhex("300b"))


def test_a_decoder_is_poisoned_after_an_error() -> None:
    decoder = StreamDecoder(version=V311)
    with pytest.raises(MalformedPacket) as first:
        decoder.feed(bytes.fromhex("c00100"))  # PINGREQ with a body
    with pytest.raises(MalformedPacket) as again:
        decoder.feed(bytes.fromhex("c000"))
    assert again.value is first.value
    with pytest.raises(MalformedPacket):
        decoder.feed(b"")


# --- Variable Byte Integer (§1.5.5, §2.2.3) -------------------------------------------------


def test_encode_varint_refuses_values_outside_its_range() -> None:
    with pytest.raises(LocalProtocolError):
        encode_varint(-1)
    with pytest.raises(LocalProtocolError):
        encode_varint(MAX_REMAINING_LENGTH + 1)


@given(st.integers(0, MAX_REMAINING_LENGTH))
@DETERMINISTIC
def test_varint_round_trips_in_the_fewest_bytes(value: int) -> None:
    wire = encode_varint(value)
    assert decode_varint(b"\xff" + wire, 1) == (value, len(wire) + 1)
    assert len(wire) == 1 + (value >= 128) + (value >= 16_384) + (value >= 2_097_152)


def test_decode_varint_signals_an_incomplete_integer() -> None:
    with pytest.raises(IncompletePacket) as info:
        decode_varint(b"\x80\x80")
    # Where a whole packet was promised, that is a Malformed Packet.
    assert isinstance(info.value, MalformedPacket)
    assert info.value.reason_code == MALFORMED


def test_a_varint_over_four_bytes_is_malformed() -> None:
    with pytest.raises(MalformedPacket):
        decode_varint(b"\x80\x80\x80\x80\x01")


def test_a_non_minimal_varint_is_malformed_mqtt_1_5_5_1() -> None:
    with pytest.raises(MalformedPacket, match=r"MQTT-1\.5\.5-1"):
        decode_varint(b"\x80\x00")  # 0 in two bytes


# --- fixed header (§2.1) --------------------------------------------------------------------

# One valid body for each type, so only the flags are wrong.
_BODIES = {
    PacketType.CONNACK: b"\x00\x00",
    PacketType.PUBACK: b"\x00\x01",
    PacketType.PUBREC: b"\x00\x01",
    PacketType.PUBREL: b"\x00\x01",
    PacketType.PUBCOMP: b"\x00\x01",
    PacketType.SUBSCRIBE: b"\x00\x01" + s("a") + b"\x00",
    PacketType.SUBACK: b"\x00\x01\x00",
    PacketType.UNSUBSCRIBE: b"\x00\x01" + s("a"),
    PacketType.UNSUBACK: b"\x00\x01",
    PacketType.PINGREQ: b"",
    PacketType.PINGRESP: b"",
    PacketType.DISCONNECT: b"",
}
_TABLE_2_2 = {PacketType.PUBREL: 2, PacketType.SUBSCRIBE: 2, PacketType.UNSUBSCRIBE: 2}


@pytest.mark.parametrize("ptype", list(_BODIES), ids=lambda t: t.name)
@pytest.mark.parametrize("flags", range(16))
def test_reserved_flag_bits_must_match_table_2_2_mqtt_2_1_3_1(
    ptype: PacketType, flags: int
) -> None:
    data = frame(ptype << 4 | flags, _BODIES[ptype])
    if flags == _TABLE_2_2.get(ptype, 0):
        assert decode(data, V311).packet_type is ptype
    else:
        expect_error(data, V311, MalformedPacket, MALFORMED, "MQTT-2.1.3-1")


def test_connect_and_auth_reserved_flags_are_checked_too_mqtt_2_1_3_1() -> None:
    expect_error(b"\x11" + connect_v5()[1:], None, MalformedPacket, MALFORMED, "MQTT-2.1.3-1")
    expect_error(b"\xf8\x00", V5, MalformedPacket, MALFORMED, "MQTT-2.1.3-1")


def test_publish_with_qos_3_is_malformed_mqtt_3_3_1_4() -> None:
    expect_error(
        frame(0x36, s("a") + b"\x00\x01"), V311, MalformedPacket, MALFORMED, "MQTT-3.3.1-4"
    )


def test_packet_type_0_is_malformed() -> None:
    expect_error(b"\x00\x00", V5, MalformedPacket, MALFORMED)


def test_auth_in_mqtt_311_is_malformed() -> None:
    expect_error(b"\xf0\x00", V311, MalformedPacket, MALFORMED)
    expect_error(b"\xf0\x00", V31, MalformedPacket, MALFORMED)
    assert decode(b"\xf0\x00", V5) == Auth()


def test_a_remaining_length_over_four_bytes_is_malformed() -> None:
    expect_error(b"\x30\xff\xff\xff\xff\x7f", V311, MalformedPacket, MALFORMED, "§2.2.3")


def test_a_non_minimal_remaining_length_is_malformed_in_mqtt_5_mqtt_1_5_5_1() -> None:
    expect_error(b"\xc0\x80\x00", V5, MalformedPacket, MALFORMED, "MQTT-1.5.5-1")
    # Also a CONNECT that turns out to be MQTT 5, read before the version is known.
    body = connect_v5()[2:]
    data = bytes((0x10, 0x80 | len(body), 0x00)) + body
    expect_error(data, None, MalformedPacket, MALFORMED, "MQTT-1.5.5-1")


def test_a_non_minimal_remaining_length_is_tolerated_in_mqtt_311() -> None:
    # 3.1.1 has no normative statement on it (§2.2.3); be liberal there.
    assert decode(b"\xc0\x80\x00", V311) == PingReq()
    assert StreamDecoder(version=V311).feed(b"\xd0\x80\x80\x00") == [PingResp()]
    body = connect_v311()[2:]
    packet = decode(bytes((0x10, 0x80 | len(body), 0x00)) + body)
    assert isinstance(packet, Connect) and packet.client_id == "c"


def test_a_packet_over_the_maximum_size_is_refused_as_soon_as_its_header_is_read() -> None:
    decoder = StreamDecoder(version=V5, max_packet_size=1000)
    # A PUBLISH announcing 1,000,000 bytes: refused on its 4-byte header alone.
    with pytest.raises(PacketTooLarge) as info:
        decoder.feed(b"\x30" + encode_varint(1_000_000))
    assert info.value.reason_code == R.PACKET_TOO_LARGE
    assert decoder.buffered == 0


def test_the_maximum_packet_size_counts_the_fixed_header() -> None:
    wire = encode(Publish(topic="t", payload=b"x" * 10), V5)  # 2 + 14 bytes
    assert decode(wire, V5, max_packet_size=len(wire)) == Publish(topic="t", payload=b"x" * 10)
    with pytest.raises(PacketTooLarge):
        decode(wire, V5, max_packet_size=len(wire) - 1)
    with pytest.raises(PacketTooLarge):
        StreamDecoder(version=V5, max_packet_size=len(wire) - 1).feed(wire[:2])


# --- decode(): exactly one packet -----------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\xc0", b"\x30\x80", b"\x40\x02\x00"])
def test_decode_of_an_incomplete_packet_is_malformed(data: bytes) -> None:
    with pytest.raises(MalformedPacket):
        decode(data, V311)


def test_decode_of_trailing_bytes_is_malformed() -> None:
    with pytest.raises(MalformedPacket, match="follow its fixed header"):
        decode(b"\xc0\x00\xc0\x00", V311)


# --- UTF-8 Encoded Strings (§1.5.4) ---------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff",  # never valid in UTF-8
        b"\xc0\xaf",  # overlong '/'
        b"\xe2\x82",  # truncated sequence
        b"\xed\xa0\x80",  # U+D800, a surrogate
        b"\xed\xbf\xbf",  # U+DFFF
    ],
)
def test_ill_formed_utf8_and_surrogates_are_malformed_mqtt_1_5_4_1(raw: bytes) -> None:
    expect_error(frame(0x30, s(raw) + b"x"), V311, MalformedPacket, MALFORMED, "MQTT-1.5.4-1")
    expect_error(
        frame(0xA2, b"\x00\x01" + s(raw)), V311, MalformedPacket, MALFORMED, "MQTT-1.5.4-1"
    )


def test_u0000_in_a_string_is_malformed_mqtt_1_5_4_2() -> None:
    expect_error(frame(0x30, s(b"a\x00b")), V311, MalformedPacket, MALFORMED, "MQTT-1.5.4-2")
    expect_error(connect_v311(payload=s(b"\x00")), None, MalformedPacket, MALFORMED, "MQTT-1.5.4-2")


def test_a_bom_is_kept_as_u_feff_mqtt_1_5_4_3() -> None:
    packet = decode(frame(0x30, s(b"\xef\xbb\xbfa")), V311)
    assert isinstance(packet, Publish)
    assert packet.topic == "\ufeffa"


@pytest.mark.parametrize(
    ("text", "spec"),
    [("a\ud800", "MQTT-1.5.4-1"), ("a\x00", "MQTT-1.5.4-2"), ("é" * 40_000, "§1.5.4")],
)
def test_the_encoder_refuses_strings_the_decoder_would_refuse(text: str, spec: str) -> None:
    for packet in (
        Publish(topic=text),
        Unsubscribe(packet_id=1, topic_filters=(text,)),
        Connect(client_id=text),
        PubAck(packet_id=1, properties=Properties(reason_string=text)),
        Disconnect(properties=Properties(user_properties=(("k", text),))),
    ):
        with pytest.raises(LocalProtocolError, match=spec):
            encode(packet, V5)


def test_the_encoder_refuses_binary_data_over_65535_bytes() -> None:
    with pytest.raises(LocalProtocolError, match="65,535"):
        encode(Connect(client_id="c", username="u", password=b"x" * 65_536), V5)


# --- lengths inside a packet (§1.5, §2.2.3) -------------------------------------------------


def test_a_string_overrunning_the_remaining_length_is_malformed() -> None:
    # Topic length 10, but only 3 bytes follow.
    expect_error(frame(0x30, b"\x00\x0aabc"), V311, MalformedPacket, MALFORMED)
    expect_error(frame(0xA2, b"\x00\x01\x00\x0aabc"), V311, MalformedPacket, MALFORMED)
    expect_error(connect_v311(payload=b"\x00\x05ab"), None, MalformedPacket, MALFORMED)


def test_a_property_length_overrunning_the_remaining_length_is_malformed() -> None:
    expect_error(
        frame(0x40, b"\x00\x01\x00\x10\x1f\x00"), V5, MalformedPacket, MALFORMED, "§2.2.2.1"
    )


def test_a_property_overrunning_the_property_length_is_malformed() -> None:
    # Property Length 2 holds "1F 00" but the Reason String's length byte 01 is outside it.
    expect_error(frame(0x40, b"\x00\x01\x00\x02\x1f\x00\x01x"), V5, MalformedPacket, MALFORMED)


@pytest.mark.parametrize(
    ("data", "version"),
    [
        (b"\x40\x03\x00\x01\x00", V311),  # 3.1.1 PUBACK is the Packet Identifier alone
        (b"\x20\x03\x00\x00\x00", V311),  # CONNACK
        (b"\x20\x04\x00\x00\x00\x00", V5),
        (b"\xc0\x01\x00", V5),  # PINGREQ
        (b"\xd0\x01\x00", V311),  # PINGRESP
        (b"\xe0\x01\x00", V311),  # 3.1.1 DISCONNECT
        (b"\xe0\x03\x00\x00\x00", V5),
        (b"\xb0\x03\x00\x01\x00", V311),  # 3.1.1 UNSUBACK
        (b"\x40\x05\x00\x01\x00\x00\x00", V5),  # PUBACK
        (b"\xf0\x03\x18\x00\x00", V5),  # AUTH
    ],
)
def test_bytes_left_over_after_the_last_field_are_malformed(
    data: bytes, version: ProtocolVersion
) -> None:
    expect_error(data, version, MalformedPacket, MALFORMED)


def test_bytes_left_over_after_a_connect_payload_are_malformed() -> None:
    expect_error(connect_v311(payload=s("c") + b"\x00"), None, MalformedPacket, MALFORMED)


# --- CONNECT (§3.1) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "level", "version"),
    [("MQTT", 4, V311), ("MQTT", 5, V5), ("MQIsdp", 3, V31)],
)
def test_connect_accepts_the_three_name_level_pairs(
    name: str, level: int, version: ProtocolVersion
) -> None:
    tail = b"\x00" if level == 5 else b""  # MQTT 5 has a Property Length
    data = frame(0x10, s(name) + bytes((level, 0x02)) + b"\x00\x3c" + tail + s("c"))
    assert decode(data) == Connect(version=version, client_id="c", keep_alive_s=60)


@pytest.mark.parametrize(
    ("name", "level"), [("MQTT", 3), ("MQTT", 6), ("MQTT", 0), ("MQIsdp", 4), ("MQIsdp", 5)]
)
def test_connect_with_an_unsupported_level_is_unsupported_protocol_version_mqtt_3_1_2_2(
    name: str, level: int
) -> None:
    data = frame(0x10, s(name) + bytes((level, 0x02)) + b"\x00\x3c" + s("c"))
    # The broker answers with CONNACK 0x84 (3.1.1: return code 1).
    expect_error(data, None, RemoteProtocolError, R.UNSUPPORTED_PROTOCOL_VERSION, "MQTT-3.1.2-2")


@pytest.mark.parametrize("name", ["MQTX", "mqtt", "", "MQIsdpX"])
def test_connect_with_an_unknown_protocol_name_is_malformed_mqtt_3_1_2_1(name: str) -> None:
    data = frame(0x10, s(name) + b"\x04\x02\x00\x3c" + s("c"))
    expect_error(data, None, MalformedPacket, MALFORMED, "MQTT-3.1.2-1")


def test_connect_reserved_flag_set_is_malformed_mqtt_3_1_2_3() -> None:
    expect_error(connect_v5(flags=0x03), None, MalformedPacket, MALFORMED, "MQTT-3.1.2-3")
    expect_error(connect_v311(flags=0x03), None, MalformedPacket, MALFORMED, "MQTT-3.1.2-3")


@pytest.mark.parametrize("qos_bits", [0x08, 0x10, 0x18])
def test_will_qos_without_will_flag_is_malformed_mqtt_3_1_2_11(qos_bits: int) -> None:
    expect_error(
        connect_v5(flags=0x02 | qos_bits), None, MalformedPacket, MALFORMED, "MQTT-3.1.2-11"
    )


def test_will_retain_without_will_flag_is_malformed_mqtt_3_1_2_13() -> None:
    expect_error(connect_v311(flags=0x22), None, MalformedPacket, MALFORMED, "MQTT-3.1.2-13")


def test_will_qos_3_is_malformed_mqtt_3_1_2_12() -> None:
    payload = s("c") + b"\x00" + s("w") + s("bye")
    expect_error(
        connect_v5(flags=0x1E, payload=payload), None, MalformedPacket, MALFORMED, "MQTT-3.1.2-12"
    )


def test_password_without_user_name_is_malformed_in_311_mqtt_3_1_2_22() -> None:
    payload = s("c") + s(b"secret")
    expect_error(
        connect_v311(flags=0x42, payload=payload), None, MalformedPacket, MALFORMED, "MQTT-3.1.2-22"
    )
    # MQTT 5 allows it (§3.1.2.9).
    packet = decode(connect_v5(flags=0x42, payload=payload))
    assert isinstance(packet, Connect)
    assert (packet.username, packet.password) == (None, b"secret")


def test_a_user_name_flag_without_a_user_name_is_malformed() -> None:
    expect_error(connect_v311(flags=0x82), None, MalformedPacket, MALFORMED)  # [MQTT-3.1.2-19]


def test_the_first_packet_must_be_connect_mqtt_3_1_0_1() -> None:
    for data in (b"\xc0\x00", frame(0x30, s("t")), b"\xf0\x00"):
        with pytest.raises(RemoteProtocolError, match=r"MQTT-3\.1\.0-1") as info:
            StreamDecoder().feed(data)
        assert type(info.value) is RemoteProtocolError
        assert info.value.reason_code == PROTOCOL_ERROR
        with pytest.raises(RemoteProtocolError, match=r"MQTT-3\.1\.0-1"):
            decode(data, None)


def test_a_second_connect_is_a_protocol_error_mqtt_3_1_0_2() -> None:
    decoder = StreamDecoder()
    assert len(decoder.feed(connect_v5())) == 1
    with pytest.raises(RemoteProtocolError, match=r"MQTT-3\.1\.0-2") as info:
        decoder.feed(connect_v5())
    assert type(info.value) is RemoteProtocolError
    assert info.value.reason_code == PROTOCOL_ERROR
    # A client-side decoder built with a version refuses a CONNECT just the same.
    with pytest.raises(RemoteProtocolError, match=r"MQTT-3\.1\.0-2"):
        StreamDecoder(version=V311).feed(connect_v311())


def test_decode_reads_a_connect_whatever_the_version_in_force() -> None:
    assert decode(connect_v311(), V5) == Connect(version=V311, client_id="c")


def test_encode_refuses_a_connect_for_another_version() -> None:
    with pytest.raises(LocalProtocolError):
        encode(Connect(version=V311), V5)


# --- PUBLISH (§3.3) -------------------------------------------------------------------------


@pytest.mark.parametrize("qos", [1, 2])
def test_publish_with_qos_above_0_and_packet_id_0_is_a_protocol_error_mqtt_2_2_1_3(
    qos: int,
) -> None:
    data = frame(0x30 | qos << 1, s("t") + b"\x00\x00")
    expect_error(data, V311, RemoteProtocolError, PROTOCOL_ERROR, "MQTT-2.2.1-3")


def test_publish_with_qos_0_and_dup_is_a_protocol_error_mqtt_3_3_1_2() -> None:
    expect_error(frame(0x38, s("t")), V311, RemoteProtocolError, PROTOCOL_ERROR, "MQTT-3.3.1-2")


def test_publish_topic_semantics_are_left_to_the_connection() -> None:
    # Wildcards [MQTT-3.3.2-2] and an empty topic (legal with a Topic Alias in
    # MQTT 5) are decoded as they are; the connection validates them.
    assert decode(frame(0x30, s("a/+/#")), V311) == Publish(topic="a/+/#")
    assert decode(frame(0x30, s("") + b"\x00"), V5) == Publish(topic="")


def test_publish_without_its_packet_identifier_is_malformed() -> None:
    expect_error(frame(0x32, s("t") + b"\x00"), V311, MalformedPacket, MALFORMED)


def test_publish_packet_id_offset_lets_a_broker_patch_the_packet_id() -> None:
    for version in (V311, V5):
        for topic, size in (("t", 0), ("sensors/" * 30, 0), ("x", 300), ("", 20_000)):
            original = Publish(
                topic=topic,
                payload=b"p" * size,
                qos=QoS.AT_LEAST_ONCE,
                packet_id=1,
                properties=Properties(topic_alias=2)
                if version is V5 and not topic
                else NO_PROPERTIES,
            )
            wire = bytearray(encode(original, version))
            at = publish_packet_id_offset(wire)
            wire[at : at + 2] = (0xBEEF).to_bytes(2, "big")
            assert decode(bytes(wire), version) == dataclasses.replace(original, packet_id=0xBEEF)


def test_publish_packet_id_offset_refuses_a_qos_0_publish() -> None:
    with pytest.raises(LocalProtocolError):
        publish_packet_id_offset(encode(Publish(topic="t"), V5))
    with pytest.raises(LocalProtocolError):
        publish_packet_id_offset(b"\x32")


# --- SUBSCRIBE and UNSUBSCRIBE (§3.8, §3.10) ------------------------------------------------


@pytest.mark.parametrize("bits", [0x40, 0x80, 0xC0])
def test_subscribe_options_reserved_bits_are_malformed_mqtt_3_8_3_5(bits: int) -> None:
    data = frame(0x82, b"\x00\x01\x00" + s("a") + bytes((bits | 1,)))
    expect_error(data, V5, MalformedPacket, MALFORMED, "MQTT-3.8.3-5")


def test_subscribe_with_qos_3_is_a_protocol_error_in_mqtt_5() -> None:
    # MQTT 5 §3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3".
    data = frame(0x82, b"\x00\x01\x00" + s("a") + b"\x03")
    expect_error(data, V5, RemoteProtocolError, PROTOCOL_ERROR, "§3.8.3.1")


def test_subscribe_with_retain_handling_3_is_a_protocol_error_in_mqtt_5() -> None:
    # §3.8.3.1: "It is a Protocol Error to send a Retain Handling value of 3".
    data = frame(0x82, b"\x00\x01\x00" + s("a") + b"\x30")
    expect_error(data, V5, RemoteProtocolError, PROTOCOL_ERROR, "§3.8.3.1")


@pytest.mark.parametrize("options", [0x03, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80])
def test_subscribe_options_upper_6_bits_or_qos_3_are_malformed_in_311_mqtt_3_8_3_4(
    options: int,
) -> None:
    data = frame(0x82, b"\x00\x01" + s("a") + bytes((options,)))
    expect_error(data, V311, MalformedPacket, MALFORMED, "MQTT-3-8.3-4")


def test_subscribe_options_are_decoded() -> None:
    data = frame(0x82, b"\x00\x01\x00" + s("a") + b"\x2e")
    assert decode(data, V5) == Subscribe(
        packet_id=1,
        subscriptions=(
            Subscription(
                topic_filter="a",
                qos=QoS.EXACTLY_ONCE,
                no_local=True,
                retain_as_published=True,
                retain_handling=RetainHandling.DO_NOT_SEND,
            ),
        ),
    )


def test_subscribe_without_filters_is_a_protocol_error_mqtt_3_8_3_3() -> None:
    expect_error(
        frame(0x82, b"\x00\x01"), V311, RemoteProtocolError, PROTOCOL_ERROR, "MQTT-3.8.3-3"
    )
    expect_error(frame(0x82, b"\x00\x01\x00"), V5, RemoteProtocolError, PROTOCOL_ERROR)


def test_subscribe_filter_without_options_byte_is_malformed() -> None:
    expect_error(frame(0x82, b"\x00\x01" + s("a")), V311, MalformedPacket, MALFORMED)


def test_unsubscribe_without_filters_is_a_protocol_error_mqtt_3_10_3_2() -> None:
    expect_error(
        frame(0xA2, b"\x00\x01"), V311, RemoteProtocolError, PROTOCOL_ERROR, "MQTT-3.10.3-2"
    )
    expect_error(frame(0xA2, b"\x00\x01\x00"), V5, RemoteProtocolError, PROTOCOL_ERROR)


@pytest.mark.parametrize("first", [0x82, 0xA2, 0x90, 0xB0, 0x40, 0x50, 0x62, 0x70])
def test_packet_identifier_0_is_a_protocol_error_mqtt_2_2_1_3(first: int) -> None:
    body = b"\x00\x00" + (s("a") + b"\x00" if first == 0x82 else s("a") if first == 0xA2 else b"")
    if first == 0x90:
        body += b"\x00"
    expect_error(frame(first, body), V311, RemoteProtocolError, PROTOCOL_ERROR, "MQTT-2.2.1-3")


# --- MQTT 5 properties (§2.2.2) -------------------------------------------------------------


def test_an_unknown_property_identifier_is_malformed() -> None:
    expect_error(publish_v5(props(b"\x04\x00")), V5, MalformedPacket, MALFORMED, "unknown")
    expect_error(publish_v5(props(b"\x80\x01\x00")), V5, MalformedPacket, MALFORMED, "unknown")


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (publish_v5(props(b"\x11\x00\x00\x00\x01")), "Session Expiry Interval"),
        (frame(0x40, b"\x00\x01\x00" + props(b"\x23\x00\x01")), "Topic Alias"),
        (connect_v5(properties=props(b"\x18\x00\x00\x00\x01")), "Will Delay Interval"),
        (frame(0x82, b"\x00\x01" + props(b"\x1f" + s("x")) + s("a") + b"\x00"), "Reason String"),
    ],
)
def test_a_property_not_allowed_in_the_packet_is_malformed(data: bytes, name: str) -> None:
    version = None if data[0] == 0x10 else V5
    error = expect_error(data, version, MalformedPacket, MALFORMED, "Table 2-4")
    assert name in str(error)


def test_will_delay_interval_is_allowed_in_will_properties() -> None:
    payload = s("c") + props(b"\x18\x00\x00\x00\x05") + s("w") + s("bye")
    packet = decode(connect_v5(flags=0x06, payload=payload))
    assert isinstance(packet, Connect) and packet.will is not None
    assert packet.will.properties.will_delay_interval == 5


@pytest.mark.parametrize(
    "data",
    [
        publish_v5(props(b"\x02\x00\x00\x00\x01", b"\x02\x00\x00\x00\x02")),  # Message Expiry
        publish_v5(props(b"\x23\x00\x01", b"\x23\x00\x02")),  # Topic Alias
        frame(0x40, b"\x00\x01\x00" + props(b"\x1f" + s("a"), b"\x1f" + s("b"))),  # Reason String
        frame(0x82, b"\x00\x01" + props(b"\x0b\x01", b"\x0b\x02") + s("a") + b"\x00"),
    ],
)
def test_a_non_repeatable_property_twice_is_a_protocol_error(data: bytes) -> None:
    expect_error(data, V5, RemoteProtocolError, PROTOCOL_ERROR, "more than once")


def test_repeatable_properties_keep_their_order() -> None:
    data = publish_v5(
        props(b"\x26" + s("k") + s("2"), b"\x0b\x05", b"\x26" + s("k") + s("1"), b"\x0b\x03")
    )
    packet = decode(data, V5)
    assert isinstance(packet, Publish)
    assert packet.properties == Properties(
        user_properties=(("k", "2"), ("k", "1")), subscription_identifiers=(5, 3)
    )


def test_subscription_identifier_0_is_a_protocol_error() -> None:
    expect_error(
        publish_v5(props(b"\x0b\x00")), V5, RemoteProtocolError, PROTOCOL_ERROR, "§3.3.2.3.8"
    )
    data = frame(0x82, b"\x00\x01" + props(b"\x0b\x00") + s("a") + b"\x00")
    expect_error(data, V5, RemoteProtocolError, PROTOCOL_ERROR, "§3.8.2.1.2")


_BOOLEAN_PROPERTIES = [
    (0x01, publish_v5),  # Payload Format Indicator
    (0x17, None),  # Request Problem Information (CONNECT)
    (0x19, None),  # Request Response Information (CONNECT)
    (0x24, "connack"),  # Maximum QoS
    (0x25, "connack"),  # Retain Available
    (0x28, "connack"),  # Wildcard Subscription Available
    (0x29, "connack"),  # Subscription Identifiers Available
    (0x2A, "connack"),  # Shared Subscription Available
]


@pytest.mark.parametrize(("pid", "where"), _BOOLEAN_PROPERTIES, ids=lambda x: f"{x}")
@pytest.mark.parametrize("value", [0, 1, 2, 0xFF])
def test_byte_properties_meaning_yes_or_no_must_be_0_or_1(
    pid: int, where: object, value: int
) -> None:
    block = props(bytes((pid, value)))
    if where is None:
        data, version = connect_v5(properties=block), None
    elif where == "connack":
        data, version = frame(0x20, b"\x00\x00" + block), V5
    else:
        data, version = publish_v5(block), V5
    if value in (0, 1):
        packet = decode(data, version)
        name = PROPERTY_TABLE[pid].name
        assert getattr(packet.properties, name) == value  # type: ignore[attr-defined]
    else:
        expect_error(data, version, RemoteProtocolError, PROTOCOL_ERROR)


def test_receive_maximum_0_is_a_protocol_error() -> None:
    expect_error(
        connect_v5(properties=props(b"\x21\x00\x00")), None, RemoteProtocolError, PROTOCOL_ERROR
    )
    expect_error(
        frame(0x20, b"\x00\x00" + props(b"\x21\x00\x00")), V5, RemoteProtocolError, PROTOCOL_ERROR
    )


def test_maximum_packet_size_0_is_a_protocol_error() -> None:
    block = props(b"\x27\x00\x00\x00\x00")
    expect_error(connect_v5(properties=block), None, RemoteProtocolError, PROTOCOL_ERROR)
    expect_error(frame(0x20, b"\x00\x00" + block), V5, RemoteProtocolError, PROTOCOL_ERROR)


def test_topic_alias_0_is_topic_alias_invalid_mqtt_3_3_2_8() -> None:
    expect_error(
        publish_v5(props(b"\x23\x00\x00")),
        V5,
        RemoteProtocolError,
        R.TOPIC_ALIAS_INVALID,
        "MQTT-3.3.2-8",
    )


def test_a_property_block_ending_inside_a_property_is_malformed() -> None:
    expect_error(publish_v5(props(b"\x02\x00\x00")), V5, MalformedPacket, MALFORMED)


@pytest.mark.parametrize(
    "packet",
    [
        Publish(topic="t", properties=Properties(session_expiry_interval=1)),
        Connect(properties=Properties(will_delay_interval=1)),
        Connect(will=Will(topic="w", properties=Properties(session_expiry_interval=1))),
        PubAck(packet_id=1, properties=Properties(user_properties=(("a", "b"),), topic_alias=1)),
    ],
)
def test_the_encoder_refuses_a_property_the_packet_may_not_carry(packet: Packet) -> None:
    with pytest.raises(LocalProtocolError, match="Table 2-4"):
        encode(packet, V5)


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        (Properties(topic_alias=0), R.TOPIC_ALIAS_INVALID),
        (Properties(subscription_identifiers=(0,)), PROTOCOL_ERROR),
        (Properties(payload_format_indicator=2), PROTOCOL_ERROR),
        (Properties(message_expiry_interval=1 << 32), PROTOCOL_ERROR),
        (Properties(topic_alias=1 << 16), R.TOPIC_ALIAS_INVALID),
        (Properties(subscription_identifiers=(MAX_REMAINING_LENGTH + 1,)), PROTOCOL_ERROR),
    ],
)
def test_the_encoder_refuses_property_values_the_decoder_would_refuse(
    properties: Properties, reason: ReasonCode
) -> None:
    with pytest.raises(LocalProtocolError) as info:
        encode(Publish(topic="t", properties=properties), V5)
    assert info.value.reason_code == reason


def test_the_encoder_refuses_two_subscription_identifiers_in_subscribe() -> None:
    packet = Subscribe(
        packet_id=1,
        subscriptions=(Subscription(topic_filter="a"),),
        properties=Properties(subscription_identifiers=(1, 2)),
    )
    with pytest.raises(LocalProtocolError, match="§3.8.2.1.2"):
        encode(packet, V5)


def test_properties_are_encoded_in_table_order() -> None:
    packet = Publish(
        topic="t",
        properties=Properties(user_properties=(("a", "b"),), content_type="c", topic_alias=9),
    )
    assert encode(packet, V5) == frame(
        0x30, s("t") + props(b"\x03" + s("c"), b"\x23\x00\x09", b"\x26" + s("a") + s("b"))
    )


# --- reason codes (§2.4) --------------------------------------------------------------------

_REASON_PACKETS = {
    PacketType.CONNACK: lambda code: frame(0x20, bytes((0, code, 0))),
    PacketType.PUBACK: lambda code: frame(0x40, bytes((0, 1, code))),
    PacketType.PUBREC: lambda code: frame(0x50, bytes((0, 1, code))),
    PacketType.PUBREL: lambda code: frame(0x62, bytes((0, 1, code))),
    PacketType.PUBCOMP: lambda code: frame(0x70, bytes((0, 1, code))),
    PacketType.SUBACK: lambda code: frame(0x90, bytes((0, 1, 0, code))),
    PacketType.UNSUBACK: lambda code: frame(0xB0, bytes((0, 1, 0, code))),
    PacketType.DISCONNECT: lambda code: frame(0xE0, bytes((code,))),
    PacketType.AUTH: lambda code: frame(0xF0, bytes((code, 0))),
}


@pytest.mark.parametrize("ptype", list(_REASON_PACKETS), ids=lambda t: t.name)
def test_a_reason_code_the_packet_may_not_carry_is_malformed(ptype: PacketType) -> None:
    allowed = REASON_CODES_BY_PACKET[ptype]
    for code in range(256):
        data = _REASON_PACKETS[ptype](code)
        if code in allowed:
            decode(data, V5)
        else:
            expect_error(data, V5, MalformedPacket, MALFORMED)


@pytest.mark.parametrize("code", range(6))
def test_connack_311_return_codes_map_onto_reason_codes(code: int) -> None:
    expected = [
        R.SUCCESS,
        R.UNSUPPORTED_PROTOCOL_VERSION,
        R.CLIENT_IDENTIFIER_NOT_VALID,
        R.SERVER_UNAVAILABLE,
        R.BAD_USER_NAME_OR_PASSWORD,
        R.NOT_AUTHORIZED,
    ][code]
    packet = decode(bytes((0x20, 2, 0, code)), V311)
    assert packet == ConnAck(reason_code=expected)
    assert encode(packet, V311) == bytes((0x20, 2, 0, code))


@pytest.mark.parametrize("code", [6, 0x80, 0x84, 0xFF])
def test_connack_311_reserved_return_codes_are_malformed(code: int) -> None:
    expect_error(bytes((0x20, 2, 0, code)), V311, MalformedPacket, MALFORMED)


def test_connack_acknowledge_flags_reserved_bits_are_malformed_mqtt_3_2_2_1() -> None:
    expect_error(b"\x20\x03\x02\x00\x00", V5, MalformedPacket, MALFORMED, "MQTT-3.2.2-1")


def test_connack_refusing_with_session_present_is_a_protocol_error_mqtt_3_2_2_6() -> None:
    expect_error(b"\x20\x03\x01\x87\x00", V5, RemoteProtocolError, PROTOCOL_ERROR, "MQTT-3.2.2-6")


def test_the_encoder_maps_mqtt_5_connack_reasons_onto_311_return_codes() -> None:
    for reason, code in REASON_TO_CONNACK_V311.items():
        assert encode(ConnAck(reason_code=reason), V311) == bytes((0x20, 2, 0, code))
    assert REASON_TO_CONNACK_V311[R.BANNED] == 5


def test_suback_311_codes_are_0_1_2_and_0x80_mqtt_3_9_3_2() -> None:
    packet = decode(b"\x90\x06\x00\x01\x00\x01\x02\x80", V311)
    assert packet == SubAck(
        packet_id=1,
        reason_codes=(R.GRANTED_QOS_0, R.GRANTED_QOS_1, R.GRANTED_QOS_2, R.UNSPECIFIED_ERROR),
    )
    for code in (3, 0x81, 0x87, 0xFF):
        expect_error(bytes((0x90, 3, 0, 1, code)), V311, MalformedPacket, MALFORMED, "MQTT-3.9.3-2")


def test_every_mqtt_5_suback_refusal_becomes_0x80_in_311() -> None:
    packet = SubAck(packet_id=1, reason_codes=(R.GRANTED_QOS_1, R.NOT_AUTHORIZED, R.QUOTA_EXCEEDED))
    assert encode(packet, V311) == b"\x90\x05\x00\x01\x01\x80\x80"


# --- MQTT 5 short forms ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "first"), [(PubAck, 0x40), (PubRec, 0x50), (PubRel, 0x62), (PubComp, 0x70)]
)
def test_ack_remaining_length_2_means_success_3_means_no_properties(
    cls: type[PubAck | PubRec | PubRel | PubComp], first: int
) -> None:
    assert decode(bytes((first, 2, 0, 9)), V5) == cls(packet_id=9)
    code = R.PACKET_IDENTIFIER_NOT_FOUND if cls in (PubRel, PubComp) else R.NO_MATCHING_SUBSCRIBERS
    assert decode(bytes((first, 3, 0, 9, code)), V5) == cls(packet_id=9, reason_code=code)
    # Remaining Length 4 with an empty property block is accepted too.
    assert decode(bytes((first, 4, 0, 9, 0, 0)), V5) == cls(packet_id=9)
    # The encoder always picks the shortest form.
    assert encode(cls(packet_id=9), V5) == bytes((first, 2, 0, 9))
    assert encode(cls(packet_id=9, reason_code=code), V5) == bytes((first, 3, 0, 9, code))
    with_props = cls(packet_id=9, properties=Properties(reason_string="r"))
    assert encode(with_props, V5) == frame(first, b"\x00\x09\x00" + props(b"\x1f" + s("r")))


def test_disconnect_remaining_length_0_means_normal_disconnection() -> None:
    assert decode(b"\xe0\x00", V5) == Disconnect()
    assert decode(b"\xe0\x01\x8e", V5) == Disconnect(reason_code=R.SESSION_TAKEN_OVER)
    assert decode(b"\xe0\x02\x00\x00", V5) == Disconnect()
    assert encode(Disconnect(), V5) == b"\xe0\x00"
    assert encode(Disconnect(reason_code=R.SESSION_TAKEN_OVER), V5) == b"\xe0\x01\x8e"


def test_auth_remaining_length_0_means_success() -> None:
    assert decode(b"\xf0\x00", V5) == Auth()
    assert encode(Auth(), V5) == b"\xf0\x00"
    # AUTH has no "less than 2" rule: a reason code brings a Property Length.
    assert encode(Auth(reason_code=R.CONTINUE_AUTHENTICATION), V5) == b"\xf0\x02\x18\x00"
    expect_error(b"\xf0\x01\x18", V5, MalformedPacket, MALFORMED)


# --- the encoder and MQTT 3.1.1 -------------------------------------------------------------


def test_311_disconnect_is_two_bytes() -> None:
    assert encode(Disconnect(), V311) == b"\xe0\x00"
    assert encode(Disconnect(), V31) == b"\xe0\x00"


def test_311_unsuback_has_no_reason_codes() -> None:
    assert encode(UnsubAck(packet_id=7), V311) == b"\xb0\x02\x00\x07"
    # Success codes say nothing a 3.1.1 UNSUBACK does not.
    assert encode(
        UnsubAck(packet_id=7, reason_codes=(R.SUCCESS, R.NO_SUBSCRIPTION_EXISTED)), V311
    ) == (b"\xb0\x02\x00\x07")


def test_311_puback_drops_a_success_reason_code() -> None:
    assert encode(PubAck(packet_id=7, reason_code=R.NO_MATCHING_SUBSCRIBERS), V311) == (
        b"\x40\x02\x00\x07"
    )


@pytest.mark.parametrize(
    "packet",
    [
        Auth(),
        PubAck(packet_id=1, reason_code=R.NOT_AUTHORIZED),
        PubRec(packet_id=1, reason_code=R.QUOTA_EXCEEDED),
        PubRel(packet_id=1, reason_code=R.PACKET_IDENTIFIER_NOT_FOUND),
        PubComp(packet_id=1, properties=Properties(reason_string="x")),
        UnsubAck(packet_id=1, reason_codes=(R.NOT_AUTHORIZED,)),
        Disconnect(reason_code=R.DISCONNECT_WITH_WILL_MESSAGE),
        Disconnect(reason_code=R.SERVER_SHUTTING_DOWN),
        Disconnect(properties=Properties(session_expiry_interval=0)),
        Publish(topic="t", properties=Properties(content_type="text/plain")),
        Connect(version=V311, properties=Properties(receive_maximum=5)),
        Connect(version=V311, will=Will(topic="w", properties=Properties(will_delay_interval=5))),
        ConnAck(properties=Properties(retain_available=0)),
        Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="a", no_local=True),)),
        Subscribe(
            packet_id=1,
            subscriptions=(
                Subscription(topic_filter="a", retain_handling=RetainHandling.DO_NOT_SEND),
            ),
        ),
        SubAck(
            packet_id=1, reason_codes=(R.GRANTED_QOS_0,), properties=Properties(reason_string="x")
        ),
        Unsubscribe(
            packet_id=1, topic_filters=("a",), properties=Properties(user_properties=(("a", "b"),))
        ),
    ],
    ids=lambda p: type(p).__name__,
)
def test_the_encoder_refuses_mqtt_5_content_in_311(packet: Packet) -> None:
    with pytest.raises(LocalProtocolError):
        encode(packet, V311)


@pytest.mark.parametrize(
    "packet",
    [
        ConnAck(reason_code=R.NO_MATCHING_SUBSCRIBERS),
        PubAck(packet_id=1, reason_code=R.PACKET_IDENTIFIER_NOT_FOUND),
        PubRel(packet_id=1, reason_code=R.NO_MATCHING_SUBSCRIBERS),
        SubAck(packet_id=1, reason_codes=(R.NO_MATCHING_SUBSCRIBERS,)),
        UnsubAck(packet_id=1, reason_codes=(R.GRANTED_QOS_1,)),
        Disconnect(reason_code=R.CONTINUE_AUTHENTICATION),
        Auth(reason_code=R.NOT_AUTHORIZED),
    ],
    ids=lambda p: type(p).__name__,
)
@pytest.mark.parametrize("version", [V311, V5], ids=lambda v: v.label)
def test_the_encoder_refuses_a_reason_code_the_packet_may_not_carry(
    packet: Packet, version: ProtocolVersion
) -> None:
    with pytest.raises(LocalProtocolError):
        encode(packet, version)


def test_encode_refuses_what_is_not_a_packet() -> None:
    with pytest.raises(TypeError, match="Will"):
        encode(Will(topic="w"), V5)  # type: ignore[arg-type]


# --- values the packet dataclasses refuse ----------------------------------------------------


def test_a_value_a_packet_dataclass_refuses_is_reported_as_the_peers_error() -> None:
    # SubAck.__post_init__ raises LocalProtocolError for Packet Identifier 0;
    # decoded from the wire it is the peer's mistake, same detail and reason.
    error = expect_error(b"\x90\x03\x00\x00\x00", V311, RemoteProtocolError, PROTOCOL_ERROR)
    assert "MQTT-2.2.1-3" in error.detail
    assert not isinstance(error, LocalProtocolError)


@pytest.mark.pure_python  # patches module globals that compiled code binds when built
def test_a_stray_exception_inside_a_body_decoder_is_reported_as_malformed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The decoders check every length first, so this cannot happen today; if a
    # future bug lets an IndexError through, the peer still gets 0x81, not a crash.
    from mqttsim.protocol import codec

    def broken(flags: int, data: bytes, pos: int, end: int, v5: bool) -> Packet:
        return (b"")[1]  # type: ignore[return-value]

    decoders = list(BODY_DECODERS)
    decoders[PacketType.PINGREQ] = decoders[PacketType.PUBLISH] = broken
    monkeypatch.setattr(codec, "BODY_DECODERS", tuple(decoders))
    monkeypatch.setattr(codec, "decode_publish", broken)
    for data in (b"\xc0\x00", frame(0x30, s("t"))):
        with pytest.raises(MalformedPacket, match="IndexError") as info:
            decode(data, V5)
        assert info.value.reason_code == MALFORMED
        with pytest.raises(MalformedPacket, match="IndexError"):
            StreamDecoder(version=V5).feed(data)


def test_decode_accepts_bytearray_and_memoryview() -> None:
    assert decode(bytearray(b"\xc0\x00"), V5) == PingReq()
    assert decode(memoryview(b"\x40\x02\x00\x01"), V5) == PubAck(packet_id=1)


def test_publish_packet_id_offset_refuses_a_remaining_length_over_four_bytes() -> None:
    with pytest.raises(LocalProtocolError):
        publish_packet_id_offset(b"\x32\xff\xff\xff\xff\x7f\x00\x01t\x00\x01")


@pytest.mark.parametrize(
    "packet",
    [
        Publish(topic="t", qos=3, packet_id=1),  # type: ignore[arg-type]
        Connect(will=Will(topic="w", qos=3)),  # type: ignore[arg-type]
        Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="a", qos=3),)),  # type: ignore[arg-type]
        Subscribe(
            packet_id=1,
            subscriptions=(Subscription(topic_filter="a", retain_handling=3),),  # type: ignore[arg-type]
        ),
    ],
    ids=["publish", "will", "subscribe-qos", "subscribe-retain-handling"],
)
def test_the_encoder_refuses_qos_3_and_retain_handling_3(packet: Packet) -> None:
    with pytest.raises(LocalProtocolError):
        encode(packet, V5)


def test_an_empty_properties_value_is_encoded_like_no_properties() -> None:
    assert encode(PubAck(packet_id=1, properties=Properties()), V5) == b"\x40\x02\x00\x01"
    assert encode(Disconnect(properties=Properties()), V5) == b"\xe0\x00"
    assert encode(Publish(topic="t", properties=Properties()), V311) == frame(0x30, s("t"))
