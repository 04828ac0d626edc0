"""Our asyncio client against our broker and against a real mosquitto."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import pytest

from mqttsim.aio.client import AsyncClient
from mqttsim.aio.server import BrokerServer, Listener
from mqttsim.protocol.codec import StreamDecoder, encode
from mqttsim.protocol.enums import ProtocolVersion, QoS, ReasonCode
from mqttsim.protocol.errors import ConnectFailed, PublishFailed, SubscribeFailed
from mqttsim.protocol.events import PublishAcked, PublishCompleted
from mqttsim.protocol.packets import (
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    Will,
)
from mqttsim.protocol.properties import Properties

from .mosquitto import MOSQUITTO, start_mosquitto

V311, V5 = ProtocolVersion.V311, ProtocolVersion.V5
Scenario = Callable[[str, int], Awaitable[None]]


def run_against_ours(scenario: Scenario, **server_kwargs: object) -> None:
    async def main() -> None:
        async with BrokerServer([Listener(kind="tcp", port=0)], **server_kwargs) as server:
            await asyncio.wait_for(scenario("127.0.0.1", server.ports["tcp"]), 20)

    asyncio.run(main())


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real mosquitto on a free loopback port, started and stopped here."""
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (.ci/run installs it)")
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = tmp_path_factory.mktemp("mosquitto") / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\n"
        "persistence false\nlog_type all\nlog_dest stderr\n"
    )
    proc = start_mosquitto(conf)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def run_against_mosquitto(port: int, scenario: Scenario) -> None:
    asyncio.run(asyncio.wait_for(scenario("127.0.0.1", port), 20))


# -- scenarios, each run against both brokers ------------------------------------------


async def qos_round_trips(host: str, port: int) -> None:
    for version in (V311, V5):
        async with (
            AsyncClient(host, port, client_id=f"sub-{version}", version=version) as sub,
            AsyncClient(host, port, client_id=f"pub-{version}", version=version) as pub,
        ):
            granted = await sub.subscribe(f"rt/{version}/#", qos=2)
            assert granted == (ReasonCode.GRANTED_QOS_2,)
            results = [
                await pub.publish(f"rt/{version}/q{q}", b"m%d" % q, qos=q) for q in (0, 1, 2)
            ]
            assert results[0] is None
            assert isinstance(results[1], PublishAcked)
            assert isinstance(results[2], PublishCompleted)
            got: list[Publish] = []
            async for message in sub.messages():
                got.append(message)
                if len(got) == 3:
                    break
            assert [(m.topic, m.payload, m.qos) for m in got] == [
                (f"rt/{version}/q{q}", b"m%d" % q, q) for q in (0, 1, 2)
            ]


async def retained_and_will(host: str, port: int) -> None:
    async with AsyncClient(host, port, client_id="retainer") as pub:
        await pub.publish("status/st-01", b"online", qos=1, retain=True)
    station = AsyncClient(
        host,
        port,
        client_id="st-01",
        will=Will(topic="status/st-01", payload=b"lost", qos=QoS(1), retain=True),
    )
    await station.connect()
    async with AsyncClient(host, port, client_id="watcher") as watcher:
        await watcher.subscribe("status/#", qos=1)
        messages = watcher.messages()
        first = await anext(messages)
        assert (first.payload, first.retain) == (b"online", True)
        await station.close()  # no DISCONNECT: the broker must send the will
        will = await anext(messages)
        assert (will.topic, will.payload) == ("status/st-01", b"lost")


async def offline_queue(host: str, port: int) -> None:
    options = {"client_id": "scada", "clean_start": False, "session_expiry_interval_s": 600}
    async with AsyncClient(host, port, **options) as scada:
        await scada.subscribe("pipe/#", qos=1)
    async with AsyncClient(host, port, client_id="st") as st:
        for n in range(5):
            await st.publish("pipe/p", b"%d" % n, qos=1)
    async with AsyncClient(host, port, **options) as scada:
        received = []
        async for message in scada.messages():
            received.append(message.payload)
            if len(received) == 5:
                break
        assert received == [b"0", b"1", b"2", b"3", b"4"]


async def shared_subscription(host: str, port: int) -> None:
    async with (
        AsyncClient(host, port, client_id="w1") as w1,
        AsyncClient(host, port, client_id="w2") as w2,
        AsyncClient(host, port, client_id="feeder") as feeder,
    ):
        for worker in (w1, w2):
            await worker.subscribe("$share/scada/jobs/#", qos=1)
        for n in range(6):
            await feeder.publish(f"jobs/{n}", b"%d" % n, qos=1)
        got: list[bytes] = []
        for _ in range(6):  # each message goes to exactly one member of the group
            done, _pending = await asyncio.wait(
                [asyncio.ensure_future(anext(w.messages())) for w in (w1, w2)],
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task in _pending:
                task.cancel()
            got.extend(t.result().payload for t in done)
            if len(got) >= 6:
                break
        assert sorted(got) == [b"%d" % n for n in range(6)]


async def mqtt5_properties(host: str, port: int) -> None:
    """Message expiry sent on as what is left, topic aliases, user properties."""
    options = {"client_id": "props-sub", "clean_start": False, "session_expiry_interval_s": 600}
    async with AsyncClient(host, port, **options) as sub:
        await sub.subscribe("props/#", qos=1)
    user = (("station", "st-07"), ("unit", "bar"), ("station", "again"))
    async with AsyncClient(host, port, client_id="props-pub", use_topic_aliases=True) as pub:
        await pub.publish(
            "props/expiring", b"e", qos=1, properties=Properties(message_expiry_interval=60)
        )
        for n in range(3):
            await pub.publish(
                "props/aliased/topic", b"%d" % n, qos=1, properties=Properties(user_properties=user)
            )
    async with AsyncClient(host, port, **options) as sub:
        got = []
        async for message in sub.messages():
            got.append(message)
            if len(got) == 4:
                break
    expiring = got[0].properties.message_expiry_interval
    assert expiring is not None and 0 < expiring <= 60  # [MQTT-3.3.2-6]
    assert [m.topic for m in got[1:]] == ["props/aliased/topic"] * 3
    assert all(m.properties.topic_alias is None for m in got[1:])
    assert all(m.properties.user_properties == user for m in got[1:])


ALL_SCENARIOS = [
    qos_round_trips,
    retained_and_will,
    offline_queue,
    shared_subscription,
    mqtt5_properties,
]


@pytest.mark.parametrize("scenario", ALL_SCENARIOS)
def test_scenario_against_our_broker(scenario: Scenario) -> None:
    run_against_ours(scenario)


@pytest.mark.interop
@pytest.mark.parametrize("scenario", ALL_SCENARIOS)
def test_scenario_against_mosquitto(scenario: Scenario, mosquitto: int) -> None:
    run_against_mosquitto(mosquitto, scenario)


def test_refused_connection_raises_connect_failed() -> None:
    class Nobody:
        def authenticate(
            self, client_id: str, username: str | None, password: bytes | None
        ) -> ReasonCode:
            return ReasonCode.BAD_USER_NAME_OR_PASSWORD

    async def scenario(host: str, port: int) -> None:
        client = AsyncClient(host, port, username="u", password=b"wrong")
        with pytest.raises(ConnectFailed) as caught:
            await client.connect()
        assert caught.value.reason_code == ReasonCode.BAD_USER_NAME_OR_PASSWORD
        await client.close()

    run_against_ours(scenario, authenticator=Nobody())


def test_refused_publish_raises_publish_failed() -> None:
    class NoWrites:
        def authenticate(self, *args: object) -> ReasonCode:
            return ReasonCode.SUCCESS

        def may_publish(self, *args: object) -> bool:
            return False

        def may_subscribe(self, *args: object) -> bool:
            return True

        def may_receive(self, *args: object) -> bool:
            return True

    async def scenario(host: str, port: int) -> None:
        async with AsyncClient(host, port) as client:
            with pytest.raises(PublishFailed) as caught:
                await client.publish("a", b"x", qos=1)
            assert caught.value.reason_code == ReasonCode.NOT_AUTHORIZED

    run_against_ours(scenario, authorizer=NoWrites())


def test_client_reconnects_and_completes_an_inflight_publish() -> None:
    """The broker goes away mid-stream and comes back on the same port: the
    awaited QoS 1 publish completes once the session resumes."""

    async def main() -> None:
        server = BrokerServer([Listener(kind="tcp", port=0)])
        await server.start()
        port = server.ports["tcp"]
        client = AsyncClient(
            "127.0.0.1",
            port,
            client_id="field",
            clean_start=False,
            session_expiry_interval_s=600,
            backoff_initial_s=0.05,
            backoff_max_s=0.2,
        )
        await client.connect()
        broker = server.broker
        await server.stop()  # every connection closed; the core keeps the session
        pending = asyncio.create_task(client.publish("a", b"late", qos=1))
        server = BrokerServer([Listener(kind="tcp", port=port)], broker=broker)
        await server.start()
        result = await asyncio.wait_for(pending, 10)
        assert isinstance(result, PublishAcked)
        await client.disconnect()
        await server.stop()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_websocket_round_trip_with_our_client() -> None:
    async def main() -> None:
        async with BrokerServer([Listener(kind="ws", port=0)]) as server:
            port = server.ports["ws"]
            async with AsyncClient(
                "127.0.0.1", port, websocket_path="/mqtt", client_id="ws"
            ) as client:
                await client.subscribe("w", qos=1)
                await client.publish("w", b"over websocket", qos=1)
                message = await anext(client.messages())
                assert message.payload == b"over websocket"

    asyncio.run(asyncio.wait_for(main(), 20))


def test_a_dropped_message_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    """A full offline queue drops visibly: a log line and a $SYS counter."""
    from mqttsim.protocol.broker import BrokerConfig

    async def main() -> None:
        config = BrokerConfig(max_queued_messages=0)
        async with BrokerServer([Listener(kind="tcp", port=0)], config=config) as server:
            port = server.ports["tcp"]
            options = {"client_id": "away", "clean_start": False, "session_expiry_interval_s": 600}
            async with AsyncClient("127.0.0.1", port, **options) as away:
                await away.subscribe("a", qos=1)
            async with AsyncClient("127.0.0.1", port) as pub:
                # A subscription matched, so the publisher hears success: the drop is the
                # subscriber's, counted and logged by the broker (not a 0x97 to the publisher).
                acked = await pub.publish("a", b"nowhere to go", qos=1)
                assert isinstance(acked, PublishAcked) and acked.reason_code == ReasonCode.SUCCESS
            assert server.broker.stats.dropped["queue-full"] == 1

    with caplog.at_level("WARNING", logger="mqttsim.broker"):
        asyncio.run(asyncio.wait_for(main(), 20))
    assert any(
        "dropped a message on 'a' for client 'away': queue-full" in r.getMessage()
        for r in caplog.records
    )


# -- hardening (issue 13): never await forever, refuse huge packets, name a bad CONNACK --------
# A fake broker on 127.0.0.1:0 writes the bytes each story needs; our codec reads what the client
# sends. Every wait is bounded by asyncio.wait_for.

BOUND_S = 10.0


class FakeBroker:
    """A scripted broker: ``script(reader, writer, n)`` plays network connection ``n``."""

    def __init__(self, script: Callable[..., Awaitable[None]]) -> None:
        self.script = script
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(Peer(reader, writer), self.connections)
        finally:
            writer.close()


class Peer:
    """The broker's end of one connection: packets in and out, through our codec."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = StreamDecoder(version=None)
        self.pending: list[Packet] = []

    async def read(self) -> Packet:
        """The next packet from the client (the version is learnt from CONNECT)."""
        for _ in range(1000):
            if self.pending:
                return self.pending.pop(0)
            data = await self.reader.read(65536)
            if not data:
                raise EOFError("the client closed the connection")
            self.pending += self.decoder.feed(data)
        raise AssertionError("no whole packet in 1000 reads")

    async def send(self, *packets: Packet, version: ProtocolVersion = V5) -> None:
        self.writer.write(b"".join(encode(p, version) for p in packets))
        await self.writer.drain()


@pytest.mark.parametrize("qos", [1, 2])
def test_inflight_publish_completes_after_a_reconnect_with_clean_start(qos: int) -> None:
    """The connection drops with the PUBLISH unacknowledged; the client reconnects with Clean
    Start, the broker has no session, and the message goes again as a new one (DUP=0) whose
    acknowledgement completes the awaited publish [MQTT-3.1.2-4] (paho-mqtt does the same)."""
    resent: list[Publish] = []

    async def script(peer: Peer, n: int) -> None:
        connect = await peer.read()
        assert isinstance(connect, Connect) and connect.clean_start
        await peer.send(ConnAck())
        publish = await peer.read()
        assert isinstance(publish, Publish) and publish.packet_id is not None
        if n == 1:
            return  # the connection drops: no acknowledgement
        resent.append(publish)
        if qos == 1:
            await peer.send(PubAck(packet_id=publish.packet_id))
        else:
            await peer.send(PubRec(packet_id=publish.packet_id))
            assert await peer.read() == PubRel(packet_id=publish.packet_id)
            await peer.send(PubComp(packet_id=publish.packet_id))
        await peer.read()  # DISCONNECT

    async def main() -> None:
        async with FakeBroker(script) as port:
            client = AsyncClient("127.0.0.1", port, backoff_initial_s=0.01, backoff_max_s=0.05)
            await client.connect()
            result = await asyncio.wait_for(client.publish("a", b"x", qos=qos), BOUND_S)
            assert isinstance(result, PublishAcked if qos == 1 else PublishCompleted)
            await client.disconnect()

    asyncio.run(asyncio.wait_for(main(), 2 * BOUND_S))
    ((again),) = resent
    assert (again.topic, again.payload, again.qos, again.dup) == ("a", b"x", qos, False)


@pytest.mark.parametrize("ending", ["reconnect off", "client closed"])
def test_inflight_publish_fails_clearly_when_the_client_will_not_reconnect(ending: str) -> None:
    """Without a next connection an awaited QoS 1 publish raises PublishFailed, never hangs."""

    async def main() -> None:
        published: asyncio.Event = asyncio.Event()

        async def script(peer: Peer, n: int) -> None:
            await peer.read()
            await peer.send(ConnAck())
            await peer.read()  # the PUBLISH, never acknowledged
            published.set()
            if ending == "reconnect off":
                return  # the connection drops
            await peer.reader.read()  # wait for the client to close

        async with FakeBroker(script) as port:
            client = AsyncClient("127.0.0.1", port, reconnect=ending != "reconnect off")
            await client.connect()
            pending = asyncio.ensure_future(client.publish("a", b"x", qos=1))
            await asyncio.wait_for(published.wait(), BOUND_S)
            if ending == "client closed":
                await client.close()
            with pytest.raises(PublishFailed, match="may or may not"):
                await asyncio.wait_for(pending, BOUND_S)
            with pytest.raises(PublishFailed, match="not connected"):
                await client.publish("a", b"later", qos=1)  # nothing would ever send it
            await client.close()

    asyncio.run(asyncio.wait_for(main(), 2 * BOUND_S))


def test_a_packet_over_1_mib_from_the_broker_closes_with_0x95() -> None:
    """The default Maximum Packet Size is announced in CONNECT (§3.1.2.11.4) and enforced: a
    bigger packet closes the connection with DISCONNECT 0x95, seen from its fixed header."""
    answers: list[Packet] = []

    async def main() -> None:
        connected = asyncio.Event()

        async def script(peer: Peer, n: int) -> None:
            connect = await peer.read()
            assert isinstance(connect, Connect)
            assert connect.properties.maximum_packet_size == 1024 * 1024
            await peer.send(ConnAck())
            await connected.wait()
            peer.writer.write(b"\x30\x80\x80\x40\x00\x01t")  # PUBLISH, Remaining Length 1 MiB
            await peer.writer.drain()
            answers.append(await peer.read())
            with pytest.raises(EOFError):
                await peer.read()  # and the client closed the connection

        async with FakeBroker(script) as port:
            client = AsyncClient("127.0.0.1", port, reconnect=False)
            await client.connect()
            connected.set()
            async for _message in client.messages():  # ends when the connection is over
                raise AssertionError("the oversized PUBLISH was delivered")
            await client.close()

    asyncio.run(asyncio.wait_for(main(), BOUND_S))
    assert answers == [Disconnect(reason_code=ReasonCode.PACKET_TOO_LARGE)]


def test_an_invalid_connack_fails_connect_naming_the_violation() -> None:
    """A CONNACK with Session Present 1 to a Clean Start [MQTT-3.2.2-2] makes connect() raise
    ConnectFailed with the reason, at once: not a timeout after connect_timeout_s."""

    async def script(peer: Peer, n: int) -> None:
        await peer.read()
        peer.writer.write(b"\x20\x03\x01\x00\x00")  # CONNACK, Session Present 1, no properties
        await peer.writer.drain()
        await peer.reader.read()

    async def main() -> None:
        async with FakeBroker(script) as port:
            client = AsyncClient("127.0.0.1", port, connect_timeout_s=BOUND_S)
            with pytest.raises(ConnectFailed) as caught:
                await asyncio.wait_for(client.connect(), BOUND_S / 2)
            assert caught.value.reason_code == ReasonCode.PROTOCOL_ERROR
            assert "MQTT-3.2.2-2" in str(caught.value) and "CONNACK" in str(caught.value)
            await client.close()

    asyncio.run(asyncio.wait_for(main(), BOUND_S))


def test_qos0_published_while_reconnecting_is_refused_not_silently_dropped() -> None:
    """While the client waits to reconnect, a QoS 0 message cannot be sent and is not kept:
    publish() raises instead of returning as if it had gone. A SUBSCRIBE lost with the
    connection fails with SubscribeFailed (the specification resends only PUBLISH and PUBREL)."""

    async def script(peer: Peer, n: int) -> None:
        await peer.read()
        await peer.send(ConnAck())
        if n == 1:
            await peer.read()  # the SUBSCRIBE: the connection drops instead of a SUBACK
            return
        await peer.reader.read()

    async def main() -> None:
        async with FakeBroker(script) as port:
            client = AsyncClient("127.0.0.1", port, backoff_initial_s=BOUND_S)
            await client.connect()
            with pytest.raises(SubscribeFailed, match="connection lost"):
                await asyncio.wait_for(client.subscribe("cmd/#", qos=1), BOUND_S)
            with pytest.raises(PublishFailed, match="QoS 0"):
                await client.publish("st/p", b"lost?")
            assert client.connection.stats.dropped_qos0_while_disconnected == 1
            await client.close()

    asyncio.run(asyncio.wait_for(main(), 2 * BOUND_S))
