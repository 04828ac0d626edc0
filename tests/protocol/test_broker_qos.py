"""QoS 0/1/2 through the broker, including connections that drop mid-exchange.

Each scenario wires our client objects to a broker object in memory
(tests/protocol/harness.py) and asserts what is delivered, how many times,
with which flags and in which order.
"""

from __future__ import annotations

import pytest

from mqttsim.protocol.enums import ProtocolVersion, QoS, ReasonCode
from mqttsim.protocol.events import PublishAcked, PublishCompleted
from mqttsim.protocol.packets import Subscription

from .harness import Net

V311, V5 = ProtocolVersion.V311, ProtocolVersion.V5
VERSIONS = [V311, V5]
PERSISTENT = {V311: {}, V5: {"session_expiry_interval_s": 3600}}


def persistent_pair(version: ProtocolVersion, sub_qos: int = 2) -> Net:
    """A publisher and a subscriber, both with persistent sessions."""
    net = Net()
    for name in ("pub", "sub"):
        net.connect(name, version=version, clean_start=False, **PERSISTENT[version])
    net.links["sub"].client.subscribe("pipeline/#", qos=sub_qos, now=net.now)
    net.pump()
    return net


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_message_is_delivered_once_at_each_qos(version: ProtocolVersion, qos: int) -> None:
    net = persistent_pair(version)
    pid = net.links["pub"].client.publish("pipeline/st-01/pressure", b"61.2", qos=qos, now=0)
    net.pump()
    [message] = net.received("sub")
    assert (message.topic, message.payload, message.qos, message.dup) == (
        "pipeline/st-01/pressure",
        b"61.2",
        qos,
        False,
    )
    if qos == 1:
        assert net.events("pub", PublishAcked)[-1].packet_id == pid
    if qos == 2:
        assert net.events("pub", PublishCompleted)[-1].packet_id == pid


@pytest.mark.parametrize("published, granted", [(q, g) for q in range(3) for g in range(3)])
def test_effective_qos_is_the_minimum_of_published_and_granted(
    published: int, granted: int
) -> None:
    # [MQTT-3.8.4-8] (5.0) / §3.8.4 (3.1.1)
    net = persistent_pair(V5, sub_qos=granted)
    net.links["pub"].client.publish("pipeline/a", b"x", qos=published, now=0)
    net.pump()
    assert [m.qos for m in net.received("sub")] == [min(published, granted)]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "stage", ["before-broker", "after-publish", "after-pubrec", "after-pubrel"]
)
def test_qos2_from_publisher_arrives_exactly_once_whatever_the_drop(
    version: ProtocolVersion, stage: str
) -> None:
    """A QoS 2 exchange cut at each step and resumed delivers exactly once [MQTT-4.3.3]."""
    net = persistent_pair(version)
    pub = net.links["pub"].client
    pid = pub.publish("pipeline/st-02/alarm", b"LEAK", qos=2, now=0)
    if stage == "before-broker":
        pass  # the PUBLISH never leaves
    elif stage == "after-publish":
        net.to_broker("pub")  # broker has it; PUBREC is lost
    elif stage == "after-pubrec":
        net.to_broker("pub")
        net.to_client("pub")  # PUBREC arrives; the PUBREL is lost
    elif stage == "after-pubrel":
        net.to_broker("pub")
        net.to_client("pub")
        net.to_broker("pub")  # PUBREL arrives; PUBCOMP is lost
    net.cut("pub")
    net.advance(5)
    net.reconnect("pub", clean_start=False)
    assert net.connected("pub").session_present
    assert net.payloads("sub") == [b"LEAK"]
    completed = net.events("pub", PublishCompleted)
    assert [c.packet_id for c in completed] == [pid]
    assert not pub.session.outbound


@pytest.mark.parametrize("version", VERSIONS)
def test_qos2_to_subscriber_is_not_delivered_twice_after_a_drop(version: ProtocolVersion) -> None:
    net = persistent_pair(version)
    net.links["pub"].client.publish("pipeline/a", b"once", qos=2, now=0)
    net.to_broker("pub")
    net.to_client("sub")  # the subscriber has the PUBLISH; its PUBREC is lost
    net.cut("sub")
    net.reconnect("sub", clean_start=False)
    net.pump()
    assert net.payloads("sub") == [b"once"]
    assert not net.broker.sessions["sub"].outbound, "the exchange completed"


@pytest.mark.parametrize("version", VERSIONS)
def test_qos1_is_redelivered_with_dup_after_a_drop(version: ProtocolVersion) -> None:
    # Resent PUBLISH carries DUP=1 [MQTT-3.3.1-1] after a resume [MQTT-4.4.0-1].
    net = persistent_pair(version)
    net.links["pub"].client.publish("pipeline/a", b"m1", qos=1, now=0)
    net.to_broker("pub")
    net.to_client("sub")  # delivered; the PUBACK is lost
    net.cut("sub")
    net.reconnect("sub", clean_start=False)
    received = net.received("sub")
    assert [(m.payload, m.dup) for m in received] == [(b"m1", False), (b"m1", True)]
    assert received[0].packet_id == received[1].packet_id


@pytest.mark.parametrize("version", VERSIONS)
def test_resumed_session_resends_in_the_original_order(version: ProtocolVersion) -> None:
    # [MQTT-4.6.0-1]: re-sent PUBLISH packets keep their original order.
    net = persistent_pair(version, sub_qos=1)
    pub = net.links["pub"].client
    for n in range(5):
        pub.publish("pipeline/a", b"%d" % n, qos=1, now=0)
    net.to_broker("pub")
    net.to_client("sub")
    net.cut("sub")
    net.reconnect("sub", clean_start=False)
    redelivered = [m.payload for m in net.received("sub") if m.dup]
    assert redelivered == [b"0", b"1", b"2", b"3", b"4"]


def test_qos1_publish_with_no_subscriber_is_acked_with_no_matching_subscribers() -> None:
    net = Net()
    net.connect("pub", version=V5)
    net.links["pub"].client.publish("nobody/listens", b"x", qos=1, now=0)
    net.pump()
    assert net.events("pub", PublishAcked)[-1].reason_code == ReasonCode.NO_MATCHING_SUBSCRIBERS


def test_overlapping_subscriptions_deliver_one_copy_at_the_highest_qos() -> None:
    # [MQTT-3.3.4-2]: the server may deliver once, with the maximum QoS.
    net = Net()
    net.connect("sub", version=V5)
    net.links["sub"].client.subscribe(
        [
            Subscription(topic_filter="a/+", qos=QoS.AT_MOST_ONCE),
            Subscription(topic_filter="a/#", qos=QoS.AT_LEAST_ONCE),
        ],
        now=0,
    )
    net.connect("pub", version=V5)
    net.links["pub"].client.publish("a/b", b"x", qos=2, now=0)
    net.pump()
    assert [m.qos for m in net.received("sub")] == [1]
