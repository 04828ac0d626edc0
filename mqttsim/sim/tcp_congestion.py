"""The congestion window of the simulated TCP: how many segments may be in flight.

Linux counts its congestion window in segments, not bytes (``tcp_snd_cwnd``),
and so does :class:`CongestionWindow`: with Nagle off, a flow of small MQTT
packets may have as many segments in flight as the window holds, whatever
their size. The sender offers new data only while fewer segments than the
window are in flight (and the peer's receive window has room). The rules:

* **Initial window**: ``TcpConfig.initial_window`` segments: 10 on Linux
  (RFC 6928, ``TCP_INIT_CWND``), 3 in RFC 5681 §3.1 for an MSS of 1095 to
  2190 bytes. After more than one retransmitted SYN or SYN-ACK, one segment
  (RFC 5681 §3.1 asks it after any; Linux ``tcp_init_transfer()`` after two
  or more, given its 1 s initial RTO).
* **Slow start** (RFC 5681 §3.1): one more segment per segment
  acknowledged while the window is below ``ssthresh`` (Linux
  ``tcp_slow_start()`` counts segments, as here).
* **Congestion avoidance**: one more segment per window of segments
  acknowledged (Reno, RFC 5681 §3.1; Linux ``tcp_cong_avoid_ai()``).
  CUBIC's growth function (RFC 9438 §4.2), Linux's default, is not
  modelled; it differs only for a transfer that keeps the window full for
  many round trips, which MQTT telemetry does not.
* **Only a used window grows** (Linux ``tcp_is_cwnd_limited()``): in slow
  start while the window is less than twice the flight, otherwise while the
  flight fills it. A telemetry flow earns no window it never used.
* **A loss found by duplicate ACKs or RACK**: ``ssthresh = max(β·cwnd, 2)``
  and the window drops to it, with β = 0.7 for CUBIC (RFC 9438 §4.6) and
  0.5 for Reno (Linux ``tcp_reno_ssthresh()``; RFC 5681 §3.2 halves the
  flight size instead). Linux gets there gradually through proportional
  rate reduction (RFC 6937); the model at once. The window does not grow
  until the recovery ends.
* **A retransmission timeout**: ``ssthresh`` as above (at the first timeout
  of an episode only) and a window of one segment, the loss window (RFC 5681
  §3.1; Linux ``tcp_enter_loss()``); slow start follows.
* **Restart after idle** (RFC 5681 §4.1, RFC 2861; Linux
  ``tcp_cwnd_restart()`` with ``tcp_slow_start_after_idle`` = 1): data
  sent with nothing in flight more than an RTO after the last data halves
  the window once per RTO of idleness, down to min(initial window, window),
  and keeps three quarters of it as ``ssthresh``.
"""

from __future__ import annotations

__all__ = ["CongestionWindow"]

_NO_THRESHOLD = 1 << 30  # ssthresh before any loss: "arbitrarily high" (RFC 5681 §3.1)


class CongestionWindow:
    """One sender's congestion window, in segments.

    Args:
        initial: the initial window, in segments.
        beta: the multiplicative decrease on a loss (0.7 CUBIC, 0.5 Reno).

    Attributes:
        cwnd: segments that may be in flight.
        ssthresh: the slow-start threshold, in segments.
    """

    __slots__ = ("cwnd", "ssthresh", "_initial", "_beta", "_acked", "_last_data_s")

    def __init__(self, initial: int, beta: float) -> None:
        self.cwnd = initial
        self.ssthresh = _NO_THRESHOLD
        self._initial = initial
        self._beta = beta
        self._acked = 0  # segments acknowledged towards the next +1 in congestion avoidance
        self._last_data_s = -1.0  # when data was last sent (Linux lsndtime)

    def can_send(self, in_flight: int) -> bool:
        """Whether one more new segment may leave with ``in_flight`` outstanding."""
        return in_flight < self.cwnd

    def acknowledged(self, segments: int, in_flight_before: int) -> None:
        """An ACK covered ``segments`` new segments; ``in_flight_before`` were
        outstanding when it came."""
        cwnd = self.cwnd
        if cwnd < self.ssthresh:
            if cwnd < 2 * in_flight_before:  # tcp_is_cwnd_limited() in slow start
                self.cwnd = min(cwnd + segments, max(self.ssthresh, cwnd))
        elif in_flight_before >= cwnd:
            self._acked += segments
            if self._acked >= cwnd:
                self._acked -= cwnd
                self.cwnd = cwnd + 1

    def loss_detected(self) -> None:
        """Fast retransmit or RACK found a loss: the multiplicative decrease."""
        self.ssthresh = self._decreased()
        self.cwnd = self.ssthresh
        self._acked = 0

    def timed_out(self, first: bool) -> None:
        """The retransmission timer expired (``first`` of its episode)."""
        if first:
            self.ssthresh = self._decreased()
        self.cwnd = 1
        self._acked = 0

    def syn_retransmitted(self) -> None:
        """The handshake needed more than one retransmission: start from one segment."""
        self.cwnd = 1

    def data_sent(self, now: float, in_flight: int, rto_s: float) -> None:
        """New data leaves at ``now``: restart the window after an idle period."""
        last = self._last_data_s
        self._last_data_s = now
        idle = now - last
        if in_flight or last < 0.0 or idle <= rto_s:
            return
        cwnd = self.cwnd
        restart = min(self._initial, cwnd)
        self.ssthresh = max(self.ssthresh, cwnd * 3 // 4)  # tcp_current_ssthresh()
        idle -= rto_s
        while idle > 0.0 and cwnd > restart:
            cwnd >>= 1
            idle -= rto_s
        self.cwnd = max(cwnd, restart)

    def _decreased(self) -> int:
        return max(int(self.cwnd * self._beta), 2)
