"""What crosses the lessons' pipes: a protocol version, packets, and the TCP/IP headers around them.

The harnesses that run the real cores in memory (:mod:`.timeline`,
:mod:`.exchange`) take from a core's ``data_to_send`` whatever it has queued,
often several packets back to back, and record each packet on its own: its
type, its size, its flags. The codec's
:class:`~mqttsim.protocol.StreamDecoder` hands out decoded packets, not their
bytes, so :func:`split_packets` cuts the run at the fixed headers instead.

The lessons that count bytes on a real link add :data:`TCP_IP_HEADER_BYTES`
per TCP segment, the figure the simulator uses.
"""

from __future__ import annotations

from mqttsim.protocol import ConfigError, PacketType, ProtocolVersion
from mqttsim.protocol.codec import IncompletePacket, decode_varint
from mqttsim.sim import TcpConfig

__all__ = ["TCP_IP_HEADER_BYTES", "lesson_version", "split_packets", "packet_name"]

TCP_IP_HEADER_BYTES = TcpConfig().header_bytes
"""What one TCP segment adds on the wire with the simulator's default TCP, as
:mod:`mqttsim.sim.tcp` counts it: 52 bytes, an IPv4 header (20) and a TCP
header (20) with the timestamps option (12: 10 and two NOPs, RFC 7323 §3),
which Linux negotiates by default. A TCP without options adds 40."""


def lesson_version(version: ProtocolVersion | int) -> ProtocolVersion:
    """The protocol version a lesson's client speaks: 4 (MQTT 3.1.1) or 5 (MQTT 5.0).

    MQTT 3.1 (3) is refused: the broker accepts it on CONNECT, but the
    lessons compare 3.1.1 and 5.0 only.

    Raises:
        ConfigError: any other value.
    """
    if isinstance(version, bool) or version not in (4, 5):
        raise ConfigError(f"version must be 4 (MQTT 3.1.1) or 5 (MQTT 5.0), not {version!r}")
    return ProtocolVersion(version)


def split_packets(data: bytes) -> list[bytes]:
    """Cut ``data``, whole packets back to back, at their fixed headers (§2.1).

    Each fixed header is one byte of type and flags, then the Remaining
    Length (a Variable Byte Integer, §1.5.5) counting the bytes that follow.

    Raises:
        MalformedPacket: ``data`` is not whole packets (a core never sends
            anything else, so this is a bug in the caller).
    """
    out = []
    pos = 0
    while pos < len(data):
        length, body = decode_varint(data, pos + 1)
        end = body + length
        if end > len(data):
            raise IncompletePacket(f"the packet at byte {pos} ends after the data")
        out.append(data[pos:end])
        pos = end
    return out


def packet_name(raw: bytes) -> str:
    """The control packet type of a packet's bytes, e.g. ``"PINGREQ"``."""
    return PacketType(raw[0] >> 4).name
