"""Golden byte vectors, worked out by hand from the specifications, independent of our encoder.

Every vector below was written byte by byte from the packet layouts of
MQTT 3.1.1 (OASIS Standard, 29 October 2014) and MQTT 5.0 (OASIS Standard,
7 March 2019), reusing the specifications' own non-normative examples where
they give one (the Variable Byte Integer table, the UTF-8 example, the
CONNECT, PUBLISH, SUBSCRIBE, UNSUBSCRIBE and DISCONNECT examples). Each is
checked both ways: decode(bytes) == packet and encode(packet) == bytes.
"""

from __future__ import annotations

import pytest

from mqttsim.protocol.codec import StreamDecoder, decode, decode_varint, encode, encode_varint
from mqttsim.protocol.enums import PacketType, ProtocolVersion, QoS, ReasonCode, RetainHandling
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
from mqttsim.protocol.properties import Properties

V31 = ProtocolVersion.V31
V311 = ProtocolVersion.V311
V5 = ProtocolVersion.V5
R = ReasonCode
Q1 = QoS.AT_LEAST_ONCE
Q2 = QoS.EXACTLY_ONCE

# (name, version, hex, packet). Spaces in the hex are for the reader only.
GOLDEN: list[tuple[str, ProtocolVersion, str, Packet]] = [
    # ---- MQTT 3.1.1 -----------------------------------------------------------------------
    (
        # §3.1.2.10 Figure 3.6: "MQTT", level 4, flags 0xCE (user name, password,
        # Will QoS 1, Will Flag, Clean Session), Keep Alive 10; then the payload.
        "connect-311-spec-example",
        V311,
        "10 1C  00 04 4D 51 54 54  04  CE  00 0A"
        "  00 02 63 31  00 01 77  00 03 62 79 65  00 01 75  00 01 70",
        Connect(
            version=V311,
            client_id="c1",
            keep_alive_s=10,
            username="u",
            password=b"p",
            will=Will(topic="w", payload=b"bye", qos=Q1),
        ),
    ),
    (
        "connect-311-minimal",
        V311,
        "10 0C  00 04 4D 51 54 54  04  00  00 00  00 00",
        Connect(version=V311, client_id="", clean_start=False, keep_alive_s=0),
    ),
    ("connack-311-session-present", V311, "20 02 01 00", ConnAck(session_present=True)),
    ("connack-311-not-authorized", V311, "20 02 00 05", ConnAck(reason_code=R.NOT_AUTHORIZED)),
    (
        # §3.3.2.3 Figure 3.11: Topic Name "a/b", Packet Identifier 10.
        "publish-311-spec-example",
        V311,
        "32 09  00 03 61 2F 62  00 0A  68 69",
        Publish(topic="a/b", payload=b"hi", qos=Q1, packet_id=10),
    ),
    (
        "publish-311-qos0-retain",
        V311,
        "31 07  00 03 61 2F 62  68 69",
        Publish(topic="a/b", payload=b"hi", retain=True),
    ),
    (
        "publish-311-qos2-dup",
        V311,
        "3C 09  00 03 61 2F 62  00 0A  68 69",
        Publish(topic="a/b", payload=b"hi", qos=Q2, dup=True, packet_id=10),
    ),
    (
        # §1.5.3 Figure 1.1: "A\U0002A6D4" is 00 05 41 F0 AA 9B 94.
        "publish-311-utf8-example",
        V311,
        "30 07  00 05 41 F0 AA 9B 94",
        Publish(topic="A\U0002a6d4"),
    ),
    (
        # Remaining Length 200 = C8 01 (§2.2.3).
        "publish-311-two-byte-remaining-length",
        V311,
        "30 C8 01  00 01 61" + " EE" * 197,
        Publish(topic="a", payload=b"\xee" * 197),
    ),
    ("puback-311", V311, "40 02 00 0A", PubAck(packet_id=10)),
    ("pubrec-311", V311, "50 02 00 0A", PubRec(packet_id=10)),
    ("pubrel-311", V311, "62 02 00 0A", PubRel(packet_id=10)),
    ("pubcomp-311", V311, "70 02 00 0A", PubComp(packet_id=10)),
    (
        # §3.8.3 Figure 3.22: "a/b" QoS 1, "c/d" QoS 2.
        "subscribe-311-spec-example",
        V311,
        "82 0E  00 0A  00 03 61 2F 62 01  00 03 63 2F 64 02",
        Subscribe(
            packet_id=10,
            subscriptions=(
                Subscription(topic_filter="a/b", qos=Q1),
                Subscription(topic_filter="c/d", qos=Q2),
            ),
        ),
    ),
    (
        # §3.9.3 Figure 3.26: Success QoS 0, Success QoS 2, Failure.
        "suback-311-spec-example",
        V311,
        "90 05  00 0A  00 02 80",
        SubAck(packet_id=10, reason_codes=(R.GRANTED_QOS_0, R.GRANTED_QOS_2, R.UNSPECIFIED_ERROR)),
    ),
    (
        # §3.10.3 Figure 3.30: "a/b", "c/d".
        "unsubscribe-311-spec-example",
        V311,
        "A2 0C  00 0A  00 03 61 2F 62  00 03 63 2F 64",
        Unsubscribe(packet_id=10, topic_filters=("a/b", "c/d")),
    ),
    ("unsuback-311", V311, "B0 02 00 0A", UnsubAck(packet_id=10)),
    ("pingreq-311", V311, "C0 00", PingReq()),
    ("pingresp-311", V311, "D0 00", PingResp()),
    ("disconnect-311", V311, "E0 00", Disconnect()),
    # ---- MQTT 3.1 -------------------------------------------------------------------------
    (
        "connect-31",
        V31,
        "10 10  00 06 4D 51 49 73 64 70  03  02  00 3C  00 02 63 31",
        Connect(version=V31, client_id="c1", keep_alive_s=60),
    ),
    # ---- MQTT 5.0 -------------------------------------------------------------------------
    (
        # The 5.0 CONNECT Variable Header example (§3.1.2): "MQTT", version 5,
        # flags 0xCE, Keep Alive 10,
        # Property Length 5, Session Expiry Interval 10; then the payload with
        # an empty will property block.
        "connect-5-spec-example",
        V5,
        "10 23  00 04 4D 51 54 54  05  CE  00 0A  05 11 00 00 00 0A"
        "  00 02 63 31  00  00 01 77  00 03 62 79 65  00 01 75  00 01 70",
        Connect(
            client_id="c1",
            keep_alive_s=10,
            username="u",
            password=b"p",
            will=Will(topic="w", payload=b"bye", qos=Q1),
            properties=Properties(session_expiry_interval=10),
        ),
    ),
    (
        "connect-5-minimal",
        V5,
        "10 0D  00 04 4D 51 54 54  05  02  00 3C  00  00 00",
        Connect(client_id="", keep_alive_s=60),
    ),
    (
        # Will properties: Payload Format Indicator 1, Will Delay Interval 5.
        "connect-5-will-properties",
        V5,
        "10 1B  00 04 4D 51 54 54  05  06  00 3C  00"
        "  00 01 63  07 01 01 18 00 00 00 05  00 01 74  00 00",
        Connect(
            client_id="c",
            keep_alive_s=60,
            will=Will(
                topic="t",
                properties=Properties(payload_format_indicator=1, will_delay_interval=5),
            ),
        ),
    ),
    (
        # The MQTT 5 password without a user name (§3.1.2.9).
        "connect-5-password-only",
        V5,
        "10 12  00 04 4D 51 54 54  05  42  00 3C  00  00 01 63  00 02 70 77",
        Connect(client_id="c", keep_alive_s=60, password=b"pw"),
    ),
    ("connack-5-success", V5, "20 03 00 00 00", ConnAck()),
    (
        "connack-5-properties",
        V5,
        "20 0E  01 00  0B  12 00 02 69 64  21 00 0A  22 00 05",
        ConnAck(
            session_present=True,
            properties=Properties(
                assigned_client_identifier="id", receive_maximum=10, topic_alias_maximum=5
            ),
        ),
    ),
    ("connack-5-refused", V5, "20 03 00 87 00", ConnAck(reason_code=R.NOT_AUTHORIZED)),
    (
        # The 5.0 PUBLISH Variable Header example (§3.3.2): "a/b", Packet
        # Identifier 10, no properties.
        "publish-5-spec-example",
        V5,
        "32 0A  00 03 61 2F 62  00 0A  00  68 69",
        Publish(topic="a/b", payload=b"hi", qos=Q1, packet_id=10),
    ),
    (
        # Empty topic with a Topic Alias; properties in identifier order.
        "publish-5-properties",
        V5,
        "30 17  00 00  13  02 00 00 00 3C  03 00 01 74  23 00 01  26 00 01 6B 00 01 76  78",
        Publish(
            topic="",
            payload=b"x",
            properties=Properties(
                message_expiry_interval=60,
                content_type="t",
                topic_alias=1,
                user_properties=(("k", "v"),),
            ),
        ),
    ),
    (
        # Two Subscription Identifiers, 1 and 128 (= 80 01).
        "publish-5-subscription-identifiers",
        V5,
        "35 0B  00 01 61  00 01  05 0B 01 0B 80 01",
        Publish(
            topic="a",
            qos=Q2,
            retain=True,
            packet_id=1,
            properties=Properties(subscription_identifiers=(1, 128)),
        ),
    ),
    ("puback-5-short", V5, "40 02 00 0A", PubAck(packet_id=10)),
    (
        "puback-5-reason",
        V5,
        "40 03 00 0A 10",
        PubAck(packet_id=10, reason_code=R.NO_MATCHING_SUBSCRIBERS),
    ),
    (
        "puback-5-reason-string",
        V5,
        "40 08  00 0A  80  04 1F 00 01 78",
        PubAck(
            packet_id=10,
            reason_code=R.UNSPECIFIED_ERROR,
            properties=Properties(reason_string="x"),
        ),
    ),
    (
        "pubrec-5",
        V5,
        "50 03 00 0B 10",
        PubRec(packet_id=11, reason_code=R.NO_MATCHING_SUBSCRIBERS),
    ),
    (
        "pubrel-5",
        V5,
        "62 03 00 0A 92",
        PubRel(packet_id=10, reason_code=R.PACKET_IDENTIFIER_NOT_FOUND),
    ),
    ("pubcomp-5", V5, "70 02 00 0A", PubComp(packet_id=10)),
    (
        # §3.8.2 Figure 3-19 and §3.8.3 Figure 3-21: Packet Identifier 10, no
        # properties, "a/b" options 1, "c/d" options 2.
        "subscribe-5-spec-example",
        V5,
        "82 0F  00 0A  00  00 03 61 2F 62 01  00 03 63 2F 64 02",
        Subscribe(
            packet_id=10,
            subscriptions=(
                Subscription(topic_filter="a/b", qos=Q1),
                Subscription(topic_filter="c/d", qos=Q2),
            ),
        ),
    ),
    (
        # Options 0x2D: QoS 1, No Local, Retain As Published, Retain Handling 2.
        "subscribe-5-options",
        V5,
        "82 0B  00 01  02 0B 05  00 03 74 2F 23  2D",
        Subscribe(
            packet_id=1,
            subscriptions=(
                Subscription(
                    topic_filter="t/#",
                    qos=Q1,
                    no_local=True,
                    retain_as_published=True,
                    retain_handling=RetainHandling.DO_NOT_SEND,
                ),
            ),
            properties=Properties(subscription_identifiers=(5,)),
        ),
    ),
    (
        "suback-5",
        V5,
        "90 06  00 0A  00  00 02 80",
        SubAck(packet_id=10, reason_codes=(R.GRANTED_QOS_0, R.GRANTED_QOS_2, R.UNSPECIFIED_ERROR)),
    ),
    (
        "suback-5-wildcards-not-supported",
        V5,
        "90 04  00 01  00  A2",
        SubAck(packet_id=1, reason_codes=(R.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,)),
    ),
    (
        "unsubscribe-5-spec-example",
        V5,
        "A2 0D  00 0A  00  00 03 61 2F 62  00 03 63 2F 64",
        Unsubscribe(packet_id=10, topic_filters=("a/b", "c/d")),
    ),
    (
        "unsuback-5",
        V5,
        "B0 05  00 0A  00  00 11",
        UnsubAck(packet_id=10, reason_codes=(R.SUCCESS, R.NO_SUBSCRIPTION_EXISTED)),
    ),
    ("pingreq-5", V5, "C0 00", PingReq()),
    ("pingresp-5", V5, "D0 00", PingResp()),
    ("disconnect-5-short", V5, "E0 00", Disconnect()),
    (
        # The 5.0 DISCONNECT Variable Header example (§3.14.2): reason 0,
        # Property Length 5, Session Expiry Interval 0.
        "disconnect-5-spec-example",
        V5,
        "E0 07  00  05 11 00 00 00 00",
        Disconnect(properties=Properties(session_expiry_interval=0)),
    ),
    (
        "disconnect-5-session-taken-over",
        V5,
        "E0 01 8E",
        Disconnect(reason_code=R.SESSION_TAKEN_OVER),
    ),
    ("auth-5-short", V5, "F0 00", Auth()),
    (
        "auth-5-continue",
        V5,
        "F0 0F  18  0D 15 00 05 53 43 52 41 4D  16 00 02 01 02",
        Auth(
            reason_code=R.CONTINUE_AUTHENTICATION,
            properties=Properties(authentication_method="SCRAM", authentication_data=b"\x01\x02"),
        ),
    ),
]

IDS = [name for name, *_ in GOLDEN]


def _wire(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


def _stream_version(version: ProtocolVersion, packet: Packet) -> ProtocolVersion | None:
    # A server reads CONNECT before it knows the version.
    return None if isinstance(packet, Connect) else version


def test_the_golden_set_has_every_packet_type_in_every_version() -> None:
    seen = {(version, packet.packet_type) for _, version, _, packet in GOLDEN}
    for ptype in PacketType:
        assert (V5, ptype) in seen
        if ptype is not PacketType.AUTH:
            assert (V311, ptype) in seen
    assert (V31, PacketType.CONNECT) in seen


@pytest.mark.parametrize(("name", "version", "hex_text", "packet"), GOLDEN, ids=IDS)
def test_golden_bytes_decode_to_the_packet(
    name: str, version: ProtocolVersion, hex_text: str, packet: Packet
) -> None:
    wire = _wire(hex_text)
    assert wire[1] & 0x80 or wire[1] == len(wire) - 2  # the vector's own length is right
    assert decode(wire, _stream_version(version, packet)) == packet


@pytest.mark.parametrize(("name", "version", "hex_text", "packet"), GOLDEN, ids=IDS)
def test_the_packet_encodes_to_the_golden_bytes(
    name: str, version: ProtocolVersion, hex_text: str, packet: Packet
) -> None:
    assert encode(packet, version) == _wire(hex_text)


@pytest.mark.parametrize(("name", "version", "hex_text", "packet"), GOLDEN, ids=IDS)
def test_every_proper_prefix_is_waited_for_and_the_last_byte_completes_it(
    name: str, version: ProtocolVersion, hex_text: str, packet: Packet
) -> None:
    wire = _wire(hex_text)
    stream_version = _stream_version(version, packet)
    for cut in range(len(wire)):
        decoder = StreamDecoder(version=stream_version)
        assert decoder.feed(wire[:cut]) == []  # no packet, no error
        assert decoder.buffered == cut
        assert decoder.feed(wire[cut:]) == [packet]
        assert decoder.buffered == 0


@pytest.mark.parametrize(("name", "version", "hex_text", "packet"), GOLDEN, ids=IDS)
def test_golden_bytes_fed_one_at_a_time_yield_the_packet_on_the_last(
    name: str, version: ProtocolVersion, hex_text: str, packet: Packet
) -> None:
    wire = _wire(hex_text)
    decoder = StreamDecoder(version=_stream_version(version, packet))
    for byte in wire[:-1]:
        assert decoder.feed(bytes((byte,))) == []
    assert decoder.feed(wire[-1:]) == [packet]


def test_all_golden_packets_of_a_version_in_one_stream() -> None:
    for version in (V311, V5):
        session = [(h, p) for _, v, h, p in GOLDEN if v is version and not isinstance(p, Connect)]
        decoder = StreamDecoder(version=version)
        wire = b"".join(_wire(h) for h, _ in session)
        assert decoder.feed(wire) == [p for _, p in session]


# ---- the specifications' own examples, field by field ------------------------------------------


@pytest.mark.parametrize(
    ("value", "hex_text"),
    [
        # §1.5.5 Table 1-1 (5.0) / §2.2.3 Table 2.4 (3.1.1): the edges of each size.
        (0, "00"),
        (127, "7F"),
        (128, "80 01"),
        (16_383, "FF 7F"),
        (16_384, "80 80 01"),
        (2_097_151, "FF FF 7F"),
        (2_097_152, "80 80 80 01"),
        (268_435_455, "FF FF FF 7F"),
    ],
)
def test_the_variable_byte_integer_table(value: int, hex_text: str) -> None:
    assert encode_varint(value) == _wire(hex_text)
    assert decode_varint(_wire(hex_text)) == (value, len(_wire(hex_text)))


def test_the_utf8_example_a_u2a6d4() -> None:
    # §1.5.4 Figure 1-1 (5.0) / §1.5.3 Figure 1.1 (3.1.1).
    example = _wire("00 05 41 F0 AA 9B 94")
    wire = encode(Publish(topic="A\U0002a6d4"), V311)
    assert wire[2:] == example


def test_the_connect_variable_header_examples() -> None:
    # 3.1.1 Figure 3.6: protocol name, level 4, flags 0xCE, Keep Alive 10.
    connect_311 = next(p for n, _, _, p in GOLDEN if n == "connect-311-spec-example")
    assert encode(connect_311, V311)[2:12] == _wire("00 04 4D 51 54 54 04 CE 00 0A")
    # The 5.0 example (§3.1.2) adds Property Length 5 and Session Expiry Interval 10.
    connect_5 = next(p for n, _, _, p in GOLDEN if n == "connect-5-spec-example")
    assert encode(connect_5, V5)[2:18] == _wire("00 04 4D 51 54 54 05 CE 00 0A 05 11 00 00 00 0A")


def test_the_publish_variable_header_example() -> None:
    # 3.1.1 Figure 3.11 and the 5.0 example (§3.3.2): Topic Name "a/b", Packet Identifier 10.
    packet = Publish(topic="a/b", qos=Q1, packet_id=10)
    assert encode(packet, V311)[2:] == _wire("00 03 61 2F 62 00 0A")
    assert encode(packet, V5)[2:] == _wire("00 03 61 2F 62 00 0A 00")


def test_the_subscribe_and_unsubscribe_payload_examples() -> None:
    # 3.1.1 Figure 3.22 and Figure 3.30.
    subscribe = Subscribe(
        packet_id=10,
        subscriptions=(
            Subscription(topic_filter="a/b", qos=Q1),
            Subscription(topic_filter="c/d", qos=Q2),
        ),
    )
    assert encode(subscribe, V311)[4:] == _wire("00 03 61 2F 62 01 00 03 63 2F 64 02")
    unsubscribe = Unsubscribe(packet_id=10, topic_filters=("a/b", "c/d"))
    assert encode(unsubscribe, V311)[4:] == _wire("00 03 61 2F 62 00 03 63 2F 64")


def test_a_remaining_length_of_128_takes_two_bytes() -> None:
    wire = encode(Publish(topic="a", payload=bytes(125)), V311)
    assert wire[:3] == _wire("30 80 01")
    assert len(wire) == 3 + 128
