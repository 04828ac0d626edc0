"""MQTT by hand on raw loopback sockets, for tests that play an untrusted client.

The packets are built from the specification (MQTT 3.1.1 §3 and MQTT 5.0 §3),
not with our codec, so that a bug shared by encoder and decoder cannot hide.
Every read has a timeout, and every loop is bounded in count.
"""

from __future__ import annotations

import socket
import struct

HOST = "127.0.0.1"
READ_TIMEOUT_S = 5.0

PINGREQ = b"\xc0\x00"
PINGRESP = b"\xd0\x00"


def varint(n: int) -> bytes:
    """A Variable Byte Integer (§2.2.3 / 5.0 §1.5.5)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def connect_packet(
    client_id: str,
    *,
    version: int = 4,
    keep_alive_s: int = 60,
    username: str | None = None,
    password: bytes | None = None,
) -> bytes:
    """CONNECT with Clean Session/Start (§3.1)."""
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = utf8("MQTT") + bytes([version, flags]) + struct.pack("!H", keep_alive_s)
    if version == 5:
        body += b"\x00"  # no properties
    body += utf8(client_id)
    if username is not None:
        body += utf8(username)
    if password is not None:
        body += struct.pack("!H", len(password)) + password
    return b"\x10" + varint(len(body)) + body


def publish_packet(topic: str, payload: bytes, *, version: int = 4) -> bytes:
    """PUBLISH at QoS 0 (§3.3)."""
    body = utf8(topic) + (b"\x00" if version == 5 else b"") + payload
    return b"\x30" + varint(len(body)) + body


def subscribe_packet(topic_filter: str, *, packet_id: int = 1, version: int = 4) -> bytes:
    """SUBSCRIBE to one filter at QoS 0 (§3.8)."""
    body = struct.pack("!H", packet_id) + (b"\x00" if version == 5 else b"")
    body += utf8(topic_filter) + b"\x00"
    return b"\x82" + varint(len(body)) + body


def open_raw(port: int, *, timeout_s: float = READ_TIMEOUT_S) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=timeout_s)
    sock.settimeout(timeout_s)
    return sock


def read_until_closed(sock: socket.socket, limit: int = 65_536) -> bytes:
    """Everything the broker sends until it closes the connection (EOF or
    reset). Fails if it stays open for the socket's timeout or sends over
    ``limit`` bytes."""
    received = bytearray()
    while len(received) <= limit:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            return bytes(received)
        except TimeoutError:
            raise AssertionError(
                f"the broker kept the connection open for {sock.gettimeout()} s"
                f" (received {len(received)} bytes, starting {bytes(received[:64])!r})"
            ) from None
        if not chunk:
            return bytes(received)
        received += chunk
    raise AssertionError(f"the broker sent more than {limit} bytes")


def read_packet(sock: socket.socket) -> bytes:
    """One whole MQTT packet (fixed header included)."""

    def exactly(n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            assert chunk, "connection closed mid-packet"
            data += chunk
        return bytes(data)

    header = exactly(1)
    length, shift = 0, 0
    for _ in range(4):
        byte = exactly(1)
        header += byte
        length |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            break
    return header + exactly(length)


def send_ignoring_close(sock: socket.socket, data: bytes) -> bool:
    """Send ``data``; False if the broker has already closed the connection."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def connected_raw(
    port: int, client_id: str, *, version: int = 4, keep_alive_s: int = 60
) -> socket.socket:
    """A raw socket whose CONNECT the broker has accepted (CONNACK 0)."""
    sock = open_raw(port)
    sock.sendall(connect_packet(client_id, version=version, keep_alive_s=keep_alive_s))
    connack = read_packet(sock)
    assert connack[0] == 0x20 and connack[3] == 0x00, f"CONNECT refused: {connack!r}"
    return sock


def publish_fields(packet: bytes, *, version: int = 4) -> tuple[str, bytes]:
    """Topic and payload of a QoS 0 PUBLISH read by :func:`read_packet`."""
    assert packet[0] & 0xF0 == 0x30, f"not a PUBLISH: {packet[:8]!r}"
    at = 1
    while packet[at] & 0x80:
        at += 1
    at += 1
    (size,) = struct.unpack_from("!H", packet, at)
    topic = packet[at + 2 : at + 2 + size].decode()
    at += 2 + size
    if packet[0] & 0x06:
        at += 2  # packet identifier
    if version == 5:
        props = 0
        shift = 0
        for _ in range(4):
            props |= (packet[at] & 0x7F) << shift
            shift += 7
            at += 1
            if not packet[at - 1] & 0x80:
                break
        at += props
    return topic, packet[at:]
