"""A raw-socket MQTT 3.1.1 load generator, fast enough not to be what is measured.

Packets are encoded once with mqttsim's own codec and then sent as bytes,
many per ``sendall``. What comes back is read only as far as the fixed header
(type and Remaining Length, to skip to the next packet) and, where an
acknowledgement is owed, the two-byte Packet Identifier. A subscriber
therefore spends well under a microsecond of Python per message, and a QoS 0
publisher almost nothing.

Each worker (:func:`publisher`, :func:`subscriber`, :func:`latency_publisher`,
:func:`latency_subscriber`) runs in its own process. It connects, says so on
``ready``, waits for ``go``, does its bounded work (a message count *and* a
deadline) and puts one result on ``results``. Errors are reported on the same
queues instead of hanging the parent. :func:`drive` does the parent's part:
start the workers, release them together, gather what they report.

Times are ``time.perf_counter`` values, which on Linux are CLOCK_MONOTONIC and
therefore comparable between processes on the same host.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import selectors
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mqttsim.protocol.codec import encode, publish_packet_id_offset
from mqttsim.protocol.enums import ProtocolVersion, QoS
from mqttsim.protocol.packets import (
    Connect,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    Subscribe,
    Subscription,
)

__all__ = [
    "Frame", "PubSpec", "SubSpec", "LatencySpec", "PubResult", "SubResult", "LatencyResult",
    "split_frames", "connect", "subscribe", "publish_wire", "publisher", "subscriber",
    "latency_publisher", "latency_subscriber", "open_idle", "Job", "Outcome", "drive",
]  # fmt: skip

V311 = ProtocolVersion.V311
CONNECT_TIMEOUT_S = 10.0
ID_CYCLE = 4096  # packet identifiers cycle through 1..ID_CYCLE, far more than any window

# Fixed header types (high nibble of the first byte).
CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK = 2, 3, 4, 5, 6, 7, 9

# The two fixed-header bytes of each acknowledgement, taken from our codec.
_PUBACK = encode(PubAck(packet_id=1), V311)[:2]
_PUBREC = encode(PubRec(packet_id=1), V311)[:2]
_PUBREL = encode(PubRel(packet_id=1), V311)[:2]
_PUBCOMP = encode(PubComp(packet_id=1), V311)[:2]

Frame = tuple[int, int, int]
"""One whole packet in a buffer: (first byte, body start, body end)."""


class Flag(Protocol):
    """The part of ``multiprocessing.Event`` a worker uses."""

    def wait(self, timeout: float | None = ...) -> bool: ...
    def is_set(self) -> bool: ...


class Outbox(Protocol):
    """The part of ``multiprocessing.Queue`` a worker uses."""

    def put(self, obj: Any, block: bool = ..., timeout: float | None = ...) -> None: ...


@dataclass(frozen=True, slots=True)
class PubResult:
    sent: int
    completed: int  # acknowledged end to end (QoS 0: equal to sent)
    cpu_s: float


@dataclass(frozen=True, slots=True)
class SubResult:
    received: int
    first_at: float | None
    last_at: float | None
    cpu_s: float


@dataclass(frozen=True, slots=True)
class LatencyResult:
    latencies_us: list[float] = field(default_factory=list)


# -- parsing -------------------------------------------------------------------


def _long_length(buf: bytearray, at: int, n: int) -> tuple[int, int]:
    """A multi-byte Remaining Length at ``at``: (value, body start), or (-1, -1) if cut."""
    value = 0
    for k in range(4):
        if at + k >= n:
            return -1, -1
        byte = buf[at + k]
        value |= (byte & 0x7F) << (7 * k)
        if byte < 0x80:
            return value, at + k + 1
    raise ValueError("Remaining Length longer than four bytes")


def split_frames(buf: bytearray) -> tuple[list[Frame], int]:
    """Every whole packet at the start of ``buf``, and how many bytes they take.

    Only the fixed header is read: the rest of each packet is skipped by its
    Remaining Length.
    """
    frames: list[Frame] = []
    append = frames.append
    i, n = 0, len(buf)
    while n - i >= 2:
        length = buf[i + 1]
        start = i + 2
        if length & 0x80:
            length, start = _long_length(buf, i + 1, n)
            if start < 0:
                break
        end = start + length
        if end > n:
            break
        append((buf[i], start, end))
        i = end
    return frames, i


def _publish_id(buf: bytearray, start: int) -> bytes:
    """The Packet Identifier of a QoS 1/2 PUBLISH whose body starts at ``start``."""
    at = start + 2 + (buf[start] << 8 | buf[start + 1])
    return bytes(buf[at : at + 2])


# -- connecting ----------------------------------------------------------------


def _await_packet(sock: socket.socket, buf: bytearray, kind: int) -> bytes:
    """Block until a packet of type ``kind`` arrives; return its body and drop it
    (and anything before it) from ``buf``."""
    while True:
        frames, _ = split_frames(buf)
        for first, start, end in frames:
            if first >> 4 == kind:
                body = bytes(buf[start:end])
                del buf[:end]
                return body
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"the broker closed the connection (waiting for type {kind})")
        buf += data


def connect_bytes(client_id: str, keep_alive_s: int = 60) -> bytes:
    """CONNECT, MQTT 3.1.1, clean session."""
    packet = Connect(version=V311, client_id=client_id, clean_start=True, keep_alive_s=keep_alive_s)
    return encode(packet, V311)


def connect(
    port: int, client_id: str, *, keep_alive_s: int = 60
) -> tuple[socket.socket, bytearray]:
    """Open a connection and wait for a successful CONNACK.

    Returns the socket (blocking, with a timeout) and the bytes already read past the CONNACK.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_bytes(client_id, keep_alive_s))
    buf = bytearray()
    body = _await_packet(sock, buf, CONNACK)
    if body[1] != 0:
        sock.close()
        raise ConnectionError(f"CONNACK return code {body[1]} for {client_id!r}")
    return sock, buf


def subscribe(sock: socket.socket, buf: bytearray, topic_filter: str, qos: int) -> None:
    """SUBSCRIBE to one filter and check that the broker granted ``qos``."""
    packet = Subscribe(
        packet_id=1, subscriptions=(Subscription(topic_filter=topic_filter, qos=QoS(qos)),)
    )
    sock.sendall(encode(packet, V311))
    body = _await_packet(sock, buf, SUBACK)
    if body[2] != qos:
        raise ConnectionError(
            f"SUBACK granted 0x{body[2]:02X} for {topic_filter!r}, asked QoS {qos}"
        )


def disconnect(sock: socket.socket) -> None:
    """Send DISCONNECT if the socket still takes it, then close."""
    try:
        sock.settimeout(1.0)
        sock.sendall(b"\xe0\x00")
    except OSError:
        pass
    sock.close()


# -- publishing ----------------------------------------------------------------


def publish_wire(topics: Sequence[str], qos: int, payload: bytes) -> list[bytes]:
    """Encoded PUBLISH packets to cycle through.

    QoS 0: one per topic. QoS 1/2: ``ID_CYCLE`` packets with identifiers
    1..ID_CYCLE, topics in turn; encoded once and patched, as a broker should.
    """
    if qos == 0:
        return [encode(Publish(topic=t, payload=payload), V311) for t in topics]
    forms = [
        bytearray(encode(Publish(topic=t, payload=payload, qos=QoS(qos), packet_id=1), V311))
        for t in topics
    ]
    wire: list[bytes] = []
    for pid in range(1, ID_CYCLE + 1):
        form = forms[(pid - 1) % len(forms)]
        at = publish_packet_id_offset(form)
        form[at : at + 2] = pid.to_bytes(2, "big")
        wire.append(bytes(form))
    return wire


@dataclass(frozen=True, slots=True)
class PubSpec:
    port: int
    client_id: str
    topics: tuple[str, ...]
    qos: int
    count: int
    window: int
    payload_size: int
    run_s: float


def _blast(sock: socket.socket, wire: list[bytes], count: int, deadline: float) -> int:
    """QoS 0: send ``count`` packets in chunks of about 20 KB; return how many went."""
    per_chunk = max(1, 20_000 // len(wire[0]))
    chunk = b"".join(wire[k % len(wire)] for k in range(per_chunk))
    sent = 0
    while sent < count:
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        n = min(per_chunk, count - sent)
        sock.settimeout(left)
        try:
            sock.sendall(
                chunk if n == per_chunk else b"".join(wire[k % len(wire)] for k in range(n))
            )
        except TimeoutError:
            break
        sent += n
    return sent


def _windowed(
    sock: socket.socket, buf: bytearray, wire: list[bytes], spec: PubSpec, deadline: float
) -> tuple[int, int]:
    """QoS 1/2 with at most ``spec.window`` messages unacknowledged.

    A QoS 1 message is done at PUBACK; a QoS 2 one at PUBCOMP, PUBREL going
    out for each PUBREC. Returns (sent, completed).
    """
    sent = done = 0
    out: list[bytes] = []
    while done < spec.count:
        room = min(spec.window - (sent - done), spec.count - sent)
        for k in range(sent, sent + room):
            out.append(wire[k % ID_CYCLE])
        sent += max(room, 0)
        if out:
            sock.sendall(b"".join(out))
            out.clear()
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        if not data:
            raise ConnectionError("the broker closed the publisher's connection")
        buf += data
        frames, used = split_frames(buf)
        for first, start, _ in frames:
            kind = first >> 4
            if kind == PUBACK or kind == PUBCOMP:
                done += 1
            elif kind == PUBREC:
                out.append(_PUBREL + buf[start : start + 2])
        del buf[:used]
    return sent, done


def publisher(spec: PubSpec, ready: Outbox, go: Flag, results: Outbox) -> None:
    """Worker: connect, report ready, wait for ``go``, publish ``spec.count`` messages."""
    try:
        wire = publish_wire(spec.topics, spec.qos, bytes(spec.payload_size))
        sock, buf = connect(spec.port, spec.client_id)
    except Exception as exc:  # reported to the parent, which prints it
        ready.put(("error", f"publisher {spec.client_id}: {exc!r}"))
        return
    ready.put(("ok", spec.client_id))
    if not go.wait(timeout=30.0):
        sock.close()
        return
    cpu0 = time.process_time()
    deadline = time.perf_counter() + spec.run_s
    try:
        if spec.qos == 0:
            sent = done = _blast(sock, wire, spec.count, deadline)
        else:
            sent, done = _windowed(sock, buf, wire, spec, deadline)
    except OSError as exc:
        results.put(("error", f"publisher {spec.client_id}: {exc!r}"))
        sock.close()
        return
    disconnect(sock)
    results.put(("pub", PubResult(sent=sent, completed=done, cpu_s=time.process_time() - cpu0)))


# -- subscribing ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubSpec:
    port: int
    client_prefix: str
    topic_filter: str
    qos: int
    connections: int
    expected: int  # messages each connection should receive
    run_s: float
    idle_s: float


Handler = Callable[[bytearray, list[Frame], list[bytes]], int]


def _on_qos0(buf: bytearray, frames: list[Frame], replies: list[bytes]) -> int:
    n = 0
    for first, _, _ in frames:
        if first >> 4 == PUBLISH:
            n += 1
    return n


def _on_qos1(buf: bytearray, frames: list[Frame], replies: list[bytes]) -> int:
    n = 0
    for first, start, _ in frames:
        if first >> 4 == PUBLISH:
            n += 1
            replies.append(_PUBACK + _publish_id(buf, start))
    return n


def _on_qos2(buf: bytearray, frames: list[Frame], replies: list[bytes]) -> int:
    n = 0
    for first, start, _ in frames:
        kind = first >> 4
        if kind == PUBLISH:
            n += 1
            replies.append(_PUBREC + _publish_id(buf, start))
        elif kind == PUBREL:
            replies.append(_PUBCOMP + buf[start : start + 2])
    return n


HANDLERS: dict[int, Handler] = {0: _on_qos0, 1: _on_qos1, 2: _on_qos2}


def _open_subscribers(spec: SubSpec) -> list[tuple[socket.socket, bytearray]]:
    opened = []
    for k in range(spec.connections):
        sock, buf = connect(spec.port, f"{spec.client_prefix}-{k}")
        subscribe(sock, buf, spec.topic_filter, spec.qos)
        opened.append((sock, buf))
    return opened


class _Counter:
    """Deliveries so far, with the times of the first and the last."""

    __slots__ = ("received", "first_at", "last_at", "quiet_since")

    def __init__(self) -> None:
        self.received = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.quiet_since: float | None = None

    def add(self, n: int, at: float) -> None:
        self.received += n
        self.last_at = at
        if self.first_at is None:
            self.first_at = at

    def finished(self, now: float, pub_done: Flag, idle_s: float) -> bool:
        """True once the publishers are done and nothing has come for ``idle_s``."""
        if not pub_done.is_set():
            return False
        if self.quiet_since is None:
            self.quiet_since = now
        return now - max(self.quiet_since, self.last_at or 0.0) > idle_s


def _drain(
    opened: list[tuple[socket.socket, bytearray]], spec: SubSpec, pub_done: Flag
) -> _Counter:
    """Read every connection until all messages came, the deadline, or silence."""
    handler = HANDLERS[spec.qos]
    sel = selectors.DefaultSelector()
    for pair in opened:
        sel.register(pair[0], selectors.EVENT_READ, pair)
    counter = _Counter()
    target = spec.expected * len(opened)
    deadline = time.perf_counter() + spec.run_s
    replies: list[bytes] = []
    while counter.received < target:
        now = time.perf_counter()
        if now >= deadline or counter.finished(now, pub_done, spec.idle_s):
            break
        for key, _ in sel.select(timeout=0.05):
            sock, buf = key.data
            data = sock.recv(262144)
            if not data:
                sel.unregister(sock)
                continue
            at = time.perf_counter()
            buf += data
            frames, used = split_frames(buf)
            n = handler(buf, frames, replies)
            del buf[:used]
            if n:
                counter.add(n, at)
            if replies:
                sock.sendall(b"".join(replies))
                replies.clear()
    sel.close()
    return counter


def subscriber(spec: SubSpec, ready: Outbox, go: Flag, pub_done: Flag, results: Outbox) -> None:
    """Worker: ``spec.connections`` subscribers on one filter, counting deliveries."""
    try:
        opened = _open_subscribers(spec)
    except Exception as exc:  # reported to the parent, which prints it
        ready.put(("error", f"subscriber {spec.client_prefix}: {exc!r}"))
        return
    ready.put(("ok", spec.client_prefix))
    if go.wait(timeout=30.0):
        cpu0 = time.process_time()
        try:
            c = _drain(opened, spec, pub_done)
            cpu = time.process_time() - cpu0
            results.put(("sub", SubResult(c.received, c.first_at, c.last_at, cpu)))
        except OSError as exc:
            results.put(("error", f"subscriber {spec.client_prefix}: {exc!r}"))
    for sock, _ in opened:
        disconnect(sock)


# -- latency -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LatencySpec:
    port: int
    topic: str
    rate_hz: float
    count: int
    window: int
    payload_size: int  # at least 8: the send time goes in the first 8 bytes
    run_s: float


def _paced_send(
    sock: socket.socket, buf: bytearray, spec: LatencySpec, deadline: float
) -> tuple[int, int]:
    """QoS 1 at ``spec.rate_hz``, each payload stamped with ``perf_counter_ns`` at send."""
    form = bytearray(
        encode(
            Publish(
                topic=spec.topic,
                payload=bytes(spec.payload_size),
                qos=QoS.AT_LEAST_ONCE,
                packet_id=1,
            ),
            V311,
        )
    )
    id_at = publish_packet_id_offset(form)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    sock.setblocking(False)
    interval = 1.0 / spec.rate_hz
    next_at = time.perf_counter()
    sent = acked = 0
    while acked < spec.count:
        now = time.perf_counter()
        if now >= deadline:
            break
        can_send = sent < spec.count and sent - acked < spec.window
        if can_send and now >= next_at:
            pid = sent % ID_CYCLE + 1
            form[id_at : id_at + 2] = pid.to_bytes(2, "big")
            form[id_at + 2 : id_at + 10] = time.perf_counter_ns().to_bytes(8, "big")
            sock.sendall(form)
            sent += 1
            next_at += interval
            continue
        wait = next_at - now if can_send else deadline - now
        if sel.select(timeout=max(0.0, min(wait, deadline - now))):
            acked += _count_acks(sock, buf)
    sel.close()
    sock.setblocking(True)
    return sent, acked


def _count_acks(sock: socket.socket, buf: bytearray) -> int:
    data = sock.recv(65536)
    if not data:
        raise ConnectionError("the broker closed the latency publisher's connection")
    buf += data
    frames, used = split_frames(buf)
    del buf[:used]
    return sum(1 for first, _, _ in frames if first >> 4 == PUBACK)


def latency_publisher(spec: LatencySpec, ready: Outbox, go: Flag, results: Outbox) -> None:
    """Worker: publish at a steady rate with send times in the payloads."""
    try:
        sock, buf = connect(spec.port, "bench-latency-pub")
    except Exception as exc:  # reported to the parent, which prints it
        ready.put(("error", f"latency publisher: {exc!r}"))
        return
    ready.put(("ok", "latency publisher"))
    if not go.wait(timeout=30.0):
        sock.close()
        return
    cpu0 = time.process_time()
    try:
        sent, acked = _paced_send(sock, buf, spec, time.perf_counter() + spec.run_s)
    except OSError as exc:
        results.put(("error", f"latency publisher: {exc!r}"))
        sock.close()
        return
    disconnect(sock)
    results.put(("pub", PubResult(sent=sent, completed=acked, cpu_s=time.process_time() - cpu0)))


def _stamped(
    buf: bytearray,
    frames: list[Frame],
    replies: list[bytes],
    now_ns: int,
    latencies_us: list[float],
) -> None:
    for first, start, _ in frames:
        if first >> 4 != PUBLISH:
            continue
        at = start + 2 + (buf[start] << 8 | buf[start + 1])
        replies.append(_PUBACK + bytes(buf[at : at + 2]))
        sent_ns = int.from_bytes(buf[at + 2 : at + 10], "big")
        latencies_us.append((now_ns - sent_ns) / 1000.0)


def latency_subscriber(
    spec: LatencySpec, ready: Outbox, go: Flag, pub_done: Flag, results: Outbox
) -> None:
    """Worker: subscribe at QoS 1, acknowledge, and record publish-to-delivery latency."""
    try:
        sock, buf = connect(spec.port, "bench-latency-sub")
        subscribe(sock, buf, spec.topic, 1)
    except Exception as exc:  # reported to the parent, which prints it
        ready.put(("error", f"latency subscriber: {exc!r}"))
        return
    ready.put(("ok", "latency subscriber"))
    if not go.wait(timeout=30.0):
        sock.close()
        return
    latencies: list[float] = []
    replies: list[bytes] = []
    deadline = time.perf_counter() + spec.run_s + 2.0
    quiet = _Counter()
    try:
        while len(latencies) < spec.count:
            now = time.perf_counter()
            if now >= deadline or quiet.finished(now, pub_done, 1.0):
                break
            sock.settimeout(min(0.1, deadline - now))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            now_ns = time.perf_counter_ns()
            if not data:
                break
            buf += data
            frames, used = split_frames(buf)
            _stamped(buf, frames, replies, now_ns, latencies)
            del buf[:used]
            quiet.add(len(frames), now_ns / 1e9)
            if replies:
                sock.sendall(b"".join(replies))
                replies.clear()
    except OSError as exc:
        results.put(("error", f"latency subscriber: {exc!r}"))
        sock.close()
        return
    disconnect(sock)
    results.put(("lat", LatencyResult(latencies)))


# -- idle connections ----------------------------------------------------------


def _start_batch(
    port: int, prefix: str, first: int, n: int, keep_alive_s: int
) -> list[socket.socket]:
    """Open ``n`` connections and send each its CONNECT."""
    socks = []
    linger = (1).to_bytes(4, "little") + (0).to_bytes(4, "little")  # close with RST: no TIME_WAIT
    for k in range(first, first + n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT_S)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        socks.append(sock)
        sock.sendall(connect_bytes(f"{prefix}-{k}", keep_alive_s))
    return socks


def _await_connacks(socks: list[socket.socket], deadline: float) -> None:
    """Wait until every socket has its 4-byte CONNACK with return code 0."""
    sel = selectors.DefaultSelector()
    for sock in socks:
        sel.register(sock, selectors.EVENT_READ, bytearray())
    waiting = len(socks)
    try:
        while waiting:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"{waiting} CONNACK(s) still missing")
            for key, _ in sel.select(timeout=min(left, 1.0)):
                got: bytearray = key.data
                data = key.fileobj.recv(16)  # type: ignore[union-attr]
                if not data:
                    raise ConnectionError("the broker closed an idle connection during CONNECT")
                got += data
                if len(got) >= 4:
                    sel.unregister(key.fileobj)
                    waiting -= 1
                    if got[0] >> 4 != CONNACK or got[3] != 0:
                        raise ConnectionError(f"CONNECT refused: {got[:4].hex()}")
    finally:
        sel.close()


def open_idle(
    port: int,
    count: int,
    *,
    prefix: str,
    first: int = 0,
    keep_alive_s: int = 600,
    batch: int = 64,
    timeout_s: float = 60.0,
) -> list[socket.socket]:
    """Open ``count`` MQTT connections that then stay idle (CONNECT, CONNACK, nothing more).

    ``batch`` connections are in progress at a time, fewer than a listen backlog of 100.
    Closing the returned sockets resets them.
    """
    deadline = time.perf_counter() + timeout_s
    socks: list[socket.socket] = []
    try:
        while len(socks) < count:
            n = min(batch, count - len(socks))
            fresh = _start_batch(port, prefix, first + len(socks), n, keep_alive_s)
            socks += fresh
            _await_connacks(fresh, deadline)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


# -- running the workers -------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """What the workers of one run reported."""

    t_go: float = 0.0
    wall_s: float = 0.0  # from the start signal to the last result
    pubs: list[PubResult] = field(default_factory=list)
    subs: list[Any] = field(default_factory=list)  # SubResult or LatencyResult
    errors: list[str] = field(default_factory=list)
    broker_cpu_s: float = 0.0


Job = tuple[Callable[..., None], tuple[Any, ...], bool]  # target, spec args, is_publisher


def _collect(box: Any, count: int, timeout_s: float, outcome: Outcome) -> list[Any]:
    """Up to ``count`` messages from ``box``; errors go to ``outcome.errors``."""
    got: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count:
        try:
            kind, value = box.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            outcome.errors.append(f"{count - len(got)} worker(s) did not answer in {timeout_s} s")
            break
        if kind == "error":
            outcome.errors.append(value)
            count -= 1
        else:
            got.append(value)
    return got


def drive(jobs: list[Job], run_s: float, broker_cpu_s: Callable[[], float]) -> Outcome:
    """Start the workers, release them together, gather their results.

    ``broker_cpu_s`` reads the broker's CPU time, before the start and after the results.
    """
    ctx = mp.get_context("fork")
    ready, results = ctx.Queue(), ctx.Queue()
    go, pub_done = ctx.Event(), ctx.Event()
    procs = []
    for target, args, is_pub in jobs:
        extra = (ready, go, results) if is_pub else (ready, go, pub_done, results)
        procs.append(ctx.Process(target=target, args=(*args, *extra), daemon=True))
    outcome = Outcome()
    grace_s = 5.0
    try:
        for proc in procs:
            proc.start()
        _collect(ready, len(procs), 30.0, outcome)
        if outcome.errors:
            grace_s = 0.0
            return outcome
        cpu0 = broker_cpu_s()
        outcome.t_go = time.perf_counter()
        go.set()
        n_pubs = sum(1 for _, _, is_pub in jobs if is_pub)
        _sort(_collect(results, n_pubs, run_s + 15.0, outcome), outcome)
        pub_done.set()
        _sort(_collect(results, len(procs) - n_pubs, run_s + 15.0, outcome), outcome)
        outcome.broker_cpu_s = broker_cpu_s() - cpu0
        outcome.wall_s = time.perf_counter() - outcome.t_go
        return outcome
    finally:
        _reap(procs, grace_s)


def _sort(values: list[Any], outcome: Outcome) -> None:
    for value in values:
        (outcome.pubs if isinstance(value, PubResult) else outcome.subs).append(value)


def _reap(procs: list[Any], grace_s: float) -> None:
    """Join the workers; terminate any still running after ``grace_s``."""
    for proc in procs:
        proc.join(timeout=grace_s)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=2.0)
