"""Client Identifiers the socket broker assigns cannot be guessed.

A client that connects without an identifier gets one from the broker
(MQTT 5 §3.2.2.3.7). If those ran ``mqttsim-000001``, ``-000002``... from
every start, anyone could predict the next one, or a previous run's, and
connect with it to take that client's place or its persistent session.
"""

from __future__ import annotations

import struct

from mqttsim.aio.background import running_broker

from .raw import open_raw, read_packet, utf8, varint

ASSIGNED_CLIENT_IDENTIFIER = 0x12  # MQTT 5 §3.2.2.3.7


def assigned_id(port: int) -> str:
    """Connect with MQTT 5 and an empty Client Identifier; the id assigned."""
    body = utf8("MQTT") + bytes([5, 0x02]) + struct.pack("!H", 60) + b"\x00" + utf8("")
    with open_raw(port) as sock:
        sock.sendall(b"\x10" + varint(len(body)) + body)
        connack = read_packet(sock)
    assert connack[0] == 0x20 and connack[3] == 0x00, connack.hex()
    # Fixed header (2 bytes here), flags, reason code, property length (one
    # byte: this CONNACK is short), then the properties.
    at, end = 5, 5 + connack[4]
    for _ in range(32):  # at most a few properties; bounded all the same
        if at >= end:
            break
        identifier = connack[at]
        if identifier == ASSIGNED_CLIENT_IDENTIFIER:
            (size,) = struct.unpack_from("!H", connack, at + 1)
            return connack[at + 3 : at + 3 + size].decode()
        at += 1 + _property_size(identifier, connack, at + 1)
    raise AssertionError(f"no Assigned Client Identifier in {connack.hex()}")


def _property_size(identifier: int, data: bytes, at: int) -> int:
    """Bytes of one CONNACK property's value (MQTT 5 §2.2.2.2)."""
    if identifier in (0x24, 0x25, 0x28, 0x29, 0x2A):  # byte
        return 1
    if identifier in (0x13, 0x21, 0x22):  # two-byte integer
        return 2
    if identifier in (0x11, 0x27):  # four-byte integer
        return 4
    if identifier == 0x26:  # user property: two strings
        first = 2 + struct.unpack_from("!H", data, at)[0]
        return first + 2 + struct.unpack_from("!H", data, at + first)[0]
    return 2 + struct.unpack_from("!H", data, at)[0]  # string or binary


def test_assigned_client_ids_differ_from_the_default_and_between_runs() -> None:
    ids = []
    for _ in range(2):  # two runs of the broker, one after the other
        with running_broker() as broker:
            ids.append(assigned_id(broker.port))
    assert ids[0] != ids[1]
    assert "mqttsim-000001" not in ids
    # 8 hex digits of the secrets module: 2**32 possible prefixes per run.
    assert all(len(i.split("-")[1]) == 8 for i in ids), ids
