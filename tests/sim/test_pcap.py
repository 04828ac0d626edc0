"""The pcap writer: frames that parse back, checksums that hold, and tshark's verdict.

The simulations here are hand-written SimPy processes that push real MQTT
bytes (from the codec) through the small TCP, not the node driver: the test
is about framing, so it owns every byte it expects to see.
"""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import struct
import subprocess
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

import pytest
import simpy

from mqttsim.protocol.codec import StreamDecoder, encode
from mqttsim.protocol.enums import ProtocolVersion, QoS, ReasonCode
from mqttsim.protocol.packets import (
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    Subscription,
)
from mqttsim.sim.link import Link, LinkRecord
from mqttsim.sim.loss import Bernoulli
from mqttsim.sim.path import Path, TcpListener
from mqttsim.sim.pcap import (
    BROKER_ADDRESS,
    LINKTYPE_RAW,
    HostAddresses,
    PcapWriter,
    Vantage,
    write_pcap,
)
from mqttsim.sim.tcp import TcpEndpoint
from mqttsim.sim.tcp_segment import ACK, PSH, SYN, Segment, TcpConfig

Proc = Generator[simpy.Event, Any, Any]
V5 = ProtocolVersion.V5
STATION = "192.0.2.1"
# MQTT control packet types (Table 2-1), as tshark's mqtt.msgtype prints them.
CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, DISCONNECT = 1, 2, 3, 4, 8, 9, 14


# --- a tiny MQTT conversation over the simulated TCP --------------------------------


class Peer:
    """One end's byte stream, cut into MQTT packets as they arrive."""

    def __init__(self, ep: TcpEndpoint, decoder: StreamDecoder) -> None:
        self.ep = ep
        self.decoder = decoder
        self.pending: deque[Packet] = deque()

    def send(self, *packets: Packet) -> None:
        self.ep.send(b"".join(encode(p, V5) for p in packets))

    def next(self) -> Generator[simpy.Event, Any, Packet]:
        for _ in range(10_000):
            if self.pending:
                return self.pending.popleft()
            data = yield self.ep.recv()
            assert data, "connection ended early"
            self.pending.extend(self.decoder.feed(data))
        raise AssertionError("too many reads")


@dataclass
class Run:
    records: list[LinkRecord]
    done: bool


def simulate(
    payloads: list[bytes],
    *,
    loss_rate: float = 0.0,
    header_bytes: int = 40,
    seed: int = 1999,
    names: tuple[str, str] = ("st-01 up", "st-01 down"),
) -> Run:
    """A station connects, subscribes, publishes ``payloads`` at QoS 1, is sent one
    valve command at QoS 1, and disconnects; every segment is recorded."""
    rng = random.Random(seed)
    env = simpy.Environment()
    records: list[LinkRecord] = []
    up, down = (
        Link(
            env,
            name=name,
            delay_s=0.25,
            bandwidth_bps=9600.0,
            loss=Bernoulli(loss_rate, rng),
            observer=records.append,
        )
        for name in names
    )
    config = TcpConfig(header_bytes=header_bytes, mss_bytes=536)
    listener = TcpListener(env, config=config)
    path = Path(env, uplink=up, downlink=down, listener=listener, rng=rng)
    valve = Publish(
        topic="pipeline/st-01/valve", payload=b"close", qos=QoS.AT_LEAST_ONCE, packet_id=1
    )
    finished: list[str] = []

    def station() -> Proc:
        ep = yield path.connect(config)
        me = Peer(ep, StreamDecoder(version=V5))
        me.send(Connect(client_id="st-01", keep_alive_s=60))
        assert isinstance((yield from me.next()), ConnAck)
        me.send(
            Subscribe(
                packet_id=1,
                subscriptions=(Subscription(topic_filter="pipeline/+/valve", qos=QoS(1)),),
            )
        )
        assert isinstance((yield from me.next()), SubAck)
        for i, payload in enumerate(payloads):
            topic = "pipeline/st-01/pressure"
            me.send(Publish(topic=topic, payload=payload, qos=QoS(1), packet_id=i + 2))
            assert (yield from me.next()) == PubAck(packet_id=i + 2)
        assert (yield from me.next()) == valve
        me.send(PubAck(packet_id=1), Disconnect())
        ep.close()
        finished.append("station")

    def broker() -> Proc:
        ep = yield listener.accept()
        me = Peer(ep, StreamDecoder())
        assert isinstance((yield from me.next()), Connect)
        me.send(ConnAck())
        sub = yield from me.next()
        assert isinstance(sub, Subscribe)
        me.send(SubAck(packet_id=sub.packet_id, reason_codes=(ReasonCode.GRANTED_QOS_1,)))
        for i in range(len(payloads)):
            pub = yield from me.next()
            assert isinstance(pub, Publish) and pub.packet_id is not None
            last = i == len(payloads) - 1
            me.send(PubAck(packet_id=pub.packet_id), *([valve] if last else []))
        assert (yield from me.next()) == PubAck(packet_id=1)
        assert isinstance((yield from me.next()), Disconnect)
        assert (yield ep.recv()) == b""
        ep.close()
        finished.append("broker")

    env.process(station())
    env.process(broker())
    env.run(until=3600)
    return Run(records, done=sorted(finished) == ["broker", "station"])


# --- a minimal pcap reader, independent of the writer -------------------------------


def ones_complement_sum(data: bytes) -> int:
    """RFC 1071, the long way: add 16-bit words, folding the carries back in."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return total


@dataclass
class Frame:
    time_ns: int
    src: str
    dst: str
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    options: bytes
    payload: bytes
    size: int


def read_pcap(data: bytes) -> list[Frame]:
    magic, major, minor, _, _, _, linktype = struct.unpack_from("<IHHiIII", data, 0)
    assert (magic, major, minor, linktype) == (0xA1B23C4D, 2, 4, LINKTYPE_RAW)
    frames = []
    pos = 24
    while pos < len(data):
        sec, nsec, caplen, origlen = struct.unpack_from("<IIII", data, pos)
        assert caplen == origlen and nsec < 1_000_000_000
        frames.append(parse_frame(sec * 1_000_000_000 + nsec, data[pos + 16 : pos + 16 + caplen]))
        pos += 16 + caplen
    assert pos == len(data)
    return frames


def parse_frame(time_ns: int, frame: bytes) -> Frame:
    ver_ihl, _, total, _, frag, ttl, proto, _ = struct.unpack_from("!BBHHHBBH", frame)
    assert (ver_ihl, proto, ttl, frag) == (0x45, 6, 64, 0x4000)
    assert total == len(frame), "IPv4 total length"
    assert ones_complement_sum(frame[:20]) == 0xFFFF, "IPv4 header checksum"
    src, dst = frame[12:16], frame[16:20]
    tcp = frame[20:]
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    assert ones_complement_sum(pseudo + tcp) == 0xFFFF, "TCP checksum"
    sport, dport, seq, ack, offset, flags, window, _, urgent = struct.unpack_from("!HHIIBBHHH", tcp)
    header = (offset >> 4) * 4
    assert 20 <= header <= len(tcp) and offset & 0x0F == 0 and urgent == 0
    return Frame(
        time_ns=time_ns,
        src=".".join(map(str, src)),
        dst=".".join(map(str, dst)),
        sport=sport,
        dport=dport,
        seq=seq,
        ack=ack,
        flags=flags,
        window=window,
        options=tcp[20:header],
        payload=tcp[header:],
        size=len(frame),
    )


def segments(records: list[LinkRecord]) -> list[tuple[LinkRecord, Segment]]:
    out = []
    for rec in records:
        assert isinstance(rec.item, Segment)
        out.append((rec, rec.item))
    return out


def ns(t: float) -> int:
    return round(t * 1e9)


# --- the file, read back ------------------------------------------------------------


def test_frames_carry_the_segments_with_valid_lengths_checksums_and_sequence_numbers(
    tmp_path: FsPath,
) -> None:
    run = simulate([b"41.7 bar"])
    assert run.done
    out = tmp_path / "session.pcap"
    assert write_pcap(out, run.records) == len(run.records)
    frames = read_pcap(out.read_bytes())
    expected = sorted(segments(run.records), key=lambda pair: pair[0].time_s)
    assert len(frames) == len(expected)
    for frame, (rec, seg) in zip(frames, expected, strict=True):
        assert frame.time_ns == ns(rec.time_s)
        assert frame.size == rec.size_bytes == seg.size_bytes
        assert (frame.sport, frame.dport) == (seg.src_port, seg.dst_port)
        assert (frame.seq, frame.ack) == (seg.seq % 2**32, seg.ack % 2**32)
        assert (frame.flags, frame.window, frame.options) == (seg.flags, seg.window, b"")
        assert frame.payload == seg.payload
        uplink = rec.link == "st-01 up"
        assert (frame.src, frame.dst) == (
            (STATION, BROKER_ADDRESS) if uplink else (BROKER_ADDRESS, STATION)
        )
        assert (frame.dport if uplink else frame.sport) == 1883
    # The payloads, concatenated per direction, are the MQTT byte streams.
    upstream = b"".join(f.payload for f in frames if f.src == STATION)
    assert upstream.startswith(encode(Connect(client_id="st-01", keep_alive_s=60), V5))


def test_header_bytes_52_writes_a_timestamps_option_that_echoes_the_peer(
    tmp_path: FsPath,
) -> None:
    run = simulate([b"41.7 bar"], header_bytes=52)
    out = tmp_path / "ts.pcap"
    write_pcap(out, run.records)
    frames = read_pcap(out.read_bytes())
    sent_tsvals: dict[str, set[int]] = {STATION: set(), BROKER_ADDRESS: set()}
    for frame in frames:
        assert frame.size == 52 + len(frame.payload)
        nop, nop2, kind, length, tsval, tsecr = struct.unpack("!BBBBII", frame.options)
        assert (nop, nop2, kind, length) == (1, 1, 8, 10)
        assert 0 <= frame.time_ns / 1e6 - tsval < 1.001, "a millisecond clock"
        if frame.flags & ACK:
            assert tsecr in sent_tsvals[frame.dst], "echoes a TSval the peer sent"
        else:
            assert tsecr == 0
        sent_tsvals[frame.src].add(tsval)
    syn, syn_ack, third = frames[:3]
    assert (syn.flags, syn_ack.flags, third.flags) == (SYN, SYN | ACK, ACK)
    tsecr_of_third = struct.unpack("!I", third.options[8:12])[0]
    assert tsecr_of_third == struct.unpack("!I", syn_ack.options[4:8])[0]


def test_sequence_numbers_are_written_modulo_2_32_and_windows_capped_at_65535() -> None:
    seg = Segment(
        src_port=49152,
        dst_port=1883,
        seq=2**32 + 5,
        ack=3 * 2**32 + 7,
        flags=ACK | PSH,
        payload=b"\xc0\x00",  # PINGREQ
        header_bytes=40,
        window=2**20,
    )
    rec = LinkRecord(
        time_s=1.5, link="st-01 up", size_bytes=42, outcome="delivered", arrival_s=2.0, item=seg
    )
    buf = io.BytesIO()
    writer = PcapWriter(buf, epoch_s=915_148_800.0)  # 1999-01-01
    assert writer.write(rec)
    (frame,) = read_pcap(buf.getvalue())
    assert (frame.seq, frame.ack, frame.window) == (5, 7, 65535)
    assert frame.time_ns == 915_148_801_500_000_000


def test_odd_header_sizes_become_nop_options_in_whole_words() -> None:
    def frame_for(header_bytes: int) -> Frame:
        seg = Segment(
            src_port=1883, dst_port=49152, seq=1, ack=1, flags=ACK, payload=b"x",
            header_bytes=header_bytes, window=1000,
        )  # fmt: skip
        rec = LinkRecord(
            time_s=0.0, link="down", size_bytes=seg.size_bytes, outcome="lost", arrival_s=None,
            item=seg,
        )  # fmt: skip
        buf = io.BytesIO()
        PcapWriter(buf).write(rec)
        (frame,) = read_pcap(buf.getvalue())
        return frame

    assert frame_for(48).options == b"\x01" * 8
    assert frame_for(64).options[:12] == b"\x01" * 12 and frame_for(64).options[14] == 8
    assert len(frame_for(50).options) == 8  # rounded down to a whole word
    assert len(frame_for(120).options) == 40  # TCP's limit
    assert (frame_for(48).src, frame_for(48).dst) == (BROKER_ADDRESS, STATION)


def test_what_each_vantage_point_sees(tmp_path: FsPath) -> None:
    run = simulate([b"x" * 100] * 10, loss_rate=0.2)
    assert run.done
    recs = [r for r, _ in segments(run.records)]
    assert any(r.outcome == "lost" for r in recs) and any(r.outcome == "delivered" for r in recs)

    def times(vantage: Vantage) -> list[int]:
        out = tmp_path / f"{vantage}.pcap"
        write_pcap(out, run.records, vantage=vantage)
        return [f.time_ns for f in read_pcap(out.read_bytes())]

    delivered = [r for r in recs if r.outcome == "delivered"]
    assert times("sender") == sorted(ns(r.time_s) for r in recs)
    assert times("receiver") == sorted(ns(r.arrival_s or 0) for r in delivered)
    up = [r for r in recs if r.link.endswith("up")]
    down = [r for r in recs if r.link.endswith("down")]
    at_station = [ns(r.time_s) for r in up] + [ns(r.arrival_s) for r in down if r.arrival_s]
    at_broker = [ns(r.time_s) for r in down] + [ns(r.arrival_s) for r in up if r.arrival_s]
    assert times("client") == sorted(at_station)
    assert times("broker") == sorted(at_broker)


def test_queue_full_records_and_other_items_are_skipped() -> None:
    seg = Segment(
        src_port=49152, dst_port=1883, seq=0, ack=0, flags=SYN, payload=b"",
        header_bytes=40, window=65535,
    )  # fmt: skip
    buf = io.BytesIO()
    writer = PcapWriter(buf)
    full = LinkRecord(
        time_s=0.0, link="up", size_bytes=40, outcome="queue-full", arrival_s=None, item=seg
    )
    other = LinkRecord(
        time_s=0.0, link="up", size_bytes=40, outcome="delivered", arrival_s=1.0, item=b"datagram"
    )
    assert not writer.write(full) and not writer.write(other)
    assert writer.frames == 0 and len(buf.getvalue()) == 24


def test_stations_are_numbered_by_link_name_without_the_direction_word() -> None:
    addresses = HostAddresses()
    seg_up = Segment(
        src_port=49152, dst_port=1883, seq=0, ack=0, flags=SYN, payload=b"",
        header_bytes=40, window=1,
    )  # fmt: skip
    seg_down = Segment(
        src_port=1883, dst_port=49152, seq=0, ack=1, flags=SYN | ACK, payload=b"",
        header_bytes=40, window=1,
    )  # fmt: skip

    def addr(link: str, seg: Segment) -> tuple[str, str]:
        rec = LinkRecord(
            time_s=0.0, link=link, size_bytes=40, outcome="delivered", arrival_s=0.1, item=seg
        )
        return addresses(rec)

    assert addr("st-07 up", seg_up) == ("192.0.2.1", BROKER_ADDRESS)
    assert addr("st-07 down", seg_down) == (BROKER_ADDRESS, "192.0.2.1")
    assert addr("st_08_uplink", seg_up) == ("192.0.2.2", BROKER_ADDRESS)
    assert addr("st_08-downlink", seg_down) == (BROKER_ADDRESS, "192.0.2.2")
    assert addr("backup", seg_up) == ("192.0.2.3", BROKER_ADDRESS)
    assert addresses.hosts == {"st-07": "192.0.2.1", "st_08": "192.0.2.2", "backup": "192.0.2.3"}


def test_custom_addresses_and_an_unknown_vantage(tmp_path: FsPath) -> None:
    run = simulate([b"1"])
    out = tmp_path / "custom.pcap"
    write_pcap(out, run.records, addresses=lambda rec: ("203.0.113.9", "203.0.113.10"))
    assert {(f.src, f.dst) for f in read_pcap(out.read_bytes())} == {
        ("203.0.113.9", "203.0.113.10")
    }
    with pytest.raises(ValueError, match="vantage must be one of"):
        PcapWriter(io.BytesIO(), vantage="satellite")  # type: ignore[arg-type]


# --- tshark's verdict -----------------------------------------------------------------

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")


def tshark(path: FsPath, home: FsPath, *args: str) -> list[list[str]]:
    """Run tshark on a file, returning its tab-separated rows."""
    assert TSHARK is not None
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home)}
    proc = subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-o", "tcp.analyze_sequence_numbers:TRUE",
         "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", *args],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    return [line.split("\t") for line in proc.stdout.splitlines()]


# Expert-info groups and severities as tshark prints them (epan/proto.h).
PI_SEQUENCE = 0x02000000
PI_MALFORMED = 0x07000000
PI_WARN = 0x00600000


def expert_problems(path: FsPath, home: FsPath, *prefs: str) -> list[str]:
    """Malformed frames, and warnings or errors other than TCP's sequence analysis.

    TCP's analysis (group "Sequence") warns of retransmissions and of gaps
    where a vantage point missed a lost segment: the lesson itself, not a
    fault of the file. Anything else at warning or above is a problem: a
    malformed packet (``"frame 9: malformed MQTT"``, naming the protocols
    that failed), a bad checksum, an MQTT field out of range.
    """
    rows = tshark(
        path, home, *prefs, "-Y", "_ws.malformed || _ws.expert.severity >= warning",
        "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|",
        "-e", "frame.number", "-e", "_ws.malformed", "-e", "_ws.expert.group",
        "-e", "_ws.expert.severity", "-e", "_ws.expert.message",
    )  # fmt: skip
    problems = []
    for frame, malformed, groups, severities, messages in rows:
        if malformed:
            protocols = sorted(set(re.findall(r"Malformed Packet: ([\w.-]+)", malformed)))
            problems.append(f"frame {frame}: malformed {'/'.join(protocols) or '?'}")
        items = zip(groups.split("|"), severities.split("|"), messages.split("|"), strict=True)
        for group, severity, message in items:
            if malformed and int(group) == PI_MALFORMED:
                continue  # the malformed packet, reported above with its protocol
            if int(severity) >= PI_WARN and int(group) != PI_SEQUENCE:
                problems.append(f"frame {frame}: {message}")
    return problems


def frames_after_a_hole(records: list[LinkRecord], vantage: Vantage) -> set[int]:
    """The frames, numbered as :func:`write_pcap` writes them, whose data starts
    beyond a hole in what ``vantage`` has seen of that direction's byte stream.

    Nothing there tells Wireshark where an MQTT packet starts: unless it
    reassembles out of order, it dissects such a frame from its first byte,
    which may be in the middle of a packet, and finds it malformed; having
    taken the wrong boundaries, it may find later frames of that direction
    malformed too. A real capture taken there shows the same.
    """
    writer = PcapWriter(io.BytesIO(), vantage=vantage)
    timed = [(t, r) for r in records if (t := writer.capture_time(r)) is not None]
    timed.sort(key=lambda pair: pair[0])  # as write_pcap orders them
    in_order: dict[tuple[int, int], int] = {}  # per direction: the next octet in order
    beyond: dict[tuple[int, int], dict[int, int]] = {}  # segments past a hole: seq -> end
    found = set()
    for number, (_, record) in enumerate(timed, start=1):
        seg = record.item
        assert isinstance(seg, Segment)
        direction = (seg.src_port, seg.dst_port)
        if seg.flags & SYN:
            in_order.setdefault(direction, seg.seq + 1)
            continue
        nxt = in_order.get(direction)
        if nxt is None or not seg.seq_len:
            continue
        later = beyond.setdefault(direction, {})
        if seg.seq > nxt:
            found.add(number)
            later[seg.seq] = max(later.get(seg.seq, 0), seg.seq + seg.seq_len)
            continue
        nxt = max(nxt, seg.seq + seg.seq_len)
        while later and min(later) <= nxt:  # the hole filled: what waited is in order
            nxt = max(nxt, later.pop(min(later)))
        in_order[direction] = nxt
    return found


@needs_tshark
def test_tshark_dissects_every_payload_frame_as_mqtt_in_order(tmp_path: FsPath) -> None:
    run = simulate([b"41.7 bar"])
    out = tmp_path / "session.pcap"
    write_pcap(out, run.records)
    rows = tshark(
        out, tmp_path, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
        "-e", "frame.number", "-e", "_ws.col.Protocol", "-e", "tcp.len", "-e", "mqtt.msgtype",
        "-e", "ip.checksum.status", "-e", "tcp.checksum.status",
    )  # fmt: skip
    print("\n".join("\t".join(r) for r in rows))
    assert len(rows) == len(run.records)
    msgtypes = []
    for _, protocol, tcp_len, types, ip_ok, tcp_ok in rows:
        assert (ip_ok, tcp_ok) == ("1", "1"), "tshark's checksum verdict: good"
        if int(tcp_len) > 0:
            assert protocol == "MQTT"
            msgtypes += [int(t) for t in types.split(",")]
        else:
            assert protocol == "TCP" and types == ""
    assert msgtypes == [
        CONNECT, CONNACK, SUBSCRIBE, SUBACK, PUBLISH, PUBACK, PUBLISH, PUBACK, DISCONNECT
    ]  # fmt: skip
    assert expert_problems(out, tmp_path) == []
    # Not even TCP's analysis has anything to say about a loss-free run.
    assert tshark(out, tmp_path, "-Y", "_ws.expert.severity >= warning") == []


@needs_tshark
@pytest.mark.parametrize("vantage", ["sender", "receiver", "client", "broker"])
@pytest.mark.parametrize("header_bytes", [40, 52])
def test_tshark_finds_nothing_malformed_on_a_lossy_link(
    tmp_path: FsPath, vantage: Vantage, header_bytes: int
) -> None:
    # Payloads larger than the 536-byte MSS span segments: reassembly is exercised.
    payloads = [bytes([65 + i]) * (40 if i % 3 else 1200) for i in range(12)]
    run = simulate(payloads, loss_rate=0.2, header_bytes=header_bytes)
    assert run.done
    assert any(isinstance(r.item, Segment) and r.item.retransmission for r in run.records)
    out = tmp_path / "lossy.pcap"
    write_pcap(out, run.records, vantage=vantage)
    # Where a loss leaves a gap, the retransmission that fills it arrives
    # "out of order" for Wireshark, which dissects it only with this
    # preference on: as it would for a real capture at the receiver.
    out_of_order = ("-o", "tcp.reassemble_out_of_order:TRUE")
    assert expert_problems(out, tmp_path, *out_of_order) == []
    # Without it, a segment that arrives beyond the gap (sent after the lost
    # one: the rest of a flight, or Linux's loss probe) is dissected from its
    # first byte, mid-packet perhaps: from there on MQTT may be malformed,
    # and nothing else is wrong.
    problems = expert_problems(out, tmp_path)
    after_hole = frames_after_a_hole(run.records, vantage)
    if not after_hole:
        assert problems == []
    for problem in problems:
        frame, what = problem.removeprefix("frame ").split(": ", 1)
        assert (what, int(frame) >= min(after_hole)) == ("malformed MQTT", True), problem
    rows = tshark(
        out, tmp_path, *out_of_order, "-Y", "mqtt.msgtype == 3", "-T", "fields",
        "-E", "occurrence=a", "-E", "aggregator=,", "-e", "mqtt.msgid",
    )  # fmt: skip
    ids = {int(i) for (row,) in rows for i in row.split(",") if i}
    assert ids == set(range(1, len(payloads) + 2)), "every PUBLISH dissected at least once"


@needs_tshark
def test_the_tshark_check_itself_catches_malformed_mqtt_and_a_bad_checksum(
    tmp_path: FsPath,
) -> None:
    bad_length = b"\x30\xff\xff\xff\xff\x7f"  # a five-byte Remaining Length
    seg = Segment(
        src_port=49152, dst_port=1883, seq=1, ack=1, flags=ACK | PSH, payload=bad_length,
        header_bytes=40, window=65535,
    )  # fmt: skip
    rec = LinkRecord(
        time_s=0.0, link="up", size_bytes=46, outcome="delivered", arrival_s=0.1, item=seg
    )
    out = tmp_path / "bad.pcap"
    write_pcap(out, [rec])
    assert expert_problems(out, tmp_path)
    run = simulate([b"41.7 bar"])
    write_pcap(out, run.records)
    data = bytearray(out.read_bytes())
    data[-1] ^= 0x01  # the last frame's last byte: its TCP checksum no longer holds
    out.write_bytes(data)
    assert any("checksum" in p.lower() for p in expert_problems(out, tmp_path))
