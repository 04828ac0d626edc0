"""Hostile and broken peers on real sockets, with well-behaved clients beside them.

Each test runs a paho subscriber and publisher (the :class:`Bystanders`) while
raw sockets send garbage, oversized or unfinished packets, or connect and drop
by the thousand. The broker must close each bad connection promptly and keep
delivering every message between the bystanders, in order.

The packets here are built by hand from the specification (:mod:`.raw`), not
with our codec, so a bug shared by encoder and decoder cannot hide.
"""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Callable, Iterator

import pytest

from mqttsim.aio.background import BackgroundBroker, running_broker
from mqttsim.aio.server import Listener
from mqttsim.protocol.broker import BrokerConfig

from .conftest import HOST, PahoClient, SocketTable, TlsFiles, wait_for, watch_sockets
from .raw import (
    READ_TIMEOUT_S,
    connect_packet,
    open_raw,
    publish_packet,
    read_packet,
    read_until_closed,
    send_ignoring_close,
    varint,
)

pytest.importorskip("paho.mqtt.client")

Paho = Callable[..., PahoClient]
CONNECT_TIMEOUT_S = 0.5  # the broker's, in the tests that wait for it


def test_hand_built_connect_matches_the_specification_example() -> None:
    # MQTT 3.1.1 §3.1 figures: "MQTT", level 4, flags, keep alive, client id.
    assert connect_packet("a") == bytes.fromhex("100d00044d5154540402003c000161")
    assert varint(268_435_455) == b"\xff\xff\xff\x7f"  # §2.2.3's largest


# -- the well-behaved clients -------------------------------------------------------------


class Bystanders:
    """A paho publisher and subscriber that must notice nothing."""

    def __init__(self, paho: Paho, port: int) -> None:
        self.sub = paho(port, version=5, client_id="bystander-sub")
        self.sub.subscribe("health/#", qos=1)
        self.pub = paho(port, version=4, client_id="bystander-pub")
        self.sent = 0

    def check(self) -> None:
        """One message through the broker, and back, in order."""
        self.sent += 1
        payload = f"reading {self.sent}".encode()
        self.pub.publish(f"health/{self.sent}", payload, qos=1)
        message = self.sub.get()
        assert (message.topic, message.payload) == (f"health/{self.sent}", payload)

    def assert_unaffected(self) -> None:
        self.check()
        assert self.sub.drain() == []
        assert not self.sub.disconnected.is_set() and not self.pub.disconnected.is_set()


@pytest.fixture
def quick_broker() -> Iterator[BackgroundBroker]:
    """A broker that gives a new connection CONNECT_TIMEOUT_S to send CONNECT."""
    with running_broker(config=BrokerConfig(connect_timeout_s=CONNECT_TIMEOUT_S)) as b:
        yield b


@pytest.fixture
def patient_broker() -> Iterator[BackgroundBroker]:
    """A broker with the default connect timeout (10 s, twice READ_TIMEOUT_S)."""
    with running_broker() as b:
        yield b


@pytest.fixture
def bystanders(quick_broker: BackgroundBroker, paho: Paho) -> Bystanders:
    return Bystanders(paho, quick_broker.port)


@pytest.fixture
def sockets(quick_broker: BackgroundBroker, bystanders: Bystanders) -> SocketTable:
    """The broker's sockets, watched, with the bystanders already in."""
    return watch_sockets(quick_broker)


def assert_back_to(broker: BackgroundBroker, sockets: SocketTable, baseline: int) -> None:
    wait_for(lambda: len(sockets) == baseline, 10.0, f"the broker to be back to {baseline} sockets")
    assert broker.call(lambda: len(broker.server.sockets)) == baseline  # type: ignore[union-attr]


# -- (a) garbage ----------------------------------------------------------------------------


def test_garbage_on_50_connections_is_closed_and_others_are_served(
    quick_broker: BackgroundBroker,
    bystanders: Bystanders,
    sockets: SocketTable,
    rng: random.Random,
) -> None:
    baseline = len(sockets)
    garbage = [rng.randbytes(rng.randint(1, 512)) for _ in range(50)]
    victims = []
    for i, junk in enumerate(garbage):
        sock = open_raw(quick_broker.port)
        victims.append(sock)
        send_ignoring_close(sock, junk)
        if i % 10 == 9:
            bystanders.check()
    for sock in victims:
        with sock:
            read_until_closed(sock)

    bystanders.assert_unaffected()
    assert_back_to(quick_broker, sockets, baseline)


def test_garbage_after_a_good_connect_closes_only_that_connection(
    quick_broker: BackgroundBroker, bystanders: Bystanders, rng: random.Random
) -> None:
    with open_raw(quick_broker.port) as sock:
        sock.sendall(connect_packet("soon-garbage", version=5))
        assert read_packet(sock)[:1] == b"\x20"  # CONNACK
        sock.sendall(b"\x00" + rng.randbytes(64))  # packet type 0 is reserved
        tail = read_until_closed(sock)
    assert tail[:1] in (b"", b"\xe0")  # MQTT 5 may say why (DISCONNECT 0x81) first
    bystanders.assert_unaffected()


# -- (b) oversized Remaining Length ---------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b"\x10\xff\xff\xff\x7f", id="256MB-connect"),  # legal size, over our max
        pytest.param(b"\x10\xff\xff\xff\xff\x01", id="five-byte-length"),  # malformed §2.2.3
    ],
)
def test_connect_with_oversized_remaining_length_is_closed_without_waiting(
    patient_broker: BackgroundBroker, paho: Paho, header: bytes
) -> None:
    # This broker waits 10 s for a CONNECT; the read gives up after 5 s. EOF
    # before then means the broker refused the header itself, not the
    # connection's slowness, and never tried to buffer 256 MB.
    witness = Bystanders(paho, patient_broker.port)
    table = watch_sockets(patient_broker)
    baseline = len(table)
    with open_raw(patient_broker.port) as sock:
        sock.sendall(header)
        assert read_until_closed(sock) == b""  # no CONNACK: the version is unknown
    witness.assert_unaffected()
    assert_back_to(patient_broker, table, baseline)


def test_publish_over_the_maximum_packet_size_gets_disconnect_0x95(
    quick_broker: BackgroundBroker, bystanders: Bystanders
) -> None:
    with open_raw(quick_broker.port) as sock:
        sock.sendall(connect_packet("big-talker", version=5))
        connack = read_packet(sock)
        assert connack[:1] == b"\x20" and connack[3] == 0x00
        sock.sendall(b"\x30\xff\xff\xff\x7f")  # a 256 MB PUBLISH is announced
        tail = read_until_closed(sock)
    # DISCONNECT, reason 0x95 Packet too large [MQTT-3.2.2-15 / §4.13].
    assert tail in (b"\xe0\x01\x95", b"\xe0\x02\x95\x00")
    bystanders.assert_unaffected()


# -- (c), (d) CONNECTs that never complete --------------------------------------------------


def test_half_a_connect_is_closed_at_the_connect_timeout(
    quick_broker: BackgroundBroker, bystanders: Bystanders, sockets: SocketTable
) -> None:
    baseline = len(sockets)
    packet = connect_packet("half-hearted")
    with open_raw(quick_broker.port) as sock:
        sock.sendall(packet[: len(packet) // 2])
        wait_for(lambda: len(sockets) == baseline + 1, what="the broker to accept")
        bystanders.check()  # served while the half CONNECT waits
        assert read_until_closed(sock) == b""
    bystanders.assert_unaffected()
    assert_back_to(quick_broker, sockets, baseline)


def test_slowloris_connect_is_closed_at_the_connect_timeout(
    quick_broker: BackgroundBroker, bystanders: Bystanders, sockets: SocketTable
) -> None:
    """One byte every 50 ms: the whole CONNECT would take 2 s, four times the
    broker's connect timeout, so the broker must hang up part-way."""
    baseline = len(sockets)
    packet = connect_packet("slowloris-slowloris-sloths")
    assert len(packet) == 40
    sent = 0
    with open_raw(quick_broker.port) as sock:
        sock.settimeout(0.05)  # the pace: wait up to 50 ms for the broker to hang up
        closed = False
        for sent in range(1, len(packet) + 1):
            if not send_ignoring_close(sock, packet[sent - 1 : sent]):
                closed = True
                break
            try:
                closed = sock.recv(64) == b""
            except ConnectionResetError:
                closed = True
            except TimeoutError:
                pass
            if closed:
                break
            if sent % 5 == 0:
                bystanders.check()
    assert closed, "the broker let a 40-byte CONNECT take 2 s"
    assert sent < len(packet)
    bystanders.assert_unaffected()
    assert_back_to(quick_broker, sockets, baseline)


@pytest.fixture
def quick_tls_ws_broker(tls_files: TlsFiles) -> Iterator[BackgroundBroker]:
    listeners = [
        Listener(kind="tcp", host=HOST, port=0),
        Listener(kind="tls", host=HOST, port=0, ssl_context=tls_files.server_context()),
        Listener(kind="ws", host=HOST, port=0),
    ]
    config = BrokerConfig(connect_timeout_s=CONNECT_TIMEOUT_S)
    with running_broker(listeners=listeners, config=config) as b:
        yield b


@pytest.mark.parametrize(
    ("kind", "opening"),
    [
        pytest.param("tls", b"", id="tls-silent"),
        pytest.param("tls", b"\x16\x03\x01\x00\xc8\x01\x00", id="tls-half-hello"),
        pytest.param("ws", b"", id="ws-silent"),
        pytest.param("ws", b"GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\n", id="ws-half-upgrade"),
    ],
)
def test_unfinished_handshake_is_closed_at_the_connect_timeout(
    quick_tls_ws_broker: BackgroundBroker, paho: Paho, kind: str, opening: bytes
) -> None:
    """The connect timeout bounds the whole wait for CONNECT, TLS and
    WebSocket handshakes included; otherwise a silent socket on the TLS port
    is held for asyncio's own 60 s handshake timeout."""
    witness = Bystanders(paho, quick_tls_ws_broker.ports["tcp"])
    with open_raw(quick_tls_ws_broker.ports[kind]) as sock:
        sock.sendall(opening)
        assert read_until_closed(sock) == b""
    witness.assert_unaffected()


def test_garbage_on_the_tls_and_websocket_ports_is_closed(
    quick_tls_ws_broker: BackgroundBroker, paho: Paho, rng: random.Random
) -> None:
    witness = Bystanders(paho, quick_tls_ws_broker.ports["tcp"])
    for kind in ("tls", "ws"):
        for _ in range(10):
            with open_raw(quick_tls_ws_broker.ports[kind]) as sock:
                send_ignoring_close(sock, rng.randbytes(rng.randint(1, 512)) + b"\r\n\r\n")
                read_until_closed(sock)
        witness.check()
    witness.assert_unaffected()


# -- (e) connection churn -------------------------------------------------------------------


def test_a_thousand_connections_opened_and_dropped(
    quick_broker: BackgroundBroker, bystanders: Bystanders, sockets: SocketTable, paho: Paho
) -> None:
    baseline = len(sockets)
    accepted_before = sockets.added
    partial = connect_packet("dropper")[:7]
    reset = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST

    def accepted_at_least(n: int) -> Callable[[], bool]:
        return lambda: sockets.added - accepted_before >= n

    for i in range(1000):
        sock = socket.create_connection((HOST, quick_broker.port), timeout=READ_TIMEOUT_S)
        if i % 4 == 1:
            sock.sendall(partial)
        elif i % 4 == 2:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, reset)
        elif i % 4 == 3:
            sock.sendall(partial)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, reset)
        sock.close()
        if i % 50 == 49:
            # Keep the accept queue short: let the broker catch up every 50.
            wait_for(accepted_at_least(i + 1), 10.0, "the broker to accept the connections")
        if i % 100 == 99:
            bystanders.check()

    assert_back_to(quick_broker, sockets, baseline)
    bystanders.assert_unaffected()
    newcomer = paho(quick_broker.port, version=5)
    newcomer.subscribe("health/#", qos=1)
    bystanders.check()
    assert newcomer.get().topic == f"health/{bystanders.sent}"


# -- (f) protocol violations after CONNECT --------------------------------------------------


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_publish_to_a_wildcard_topic_closes_the_connection(
    quick_broker: BackgroundBroker, bystanders: Bystanders, version: int
) -> None:
    with open_raw(quick_broker.port) as sock:
        sock.sendall(connect_packet("wildcard-writer", version=version))
        connack = read_packet(sock)
        assert connack[0] == 0x20 and connack[3] == 0x00  # accepted
        sock.sendall(publish_packet("a/+", b"nope", version=version))
        tail = read_until_closed(sock)
    if version == 5:
        # DISCONNECT, reason 0x90 Topic Name invalid, no properties (the
        # property length may be left out when it is 0, §3.14.2.2).
        assert tail in (b"\xe0\x01\x90", b"\xe0\x02\x90\x00")  # [MQTT-3.3.2-2]
    else:
        assert tail == b""  # 3.1.1 has no server DISCONNECT: just close [MQTT-4.8.0-1]
    bystanders.assert_unaffected()
