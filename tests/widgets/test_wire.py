"""wire: the protocol version a lesson speaks, and a byte run cut into its packets."""

from __future__ import annotations

import pytest

from mqttsim.protocol import (
    ConfigError,
    MalformedPacket,
    PingReq,
    ProtocolVersion,
    Publish,
    QoS,
    encode,
)
from mqttsim.widgets.wire import lesson_version, packet_name, split_packets


def test_a_run_of_packets_is_cut_at_each_fixed_header() -> None:
    big = Publish(topic="pipeline/st-01/log", payload=b"x" * 300, qos=QoS(1), packet_id=7)
    packets = [encode(PingReq(), ProtocolVersion.V5), encode(big, ProtocolVersion.V5)]
    packets.append(packets[0])
    assert len(packets[1]) > 128  # a two-byte Remaining Length
    assert split_packets(b"".join(packets)) == packets
    assert [packet_name(p) for p in packets] == ["PINGREQ", "PUBLISH", "PINGREQ"]
    assert split_packets(b"") == []


def test_a_run_that_stops_inside_a_packet_is_malformed() -> None:
    publish = encode(Publish(topic="a", payload=b"42"), ProtocolVersion.V5)
    with pytest.raises(MalformedPacket):
        split_packets(publish[:-1])
    with pytest.raises(MalformedPacket):
        split_packets(publish[:1])


def test_lessons_speak_mqtt_3_1_1_or_5() -> None:
    assert lesson_version(4) is ProtocolVersion.V311
    assert lesson_version(ProtocolVersion.V5) is ProtocolVersion.V5
    for wrong in (3, 6, True, "5"):
        with pytest.raises(ConfigError, match="version must be 4 .* or 5"):
            lesson_version(wrong)  # type: ignore[arg-type]
