"""The broker attacked as an untrusted client would attack it (issue 13):
session hijack, identity of offline sessions, unbounded buffers, writes into
``$SYS``, forged Subscription Identifiers, wrong acknowledgements, and
packets the connection's state does not allow.

Each test states what the broker must do and fails on the broker as it was
before the fix.
"""

from __future__ import annotations

import pytest

from mqttsim.protocol.broker import Broker, BrokerConfig
from mqttsim.protocol.codec import StreamDecoder, encode
from mqttsim.protocol.enums import ProtocolVersion, QoS, ReasonCode
from mqttsim.protocol.events import (
    ActionDenied,
    ClientConnected,
    MessageDropped,
    ProtocolViolation,
    PublishAcked,
)
from mqttsim.protocol.hooks import AllowAll, StoreChanges, StoredState
from mqttsim.protocol.packets import (
    ConnAck,
    Connect,
    Disconnect,
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
from mqttsim.protocol.session import QueuedMessage, Session

from .harness import Net, RawClient, connected_raw

V31, V311, V5 = ProtocolVersion.V31, ProtocolVersion.V311, ProtocolVersion.V5


class UserAcl(AllowAll):
    """Allow everything, except that ``anonymous`` may read ``secret/#`` and
    ``alice`` may not: the anonymous rules are wider than alice's, so a check
    made as anonymous instead of as alice would let a message through."""

    def may_receive(self, client_id: str, username: str | None, topic: str) -> bool:
        if topic.startswith("secret/"):
            return username is None
        if topic.startswith("alice/"):
            return username == "alice"
        return True


# -- 2. offline sessions keep their owner's identity ---------------------------------


def _alice_offline(net: Net) -> None:
    net.connect(
        "alice",
        version=V5,
        username="alice",
        clean_start=False,
        session_expiry_interval_s=3600,
    )
    net.links["alice"].client.subscribe("#", qos=1, now=net.now)
    net.pump()
    net.links["alice"].client.disconnect(now=net.now)
    net.pump()


def test_a_message_for_an_offline_session_is_authorised_as_its_owner_not_as_anonymous() -> None:
    net = Net(authorizer=UserAcl())
    _alice_offline(net)
    net.connect("pub", version=V5)
    pub = net.links["pub"].client
    pub.publish("alice/inbox", b"for alice", qos=1, now=net.now)
    pub.publish("secret/plans", b"not for alice", qos=1, now=net.now)
    net.pump()
    net.reconnect("alice", clean_start=False)
    assert net.connected("alice").session_present
    assert net.payloads("alice") == [b"for alice"]
    drops = [e for e in net.broker_events if isinstance(e, MessageDropped)]
    assert [(e.client_id, e.topic, e.reason) for e in drops] == [
        ("alice", "secret/plans", "not-authorized")
    ]


def test_the_session_records_its_owner_and_a_take_over_by_another_user_changes_it() -> None:
    net = Net(authorizer=UserAcl())
    _alice_offline(net)
    assert net.broker.sessions["alice"].username == "alice"
    net.connect("mallory", version=V5, client_id="alice", username="mallory", clean_start=False)
    assert net.broker.sessions["alice"].username == "mallory"


# -- 5. clients may not write into '$' topics ----------------------------------------


def _sys_watcher(broker: Broker) -> RawClient:
    watcher = connected_raw(broker, V5, "watcher")
    [suback] = watcher.send(
        Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="$SYS/#", qos=QoS(1)),))
    )
    assert isinstance(suback, SubAck)
    return watcher


@pytest.mark.parametrize("qos", [1, 2])
def test_a_v5_publish_into_sys_is_refused_with_0x87_and_neither_routed_nor_retained(
    qos: int,
) -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0))
    watcher = _sys_watcher(broker)
    raw = connected_raw(broker, V5, "intruder")
    [ack] = raw.send(
        Publish(
            topic="$SYS/broker/version", payload=b"forged", qos=QoS(qos), retain=True, packet_id=5
        )
    )
    assert isinstance(ack, PubAck if qos == 1 else PubRec)
    assert ack.reason_code == ReasonCode.NOT_AUTHORIZED
    assert watcher.read() == []
    assert len(broker.retained) == 0
    assert not raw.conn.is_closed


def test_a_v5_qos0_publish_into_a_dollar_topic_is_dropped_counted_and_reported() -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0))
    watcher = _sys_watcher(broker)
    raw = connected_raw(broker, V5, "intruder")
    assert raw.send(Publish(topic="$SYS/invented", payload=b"x")) == []
    assert watcher.read() == []
    assert broker.stats.denied == 1
    [denied] = [e for e in raw.events if isinstance(e, ActionDenied)]
    assert (denied.action, denied.topic, denied.reason_code) == (
        "publish",
        "$SYS/invented",
        ReasonCode.NOT_AUTHORIZED,
    )


def test_a_311_publish_into_a_dollar_topic_closes_the_connection_mqtt_3_3_5_2() -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0))
    raw = connected_raw(broker, V311, "intruder")
    raw.send(
        Publish(topic="$SYS/broker/uptime", payload=b"0", qos=QoS(1), packet_id=1, retain=True)
    )
    assert raw.conn.is_closed
    assert len(broker.retained) == 0


@pytest.mark.parametrize("version", [V311, V5])
def test_a_will_on_a_dollar_topic_is_refused_at_connect_with_not_authorized(
    version: ProtocolVersion,
) -> None:
    raw = RawClient(Broker(BrokerConfig(sys_interval_s=0)), version)
    will = Will(topic="$SYS/broker/clients/connected", payload=b"0")
    [connack] = raw.send(Connect(version=version, client_id="c", will=will))
    # 3.1.1 return code 5 is NOT_AUTHORIZED once decoded.
    assert connack == ConnAck(reason_code=ReasonCode.NOT_AUTHORIZED)
    assert raw.conn.is_closed


def test_dollar_topics_are_writable_when_configured_and_the_broker_may_always_publish() -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0, dollar_topics_writable=True))
    watcher = _sys_watcher(broker)
    raw = connected_raw(broker, V5, "bridge")
    [ack] = raw.send(Publish(topic="$SYS/x", payload=b"1", qos=QoS(1), packet_id=1))
    assert ack == PubAck(packet_id=1)
    assert [p.payload for p in watcher.read() if isinstance(p, Publish)] == [b"1"]
    locked = Broker(BrokerConfig(sys_interval_s=0))
    assert locked.publish("$SYS/own", b"2", now=0.0) == ReasonCode.NO_MATCHING_SUBSCRIBERS
    watcher = _sys_watcher(locked)
    assert locked.publish("$SYS/own", b"2", now=0.0) == ReasonCode.SUCCESS
    assert [p.payload for p in watcher.read() if isinstance(p, Publish)] == [b"2"]


# -- 6. Subscription Identifiers are the broker's to send ---------------------------------


def test_a_client_publish_with_a_subscription_identifier_is_0x82_mqtt_3_3_4_6() -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0))
    sub = connected_raw(broker, V5, "sub")
    sub.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="t"),)))
    raw = connected_raw(broker, V5, "forger")
    answer = raw.send(
        Publish(topic="t", payload=b"x", properties=Properties(subscription_identifiers=(9,)))
    )
    assert answer == [Disconnect(reason_code=ReasonCode.PROTOCOL_ERROR)]
    assert raw.conn.is_closed
    assert any("MQTT-3.3.4-6" in e.detail for e in raw.events if isinstance(e, ProtocolViolation))
    assert sub.read() == []


def test_a_forwarded_publish_carries_only_the_subscribers_identifiers() -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0))
    plain = connected_raw(broker, V5, "plain")
    plain.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="t"),)))
    tagged = connected_raw(broker, V5, "tagged")
    tagged.send(
        Subscribe(
            packet_id=1,
            subscriptions=(Subscription(topic_filter="t"),),
            properties=Properties(subscription_identifiers=(3,)),
        )
    )
    broker.publish("t", b"x", properties=Properties(subscription_identifiers=(9,)), now=0.0)
    [to_plain] = plain.read()
    [to_tagged] = tagged.read()
    assert isinstance(to_plain, Publish) and isinstance(to_tagged, Publish)
    assert to_plain.properties.subscription_identifiers == ()
    assert to_tagged.properties.subscription_identifiers == (3,)


# -- 7. a publisher is told of failure only when nothing matched ----------------------


def test_a_message_every_matching_subscriber_drops_is_still_acknowledged_as_success() -> None:
    # 0x10 No matching subscribers is for "nothing matched"; a subscriber's
    # own drop (here QoS 0 for an absent client) is counted, not the
    # publisher's failure (MQTT 5 §3.4.2.1).
    net = Net()
    net.connect("sub", version=V5, clean_start=False, session_expiry_interval_s=3600)
    net.links["sub"].client.subscribe("t", qos=0, now=0)
    net.pump()
    net.cut("sub")
    net.connect("pub", version=V5)
    net.links["pub"].client.publish("t", b"x", qos=1, now=0)
    net.pump()
    assert net.events("pub", PublishAcked)[-1].reason_code == ReasonCode.SUCCESS
    assert net.broker.stats.dropped["qos0-offline"] == 1


def test_a_message_no_matching_subscriber_may_read_is_still_acknowledged_as_success() -> None:
    net = Net(authorizer=UserAcl())
    net.connect("alice", version=V5, username="alice")
    net.links["alice"].client.subscribe("secret/#", qos=1, now=0)
    net.pump()
    net.connect("pub", version=V5)
    net.links["pub"].client.publish("secret/x", b"x", qos=1, now=0)
    net.pump()
    assert net.events("pub", PublishAcked)[-1].reason_code == ReasonCode.SUCCESS
    assert net.broker.stats.dropped["not-authorized"] == 1


# -- 4. a subscriber that stops reading cannot make the broker buffer without limit ----


def _slow_reader(broker: Broker, qos: int) -> RawClient:
    sub = connected_raw(broker, V5, "slow")
    sub.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="t", qos=QoS(qos)),)))
    return sub


def _flood(broker: Broker, qos: int, count: int, payload: bytes = b"x") -> RawClient:
    pub = connected_raw(broker, V5, "flood")
    data = b"".join(
        encode(
            Publish(topic="t", payload=payload, qos=QoS(qos), packet_id=n + 1 if qos else None), V5
        )
        for n in range(count)
    )
    pub.events += pub.conn.receive_data(data, now=0.0)
    return pub


def test_qos0_for_a_subscriber_that_stops_reading_is_bounded_in_messages_and_dropped_visibly() -> (
    None
):
    broker = Broker(BrokerConfig(sys_interval_s=0, max_outgoing_messages=10))
    sub = _slow_reader(broker, 0)
    pub = _flood(broker, 0, 50)
    assert sub.conn.outgoing_messages == 10
    assert broker.stats.dropped["outgoing-buffer-full"] == 40
    drops = [e for e in pub.events if isinstance(e, MessageDropped)]
    assert len(drops) == 40
    assert {(e.client_id, e.reason) for e in drops} == {("slow", "outgoing-buffer-full")}
    assert "$SYS/broker/messages/dropped/outgoing-buffer-full" in broker.stats.tree(
        now=0.0, sessions=0, subscriptions=0, retained=0, version=""
    )
    assert len(sub.read()) == 10
    assert sub.conn.outgoing_bytes == 0


def test_qos0_for_a_subscriber_that_stops_reading_is_bounded_in_bytes() -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0, max_outgoing_bytes=1000))
    sub = _slow_reader(broker, 0)
    _flood(broker, 0, 100, payload=bytes(100))
    # The bound may be crossed by the one message that starts below it.
    assert 1000 <= sub.conn.outgoing_bytes < 1000 + 110
    assert broker.stats.dropped["outgoing-buffer-full"] > 80


def test_qos1_for_a_full_outbox_waits_in_the_session_and_all_arrive_in_order() -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0, max_outgoing_messages=10, max_inflight=100))
    sub = _slow_reader(broker, 1)
    _flood(broker, 1, 30)
    assert sub.conn.outgoing_messages == 10
    session = broker.sessions["slow"]
    assert len(session.queued) == 20
    received: list[int] = []
    for _ in range(10):  # bounded: each round takes the outbox and acknowledges it
        packets = sub.read()
        if not packets:
            break
        for packet in packets:
            assert isinstance(packet, Publish) and packet.packet_id is not None
            received.append(packet.packet_id)
            sub.events += sub.conn.receive_data(
                encode(PubAck(packet_id=packet.packet_id), V5), now=0.0
            )
    assert len(received) == 30
    assert not session.queued and not session.outbound
    assert sum(broker.stats.dropped.values()) == 0


def test_control_packets_are_never_held_back_by_a_full_outbox() -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0, max_outgoing_messages=5))
    sub = _slow_reader(broker, 0)
    _flood(broker, 0, 20)
    sub.events += sub.conn.receive_data(encode(PingReq(), V5), now=0.0)
    assert sub.conn.outgoing_messages == 6
    assert sub.read()[-1] == PingResp()


# -- 1. an assigned client identifier never names another's session ---------------------


class MemoryStore:
    """A SessionStore that hands back the sessions it was built with."""

    def __init__(self, sessions: list[Session]) -> None:
        self.sessions = sessions

    def load(self) -> StoredState:
        return StoredState(sessions=self.sessions, retained=[])

    def apply(self, changes: StoreChanges) -> None:
        pass


def _victim_session() -> Session:
    """An offline persistent session holding a queued message, under the
    identifier the broker used to assign first."""
    session = Session(client_id="mqttsim-000001", expiry_interval_s=3600)
    session.queued.append(
        QueuedMessage(publish=Publish(topic="private", payload=b"secret", qos=QoS(1), packet_id=1))
    )
    session.packet_ids.claim(1)
    return session


@pytest.mark.parametrize("version", [V311, V5])
def test_an_empty_client_id_is_never_assigned_a_restored_sessions_id_mqtt_3_2_2_16(
    version: ProtocolVersion,
) -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0), store=MemoryStore([_victim_session()]))
    raw = RawClient(broker, version)
    [connack, *rest] = raw.send(Connect(version=version, client_id="", clean_start=True))
    assert connack == ConnAck(properties=connack.properties)  # accepted, Session Present 0
    assert rest == []  # and none of the victim's messages
    assert raw.conn.client_id != "mqttsim-000001"
    assert len(broker.sessions["mqttsim-000001"].queued) == 1


def test_an_empty_client_id_with_clean_start_0_gets_a_new_session_not_an_old_one() -> None:
    net = Net()
    net.connect(
        "victim",
        client_id="mqttsim-000001",
        version=V5,
        clean_start=False,
        session_expiry_interval_s=3600,
    )
    net.links["victim"].client.disconnect(now=0)
    net.pump()
    raw = RawClient(net.broker, V5)
    [connack] = raw.send(Connect(version=V5, client_id="", clean_start=False))
    assert isinstance(connack, ConnAck) and not connack.session_present
    assert connack.properties.assigned_client_identifier not in (None, "mqttsim-000001")


def test_an_assigned_client_id_never_knocks_a_connected_client_off() -> None:
    net = Net()
    net.connect("holder", client_id="mqttsim-000001", version=V5)
    raw = RawClient(net.broker, V5)
    raw.send(Connect(version=V5, client_id=""))
    net.pump()
    assert not net.disconnected("holder")
    assert net.broker.connections["mqttsim-000001"] is net.links["holder"].conn


def test_assigned_client_ids_carry_the_drivers_prefix() -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0), client_id_prefix="a1b2c3d4")
    [connack] = RawClient(broker, V5).send(Connect(version=V5, client_id=""))
    assert isinstance(connack, ConnAck)
    assert connack.properties.assigned_client_identifier == "mqttsim-a1b2c3d4-000001"
    with pytest.raises(ValueError):
        Broker(client_id_prefix="a\nb")


# -- 12. CONNECT: the CONNACK's size, control characters, MQTT 3.1 -------------------------


def test_a_connack_drops_optional_properties_to_fit_the_clients_maximum_mqtt_3_1_2_24() -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0))
    full = RawClient(broker, V5).send(Connect(version=V5, client_id=""))[0]
    size = len(encode(full, V5))
    raw = RawClient(broker, V5)
    raw.decoder.max_packet_size = size - 1
    [connack] = raw.send(
        Connect(version=V5, client_id="", properties=Properties(maximum_packet_size=size - 1))
    )
    assert isinstance(connack, ConnAck) and connack.reason_code == ReasonCode.SUCCESS
    assert connack.properties.assigned_client_identifier is not None
    assert connack.properties.topic_alias_maximum is None  # absent means 0 [MQTT-3.2.2-18]


def test_a_client_whose_maximum_cannot_hold_the_connack_is_refused_without_an_oversized_one() -> (
    None
):
    raw = RawClient(Broker(BrokerConfig(sys_interval_s=0)), V5)
    raw.decoder.max_packet_size = 12
    answer = raw.send(
        Connect(version=V5, client_id="", properties=Properties(maximum_packet_size=12))
    )
    assert answer == [ConnAck(reason_code=ReasonCode.PACKET_TOO_LARGE)]
    assert raw.conn.is_closed


@pytest.mark.parametrize("version", [V311, V5])
@pytest.mark.parametrize("client_id", ["st\n01", "st\x1b[2J", "st\x85", "st\x7f"])
def test_a_client_id_with_a_control_character_is_refused_0x85(
    version: ProtocolVersion, client_id: str
) -> None:
    raw = RawClient(Broker(BrokerConfig(sys_interval_s=0)), version)
    answer = raw.send(Connect(version=version, client_id=client_id))
    # 3.1.1 return code 2, "identifier rejected", decodes as 0x85.
    assert answer == [ConnAck(reason_code=ReasonCode.CLIENT_IDENTIFIER_NOT_VALID)]
    assert raw.conn.is_closed


@pytest.mark.parametrize("version", [V311, V5])
def test_a_user_name_with_a_control_character_is_refused_0x86(version: ProtocolVersion) -> None:
    raw = RawClient(Broker(BrokerConfig(sys_interval_s=0)), version)
    answer = raw.send(Connect(version=version, client_id="c", username="root\nlogin ok"))
    assert answer == [ConnAck(reason_code=ReasonCode.BAD_USER_NAME_OR_PASSWORD)]
    assert raw.conn.is_closed


def test_an_mqtt_3_1_client_never_gets_the_session_present_bit() -> None:
    # The flag is reserved in 3.1 (its CONNACK's first variable header byte
    # is unused): a resumed 3.1 session is still answered with 0.
    broker = Broker(BrokerConfig(sys_interval_s=0))
    first = RawClient(broker, V31)
    first.send(Connect(version=V31, client_id="old", clean_start=False), Disconnect())
    again = RawClient(broker, V31)
    again.send(Connect(version=V31, client_id="old", clean_start=False))
    [connected] = [e for e in again.events if isinstance(e, ClientConnected)]
    assert connected.session_present  # the session was resumed,
    assert again.decoder.feed(b"") == [] and not again.conn.is_closed
    third = RawClient(broker, V31)
    third.conn.receive_data(
        encode(Connect(version=V31, client_id="old", clean_start=False), V31), now=0.0
    )
    assert third.conn.data_to_send(now=0.0) == b"\x20\x02\x00\x00"  # but the flags byte is 0


# -- topic limits: levels and length (BrokerConfig.max_topic_levels / max_topic_length) ----


def test_a_publish_topic_over_the_level_limit_closes_with_0x90() -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0, max_topic_levels=200))
    raw = connected_raw(broker, V5)
    assert raw.send(Publish(topic="a/" * 200 + "b", payload=b"")) == [
        Disconnect(reason_code=ReasonCode.TOPIC_NAME_INVALID)
    ]
    ok = connected_raw(broker, V5, "ok")
    assert ok.send(Publish(topic="a/" * 199 + "b", payload=b"")) == []
    assert not ok.conn.is_closed


def test_a_publish_topic_over_the_length_limit_closes_with_0x90() -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0, max_topic_length=100))
    raw = connected_raw(broker, V5)
    assert raw.send(Publish(topic="t" * 101, payload=b"")) == [
        Disconnect(reason_code=ReasonCode.TOPIC_NAME_INVALID)
    ]


@pytest.mark.parametrize(
    ("version", "code"),
    [(V311, ReasonCode.UNSPECIFIED_ERROR), (V5, ReasonCode.TOPIC_FILTER_INVALID)],
)
def test_a_subscription_over_the_limits_fails_its_own_suback_slot(
    version: ProtocolVersion, code: ReasonCode
) -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0, max_topic_levels=3, max_topic_length=20))
    raw = connected_raw(broker, version)
    [suback] = raw.send(
        Subscribe(
            packet_id=1,
            subscriptions=(
                Subscription(topic_filter="a/b/c/d"),
                Subscription(topic_filter="x" * 21),
                Subscription(topic_filter="a/+/c"),
            ),
        )
    )
    assert isinstance(suback, SubAck)
    assert suback.reason_codes == (code, code, ReasonCode.GRANTED_QOS_0)
    assert list(broker.sessions["raw"].subscriptions) == ["a/+/c"]


@pytest.mark.parametrize("version", [V311, V5])
def test_a_will_topic_over_the_limits_is_refused_at_connect(version: ProtocolVersion) -> None:
    raw = RawClient(Broker(BrokerConfig(sys_interval_s=0, max_topic_levels=2)), version)
    will = Will(topic="a/b/c", payload=b"")
    answer = raw.send(Connect(version=version, client_id="c", will=will))
    # MQTT 5: CONNACK 0x90; 3.1.1 has no return code for it, and just closes.
    assert answer == ([ConnAck(reason_code=ReasonCode.TOPIC_NAME_INVALID)] if version is V5 else [])
    assert raw.conn.is_closed


# -- 12. the connection's state and its protocol violations -------------------------------


def test_an_empty_topic_filter_in_a_311_subscribe_closes_the_connection_mqtt_4_8_0_1() -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0))
    raw = connected_raw(broker, V311)
    raw.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter=""),)))
    assert raw.conn.is_closed
    assert broker.sessions.get("raw") is None or not broker.sessions["raw"].subscriptions


def test_an_empty_topic_filter_in_a_311_unsubscribe_closes_the_connection_mqtt_4_8_0_1() -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0))
    raw = connected_raw(broker, V311)
    assert raw.send(Unsubscribe(packet_id=1, topic_filters=("",))) == []
    assert raw.conn.is_closed


def test_an_invalid_filter_in_a_v5_unsubscribe_gets_0x8f_in_its_slot() -> None:
    broker = Broker(BrokerConfig(sys_interval_s=0))
    raw = connected_raw(broker, V5)
    raw.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="a"),)))
    [unsuback] = raw.send(Unsubscribe(packet_id=2, topic_filters=("a/#/b", "a", "")))
    assert unsuback == UnsubAck(
        packet_id=2,
        reason_codes=(
            ReasonCode.TOPIC_FILTER_INVALID,
            ReasonCode.SUCCESS,
            ReasonCode.TOPIC_FILTER_INVALID,
        ),
    )


@pytest.mark.parametrize(
    ("name", "data"),
    [
        # Each body is broken too: judged by its body, it would be 0x81.
        ("CONNACK", b"\x20\x02\x02\x00"),  # reserved acknowledge flag set
        ("SUBACK", b"\x90\x03\x00\x01\x03"),  # reason code 3 does not exist
        ("PINGRESP", b"\xd0\x01\x00"),  # PINGRESP has no body
        ("UNSUBACK", b"\xb0\x01\x00"),  # shorter than a packet identifier
    ],
)
@pytest.mark.parametrize("version", [V311, V5])
def test_a_packet_only_a_server_sends_is_a_protocol_error_named_by_its_type(
    version: ProtocolVersion, name: str, data: bytes
) -> None:
    raw = connected_raw(Broker(BrokerConfig(sys_interval_s=0)), version)
    answer = raw.send(data)
    [violation] = [e for e in raw.events if isinstance(e, ProtocolViolation)]
    assert violation.reason_code == ReasonCode.PROTOCOL_ERROR
    assert name in violation.detail
    assert answer == ([Disconnect(reason_code=ReasonCode.PROTOCOL_ERROR)] if version is V5 else [])
    assert raw.conn.is_closed


def test_an_mqtt_3_1_pubrel_resent_with_dup_is_accepted() -> None:
    # MQTT 3.1 sets DUP on a resent PUBREL (first byte 0x6A); 3.1.1 fixed its flags.
    raw = connected_raw(Broker(BrokerConfig(sys_interval_s=0)), V31)
    raw.decoder = StreamDecoder(version=V311)
    [pubrec] = raw.send(Publish(topic="t", payload=b"x", qos=QoS(2), packet_id=7))
    assert pubrec == PubRec(packet_id=7)
    assert raw.send(b"\x6a\x02\x00\x07") == [PubComp(packet_id=7)]
    assert not raw.conn.is_closed
    # 3.1.1 still refuses it [MQTT-2.2.2-2].
    strict = connected_raw(Broker(BrokerConfig(sys_interval_s=0)), V311)
    strict.send(b"\x6a\x02\x00\x07")
    assert strict.conn.is_closed


def _with_inflight(version: ProtocolVersion, qos: int) -> tuple[RawClient, int]:
    """A subscriber with one QoS ``qos`` message from the broker in flight."""
    broker = Broker(BrokerConfig(sys_interval_s=0))
    sub = connected_raw(broker, version, "sub")
    sub.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="t", qos=QoS(2)),)))
    broker.publish("t", b"x", qos=qos, now=0.0)
    [publish] = sub.read()
    assert isinstance(publish, Publish) and publish.packet_id is not None
    return sub, publish.packet_id


@pytest.mark.parametrize(
    ("qos", "wrong"),
    [(1, PubRec), (2, PubAck), (1, PubComp), (2, PubComp)],
)
def test_a_wrong_acknowledgement_for_a_message_in_flight_closes_a_311_connection_mqtt_4_8_0_1(
    qos: int, wrong: type[PubAck | PubRec | PubComp]
) -> None:
    sub, pid = _with_inflight(V311, qos)
    sub.send(wrong(packet_id=pid))
    assert sub.conn.is_closed
    [violation] = [e for e in sub.events if isinstance(e, ProtocolViolation)]
    assert wrong.packet_type.name in violation.detail


@pytest.mark.parametrize(("qos", "wrong"), [(2, PubAck), (1, PubComp)])
def test_a_v5_puback_or_pubcomp_of_the_wrong_kind_is_a_protocol_error(
    qos: int, wrong: type[PubAck | PubComp]
) -> None:
    # A PUBREC for a QoS 1 message keeps its answer, PUBREL 0x92 (§3.6.2.1);
    # PUBACK and PUBCOMP have no answer to give, so the connection closes.
    sub, pid = _with_inflight(V5, 1)
    assert sub.send(PubRec(packet_id=pid)) == [
        PubRel(packet_id=pid, reason_code=ReasonCode.PACKET_IDENTIFIER_NOT_FOUND)
    ]
    sub, pid = _with_inflight(V5, qos)
    assert sub.send(wrong(packet_id=pid)) == [Disconnect(reason_code=ReasonCode.PROTOCOL_ERROR)]
