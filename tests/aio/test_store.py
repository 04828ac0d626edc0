"""SQLite persistence: a broker rebuilt from its store resumes sessions and
retained messages, and nothing acknowledged is lost."""

from __future__ import annotations

from pathlib import Path

from mqttsim.aio.store import SqliteStore, session_from_json, session_to_json
from mqttsim.protocol.broker import Broker
from mqttsim.protocol.enums import ProtocolVersion, QoS
from mqttsim.protocol.events import PublishAcked, PublishCompleted
from mqttsim.protocol.packets import Publish, Subscription
from mqttsim.protocol.properties import Properties
from mqttsim.protocol.session import (
    InflightMessage,
    OutboundState,
    QueuedMessage,
    Session,
    SubscriptionRecord,
)

from ..protocol.harness import Net

V5 = ProtocolVersion.V5


def test_session_json_round_trip_keeps_every_field() -> None:
    session = Session(client_id="st-01", expiry_interval_s=3600, disconnected_at=12.5)
    pub = Publish(
        topic="a",
        payload=b"\x00\xff",
        qos=QoS.EXACTLY_ONCE,
        packet_id=7,
        properties=Properties(user_properties=(("k", "v"),)),
    )
    session.outbound[7] = InflightMessage(
        publish=pub, state=OutboundState.AWAITING_PUBCOMP, expires_at=99.0
    )
    session.packet_ids.claim(7)
    session.inbound_qos2 = {3, 4}
    queued = Publish(topic="b", payload=b"q", qos=QoS.AT_LEAST_ONCE, packet_id=8)
    session.queued.append(QueuedMessage(publish=queued, expires_at=None))
    session.packet_ids.claim(8)
    session.subscriptions["a/#"] = SubscriptionRecord(
        subscription=Subscription(topic_filter="a/#", qos=QoS(1), no_local=True), identifier=5
    )
    assert session_from_json("st-01", session_to_json(session)) == session


def _restart(path: Path, net: Net) -> Net:
    """The broker process dies and starts again from its file; the clients
    (other processes) live on and see their connections drop."""
    net.broker.store.close()  # type: ignore[union-attr]
    fresh = Net(Broker(store=SqliteStore(path), now=net.now), now=net.now)
    for name, link in net.links.items():
        link.conn = None
        link.events += link.client.connection_lost(now=net.now)
        fresh.links[name] = link
    return fresh


def test_queued_messages_and_retained_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "broker.db"
    net = Net(Broker(store=SqliteStore(path)))
    net.connect("scada", version=V5, clean_start=False, session_expiry_interval_s=3600)
    net.links["scada"].client.subscribe("pipeline/#", qos=2, now=0)
    net.pump()
    net.cut("scada")
    net.connect("st-01", version=V5)
    st = net.links["st-01"].client
    st.publish("pipeline/st-01/pressure", b"61", qos=1, now=0)
    st.publish("pipeline/st-01/alarm", b"LEAK", qos=2, now=0)
    st.publish("pipeline/st-01/last", b"60", qos=1, retain=True, now=0)
    net.pump()
    assert len(net.events("st-01", PublishAcked)) == 2
    assert len(net.events("st-01", PublishCompleted)) == 1

    net = _restart(path, net)
    net.reconnect("scada", clean_start=False)
    assert net.connected("scada").session_present
    assert sorted(net.payloads("scada")) == [b"60", b"61", b"LEAK"]
    net.connect("late", version=V5)
    net.links["late"].client.subscribe("pipeline/+/last", now=0)
    net.pump()
    assert net.payloads("late") == [b"60"]


def test_a_half_finished_qos2_exchange_completes_exactly_once_after_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "broker.db"
    net = Net(Broker(store=SqliteStore(path)))
    net.connect("scada", version=V5, clean_start=False, session_expiry_interval_s=3600)
    net.links["scada"].client.subscribe("a", qos=2, now=0)
    net.pump()
    net.connect("st", version=V5, clean_start=False, session_expiry_interval_s=3600)
    net.links["st"].client.publish("a", b"once", qos=2, now=0)
    net.to_broker("st")  # broker has it and answered PUBREC (lost in the crash)
    net.to_client("scada")  # scada received it; its PUBREC is lost too

    net = _restart(path, net)
    net.reconnect("st", clean_start=False)
    net.reconnect("scada", clean_start=False)
    net.pump()
    assert net.payloads("scada") == [b"once"]
    assert len(net.events("st", PublishCompleted)) == 1
    assert not net.broker.sessions["st"].inbound_qos2
    assert not net.broker.sessions["scada"].outbound
