"""What the forwarder reads off an IP packet, counts per direction, and captures.

Theory of operation
-------------------
The forwarder sees raw IPv4 packets (TUN, no packet-information header). It
reads the destination address to route a packet (:func:`ipv4_route`) and,
for the figures the validation compares with the simulator, the TCP header
(RFC 9293 §3.1) of each packet offered to a direction:

* ``tcp_segments``: every TCP segment; ``tcp_data_segments`` those carrying
  payload, and ``tcp_payload_bytes`` their payload.
* ``tcp_retransmissions``: data segments whose sequence number starts before
  the highest byte already sent on that flow (a flow is the 4-tuple): a
  retransmission, whether by timeout, fast retransmit or tail-loss probe,
  the sender's decision seen on the wire. ``tcp_syn`` counts SYNs (SYN-ACKs
  included), ``tcp_syn_retransmissions`` a SYN whose initial sequence number
  was seen before, ``tcp_rst`` and ``tcp_fin`` those flags.

Counts are of what a sender offered to the link (before the link's fate),
so a retransmission is counted once however it ends. A packet crossing two
links (site to site through the hub) is counted on both.

:class:`Counters` holds one direction's figures; :meth:`Counters.as_dict`
gives them as plain ints. :class:`PcapWriter` writes raw-IP frames
(``LINKTYPE_RAW``, nanosecond timestamps, the format of
:mod:`mqttsim.sim.pcap`) so a capture of a link opens in Wireshark.
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass, field
from typing import BinaryIO

__all__ = ["LINKTYPE_RAW", "Counters", "PcapWriter", "ipv4_route", "parse_tcp"]

LINKTYPE_RAW = 101
_PCAP_MAGIC_NS = 0xA1B23C4D
_TCP = 6
_FIN, _SYN, _RST = 0x01, 0x02, 0x04
_MOD = 1 << 32
_HALF = 1 << 31


def ipv4_route(packet: bytes) -> bytes | None:
    """The destination address (4 bytes) of an IPv4 packet, or None for anything else."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    return packet[16:20]


def parse_tcp(packet: bytes) -> tuple[bytes, int, int, int] | None:
    """``(flow key, seq, payload length, flags)`` of an IPv4 TCP packet, else None.

    The flow key is the source and destination addresses and ports (12 bytes).
    """
    if len(packet) < 20 or packet[9] != _TCP:
        return None
    ihl = (packet[0] & 0x0F) * 4
    total = (packet[2] << 8) | packet[3]
    if len(packet) < ihl + 20 or total > len(packet):
        return None
    seq = int.from_bytes(packet[ihl + 4 : ihl + 8], "big")
    doff = (packet[ihl + 12] >> 4) * 4
    key = packet[12:20] + packet[ihl : ihl + 4]
    return key, seq, max(0, total - ihl - doff), packet[ihl + 13]


@dataclass(slots=True)
class Counters:
    """One direction's figures (see the module docstring); all counts, bytes are IP bytes.

    ``offered`` packets were read from a sender; of them ``queue_full`` were
    tail-dropped, and the ``packets_sent`` went on the air, ending
    ``delivered``, ``lost`` (loss model), ``outage`` or still in flight.
    """

    offered: int = 0
    offered_bytes: int = 0
    packets_sent: int = 0
    bytes_sent: int = 0
    delivered: int = 0
    delivered_bytes: int = 0
    lost: int = 0
    lost_bytes: int = 0
    outage: int = 0
    outage_bytes: int = 0
    queue_full: int = 0
    queue_full_bytes: int = 0
    tcp_segments: int = 0
    tcp_data_segments: int = 0
    tcp_payload_bytes: int = 0
    tcp_retransmissions: int = 0
    tcp_syn: int = 0
    tcp_syn_retransmissions: int = 0
    tcp_rst: int = 0
    tcp_fin: int = 0
    _highest: dict[bytes, int] = field(default_factory=dict, repr=False)
    _syns: set[tuple[bytes, int]] = field(default_factory=set, repr=False)

    def count_offered(self, packet: bytes) -> None:
        """Count one packet a sender handed to this direction, and its TCP header."""
        self.offered += 1
        self.offered_bytes += len(packet)
        tcp = parse_tcp(packet)
        if tcp is None:
            return
        key, seq, length, flags = tcp
        self.tcp_segments += 1
        if flags & _SYN:
            self.tcp_syn += 1
            if (key, seq) in self._syns:
                self.tcp_syn_retransmissions += 1
            self._syns.add((key, seq))
            self._highest[key] = (seq + 1) % _MOD
        if flags & _RST:
            self.tcp_rst += 1
        if flags & _FIN:
            self.tcp_fin += 1
        if length:
            self.tcp_data_segments += 1
            self.tcp_payload_bytes += length
            end = (seq + length) % _MOD
            highest = self._highest.get(key)
            if highest is None:
                self._highest[key] = end
            else:
                if (highest - seq) % _MOD and (highest - seq) % _MOD < _HALF:
                    self.tcp_retransmissions += 1  # starts before the highest byte sent
                if (end - highest) % _MOD < _HALF:
                    self._highest[key] = end

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict (no per-flow state)."""
        out = asdict(self)
        out.pop("_highest")
        out.pop("_syns")
        return out


class PcapWriter:
    """Write raw IPv4 packets to a classic pcap file (nanosecond timestamps).

    Args:
        stream: a binary file open for writing; the global header is written now.
        epoch_s: the wall-clock time of emulator time 0 in the file.
    """

    def __init__(self, stream: BinaryIO, epoch_s: float = 0.0) -> None:
        self._stream = stream
        self._epoch_ns = round(epoch_s * 1e9)
        stream.write(struct.pack("<IHHiIII", _PCAP_MAGIC_NS, 2, 4, 0, 0, 262144, LINKTYPE_RAW))

    def write(self, time_s: float, packet: bytes) -> None:
        """Append ``packet`` captured at emulator time ``time_s``."""
        ns = self._epoch_ns + round(time_s * 1e9)
        sec, nsec = divmod(ns, 1_000_000_000)
        self._stream.write(struct.pack("<IIII", sec, nsec, len(packet), len(packet)))
        self._stream.write(packet)

    def close(self) -> None:
        """Flush and close the file."""
        self._stream.close()
