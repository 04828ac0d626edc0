"""When a Linux receiver acknowledges: quick-ACK mode, ping-pong, an adaptive delay.

RFC 1122 §4.2.3.2 and RFC 5681 §4.2 let a receiver delay an ACK (less than
0.5 s, and for at most every second full-sized segment); how long, and when
not to, is each stack's choice. :class:`AckClock` makes Linux's
(net/ipv4/tcp_input.c ``tcp_event_data_recv()``, ``__tcp_ack_snd_check()``,
``tcp_measure_rcv_mss()``; tcp.c ``tcp_cleanup_rbuf()``; tcp_output.c
``tcp_send_delayed_ack()``, ``tcp_event_data_sent()``; tcp_timer.c
``tcp_delack_timer_handler()``), for an application that reads at once:

* **Quick-ACK mode**: the first data of a connection, and data after an
  idle gap longer than the RTO, grant up to 16 ACKs (``TCP_MAX_QUICKACKS``)
  sent at once. So the first answers of a connection are not delayed.
* **Ping-pong** (interactive) mode: an end that sends data within ``ato`` of
  receiving some is interactive (``tcp_pingpong_thresh`` = 1): its ACKs wait
  for the reply to carry them. A delayed ACK that had to be sent on its own
  ends the mode.
* **ACK on read**: a segment smaller than the peer's MSS as estimated
  (``rcv_mss``, from 536 bytes up) is "pushed"; when the application reads
  it the ACK leaves at once, unless the connection is interactive (two such
  segments unacknowledged: at once all the same).
* **More than one segment's worth** unacknowledged: at once.
* **A duplicate** of data already received (our ACK was probably lost):
  quick-ACK mode again, out of ping-pong (``tcp_enter_quickack_mode()``
  from ``tcp_data_queue()``), so the next replies do not carry the ACKs.
* Otherwise the **delayed-ACK timer**: ``ato``, from 40 ms (``TCP_ATO_MIN``),
  adapting to the gaps between segments, doubled (up to the RTO) each time
  the timer had to fire outside ping-pong; bounded by 200 ms
  (``TCP_DELACK_MAX``) when interactive or pushed, else 500 ms, and by the
  smoothed RTT.

Pure arithmetic: :class:`~mqttsim.sim.tcp.TcpEndpoint` asks and acts.
"""

from __future__ import annotations

from typing import Final

__all__ = ["AckClock"]

_MAX_QUICKACKS: Final = 16  # TCP_MAX_QUICKACKS
_MSS_DEFAULT: Final = 536  # TCP_MSS_DEFAULT: the first estimate of the peer's MSS
_DELACK_MAX_BULK_S: Final = 0.5  # HZ / 2: the bound of a delay outside ping-pong


class AckClock:
    """Linux's delayed-ACK state of one receiving end (see the module docstring).

    Args:
        ato_min_s: the shortest delay (``TCP_ATO_MIN``, 40 ms).
        delack_max_s: the longest delay when interactive (``TCP_DELACK_MAX``).
        mss: this end's MSS (the most ``rcv_mss`` grows to).
        window: this end's receive window (sets the quick-ACK budget).

    Attributes:
        quick: quick ACKs left.
        pingpong: the connection is interactive.
        ato_s: the current delay, 0 before any data.
    """

    __slots__ = (
        "quick",
        "pingpong",
        "ato_s",
        "_ato_min_s",
        "_delack_max_s",
        "_mss",
        "_window",
        "_rcv_mss",
        "_last_rcv_s",
        "_pushed",
    )

    def __init__(self, *, ato_min_s: float, delack_max_s: float, mss: int, window: int) -> None:
        self.quick = 0
        self.pingpong = False
        self.ato_s = 0.0
        self._ato_min_s = ato_min_s
        self._delack_max_s = delack_max_s
        self._mss = mss
        self._window = window
        self._rcv_mss = min(_MSS_DEFAULT, mss)  # tcp_initialize_rcv_mss()
        self._last_rcv_s = 0.0  # lrcvtime
        self._pushed = 0  # small segments not yet acknowledged (ICSK_ACK_PUSHED, PUSHED2)

    def data_in(
        self, now: float, size: int, unacked: int, rto_s: float, srtt_s: float | None
    ) -> float:
        """In-order data of ``size`` bytes arrived, ``unacked`` bytes now awaiting an ACK.

        Returns 0 to acknowledge at once, else how long the ACK may wait.
        """
        ato_min = self._ato_min_s
        # tcp_event_data_recv()
        if self.ato_s == 0.0:  # the first data: start the delayed-ACK engine
            self._incr_quick()
            self.ato_s = ato_min
        else:
            m = now - self._last_rcv_s
            if m <= ato_min / 2:
                self.ato_s = self.ato_s / 2 + ato_min / 2
            elif m < self.ato_s:
                self.ato_s = min(self.ato_s / 2 + m, rto_s)
            elif m > rto_s:  # a long idle gap: quick ACKs again
                self._incr_quick()
        self._last_rcv_s = now
        # tcp_measure_rcv_mss()
        if size >= self._rcv_mss:
            self._rcv_mss = min(size, self._mss)
        else:
            self._pushed += 1
        # __tcp_ack_snd_check(): more than a segment's worth, or quick-ACK mode
        if unacked > self._rcv_mss or (self.quick and not self.pingpong):
            return 0.0
        # tcp_cleanup_rbuf(): the application read a small segment
        if self._pushed >= 2 or (self._pushed and not self.pingpong):
            return 0.0
        # tcp_send_delayed_ack()
        ato = self.ato_s
        if ato > ato_min:
            max_ato = self._delack_max_s if self.pingpong or self._pushed else _DELACK_MAX_BULK_S
            if srtt_s is not None:
                max_ato = min(max_ato, max(srtt_s, ato_min))
            ato = min(ato, max_ato)
        return ato

    def data_out(self, now: float) -> None:
        """This end sent new data (``tcp_event_data_sent()``): a quick reply is interactive."""
        if now - self._last_rcv_s < self.ato_s:
            self.pingpong = True

    def ack_out(self, acked_data: bool) -> None:
        """This end sent an ACK (``tcp_event_ack_sent()``, ``tcp_dec_quickack_mode()``)."""
        self._pushed = 0
        if acked_data and self.quick:
            self.quick -= 1
            if not self.quick:
                self.ato_s = self._ato_min_s  # leaving quick-ACK mode deflates ato

    def duplicate_in(self) -> None:
        """Data already received came again (``tcp_enter_quickack_mode()``)."""
        self._incr_quick()
        self.pingpong = False
        self.ato_s = self._ato_min_s

    def timer_fired(self, rto_s: float) -> None:
        """The delayed-ACK timer had to fire (``tcp_delack_timer_handler()``)."""
        if self.pingpong:
            self.pingpong = False
            self.ato_s = self._ato_min_s
        else:
            self.ato_s = min(self.ato_s * 2, rto_s)

    def _incr_quick(self) -> None:
        """``tcp_incr_quickack()``: a budget of quick ACKs, one per two segments of window."""
        quickacks = self._window // (2 * self._rcv_mss) or 2
        quickacks = min(quickacks, _MAX_QUICKACKS)
        if quickacks > self.quick:
            self.quick = quickacks
