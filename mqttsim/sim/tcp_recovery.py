"""The retransmission timer of the simulated TCP and the loss recovery it drives.

RFC 6298 alone finds every loss by a timeout. Linux finds most sooner
(``tcp_recovery`` = 1, ``tcp_early_retrans`` = 3):

* **Three duplicate ACKs** (RFC 5681 §3.2) mark the oldest segment lost:
  fast retransmit, then NewReno's recovery (RFC 6582), which
  :class:`~mqttsim.sim.tcp.TcpEndpoint` runs.
* **RACK** (RFC 8985 §6) marks a segment lost by time: once a segment sent
  after it has been delivered (SACKed or acknowledged), it is lost when
  RACK.rtt (the RTT of the most recently sent delivered segment) plus a
  reordering window has passed since it was sent. The window is
  min_RTT / 4 (at most SRTT), and 0 once three duplicate ACKs came (Linux
  ``tcp_rack_reo_wnd()``: ``sacked_out >= reordering``). So one loss
  followed by a single delivered segment, too few for three duplicate
  ACKs, is repaired about a quarter of an RTT after the SACK arrives. The
  model looks at the oldest outstanding segment only (it keeps no SACK
  scoreboard); partial ACKs find later holes.
* **The tail-loss probe** (RFC 8985 §7) covers a lost tail, which nothing
  sent later can reveal: after PTO = 2·SRTT without an ACK (plus
  ``rto_min`` when one segment is in flight, for the peer's delayed ACK; 2 ms
  otherwise; 1 s before any RTT sample; Linux ``tcp_schedule_loss_probe()``)
  the sender probes, so the lost last segment of a flight is repaired in
  about 2·SRTT instead of an RTO.

Linux keeps one timer for the RTO, the probe and RACK's reordering window
(``icsk_pending`` says which); so does :class:`Retransmitter`, the base
class of :class:`~mqttsim.sim.tcp.TcpEndpoint` that holds these rules (the
RTO's own expiry, and giving up, are the endpoint's). :class:`LossDetector`
holds RACK's state and answers; the retransmitter acts. Send times are the
segments' ``tsval`` (a retransmission's own).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final

from .immediate import Immediate
from .tcp_congestion import CongestionWindow
from .tcp_segment import ACK, PSH, Segment, TcpConfig
from .tcp_timers import RtoEstimator, Timer
from .transport import Transport

__all__ = ["DUPTHRESH", "LossDetector", "Retransmitter"]

DUPTHRESH: Final = 3  # RFC 5681 §3.2; RFC 8985 §6.2 step 4
_TIMEOUT_MIN_S: Final = 0.002  # Linux TCP_TIMEOUT_MIN: a probe's slack with several in flight
# What the retransmission timer is set for (Linux icsk_pending).
RTO: Final = 0
PROBE: Final = 1  # a tail-loss probe (RFC 8985 §7)
REORDER: Final = 2  # RACK's reordering window (RFC 8985 §6.3)


class LossDetector:
    """RACK's state (RFC 8985 §6.1) and the duplicate ACKs of one sender.

    Args:
        rto_min_s: added to the PTO when one segment is in flight.
        initial_s: the PTO before any RTT sample (``TCP_TIMEOUT_INIT``).

    Attributes:
        dupacks: duplicate ACKs since the last ACK that advanced.
        min_rtt_s: the least RTT seen (RACK.min_RTT, not windowed).
    """

    __slots__ = ("dupacks", "min_rtt_s", "_xmit_s", "_seq", "_rtt_s", "_rto_min_s", "_initial_s")

    def __init__(self, *, rto_min_s: float, initial_s: float) -> None:
        self.dupacks = 0
        self.min_rtt_s = math.inf
        self._xmit_s = -1.0  # RACK.xmit_ts
        self._seq = -1  # RACK.end_seq, as the segment's first sequence number
        self._rtt_s = 0.0  # RACK.rtt
        self._rto_min_s = rto_min_s
        self._initial_s = initial_s

    def delivered(self, now: float, seg: Segment) -> None:
        """``seg`` was SACKed or acknowledged (RFC 8985 §6.2 steps 1 and 2)."""
        xmit = seg.tsval
        rtt = now - xmit
        if seg.retransmission and rtt < self.min_rtt_s:
            return  # too soon for this copy: the original's delivery, not its own
        if rtt < self.min_rtt_s:
            self.min_rtt_s = rtt
        if xmit > self._xmit_s or (xmit == self._xmit_s and seg.seq > self._seq):
            self._xmit_s = xmit
            self._seq = seg.seq
            self._rtt_s = rtt

    def lost_at(self, oldest: Segment, srtt_s: float | None) -> float:
        """When the oldest outstanding segment counts as lost (RFC 8985 §6.2 step 5).

        ``math.inf`` while nothing sent after it is known delivered.
        """
        xmit = oldest.tsval
        if not (xmit < self._xmit_s or (xmit == self._xmit_s and oldest.seq < self._seq)):
            return math.inf
        if self.dupacks >= DUPTHRESH:
            reo_wnd = 0.0
        else:
            reo_wnd = min(self.min_rtt_s / 4, srtt_s if srtt_s is not None else math.inf)
        return xmit + self._rtt_s + reo_wnd

    def probe_timeout(self, srtt_s: float | None, in_flight: int) -> float:
        """The PTO (RFC 8985 §7.2) as Linux computes it (``tcp_schedule_loss_probe()``)."""
        if srtt_s is None:
            return self._initial_s
        return 2.0 * srtt_s + (self._rto_min_s if in_flight == 1 else _TIMEOUT_MIN_S)


class Retransmitter(Transport):
    """The sending side's timer and loss recovery; the base of TcpEndpoint.

    It owns no state: the attributes below are the endpoint's (set in its
    ``__init__``), and so are ``_emit``, ``_transmit`` and ``_on_rtx_timeout``.
    """

    config: TcpConfig
    retransmissions: int
    data_retransmissions: int
    snd_una: int
    snd_nxt: int
    _iss: int
    _immediate: Immediate
    _unsent: bytearray
    _retx: deque[Segment]  # sent, not yet acknowledged
    _mss: int
    _snd_wnd: int
    _rto: RtoEstimator
    _rtx_timer: Timer
    _timer_for: int  # what _rtx_timer is set for: RTO, PROBE or REORDER
    _rto_at: float  # when the RTO expires while _rtx_timer waits for less
    _retrans_stamp: float  # first retransmission not yet acknowledged
    _recover: int  # snd_nxt when the RTO or a fast retransmit last fired
    _timed: tuple[int, float] | None  # Karn: (seq to be acked, sent at)
    _loss: LossDetector
    _probe_high: int  # Linux tlp_high_seq: snd_nxt after a probe, until acked
    _cc: CongestionWindow | None
    _fast_recovery: bool  # a loss found by duplicate ACKs or RACK is being repaired
    _sack: bool
    _sacked: set[int]  # outstanding segments the peer has SACKed
    _fast_retransmit: bool
    _tlp: bool

    def _emit(
        self,
        seq: int,
        flags: int,
        payload: bytes = b"",
        retransmission: bool = False,
        note: object = None,
    ) -> Segment:
        raise NotImplementedError

    def _transmit(self, flags: int, payload: bytes) -> None:
        raise NotImplementedError

    def _on_rtx_timeout(self) -> None:
        raise NotImplementedError

    def _retransmit(self, i: int) -> None:
        """Send segment ``i`` of the queue again (0 the oldest, -1 the last); the
        copy takes its place, so that its send time is the one RACK reads."""
        seg = self._retx[i]
        self.retransmissions += 1
        if seg.payload:
            self.data_retransmissions += 1
        self._timed = None  # Karn's algorithm (RFC 6298 §3)
        self._retx[i] = self._emit(
            seg.seq, seg.flags, seg.payload, retransmission=True, note=seg.note
        )

    def _set_xmit_timer(self, now: float, restart: bool) -> None:
        """Set the RTO, restarted if ``restart`` (RFC 6298 §5.1, §5.3), or a tail-loss
        probe due no later (Linux ``tcp_set_xmit_timer()``, ``tcp_schedule_loss_probe()``)."""
        if restart:
            self._rto_at = now + self._rto.rto_s
        at = self._rto_at
        self._timer_for = RTO
        if (
            self._tlp
            and self._probe_high < 0
            and self._iss < self.snd_una >= self._recover  # not in the handshake, nor recovering
        ):
            # RFC 8985 §7.2; "If the RTO formula yields an earlier time, then use that time".
            # Linux reads that time as the RTO itself when an ACK advanced, and
            # otherwise as the oldest segment's send time plus the RTO, ignored
            # once past (tcp_schedule_loss_probe(), tcp_rto_delta_us()).
            self._timer_for = PROBE
            pto = self._loss.probe_timeout(self._rto.srtt_s, len(self._retx))
            rto = self._rto.rto_s
            cap = rto if restart else self._retx[0].tsval + rto - now
            at = now + (min(pto, cap) if cap > 0.0 else pto)
        self._rtx_timer.set_at(at)

    def _on_rtx_timer(self) -> None:
        """The retransmission timer fired, for what it was set (Linux ``icsk_pending``)."""
        kind = self._timer_for
        self._timer_for = RTO
        if kind == PROBE:
            self._send_loss_probe()
        elif kind == REORDER:
            self._reorder_timeout()
        else:
            self._on_rtx_timeout()

    def _duplicate_ack(self, seg: Segment) -> None:
        """Count it (RFC 5681 §3.2), note what it SACKs (RFC 8985 §6.2), look for a loss."""
        now = self._immediate.now()
        loss = self._loss
        loss.dupacks += 1
        if self._sack and seg.sack >= 0 and seg.sack not in self._sacked:
            # Only a segment SACKed for the first time is news for RACK (RFC 8985
            # §6.2 step 2, "newly acknowledged"; Linux tcp_sacktag_one()).
            for sent in self._retx:
                if sent.seq == seg.sack:
                    self._sacked.add(sent.seq)
                    loss.delivered(now, sent)
                    break
        if self.snd_una < self._recover:
            return  # recovering: partial ACKs find the next holes (RFC 6582 §3.2)
        if self._fast_retransmit and loss.dupacks >= DUPTHRESH:
            self._start_recovery(now)
        elif self._sack:
            self._rack_check(now)

    def _rack_check(self, now: float) -> None:
        """Retransmit the oldest segment if RACK deems it lost, else wait until it would be."""
        lost_at = self._loss.lost_at(self._retx[0], self._rto.srtt_s)
        if lost_at <= now:
            self._start_recovery(now)
        elif lost_at < self._rto_at:
            self._timer_for = REORDER  # RFC 8985 §6.3
            self._rtx_timer.set_at(lost_at)

    def _reorder_timeout(self) -> None:
        """RACK's timer fired (RFC 8985 §6.3): look again, and keep a timer running."""
        if self._retx:
            now = self._immediate.now()
            self._rack_check(now)
            if self._rtx_timer.deadline_s is None:
                self._set_xmit_timer(now, restart=False)

    def _start_recovery(self, now: float) -> None:
        """Fast retransmit (RFC 5681 §3.2 step 4, RFC 6582 §3.2 step 2), also RACK's."""
        self._recover = self.snd_nxt
        cc = self._cc
        if cc is not None:
            cc.loss_detected()
            self._fast_recovery = True
        if self._retrans_stamp < 0.0:
            self._retrans_stamp = now
        self._retransmit(0)
        # Linux restarts the RTO with the oldest segment (tcp_xmit_retransmit_queue()).
        self._timer_for = RTO
        self._rto_at = now + self._rto.rto_s
        self._rtx_timer.set_at(self._rto_at)

    def _send_loss_probe(self) -> None:
        """The PTO expired: RFC 8985 §7.3, Linux ``tcp_send_loss_probe()``."""
        if not self._retx:
            return
        now = self._immediate.now()
        unsent = self._unsent
        n = min(self._mss, len(unsent), self._snd_wnd - (self.snd_nxt - self.snd_una))
        if n > 0:  # new data if the window allows, Nagle or not
            self._transmit(ACK | PSH if n == len(unsent) else ACK, bytes(unsent[:n]))
            del unsent[:n]
        else:
            self._retransmit(-1)  # the last segment sent
        self._probe_high = self.snd_nxt
        self._rto_at = now + self._rto.rto_s  # the RTO restarts from the probe
        self._rtx_timer.set_at(self._rto_at)
