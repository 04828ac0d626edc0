"""Facts from the specifications and the literature, checked in the model.

Sources:

* [MQTT311] OASIS, *MQTT Version 3.1.1*, OASIS Standard, 29 October 2014:
  §2.2 (fixed header, Remaining Length), §3.3 (PUBLISH), §3.4-§3.7 (PUBACK,
  PUBREC, PUBREL, PUBCOMP: two bytes of header, two of Packet Identifier),
  §4.3.2 and §4.3.3 (the QoS 1 and QoS 2 flows).
* [RFC791] J. Postel, *Internet Protocol*, RFC 791, 1981, §3.1: a 20-byte
  header without options. [RFC9293] W. Eddy (ed.), *Transmission Control
  Protocol*, RFC 9293, 2022, §3.1: a 20-byte header without options.
  [RFC7323] D. Borman, B. Braden, V. Jacobson, R. Scheffenegger (ed.), *TCP
  Extensions for High Performance*, RFC 7323, 2014, §3: the timestamps
  option, 10 bytes, padded to 12, in every segment once negotiated (Linux
  negotiates it by default).
* [RFC6298] V. Paxson, M. Allman, J. Chu, M. Sargent, *Computing TCP's
  Retransmission Timer*, RFC 6298, 2011: a segment not acknowledged within
  the RTO (at least 1 s, §2.4) is retransmitted (§5.4), and each further
  expiry doubles the RTO (§5.5). [RFC5681] M. Allman, V. Paxson, E. Blanton,
  *TCP Congestion Control*, RFC 5681, 2009, §3.2: fast retransmit needs
  three duplicate ACKs, which a lone MQTT exchange never produces, so a
  lost segment of it waits for the RTO.
* [Gilbert1960] E. N. Gilbert, "Capacity of a burst-noise channel", *Bell
  System Technical Journal* 39(5), 1960; [Elliott1963] E. O. Elliott,
  "Estimates of error rates for codes on burst-noise channels", *BSTJ*
  42(5), 1963: the two-state model of bursty loss.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any

import numpy as np
import pytest
import simpy

from mqttsim.protocol import (
    Broker,
    BrokerConfig,
    ClientConnection,
    ProtocolVersion,
    PublishAcked,
    PublishCompleted,
)
from mqttsim.sim.link import Link, LinkRecord
from mqttsim.sim.loopback import LoopbackPath
from mqttsim.sim.loss import Bernoulli, GilbertElliott, LossModel
from mqttsim.sim.node import SimBroker, SimClient
from mqttsim.sim.path import Path, TcpListener
from mqttsim.sim.tcp_segment import Segment, TcpConfig

Proc = Generator[simpy.Event, Any, None]
TOPIC = "st/pres"  # 7 bytes
PAYLOAD = b"12345678"  # 8 bytes
DELAY_S = 0.25


def exchange(
    qos: int,
    *,
    count: int = 1,
    every_s: float = 30.0,
    up_loss: LossModel | None = None,
    down_loss: LossModel | None = None,
    bandwidth_bps: float | None = None,
    tcp: TcpConfig | None = None,
) -> tuple[list[float], list[LinkRecord]]:
    """Publish ``count`` messages, one every ``every_s``, over one satellite hop,
    with TCP settings ``tcp`` at both ends (default ``TcpConfig()``).

    Returns:
        For each QoS 1/2 message, the time from publish() to the end of its
        exchange at the publisher (PUBACK for QoS 1, PUBCOMP for QoS 2); and
        every packet on the two links. The publisher resumes its session if
        TCP gives up, so every exchange ends.
    """
    env = simpy.Environment()
    records: list[LinkRecord] = []
    listener = TcpListener(env, config=tcp)
    SimBroker(env, listener, Broker(BrokerConfig(sys_interval_s=0)))
    up, down = (
        Link(
            env,
            name=f"st {d}",
            delay_s=DELAY_S,
            bandwidth_bps=bandwidth_bps,
            loss=loss,
            observer=records.append,
        )
        for d, loss in (("up", up_loss), ("down", down_loss))
    )
    v311 = ProtocolVersion.V311
    publisher = SimClient(
        env,
        Path(env, uplink=up, downlink=down, listener=listener),
        ClientConnection(client_id="st", version=v311, keep_alive_s=600, clean_start=False),
        rng=random.Random(1),
        log_acks=True,
        tcp_config=tcp,
    )
    subscriber = SimClient(
        env,
        LoopbackPath(env, listener),
        ClientConnection(client_id="scada", version=v311),
        rng=random.Random(2),
    )
    sent: dict[int, float] = {}
    done: list[float] = []

    def publish() -> Proc:
        yield subscriber.connected()
        subscriber.subscribe("st/#", qos=2)
        yield publisher.connected()
        for _ in range(count):
            yield env.timeout(every_s)
            pid = publisher.publish(TOPIC, PAYLOAD, qos=qos)
            if pid is not None:
                sent[pid] = env.now

    env.process(publish())
    env.run(until=every_s * (count + 2) + 600)
    for t, event in publisher.log:
        if isinstance(event, PublishAcked | PublishCompleted):
            done.append(t - sent[event.packet_id])
    assert len(done) == (count if qos else 0)
    return done, records


def segments_of_the_exchange(records: list[LinkRecord]) -> list[tuple[str, int, bytes]]:
    """The segments of the one message published at 30 s (before any keep-alive ping)."""
    out = []
    for r in records:
        seg = r.item
        assert isinstance(seg, Segment)
        if 30.0 <= r.time_s < 60.0:
            out.append((r.link, r.size_bytes, seg.payload))
    return out


@pytest.mark.parametrize(("qos", "round_trips"), [(1, 1), (2, 2)])
def test_qos1_completes_after_one_round_trip_and_qos2_after_two(qos: int, round_trips: int) -> None:
    # [MQTT311] §4.3.2: PUBLISH -> PUBACK; §4.3.3: PUBLISH -> PUBREC, PUBREL -> PUBCOMP.
    (elapsed,), _ = exchange(qos)
    assert elapsed == pytest.approx(round_trips * 2 * DELAY_S)


def test_packet_sizes_for_a_7_byte_topic_and_8_byte_payload() -> None:
    # [MQTT311] §3.3: fixed header 2 + topic length 2 + topic 7 (+ packet id 2) + payload 8.
    # §3.4-§3.7: every acknowledgement is 4 bytes. [RFC791]+[RFC9293]+[RFC7323]: 20 + 20
    # + 12 = 52 per segment.
    # Linux's ACKs (mqttsim.sim.tcp_ack): the broker answered the CONNECT at once, so
    # the connection is interactive there and its ACKs wait 40 ms for a reply to
    # carry them. The publisher replied to nothing at once: after 30 s idle (more
    # than an RTO) it is in quick-ACK mode and acknowledges at once, before its
    # application reads, until its PUBREL makes it interactive too.
    sizes = {}
    for qos in (0, 1, 2):
        _, records = exchange(qos)
        sizes[qos] = [
            (link, size, len(payload)) for link, size, payload in segments_of_the_exchange(records)
        ]
    assert sizes[0] == [("st up", 71, 19), ("st down", 52, 0)]  # the broker's delayed ACK
    assert sizes[1] == [("st up", 73, 21), ("st down", 56, 4), ("st up", 52, 0)]
    assert sizes[2] == [
        ("st up", 73, 21),  # PUBLISH
        ("st down", 56, 4),  # PUBREC
        ("st up", 52, 0),  # the quick ACK of PUBREC
        ("st up", 56, 4),  # PUBREL
        ("st down", 56, 4),  # PUBCOMP
        ("st up", 52, 0),  # the delayed ACK of PUBCOMP
    ]


def test_with_independent_loss_p_each_way_one_minus_q_squared_wait_an_rto() -> None:
    # A QoS 1 exchange is one segment each way: it waits for a retransmission
    # timeout ([RFC6298] §5.4; no fast retransmit, [RFC5681] §3.2) unless both
    # arrive, which independent loss allows with probability (1 - p)**2. The
    # RFC 6298 profile: Linux's RTO may be shorter than 1 s, and its loss probe
    # may come first.
    p, n = 0.1, 2000
    rng = random.Random(2024)
    up, down = Bernoulli(p, rng), Bernoulli(p, rng)
    elapsed, _ = exchange(1, count=n, up_loss=up, down_loss=down, tcp=TcpConfig.rfc6298())
    waited = np.mean(np.asarray(elapsed) >= 1.0)  # the RTO is at least 1 s ([RFC6298] §2.4)
    expected = 1 - (1 - p) ** 2  # 0.19
    assert waited == pytest.approx(expected, abs=4 * np.sqrt(expected * (1 - expected) / n))
    # Without loss the exchange takes one round trip; with it, at least one RTO more.
    assert min(elapsed) == pytest.approx(2 * DELAY_S)
    assert all(e < 2 * DELAY_S + 1e-9 or e >= 1.0 + 2 * DELAY_S - 1e-9 for e in elapsed)


def test_bursty_loss_has_a_longer_latency_tail_than_independent_loss_of_the_same_mean() -> None:
    # Consecutive losses of one segment double the RTO each time ([RFC6298] §5.5);
    # a Gilbert-Elliott channel ([Gilbert1960], [Elliott1963]) makes them likely.
    p, n = 0.05, 2000

    def tail(make: Any) -> float:
        elapsed, _ = exchange(1, count=n, up_loss=make(1), down_loss=make(2))
        return float(np.percentile(elapsed, 99.5))

    independent = tail(lambda s: Bernoulli(p, random.Random(s)))
    bursty = tail(lambda s: GilbertElliott.from_mean(p, 4.0, random.Random(s)))
    assert bursty > 2 * independent
