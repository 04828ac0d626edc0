"""Options that make the socket stack behave as paho-mqtt 2.x and mosquitto 2.x do.

* QoS 2 handed on at PUBREL (MQTT 5 §4.3.3, Method A): by the broker, as
  mosquitto's ``handle__pubrel`` does, and by the client, as paho-mqtt's
  ``_handle_pubrel`` does; shown end to end over real sockets.
* A PINGREQ every Keep Alive however busy the client is, as paho-mqtt's.
* TCP_NODELAY (Nagle's algorithm off) as asyncio sets it, or cleared as
  paho-mqtt and mosquitto's defaults leave it: read back with getsockopt.

Everything runs on 127.0.0.1, on ports the kernel picks, in one event loop;
nothing waits by sleeping: each step waits for a packet or a message, bounded
in time.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from mqttsim.aio.client import AsyncClient
from mqttsim.aio.server import BrokerServer, Listener
from mqttsim.protocol import QoS2Handover
from mqttsim.protocol.broker import BrokerConfig
from mqttsim.protocol.codec import StreamDecoder, encode
from mqttsim.protocol.enums import ProtocolVersion, QoS, ReasonCode
from mqttsim.protocol.events import Event, MessageReceived, PacketReceived
from mqttsim.protocol.packets import (
    ConnAck,
    Connect,
    Packet,
    PubComp,
    Publish,
    PubRec,
    PubRel,
)

from .conftest import HOST, TlsFiles

V5 = ProtocolVersion.V5
BOUND_S = 10.0  # any one wait


class Publisher:
    """A publisher on a raw socket, so that the test decides when its PUBREL goes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = StreamDecoder(version=V5)
        self.pending: list[Packet] = []

    @classmethod
    async def connect(cls, port: int) -> Publisher:
        reader, writer = await asyncio.open_connection(HOST, port)
        publisher = cls(reader, writer)
        await publisher.send(Connect(version=V5, client_id="pub"))
        assert isinstance(await publisher.read(), ConnAck)
        return publisher

    async def send(self, *packets: Packet) -> None:
        self.writer.write(b"".join(encode(p, V5) for p in packets))
        await self.writer.drain()

    async def read(self) -> Packet:
        for _ in range(1000):
            if self.pending:
                return self.pending.pop(0)
            data = await asyncio.wait_for(self.reader.read(65536), BOUND_S)
            if not data:
                raise EOFError("the broker closed the connection")
            self.pending += self.decoder.feed(data)
        raise AssertionError("no whole packet in 1000 reads")

    def close(self) -> None:
        self.writer.close()


class _Recorder:
    """Stands in for an AsyncClient's core and writes down what it receives and
    hands on. The core's class may be compiled (its methods cannot be replaced),
    so the client is given this wrapper, which passes everything else through."""

    def __init__(self, conn: Any, timeline: list[str]) -> None:
        self._conn = conn
        self._timeline = timeline

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def receive_data(self, data: bytes, *, now: float) -> list[Event]:
        conn, timeline = self._conn, self._timeline
        events: list[Event] = conn.receive_data(data, now=now)
        for traced in conn.trace_log:
            if isinstance(traced, PacketReceived):
                packet = traced.packet
                if isinstance(packet, Publish):
                    timeline.append(f"PUBLISH {packet.payload.decode()} QoS {int(packet.qos)}")
                elif isinstance(packet, PubRel):
                    timeline.append("PUBREL")
        conn.trace_log.clear()
        for event in events:
            if isinstance(event, MessageReceived):
                timeline.append(f"message {event.publish.payload.decode()}")
        return events


def record_timeline(client: AsyncClient) -> list[str]:
    """What ``client``'s core receives and hands on, in order, one entry per
    PUBLISH or PUBREL read and per message handed to the application. Built
    from each ``receive_data`` call: its packets (from the trace), then its
    events; a PUBREL never shares a read with its own PUBLISH, as the broker
    sends it only after our PUBREC."""
    timeline: list[str] = []
    client.connection = _Recorder(client.connection, timeline)  # type: ignore[assignment]
    return timeline


def test_qos2_handed_on_at_pubrel_by_broker_and_client_over_real_sockets() -> None:
    """Broker (mosquitto 2.x) and subscriber (paho-mqtt 2.x) both hand QoS 2 on at PUBREL.

    The broker answers PUBREC at once and routes nothing: a QoS 0 marker sent
    after the PUBREC reaches the subscriber first (the broker writes to one
    connection in order). After the publisher's PUBREL the broker routes the
    message and then answers PUBCOMP; the subscriber reads the PUBLISH, and
    hands it on only when the broker's PUBREL arrives: one round trip per hop.
    """

    async def main() -> None:
        config = BrokerConfig(qos2_handover=QoS2Handover.ON_PUBREL)
        async with BrokerServer([Listener(kind="tcp", port=0)], config=config) as server:
            port = server.ports["tcp"]
            sub = AsyncClient(
                HOST, port, client_id="sub", qos2_handover=QoS2Handover.ON_PUBREL, trace=True
            )
            timeline = record_timeline(sub)
            await sub.connect()
            assert await sub.subscribe("pipeline/#", qos=2) == (ReasonCode.GRANTED_QOS_2,)
            messages = sub.messages()
            pub = await Publisher.connect(port)
            try:
                alarm = Publish(
                    topic="pipeline/st-02/alarm", payload=b"LEAK", qos=QoS(2), packet_id=1
                )
                await pub.send(alarm)
                assert await pub.read() == PubRec(packet_id=1)
                held = server.broker.sessions["pub"].held_qos2
                assert list(held) == [1]
                await pub.send(Publish(topic="pipeline/st-02/marker", payload=b"marker"))
                first = await asyncio.wait_for(anext(messages), BOUND_S)
                assert first.payload == b"marker"  # the QoS 2 message was not routed yet

                await pub.send(PubRel(packet_id=1))
                assert await pub.read() == PubComp(packet_id=1)
                assert not held
                second = await asyncio.wait_for(anext(messages), BOUND_S)
                assert (second.topic, second.payload, second.qos) == (alarm.topic, b"LEAK", 2)
                await pub.send(Publish(topic="pipeline/st-02/marker", payload=b"after"))
                third = await asyncio.wait_for(anext(messages), BOUND_S)
                assert third.payload == b"after"  # and the QoS 2 message came exactly once
            finally:
                pub.close()
                await sub.disconnect()
        assert timeline == [
            "PUBLISH marker QoS 0",
            "message marker",
            "PUBLISH LEAK QoS 2",  # not handed on: the subscriber answers PUBREC
            "PUBREL",
            "message LEAK",  # one round trip later
            "PUBLISH after QoS 0",
            "message after",
        ]

    asyncio.run(asyncio.wait_for(main(), 30))


@pytest.mark.parametrize("every", [True, False])
def test_async_client_pings_every_keep_alive_when_asked(every: bool) -> None:
    """With ``ping_every_keep_alive`` (paho-mqtt 2.x) the next PINGREQ stays due Keep
    Alive after CONNECT however much else is sent and received; without it, each
    acknowledged publish moves it on."""

    async def main() -> None:
        async with BrokerServer([Listener(kind="tcp", port=0)]) as server:
            async with AsyncClient(
                HOST, server.ports["tcp"], keep_alive_s=60, ping_every_keep_alive=every
            ) as client:
                before = client.connection.next_deadline()
                for n in range(3):
                    await client.publish("keepalive/check", b"%d" % n, qos=1)
                after = client.connection.next_deadline()
                assert before is not None and after is not None
                assert (after == before) is every

    asyncio.run(asyncio.wait_for(main(), 30))


# -- TCP_NODELAY ----------------------------------------------------------------------------


def _nodelay(transport: Any) -> bool:
    sock = transport.get_extra_info("socket")
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


@pytest.fixture
def tls_files_or_none(request: pytest.FixtureRequest) -> Iterator[TlsFiles | None]:
    """The TLS certificates for the "tls" case (skipped without trustme), else None."""
    if request.node.callspec.params["kind"] == "tls":
        yield request.getfixturevalue("tls_files")
    else:
        yield None


@pytest.mark.parametrize("nodelay", [True, False])
@pytest.mark.parametrize("kind", ["tcp", "tls", "ws"])
def test_tcp_nodelay_is_what_each_end_asked_for(
    kind: str, nodelay: bool, tls_files_or_none: TlsFiles | None
) -> None:
    """asyncio sets TCP_NODELAY on every TCP socket; ``tcp_nodelay=False`` clears it,
    on the broker's accepted sockets and on the client's, whatever runs over them."""

    async def main() -> None:
        files = tls_files_or_none
        context = None if files is None else files.server_context()
        listener = Listener(kind=kind, host=HOST, port=0, ssl_context=context)
        async with BrokerServer([listener], tcp_nodelay=nodelay) as server:
            tls = None if files is None else ssl.create_default_context(cafile=str(files.ca_pem))
            client = AsyncClient(
                HOST,
                server.ports[kind],
                client_id="probe",
                tls=tls,
                websocket_path="/mqtt" if kind == "ws" else None,
                tcp_nodelay=nodelay,
            )
            await client.connect()
            try:
                [accepted] = server.sockets.values()
                assert _nodelay(accepted.transport) is nodelay
                assert client._writer is not None
                assert _nodelay(client._writer.transport) is nodelay
                await client.publish("nodelay/check", b"x", qos=1)  # the socket still works
            finally:
                await client.disconnect()

    asyncio.run(asyncio.wait_for(main(), 30))
