"""inspect_packet and PacketInspector: bytes to fields, bad input refused in the widget."""

from __future__ import annotations

import pandas as pd
import pytest

from mqttsim.protocol import (
    Auth,
    ConfigError,
    ConnAck,
    Connect,
    Disconnect,
    MalformedPacket,
    MQTTError,
    Packet,
    Properties,
    ProtocolVersion,
    PubAck,
    Publish,
    PubRel,
    QoS,
    ReasonCode,
    SubAck,
    UnsubAck,
    Unsubscribe,
    Will,
    encode,
)
from mqttsim.widgets import (
    PacketInspector,
    check,
    inspect_packet,
    parse_hex,
    remaining_length_table,
)
from mqttsim.widgets.exercises import remaining_length_size
from mqttsim.widgets.inspector import example_packets

V311, V5 = ProtocolVersion.V311, ProtocolVersion.V5
READING = Publish(topic="st-01/p", payload=b"72.4 bar", qos=QoS.AT_LEAST_ONCE, packet_id=1)


def covered(frame: pd.DataFrame) -> list[int]:
    """Every byte offset the rows claim, the first byte once."""
    offsets: list[int] = []
    for span in frame["bytes"][1:]:  # rows 0 and 1 share byte 0
        if span == "–":
            continue
        first, _, last = span.partition("–")
        offsets += range(int(first), int(last or first) + 1)
    return offsets


def test_a_publish_field_by_field() -> None:
    frame = inspect_packet(encode(READING, V311), V311)
    assert list(frame.columns) == ["bytes", "hex", "field", "value"]
    assert list(frame.field) == [
        "packet type (bits 7–4)",
        "flags (bits 3–0)",
        "Remaining Length",
        "topic name length",
        "topic name",
        "packet identifier",
        "payload",
    ]
    values = dict(zip(frame.field, frame.value, strict=True))
    assert values["packet type (bits 7–4)"] == "0011 = 3 PUBLISH"
    assert values["flags (bits 3–0)"] == "0010: DUP=0, QoS=1, RETAIN=0"
    assert values["Remaining Length"] == "19 bytes follow"
    assert values["topic name"] == "'st-01/p'"
    assert list(frame["bytes"]) == ["0", "0", "1", "2–3", "4–10", "11–12", "13–20"]


def test_mqtt5_adds_the_property_length() -> None:
    frame = inspect_packet(encode(READING, V5))
    assert "property length" in list(frame.field)
    assert frame.value[frame.field == "property length"].item() == "0 bytes follow"


PACKETS: list[tuple[Packet, ProtocolVersion]] = [
    (READING, V311),
    (READING, V5),
    (Publish(topic="a", payload=b"", retain=True), V5),
    (
        Publish(
            topic="a/b",
            payload=b"x" * 300,
            qos=QoS.EXACTLY_ONCE,
            packet_id=9,
            properties=Properties(
                message_expiry_interval=60,
                content_type="text/plain",
                correlation_data=b"\x01",
                subscription_identifiers=(300,),
                user_properties=(("k", "v"),),
            ),
        ),
        V5,
    ),
    (
        Connect(
            version=V5,
            client_id="st-01",
            username="u",
            password=b"pw",
            will=Will(topic="w", payload=b"bye", qos=QoS.AT_LEAST_ONCE),
            properties=Properties(session_expiry_interval=3600),
        ),
        V5,
    ),
    (Connect(version=V311, client_id="st-01"), V311),
    (ConnAck(properties=Properties(maximum_qos=1)), V5),
    (ConnAck(session_present=True), V311),
    (PubAck(packet_id=3, reason_code=ReasonCode.NO_MATCHING_SUBSCRIBERS), V5),
    (PubRel(packet_id=3, properties=Properties(reason_string="why")), V5),
    (SubAck(packet_id=2, reason_codes=(ReasonCode.GRANTED_QOS_1, ReasonCode.NOT_AUTHORIZED)), V5),
    (Unsubscribe(packet_id=4, topic_filters=("a", "b/#")), V5),
    (UnsubAck(packet_id=4, reason_codes=(ReasonCode.SUCCESS,)), V5),
    (UnsubAck(packet_id=4), V311),
    (Disconnect(reason_code=ReasonCode.KEEP_ALIVE_TIMEOUT), V5),
    (
        Auth(
            reason_code=ReasonCode.CONTINUE_AUTHENTICATION, properties=Properties(reason_string="r")
        ),
        V5,
    ),
]


@pytest.mark.parametrize(
    "packet, version", PACKETS, ids=[f"{type(p).__name__}-{v.label}" for p, v in PACKETS]
)
def test_every_byte_is_explained_once(packet: Packet, version: ProtocolVersion) -> None:
    raw = encode(packet, version)
    frame = inspect_packet(raw, version)
    assert covered(frame) == list(range(len(raw)))
    assert frame["bytes"][0] == frame["bytes"][1] == "0"


@pytest.mark.parametrize("name", list(example_packets()))
def test_the_examples_are_explained_to_the_last_byte(name: str) -> None:
    raw, version = example_packets()[name]
    assert covered(inspect_packet(raw, version)) == list(range(len(raw)))


def test_properties_and_reason_codes_are_named() -> None:
    frame = inspect_packet(encode(PACKETS[3][0], V5))
    fields = list(frame.field)
    assert "property 0x02 Message Expiry Interval" in fields
    assert "property 0x26 User Property" in fields
    suback = inspect_packet(encode(PACKETS[10][0], V5))
    assert list(suback.value[suback.field == "reason code"]) == [
        "0x01 GRANTED_QOS_1",
        "0x87 NOT_AUTHORIZED",
    ]


def test_hex_is_accepted_as_people_write_it() -> None:
    assert parse_hex("c0 00") == parse_hex("C000") == parse_hex("0xc0, 0x00") == b"\xc0\x00"
    assert parse_hex("c0:00\n") == b"\xc0\x00"
    assert len(inspect_packet("c0 00")) == 3


@pytest.mark.parametrize(
    "text, message",
    [("c0 0g", "not a hex digit"), ("c0 0", "one is missing"), ("  ", "no bytes yet")],
)
def test_bad_hex_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_hex(text)


@pytest.mark.parametrize("text", ["30 05 00", "30", "36 02 00 00", "c0 01 00 00"])
def test_malformed_packets_raise_the_decoders_error(text: str) -> None:
    with pytest.raises(MalformedPacket):
        inspect_packet(text)


def test_remaining_length_table() -> None:
    table = remaining_length_table([0, 127, 128, 16383, 16384, 268435455, 268435456])
    assert list(table["encoded (hex)"][:6]) == [
        "00",
        "7f",
        "80 01",
        "ff 7f",
        "80 80 01",
        "ff ff ff 7f",
    ]
    assert list(table["bytes"][:6]) == [1, 1, 2, 2, 3, 4]
    assert pd.isna(table["bytes"][6])
    assert table["encoded (hex)"][6].startswith("refused")


# --- the widget ----------------------------------------------------------------------------


def test_inspector_starts_on_an_example() -> None:
    inspector = PacketInspector()
    assert inspector.frame is not None
    assert inspector.message.value == ""
    assert "PUBLISH" in inspector.table.value
    assert "Publish(" in inspector.decoded.value


def test_typing_hex_redraws_the_table() -> None:
    inspector = PacketInspector()
    inspector.text.value = "c0 00"
    assert inspector.frame is not None and len(inspector.frame) == 3
    assert "PINGREQ" in inspector.table.value
    assert "PingReq()" in inspector.decoded.value


def test_bad_hex_is_refused_in_the_widget_and_the_last_table_kept() -> None:
    inspector = PacketInspector("c0 00")
    before = inspector.table.value
    inspector.text.value = "c0 zz"
    assert "not a hex digit" in inspector.message.value
    assert inspector.table.value == before
    inspector.text.value = "30 05 00"
    assert "Remaining Length of 5" in inspector.message.value
    inspector.text.value = "e0 00"
    assert inspector.message.value == ""
    assert "DISCONNECT" in inspector.table.value


def test_picking_an_example_sets_the_text_and_the_version() -> None:
    inspector = PacketInspector()
    inspector.examples.value = "SUBSCRIBE (MQTT 5.0)"
    assert inspector.version.value is V5
    assert inspector.text.value.startswith("82 ")
    assert "topic filter" in inspector.table.value
    inspector.examples.value = "CONNECT (MQTT 3.1.1)"
    assert inspector.version.value is V311
    assert "client identifier" in inspector.table.value


def test_the_version_changes_how_bytes_are_read() -> None:
    inspector = PacketInspector(encode(READING, V311).hex(" "), version=4)
    assert inspector.message.value == ""
    assert "property length" not in inspector.table.value
    inspector.version.value = V5  # read as MQTT 5, the payload's "7" becomes a property length
    assert "Property Length 55 overruns the Remaining Length" in inspector.message.value


# --- exercises -------------------------------------------------------------------------------


def test_check_says_not_yet_then_correct(capsys: pytest.CaptureFixture[str]) -> None:
    check(None, 2, hint="count the bits")
    check(3, 2, hint="count the bits")
    check(2, 2, hint="count the bits")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Not yet: set `answer`") and lines[0].endswith("count the bits")
    assert lines[1] == "Not yet: 3 is not it. Hint: count the bits"
    assert lines[2] == "Correct!"


def test_remaining_length_size() -> None:
    assert [remaining_length_size(n) for n in (2, 129, 131, 300, 16386, 16388)] == [
        1,
        1,
        2,
        2,
        2,
        3,
    ]
    for n in (300, 16386):
        size = remaining_length_size(n)
        assert len(encode(Publish(topic="t", payload=b"x" * (n - 1 - size - 3)), V311)) == n
    with pytest.raises(MQTTError, match="130 bytes"):
        remaining_length_size(130)
