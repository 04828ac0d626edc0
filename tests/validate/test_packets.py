"""The forwarder's IPv4/TCP reading: segments, retransmissions, SYNs, RSTs; and pcap frames."""

from __future__ import annotations

import io
import struct

from mqttsim.validate.packets import Counters, PcapWriter, ipv4_route, parse_tcp

SYN, ACK, RST, FIN = 0x02, 0x10, 0x04, 0x01


def tcp(seq: int, payload: int = 0, flags: int = ACK, sport: int = 40000) -> bytes:
    """An IPv4 TCP packet 10.250.1.1 -> 10.250.0.1 with a 32-byte TCP header."""
    total = 20 + 32 + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, 6, 0,
                     bytes([10, 250, 1, 1]), bytes([10, 250, 0, 1]))  # fmt: skip
    header = struct.pack("!HHIIBBHHH", sport, 1883, seq, 0, 8 << 4, flags, 65535, 0, 0)
    return ip + header + bytes(12) + bytes(payload)


def test_route_and_parse() -> None:
    packet = tcp(1000, 100, ACK)
    assert ipv4_route(packet) == bytes([10, 250, 0, 1])
    assert ipv4_route(b"\x60" + bytes(39)) is None  # IPv6
    key, seq, length, flags = parse_tcp(packet)  # type: ignore[misc]
    assert (seq, length, flags) == (1000, 100, ACK)
    assert len(key) == 12


def test_retransmissions_and_syns_are_counted_per_flow() -> None:
    c = Counters()
    for packet in (
        tcp(0, flags=SYN),
        tcp(0, flags=SYN),  # the SYN again: a SYN retransmission
        tcp(1, 100),
        tcp(101, 100),
        tcp(1, 100),  # timeout retransmission
        tcp(101, 50),  # partial retransmission
        tcp(201, 100),
        tcp(1, 100, sport=40001),  # another flow: new data
        tcp(301, 0),  # a pure ACK
        tcp(301, 0, RST),
        tcp(301, 0, FIN | ACK),
    ):
        c.count_offered(packet)
    d = c.as_dict()
    assert d["offered"] == d["tcp_segments"] == 11
    assert d["tcp_syn"] == 2 and d["tcp_syn_retransmissions"] == 1
    assert d["tcp_data_segments"] == 6
    assert d["tcp_retransmissions"] == 2
    assert d["tcp_rst"] == 1 and d["tcp_fin"] == 1
    assert d["tcp_payload_bytes"] == 550


def test_sequence_numbers_wrap() -> None:
    c = Counters()
    c.count_offered(tcp(2**32 - 50, 100))
    c.count_offered(tcp(50, 100))  # continues past the wrap: new data
    c.count_offered(tcp(2**32 - 50, 100))  # before the highest byte: a retransmission
    assert c.tcp_retransmissions == 1


def test_pcap_frames_are_raw_ip_with_nanoseconds() -> None:
    stream = io.BytesIO()
    pcap = PcapWriter(stream)
    pcap.write(1.5, tcp(0, 10))
    data = stream.getvalue()
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, linktype) == (0xA1B23C4D, 101)
    sec, nsec, caplen, length = struct.unpack_from("<IIII", data, 24)
    assert (sec, nsec, caplen, length) == (1, 500_000_000, 62, 62)
