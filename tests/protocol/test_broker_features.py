"""MQTT 5 broker features: message expiry, shared subscriptions, No Local,
subscription identifiers, flow control, packet size limits, server keep
alive, topic aliases, authorisation hooks and the $SYS tree."""

from __future__ import annotations

from mqttsim.protocol.broker import BrokerConfig
from mqttsim.protocol.enums import ProtocolVersion, QoS, ReasonCode
from mqttsim.protocol.events import (
    ActionDenied,
    MessageDropped,
    PublishAcked,
    Subscribed,
)
from mqttsim.protocol.packets import Disconnect, Publish, Subscription
from mqttsim.protocol.properties import Properties

from .harness import Net, connected_raw

V311, V5 = ProtocolVersion.V311, ProtocolVersion.V5


def test_message_expiry_drops_a_queued_message_that_waited_too_long() -> None:
    # MQTT 5 §3.3.2.3.3: an expired message is not delivered [MQTT-3.3.2-5].
    net = Net()
    net.connect("sub", version=V5, clean_start=False, session_expiry_interval_s=3600)
    net.links["sub"].client.subscribe("a/#", qos=1, now=net.now)
    net.pump()
    net.cut("sub")
    net.connect("pub", version=V5)
    pub = net.links["pub"].client
    pub.publish("a/short", b"x", qos=1, properties=Properties(message_expiry_interval=10), now=0)
    pub.publish("a/long", b"y", qos=1, properties=Properties(message_expiry_interval=100), now=0)
    net.pump()
    net.advance(40)
    net.reconnect("sub", clean_start=False)
    [message] = net.received("sub")
    assert message.topic == "a/long"
    # The interval sent on is what is left of it [MQTT-3.3.2-6].
    assert message.properties.message_expiry_interval == 60
    assert net.broker.stats.dropped["expired"] == 1


def test_shared_subscription_gives_each_message_to_one_member_in_turn() -> None:
    # MQTT 5 §4.8.2: each message goes to one session of the share group.
    net = Net()
    for name in ("w1", "w2"):
        net.connect(name, version=V5)
        net.links[name].client.subscribe("$share/scada/pipeline/+/flow", qos=1, now=0)
    net.pump()
    net.connect("pub", version=V5)
    for n in range(6):
        net.links["pub"].client.publish(f"pipeline/st-0{n}/flow", b"%d" % n, qos=1, now=0)
    net.pump()
    assert net.payloads("w1") == [b"0", b"2", b"4"]
    assert net.payloads("w2") == [b"1", b"3", b"5"]


def test_no_local_keeps_a_clients_own_messages_from_it() -> None:
    # [MQTT-3.8.3-3]
    net = Net()
    net.connect("echo", version=V5)
    net.links["echo"].client.subscribe([Subscription(topic_filter="chat", no_local=True)], now=0)
    net.connect("other", version=V5)
    net.links["other"].client.subscribe("chat", now=0)
    net.pump()
    net.links["echo"].client.publish("chat", b"hello", now=0)
    net.pump()
    assert net.payloads("echo") == []
    assert net.payloads("other") == [b"hello"]


def test_subscription_identifiers_come_back_with_each_matching_message() -> None:
    # [MQTT-3.3.4-3]: every matching subscription's identifier is sent.
    net = Net()
    net.connect("sub", version=V5)
    sub = net.links["sub"].client
    sub.subscribe("a/+", properties=Properties(subscription_identifiers=(7,)), now=0)
    sub.subscribe("a/#", properties=Properties(subscription_identifiers=(9,)), now=0)
    net.pump()
    net.connect("pub", version=V5)
    net.links["pub"].client.publish("a/b", b"x", now=0)
    net.pump()
    [message] = net.received("sub")
    assert sorted(message.properties.subscription_identifiers) == [7, 9]


def test_broker_respects_the_clients_receive_maximum() -> None:
    # [MQTT-3.3.4-9]: never more unacknowledged QoS 1/2 PUBLISH than Receive Maximum.
    net = Net()
    net.connect("sub", version=V5, receive_maximum=2)
    net.links["sub"].client.subscribe("a", qos=1, now=0)
    net.pump()
    net.connect("pub", version=V5)
    for n in range(5):
        net.links["pub"].client.publish("a", b"%d" % n, qos=1, now=0)
    net.to_broker("pub")
    session = net.broker.sessions["sub"]
    assert len(session.outbound) == 2 and len(session.queued) == 3
    net.pump()
    assert net.payloads("sub") == [b"0", b"1", b"2", b"3", b"4"]


def test_a_message_over_the_clients_maximum_packet_size_is_not_sent() -> None:
    # [MQTT-3.1.2-25]: the server discards it and counts it.
    net = Net()
    net.connect("sub", version=V5, maximum_packet_size=64)
    net.links["sub"].client.subscribe("a", qos=1, now=0)
    net.pump()
    net.connect("pub", version=V5)
    net.links["pub"].client.publish("a", b"x" * 100, qos=1, now=0)
    net.links["pub"].client.publish("a", b"small", qos=1, now=0)
    net.pump()
    assert net.payloads("sub") == [b"small"]
    dropped = [e for e in net.broker_events if isinstance(e, MessageDropped)]
    assert [d.reason for d in dropped] == ["packet-too-large"]


def test_a_packet_over_the_brokers_maximum_closes_that_connection_with_0x95() -> None:
    net = Net(config=BrokerConfig(max_packet_size=128))
    net.connect("bystander", version=V5)
    net.links["bystander"].client.subscribe("a", now=0)
    net.pump()
    big = connected_raw(net.broker, V5, cid="big")
    answer = big.send(Publish(topic="a", payload=b"x" * 500))
    assert answer == [Disconnect(reason_code=ReasonCode.PACKET_TOO_LARGE)]
    net.links["bystander"].client.publish("a", b"still here", now=0)
    net.pump()
    assert net.payloads("bystander") == [b"still here"]
    assert not net.disconnected("bystander")


def test_server_keep_alive_replaces_the_clients() -> None:
    # [MQTT-3.2.2-21]: the client uses the Server Keep Alive value.
    net = Net(config=BrokerConfig(server_keep_alive_s=30))
    net.connect("c", version=V5, keep_alive_s=600)
    assert net.connected("c").properties.server_keep_alive == 30
    assert net.broker.connections["c"].keep_alive_s == 30
    net.freeze("c")
    net.advance(44.9)
    assert "c" in net.broker.connections
    net.advance(0.2)
    assert "c" not in net.broker.connections


def test_topic_alias_from_the_client_is_resolved() -> None:
    # MQTT 5 §3.3.2.3.4: an empty topic with a known alias means that topic.
    net = Net()
    net.connect("sub", version=V5)
    net.links["sub"].client.subscribe("pipeline/#", now=0)
    net.pump()
    net.connect("pub", version=V5, use_topic_aliases=True)
    for n in range(3):
        net.links["pub"].client.publish("pipeline/st-01/pressure", b"%d" % n, now=0)
    net.pump()
    assert [m.topic for m in net.received("sub")] == ["pipeline/st-01/pressure"] * 3
    assert all(m.properties.topic_alias is None for m in net.received("sub"))


def test_authorizer_denies_publish_and_subscribe_with_reason_codes() -> None:
    class ReadOnly:
        def authenticate(
            self, client_id: str, username: str | None, password: bytes | None
        ) -> ReasonCode:
            return ReasonCode.SUCCESS

        def may_publish(self, client_id: str, username: str | None, topic: str) -> bool:
            return client_id == "host"

        def may_subscribe(self, client_id: str, username: str | None, topic_filter: str) -> bool:
            return not topic_filter.startswith("secret")

        def may_receive(self, client_id: str, username: str | None, topic: str) -> bool:
            return True

    net = Net(authorizer=ReadOnly())
    net.connect("st", version=V5)
    net.links["st"].client.subscribe(
        [
            Subscription(topic_filter="telemetry", qos=QoS.AT_LEAST_ONCE),
            Subscription(topic_filter="secret/#", qos=QoS.AT_LEAST_ONCE),
        ],
        now=0,
    )
    net.links["st"].client.publish("telemetry", b"x", qos=1, now=0)
    net.pump()
    [suback] = net.events("st", Subscribed)
    assert suback.reason_codes == (ReasonCode.GRANTED_QOS_1, ReasonCode.NOT_AUTHORIZED)
    assert net.events("st", PublishAcked)[-1].reason_code == ReasonCode.NOT_AUTHORIZED
    denied = [e for e in net.broker_events if isinstance(e, ActionDenied)]
    assert {(d.action, d.topic) for d in denied} == {
        ("subscribe", "secret/#"),
        ("publish", "telemetry"),
    }
    assert net.payloads("st") == []


def test_sys_tree_reports_the_brokers_counters() -> None:
    net = Net(config=BrokerConfig(sys_interval_s=10))
    net.connect("watcher", version=V5)
    net.links["watcher"].client.subscribe("$SYS/broker/clients/connected", now=0)
    net.pump()
    net.connect("other", version=V5)
    net.advance(10)
    assert net.payloads("watcher")[-1] == b"2"


def test_sys_topics_are_not_matched_by_a_leading_wildcard() -> None:
    # [MQTT-4.7.2-1]
    net = Net(config=BrokerConfig(sys_interval_s=1))
    net.connect("all", version=V5)
    net.links["all"].client.subscribe("#", now=0)
    net.pump()
    net.advance(3)
    assert net.received("all") == []


def test_maximum_qos_is_announced_and_subscriptions_are_granted_at_most_that() -> None:
    net = Net(config=BrokerConfig(maximum_qos=QoS.AT_LEAST_ONCE))
    net.connect("c", version=V5)
    assert net.connected("c").properties.maximum_qos == 1
    net.links["c"].client.subscribe("a", qos=2, now=0)
    net.pump()
    assert net.events("c", Subscribed)[-1].reason_codes == (ReasonCode.GRANTED_QOS_1,)
