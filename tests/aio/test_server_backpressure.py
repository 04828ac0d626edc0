"""A subscriber that stops reading must not make the broker buffer without limit.

The broker runs as a process of its own, so that its resident memory can be
read from ``/proc``. A publisher floods it with QoS 0 messages for a
subscriber that subscribed and then never reads again. The bytes the
subscriber does not take stay in the broker's core, whose outbox is bounded;
beyond it QoS 0 is dropped and counted (``$SYS/broker/messages/dropped``), as
mosquitto does. Before the driver respected backpressure, every byte went
into asyncio's write buffer: 1.9 GiB after 15 s.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from mqttsim.aio.background import BackgroundBroker, running_broker
from mqttsim.protocol.broker import BrokerConfig
from mqttsim.protocol.stats import DropReason

from .conftest import BrokerProcess
from .raw import (
    PINGREQ,
    PINGRESP,
    connect_packet,
    connected_raw,
    publish_fields,
    publish_packet,
    read_packet,
    read_until_closed,
    subscribe_packet,
    utf8,
    varint,
)

FLOOD_MESSAGES = 1_500_000
PER_CHUNK = 10_000  # messages per sendall: large writes keep the publisher fast
PAYLOAD = bytes(range(64))  # 75 bytes a message on the wire: 112 MB in all
# The bound stated: what the broker may hold for one stalled subscriber is
# asyncio's write buffer (64 KiB) plus the core's outbox (8 MiB by default,
# BrokerConfig.max_outgoing_bytes); 64 MiB leaves room for the allocator, and
# the unbounded broker grew by over 100 MiB here (170 MiB with the outbox
# unbounded and the driver paused). Measured: 3.5 MiB.
MEMORY_BOUND_KIB = 64 * 1024
FLOOD_TIMEOUT_S = 120.0  # per socket operation; the whole flood takes about 10 s here
SYS_DROPPED = "$SYS/broker/messages/dropped"
SYS_WAIT_S = 25.0  # $SYS is published every 10 s


def dropped_so_far(port: int, at_least: int) -> int:
    """The broker's count of dropped messages, read as a client reads it
    from ``$SYS``: the retained value, then each update, until it reaches
    ``at_least`` or SYS_WAIT_S passes."""
    deadline = time.monotonic() + SYS_WAIT_S
    count = -1
    with connected_raw(port, "drop-watcher") as watcher:
        watcher.sendall(subscribe_packet(SYS_DROPPED))
        assert read_packet(watcher)[0] == 0x90  # SUBACK
        for _ in range(10):  # retained value + one update per 10 s
            left = deadline - time.monotonic()
            if count >= at_least or left <= 0:
                break
            watcher.settimeout(left)
            try:
                topic, payload = publish_fields(read_packet(watcher))
            except TimeoutError:
                break
            assert topic == SYS_DROPPED
            count = int(payload)
    return count


def test_qos0_flood_to_a_subscriber_that_stopped_reading_keeps_memory_bounded_and_counts_drops(
    broker_process: Callable[..., BrokerProcess],
) -> None:
    broker = broker_process()
    subscriber = socket.socket()
    # A small receive window, so the kernel holds little for the subscriber
    # (set before connecting: the window scale is agreed in the handshake).
    subscriber.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    subscriber.settimeout(5.0)
    subscriber.connect(("127.0.0.1", broker.port))
    with subscriber, connected_raw(broker.port, "firehose", keep_alive_s=0) as publisher:
        subscriber.sendall(connect_packet("stalls", keep_alive_s=0))
        assert read_packet(subscriber)[:4] == b"\x20\x02\x00\x00"  # CONNACK accepted
        subscriber.sendall(subscribe_packet("flood/#"))
        assert read_packet(subscriber)[0] == 0x90  # SUBACK; from now on, never read
        publisher.sendall(publish_packet("flood/0", PAYLOAD))  # one round for warm-up
        publisher.sendall(PINGREQ)
        assert read_packet(publisher) == PINGRESP

        broker.reset_peak()
        baseline = broker.memory_kib("VmRSS")
        chunk = publish_packet("flood/t", PAYLOAD) * PER_CHUNK
        publisher.settimeout(FLOOD_TIMEOUT_S)
        for _ in range(FLOOD_MESSAGES // PER_CHUNK):
            publisher.sendall(chunk)
        # The broker handles a connection's packets in order: PINGRESP means
        # it has routed every message of the flood.
        publisher.sendall(PINGREQ)
        assert read_packet(publisher) == PINGRESP
        growth = broker.memory_kib("VmHWM") - baseline

        assert growth <= MEMORY_BOUND_KIB, (
            f"the broker grew by {growth / 1024:.0f} MiB for one stalled subscriber"
        )
        # Most of the flood cannot have reached the subscriber (it read
        # nothing), so most of it must show as dropped, not vanish in silence.
        at_least = FLOOD_MESSAGES * 2 // 3
        dropped = dropped_so_far(broker.port, at_least)
        assert dropped >= at_least, f"{dropped} of {FLOOD_MESSAGES} counted as dropped"
    assert any("dropped a message on 'flood/t'" in line for line in broker.lines)


# -- the same, in the test's process, to watch the driver's side ---------------------------

STALL_MESSAGES = 200_000  # 15 MB: more than the kernel's buffers and ours hold


def qos1_publish(topic: str, payload: bytes, packet_id: int) -> bytes:
    """PUBLISH at QoS 1, MQTT 3.1.1 (§3.3)."""
    body = utf8(topic) + packet_id.to_bytes(2, "big") + payload
    return b"\x32" + varint(len(body)) + body


def stall(port: int) -> tuple[socket.socket, socket.socket]:
    """A subscriber to ``flood/#`` (QoS 1) that has stopped reading, and a
    publisher that has sent it STALL_MESSAGES at QoS 0 and knows they were
    all routed."""
    subscriber = socket.socket()
    subscriber.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    subscriber.settimeout(5.0)
    subscriber.connect(("127.0.0.1", port))
    subscriber.sendall(connect_packet("stalls", keep_alive_s=0))
    assert read_packet(subscriber)[:4] == b"\x20\x02\x00\x00"
    subscriber.sendall(subscribe_packet("flood/#")[:-1] + b"\x01")  # QoS 1
    assert read_packet(subscriber)[0] == 0x90
    publisher = connected_raw(port, "firehose", keep_alive_s=0)
    publisher.settimeout(FLOOD_TIMEOUT_S)
    chunk = publish_packet("flood/t", PAYLOAD) * PER_CHUNK
    for _ in range(STALL_MESSAGES // PER_CHUNK):
        publisher.sendall(chunk)
    publisher.sendall(PINGREQ)
    assert read_packet(publisher) == PINGRESP
    return subscriber, publisher


def reading_state(broker: BackgroundBroker, client_id: str) -> tuple[bool, bool]:
    """(paused for writing, still reading) of ``client_id``'s socket."""

    def state() -> tuple[bool, bool]:
        server = broker.server
        assert server is not None
        for sock in server.sockets.values():
            if sock.conn is not None and sock.conn.client_id == client_id:
                assert sock.transport is not None
                return sock.paused, sock.transport.is_reading()
        raise AssertionError(f"no socket for {client_id!r}")

    result: tuple[bool, bool] = broker.call(state)
    return result


def test_a_stalled_subscriber_is_paused_and_gets_what_was_kept_once_it_reads_again() -> None:
    config = BrokerConfig(max_outgoing_bytes=256 * 1024)
    with running_broker(config=config) as broker:
        subscriber, publisher = stall(broker.port)
        with subscriber, publisher:
            # Its socket is paused: no more writes, no more reads from it.
            assert reading_state(broker, "stalls") == (True, False)
            dropped = broker.call(
                lambda: broker.server.broker.stats.dropped[DropReason.OUTGOING_BUFFER_FULL]  # type: ignore[union-attr]
            )
            assert dropped > STALL_MESSAGES // 2
            # A QoS 1 message cannot be dropped: it waits in the session
            # queue, behind what the core kept while the socket was paused.
            publisher.sendall(qos1_publish("flood/end", b"marker", packet_id=1))
            assert read_packet(publisher)[:1] == b"\x40"  # PUBACK

            # The subscriber reads again: the socket resumes, the bytes kept
            # in the core are drained, and the queued message follows.
            received = bytearray()
            deadline = time.monotonic() + 30.0
            while b"flood/end" not in received[-4096:]:
                assert len(received) < 64 * 2**20 and time.monotonic() < deadline, "no marker"
                chunk = subscriber.recv(1 << 16)
                assert chunk, "the broker closed the subscriber"
                received += chunk
            assert reading_state(broker, "stalls") == (False, True)


def test_stop_closes_a_stalled_subscriber_at_once() -> None:
    config = BrokerConfig(max_outgoing_bytes=256 * 1024)
    broker = BackgroundBroker(config=config).start()
    try:
        subscriber, publisher = stall(broker.port)
    except BaseException:
        broker.stop()
        raise
    with subscriber, publisher:
        assert reading_state(broker, "stalls")[0]
        broker.stop()  # fails after 10 s if the server waits for the stalled socket
        subscriber.settimeout(5.0)
        # Closed: reset (its data discarded), or whatever was in flight and EOF.
        assert read_until_closed(subscriber, limit=64 * 2**20) is not None
