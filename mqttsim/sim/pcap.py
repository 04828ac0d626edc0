"""Write simulated TCP segments to a pcap file that Wireshark and tshark can open.

Theory of operation
-------------------
A :class:`~mqttsim.sim.link.Link` observer hands over one
:class:`~mqttsim.sim.link.LinkRecord` per packet. This module turns the ones
that carry a :class:`~mqttsim.sim.tcp_segment.Segment` into frames of a
classic libpcap file: an IPv4 header (RFC 791) with its total length and
header checksum, a TCP header (RFC 9293 §3.1) with the segment's ports,
sequence and acknowledgement numbers (modulo 2**32), flags and window, a
checksum over the pseudo-header, and the segment's real payload bytes: the
MQTT byte stream, which Wireshark's MQTT dissector decodes on port 1883.

Choices:

* **No Ethernet.** Frames are raw IPv4, link type 101 (``LINKTYPE_RAW``).
  A satellite or radio modem is not an Ethernet, and ``Segment.header_bytes``
  counts IP and TCP headers only, so a raw-IP frame is exactly the
  ``size_bytes`` the simulation put on the air; invented MAC addresses would
  add nothing a learner can use.
* **Nanosecond timestamps** (magic ``0xa1b23c4d``): serialisation on a fast
  link takes microseconds, and rounding them away would merge events.
  Simulated time 0 is ``epoch_s`` (default 1970-01-01 00:00:00 UTC).
* **Addresses label, never route.** Stations get 192.0.2.1, .2, ...
  (TEST-NET-1, RFC 5737) and the broker 198.51.100.1 (TEST-NET-2): ranges
  reserved for documentation, so a file never names a real host. A station
  is named by its links: ``"st-07 up"`` and ``"st-07 down"`` both belong to
  ``"st-07"`` (a final ``up``, ``down``, ``uplink`` or ``downlink`` word is
  dropped). The broker end is the one on ``broker_port``. Pass
  ``addresses=`` to choose otherwise.
* **Options.** ``header_bytes`` of 52 (Linux's default) becomes a 32-byte
  TCP header carrying the timestamps option (RFC 7323 §3): TSval is the
  sender's clock in milliseconds; TSecr echoes the TSval of the last segment
  that reached the sender from its peer (RFC 7323 keeps the oldest
  unacknowledged one under delayed ACK; nothing dissects the difference).
  Other extra header bytes become NOP options, in whole 4-byte words, up to
  TCP's 40-byte limit. Windows over 65535 (scaled, in the simulation) are
  written as 65535: the SYN carries no window-scale option.
* **Where the capture is taken** (``vantage``), since a real capture sees one
  interface:

  ============ =========================================================
  ``sender``   every segment as it leaves its sender, at ``time_s``,
               including retransmissions and the segments later lost or
               cut by an outage (the default: nothing the protocol did is
               hidden). Tail-dropped ("queue-full") packets never left.
  ``receiver`` only what arrived, at ``arrival_s``: gaps show as
               "previous segment not captured".
  ``client``   a capture on every station: its own segments as sent,
               the broker's as received. Wireshark's RTTs are real here.
  ``broker``   a capture on the broker host, the mirror image.
  ============ =========================================================

:func:`write_pcap` sorts frames by capture time; :class:`PcapWriter` writes
them in the order given (pcap allows that, though Wireshark then shows time
running backwards).
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections import deque
from collections.abc import Callable, Iterable
from os import PathLike
from typing import BinaryIO, Literal

from .link import LinkRecord
from .tcp_segment import ACK, Segment

__all__ = [
    "BROKER_ADDRESS",
    "LINKTYPE_RAW",
    "HostAddresses",
    "PcapWriter",
    "Vantage",
    "write_pcap",
]

Vantage = Literal["sender", "receiver", "client", "broker"]
AddressFn = Callable[[LinkRecord], tuple[str, str]]

LINKTYPE_RAW = 101  # raw IPv4/IPv6, the version in the first nibble
BROKER_ADDRESS = "198.51.100.1"  # TEST-NET-2, RFC 5737
_STATION_NET = "192.0.2."  # TEST-NET-1, RFC 5737: stations get .1 to .254
_MAGIC_NS = 0xA1B23C4D  # written in native (little-endian) order, as libpcap does
_SNAPLEN = 262144
_GLOBAL_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER = struct.Struct("<IIII")
_IP_HEADER = struct.Struct("!BBHHHBBH4s4s")
_TCP_HEADER = struct.Struct("!HHIIBBHHH")
_PSEUDO_HEADER = struct.Struct("!4s4sBBH")
_TS_OPTION = struct.Struct("!BBBBII")  # NOP, NOP, kind 8, length 10, TSval, TSecr
_VANTAGES = ("sender", "receiver", "client", "broker")
_DIRECTION_WORD = re.compile(r"(?:^|[\s_.:-]+)(?:up|down|uplink|downlink)$", re.IGNORECASE)


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): ones' complement of the ones' complement sum.

    The ones' complement sum of 16-bit words is the big-endian number modulo
    0xFFFF (as 2**16 = 1 modulo 0xFFFF), except that a non-zero sum is never
    +0: a shortcut that lets one C-level bignum operation replace a loop.
    """
    if len(data) % 2:
        data += b"\x00"
    number = int.from_bytes(data, "big")
    total = number % 0xFFFF
    if total == 0 and number:
        total = 0xFFFF
    return ~total & 0xFFFF


class HostAddresses:
    """The default ``addresses=``: stations in 192.0.2.0/24, the broker at 198.51.100.1.

    A station is its link's name without a final direction word, numbered in
    order of first appearance (see the module docstring).

    Args:
        broker_port: the broker's TCP port, which tells the direction.
    """

    def __init__(self, *, broker_port: int = 1883) -> None:
        self.broker_port = broker_port
        self.hosts: dict[str, str] = {}
        """Station name -> address, for the stations seen so far."""

    def __call__(self, record: LinkRecord) -> tuple[str, str]:
        """Return ``(source, destination)`` addresses for a segment's record.

        Raises:
            ValueError: for a 255th station (pass your own ``addresses=``).
        """
        assert isinstance(record.item, Segment)
        name = _DIRECTION_WORD.sub("", record.link)
        station = self.hosts.get(name)
        if station is None:
            if len(self.hosts) >= 254:
                raise ValueError("more than 254 stations: pass addresses= to write_pcap")
            station = self.hosts[name] = f"{_STATION_NET}{len(self.hosts) + 1}"
        if record.item.src_port == self.broker_port:
            return BROKER_ADDRESS, station
        return station, BROKER_ADDRESS


class PcapWriter:
    """Streams LinkRecords into an open binary file as pcap frames.

    The file header is written at once. Records whose item is not a
    :class:`Segment`, and records the vantage point does not see, are skipped.

    Args:
        file: a binary file open for writing.
        vantage: where the capture is taken (see the module docstring).
        addresses: ``record -> (source, destination)`` IPv4 addresses as
            strings; default :class:`HostAddresses`.
        broker_port: the broker's TCP port.
        epoch_s: the Unix time that simulated time 0 stands for.

    Attributes:
        frames: frames written so far.

    Raises:
        ValueError: for an unknown vantage.
    """

    def __init__(
        self,
        file: BinaryIO,
        *,
        vantage: Vantage = "sender",
        addresses: AddressFn | None = None,
        broker_port: int = 1883,
        epoch_s: float = 0.0,
    ) -> None:
        if vantage not in _VANTAGES:
            raise ValueError(f"vantage must be one of {', '.join(_VANTAGES)}; got {vantage!r}")
        self.vantage = vantage
        self.addresses = (
            addresses if addresses is not None else HostAddresses(broker_port=broker_port)
        )
        self.broker_port = broker_port
        self.frames = 0
        self._file = file
        self._epoch_ns = round(epoch_s * 1e9)
        self._packed: dict[str, bytes] = {}
        self._ip_id: dict[bytes, int] = {}  # next IP identification, per source
        # Per direction (src, sport, dst, dport): TSvals on their way, with
        # arrival times, and the last one that arrived (RFC 7323 TS.Recent).
        self._ts_in_flight: dict[tuple[bytes, int, bytes, int], deque[tuple[float, int]]] = {}
        self._ts_recent: dict[tuple[bytes, int, bytes, int], int] = {}
        file.write(_GLOBAL_HEADER.pack(_MAGIC_NS, 2, 4, 0, 0, _SNAPLEN, LINKTYPE_RAW))

    def capture_time(self, record: LinkRecord) -> float | None:
        """When the vantage point sees the record's segment, or None if never."""
        seg = record.item
        if not isinstance(seg, Segment) or record.outcome == "queue-full":
            return None
        vantage = self.vantage
        if vantage != "sender" and vantage != "receiver":
            from_broker = seg.src_port == self.broker_port
            vantage = "sender" if from_broker == (vantage == "broker") else "receiver"
        if vantage == "sender":
            return record.time_s
        return record.arrival_s  # None unless delivered

    def write(self, record: LinkRecord) -> bool:
        """Write the record's frame if the vantage point sees it.

        Returns:
            True if a frame was written.

        Raises:
            ValueError: if the frame would exceed IPv4's 65535 bytes.
        """
        t = self.capture_time(record)
        if t is None:
            return False
        self._write_at(record, t)
        return True

    def _write_at(self, record: LinkRecord, t: float) -> None:
        seg = record.item
        assert isinstance(seg, Segment)
        frame = self._frame(record, seg)
        ns = self._epoch_ns + round(t * 1e9)
        sec, nsec = divmod(ns, 1_000_000_000)
        self._file.write(_RECORD_HEADER.pack(sec, nsec, len(frame), len(frame)))
        self._file.write(frame)
        self.frames += 1

    def _address(self, text: str) -> bytes:
        packed = self._packed.get(text)
        if packed is None:
            packed = self._packed[text] = ipaddress.IPv4Address(text).packed
        return packed

    def _timestamps(self, record: LinkRecord, seg: Segment, src: bytes, dst: bytes) -> bytes:
        """The timestamps option (RFC 7323 §3), with this sender's TS.Recent echoed."""
        tsval = int(record.time_s * 1000) & 0xFFFFFFFF  # a clock ticking every ms
        peer = (dst, seg.dst_port, src, seg.src_port)
        arriving = self._ts_in_flight.get(peer)
        while arriving and arriving[0][0] <= record.time_s:
            self._ts_recent[peer] = arriving.popleft()[1]
        tsecr = self._ts_recent.get(peer, 0) if seg.flags & ACK else 0
        if record.arrival_s is not None:
            own = (src, seg.src_port, dst, seg.dst_port)
            in_flight = self._ts_in_flight.setdefault(own, deque(maxlen=4096))
            in_flight.append((record.arrival_s, tsval))  # bounded if the peer never sends
        return _TS_OPTION.pack(1, 1, 8, 10, tsval, tsecr)

    def _frame(self, record: LinkRecord, seg: Segment) -> bytes:
        src_text, dst_text = self.addresses(record)
        src, dst = self._address(src_text), self._address(dst_text)
        options_len = min(max(seg.header_bytes - 40, 0) // 4 * 4, 40)
        if options_len >= _TS_OPTION.size:
            options = b"\x01" * (options_len - _TS_OPTION.size)
            options += self._timestamps(record, seg, src, dst)
        else:
            options = b"\x01" * options_len
        tcp_len = _TCP_HEADER.size + options_len + len(seg.payload)
        total = _IP_HEADER.size + tcp_len
        if total > 0xFFFF:
            raise ValueError(f"segment of {total} bytes does not fit in an IPv4 packet")
        tcp = bytearray(
            _TCP_HEADER.pack(
                seg.src_port,
                seg.dst_port,
                seg.seq & 0xFFFFFFFF,
                seg.ack & 0xFFFFFFFF,
                (_TCP_HEADER.size + options_len) // 4 << 4,
                seg.flags & 0xFF,
                min(seg.window, 0xFFFF),
                0,  # checksum, filled in below
                0,  # urgent pointer
            )
        )
        tcp += options
        tcp += seg.payload
        pseudo = _PSEUDO_HEADER.pack(src, dst, 0, 6, tcp_len)
        struct.pack_into("!H", tcp, 16, _checksum(pseudo + tcp))
        ip_id = self._ip_id.get(src, 0)
        self._ip_id[src] = (ip_id + 1) & 0xFFFF
        # Version 4, IHL 5; DF set, as Linux does with path MTU discovery; TTL 64.
        ip = bytearray(_IP_HEADER.pack(0x45, 0, total, ip_id, 0x4000, 64, 6, 0, src, dst))
        struct.pack_into("!H", ip, 10, _checksum(bytes(ip)))
        return bytes(ip + tcp)


def write_pcap(
    path: str | PathLike[str],
    records: Iterable[LinkRecord],
    *,
    vantage: Vantage = "sender",
    addresses: AddressFn | None = None,
    broker_port: int = 1883,
    epoch_s: float = 0.0,
) -> int:
    """Write the TCP segments among ``records`` to a pcap file, in capture-time order.

    Args:
        path: the file to create (or overwrite).
        records: link records, e.g. collected by a Link ``observer``; others
            than TCP segments are skipped.
        vantage: where the capture is taken (see the module docstring).
        addresses: ``record -> (source, destination)`` IPv4 addresses;
            default :class:`HostAddresses`.
        broker_port: the broker's TCP port.
        epoch_s: the Unix time that simulated time 0 stands for.

    Returns:
        The number of frames written.

    Raises:
        ValueError: for an unknown vantage or an oversized segment.
    """
    with open(path, "wb") as file:
        writer = PcapWriter(
            file, vantage=vantage, addresses=addresses, broker_port=broker_port, epoch_s=epoch_s
        )
        seen = [(t, r) for r in records if (t := writer.capture_time(r)) is not None]
        seen.sort(key=lambda pair: pair[0])  # stable: ties keep the observer's order
        for t, record in seen:
            writer._write_at(record, t)
        return writer.frames
