"""Sessions on the broker: offline queues, clean vs persistent, expiry,
take-over and client identifier assignment."""

from __future__ import annotations

import pytest

from mqttsim.protocol.broker import BrokerConfig
from mqttsim.protocol.enums import ProtocolVersion, ReasonCode
from mqttsim.protocol.events import ConnectionRefused, Disconnected, MessageDropped
from mqttsim.protocol.packets import ConnAck, Connect

from .harness import Net, RawClient

V311, V5 = ProtocolVersion.V311, ProtocolVersion.V5
PERSISTENT = {
    V311: {"clean_start": False},
    V5: {"clean_start": False, "session_expiry_interval_s": 3600},
}
CLEAN = {V311: {"clean_start": True}, V5: {"clean_start": True}}


def offline_subscriber(net: Net, version: ProtocolVersion, session: dict[str, object]) -> None:
    net.connect("sub", version=version, **session)
    net.links["sub"].client.subscribe("pipeline/#", qos=1, now=net.now)
    net.pump()
    net.links["sub"].client.disconnect(now=net.now)
    net.pump()


@pytest.mark.parametrize("version", [V311, V5])
def test_messages_for_an_offline_persistent_session_arrive_on_reconnect(
    version: ProtocolVersion,
) -> None:
    net = Net()
    offline_subscriber(net, version, PERSISTENT[version])
    net.connect("pub", version=version)
    for n in range(3):
        net.links["pub"].client.publish("pipeline/a", b"q%d" % n, qos=1, now=net.now)
    net.links["pub"].client.publish("pipeline/a", b"qos0", qos=0, now=net.now)
    net.pump()
    assert net.payloads("sub") == []
    net.advance(60)
    events = net.reconnect("sub", clean_start=False)
    assert net.connected("sub").session_present
    # QoS 1 messages were kept in order; QoS 0 was not kept for an absent client.
    assert net.payloads("sub") == [b"q0", b"q1", b"q2"]
    assert net.broker.stats.dropped["qos0-offline"] == 1
    assert events
    # Counted and told: the driver gets an event it can log.
    dropped = [e for e in net.broker_events if isinstance(e, MessageDropped)]
    assert [(e.client_id, e.topic, e.reason) for e in dropped] == [
        ("sub", "pipeline/a", "qos0-offline")
    ]


def test_a_clean_start_that_discards_a_queue_says_so() -> None:
    # Not "session-expired": nothing expired, the client asked for a new session.
    net = Net()
    offline_subscriber(net, V5, PERSISTENT[V5])
    net.connect("pub", version=V5)
    for n in range(2):
        net.links["pub"].client.publish("pipeline/a", b"q%d" % n, qos=1, now=net.now)
    net.pump()
    net.reconnect("sub", clean_start=True)
    assert not net.connected("sub").session_present
    assert net.broker.stats.dropped["session-discarded"] == 2
    assert net.broker.stats.dropped["session-expired"] == 0


@pytest.mark.parametrize("version", [V311, V5])
def test_messages_for_a_clean_session_are_dropped_when_it_disconnects(
    version: ProtocolVersion,
) -> None:
    net = Net()
    offline_subscriber(net, version, CLEAN[version])
    assert "sub" not in net.broker.sessions
    net.connect("pub", version=version)
    net.links["pub"].client.publish("pipeline/a", b"lost", qos=1, now=net.now)
    net.pump()
    net.reconnect("sub", clean_start=False)
    assert not net.connected("sub").session_present
    assert net.payloads("sub") == []


def test_offline_queue_is_bounded_and_overflow_is_reported() -> None:
    net = Net(config=BrokerConfig(max_queued_messages=2))
    offline_subscriber(net, V5, PERSISTENT[V5])
    net.connect("pub", version=V5)
    for n in range(4):
        net.links["pub"].client.publish("pipeline/a", b"%d" % n, qos=1, now=net.now)
    net.pump()
    dropped = [e for e in net.broker_events if isinstance(e, MessageDropped)]
    assert [(e.client_id, e.reason) for e in dropped] == [("sub", "queue-full")] * 2
    assert net.broker.stats.dropped["queue-full"] == 2
    net.reconnect("sub", clean_start=False)
    assert net.payloads("sub") == [b"0", b"1"]


def test_session_expires_after_its_interval() -> None:
    # MQTT 5 §3.1.2.11.2: the session is discarded Session Expiry Interval
    # seconds after the connection closes.
    net = Net()
    net.connect("sub", version=V5, clean_start=False, session_expiry_interval_s=30)
    net.links["sub"].client.subscribe("a", qos=1, now=net.now)
    net.pump()
    net.cut("sub")
    net.advance(29.9)
    assert "sub" in net.broker.sessions
    net.advance(0.2)
    assert "sub" not in net.broker.sessions
    net.reconnect("sub", clean_start=False)
    assert not net.connected("sub").session_present


def test_session_expiry_can_be_changed_on_disconnect() -> None:
    net = Net()
    net.connect("sub", version=V5, clean_start=False, session_expiry_interval_s=3600)
    from mqttsim.protocol.properties import Properties

    net.links["sub"].client.disconnect(
        properties=Properties(session_expiry_interval=0), now=net.now
    )
    net.pump()
    assert "sub" not in net.broker.sessions


def test_a_second_connection_with_the_same_client_id_takes_the_session_over() -> None:
    # [MQTT-3.1.4-3]: the existing connection is closed (5.0: DISCONNECT 0x8E).
    net = Net()
    net.connect(
        "first",
        version=V5,
        client_id="station-7",
        clean_start=False,
        session_expiry_interval_s=3600,
    )
    net.links["first"].client.subscribe("cmd/station-7", qos=1, now=net.now)
    net.pump()
    net.connect(
        "second",
        version=V5,
        client_id="station-7",
        clean_start=False,
        session_expiry_interval_s=3600,
    )
    [gone] = net.disconnected("first")
    assert gone.reason_code == ReasonCode.SESSION_TAKEN_OVER and gone.by_peer
    assert net.connected("second").session_present
    net.connect("host", version=V5)
    net.links["host"].client.publish("cmd/station-7", b"close valve", qos=1, now=net.now)
    net.pump()
    assert net.payloads("second") == [b"close valve"]
    assert net.payloads("first") == []


def test_an_empty_client_id_gets_one_assigned() -> None:
    # [MQTT-3.1.3-6], returned in Assigned Client Identifier (5.0 §3.2.2.3.7).
    net = Net()
    net.connect("anon", version=V5, client_id="")
    connected = net.connected("anon")
    assert connected.client_id.startswith("mqttsim-")
    assert connected.properties.assigned_client_identifier == connected.client_id


def test_an_empty_client_id_with_a_persistent_session_is_refused_in_311() -> None:
    # [MQTT-3.1.3-8]: CONNACK return code 2 (identifier rejected).
    net = Net()
    raw = RawClient(net.broker, V311)
    answer = raw.send(Connect(version=V311, client_id="", clean_start=False))
    assert answer == [ConnAck(reason_code=ReasonCode.CLIENT_IDENTIFIER_NOT_VALID)]
    assert raw.conn.is_closed


def test_a_refused_client_leaves_no_session_behind() -> None:
    class NoOne:
        def authenticate(
            self, client_id: str, username: str | None, password: bytes | None
        ) -> ReasonCode:
            return ReasonCode.BAD_USER_NAME_OR_PASSWORD

    net = Net(authenticator=NoOne())
    net.connect("x", version=V5, username="u", password=b"p")
    [refused] = net.events("x", ConnectionRefused)
    assert refused.reason_code == ReasonCode.BAD_USER_NAME_OR_PASSWORD
    assert not net.broker.sessions and not net.broker.connections
    assert isinstance(net.disconnected("x")[-1], Disconnected)
