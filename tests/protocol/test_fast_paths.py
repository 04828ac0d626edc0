"""The core's hot-path shortcuts give exactly what the plain code gives.

The simulator's benchmark (bench/sim_pipeline.py) made the core build some
packets without their dataclass ``__init__``, write success acknowledgements
as four bytes, and remember topic names it has validated. Each shortcut is
checked here against the straightforward way.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import replace

import pytest

from mqttsim.protocol.codec import StreamDecoder, encode, encode_success_ack
from mqttsim.protocol.enums import ProtocolVersion, QoS
from mqttsim.protocol.errors import TopicNameInvalid
from mqttsim.protocol.events import PacketSent
from mqttsim.protocol.packets import (
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    ack_unchecked,
    with_packet_id,
)
from mqttsim.protocol.properties import NO_PROPERTIES, Properties
from mqttsim.protocol.tables import BrokerState, ClientState
from tests.helpers import connected_client, server_reads, server_sends

ACKS = (PubAck, PubRec, PubRel, PubComp)
VERSIONS = (ProtocolVersion.V311, ProtocolVersion.V5)


def test_unchecked_publish_equals_the_checked_one() -> None:
    props = Properties(message_expiry_interval=5)
    built = Publish(
        topic="a/b", payload=b"x", qos=QoS(1), retain=True, packet_id=7, properties=props
    )
    fast = Publish.unchecked("a/b", b"x", QoS(1), True, False, 7, props)
    assert fast == built and hash(fast) == hash(built) and repr(fast) == repr(built)
    assert with_packet_id(built, 9) == replace(built, packet_id=9)
    assert Publish.unchecked("t", b"", QoS(0), False, False, None, NO_PROPERTIES) == Publish(
        topic="t"
    )


def test_the_unchecked_publish_takes_every_field() -> None:
    # The decoder, the client and the broker build PUBLISH packets with it.
    fields = [f.name for f in dataclasses.fields(Publish)]
    assert list(inspect.signature(Publish.unchecked).parameters) == fields


@pytest.mark.parametrize("kind", ACKS)
def test_unchecked_ack_equals_the_checked_one(kind: type[PubAck]) -> None:
    assert ack_unchecked(kind, 65535) == kind(packet_id=65535)
    assert repr(ack_unchecked(kind, 1)) == repr(kind(packet_id=1))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", ACKS)
def test_success_acks_written_as_four_bytes_are_the_encoded_acks(
    version: ProtocolVersion, kind: type[PubAck]
) -> None:
    for packet_id in (1, 255, 256, 65535):
        assert encode_success_ack(kind, packet_id) == encode(kind(packet_id=packet_id), version)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", ACKS)
def test_decoded_short_acks_equal_built_ones(version: ProtocolVersion, kind: type[PubAck]) -> None:
    packet = kind(packet_id=513)
    (decoded,) = StreamDecoder(version=version).feed(encode(packet, version))
    assert decoded == packet and type(decoded) is kind


@pytest.mark.parametrize("version", VERSIONS)
def test_acks_written_directly_are_the_encoded_acks(version: ProtocolVersion) -> None:
    for trace in (False, True):
        conn = connected_client(client_id="c", version=version, trace=trace)
        incoming = [
            Publish(topic="a", payload=b"1", qos=QoS(1), packet_id=300),
            Publish(topic="a", payload=b"2", qos=QoS(2), packet_id=301),
        ]
        server_sends(conn, *incoming)
        conn.trace_log.clear()
        wire = conn.data_to_send(now=1.0)
        assert wire == encode(PubAck(packet_id=300), version) + encode(
            PubRec(packet_id=301), version
        )
        sent = [e.packet for e in conn.trace_log if isinstance(e, PacketSent)]
        assert sent == ([PubAck(packet_id=300), PubRec(packet_id=301)] if trace else [])
        server_sends(conn, PubRel(packet_id=301))
        assert server_reads(conn) == [PubComp(packet_id=301)]
        assert conn.stats.packets_sent == 4  # CONNECT, PUBACK, PUBREC, PUBCOMP


def test_a_remembered_topic_is_still_the_only_one_allowed() -> None:
    conn = connected_client(client_id="c", version=ProtocolVersion.V311)
    conn.publish("a/b", b"1", qos=1, now=0.0)
    conn.publish("a/b", b"2", qos=1, now=0.0)
    with pytest.raises(TopicNameInvalid):
        conn.publish("a/+", b"3", qos=1, now=0.0)
    with pytest.raises(TopicNameInvalid):
        conn.publish("a/+", b"3", qos=1, now=0.0)  # never remembered


def test_states_hash_as_table_keys() -> None:
    assert {state: state.value for state in ClientState}[ClientState.CONNECTED] == "connected"
    assert BrokerState.CLOSED in {BrokerState.CLOSED}


def test_first_bytes_the_decoder_does_not_check_are_valid_in_every_version() -> None:
    from mqttsim.protocol.codec import _ALWAYS_VALID, _check_first_byte
    from mqttsim.protocol.errors import ProtocolError

    for first in range(256):
        if first >> 4 == 3:
            continue  # PUBLISH has its own fast path
        valid_everywhere = True
        for version in (ProtocolVersion.V31, *VERSIONS):
            try:
                _check_first_byte(first, version, stream=True)
            except ProtocolError:
                valid_everywhere = False
        assert (first in _ALWAYS_VALID) == valid_everywhere, hex(first)
