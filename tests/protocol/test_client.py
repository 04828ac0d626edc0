"""ClientConnection, told as short stories: the test plays the server by hand.

Every story uses fake ``now`` floats: no sleeps, no sockets, no randomness
outside hypothesis. Normative IDs are MQTT 5.0's unless marked 3.1.1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqttsim.protocol.client import DEFAULT_MAXIMUM_PACKET_SIZE, ClientConnection
from mqttsim.protocol.codec import encode
from mqttsim.protocol.enums import PacketType, ProtocolVersion, QoS, ReasonCode
from mqttsim.protocol.errors import LocalProtocolError, TopicFilterInvalid, TopicNameInvalid
from mqttsim.protocol.events import (
    Connected,
    ConnectionRefused,
    Disconnected,
    Event,
    MessageReceived,
    PacketReceived,
    PacketSent,
    PongReceived,
    ProtocolViolation,
    PublishAcked,
    PublishCompleted,
    PublishDropped,
    PublishReceived,
    Subscribed,
    Unsubscribed,
)
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
from mqttsim.protocol.session import OutboundState
from mqttsim.protocol.tables import CLIENT_TRANSITIONS, ClientState
from tests.helpers import connected_client, server_reads, server_sends

V5 = ProtocolVersion.V5
V311 = ProtocolVersion.V311
R = ReasonCode
# What an MQTT 5 CONNECT carries when no option is given.
DEFAULT_V5 = Properties(maximum_packet_size=DEFAULT_MAXIMUM_PACKET_SIZE)


def only(events: Sequence[Event], kind: type) -> list[Event]:
    return [e for e in events if isinstance(e, kind)]


def violation_and_close(events: Sequence[Event], code: ReasonCode) -> None:
    """The two events every peer error ends with (docs/ARCHITECTURE.md, "Errors")."""
    assert [type(e) for e in events[-2:]] == [ProtocolViolation, Disconnected], events
    violation, disconnected = events[-2:]
    assert isinstance(violation, ProtocolViolation) and violation.reason_code == code
    assert isinstance(disconnected, Disconnected)
    assert disconnected.reason_code == code and not disconnected.by_peer


# -- CONNECT and CONNACK ---------------------------------------------------------------


def test_connect_v311_bytes_match_the_specification() -> None:
    """A bare 3.1.1 CONNECT, worked out by hand from §3.1 (not from our encoder)."""
    conn = ClientConnection(client_id="abc", version=V311, keep_alive_s=60)
    conn.connect(now=0.0)
    assert conn.state is ClientState.CONNECTING
    assert conn.data_to_send(now=0.0) == (
        b"\x10\x0f"  # CONNECT, Remaining Length 15
        b"\x00\x04MQTT\x04"  # protocol name and level 4
        b"\x02\x00\x3c"  # Clean Session, Keep Alive 60
        b"\x00\x03abc"  # Client Identifier
    )


def test_connect_v311_carries_every_option() -> None:
    will = Will(topic="st/07/status", payload=b"offline", qos=QoS.AT_LEAST_ONCE, retain=True)
    conn = ClientConnection(
        client_id="st-07",
        version=V311,
        keep_alive_s=30,
        clean_start=False,
        username="scada",
        password=b"s3cret",
        will=will,
    )
    conn.connect(now=0.0)
    assert server_reads(conn) == [
        Connect(
            version=V311,
            client_id="st-07",
            clean_start=False,
            keep_alive_s=30,
            username="scada",
            password=b"s3cret",
            will=will,
        )
    ]


def test_connect_v5_merges_keyword_options_into_connect_properties() -> None:
    conn = ClientConnection(
        client_id="st-07",
        session_expiry_interval_s=3600,
        receive_maximum=10,
        maximum_packet_size=4096,
        topic_alias_maximum=5,
        connect_properties=Properties(user_properties=(("site", "7"),), receive_maximum=99),
    )
    conn.connect(now=0.0)
    (connect,) = server_reads(conn)
    assert connect == Connect(
        version=V5,
        client_id="st-07",
        keep_alive_s=60,
        properties=Properties(
            session_expiry_interval=3600,
            receive_maximum=10,  # the keyword argument wins
            maximum_packet_size=4096,
            topic_alias_maximum=5,
            user_properties=(("site", "7"),),
        ),
    )


def test_v311_refuses_mqtt5_only_options() -> None:
    with pytest.raises(LocalProtocolError, match="no properties"):
        ClientConnection(version=V311, session_expiry_interval_s=60)


def test_v311_empty_client_id_needs_clean_start() -> None:
    """[MQTT-3.1.3-7 3.1.1]."""
    conn = ClientConnection(version=V311, clean_start=False)
    with pytest.raises(LocalProtocolError, match="MQTT-3.1.3-7"):
        conn.connect(now=0.0)


def test_connack_accepts_and_reports_connected() -> None:
    conn = ClientConnection(client_id="st-07")
    conn.connect(now=0.0)
    server_reads(conn)
    assert server_sends(conn, ConnAck(), now=0.5) == [
        Connected(session_present=False, client_id="st-07")
    ]
    assert conn.state is ClientState.CONNECTED and conn.is_connected


def test_refused_connack_v311_return_code_5_is_not_authorized() -> None:
    """3.1.1 return code 5 maps onto 0x87; refusal closes (§3.2.2.3 3.1.1)."""
    conn = ClientConnection(client_id="st-07", version=V311)
    conn.connect(now=0.0)
    server_reads(conn)
    events = conn.receive_data(b"\x20\x02\x00\x05", now=1.0)
    assert events[0] == ConnectionRefused(reason_code=R.NOT_AUTHORIZED)
    assert isinstance(events[1], Disconnected)
    assert events[1].reason_code == R.NOT_AUTHORIZED and events[1].by_peer
    assert len(events) == 2
    assert conn.state is ClientState.CLOSED
    assert conn.data_to_send(now=1.0) == b""


def test_refused_connack_v5_keeps_its_properties() -> None:
    conn = ClientConnection(client_id="st-07")
    conn.connect(now=0.0)
    server_reads(conn)
    props = Properties(reason_string="who are you?")
    events = server_sends(conn, ConnAck(reason_code=R.BAD_USER_NAME_OR_PASSWORD, properties=props))
    assert events[0] == ConnectionRefused(reason_code=R.BAD_USER_NAME_OR_PASSWORD, properties=props)
    assert isinstance(events[1], Disconnected) and events[1].by_peer
    assert conn.state is ClientState.CLOSED


def test_assigned_client_identifier_is_adopted_and_reused() -> None:
    """An empty client id asks the server for one (§3.2.2.3.7)."""
    conn = ClientConnection(clean_start=False, session_expiry_interval_s=600)
    conn.connect(now=0.0)
    (connect,) = server_reads(conn)
    assert isinstance(connect, Connect) and connect.client_id == ""
    props = Properties(assigned_client_identifier="auto-4f2a")
    assert server_sends(conn, ConnAck(properties=props)) == [
        Connected(session_present=False, client_id="auto-4f2a", properties=props)
    ]
    assert conn.client_id == "auto-4f2a" == conn.session.client_id
    conn.connection_lost(now=1.0)
    conn.connect(now=2.0)
    (again,) = server_reads(conn)
    assert isinstance(again, Connect) and again.client_id == "auto-4f2a"


def test_session_present_after_clean_start_is_a_protocol_error() -> None:
    """We asked for Clean Start, so there is no state to resume [MQTT-3.2.2-4]."""
    conn = ClientConnection(client_id="st-07")
    conn.connect(now=0.0)
    server_reads(conn)
    events = server_sends(conn, ConnAck(session_present=True))
    violation_and_close(events, R.PROTOCOL_ERROR)
    assert server_reads(conn) == [Disconnect(reason_code=R.PROTOCOL_ERROR)]


# -- QoS 0, 1 and 2 outbound ---------------------------------------------------------


def test_qos0_publish_goes_out_at_once() -> None:
    conn = connected_client(client_id="st-07")
    assert conn.publish("pipe/p1", b"41.5", now=1.0) is None
    assert server_reads(conn) == [Publish(topic="pipe/p1", payload=b"41.5")]


def test_qos0_waits_for_connack_and_is_dropped_while_closed() -> None:
    conn = ClientConnection(client_id="st-07")
    conn.publish("early", b"1", now=0.0)  # NEW: queued until CONNACK
    conn.connect(now=0.0)
    conn.publish("early", b"2", now=0.0)  # CONNECTING: queued too
    assert server_reads(conn) == [Connect(client_id="st-07", properties=DEFAULT_V5)]
    server_sends(conn, ConnAck())
    assert server_reads(conn) == [
        Publish(topic="early", payload=b"1"),
        Publish(topic="early", payload=b"2"),
    ]
    conn.connection_lost(now=1.0)
    conn.publish("late", b"3", now=2.0)
    assert conn.stats.dropped_qos0_while_disconnected == 1
    assert not conn.session.queued


def test_qos1_full_flow() -> None:
    """PUBLISH, PUBACK; the identifier is free afterwards [MQTT-4.3.2-1..3]."""
    conn = connected_client(client_id="st-07")
    pid = conn.publish("pipe/p1", b"41.5", qos=1, now=1.0)
    assert pid == 1
    assert server_reads(conn) == [
        Publish(topic="pipe/p1", payload=b"41.5", qos=QoS.AT_LEAST_ONCE, packet_id=1)
    ]
    assert conn.session.outbound[1].state is OutboundState.AWAITING_PUBACK
    assert server_sends(conn, PubAck(packet_id=1)) == [PublishAcked(packet_id=1)]
    assert not conn.session.outbound and 1 not in conn.session.packet_ids.in_use


def test_qos2_full_flow() -> None:
    """PUBLISH, PUBREC, PUBREL, PUBCOMP [MQTT-4.3.3-4]."""
    conn = connected_client(client_id="st-07")
    pid = conn.publish("valve/v3", b"close", qos=2, now=1.0)
    assert server_reads(conn) == [
        Publish(topic="valve/v3", payload=b"close", qos=QoS.EXACTLY_ONCE, packet_id=pid)
    ]
    assert server_sends(conn, PubRec(packet_id=1)) == [PublishReceived(packet_id=1)]
    assert server_reads(conn) == [PubRel(packet_id=1)]
    assert conn.session.outbound[1].state is OutboundState.AWAITING_PUBCOMP
    assert server_sends(conn, PubComp(packet_id=1)) == [PublishCompleted(packet_id=1)]
    assert not conn.session.outbound and not conn.session.packet_ids.in_use


def test_pubrec_with_failure_code_ends_the_exchange() -> None:
    """No PUBREL after PUBREC >= 0x80 [MQTT-4.3.3-4]; the id is free again."""
    conn = connected_client(client_id="st-07")
    conn.publish("valve/v3", b"close", qos=2, now=1.0)
    server_reads(conn)
    events = server_sends(conn, PubRec(packet_id=1, reason_code=R.QUOTA_EXCEEDED))
    assert events == [PublishReceived(packet_id=1, reason_code=R.QUOTA_EXCEEDED)]
    assert server_reads(conn) == []
    assert not conn.session.outbound and not conn.session.packet_ids.in_use


def test_repeated_pubrec_is_answered_with_pubrel_again() -> None:
    conn = connected_client(client_id="st-07")
    conn.publish("valve/v3", b"close", qos=2, now=1.0)
    server_reads(conn)
    assert server_sends(conn, PubRec(packet_id=1)) == [PublishReceived(packet_id=1)]
    assert server_sends(conn, PubRec(packet_id=1)) == []
    assert server_reads(conn) == [PubRel(packet_id=1), PubRel(packet_id=1)]


def test_stray_acknowledgements_are_counted_not_fatal() -> None:
    conn = connected_client(client_id="st-07")
    assert server_sends(conn, PubAck(packet_id=9), PubComp(packet_id=9)) == []
    assert conn.stats.unexpected_acks == 2 and conn.is_connected
    # A PUBREC we do not hold: let the server finish with 0x92 (§4.3.3).
    assert server_sends(conn, PubRec(packet_id=9)) == []
    assert server_reads(conn) == [PubRel(packet_id=9, reason_code=R.PACKET_IDENTIFIER_NOT_FOUND)]


def test_receive_maximum_window_holds_back_publishes() -> None:
    """Server Receive Maximum 2: at most two QoS 1 PUBLISH unacknowledged [MQTT-3.3.4-7]."""
    conn = connected_client(
        client_id="st-07", connack=ConnAck(properties=Properties(receive_maximum=2))
    )
    ids = [conn.publish("t", bytes([i]), qos=1, now=1.0) for i in range(5)]
    assert ids == [1, 2, 3, 4, 5]
    assert [p.packet_id for p in server_reads(conn)] == [1, 2]  # type: ignore[attr-defined]
    assert len(conn.session.queued) == 3
    assert server_sends(conn, PubAck(packet_id=1)) == [PublishAcked(packet_id=1)]
    assert server_reads(conn) == [
        Publish(topic="t", payload=b"\x02", qos=QoS.AT_LEAST_ONCE, packet_id=3)
    ]
    server_sends(conn, PubAck(packet_id=3), PubAck(packet_id=2))
    assert [p.packet_id for p in server_reads(conn)] == [4, 5]  # type: ignore[attr-defined]
    assert not conn.session.queued


def test_v311_keeps_at_most_20_messages_in_flight_unless_told() -> None:
    """An MQTT 3.1.1 server cannot announce a Receive Maximum, yet may close a client that
    overruns its limit (ours at 100 unreleased QoS 2, §4.9): 20 in flight, as paho-mqtt
    keeps, unless ``max_inflight`` says otherwise. MQTT 5 follows the server's CONNACK."""
    conn = connected_client(client_id="st-07", version=V311)
    for i in range(25):
        conn.publish("t", bytes([i]), qos=2, now=1.0)
    assert len(server_reads(conn)) == 20 and len(conn.session.queued) == 5
    assert server_sends(conn, PubRec(packet_id=1)) == [PublishReceived(packet_id=1)]
    assert server_reads(conn) == [PubRel(packet_id=1)]  # still in flight until PUBCOMP
    server_sends(conn, PubComp(packet_id=1))
    assert [p.packet_id for p in server_reads(conn)] == [21]  # type: ignore[attr-defined]
    own = connected_client(client_id="st-08", version=V311, max_inflight=3)
    for i in range(5):
        own.publish("t", bytes([i]), qos=1, now=1.0)
    assert len(server_reads(own)) == 3
    v5 = connected_client(client_id="st-09")
    for i in range(25):
        v5.publish("t", bytes([i]), qos=1, now=1.0)
    assert len(server_reads(v5)) == 25


def test_qos0_is_not_held_back_by_a_full_window() -> None:
    """A sender with no quota may still send QoS 0 (§4.9)."""
    conn = connected_client(
        client_id="st-07", connack=ConnAck(properties=Properties(receive_maximum=1))
    )
    conn.publish("t", b"1", qos=1, now=1.0)
    conn.publish("t", b"2", qos=1, now=1.0)
    conn.publish("t", b"3", now=1.0)
    assert [p.payload for p in server_reads(conn)] == [b"1", b"3"]  # type: ignore[attr-defined]


def test_server_maximum_qos_and_retain_available_are_enforced() -> None:
    """[MQTT-3.2.2-11] [MQTT-3.2.2-14]."""
    props = Properties(maximum_qos=1, retain_available=0)
    conn = connected_client(client_id="st-07", connack=ConnAck(properties=props))
    with pytest.raises(LocalProtocolError, match="MQTT-3.2.2-11") as qos_error:
        conn.publish("t", qos=2, now=1.0)
    assert qos_error.value.reason_code == R.QOS_NOT_SUPPORTED
    with pytest.raises(LocalProtocolError, match="MQTT-3.2.2-14"):
        conn.publish("t", retain=True, now=1.0)
    assert server_reads(conn) == [] and not conn.session.packet_ids.in_use


def test_message_queued_before_connack_that_the_server_forbids_is_dropped() -> None:
    conn = ClientConnection(client_id="st-07")
    conn.connect(now=0.0)
    server_reads(conn)
    conn.publish("t", b"x", qos=2, now=0.0)
    events = server_sends(conn, ConnAck(properties=Properties(maximum_qos=1)))
    assert isinstance(events[1], PublishDropped) and events[1].packet_id == 1
    assert "MQTT-3.2.2-11" in events[1].reason
    assert server_reads(conn) == [] and not conn.session.packet_ids.in_use


def test_server_maximum_packet_size_is_never_exceeded() -> None:
    """[MQTT-3.2.2-15]: refused at publish() once known, dropped with an event before."""
    conn = ClientConnection(client_id="st-07")
    conn.connect(now=0.0)
    server_reads(conn)
    conn.publish("t", b"x" * 100, qos=1, now=0.0)  # the limit is not known yet
    events = server_sends(conn, ConnAck(properties=Properties(maximum_packet_size=64)))
    assert isinstance(events[1], PublishDropped) and "MQTT-3.2.2-15" in events[1].reason
    with pytest.raises(LocalProtocolError, match="MQTT-3.2.2-15") as error:
        conn.publish("t", b"x" * 100, qos=1, now=1.0)
    assert error.value.reason_code == R.PACKET_TOO_LARGE
    assert not conn.session.packet_ids.in_use  # both refused identifiers were released
    assert server_reads(conn) == []


def test_message_expiry_counts_the_time_spent_queued() -> None:
    """§3.3.2.3.3: the interval sent is what is left; an expired message is dropped."""
    conn = ClientConnection(client_id="st-07")
    props = Properties(message_expiry_interval=10)
    conn.publish("fresh", b"1", qos=1, properties=props, now=0.0)
    conn.publish("stale", b"2", qos=1, properties=Properties(message_expiry_interval=2), now=0.0)
    conn.connect(now=4.0)
    server_reads(conn, now=4.0)
    events = server_sends(conn, ConnAck(), now=4.0)
    assert [type(e) for e in events] == [Connected, PublishDropped]
    (publish,) = server_reads(conn, now=4.0)
    assert isinstance(publish, Publish) and publish.topic == "fresh"
    assert publish.properties.message_expiry_interval == 6


# -- QoS 1 and 2 inbound -----------------------------------------------------------------


def test_inbound_qos0_and_qos1() -> None:
    conn = connected_client(client_id="st-07")
    qos0 = Publish(topic="cmd/all", payload=b"sync")
    qos1 = Publish(topic="cmd/v3", payload=b"open", qos=QoS.AT_LEAST_ONCE, packet_id=7)
    assert server_sends(conn, qos0, qos1) == [
        MessageReceived(publish=qos0),
        MessageReceived(publish=qos1),
    ]
    assert server_reads(conn) == [PubAck(packet_id=7)]  # [MQTT-4.3.2-4]


def test_inbound_qos2_duplicate_is_not_delivered_twice() -> None:
    """[MQTT-4.3.3-10]; then PUBREL -> PUBCOMP [MQTT-4.3.3-11] and the id is new again [-12]."""
    conn = connected_client(client_id="st-07")
    message = Publish(topic="cmd/v3", payload=b"close", qos=QoS.EXACTLY_ONCE, packet_id=9)
    assert server_sends(conn, message) == [MessageReceived(publish=message)]
    assert server_reads(conn) == [PubRec(packet_id=9)]
    assert server_sends(conn, replace(message, dup=True)) == []
    assert server_reads(conn) == [PubRec(packet_id=9)]
    assert conn.stats.duplicates_received == 1
    assert server_sends(conn, PubRel(packet_id=9)) == []
    assert server_reads(conn) == [PubComp(packet_id=9)]
    assert server_sends(conn, message) == [MessageReceived(publish=message)]


@pytest.mark.parametrize(
    ("version", "answer"),
    [
        (V5, PubComp(packet_id=4, reason_code=R.PACKET_IDENTIFIER_NOT_FOUND)),
        (V311, PubComp(packet_id=4)),
    ],
)
def test_pubrel_for_unknown_id_is_answered(version: ProtocolVersion, answer: PubComp) -> None:
    conn = connected_client(client_id="st-07", version=version)
    assert server_sends(conn, PubRel(packet_id=4)) == []
    assert server_reads(conn) == [answer]


def test_inbound_qos2_beyond_our_receive_maximum_closes_with_0x93() -> None:
    conn = connected_client(client_id="st-07", receive_maximum=2)
    messages = [Publish(topic="t", qos=QoS.EXACTLY_ONCE, packet_id=pid) for pid in (1, 2, 3)]
    events = server_sends(conn, *messages)
    assert only(events, MessageReceived) == [MessageReceived(publish=m) for m in messages[:2]]
    violation_and_close(events, R.RECEIVE_MAXIMUM_EXCEEDED)
    assert server_reads(conn)[-1] == Disconnect(reason_code=R.RECEIVE_MAXIMUM_EXCEEDED)


# -- session resume -------------------------------------------------------------------------


def _three_unfinished_exchanges() -> ClientConnection:
    """A (QoS 1, no PUBACK), B (QoS 2, PUBREC came), C (QoS 2, no PUBREC); then the link dies."""
    conn = connected_client(client_id="st-07", clean_start=False, session_expiry_interval_s=3600)
    conn.publish("a", b"A", qos=1, now=1.0)
    conn.publish("b", b"B", qos=2, now=1.0)
    conn.publish("c", b"C", qos=2, now=1.0)
    assert len(server_reads(conn, now=1.0)) == 3
    server_sends(conn, PubRec(packet_id=2), now=2.0)
    assert server_reads(conn, now=2.0) == [PubRel(packet_id=2)]
    events = conn.connection_lost(now=3.0)
    assert [type(e) for e in events] == [Disconnected] and events[0].by_peer  # type: ignore[attr-defined]
    assert conn.connection_lost(now=3.5) == []
    return conn


def test_resume_resends_in_order_with_dup_and_pubrel() -> None:
    """[MQTT-4.4.0-1] [MQTT-4.6.0-1]: original order, DUP=1 [MQTT-3.3.1-1], PUBREL past PUBREC."""
    conn = _three_unfinished_exchanges()
    conn.publish("d", b"D", qos=1, now=4.0)  # published while offline: waits in the queue
    conn.connect(now=5.0)
    (connect,) = server_reads(conn, now=5.0)
    assert isinstance(connect, Connect) and not connect.clean_start
    assert server_sends(conn, ConnAck(session_present=True), now=6.0) == [
        Connected(session_present=True, client_id="st-07")
    ]
    assert server_reads(conn, now=6.0) == [
        Publish(topic="a", payload=b"A", qos=QoS.AT_LEAST_ONCE, packet_id=1, dup=True),
        PubRel(packet_id=2),
        Publish(topic="c", payload=b"C", qos=QoS.EXACTLY_ONCE, packet_id=3, dup=True),
        Publish(topic="d", payload=b"D", qos=QoS.AT_LEAST_ONCE, packet_id=4),
    ]
    assert conn.stats.publishes_resent == 2
    events = server_sends(conn, PubAck(packet_id=1), PubComp(packet_id=2), PubAck(packet_id=4))
    assert events == [
        PublishAcked(packet_id=1),
        PublishCompleted(packet_id=2),
        PublishAcked(packet_id=4),
    ]


def test_resume_drops_a_message_the_new_server_limit_cannot_take() -> None:
    """[MQTT-3.2.2-15] holds on resume too: too big to resend is a PublishDropped, not silence."""
    conn = connected_client(client_id="st-07", clean_start=False, session_expiry_interval_s=60)
    conn.publish("big", b"x" * 200, qos=1, now=1.0)
    conn.publish("small", b"y", qos=1, now=1.0)
    server_reads(conn)
    conn.connection_lost(now=2.0)
    conn.connect(now=3.0)
    server_reads(conn)
    connack = ConnAck(session_present=True, properties=Properties(maximum_packet_size=100))
    events = server_sends(conn, connack)
    assert isinstance(events[1], PublishDropped) and events[1].packet_id == 1
    assert server_reads(conn) == [
        Publish(topic="small", payload=b"y", qos=QoS.AT_LEAST_ONCE, packet_id=2, dup=True)
    ]
    assert conn.session.packet_ids.in_use == {2}


def test_session_lost_by_server_republishes_as_new_messages() -> None:
    """Session Present 0 after asking to resume: state discarded [MQTT-3.2.2-5], messages kept.

    A, B and C go again as new messages (DUP=0) under their own identifiers,
    B too although its PUBREC came: a server that hands QoS 2 on at PUBREL
    (MQTT 5 §4.3.3, Method A) lost it with the session.
    """
    conn = _three_unfinished_exchanges()
    conn.session.inbound_qos2.add(77)
    conn.connect(now=5.0)
    server_reads(conn, now=5.0)
    events = server_sends(conn, ConnAck(session_present=False), now=6.0)
    assert events == [Connected(session_present=False, client_id="st-07")]
    assert server_reads(conn, now=6.0) == [
        Publish(topic="a", payload=b"A", qos=QoS.AT_LEAST_ONCE, packet_id=1),
        Publish(topic="b", payload=b"B", qos=QoS.EXACTLY_ONCE, packet_id=2),
        Publish(topic="c", payload=b"C", qos=QoS.EXACTLY_ONCE, packet_id=3),
    ]
    assert not conn.session.inbound_qos2
    assert conn.session.packet_ids.in_use == {1, 2, 3}
    assert conn.stats.publishes_restarted == 3


def test_clean_start_resends_unacknowledged_publishes_as_new_messages() -> None:
    """Clean Start ends the exchanges of both directions [MQTT-3.1.2-4], not the messages.

    The server starts with no session, so every QoS 1/2 message it has not
    acknowledged goes again as a new message (DUP=0), ahead of those never
    sent, and its acknowledgement completes the identifier ``publish()``
    returned (as paho-mqtt does; a QoS 2 message may so arrive twice).
    """
    conn = _three_unfinished_exchanges()
    conn.session.inbound_qos2.add(77)
    conn.publish("d", b"D", qos=1, now=4.0)
    conn.connect(now=5.0, clean_start=True)
    (connect,) = server_reads(conn, now=5.0)
    assert isinstance(connect, Connect) and connect.clean_start
    assert not conn.session.inbound_qos2  # the server's exchanges towards us are over
    assert server_sends(conn, ConnAck(), now=6.0) == [
        Connected(session_present=False, client_id="st-07")
    ]
    assert server_reads(conn, now=6.0) == [
        Publish(topic="a", payload=b"A", qos=QoS.AT_LEAST_ONCE, packet_id=1),
        Publish(topic="b", payload=b"B", qos=QoS.EXACTLY_ONCE, packet_id=2),
        Publish(topic="c", payload=b"C", qos=QoS.EXACTLY_ONCE, packet_id=3),
        Publish(topic="d", payload=b"D", qos=QoS.AT_LEAST_ONCE, packet_id=4),
    ]
    events = server_sends(conn, PubAck(packet_id=1), PubRec(packet_id=2), now=7.0)
    assert events == [PublishAcked(packet_id=1), PublishReceived(packet_id=2)]
    assert server_reads(conn, now=7.0) == [PubRel(packet_id=2)]
    assert server_sends(conn, PubComp(packet_id=2), now=8.0) == [PublishCompleted(packet_id=2)]


def test_saved_session_is_resumed_by_a_new_connection_object() -> None:
    """Session state is plain data: another object can pick it up."""
    first = _three_unfinished_exchanges()
    second = ClientConnection(clean_start=False, session=first.session)
    assert second.client_id == "st-07"
    second.connect(now=5.0)
    server_reads(second, now=5.0)
    server_sends(second, ConnAck(session_present=True), now=6.0)
    assert [type(p) for p in server_reads(second, now=6.0)] == [Publish, PubRel, Publish]


# -- keep alive -------------------------------------------------------------------------------


def test_pingreq_exactly_keep_alive_after_the_last_packet_sent() -> None:
    """[MQTT-3.1.2-20]: the server heard from since, the clock runs from the last *sent* packet."""
    conn = ClientConnection(client_id="st-07", keep_alive_s=10)
    conn.connect(now=0.0)
    server_reads(conn, now=0.0)
    assert conn.next_deadline() == 10.0  # waiting for CONNACK
    server_sends(conn, ConnAck(), now=0.5)
    assert conn.next_deadline() == 10.0
    conn.publish("t", b"1", now=4.0)
    assert conn.next_deadline() == 10.0  # queued bytes do not count until they leave
    server_reads(conn, now=4.0)
    assert conn.next_deadline() == 10.5  # nothing received since the CONNACK
    server_sends(conn, Publish(topic="cmd", payload=b"x"), now=5.0)
    assert conn.next_deadline() == 14.0
    assert conn.handle_timeout(now=13.9) == [] and conn.data_to_send(now=13.9) == b""
    assert conn.handle_timeout(now=14.0) == []
    assert conn.data_to_send(now=14.0) == b"\xc0\x00"  # PINGREQ
    assert conn.next_deadline() == 24.0  # PINGRESP due within Keep Alive
    assert server_sends(conn, PingResp(), now=15.0) == [PongReceived()]
    assert conn.next_deadline() == 24.0  # next ping: 10 s after the PINGREQ left
    assert conn.stats.pings_sent == 1


def test_ping_command_sends_pingreq_and_times_the_answer() -> None:
    conn = connected_client(client_id="st-07", keep_alive_s=10)
    conn.ping(now=3.0)
    assert conn.next_deadline() is None  # queued, not yet sent
    assert server_reads(conn, now=3.0) == [PingReq()]
    assert conn.next_deadline() == 13.0
    assert server_sends(conn, PingResp(), now=3.5) == [PongReceived()]


def test_silent_server_is_declared_dead_keep_alive_after_pingreq() -> None:
    """No PINGRESP within Keep Alive of PINGREQ: closed, and no DISCONNECT to a dead peer."""
    conn = connected_client(client_id="st-07", keep_alive_s=10)
    conn.handle_timeout(now=10.0)
    assert server_reads(conn, now=10.0) == [PingReq()]
    assert conn.handle_timeout(now=19.9) == []
    events = conn.handle_timeout(now=20.0)
    assert len(events) == 1 and isinstance(events[0], Disconnected)
    assert events[0].reason_code == R.KEEP_ALIVE_TIMEOUT and not events[0].by_peer
    assert conn.state is ClientState.CLOSED
    assert conn.data_to_send(now=20.0) == b"" and conn.next_deadline() is None


def test_missing_connack_times_out() -> None:
    conn = ClientConnection(client_id="st-07", keep_alive_s=30)
    conn.connect(now=0.0)
    assert conn.next_deadline() is None  # CONNECT has not left yet
    server_reads(conn, now=1.0)
    assert conn.next_deadline() == 31.0
    (event,) = conn.handle_timeout(now=31.0)
    assert isinstance(event, Disconnected) and event.reason_code == R.KEEP_ALIVE_TIMEOUT


def test_server_keep_alive_overrides_ours() -> None:
    """[MQTT-3.2.2-21]; CONNECT still carried our own value."""
    conn = ClientConnection(client_id="st-07", keep_alive_s=60)
    conn.connect(now=0.0)
    (connect,) = server_reads(conn, now=0.0)
    assert isinstance(connect, Connect) and connect.keep_alive_s == 60
    server_sends(conn, ConnAck(properties=Properties(server_keep_alive=5)), now=0.2)
    assert conn.keep_alive_s == 5 and conn.next_deadline() == 5.0


def test_keep_alive_zero_means_no_deadline() -> None:
    conn = connected_client(client_id="st-07", keep_alive_s=0)
    assert conn.next_deadline() is None and conn.handle_timeout(now=1e9) == []


# -- liveness: a link that dies silently ------------------------------------------------------
# A client must send a packet within each Keep Alive [MQTT-3.1.2-23], and may send PINGREQ at
# any time (§3.1.2.10). Ours also pings when it has *received* nothing for Keep Alive: a client
# that only publishes QoS 0 hears nothing back, so nothing else could tell it the link died.


def _publish_qos0_each_second(conn: ClientConnection, start: int, end: int) -> list[Packet]:
    """Publish one QoS 0 message a second, running the keep-alive clock as a driver would."""
    wire: list[Packet] = []
    for t in range(start, end):
        assert conn.handle_timeout(now=float(t)) == []
        conn.publish("st/p", b"%d" % t, now=float(t))
        wire += server_reads(conn, now=float(t))
    return wire


def test_pingreq_when_nothing_was_received_for_keep_alive_though_publishing() -> None:
    """§3.1.2.10: PINGREQ Keep Alive after the last packet *received*, however busy we are."""
    conn = connected_client(client_id="st-07", keep_alive_s=10)  # CONNACK received at 0
    wire = _publish_qos0_each_second(conn, 1, 10)
    assert wire == [Publish(topic="st/p", payload=b"%d" % t) for t in range(1, 10)]
    assert conn.next_deadline() == 10.0
    assert conn.handle_timeout(now=10.0) == []
    assert server_reads(conn, now=10.0) == [PingReq()]
    assert conn.next_deadline() == 20.0  # PINGRESP due within Keep Alive (our choice, as paho's)
    assert server_sends(conn, PingResp(), now=10.5) == [PongReceived()]
    _publish_qos0_each_second(conn, 11, 20)
    assert conn.next_deadline() == 20.5  # Keep Alive after the PINGRESP
    assert conn.stats.pings_sent == 1


def test_a_busy_qos0_publisher_notices_a_dead_link_within_twice_keep_alive() -> None:
    """No PINGRESP within Keep Alive of PINGREQ: closed, and no DISCONNECT to a dead peer."""
    conn = connected_client(client_id="st-07", keep_alive_s=10)
    _publish_qos0_each_second(conn, 1, 10)  # the link dies silently after 9 s
    conn.handle_timeout(now=10.0)
    assert server_reads(conn, now=10.0) == [PingReq()]
    events = conn.handle_timeout(now=20.0)
    assert isinstance(events[-1], Disconnected)
    assert events[-1].reason_code == R.KEEP_ALIVE_TIMEOUT and not events[-1].by_peer
    assert "PINGRESP" in events[-1].detail
    assert conn.state is ClientState.CLOSED and conn.data_to_send(now=20.0) == b""


def test_publishes_wait_while_the_pingreq_is_overdue_and_leave_on_pingresp() -> None:
    """Nothing heard since a PINGREQ for twice the last round trip: the link is not known to
    be alive, so new messages wait (in order, QoS 0 too) for the server to be heard again,
    instead of going into a link that may be dead. Within that time they go at once."""
    conn = ClientConnection(client_id="st-07", keep_alive_s=10)
    conn.connect(now=0.0)
    server_reads(conn, now=0.0)
    server_sends(conn, ConnAck(), now=0.5)  # a round trip of 0.5 s
    conn.handle_timeout(now=10.0)
    assert server_reads(conn, now=10.0) == [PingReq()]
    conn.publish("st/p", b"early", now=10.8)  # the answer is not overdue yet
    assert server_reads(conn, now=10.8) == [Publish(topic="st/p", payload=b"early")]
    conn.publish("st/p", b"a", now=11.2)
    conn.publish("st/p", b"b", qos=1, now=11.4)
    conn.publish("st/p", b"c", now=11.6)
    assert conn.data_to_send(now=11.6) == b""
    assert server_sends(conn, PingResp(), now=12.0) == [PongReceived()]
    assert server_reads(conn, now=12.0) == [
        Publish(topic="st/p", payload=b"a"),
        Publish(topic="st/p", payload=b"b", qos=QoS.AT_LEAST_ONCE, packet_id=1),
        Publish(topic="st/p", payload=b"c"),
    ]
    conn.publish("st/p", b"d", now=12.5)  # heard from the server: at once again
    assert server_reads(conn, now=12.5) == [Publish(topic="st/p", payload=b"d")]


@pytest.mark.parametrize("end", ["keep-alive", "connection lost"])
def test_qos0_held_for_a_link_found_dead_is_reported_dropped(end: str) -> None:
    """QoS 0 never outlives the network connection it waited for: each such message is a
    PublishDropped, never silence. QoS 1/2 stay in the session for the next connection."""
    conn = connected_client(client_id="st-07", keep_alive_s=10)
    conn.handle_timeout(now=10.0)
    server_reads(conn, now=10.0)
    conn.publish("st/a", b"1", now=11.0)
    pid = conn.publish("st/b", b"2", qos=1, now=12.0)
    conn.publish("st/c", b"3", now=13.0)
    if end == "keep-alive":
        events = conn.handle_timeout(now=20.0)
    else:
        events = conn.connection_lost(now=15.0)
    dropped = only(events, PublishDropped)
    assert [(d.topic, d.packet_id) for d in dropped] == [("st/a", None), ("st/c", None)]
    assert all("QoS 0" in d.reason for d in dropped)
    assert isinstance(events[-1], Disconnected)
    assert [q.publish.packet_id for q in conn.session.queued] == [pid]
    assert conn.stats.publishes_dropped == 2


# -- pinging every Keep Alive, as paho-mqtt 2.x does ------------------------------------------
# paho-mqtt 2.2.0's _check_keepalive pings once now - _last_msg_out >= keepalive, and only a
# PINGREQ refreshes _last_msg_out (_packet_write returns from inside its loop before the line
# that would): it pings every Keep Alive however busy it is. ping_every_keep_alive does that.


def _publish_qos1_acked(conn: ClientConnection, period: float, end: float) -> list[float]:
    """Publish QoS 1 every ``period`` until ``end``, the server acknowledging each
    PUBLISH and answering each PINGREQ at once; returns when PINGREQs left."""
    pings: list[float] = []
    for step in range(1, round(end / period) + 1):
        now = step * period
        assert conn.handle_timeout(now=now) == []
        conn.publish("st/p", b"%d" % step, qos=1, now=now)
        for packet in server_reads(conn, now=now):
            if isinstance(packet, PingReq):
                pings.append(now)
                assert server_sends(conn, PingResp(), now=now) == [PongReceived()]
            else:
                assert isinstance(packet, Publish) and packet.packet_id is not None
                server_sends(conn, PubAck(packet_id=packet.packet_id), now=now)
    return pings


@pytest.mark.parametrize("every, expected", [(True, [10.0, 20.0, 30.0, 40.0]), (False, [])])
def test_pingreq_every_keep_alive_whatever_else_is_sent_and_received(
    every: bool, expected: list[float]
) -> None:
    """With the option the first PINGREQ leaves Keep Alive after CONNECT (not CONNACK),
    then Keep Alive after the previous one, though QoS 1 and its PUBACKs flow every
    Keep Alive / 10; without it, traffic keeps the connection alive and nothing pings."""
    conn = ClientConnection(client_id="st-07", keep_alive_s=10, ping_every_keep_alive=every)
    conn.connect(now=0.0)
    server_reads(conn, now=0.0)
    server_sends(conn, ConnAck(), now=0.5)
    assert _publish_qos1_acked(conn, 1.0, 40.0) == expected
    assert conn.stats.pings_sent == len(expected)
    assert not conn.session.outbound  # every PUBLISH was acknowledged


def test_pinging_every_keep_alive_gives_up_as_the_core_does() -> None:
    """No PINGRESP within Keep Alive of the PINGREQ closes the connection, as without it."""
    conn = connected_client(client_id="st-07", keep_alive_s=10, ping_every_keep_alive=True)
    for t in range(1, 10):
        conn.publish("st/p", b"x", now=float(t))
        server_reads(conn, now=float(t))
    assert conn.handle_timeout(now=10.0) == []
    assert server_reads(conn, now=10.0) == [PingReq()]
    assert conn.next_deadline() == 20.0
    events = conn.handle_timeout(now=20.0)
    assert isinstance(events[-1], Disconnected)
    assert events[-1].reason_code == R.KEEP_ALIVE_TIMEOUT and "PINGRESP" in events[-1].detail


# -- topic aliases ----------------------------------------------------------------------------


def test_outgoing_topic_aliases_first_use_then_empty_topic() -> None:
    """[MQTT-3.3.2-8] never 0, [MQTT-3.3.2-9] never over the server's maximum."""
    connack = ConnAck(properties=Properties(topic_alias_maximum=2))
    conn = connected_client(client_id="st-07", use_topic_aliases=True, connack=connack)
    for topic in ("a/long/topic", "a/long/topic", "b", "c", "a/long/topic"):
        conn.publish(topic, b"", now=1.0)
    wire = [(p.topic, p.properties.topic_alias) for p in server_reads(conn)]  # type: ignore[attr-defined]
    assert wire == [("a/long/topic", 1), ("", 1), ("b", 2), ("c", None), ("", 1)]


def test_resent_publish_carries_its_full_topic() -> None:
    """Aliases die with the connection [MQTT-3.3.2-7]; the session keeps the full topic."""
    connack = ConnAck(properties=Properties(topic_alias_maximum=5))
    conn = connected_client(
        client_id="st-07", clean_start=False, use_topic_aliases=True, connack=connack
    )
    conn.publish("t", b"1", qos=1, now=1.0)
    conn.publish("t", b"2", qos=1, now=1.0)
    assert [p.topic for p in server_reads(conn)] == ["t", ""]  # type: ignore[attr-defined]
    conn.connection_lost(now=2.0)
    conn.connect(now=3.0)
    server_reads(conn)
    server_sends(conn, ConnAck(session_present=True))  # this server allows no aliases
    assert [(p.topic, p.dup) for p in server_reads(conn)] == [("t", True), ("t", True)]  # type: ignore[attr-defined]


def test_no_aliases_unless_the_server_allows_them() -> None:
    conn = connected_client(client_id="st-07", use_topic_aliases=True)
    conn.publish("t", now=1.0)
    conn.publish("t", now=1.0)
    assert [p.topic for p in server_reads(conn)] == ["t", "t"]  # type: ignore[attr-defined]


def test_incoming_topic_alias_is_resolved() -> None:
    conn = connected_client(client_id="st-07", topic_alias_maximum=3)
    first = Publish(topic="pipe/p1", payload=b"1", properties=Properties(topic_alias=2))
    later = Publish(topic="", payload=b"2", properties=Properties(topic_alias=2))
    events = server_sends(conn, first, later)
    assert events == [
        MessageReceived(publish=Publish(topic="pipe/p1", payload=b"1")),
        MessageReceived(publish=Publish(topic="pipe/p1", payload=b"2")),
    ]


def test_incoming_topic_alias_over_our_maximum_closes_with_0x94() -> None:
    """[MQTT-3.3.2-10]: DISCONNECT 0x94 Topic Alias invalid."""
    conn = connected_client(client_id="st-07", topic_alias_maximum=3)
    events = server_sends(conn, Publish(topic="x", properties=Properties(topic_alias=4)))
    violation_and_close(events, R.TOPIC_ALIAS_INVALID)
    assert conn.data_to_send(now=1.0) == b"\xe0\x01\x94"


def test_incoming_alias_without_a_mapping_is_a_protocol_error() -> None:
    conn = connected_client(client_id="st-07", topic_alias_maximum=3)
    events = server_sends(conn, Publish(topic="", properties=Properties(topic_alias=1)))
    violation_and_close(events, R.PROTOCOL_ERROR)


def test_incoming_aliases_are_forgotten_between_connections() -> None:
    conn = connected_client(client_id="st-07", topic_alias_maximum=3)
    server_sends(conn, Publish(topic="x", properties=Properties(topic_alias=1)))
    conn.connection_lost(now=1.0)
    conn.connect(now=2.0)
    server_reads(conn)
    server_sends(conn, ConnAck())
    events = server_sends(conn, Publish(topic="", properties=Properties(topic_alias=1)))
    violation_and_close(events, R.PROTOCOL_ERROR)


def test_incoming_wildcard_topic_closes_with_0x90() -> None:
    conn = connected_client(client_id="st-07")
    violation_and_close(server_sends(conn, Publish(topic="a/+")), R.TOPIC_NAME_INVALID)


# -- subscribe, unsubscribe, disconnect, auth ----------------------------------------------------


def test_subscribe_and_suback() -> None:
    conn = connected_client(client_id="scada")
    pid = conn.subscribe(
        [("pipe/+/pressure", 1), Subscription(topic_filter="alarm/#", qos=QoS.EXACTLY_ONCE)],
        now=1.0,
    )
    assert server_reads(conn) == [
        Subscribe(
            packet_id=pid,
            subscriptions=(
                Subscription(topic_filter="pipe/+/pressure", qos=QoS.AT_LEAST_ONCE),
                Subscription(topic_filter="alarm/#", qos=QoS.EXACTLY_ONCE),
            ),
        )
    ]
    codes = (R.GRANTED_QOS_1, R.NOT_AUTHORIZED)
    assert server_sends(conn, SubAck(packet_id=pid, reason_codes=codes)) == [
        Subscribed(packet_id=pid, reason_codes=codes)
    ]
    assert not conn.session.packet_ids.in_use


def test_suback_with_wrong_number_of_codes_is_a_protocol_error() -> None:
    """[MQTT-3.9.3-1]: one reason code per filter."""
    conn = connected_client(client_id="scada")
    pid = conn.subscribe("a", now=1.0)
    events = server_sends(conn, SubAck(packet_id=pid, reason_codes=(R.GRANTED_QOS_0,) * 2))
    violation_and_close(events, R.PROTOCOL_ERROR)


def test_unsubscribe_v311_has_no_reason_codes() -> None:
    conn = connected_client(client_id="scada", version=V311)
    pid = conn.unsubscribe(["a/b", "c/#"], now=1.0)
    assert server_reads(conn) == [Unsubscribe(packet_id=pid, topic_filters=("a/b", "c/#"))]
    assert server_sends(conn, UnsubAck(packet_id=pid)) == [Unsubscribed(packet_id=pid)]


def test_invalid_topics_and_filters_are_refused_before_anything_is_queued() -> None:
    conn = connected_client(client_id="scada")
    with pytest.raises(TopicNameInvalid):
        conn.publish("a/#", qos=1, now=1.0)
    with pytest.raises(TopicFilterInvalid):
        conn.subscribe("a/#/b", now=1.0)
    with pytest.raises(LocalProtocolError, match="MQTT-3.8.3-4"):
        conn.subscribe(Subscription(topic_filter="$share/g/a", no_local=True), now=1.0)
    with pytest.raises(LocalProtocolError, match="QoS 3"):
        conn.publish("a", qos=3, now=1.0)
    assert server_reads(conn) == [] and not conn.session.packet_ids.in_use


def test_disconnect_closes_at_once_and_queues_the_packet() -> None:
    """Reason 0x04 asks the server to publish the will (§3.14.2.1)."""
    conn = connected_client(client_id="st-07")
    conn.disconnect(R.DISCONNECT_WITH_WILL_MESSAGE, now=1.0)
    assert conn.state is ClientState.CLOSED
    assert server_reads(conn) == [Disconnect(reason_code=R.DISCONNECT_WITH_WILL_MESSAGE)]
    assert server_sends(conn, PingResp()) == []  # bytes after close are ignored
    assert conn.connection_lost(now=2.0) == []


def test_disconnect_cannot_extend_a_session_that_ends_with_the_connection() -> None:
    """[MQTT-3.14.2-2]."""
    conn = connected_client(client_id="st-07")
    with pytest.raises(LocalProtocolError, match="MQTT-3.14.2-2"):
        conn.disconnect(properties=Properties(session_expiry_interval=60), now=1.0)


def test_v311_disconnect_has_no_reason_code() -> None:
    conn = connected_client(client_id="st-07", version=V311)
    with pytest.raises(LocalProtocolError):
        conn.disconnect(R.DISCONNECT_WITH_WILL_MESSAGE, now=1.0)
    conn.disconnect(now=1.0)
    assert conn.data_to_send(now=1.0) == b"\xe0\x00"


def test_server_disconnect_reports_reason_and_properties() -> None:
    conn = connected_client(client_id="st-07")
    props = Properties(server_reference="backup.example")
    events = server_sends(conn, Disconnect(reason_code=R.SERVER_MOVED, properties=props))
    assert len(events) == 1 and isinstance(events[0], Disconnected)
    assert (events[0].reason_code, events[0].by_peer, events[0].properties) == (
        R.SERVER_MOVED,
        True,
        props,
    )
    assert conn.state is ClientState.CLOSED


def test_auth_exchange_while_connecting() -> None:
    """Enhanced authentication (§4.12): AUTH keeps the client CONNECTING."""
    method = Properties(authentication_method="SCRAM-SHA-1", authentication_data=b"n,,")
    conn = ClientConnection(client_id="st-07", connect_properties=method)
    conn.connect(now=0.0)
    server_reads(conn)
    challenge = Properties(authentication_method="SCRAM-SHA-1", authentication_data=b"r=abc")
    events = server_sends(conn, Auth(reason_code=R.CONTINUE_AUTHENTICATION, properties=challenge))
    assert events[0].reason_code == R.CONTINUE_AUTHENTICATION  # type: ignore[attr-defined]
    assert conn.state is ClientState.CONNECTING
    conn.auth(R.CONTINUE_AUTHENTICATION, properties=method, now=1.0)
    assert server_reads(conn) == [Auth(reason_code=R.CONTINUE_AUTHENTICATION, properties=method)]
    v311 = connected_client(client_id="old", version=V311)
    with pytest.raises(LocalProtocolError, match="MQTT 5"):
        v311.auth(R.RE_AUTHENTICATE, properties=Properties(), now=1.0)


@pytest.mark.parametrize(
    ("state", "command"),
    [
        (ClientState.NEW, lambda c: c.subscribe("a", now=0.0)),
        (ClientState.NEW, lambda c: c.ping(now=0.0)),
        (ClientState.NEW, lambda c: c.disconnect(now=0.0)),
        (ClientState.CONNECTING, lambda c: c.connect(now=0.0)),
        (ClientState.CONNECTING, lambda c: c.unsubscribe("a", now=0.0)),
        (ClientState.CONNECTED, lambda c: c.connect(now=0.0)),
        (ClientState.CLOSED, lambda c: c.subscribe("a", now=0.0)),
        (ClientState.CLOSED, lambda c: c.disconnect(now=0.0)),
    ],
)
def test_commands_in_the_wrong_state_name_the_state(state: ClientState, command: object) -> None:
    conn = client_in(state, V5)
    with pytest.raises(LocalProtocolError) as error:
        command(conn)  # type: ignore[operator]
    message = str(error.value)
    assert state.name in message and "allowed only in" in message


# -- peer errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "wire"), [(V5, b"\xe0\x01\x81"), (V311, b"")])
def test_garbage_bytes_close_with_malformed_packet(version: ProtocolVersion, wire: bytes) -> None:
    """ProtocolViolation(0x81) + Disconnected; a DISCONNECT 0x81 on MQTT 5 only (§4.13)."""
    conn = connected_client(client_id="st-07", version=version)
    events = conn.receive_data(b"\x00\x00", now=1.0)
    violation_and_close(events, R.MALFORMED_PACKET)
    assert conn.state is ClientState.CLOSED
    assert conn.data_to_send(now=1.0) == wire


@pytest.mark.parametrize("version", [V5, V311])
def test_packets_over_1_mib_from_the_server_close_with_0x95_by_default(
    version: ProtocolVersion,
) -> None:
    """Unless told otherwise we accept 1 MiB, not the 256 MB the Remaining Length allows, and
    say so in an MQTT 5 CONNECT (§3.1.2.11.4); the check is made on the fixed header, before
    the body is buffered. MQTT 3.1.1 cannot announce it, but the limit holds all the same."""
    conn = ClientConnection(client_id="st-07", version=version)
    conn.connect(now=0.0)
    (connect,) = server_reads(conn)
    assert isinstance(connect, Connect)
    announced = connect.properties.maximum_packet_size
    assert announced == (DEFAULT_MAXIMUM_PACKET_SIZE if version is V5 else None)
    assert DEFAULT_MAXIMUM_PACKET_SIZE == 1024 * 1024
    server_sends(conn, ConnAck())
    just_fits = Publish(topic="t", payload=b"x" * (1024 * 1024 - 8))
    assert len(encode(just_fits, version)) <= 1024 * 1024
    assert only(conn.receive_data(encode(just_fits, version), now=1.0), MessageReceived)
    # PUBLISH, Remaining Length 1 MiB: over the limit whatever follows.
    events = conn.receive_data(b"\x30\x80\x80\x40\x00\x01t", now=2.0)
    violation_and_close(events, R.PACKET_TOO_LARGE)


def test_maximum_packet_size_is_configurable_up_to_the_protocol_limit() -> None:
    conn = ClientConnection(client_id="st-07", maximum_packet_size=268_435_460)
    conn.connect(now=0.0)
    (connect,) = server_reads(conn)
    assert isinstance(connect, Connect)
    assert connect.properties.maximum_packet_size == 268_435_460


def test_packet_over_our_maximum_size_closes_with_0x95() -> None:
    conn = connected_client(client_id="st-07", maximum_packet_size=32)
    events = server_sends(conn, Publish(topic="t", payload=b"x" * 64))
    violation_and_close(events, R.PACKET_TOO_LARGE)


def test_events_before_a_bad_packet_are_kept() -> None:
    conn = connected_client(client_id="st-07")
    good = Publish(topic="t", payload=b"ok")
    events = conn.receive_data(encode(good, V5), now=1.0) + conn.receive_data(b"\x30", now=1.0)
    # ... a PUBLISH whose 1-byte body cannot hold a topic length, split across two slices.
    events += conn.receive_data(b"\x01\x00", now=1.0)
    assert events[0] == MessageReceived(publish=good)
    violation_and_close(events, R.MALFORMED_PACKET)


def test_trace_records_packets_both_ways() -> None:
    conn = ClientConnection(client_id="st-07", trace=True)
    conn.connect(now=0.0)
    server_reads(conn, now=0.25)
    server_sends(conn, ConnAck(), now=0.5)
    assert conn.trace_log == [
        PacketSent(
            packet=Connect(client_id="st-07", properties=DEFAULT_V5),
            size=len(encode(Connect(client_id="st-07", properties=DEFAULT_V5), V5)),
            now=0.25,
        ),
        PacketReceived(packet=ConnAck(), size=len(encode(ConnAck(), V5)), now=0.5),
    ]
    assert conn.stats.packets_sent == 1 and conn.stats.packets_received == 1


# -- the transition table, exhausted ---------------------------------------------------------------


def client_in(state: ClientState, version: ProtocolVersion) -> ClientConnection:
    """A client brought to ``state`` by the ordinary route."""
    conn = ClientConnection(client_id="h", version=version)
    if state is ClientState.NEW:
        return conn
    conn.connect(now=0.0)
    server_reads(conn)
    if state is ClientState.CONNECTING:
        return conn
    server_sends(conn, ConnAck())
    if state is ClientState.CLOSED:
        conn.disconnect(now=0.0)
    server_reads(conn)
    assert conn.state is state
    return conn


def _valid_packets(version: ProtocolVersion) -> dict[PacketType, st.SearchStrategy[Packet]]:
    pids = st.integers(1, 0xFFFF)
    topics = st.sampled_from(["a", "pipe/p1/pressure", "$SYS/x", "/"])
    qos = st.sampled_from(list(QoS))
    publish = st.builds(
        lambda topic, q, pid, payload: Publish(
            topic=topic, qos=q, packet_id=None if q == 0 else pid, payload=payload
        ),
        topics,
        qos,
        pids,
        st.binary(max_size=8),
    )
    v5 = version is V5
    return {
        PacketType.CONNECT: st.just(Connect(version=version, client_id="x")),
        PacketType.CONNACK: st.sampled_from([ConnAck(), ConnAck(reason_code=R.NOT_AUTHORIZED)]),
        PacketType.PUBLISH: publish,
        PacketType.PUBACK: st.builds(PubAck, packet_id=pids),
        PacketType.PUBREC: st.builds(PubRec, packet_id=pids),
        PacketType.PUBREL: st.builds(PubRel, packet_id=pids),
        PacketType.PUBCOMP: st.builds(PubComp, packet_id=pids),
        PacketType.SUBSCRIBE: st.builds(
            Subscribe, packet_id=pids, subscriptions=st.just((Subscription(topic_filter="a"),))
        ),
        PacketType.SUBACK: st.builds(
            SubAck, packet_id=pids, reason_codes=st.just((R.GRANTED_QOS_0,))
        ),
        PacketType.UNSUBSCRIBE: st.builds(
            Unsubscribe, packet_id=pids, topic_filters=st.just(("a",))
        ),
        PacketType.UNSUBACK: st.builds(
            UnsubAck, packet_id=pids, reason_codes=st.just((R.SUCCESS,) if v5 else ())
        ),
        PacketType.PINGREQ: st.just(PingReq()),
        PacketType.PINGRESP: st.just(PingResp()),
        PacketType.DISCONNECT: st.just(Disconnect()),
        PacketType.AUTH: st.just(Auth(reason_code=R.CONTINUE_AUTHENTICATION)),
    }


def _wire(packet: Packet, version: ProtocolVersion) -> bytes:
    if isinstance(packet, Auth) and version is not V5:
        return b"\xf0\x00"  # type 15 is reserved in 3.1.1; our encoder rightly refuses it
    return encode(packet, version)


def _check_transition(conn: ClientConnection, packet: Packet, version: ProtocolVersion) -> None:
    before = conn.state
    events = conn.receive_data(_wire(packet, version), now=1.0)  # must never raise
    legal = CLIENT_TRANSITIONS.get((before, packet.packet_type))
    if packet.packet_type is PacketType.AUTH and version is not V5:
        legal = None
    if before is ClientState.CLOSED:
        assert events == [] and conn.state is ClientState.CLOSED
    elif legal is None:
        assert conn.state is ClientState.CLOSED
        assert any(isinstance(e, ProtocolViolation) for e in events), events
        assert isinstance(events[-1], Disconnected)
    else:
        assert not any(isinstance(e, ProtocolViolation) for e in events), events
        # The table says where a packet may lead; a guard (a refusing CONNACK,
        # a DISCONNECT) may close instead, and says so with Disconnected.
        assert conn.state is legal or (
            conn.state is ClientState.CLOSED and isinstance(events[-1], Disconnected)
        )


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    state=st.sampled_from(list(ClientState)),
    packet_type=st.sampled_from(list(PacketType)),
    version=st.sampled_from([V311, V5]),
    data=st.data(),
)
def test_every_state_and_packet_type_follows_the_table_or_closes(
    state: ClientState, packet_type: PacketType, version: ProtocolVersion, data: st.DataObject
) -> None:
    """Legal transition, or ProtocolViolation and CLOSED; never an exception (as h2 tests)."""
    packet = data.draw(_valid_packets(version)[packet_type])
    _check_transition(client_in(state, version), packet, version)


@pytest.mark.parametrize("version", [V311, V5])
@pytest.mark.parametrize("packet_type", list(PacketType))
@pytest.mark.parametrize("state", list(ClientState))
def test_transition_table_exhaustively(
    state: ClientState, packet_type: PacketType, version: ProtocolVersion
) -> None:
    """The same invariant for every one of the 4 x 15 x 2 cells, one canonical packet each."""
    _check_transition(client_in(state, version), _canonical(version)[packet_type], version)


def _canonical(version: ProtocolVersion) -> dict[PacketType, Packet]:
    return {
        PacketType.CONNECT: Connect(version=version, client_id="x"),
        PacketType.CONNACK: ConnAck(),
        PacketType.PUBLISH: Publish(topic="a", qos=QoS.AT_LEAST_ONCE, packet_id=1),
        PacketType.PUBACK: PubAck(packet_id=1),
        PacketType.PUBREC: PubRec(packet_id=1),
        PacketType.PUBREL: PubRel(packet_id=1),
        PacketType.PUBCOMP: PubComp(packet_id=1),
        PacketType.SUBSCRIBE: Subscribe(
            packet_id=1, subscriptions=(Subscription(topic_filter="a"),)
        ),
        PacketType.SUBACK: SubAck(packet_id=1, reason_codes=(R.GRANTED_QOS_0,)),
        PacketType.UNSUBSCRIBE: Unsubscribe(packet_id=1, topic_filters=("a",)),
        PacketType.UNSUBACK: UnsubAck(
            packet_id=1, reason_codes=(R.SUCCESS,) if version is V5 else ()
        ),
        PacketType.PINGREQ: PingReq(),
        PacketType.PINGRESP: PingResp(),
        PacketType.DISCONNECT: Disconnect(),
        PacketType.AUTH: Auth(reason_code=R.CONTINUE_AUTHENTICATION),
    }
