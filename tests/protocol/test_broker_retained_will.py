"""Retained messages and wills."""

from __future__ import annotations

import pytest

from mqttsim.protocol.enums import ProtocolVersion, QoS, ReasonCode, RetainHandling
from mqttsim.protocol.events import ClientDisconnected, WillPublished
from mqttsim.protocol.packets import Subscription, Will
from mqttsim.protocol.properties import Properties

from .harness import Net

V311, V5 = ProtocolVersion.V311, ProtocolVersion.V5


def retained_net(*payloads: bytes) -> Net:
    net = Net()
    net.connect("pub", version=V5)
    for payload in payloads:
        net.links["pub"].client.publish("st-01/pressure", payload, qos=1, retain=True, now=0)
    net.pump()
    return net


def subscribe(net: Net, name: str, sub: Subscription | str, version: ProtocolVersion = V5) -> None:
    if name not in net.links:
        net.connect(name, version=version)
    net.links[name].client.subscribe(sub, qos=1, now=net.now)
    net.pump()


def test_a_new_subscriber_gets_the_retained_message_with_retain_set() -> None:
    # [MQTT-3.3.1-6] (3.1.1) / [MQTT-3.3.1-8]: sent on subscribe with RETAIN=1.
    net = retained_net(b"60.1")
    subscribe(net, "sub", "st-01/#")
    [message] = net.received("sub")
    assert (message.payload, message.retain) == (b"60.1", True)


def test_a_retained_message_replaces_the_previous_one() -> None:
    net = retained_net(b"60.1", b"59.8")
    subscribe(net, "sub", "+/pressure")
    assert net.payloads("sub") == [b"59.8"]


def test_an_empty_retained_message_clears_the_topic() -> None:
    # [MQTT-3.3.1-10] (3.1.1) / [MQTT-3.3.1-6] (5.0)
    net = retained_net(b"60.1", b"")
    assert len(net.broker.retained) == 0
    subscribe(net, "sub", "#")
    assert net.payloads("sub") == []


def test_live_messages_reach_existing_subscribers_with_retain_cleared() -> None:
    # [MQTT-3.3.1-9] (3.1.1) / [MQTT-3.3.1-12] (5.0, Retain As Published = 0)
    net = Net()
    subscribe(net, "sub", "st-01/#")
    net.connect("pub", version=V5)
    net.links["pub"].client.publish("st-01/pressure", b"1", retain=True, now=0)
    net.pump()
    assert [m.retain for m in net.received("sub")] == [False]


def test_retain_as_published_keeps_the_flag() -> None:
    net = Net()
    subscribe(net, "sub", Subscription(topic_filter="st-01/#", retain_as_published=True))
    net.connect("pub", version=V5)
    net.links["pub"].client.publish("st-01/pressure", b"1", retain=True, now=0)
    net.pump()
    assert [m.retain for m in net.received("sub")] == [True]


@pytest.mark.parametrize(
    "handling, first, again",
    [
        (RetainHandling.SEND_ON_SUBSCRIBE, 1, 2),
        (RetainHandling.SEND_IF_NEW_SUBSCRIPTION, 1, 1),
        (RetainHandling.DO_NOT_SEND, 0, 0),
    ],
)
def test_retain_handling_decides_when_retained_messages_are_sent(
    handling: RetainHandling, first: int, again: int
) -> None:
    # MQTT 5 §3.8.3.1 Retain Handling 0, 1, 2.
    net = retained_net(b"60.1")
    sub = Subscription(
        topic_filter="st-01/pressure", qos=QoS.AT_LEAST_ONCE, retain_handling=handling
    )
    subscribe(net, "sub", sub)
    assert len(net.received("sub")) == first
    subscribe(net, "sub", sub)
    assert len(net.received("sub")) == again


def test_retained_messages_are_not_sent_for_shared_subscriptions() -> None:
    net = retained_net(b"60.1")
    subscribe(net, "sub", "$share/scada/st-01/pressure")
    assert net.received("sub") == []


def test_retained_qos_is_capped_by_the_subscription() -> None:
    net = retained_net(b"60.1")
    net.connect("sub", version=V5)
    net.links["sub"].client.subscribe("st-01/pressure", qos=0, now=0)
    net.pump()
    assert [m.qos for m in net.received("sub")] == [0]


# -- wills ---------------------------------------------------------------------

WILL = Will(topic="st-01/status", payload=b"lost", qos=QoS.AT_LEAST_ONCE, retain=True)


def station_with_will(
    version: ProtocolVersion, *, keep_alive_s: int = 60, will: Will = WILL
) -> Net:
    net = Net()
    subscribe(net, "scada", "st-01/status", version=version)
    net.connect("st-01", version=version, keep_alive_s=keep_alive_s, will=will)
    return net


@pytest.mark.parametrize("version", [V311, V5])
def test_will_is_published_when_the_connection_is_lost(version: ProtocolVersion) -> None:
    net = station_with_will(version)
    net.cut("st-01")
    assert net.payloads("scada") == [b"lost"]
    assert net.broker.retained.get("st-01/status") is not None  # will retain flag honoured


@pytest.mark.parametrize("version", [V311, V5])
def test_will_is_not_published_on_a_normal_disconnect(version: ProtocolVersion) -> None:
    # [MQTT-3.1.2-10] (3.1.1) / [MQTT-3.14.4-3] (5.0)
    net = station_with_will(version)
    net.links["st-01"].client.disconnect(now=net.now)
    net.pump()
    net.cut("st-01")
    assert net.payloads("scada") == []


def test_disconnect_with_will_message_publishes_the_will() -> None:
    # MQTT 5 reason code 0x04 (§3.14.2.1).
    net = station_with_will(V5)
    net.links["st-01"].client.disconnect(ReasonCode.DISCONNECT_WITH_WILL_MESSAGE, now=net.now)
    net.pump()
    assert net.payloads("scada") == [b"lost"]


@pytest.mark.parametrize("version", [V311, V5])
def test_will_is_published_at_one_and_a_half_keep_alive_of_silence(
    version: ProtocolVersion,
) -> None:
    # [MQTT-3.1.2-24]: the server disconnects after 1.5 x Keep Alive.
    net = station_with_will(version, keep_alive_s=20)
    net.freeze("st-01")
    net.advance_to(29.9)
    assert net.payloads("scada") == []
    net.advance_to(30.0)
    assert net.payloads("scada") == [b"lost"]
    closed = [e for e in net.broker_events if isinstance(e, ClientDisconnected)]
    assert closed[-1].reason_code == ReasonCode.KEEP_ALIVE_TIMEOUT
    assert closed[-1].will_published


def test_will_delay_interval_holds_the_will_and_a_reconnect_cancels_it() -> None:
    # MQTT 5 §3.1.3.2.2 Will Delay Interval.
    delayed = Will(
        topic="st-01/status", payload=b"lost", properties=Properties(will_delay_interval=30)
    )
    net = Net()
    subscribe(net, "scada", "st-01/status")
    net.connect(
        "st-01", version=V5, will=delayed, clean_start=False, session_expiry_interval_s=3600
    )
    net.cut("st-01")
    net.advance(10)
    assert net.payloads("scada") == []
    net.reconnect("st-01", clean_start=False)
    net.advance(60)
    assert net.payloads("scada") == []


def test_delayed_will_is_published_when_the_delay_passes() -> None:
    delayed = Will(
        topic="st-01/status", payload=b"lost", properties=Properties(will_delay_interval=30)
    )
    net = Net()
    subscribe(net, "scada", "st-01/status")
    net.connect(
        "st-01", version=V5, will=delayed, clean_start=False, session_expiry_interval_s=3600
    )
    net.cut("st-01")
    net.advance(29.5)
    assert net.payloads("scada") == []
    assert not [e for e in net.broker_events if isinstance(e, WillPublished)]
    net.advance(1)
    assert net.payloads("scada") == [b"lost"]
    # The driver learns of it from handle_timeout, not only from the receiver.
    published = [e for e in net.broker_events if isinstance(e, WillPublished)]
    assert published == [WillPublished(client_id="st-01", topic="st-01/status")]


def test_will_goes_when_the_session_ends_if_that_is_sooner() -> None:
    # [MQTT-3.1.3-9]: a will delay longer than the session expiry is cut short.
    delayed = Will(
        topic="st-01/status", payload=b"lost", properties=Properties(will_delay_interval=300)
    )
    net = Net()
    subscribe(net, "scada", "st-01/status")
    net.connect("st-01", version=V5, will=delayed, session_expiry_interval_s=10)
    net.cut("st-01")
    net.advance(10.5)
    assert net.payloads("scada") == [b"lost"]
