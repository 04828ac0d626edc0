"""paho-mqtt 2.x, the most used Python client, against our broker on real sockets.

Each test runs with MQTT 3.1.1 and MQTT 5 clients unless the feature is
MQTT 5 only. The broker, the clients and every socket stay on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mqttsim.aio.background import BackgroundBroker

from .conftest import (
    PahoClient,
    SocketTable,
    TlsBroker,
    advance_clock,
    publish_properties,
    user_properties,
    wait_for,
    watch_sockets,
)

pytest.importorskip("paho.mqtt.client")

pytestmark = pytest.mark.interop

Paho = Callable[..., PahoClient]
VERSIONS = [pytest.param(4, id="v311"), pytest.param(5, id="v5")]


@pytest.fixture
def sockets(broker: BackgroundBroker) -> SocketTable:
    """The broker's open sockets, watched (see ``wait_closed``)."""
    return watch_sockets(broker)


def wait_closed(client: PahoClient, sockets: SocketTable) -> None:
    """Disconnect ``client`` and wait until the broker has dropped its socket,
    so that what follows happens while the client is really offline."""
    before = len(sockets)
    client.close()
    wait_for(lambda: len(sockets) == before - 1, what="the broker to drop the socket")


def persistent(version: int, client_id: str) -> dict[str, object]:
    """Options for a client whose session outlives its connection."""
    if version == 5:
        return {"version": 5, "client_id": client_id, "clean": False, "session_expiry_s": 300}
    return {"version": 4, "client_id": client_id, "clean": False}


# -- QoS ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("pub_qos", [0, 1, 2])
@pytest.mark.parametrize("sub_qos", [0, 1, 2])
def test_message_is_delivered_at_the_lower_of_published_and_granted_qos(
    broker: BackgroundBroker, paho: Paho, version: int, pub_qos: int, sub_qos: int
) -> None:
    sub = paho(broker.port, version=version)
    pub = paho(broker.port, version=version)
    granted = sub.subscribe("plant/+/pressure", qos=sub_qos)
    assert [int(g.value) for g in granted] == [sub_qos]

    pub.publish("plant/st-07/pressure", b"\x00\x01 bar", qos=pub_qos)

    message = sub.get()
    assert message.topic == "plant/st-07/pressure"
    assert message.payload == b"\x00\x01 bar"
    assert message.qos == min(pub_qos, sub_qos)  # [MQTT-3.8.4-8]
    assert not message.retain
    assert sub.drain() == []  # exactly once, whatever the QoS on this clean link


@pytest.mark.parametrize("version", VERSIONS)
def test_many_messages_at_qos_2_arrive_once_and_in_order(
    broker: BackgroundBroker, paho: Paho, version: int
) -> None:
    sub = paho(broker.port, version=version)
    pub = paho(broker.port, version=version)
    sub.subscribe("seq", qos=2)
    for i in range(50):
        pub.client.publish("seq", str(i).encode(), qos=2)
    pub.publish("seq", b"end", qos=2)
    payloads = [sub.get().payload for _ in range(51)]
    assert payloads == [str(i).encode() for i in range(50)] + [b"end"]
    assert sub.drain() == []


# -- retained messages ----------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_retained_message_is_sent_on_subscribe_and_cleared_by_an_empty_payload(
    broker: BackgroundBroker, paho: Paho, version: int
) -> None:
    live = paho(broker.port, version=version)
    live.subscribe("valve/#", qos=1)
    pub = paho(broker.port, version=version)

    pub.publish("valve/12/state", b"closed", qos=1, retain=True)
    now = live.get()
    # A message sent to a subscription that already existed carries RETAIN 0
    # [MQTT-3.3.1-9] (MQTT 5: unless Retain As Published).
    assert (now.topic, now.payload, now.retain) == ("valve/12/state", b"closed", False)

    late = paho(broker.port, version=version)
    late.subscribe("valve/+/state", qos=1)
    kept = late.get()
    assert (kept.topic, kept.payload, kept.qos) == ("valve/12/state", b"closed", 1)
    assert kept.retain  # [MQTT-3.3.1-8]

    pub.publish("valve/12/state", b"", qos=1, retain=True)  # clears it [MQTT-3.3.1-10]
    assert live.get().payload == b""
    later = paho(broker.port, version=version)
    later.subscribe("valve/+/state", qos=1)
    assert later.drain() == []


# -- wills ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_will_is_published_when_the_connection_drops_without_disconnect(
    broker: BackgroundBroker, paho: Paho, version: int
) -> None:
    watcher = paho(broker.port, version=version)
    watcher.subscribe("station/+/status", qos=1)
    station = paho(
        broker.port,
        version=version,
        client_id="st-07",
        will=("station/st-07/status", b"offline", 1),
    )

    station.abort()

    will = watcher.get()
    assert (will.topic, will.payload, will.qos) == ("station/st-07/status", b"offline", 1)


@pytest.mark.parametrize("version", VERSIONS)
def test_will_is_discarded_on_a_normal_disconnect(
    broker: BackgroundBroker, sockets: SocketTable, paho: Paho, version: int
) -> None:
    watcher = paho(broker.port, version=version)
    watcher.subscribe("station/+/status", qos=1)
    station = paho(
        broker.port,
        version=version,
        client_id="st-08",
        will=("station/st-08/status", b"offline", 1),
    )

    wait_closed(station, sockets)  # DISCONNECT 0x00 discards the will [MQTT-3.14.4-3]

    assert watcher.drain() == []


# -- persistent sessions --------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_persistent_session_keeps_messages_published_while_offline(
    broker: BackgroundBroker, sockets: SocketTable, paho: Paho, version: int
) -> None:
    scada = paho(broker.port, **persistent(version, "scada"))
    scada.subscribe("alarm/#", qos=1)
    wait_closed(scada, sockets)
    pub = paho(broker.port, version=version)

    for i in range(10):
        pub.publish(f"alarm/{i}", f"high {i}".encode(), qos=1)

    again = paho(broker.port, **persistent(version, "scada"))
    assert again.session_present  # [MQTT-3.2.2-2]
    received = [again.get() for _ in range(10)]
    assert [(m.topic, m.payload, m.qos) for m in received] == [
        (f"alarm/{i}", f"high {i}".encode(), 1) for i in range(10)
    ]
    assert again.drain() == []


@pytest.mark.parametrize("version", VERSIONS)
def test_clean_session_discards_what_was_queued(
    broker: BackgroundBroker, sockets: SocketTable, paho: Paho, version: int
) -> None:
    scada = paho(broker.port, **persistent(version, "scada"))
    scada.subscribe("alarm/#", qos=1)
    wait_closed(scada, sockets)
    pub = paho(broker.port, version=version)
    pub.publish("alarm/1", b"high", qos=1)

    fresh = paho(broker.port, version=version, client_id="scada", clean=True)
    assert not fresh.session_present
    assert fresh.drain() == []


# -- MQTT 5 features ------------------------------------------------------------------------


def test_shared_subscription_gives_each_message_to_exactly_one_member(
    broker: BackgroundBroker, paho: Paho
) -> None:
    workers = [paho(broker.port, version=5, client_id=f"worker-{i}") for i in range(2)]
    for worker in workers:
        worker.subscribe("$share/g/jobs", qos=1)
    pub = paho(broker.port, version=5)

    for i in range(20):
        pub.publish("jobs", f"job {i}".encode(), qos=1)

    got = [[m.payload for m in worker.drain()] for worker in workers]
    everything = got[0] + got[1]
    assert sorted(everything) == sorted(f"job {i}".encode() for i in range(20))  # §4.8.2
    # Our broker deals round-robin among connected members (a policy, not a rule).
    assert got[0] and got[1]


def test_message_expiry_interval_sent_on_is_what_remains(
    broker: BackgroundBroker, sockets: SocketTable, paho: Paho
) -> None:
    scada = paho(broker.port, **persistent(5, "scada"))
    scada.subscribe("telemetry/#", qos=1)
    wait_closed(scada, sockets)
    pub = paho(broker.port, version=5)
    pub.publish(
        "telemetry/flow", b"42", qos=1, properties=publish_properties(MessageExpiryInterval=60)
    )
    advance_clock(broker, 15)  # 15 s offline

    again = paho(broker.port, **persistent(5, "scada"))
    message = again.get()
    assert message.payload == b"42"
    # The receiver gets the time left, not the time first given [MQTT-3.3.2-6].
    assert 0 < message.properties.MessageExpiryInterval <= 45


def test_message_that_expired_while_offline_is_not_delivered(
    broker: BackgroundBroker, sockets: SocketTable, paho: Paho
) -> None:
    scada = paho(broker.port, **persistent(5, "scada"))
    scada.subscribe("telemetry/#", qos=1)
    wait_closed(scada, sockets)
    pub = paho(broker.port, version=5)
    pub.publish(
        "telemetry/flow", b"stale", qos=1, properties=publish_properties(MessageExpiryInterval=1)
    )
    pub.publish(
        "telemetry/flow", b"fresh", qos=1, properties=publish_properties(MessageExpiryInterval=3600)
    )
    pub.publish("telemetry/flow", b"forever", qos=1)
    advance_clock(broker, 10)

    again = paho(broker.port, **persistent(5, "scada"))
    # [MQTT-3.3.2-5]: an expired message is not sent on.
    assert [m.payload for m in again.drain()] == [b"fresh", b"forever"]


@pytest.mark.parametrize("sub_version", VERSIONS)
def test_topic_alias_from_a_publisher_is_resolved_for_subscribers(
    broker: BackgroundBroker, paho: Paho, sub_version: int
) -> None:
    sub = paho(broker.port, version=sub_version)
    sub.subscribe("pipeline/#", qos=1)
    pub = paho(broker.port, version=5)

    pub.publish(
        "pipeline/st-03/temperature", b"first", qos=1, properties=publish_properties(TopicAlias=1)
    )
    pub.publish("", b"second", qos=1, properties=publish_properties(TopicAlias=1))

    got = [(m.topic, m.payload) for m in sub.drain()]
    assert got == [
        ("pipeline/st-03/temperature", b"first"),
        ("pipeline/st-03/temperature", b"second"),
    ]  # [MQTT-3.3.2-12]


def test_user_properties_are_forwarded_unchanged_and_in_order(
    broker: BackgroundBroker, paho: Paho
) -> None:
    sub = paho(broker.port, version=5)
    sub.subscribe("props", qos=1)
    pub = paho(broker.port, version=5)
    pairs = [("unit", "bar"), ("station", "st-07"), ("unit", "psi"), ("ünï", "çødé")]

    pub.publish("props", b"1.2", qos=1, properties=user_properties(*pairs))

    message = sub.get()
    assert message.properties.UserProperty == pairs  # [MQTT-3.3.2-17][MQTT-3.3.2-18]


def test_user_properties_are_not_sent_to_a_311_subscriber(
    broker: BackgroundBroker, paho: Paho
) -> None:
    sub = paho(broker.port, version=4)
    sub.subscribe("props", qos=1)
    pub = paho(broker.port, version=5)
    pub.publish("props", b"1.2", qos=1, properties=user_properties(("a", "b")))
    message = sub.get()
    assert message.payload == b"1.2"
    assert not hasattr(message, "properties") or message.properties is None


# -- other transports -----------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_websocket_client_round_trip_at_qos_1(
    ws_broker: BackgroundBroker, paho: Paho, version: int
) -> None:
    web = paho(ws_broker.ports["ws"], version=version, transport="websockets")
    tcp = paho(ws_broker.ports["tcp"], version=version)
    web.subscribe("ws/down", qos=1)
    tcp.subscribe("ws/up", qos=1)

    tcp.publish("ws/down", b"to the browser", qos=1)
    web.publish("ws/up", b"from the browser", qos=1)

    down, up = web.get(), tcp.get()
    assert (down.topic, down.payload, down.qos) == ("ws/down", b"to the browser", 1)
    assert (up.topic, up.payload, up.qos) == ("ws/up", b"from the browser", 1)


@pytest.mark.parametrize("version", VERSIONS)
def test_tls_client_round_trip_at_qos_1(tls_broker: TlsBroker, paho: Paho, version: int) -> None:
    secure = paho(tls_broker.tls_port, version=version, ca_pem=tls_broker.ca_pem)
    plain = paho(tls_broker.tcp_port, version=version)
    secure.subscribe("tls/#", qos=1)

    plain.publish("tls/x", b"over TLS", qos=1)

    message = secure.get()
    assert (message.topic, message.payload, message.qos) == ("tls/x", b"over TLS", 1)
