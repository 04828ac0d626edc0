"""The logs and the summary: columns, MQTT labels from the byte stream, and the arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import simpy

from mqttsim.protocol import ProtocolVersion, PubAck, Publish, QoS, encode
from mqttsim.sim.link import Link
from mqttsim.sim.metrics import MB, LinkTotals, MessageLog, PacketLog, _Flow, _scan, summarize
from mqttsim.sim.tcp_segment import ACK, PSH, SYN, Segment

V311 = ProtocolVersion.V311


def publish(topic: str, payload: bytes, qos: int = 0, pid: int | None = None) -> bytes:
    return encode(Publish(topic=topic, payload=payload, qos=QoS(qos), packet_id=pid), V311)


# --- MessageLog --------------------------------------------------------------------------------


def test_message_log_counts_deliveries_and_keeps_the_first_time() -> None:
    log = MessageLog()
    a = log.published("st-01", "p/a", "report", 1, 10.0, 12)
    b = log.published("st-02", "p/b", "alarm", 1, 11.0, 20)
    log.delivered(a, 10.5)
    log.delivered(a, 12.0)  # a QoS 1 duplicate
    frame = log.frame()
    assert (a, b) == (0, 1)
    assert frame["deliveries"].tolist() == [2, 0]
    assert frame["delivered_s"].tolist()[0] == 10.5 and math.isnan(frame["delivered_s"][1])
    assert frame["latency_s"].tolist()[0] == pytest.approx(0.5)
    assert math.isnan(frame["latency_s"][1])
    assert frame["station"].astype(str).tolist() == ["st-01", "st-02"]


# --- following the MQTT stream in TCP segments -------------------------------------------------


def test_scan_names_packets_that_start_in_each_segment_even_across_cuts() -> None:
    head = publish("a/b", b"1") + encode(PubAck(packet_id=7), V311)
    big = publish("a/b", b"x" * 200)  # Remaining Length takes two bytes (200 + 7 > 127)
    stream = head + big + publish("c", b"")
    # Cut after the big packet's type byte, inside its Remaining Length, after it, and later.
    cuts = [len(head) + k for k in (1, 2, 3, 100)]
    flow = _Flow(1000)
    types: list[list[int]] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        types.append(_scan(flow, 1000 + start, stream[start:cut]))
        start = cut
    # PUBLISH, PUBACK and the big PUBLISH start in the first segment; the last PUBLISH in the last.
    assert types == [[3, 4, 3], [], [], [], [3]]
    assert flow.next_start == 1000 + len(stream) and flow.carry == b""

    # A segment that starts in the middle of a packet names only what starts after.
    flow = _Flow(0)
    assert _scan(flow, 0, big[:50]) == [3]
    assert _scan(flow, 50, big[50:] + head) == [3, 4]


def test_packet_log_labels_segments_and_their_retransmissions() -> None:
    env = simpy.Environment()
    log = PacketLog()
    up_obs, down_obs = log.observers("st", "st up", "st down")
    up = Link(env, name="st up", delay_s=0.1, observer=up_obs)

    def seg(seq: int, flags: int, payload: bytes = b"", retx: Segment | None = None) -> Segment:
        return Segment(
            src_port=50000,
            dst_port=1883,
            seq=seq,
            ack=0,
            flags=flags,
            payload=payload,
            header_bytes=40,
            window=65535,
            retransmission=retx is not None,
            note=None if retx is None else retx.note,  # as TcpEndpoint hands it on
        )

    data = publish("a/b", b"1", 1, 1) + publish("a/b", b"2", 1, 2)
    original = seg(100, ACK | PSH, data)
    for s in (seg(99, SYN), original):
        up.send(s, s.size_bytes)
    again = seg(100, ACK | PSH, data, retx=original)
    up.send(again, again.size_bytes)
    frame = log.frame()
    assert frame["mqtt"].astype(str).tolist() == ["", "PUBLISHx2", "PUBLISHx2"]
    assert frame["flags"].astype(str).tolist() == ["SYN", "PSH|ACK", "PSH|ACK"]
    assert frame["retransmission"].tolist() == [False, False, True]
    assert frame["client_port"].tolist() == [50000] * 3
    assert frame["direction"].astype(str).tolist() == ["up"] * 3
    assert frame["size_bytes"].tolist() == [40, 40 + len(data), 40 + len(data)]
    assert frame["outcome"].astype(str).tolist() == ["delivered"] * 3
    assert down_obs is not up_obs


# --- summarize ----------------------------------------------------------------------------------


def test_summary_arithmetic() -> None:
    messages = pd.DataFrame(
        {
            "qos": [1] * 5,
            "deliveries": [1, 1, 2, 1, 0],
            "latency_s": [1.0, 2.0, 3.0, 4.0, np.nan],
            "payload_bytes": [10, 10, 10, 10, 10],
        }
    )
    totals = LinkTotals(
        bytes=MB,
        packets=100,
        radio_on_s=36.0,
        node_time_s=3600.0,
        price_per_mb_usd=2.0,
        price_per_message_usd=0.01,
    )
    (row,) = summarize(messages, totals).to_dict("records")
    assert row["messages"] == 5 and row["delivered"] == 4 and row["lost"] == 1
    assert row["delivery_ratio"] == 0.8
    assert row["duplicates"] == 1
    assert row["latency_p50_s"] == 2.5 and row["latency_max_s"] == 4.0
    assert row["latency_p95_s"] == pytest.approx(np.percentile([1, 2, 3, 4], 95))
    assert row["payload_bytes_delivered"] == 40
    assert row["link_bytes_per_payload_byte"] == MB / 40
    assert row["link_bytes_per_message"] == MB / 4
    assert row["cost_usd"] == 2.0 and row["cost_per_message_usd"] == 0.5
    assert row["cost_per_message_billing_usd"] == pytest.approx(1.0)  # 100 packets x $0.01
    assert row["radio_on_s"] == 36.0 and row["radio_on_fraction"] == 0.01


def test_summary_of_a_run_that_delivered_nothing_has_no_latency() -> None:
    messages = pd.DataFrame(
        {"qos": [0, 0], "deliveries": [0, 0], "latency_s": [np.nan] * 2, "payload_bytes": [5, 5]}
    )
    totals = LinkTotals(
        bytes=100,
        packets=2,
        radio_on_s=0.0,
        node_time_s=10.0,
        price_per_mb_usd=1.0,
        price_per_message_usd=None,
    )
    (row,) = summarize(messages, totals).to_dict("records")
    assert row["delivery_ratio"] == 0.0
    assert math.isnan(row["latency_p99_s"]) and math.isnan(row["link_bytes_per_payload_byte"])
    assert math.isnan(row["cost_per_message_billing_usd"])


def test_every_delivery_is_a_row_numbered_per_message_and_subscriber() -> None:
    log = MessageLog()
    a = log.published("st-01", "p/a", "report", 1, 0.0, 1)
    b = log.published("st-01", "p/b", "report", 1, 0.0, 1)
    log.delivered(a, 1.0, "host")
    log.delivered(b, 1.5, "host")
    log.delivered(a, 2.0, "backup")
    log.delivered(a, 9.0, "host")
    frame = log.deliveries_frame()
    assert frame.values.tolist() == [
        [0, "host", 1.0, 1],
        [1, "host", 1.5, 1],
        [0, "backup", 2.0, 1],  # the first delivery to this subscriber
        [0, "host", 9.0, 2],
    ]
