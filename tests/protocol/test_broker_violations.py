"""Protocol violations close only the offending connection, with the right
reason code; random and mutated bytes never raise out of the broker."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqttsim.protocol.broker import Broker
from mqttsim.protocol.codec import encode
from mqttsim.protocol.enums import ProtocolVersion, QoS, ReasonCode
from mqttsim.protocol.errors import ProtocolError
from mqttsim.protocol.events import Disconnected, ProtocolViolation
from mqttsim.protocol.packets import (
    ConnAck,
    Connect,
    Disconnect,
    PingReq,
    PubAck,
    Publish,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    Unsubscribe,
)
from mqttsim.protocol.properties import Properties

from .harness import Net, RawClient, connected_raw

V311, V5 = ProtocolVersion.V311, ProtocolVersion.V5


def bystander(net: Net) -> None:
    net.connect("bystander", version=V5)
    net.links["bystander"].client.subscribe("a/#", qos=1, now=0)
    net.pump()


def bystander_still_works(net: Net) -> None:
    before = len(net.received("bystander"))
    net.connect("probe", version=V5)
    net.links["probe"].client.publish("a/probe", b"ok", qos=1, now=net.now)
    net.pump()
    assert net.payloads("bystander")[before:] == [b"ok"]
    assert not net.disconnected("bystander")


def test_garbage_after_connect_closes_with_malformed_packet_0x81() -> None:
    net = Net()
    bystander(net)
    raw = connected_raw(net.broker)
    answer = raw.send(b"\xf1\x00")  # AUTH with a reserved flag set: malformed
    assert answer == [Disconnect(reason_code=ReasonCode.MALFORMED_PACKET)]
    assert raw.conn.is_closed
    assert any(isinstance(e, ProtocolViolation) and e.reason_code == 0x81 for e in raw.events)
    bystander_still_works(net)


def test_a_311_violation_just_closes() -> None:
    net = Net()
    raw = connected_raw(net.broker, V311)
    assert raw.send(b"\x00\x00") == []
    assert raw.conn.is_closed


def test_a_second_connect_is_a_protocol_error() -> None:
    # [MQTT-3.1.0-2]
    net = Net()
    raw = connected_raw(net.broker)
    answer = raw.send(Connect(version=V5, client_id="raw"))
    assert answer == [Disconnect(reason_code=ReasonCode.PROTOCOL_ERROR)]


def test_a_packet_before_connect_closes_without_answer() -> None:
    # [MQTT-3.1.0-1]: the first packet must be CONNECT.
    net = Net()
    raw = RawClient(net.broker, V311)
    assert raw.send(PingReq()) == []
    assert raw.conn.is_closed


def test_an_unknown_protocol_level_is_answered_with_return_code_1() -> None:
    # [MQTT-3.1.2-2]: CONNACK 0x01 (unacceptable protocol level), then close.
    net = Net()
    raw = RawClient(net.broker, V311)
    connect = bytearray(encode(Connect(version=V311, client_id="x"), V311))
    connect[8] = 9  # protocol level byte
    answer = raw.send(bytes(connect))
    assert answer == [ConnAck(reason_code=ReasonCode.UNSUPPORTED_PROTOCOL_VERSION)]
    assert raw.conn.is_closed


def test_publish_to_a_wildcard_topic_closes_with_topic_name_invalid() -> None:
    # [MQTT-3.3.2-2]
    net = Net()
    raw = connected_raw(net.broker)
    answer = raw.send(Publish(topic="a/+", payload=b"x"))
    assert answer == [Disconnect(reason_code=ReasonCode.TOPIC_NAME_INVALID)]


def test_an_invalid_filter_fails_only_its_own_suback_slot() -> None:
    net = Net()
    raw = connected_raw(net.broker)
    answer = raw.send(
        Subscribe(
            packet_id=1,
            subscriptions=(
                Subscription(topic_filter="a/#/b"),
                Subscription(topic_filter="a/b", qos=QoS(1)),
            ),
        )
    )
    assert answer == [
        SubAck(
            packet_id=1, reason_codes=(ReasonCode.TOPIC_FILTER_INVALID, ReasonCode.GRANTED_QOS_1)
        )
    ]
    raw311 = connected_raw(net.broker, V311, cid="old")
    answer = raw311.send(
        Subscribe(packet_id=2, subscriptions=(Subscription(topic_filter="a/#/b"),))
    )
    assert answer == [SubAck(packet_id=2, reason_codes=(ReasonCode.UNSPECIFIED_ERROR,))]


def test_no_local_on_a_shared_subscription_is_a_protocol_error() -> None:
    # [MQTT-3.8.3-4]
    net = Net()
    raw = connected_raw(net.broker)
    answer = raw.send(
        Subscribe(
            packet_id=1, subscriptions=(Subscription(topic_filter="$share/g/a", no_local=True),)
        )
    )
    assert answer == [Disconnect(reason_code=ReasonCode.PROTOCOL_ERROR)]


def test_unknown_topic_alias_is_a_protocol_error() -> None:
    # [MQTT-3.3.2-8]... an alias used before being set.
    net = Net()
    raw = connected_raw(net.broker)
    answer = raw.send(Publish(topic="", properties=Properties(topic_alias=3)))
    assert answer == [Disconnect(reason_code=ReasonCode.PROTOCOL_ERROR)]


def test_topic_alias_above_the_maximum_is_topic_alias_invalid() -> None:
    net = Net()
    raw = connected_raw(net.broker)
    answer = raw.send(Publish(topic="a", properties=Properties(topic_alias=999)))
    assert answer == [Disconnect(reason_code=ReasonCode.TOPIC_ALIAS_INVALID)]


def test_unreleased_qos2_beyond_receive_maximum_is_0x93() -> None:
    net = Net()
    raw = connected_raw(net.broker)
    limit = net.broker.config.receive_maximum
    for pid in range(1, limit + 1):
        raw.send(Publish(topic="a", qos=QoS.EXACTLY_ONCE, packet_id=pid))
    answer = raw.send(Publish(topic="a", qos=QoS.EXACTLY_ONCE, packet_id=limit + 1))
    assert answer == [Disconnect(reason_code=ReasonCode.RECEIVE_MAXIMUM_EXCEEDED)]


def test_pubrel_for_an_unknown_id_is_answered_not_found() -> None:
    net = Net()
    raw = connected_raw(net.broker)
    [pubcomp] = raw.send(PubRel(packet_id=77))
    assert pubcomp.reason_code == ReasonCode.PACKET_IDENTIFIER_NOT_FOUND  # type: ignore[attr-defined]


def test_session_expiry_set_on_disconnect_after_zero_is_a_protocol_error() -> None:
    # [MQTT-3.14.2-2]
    net = Net()
    raw = connected_raw(net.broker)
    answer = raw.send(Disconnect(properties=Properties(session_expiry_interval=60)))
    assert answer == [Disconnect(reason_code=ReasonCode.PROTOCOL_ERROR)]


def test_connect_that_never_completes_is_closed_after_the_connect_timeout() -> None:
    net = Net()
    raw = RawClient(net.broker)
    raw.send(encode(Connect(version=V5, client_id="slow"), V5)[:5])
    deadline = raw.conn.next_deadline()
    assert deadline == net.broker.config.connect_timeout_s
    events = raw.conn.handle_timeout(now=deadline)
    assert raw.conn.is_closed and isinstance(events[-1], Disconnected)


# -- fuzzing ---------------------------------------------------------------------

VALID_STREAM = [
    Publish(topic="a/b", payload=b"x", qos=QoS.AT_LEAST_ONCE, packet_id=1),
    Publish(
        topic="a/c",
        payload=b"y" * 40,
        qos=QoS.EXACTLY_ONCE,
        packet_id=2,
        properties=Properties(message_expiry_interval=5, user_properties=(("k", "v"),)),
    ),
    PubRel(packet_id=2),
    Subscribe(packet_id=3, subscriptions=(Subscription(topic_filter="a/#", qos=QoS(2)),)),
    Unsubscribe(packet_id=4, topic_filters=("a/#",)),
    PubAck(packet_id=9),
    PingReq(),
]


def _stream(version: ProtocolVersion) -> bytes:
    head = encode(Connect(version=version, client_id="fuzz"), version)
    packets = [
        p
        if version is V5 or not getattr(p, "properties", None)
        else replace(p, properties=Properties())
        for p in VALID_STREAM
    ]
    return head + b"".join(encode(p, version) for p in packets)


def _mutate(data: bytes, rnd: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(4)
        pos = rnd.randrange(len(buf)) if buf else 0
        if op == 0 and buf:
            buf[pos] = rnd.randrange(256)
        elif op == 1:
            buf[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 5)))
        elif op == 2 and buf:
            del buf[pos : pos + rnd.randint(1, 4)]
        else:
            buf = buf[: rnd.randrange(len(buf) + 1)]
    return bytes(buf)


def _feed_in_slices(net: Net, data: bytes, rnd: random.Random) -> None:
    conn = net.broker.connection_made(now=0.0)
    pos = 0
    while pos < len(data):
        step = rnd.randint(1, 64)
        conn.receive_data(data[pos : pos + step], now=0.0)
        conn.data_to_send(now=0.0)
        pos += step
    conn.connection_lost(now=0.0)
    net.pump()  # the bystander keeps reading its messages meanwhile


@pytest.mark.parametrize("version", [V311, V5])
def test_mutated_streams_never_raise_and_leave_others_untouched(version: ProtocolVersion) -> None:
    net = Net()
    bystander(net)
    rnd = random.Random(2024 + version)
    base = _stream(version)
    for _ in range(6000):
        _feed_in_slices(net, _mutate(base, rnd), rnd)
    bystander_still_works(net)


def test_random_bytes_never_raise() -> None:
    net = Net()
    bystander(net)
    rnd = random.Random(7)
    for _ in range(8000):
        data = bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 80)))
        _feed_in_slices(net, data, rnd)
    bystander_still_works(net)


@settings(max_examples=1500, deadline=None)
@given(tail=st.binary(max_size=200), version=st.sampled_from([V311, V5]))
def test_any_bytes_after_connect_give_events_not_exceptions(
    tail: bytes, version: ProtocolVersion
) -> None:
    broker = Broker()
    conn = broker.connection_made(now=0.0)
    try:
        conn.receive_data(encode(Connect(version=version, client_id="h"), version) + tail, now=0.0)
        conn.data_to_send(now=0.0)
        conn.handle_timeout(now=1e6)
        conn.connection_lost(now=1e6)
    except ProtocolError as exc:  # pragma: no cover - the point of the test
        pytest.fail(f"protocol error escaped the connection: {exc!r}")
