"""The TCP profiles: ``linux`` (Linux 6.x) and ``rfc6298`` (the RFCs' minimum).

Each rule against a trace computed by hand, on links with a fixed delay and
no jitter unless the test is about jitter. ``TcpConfig()`` is the ``linux``
profile; where it helps, a test shows what the first model, before the Linux
profile (``TcpConfig.legacy()``), does instead.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqttsim.protocol.errors import ConfigError
from mqttsim.sim.loss import Bernoulli, GilbertElliott
from mqttsim.sim.tcp import ConnectionFailed, TcpEndpoint
from mqttsim.sim.tcp_segment import (
    ACK,
    DEFAULT_TCP_PROFILE,
    FIN,
    PSH,
    RST,
    SYN,
    TcpConfig,
    linux_retries_timeout_s,
)

from .test_tcp import DropNth, Net, Proc, answer, ask, make_net, read_exactly

# The rules with exact timers: when Linux's timer wheel fires them (timer_hz=250)
# is tested apart, in test_tcp_linux_timers.py.
LINUX = TcpConfig.linux(timer_hz=0)
RFC = TcpConfig.rfc6298()


def _data_sends(net: Net, link: str = "up") -> list[tuple[float, bool, str]]:
    """(time, retransmission, outcome) of each segment with a payload on ``link``."""
    return [
        (rec.time_s, seg.retransmission, rec.outcome)
        for rec, seg in net.segments(link)
        if seg.payload
    ]


# --- profiles ----------------------------------------------------------------------


def test_the_default_is_the_linux_profile() -> None:
    assert DEFAULT_TCP_PROFILE == "linux"
    assert TcpConfig() == TcpConfig.linux() == TcpConfig.profile("linux")
    assert TcpConfig().rto_min_s == 0.2 and TcpConfig().give_up_s == pytest.approx(924.6)
    # The first model is still there, by name.
    legacy = TcpConfig.legacy()
    assert legacy == TcpConfig.profile("legacy") != TcpConfig()
    assert legacy.rto_min_s == 1.0 and legacy.max_retries == 8 and legacy.give_up_s is None


def test_profiles_hold_the_linux_and_rfc_settings() -> None:
    assert (LINUX.rto_min_s, LINUX.rto_max_s, LINUX.rto_estimator) == (0.2, 120.0, "linux")
    assert (LINUX.header_bytes, LINUX.mss_bytes, LINUX.syn_linear_timeouts) == (52, 1448, 4)
    assert LINUX.timestamps and LINUX.sack and LINUX.fast_retransmit and LINUX.tail_loss_probe
    assert (RFC.rto_min_s, RFC.rto_max_s, RFC.give_up_s) == (1.0, 60.0, 100.0)
    assert not (RFC.timestamps or RFC.sack or RFC.fast_retransmit or RFC.tail_loss_probe)
    assert TcpConfig.linux(nagle=False).nagle is False
    assert TcpConfig.profile("linux") == TcpConfig.linux() == replace(LINUX, timer_hz=250)
    with pytest.raises(ConfigError, match="unknown TCP profile 'bsd'; known: legacy, linux"):
        TcpConfig.profile("bsd")
    with pytest.raises(ConfigError, match='rto_estimator must be "rfc6298" or "linux"'):
        TcpConfig(rto_estimator="bsd")  # type: ignore[arg-type]


def test_linux_give_up_time_is_tcp_model_timeout_of_tcp_retries2() -> None:
    # tcp_model_timeout(): ilog2(120 s / 200 ms) = 9 doublings, then 120 s each.
    assert linux_retries_timeout_s(15) == pytest.approx((2**10 - 1) * 0.2 + 6 * 120)  # 924.6
    assert linux_retries_timeout_s(8) == pytest.approx((2**9 - 1) * 0.2)  # 102.2 (orphans)
    assert LINUX.give_up_s == pytest.approx(924.6)


# --- bytes on the wire -------------------------------------------------------------


def test_linux_segments_carry_52_header_bytes_and_at_most_1448_of_data() -> None:
    # 20 IPv4 + 20 TCP + 12 of the timestamps option (RFC 7323 §3).
    net = make_net(delay_s=0.1, server_config=LINUX)

    def client(ep: TcpEndpoint) -> Proc:
        ep.send(b"m" * 3000)
        yield from ()

    net.run_pair(client, config=TcpConfig.linux(nagle=False), until=10)
    sizes = [(rec.size_bytes, len(seg.payload)) for rec, seg in net.segments("up")]
    assert sizes == [(52, 0), (52, 0), (1500, 1448), (1500, 1448), (156, 104)]
    assert all(rec.size_bytes == 52 for rec, _ in net.segments("down"))


# --- the retransmission timeout ----------------------------------------------------


def _kernel_rtos(samples_us: list[int], rto_min_us: int = 200_000) -> list[int]:
    """tcp_rtt_estimator() and __tcp_set_rto() in the kernel's own integer arithmetic,
    for samples each acknowledging a new flight (after(snd_una, rtt_seq))."""
    srtt = mdev = mdev_max = rttvar = 0  # srtt_us is 8x, mdev_us and rttvar_us 4x
    rtos = []
    for m in samples_us:
        if srtt:
            m -= srtt >> 3
            srtt += m
            if m < 0:
                m = -m - (mdev >> 2)
                if m > 0:
                    m >>= 3
            else:
                m -= mdev >> 2
            mdev += m
            if mdev > mdev_max:
                mdev_max = mdev
                rttvar = max(rttvar, mdev_max)
            if mdev_max < rttvar:  # a new flight
                rttvar -= (rttvar - mdev_max) >> 2
            mdev_max = rto_min_us
        else:
            srtt = m << 3
            mdev = m << 1
            rttvar = mdev_max = max(mdev, rto_min_us)
        rtos.append((srtt >> 3) + rttvar)
    return rtos


def _steady_exchanges(config: TcpConfig, n: int) -> list[float]:
    """The client's RTO after the handshake and after each of ``n`` exchanges, RTT 562 ms."""
    net = make_net(delay_s=0.281, server_config=config)
    rtos: list[float] = []

    def client(ep: TcpEndpoint) -> Proc:
        rtos.append(ep.rto_s)
        for _ in range(n):
            ep.send(b"request!")
            yield from read_exactly(ep, 8)
            rtos.append(ep.rto_s)
            yield net.env.timeout(1.0)

    def server(ep: TcpEndpoint) -> Proc:
        for _ in range(n):
            yield from read_exactly(ep, 8)
            ep.send(b"response")

    net.run_pair(client, server, config=config, until=1000)
    assert not any(seg.retransmission for _, seg in net.segments())
    return rtos


def test_rto_after_a_stable_rtt_of_562_ms_is_762_ms_not_563_ms() -> None:
    # Linux: SRTT + max(4·mdev, 200 ms); the variance term falls by a quarter of its
    # excess per flight, from 3·RTT after the handshake to 562 + 200 ms.
    rtos = _steady_exchanges(LINUX, 40)
    expected = [rto_us / 1e6 for rto_us in _kernel_rtos([562_000] * 41)]
    assert rtos == pytest.approx(expected, abs=1e-5)  # the kernel truncates to whole µs
    assert rtos[0] == pytest.approx(3 * 0.562)
    assert rtos[-1] == pytest.approx(0.762, abs=0.0005)
    # The first model, before the Linux profile, with Linux's 200 ms floor: max(SRTT + 4·RTTVAR,
    # 200 ms) falls to the RTT itself plus the 1 ms clock granularity.
    assert _steady_exchanges(TcpConfig.legacy(rto_min_s=0.2), 40)[-1] == pytest.approx(0.563)


def _retransmissions_with_jitter(config: TcpConfig, seed: int) -> int:
    rng = random.Random(seed)
    # Up to 90 ms of jitter each way: the RTT varies by less than 200 ms.
    net = make_net(delay_s=0.25, jitter_s=0.09, rng=rng, server_config=config)

    net.run_pair(
        lambda ep: ask(net, ep, 300), lambda ep: answer(ep, 300), config=config, until=2000
    )
    assert not any(rec.outcome != "delivered" for rec in net.records)  # a clean link
    return sum(seg.retransmission for _, seg in net.segments())


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_no_spurious_retransmission_on_a_clean_link_with_jitter_below_200_ms(seed: int) -> None:
    # Linux's RTO is at least SRTT + 200 ms, and SRTT at least the least RTT.
    assert _retransmissions_with_jitter(LINUX, seed) == 0
    # The old rule lets RTTVAR decay, so the RTO fires on the next slow packet.
    assert _retransmissions_with_jitter(TcpConfig.legacy(rto_min_s=0.2), seed) >= 2


def _outage_then_two_messages(config: TcpConfig) -> tuple[Net, list[float]]:
    # The uplink is down from 2 s to 8 s; the second message's first copy is lost
    # (packets counted by the loss model: SYN, ACK, "a" at last, the ACK of "A", "b").
    net = make_net(delay_s=0.25, up_outages=[(2.0, 6.0)], up_loss=DropNth(4), server_config=config)
    rtos: list[float] = []

    def client(ep: TcpEndpoint) -> Proc:
        yield net.env.timeout(2.0 - net.env.now)
        ep.send(b"a")
        yield from read_exactly(ep, 1)
        rtos.append(ep.rto_s)
        yield net.env.timeout(1.0)
        ep.send(b"b")
        yield from read_exactly(ep, 1)

    def server(ep: TcpEndpoint) -> Proc:
        yield from read_exactly(ep, 1)
        ep.send(b"A")
        yield from read_exactly(ep, 1)
        ep.send(b"B")

    net.run_pair(client, server, config=config, until=100)
    return net, rtos


def test_back_off_ends_when_a_retransmission_is_acknowledged() -> None:
    # RTO 1.5 s after the handshake (3 x 0.5 s). A probe at 2 + 2·0.5 + 0.2, then
    # RTOs doubling from the probe: 4.7, 7.7, 13.7 (delivered, the outage is over).
    net, rtos = _outage_then_two_messages(LINUX)
    assert _data_sends(net) == [
        (2.0, False, "outage"),
        (pytest.approx(3.2), True, "outage"),
        (pytest.approx(4.7), True, "outage"),
        (pytest.approx(7.7), True, "outage"),
        (pytest.approx(13.7), True, "delivered"),
        (pytest.approx(15.2), False, "lost"),
        (pytest.approx(16.4), True, "delivered"),  # a probe, 2·SRTT + 200 ms later
    ]
    # The retransmission's ACK echoes its TSval: a 0.5 s sample ends the back-off.
    assert rtos == [pytest.approx(1.5)]
    # Karn's rule keeps the doubled RTO until a new segment is timed: the second
    # message, lost once, waits 12 s.
    net, rtos = _outage_then_two_messages(TcpConfig.legacy(rto_min_s=0.2))
    assert rtos == [pytest.approx(12.0)]
    assert _data_sends(net)[-2:] == [
        (pytest.approx(14.0), False, "lost"),
        (pytest.approx(26.0), True, "delivered"),
    ]


def test_a_retransmitted_syn_is_timed_by_its_timestamp() -> None:
    # The SYN is lost and resent at 1 s; the SYN-ACK echoes the second SYN's TSval,
    # so Linux has a 0.2 s sample and no need of RFC 6298 §5.7's 3 s.
    rto: dict[str, float] = {}
    for name, config in (("linux", LINUX), ("rfc6298", RFC)):
        net = make_net(delay_s=0.1, up_loss=DropNth(0), server_config=config)

        def client(ep: TcpEndpoint, name: str = name) -> Proc:
            rto[name] = ep.rto_s
            yield from ()

        net.run_pair(client, config=config, until=10)
    assert rto == {"linux": pytest.approx(0.6), "rfc6298": 3.0}


# --- loss recovery -----------------------------------------------------------------


def _flight(config: TcpConfig, segments: int, *lost: int) -> tuple[Net, list[float]]:
    """``segments`` full segments written at 2.5 s on a 0.5 s RTT; uplink packets
    ``lost`` (0 SYN, 1 ACK, 2 the first data segment) are dropped."""
    net = make_net(delay_s=0.25, up_loss=DropNth(*lost), server_config=config)
    message = bytes(config.mss_bytes * segments)
    done: list[float] = []

    def client(ep: TcpEndpoint) -> Proc:
        yield net.env.timeout(2.0)
        ep.send(message)

    def server(ep: TcpEndpoint) -> Proc:
        assert (yield from read_exactly(ep, len(message))) == message
        done.append(net.env.now)

    net.run_pair(client, server, config=config, until=100)
    return net, done


@pytest.mark.parametrize(
    "config", [LINUX, TcpConfig.linux(sack=False, tail_loss_probe=False)], ids=["linux", "newreno"]
)
def test_fast_retransmit_on_the_third_duplicate_ack(config: TcpConfig) -> None:
    # Five segments at 2.5 s, the second lost. The other three arrive at 2.75 and
    # are answered with duplicate ACKs, back at 3.0: the third one retransmits
    # at once, and everything is in by 3.25, one RTT after the loss was seen.
    net, done = _flight(config, 5, 3)
    assert [t for t, retx, _ in _data_sends(net) if retx] == [pytest.approx(3.0)]
    assert done == [pytest.approx(3.25)]
    dupacks = [seg for rec, seg in net.segments("down") if rec.time_s == pytest.approx(2.75)]
    assert [seg.ack for seg in dupacks] == [1 + 1448] * 4  # one new ACK, three duplicates


def test_without_fast_retransmit_the_loss_waits_for_the_rto() -> None:
    # RFC 6298 alone. The ACK of the first segment, back at 3.0, times it (0.5 s:
    # RTTVAR 3/4 · 0.25, RTO 0.5 + 4 · 0.1875 = 1.25 s) and restarts the timer
    # (§5.3); the duplicate ACKs do nothing.
    net, done = _flight(RFC, 5, 3)
    assert [t for t, retx, _ in _data_sends(net) if retx] == [pytest.approx(3.0 + 1.25)]
    assert done == [pytest.approx(4.5)]


def test_a_partial_ack_retransmits_the_next_hole_at_once() -> None:
    # Six segments, the second and the fourth lost (RFC 6582 §3.2): the fast
    # retransmit at 3.0 is answered at 3.5 with a partial ACK, which resends the
    # fourth at once.
    net, done = _flight(LINUX, 6, 3, 5)
    retransmitted = [(rec.time_s, seg.seq) for rec, seg in net.segments("up") if seg.retransmission]
    assert retransmitted == [(pytest.approx(3.0), 1 + 1448), (pytest.approx(3.5), 1 + 3 * 1448)]
    assert done == [pytest.approx(3.75)]


def test_rack_repairs_a_loss_seen_by_one_sack_a_quarter_rtt_later() -> None:
    # Two segments, the first lost: one duplicate ACK, whose SACK reports the
    # second (sent at 2.5, acknowledged at 3.0: RACK.rtt 0.5 s). The first, sent
    # at the same time, is lost at 2.5 + 0.5 + min_RTT / 4 = 3.125 (RFC 8985 §6.2).
    net, done = _flight(LINUX, 2, 2)
    dupack = [seg for _, seg in net.segments("down") if seg.sack >= 0]
    assert [(seg.ack, seg.sack) for seg in dupack] == [(1, 1 + 1448)]
    assert [t for t, retx, _ in _data_sends(net) if retx] == [pytest.approx(3.125)]
    assert done == [pytest.approx(3.375)]


def test_a_tail_loss_probe_repairs_a_lost_last_segment_after_two_srtt() -> None:
    # Three segments, the last lost. The ACKs of the first two are back at 3.0;
    # with one segment in flight the probe waits 2·SRTT + rto_min = 1.2 s
    # (Linux tcp_schedule_loss_probe()), sooner than the RTO (1.5 s), and resends
    # the last segment.
    net, done = _flight(LINUX, 3, 4)
    retransmitted = [(rec.time_s, seg.seq) for rec, seg in net.segments("up") if seg.retransmission]
    assert retransmitted == [(pytest.approx(3.0 + 2 * 0.5 + 0.2), 1 + 2 * 1448)]
    assert done == [pytest.approx(4.45)]
    net, done = _flight(RFC, 3, 4)
    assert done == [pytest.approx(3.0 + 1.25 + 0.25)]  # the RTO, as above


# --- acknowledgements --------------------------------------------------------------


def _first_ack_delay(server_config: TcpConfig) -> float:
    net = make_net(delay_s=0.25, server_config=server_config)

    def client(ep: TcpEndpoint) -> Proc:
        yield net.env.timeout(1.0)
        ep.send(b"ping")

    net.run_pair(client, config=server_config, until=100)
    data = next(rec for rec, seg in net.segments("up") if seg.payload)
    ack = next(rec for rec, seg in net.segments("down") if seg.ack > 1)
    assert data.arrival_s is not None
    return ack.time_s - data.arrival_s


def test_quick_ack_at_the_start_of_a_connection() -> None:
    assert _first_ack_delay(LINUX) == 0.0  # quick-ACK mode: at once
    # The first model has no quick-ACK mode: the delayed-ACK timer.
    assert _first_ack_delay(TcpConfig.legacy()) == pytest.approx(0.04)


def test_an_interactive_end_lets_its_reply_carry_the_ack() -> None:
    # The server answers each request 10 ms after it arrives. The first request
    # is acknowledged at once (quick-ACK mode); the reply 10 ms later makes the
    # connection interactive (ping-pong), so later ACKs wait and ride on replies.
    net = make_net(delay_s=0.25, server_config=LINUX)

    def client(ep: TcpEndpoint) -> Proc:
        for _ in range(5):
            ep.send(b"req")
            yield from read_exactly(ep, 3)
            yield net.env.timeout(1.0)

    def server(ep: TcpEndpoint) -> Proc:
        for _ in range(5):
            yield from read_exactly(ep, 3)
            yield net.env.timeout(0.01)
            ep.send(b"rsp")

    net.run_pair(client, server, config=LINUX, until=100)
    down = [(seg.flags, len(seg.payload)) for _, seg in net.segments("down")]
    assert down == [(SYN | ACK, 0), (ACK, 0), *[(ACK | PSH, 3)] * 5]


# --- connection set-up and give-up -------------------------------------------------


def _failed_connect(config: TcpConfig) -> tuple[list[float], list[tuple[float, str]]]:
    net = make_net(delay_s=0.25, up_outages=[(0.0, 10_000.0)])
    outcome: list[tuple[float, str]] = []

    def proc() -> Proc:
        try:
            yield net.path.connect(config)
        except ConnectionFailed as exc:
            outcome.append((net.env.now, exc.reason))

    net.env.process(proc())
    net.env.run(until=1000)
    return [rec.time_s for rec, _ in net.segments("up")], outcome


def test_linux_retransmits_a_syn_at_1_s_intervals_before_backing_off() -> None:
    # tcp_syn_linear_timeouts = 4: RTOs 1, 1, 1, 1, 1, 2, 4, 8, 16, 32 and 64 s
    # (ip-sysctl.rst: "4 linear timeouts, and the first exponential backoff using
    # 2^0 * initial_RTO"), 6 + 4 retransmissions, failure at 131 s.
    syns, outcome = _failed_connect(LINUX)
    assert syns == pytest.approx([0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67])
    assert outcome == [(pytest.approx(131.0), "timeout")]


def test_rfc_syns_back_off_from_the_first_and_try_for_three_minutes() -> None:
    # RFC 6298 §5.5 doubling up to 60 s; RFC 1122 §4.2.3.5: R2 for a SYN at least
    # 3 minutes.
    syns, outcome = _failed_connect(RFC)
    assert syns == pytest.approx([0, 1, 3, 7, 15, 31, 63, 123])
    assert outcome == [(pytest.approx(183.0), "timeout")]
    assert outcome[0][0] >= 180


def _give_up(config: TcpConfig) -> tuple[Net, list[tuple[float, str]]]:
    net = make_net(delay_s=0.25, up_outages=[(2.0, 10_000.0)], server_config=config)
    closed: list[tuple[float, str]] = []

    def client(ep: TcpEndpoint) -> Proc:
        yield net.env.timeout(2.0 - net.env.now)
        ep.send(b"lost in space")
        reason = yield ep.closed
        closed.append((net.env.now, reason))

    net.run_pair(client, config=config, until=5000)
    return net, closed


def test_linux_gives_up_924_6_s_after_the_first_retransmission() -> None:
    # A probe at 3.2 s, then RTOs from 1.5 s doubling to the 120 s ceiling. The
    # first RTO retransmission (4.7 s) starts the clock: the connection dies at
    # the first expiry at least 924.6 s later (4.7 + 924.6 = 929.3), at 1033.7 s.
    net, closed = _give_up(LINUX)
    expiries = [4.7, 7.7, 13.7, 25.7, 49.7, 97.7, 193.7] + [193.7 + 120 * k for k in range(1, 7)]
    assert [t for t, _, _ in _data_sends(net)] == pytest.approx([2.0, 3.2, *expiries])
    assert closed == [(pytest.approx(1033.7), "timeout")]
    assert closed[0][0] - 4.7 >= 924.6 > 913.7 - 4.7
    assert not any(seg.flags & RST for _, seg in net.segments())  # Linux sends no RST


def test_rfc_gives_up_at_least_100_s_after_the_first_retransmission() -> None:
    # RTO 1.5 s doubling: 3.5, 6.5, 12.5, 24.5, 48.5, 96.5; dead at the first
    # expiry 100 s after 3.5 s (RFC 1122 §4.2.3.5).
    net, closed = _give_up(RFC)
    assert [t for t, _, _ in _data_sends(net)] == pytest.approx(
        [2.0, 3.5, 6.5, 12.5, 24.5, 48.5, 96.5]
    )
    assert closed == [(pytest.approx(156.5), "timeout")]


# --- a closed end takes no more data ---------------------------------------------


def _close_then_more(config: TcpConfig) -> tuple[Net, dict[str, object]]:
    # The server reads the first message and closes; the client, not yet told,
    # sends another after the FIN has arrived.
    net = make_net(delay_s=0.25, server_config=config)
    seen: dict[str, object] = {}

    def client(ep: TcpEndpoint) -> Proc:
        ep.send(b"first")
        assert (yield from read_exactly(ep, 1)) == b""  # the server's FIN
        ep.send(b"second")  # half-close: allowed in CLOSE-WAIT
        seen["client"] = yield ep.closed

    def server(ep: TcpEndpoint) -> Proc:
        assert (yield from read_exactly(ep, 5)) == b"first"
        ep.close()
        seen["server"] = yield ep.closed

    net.run_pair(client, server, config=config, until=200)
    return net, seen


def test_a_closed_end_answers_new_data_with_a_rst() -> None:
    # RFC 1122 §4.2.2.13; Linux tcp_rcv_state_process() in FIN-WAIT-2.
    net, seen = _close_then_more(LINUX)
    assert seen == {"server": "aborted", "client": "reset"}
    down = [seg.flags for _, seg in net.segments("down")]
    assert down[-2:] == [FIN | ACK, RST]
    assert net.path._servers == {} and net.path._clients == {}
    # The first model, before the Linux profile, took the data in and acknowledged it.
    net, seen = _close_then_more(TcpConfig.legacy())
    assert seen == {"server": "closed"}  # the client still waits
    assert [seg.ack for _, seg in net.segments("down") if seg.flags == ACK][-1] == 1 + 5 + 6


def test_close_with_unread_data_sends_a_rst_not_a_fin() -> None:
    # RFC 2525 §2.17, Linux tcp_close(): the unread bytes are lost, and the peer is told.
    net = make_net(delay_s=0.25, server_config=LINUX)
    seen: dict[str, object] = {}

    def client(ep: TcpEndpoint) -> Proc:
        ep.send(b"never read")
        seen["client"] = yield ep.closed

    def server(ep: TcpEndpoint) -> Proc:
        yield net.env.timeout(1.0)  # the data is in, unread
        ep.close()
        seen["server"] = ep.close_reason

    net.run_pair(client, server, config=LINUX, until=100)
    assert seen == {"server": "aborted", "client": "reset"}
    assert not any(seg.flags & FIN for _, seg in net.segments())


# --- the byte stream ---------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    loss_rate=st.floats(0.0, 0.3),
    writes=st.lists(st.integers(1, 5000), min_size=1, max_size=12),
    client=st.sampled_from(["linux", "rfc6298", "legacy"]),
    server=st.sampled_from(["linux", "rfc6298", "legacy"]),
)
def test_the_byte_stream_arrives_intact_with_any_pair_of_profiles(
    seed: int, loss_rate: float, writes: list[int], client: str, server: str
) -> None:
    rng = random.Random(seed)
    patient = {"syn_retries": 30, "give_up_s": 1e6, "max_retries": 60}
    net = make_net(
        delay_s=0.25,
        jitter_s=0.05,
        bandwidth_bps=256_000,
        up_loss=GilbertElliott.from_mean(loss_rate, 2.0, rng),
        down_loss=Bernoulli(loss_rate, rng),
        rng=rng,
        server_config=TcpConfig.profile(server, **patient),
    )
    chunks = [bytes([i % 251]) * n for i, n in enumerate(writes)]
    expected = b"".join(chunks)
    got: list[bytes] = []

    def sender(ep: TcpEndpoint) -> Proc:
        for chunk in chunks:
            ep.send(chunk)
            yield net.env.timeout(rng.random() * 0.1)
        ep.close()

    def receiver(ep: TcpEndpoint) -> Proc:
        got.append((yield from read_exactly(ep, len(expected) + 1)))

    net.run_pair(sender, receiver, config=TcpConfig.profile(client, **patient), until=50_000)
    assert got == [expected]
