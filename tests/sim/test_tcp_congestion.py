"""The congestion window (mqttsim.sim.tcp_congestion), each rule against a trace computed by hand.

Links: 250 ms each way and no jitter, so one round trip is 0.5 s; the client
writes with Nagle off (TCP_NODELAY), one segment per write, as mqttsim's
own stack does.
"""

from __future__ import annotations

import pytest

from mqttsim.protocol.errors import ConfigError
from mqttsim.sim.tcp import TcpEndpoint
from mqttsim.sim.tcp_congestion import CongestionWindow
from mqttsim.sim.tcp_segment import TcpConfig

from .test_tcp import Net, Proc, make_net, read_exactly

NODELAY = TcpConfig.linux(nagle=False)


# --- the window's arithmetic ----------------------------------------------------------


def test_slow_start_adds_a_segment_per_segment_acknowledged_when_the_window_is_used() -> None:
    cc = CongestionWindow(10, 0.7)
    cc.acknowledged(10, in_flight_before=10)
    assert cc.cwnd == 20
    cc.acknowledged(2, in_flight_before=2)  # 2 in flight: 20 >= 2·2, the window was not used
    assert cc.cwnd == 20


def test_congestion_avoidance_adds_one_segment_per_window() -> None:
    cc = CongestionWindow(10, 0.7)
    cc.loss_detected()  # ssthresh = cwnd = int(0.7·10) = 7
    assert (cc.cwnd, cc.ssthresh) == (7, 7)
    for _ in range(6):
        cc.acknowledged(1, in_flight_before=7)
    assert cc.cwnd == 7  # 6 of 7 acknowledged
    cc.acknowledged(1, in_flight_before=7)
    assert cc.cwnd == 8


@pytest.mark.parametrize(("beta", "after"), [(0.7, 14), (0.5, 10)])
def test_a_loss_cuts_the_window_by_beta(beta: float, after: int) -> None:
    cc = CongestionWindow(20, beta)
    cc.loss_detected()
    assert (cc.cwnd, cc.ssthresh) == (after, after)
    small = CongestionWindow(2, beta)
    small.loss_detected()
    assert small.cwnd == 2  # never below two segments


def test_a_timeout_leaves_one_segment_and_lowers_ssthresh_once_per_episode() -> None:
    cc = CongestionWindow(20, 0.7)
    cc.timed_out(first=True)
    assert (cc.cwnd, cc.ssthresh) == (1, 14)
    cc.acknowledged(1, in_flight_before=1)  # slow start again: 1 < 2·1
    assert cc.cwnd == 2
    cc.timed_out(first=False)  # backed off again, same episode: ssthresh stays
    assert (cc.cwnd, cc.ssthresh) == (1, 14)


def test_after_idle_the_window_halves_per_rto_down_to_the_initial_window() -> None:
    cc = CongestionWindow(10, 0.7)
    cc.data_sent(0.0, in_flight=0, rto_s=1.0)
    cc.acknowledged(30, in_flight_before=30)
    assert cc.cwnd == 40
    cc.data_sent(3.5, in_flight=0, rto_s=1.0)  # 3.5 RTOs idle: 40 -> 20 -> 10, floor 10
    assert cc.cwnd == 10
    assert cc.ssthresh > 1000  # no loss yet: still "arbitrarily high" (tcp_current_ssthresh())
    cc.data_sent(4.0, in_flight=0, rto_s=1.0)  # 0.5 s: not idle
    assert cc.cwnd == 10
    cc.acknowledged(30, in_flight_before=30)
    cc.ssthresh = 20
    cc.data_sent(10.0, in_flight=0, rto_s=1.0)
    assert (cc.cwnd, cc.ssthresh) == (10, 30)  # at least 3/4 of the window of 40 kept


def test_the_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="initial_window"):
        TcpConfig.linux(initial_window=0)
    with pytest.raises(ConfigError, match="cwnd_beta"):
        TcpConfig.linux(cwnd_beta=1.0)
    assert TcpConfig.linux().initial_window == 10
    assert TcpConfig.rfc6298().initial_window == 3
    assert TcpConfig.legacy().initial_window is None


# --- on the wire ----------------------------------------------------------------------


def _burst(config: TcpConfig, n: int, size: int = 50) -> Net:
    """The client writes ``n`` messages of ``size`` bytes 1 s after it connected,
    one write each."""
    net = make_net(delay_s=0.25, server_config=config)

    def client(ep: TcpEndpoint) -> Proc:
        yield net.env.timeout(1.0)
        for _ in range(n):
            ep.send(b"m" * size)
        yield net.env.timeout(30.0)

    def server(ep: TcpEndpoint) -> Proc:
        yield from read_exactly(ep, size * n)

    net.run_pair(client, server, config=config, until=60)
    return net


def _flights(net: Net) -> list[int]:
    """Data segments the client sent in each round trip from its first."""
    sent = [rec.time_s for rec, seg in net.segments("up") if seg.payload]
    counts: dict[int, int] = {}
    for t in sent:
        k = int((t - sent[0]) / 0.5 + 1e-9)
        counts[k] = counts.get(k, 0) + 1
    return [counts.get(k, 0) for k in range(max(counts) + 1)]


def _sizes(net: Net) -> list[int]:
    return [len(seg.payload) for _, seg in net.segments("up") if seg.payload]


def test_ten_segments_leave_at_once_then_the_rest_waits_in_the_send_buffer() -> None:
    # IW 10 (RFC 6928): ten 50-byte writes leave as ten segments; the other
    # fifty wait in the send buffer, where they join into full segments that
    # leave one round trip later, when the first ACKs open the window.
    net = _burst(NODELAY, 60)
    assert _flights(net) == [10, 2]
    assert _sizes(net) == [50] * 10 + [1448, 50 * 50 - 1448]


def test_slow_start_doubles_the_flight_each_round_trip() -> None:
    # Full-sized segments: 10 in the first round trip; each ACK of one segment
    # (quick ACKs at the start) lets two leave: 20; then 40, of which 30 are left.
    assert _flights(_burst(NODELAY, 60, size=1448)) == [10, 20, 30]


def test_rfc_5681_starts_from_three_segments() -> None:
    assert _flights(_burst(TcpConfig.rfc6298(nagle=False), 30, size=1460))[0] == 3


def test_without_congestion_control_the_whole_burst_leaves_at_once() -> None:
    assert _flights(_burst(TcpConfig.legacy(nagle=False), 60)) == [60]
