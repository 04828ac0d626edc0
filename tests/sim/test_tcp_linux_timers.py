"""Linux's timers as the linux profile models them, and two details of its loss recovery.

Each against a trace computed by hand. Links: 250 ms each way, no jitter,
no bandwidth limit, so a round trip is 0.5 s.
"""

from __future__ import annotations

import pytest

from mqttsim.sim.tcp import TcpEndpoint
from mqttsim.sim.tcp_segment import SYN, TcpConfig
from mqttsim.sim.tcp_timers import linux_timer_fires_s

from .test_tcp import DropNth, Net, Proc, answer, ask, make_net, read_exactly

LINUX = TcpConfig.linux()


@pytest.mark.parametrize(
    ("now_s", "deadline_s", "fires_s"),
    [
        # 40 ms = 10 jiffies at HZ=250: level 0, one jiffy past the expiry.
        (0.0, 0.040, 0.044),
        (0.001, 0.041, 0.044),  # armed within jiffy 0: ceil(9.75) = 10 jiffies from jiffy 0
        # An RTO of 762 ms = ceil(190.5) = 191 jiffies: level 1 (63..503), rounded
        # up past a multiple of 8 jiffies: (191 >> 3) + 1 = 24, x 8 = 192 jiffies.
        (0.0, 0.762, 0.768),
        # Backed off to 3.048 s = 762 jiffies: level 2 (504..4031), 64-jiffy buckets:
        # (762 >> 6) + 1 = 12, x 64 = 768 jiffies = 3.072 s.
        (0.0, 3.048, 3.072),
        # 25 s = 6250 jiffies: level 3, 512-jiffy buckets: (6250 >> 9) + 1 = 13, x 512.
        (0.0, 25.0, 26.624),
        # The bucket is in absolute jiffies: armed at jiffy 100 for 191 jiffies.
        (0.4, 1.164, 1.184),
    ],
)
def test_a_linux_timer_fires_at_its_wheel_bucket(
    now_s: float, deadline_s: float, fires_s: float
) -> None:
    assert linux_timer_fires_s(now_s, deadline_s, 250) == pytest.approx(fires_s)


def test_the_linux_profile_uses_hz_250_and_the_rfc_profile_exact_timers() -> None:
    assert LINUX.timer_hz == 250
    assert TcpConfig.rfc6298().timer_hz == 0


def _syn_sends(net: Net) -> list[tuple[str, float]]:
    return [(rec.link, round(rec.time_s, 6)) for rec, seg in net.segments() if seg.flags & SYN]


def test_the_first_syn_retransmission_waits_for_the_timer_wheel() -> None:
    # The SYN is lost. The 1 s initial RTO is 250 jiffies, level 1: it fires at
    # jiffy (250 >> 3 + 1) x 8 = 256, 1.024 s, not 1.000 s.
    net = make_net(up_loss=DropNth(0), server_config=LINUX)
    net.run_pair(lambda ep: iter(()), config=LINUX, until=5)
    assert _syn_sends(net)[:2] == [("up", 0.0), ("up", 1.024)]


def test_a_repeated_syn_restarts_the_syn_ack_timer() -> None:
    # The SYN-ACK (sent at 0.25) is lost. Its timer would fire at 0.25 + 1.024 =
    # 1.274 s; the client's SYN, repeated at 1.024, arrives at 1.274 first (the
    # server's jiffy 63.5 -> its timer is due at jiffy 320, 1.28 s). Linux answers
    # the repeated SYN with a SYN-ACK and counts the timeout from then
    # (tcp_check_req()), so no second SYN-ACK follows 6 ms later.
    net = make_net(down_loss=DropNth(0), server_config=LINUX)
    net.run_pair(lambda ep: iter(()), config=LINUX, until=5)
    assert _syn_sends(net) == [("up", 0.0), ("down", 0.25), ("up", 1.024), ("down", 1.274)]


def test_a_duplicate_of_a_held_segment_is_sacked_so_the_hole_is_repaired_at_once() -> None:
    # The client sends A at 1 s after connecting and B 1 s later. A is lost;
    # B arrives out of order and the receiver's duplicate ACK with its SACK is
    # lost too. The tail-loss probe resends B; the receiver, which holds B,
    # answers with a SACK for it (a D-SACK on Linux, RFC 2883), and that SACK
    # lets RACK mark A lost: A is resent the moment that ACK arrives, not an
    # RTO later. Uplink packets: SYN 0, ACK 1, A 2, B 3, probe 4, A again 5;
    # downlink: SYN-ACK 0, the duplicate ACK for B 1.
    net = make_net(up_loss=DropNth(2), down_loss=DropNth(1), server_config=LINUX)

    def client(ep: TcpEndpoint) -> Proc:
        yield net.env.timeout(1.0)
        ep.send(b"A" * 40)
        yield net.env.timeout(1.0)
        ep.send(b"B" * 40)
        yield net.env.timeout(10.0)

    def server(ep: TcpEndpoint) -> Proc:
        yield from read_exactly(ep, 80)

    net.run_pair(client, server, config=TcpConfig.linux(nagle=False), until=20)
    up = [(rec.time_s, seg.payload[:1], seg.retransmission) for rec, seg in net.segments("up")]
    data = [(t, p, r) for t, p, r in up if p]
    assert [(p, r) for _, p, r in data] == [
        (b"A", False),
        (b"B", False),
        (b"B", True),
        (b"A", True),
    ]
    probe_at, resend_at = data[2][0], data[3][0]
    acks = [rec.time_s + 0.25 for rec, seg in net.segments("down") if rec.time_s > probe_at]
    assert resend_at == pytest.approx(acks[0], abs=1e-6)  # the probe's ACK arrives: A leaves


def _steady_then_writes(
    net: Net, config: TcpConfig, at_s: float, writes: list[tuple[bytes, float]]
) -> float:
    """Twenty request/response exchanges a second apart (SRTT is then the path's
    RTT and the RTO SRTT + 200 ms), then from ``at_s`` each write followed by its
    pause; the client's RTO at ``at_s``."""
    rto: list[float] = []

    def client(ep: TcpEndpoint) -> Proc:
        yield from ask(net, ep, 20)
        yield net.env.timeout(at_s - net.env.now)
        rto.append(ep.rto_s)
        for data, pause_s in writes:
            ep.send(data)
            yield net.env.timeout(pause_s)

    def server(ep: TcpEndpoint) -> Proc:
        yield from answer(ep, 20)
        yield from read_exactly(ep, sum(len(data) for data, _ in writes))

    net.run_pair(client, server, config=config, until=60)
    return rto[0]


class _DropBetween:
    """A loss model that drops what is sent in [start_s, end_s)."""

    def __init__(self, start_s: float, end_s: float) -> None:
        self.window = (start_s, end_s)

    def lost(self, now: float) -> bool:
        return self.window[0] <= now < self.window[1]


def test_a_loss_probe_after_new_data_counts_the_rto_from_the_oldest_segment() -> None:
    # After 20 exchanges the RTO is SRTT + 200 ms = 0.7 s (exact timers here).
    # At T the client sends A, at T+0.3 B; B's ACK (sent about T+0.55) is lost.
    # A's ACK (about T+0.5) restarts the timer: a probe in min(PTO, RTO) =
    # min(1.2, 0.7) s, about T+1.2. At T+1.1 the client sends C. Linux caps
    # the new PTO (2·SRTT + 2 ms = 1.002 s) by the RTO counted from the
    # oldest segment, B: T+0.3+0.7 = T+1.0 is past, so no cap: the probe would
    # go at T+2.102, and C's ACK (about T+1.6) covers B and C first. Counting
    # the RTO from A's ACK instead, a probe would resend C at T+1.2.
    config = TcpConfig.linux(nagle=False, timer_hz=0)
    t = 40.0
    net = make_net(down_loss=_DropBetween(t + 0.5, t + 0.7), server_config=config)
    writes = [(b"A" * 40, 0.3), (b"B" * 40, 0.8), (b"C" * 40, 10.0)]
    rto = _steady_then_writes(net, config, t, writes)
    assert rto == pytest.approx(0.7, abs=0.01)
    lost = [rec.time_s for rec in net.records if rec.outcome != "delivered"]
    assert len(lost) == 1 and t + 0.5 <= lost[0] < t + 0.7  # B's ACK, and only it
    assert not any(seg.retransmission for _, seg in net.segments("up"))


def test_a_duplicate_segment_puts_the_receiver_back_in_quick_ack_mode() -> None:
    from mqttsim.sim.tcp_ack import AckClock

    clock = AckClock(ato_min_s=0.04, delack_max_s=0.2, mss=1448, window=65535)
    # Interactive: a first segment, our reply within ato, quick ACKs used up.
    assert clock.data_in(1.0, 100, 100, rto_s=1.0, srtt_s=0.5) == 0.0  # quick at the start
    clock.data_out(1.01)
    assert clock.pingpong
    clock.quick = 0
    clock.data_in(2.0, 1448, 1448, rto_s=1.0, srtt_s=0.5)  # a full segment: no push
    assert clock.data_in(3.0, 1448, 1448, rto_s=1.0, srtt_s=0.5) > 0.0  # the reply carries it
    # The peer sends data we already have: our ACK was lost (tcp_enter_quickack_mode()).
    clock.duplicate_in()
    assert (clock.pingpong, clock.quick, clock.ato_s) == (False, 16, 0.04)
    assert clock.data_in(4.0, 1448, 1448, rto_s=1.0, srtt_s=0.5) == 0.0  # at once again


def test_rack_hears_of_a_sacked_segment_once() -> None:
    # 100 ms each way, exact timers; after 20 exchanges RTO = 0.2 + 0.2 = 0.4 s.
    # At T the client sends A (lost), at T+0.35 B. At T+0.4 the RTO of A is
    # due, and the timer fires as a loss probe: B again. B's SACK arrives at
    # T+0.55, too soon for the copy (0.15 s < min RTT 0.2 s): ambiguous, RACK
    # ignores it but B counts as SACKed. The copy's duplicate SACK arrives at
    # T+0.7: B is not newly SACKed, so RACK still learns nothing (RFC 8985
    # §6.2 step 2), and A waits for its RTO after the probe: T+0.4+0.4.
    config = TcpConfig.linux(nagle=False, timer_hz=0)
    t = 30.0
    net = make_net(delay_s=0.1, up_loss=_DropBetween(t, t + 0.01), server_config=config)
    rto = _steady_then_writes(net, config, t, [(b"A" * 40, 0.35), (b"B" * 40, 10.0)])
    assert rto == pytest.approx(0.4, abs=0.005)
    sends = [
        (rec.time_s, seg.payload[:1])
        for rec, seg in net.segments("up")
        if seg.payload[:1] in (b"A", b"B")
    ]
    assert [p for _, p in sends] == [b"A", b"B", b"B", b"A"]
    probe_at, again_at = sends[2][0], sends[3][0]
    assert probe_at == pytest.approx(t + rto, abs=0.005)
    assert again_at == pytest.approx(probe_at + rto, abs=0.005)  # not at T+0.7
