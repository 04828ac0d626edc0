"""Test helpers: play the server by hand, one packet at a time.

A protocol test is a short story: the client does something, the test reads
what went on the wire as packets, answers with packets of its own, and
asserts on the events. These helpers do the encoding and decoding so the
story stays readable, and never touch a socket or a clock.
"""

from __future__ import annotations

from typing import Any

from mqttsim.protocol.client import ClientConnection
from mqttsim.protocol.codec import StreamDecoder, encode
from mqttsim.protocol.enums import PacketType, ProtocolVersion
from mqttsim.protocol.events import Connected, Event
from mqttsim.protocol.packets import ConnAck, Packet

__all__ = ["server_reads", "server_sends", "connected_client"]


def server_reads(conn: ClientConnection, *, now: float = 0.0) -> list[Packet]:
    """Drain ``conn``'s outgoing bytes at ``now`` and decode them as a server would."""
    data = conn.data_to_send(now=now)
    # A server's decoder knows the version only from CONNECT; after that it is fixed.
    starts_with_connect = bool(data) and data[0] >> 4 == PacketType.CONNECT
    decoder = StreamDecoder(version=None if starts_with_connect else conn.version)
    packets = decoder.feed(data)
    assert decoder.buffered == 0, "data_to_send returned part of a packet"
    return packets


def server_sends(
    conn: ClientConnection,
    *packets: Packet,
    version: ProtocolVersion | None = None,
    now: float = 0.0,
) -> list[Event]:
    """Encode ``packets`` (in ``conn``'s version unless told) and feed them in one slice."""
    wire_version = conn.version if version is None else version
    data = b"".join(encode(packet, wire_version) for packet in packets)
    return conn.receive_data(data, now=now)


def connected_client(
    *, connack: ConnAck | None = None, now: float = 0.0, **options: Any
) -> ClientConnection:
    """A client built with ``options``, past CONNECT and an accepting CONNACK,
    with its outgoing bytes drained at ``now``."""
    conn = ClientConnection(**options)
    conn.connect(now=now)
    server_reads(conn, now=now)
    events = server_sends(conn, connack or ConnAck(), now=now)
    assert isinstance(events[0], Connected), events
    server_reads(conn, now=now)
    return conn
