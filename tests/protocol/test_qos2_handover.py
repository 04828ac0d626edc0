"""Where a received QoS 2 message is handed on: at its PUBLISH or at its PUBREL.

MQTT 5 §4.3.3 (and 3.1.1 §4.3.3), Figure 4.3, lets a receiver "initiate onward
delivery" on PUBLISH (Method B, storing the packet identifier: mqttsim's
default) or on PUBREL (Method A, storing the message: mosquitto 2.x's broker
and paho-mqtt 2.x's client). Either way a message is handed on exactly once
[MQTT-4.3.3-10]; with Method A it waits, part of the session, one round trip
longer. The broker's stories run on the in-memory network of harness.py; the
client's play the server by hand (tests/helpers.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from mqttsim.protocol import QoS2Handover
from mqttsim.protocol.broker import Broker, BrokerConfig
from mqttsim.protocol.client import ClientConnection
from mqttsim.protocol.enums import ProtocolVersion, QoS, ReasonCode
from mqttsim.protocol.events import (
    Disconnected,
    MessageDropped,
    MessageReceived,
    ProtocolViolation,
    PublishCompleted,
    PublishReceived,
)
from mqttsim.protocol.packets import (
    ConnAck,
    Disconnect,
    PubComp,
    Publish,
    PubRec,
    PubRel,
)
from mqttsim.protocol.properties import Properties
from mqttsim.protocol.session import QueuedMessage
from mqttsim.protocol.stats import DropReason
from tests.helpers import connected_client, server_reads, server_sends

from .harness import Net, connected_raw

V311, V5 = ProtocolVersion.V311, ProtocolVersion.V5
VERSIONS = [V311, V5]
PERSISTENT: dict[ProtocolVersion, dict[str, Any]] = {
    V311: {},
    V5: {"session_expiry_interval_s": 3600},
}
ON_PUBLISH, ON_PUBREL = QoS2Handover.ON_PUBLISH, QoS2Handover.ON_PUBREL
EXACTLY_ONCE = QoS.EXACTLY_ONCE


def handover_net(handover: QoS2Handover, version: ProtocolVersion = V5, **config: Any) -> Net:
    """A broker handing QoS 2 on at ``handover``; "sub" subscribes to a/# at
    QoS 2 and "pub" is connected, both with persistent sessions."""
    net = Net(config=BrokerConfig(qos2_handover=handover, **config))
    for name in ("sub", "pub"):
        net.connect(name, version=version, clean_start=False, **PERSISTENT[version])
    net.links["sub"].client.subscribe("a/#", qos=2, now=net.now)
    net.pump()
    return net


def test_the_enumeration_names_the_two_methods_by_the_packet_that_hands_on() -> None:
    assert [(m.name, m.value) for m in QoS2Handover] == [
        ("ON_PUBLISH", "publish"),
        ("ON_PUBREL", "pubrel"),
    ]
    assert BrokerConfig().qos2_handover is ON_PUBLISH


# -- the broker -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_by_default_the_broker_routes_a_qos2_message_on_its_publish(
    version: ProtocolVersion,
) -> None:
    """Method B: the subscriber has the message before the publisher has its PUBREC."""
    net = handover_net(ON_PUBLISH, version)
    net.links["pub"].client.publish("a/b", b"LEAK", qos=2, now=0)
    net.to_broker("pub")  # the PUBLISH arrives; nothing has gone back yet
    net.to_client("sub")
    assert net.payloads("sub") == [b"LEAK"]
    assert not net.broker.sessions["pub"].held_qos2
    net.pump()
    assert net.payloads("sub") == [b"LEAK"]


@pytest.mark.parametrize("version", VERSIONS)
def test_on_pubrel_the_broker_routes_nothing_until_pubrel_then_exactly_once(
    version: ProtocolVersion,
) -> None:
    """Method A: PUBREC at once, the message held; routed when PUBREL arrives, before PUBCOMP."""
    net = handover_net(ON_PUBREL, version)
    pub = net.links["pub"].client
    pid = pub.publish("a/b", b"LEAK", qos=2, retain=True, now=0)
    net.to_broker("pub")  # the PUBLISH arrives: held, answered PUBREC
    net.to_client("sub")
    assert net.payloads("sub") == []
    session = net.broker.sessions["pub"]
    assert session.held_qos2 == {
        pid: QueuedMessage(
            publish=Publish(
                topic="a/b", payload=b"LEAK", qos=EXACTLY_ONCE, retain=True, packet_id=pid
            )
        )
    }
    assert pid in session.inbound_qos2
    assert len(net.broker.retained) == 0  # the retained store is onward delivery too
    net.to_client("pub")  # PUBREC reaches the publisher, which queues PUBREL
    [received] = net.events("pub", PublishReceived)
    assert (received.packet_id, received.reason_code) == (pid, ReasonCode.SUCCESS)
    assert net.payloads("sub") == [] and not net.events("pub", PublishCompleted)

    net.to_broker("pub")  # the PUBREL arrives: routed now, then PUBCOMP
    net.pump()
    assert net.payloads("sub") == [b"LEAK"]
    assert [c.packet_id for c in net.events("pub", PublishCompleted)] == [pid]
    assert not session.held_qos2 and not session.inbound_qos2
    assert len(net.broker.retained) == 1


def test_on_pubrel_a_publish_resent_before_pubrel_is_answered_and_not_held_twice() -> None:
    """[MQTT-4.3.3-10]: a repeat with DUP=1 gets PUBREC again; one message, one delivery."""
    net = handover_net(ON_PUBREL)
    raw = connected_raw(net.broker, V5, "raw")
    message = Publish(topic="a/b", payload=b"once", qos=EXACTLY_ONCE, packet_id=7)
    assert raw.send(message) == [PubRec(packet_id=7)]
    assert raw.send(replace(message, dup=True)) == [PubRec(packet_id=7)]
    assert list(net.broker.sessions["raw"].held_qos2) == [7]
    net.pump()
    assert net.payloads("sub") == []
    assert raw.send(PubRel(packet_id=7)) == [PubComp(packet_id=7)]
    net.pump()
    assert net.payloads("sub") == [b"once"]
    # A PUBREL repeated after PUBCOMP finds nothing, and delivers nothing.
    assert raw.send(PubRel(packet_id=7)) == [
        PubComp(packet_id=7, reason_code=ReasonCode.PACKET_IDENTIFIER_NOT_FOUND)
    ]
    net.pump()
    assert net.payloads("sub") == [b"once"]


def test_on_pubrel_held_messages_count_against_receive_maximum() -> None:
    """[MQTT-3.3.4-9]: a held message is an unreleased QoS 2 message like any other."""
    net = handover_net(ON_PUBREL, receive_maximum=2)
    raw = connected_raw(net.broker, V5, "raw")
    for pid in (1, 2):
        assert raw.send(Publish(topic="a/b", qos=EXACTLY_ONCE, packet_id=pid)) == [
            PubRec(packet_id=pid)
        ]
    assert raw.send(Publish(topic="a/b", qos=EXACTLY_ONCE, packet_id=3)) == [
        Disconnect(reason_code=ReasonCode.RECEIVE_MAXIMUM_EXCEEDED)
    ]


class _NoWriters:
    """An authoriser that lets nobody publish."""

    def may_publish(self, client_id: str, username: str | None, topic: str) -> bool:
        return False

    def may_subscribe(self, client_id: str, username: str | None, topic_filter: str) -> bool:
        return True

    def may_receive(self, client_id: str, username: str | None, topic: str) -> bool:
        return True


@pytest.mark.parametrize("topic, authorizer", [("$SYS/forged", None), ("a/b", _NoWriters())])
def test_on_pubrel_a_refused_publish_gets_its_pubrec_reason_at_once_and_is_not_held(
    topic: str, authorizer: _NoWriters | None
) -> None:
    """The checks that decide PUBREC's reason code run on PUBLISH, as with Method B."""
    config = BrokerConfig(qos2_handover=ON_PUBREL)
    raw = connected_raw(Broker(config, authorizer=authorizer), V5, "raw")
    assert raw.send(Publish(topic=topic, qos=EXACTLY_ONCE, packet_id=4)) == [
        PubRec(packet_id=4, reason_code=ReasonCode.NOT_AUTHORIZED)
    ]
    session = raw.broker.sessions["raw"]
    assert not session.held_qos2 and not session.inbound_qos2


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("stage", ["after-publish", "after-pubrec"])
def test_on_pubrel_a_held_message_survives_a_resumed_session_and_goes_at_pubrel(
    version: ProtocolVersion, stage: str
) -> None:
    """The connection drops with the message held; the resumed session resends
    PUBLISH (DUP=1: PUBREC again, held once) or PUBREL, and it is routed once."""
    net = handover_net(ON_PUBREL, version)
    pub = net.links["pub"].client
    pid = pub.publish("a/b", b"LEAK", qos=2, now=0)
    net.to_broker("pub")  # held at the broker
    if stage == "after-pubrec":
        net.to_client("pub")  # PUBREC arrives; the PUBREL is lost with the link
    net.cut("pub")
    net.advance(5)
    assert net.payloads("sub") == []
    assert list(net.broker.sessions["pub"].held_qos2) == [pid]

    net.reconnect("pub", clean_start=False)
    assert net.connected("pub").session_present
    net.pump()
    assert net.payloads("sub") == [b"LEAK"]
    assert [c.packet_id for c in net.events("pub", PublishCompleted)] == [pid]
    assert not net.broker.sessions["pub"].held_qos2


def test_on_pubrel_a_held_message_whose_expiry_ran_out_is_dropped_and_reported() -> None:
    """Its Message Expiry Interval counts from the PUBLISH; onward delivery had not
    begun when it ran out, so no subscriber gets it [MQTT-3.3.2-5]."""
    net = handover_net(ON_PUBREL)
    props = Properties(message_expiry_interval=5)
    net.links["pub"].client.publish("a/b", b"stale", qos=2, properties=props, now=0)
    net.to_broker("pub")
    net.now = 10.0  # the PUBREC and PUBREL take 10 s
    net.to_client("pub")
    net.to_broker("pub")
    net.pump()
    assert net.payloads("sub") == []
    assert net.events("pub", PublishCompleted)
    assert net.broker.stats.dropped[DropReason.EXPIRED] == 1
    [dropped] = [e for e in net.broker_events if isinstance(e, MessageDropped)]
    assert (dropped.client_id, dropped.topic, dropped.reason) == ("pub", "a/b", "expired")


@pytest.mark.parametrize("end", ["clean start", "expiry", "clean session"])
def test_a_held_message_lost_with_its_session_is_counted_dropped(end: str) -> None:
    """PUBREC told the publisher the broker had it: its loss is never silent."""
    net = Net(config=BrokerConfig(qos2_handover=ON_PUBREL))
    expiry = {"clean start": 3600, "expiry": 60, "clean session": 0}[end]
    net.connect("pub", version=V5, clean_start=False, session_expiry_interval_s=expiry)
    net.links["pub"].client.publish("a/b", b"x", qos=2, now=0)
    net.to_broker("pub")
    net.cut("pub")
    if end == "clean start":
        net.reconnect("pub", clean_start=True)
        reason = DropReason.SESSION_DISCARDED
    elif end == "expiry":
        net.advance(61)
        reason = DropReason.SESSION_EXPIRED
    else:
        reason = DropReason.SESSION_EXPIRED  # ended with its connection
    assert net.broker.stats.dropped[reason] == 1
    assert (
        net.broker.stats.tree(now=net.now, sessions=0, subscriptions=0, retained=0, version="t")[
            "$SYS/broker/messages/dropped"
        ]
        == "1"
    )
    if end != "clean session":  # (the connection's own close reports no broker events)
        [dropped] = [e for e in net.broker_events if isinstance(e, MessageDropped)]
        assert (dropped.client_id, dropped.topic, dropped.qos, dropped.reason) == (
            "pub",
            "a/b",
            EXACTLY_ONCE,
            reason,
        )


# -- the client -------------------------------------------------------------------------------


def _qos2(pid: int = 9) -> Publish:
    return Publish(topic="cmd/v3", payload=b"close", qos=EXACTLY_ONCE, packet_id=pid)


def test_by_default_the_client_delivers_a_qos2_message_at_its_publish() -> None:
    conn = connected_client(client_id="st-07")
    assert server_sends(conn, _qos2()) == [MessageReceived(publish=_qos2())]
    assert server_reads(conn) == [PubRec(packet_id=9)]
    assert server_sends(conn, PubRel(packet_id=9)) == []
    assert server_reads(conn) == [PubComp(packet_id=9)]


@pytest.mark.parametrize("version", VERSIONS)
def test_on_pubrel_the_client_delivers_a_qos2_message_at_its_pubrel_once(
    version: ProtocolVersion,
) -> None:
    """As paho-mqtt 2.x's _handle_pubrel calls on_message: one round trip later."""
    conn = connected_client(client_id="st-07", version=version, qos2_handover=ON_PUBREL)
    assert server_sends(conn, _qos2()) == []
    assert server_reads(conn) == [PubRec(packet_id=9)]
    assert conn.session.held_qos2 == {9: QueuedMessage(publish=_qos2())}
    assert server_sends(conn, replace(_qos2(), dup=True)) == []  # [MQTT-4.3.3-10]
    assert server_reads(conn) == [PubRec(packet_id=9)]
    assert conn.stats.duplicates_received == 1
    assert server_sends(conn, PubRel(packet_id=9)) == [MessageReceived(publish=_qos2())]
    assert server_reads(conn) == [PubComp(packet_id=9)]
    assert not conn.session.held_qos2 and not conn.session.inbound_qos2
    assert server_sends(conn, PubRel(packet_id=9)) == []  # a repeat finds nothing


def test_on_pubrel_qos0_and_qos1_are_still_delivered_at_once() -> None:
    conn = connected_client(client_id="st-07", qos2_handover=ON_PUBREL)
    qos1 = Publish(topic="t", payload=b"1", qos=QoS.AT_LEAST_ONCE, packet_id=3)
    assert server_sends(conn, Publish(topic="t"), qos1) == [
        MessageReceived(publish=Publish(topic="t")),
        MessageReceived(publish=qos1),
    ]


def test_on_pubrel_the_client_counts_held_messages_against_its_receive_maximum() -> None:
    conn = connected_client(client_id="st-07", receive_maximum=1, qos2_handover=ON_PUBREL)
    events = server_sends(conn, _qos2(1), _qos2(2))
    violation, closed = events
    assert isinstance(violation, ProtocolViolation) and isinstance(closed, Disconnected)
    assert violation.reason_code == ReasonCode.RECEIVE_MAXIMUM_EXCEEDED


@pytest.mark.parametrize("same_object", [True, False])
def test_on_pubrel_a_resumed_session_delivers_the_held_message_at_the_resent_pubrel(
    same_object: bool,
) -> None:
    """The held message is session state: it outlives the connection (and the
    connection object, when the session is saved and handed to a new one)."""
    options: dict[str, Any] = {
        "client_id": "st-07",
        "clean_start": False,
        "session_expiry_interval_s": 3600,
    }
    conn = connected_client(qos2_handover=ON_PUBREL, **options)
    server_sends(conn, _qos2(), now=1.0)
    server_reads(conn, now=1.0)  # the PUBREC leaves; the link dies before PUBREL
    conn.connection_lost(now=2.0)
    if not same_object:
        conn = ClientConnection(qos2_handover=ON_PUBREL, session=conn.session, **options)
    conn.connect(now=3.0)
    server_reads(conn, now=3.0)
    server_sends(conn, ConnAck(session_present=True), now=3.5)
    assert server_sends(conn, PubRel(packet_id=9), now=3.5) == [MessageReceived(publish=_qos2())]
    assert server_reads(conn, now=3.5) == [PubComp(packet_id=9)]


def test_on_pubrel_a_held_message_lost_with_the_servers_session_is_counted() -> None:
    """Session Present 0: the server will never send that PUBREL (paho-mqtt drops
    such messages too); counted, never delivered."""
    options: dict[str, Any] = {
        "client_id": "st-07",
        "clean_start": False,
        "session_expiry_interval_s": 3600,
    }
    conn = connected_client(qos2_handover=ON_PUBREL, **options)
    server_sends(conn, _qos2())
    conn.connection_lost(now=1.0)
    conn.connect(now=2.0)
    server_reads(conn, now=2.0)
    server_sends(conn, ConnAck(session_present=False), now=2.0)
    assert not conn.session.held_qos2 and not conn.session.inbound_qos2
    assert conn.stats.held_qos2_discarded == 1
