"""Timers for the simulated TCP: the RTO estimator and a cheap SimPy timer.

:class:`RtoEstimator` is pure arithmetic (no SimPy): it turns RTT samples
into a retransmission timeout, either exactly as RFC 6298 §2 says or as
Linux does (``tcp_rtt_estimator()`` and ``tcp_set_rto()``,
net/ipv4/tcp_input.c), and doubles it on expiry (RFC 6298 §5.5).

The two differ where it matters on a steady satellite link. RFC 6298 applies
its floor to the whole RTO, ``max(SRTT + 4·RTTVAR, 1 s)``; with a floor
below the RTT (Linux's 200 ms) RTTVAR decays towards 0 and the RTO towards
the RTT itself, so a little queueing fires it. Linux applies the floor to
the variance term, ``SRTT + max(4·mdev, 200 ms)``, and lets that term fall
by only a quarter of its excess per flight: after a steady 562 ms the RTO is
762 ms.

:class:`Timer` is a restartable one-shot timer. TCP restarts its
retransmission timer on every ACK (RFC 6298 §5.3), nearly always to a *later*
time. Cancelling and re-creating a SimPy event each time would leave a dead
event in the heap per ACK; instead the timer keeps its deadline as a number
and keeps at most one wake-up event scheduled that matters. When the wake-up
finds the deadline moved later it sleeps again; only an earlier deadline
schedules a new event. A wake-up set while a callback runs enters the queue
only once the callback has ended, and not if the timer was stopped by then
(see :meth:`Timer._schedule`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import simpy

from .immediate import immediate

__all__ = ["RtoEstimator", "Timer", "linux_timer_fires_s"]

# RFC 6298 §2: alpha = 1/8, beta = 1/4, K = 4. G is the clock granularity;
# Linux keeps time in jiffies of 1 ms (HZ=1000).
_ALPHA: Final = 0.125
_BETA: Final = 0.25
_K: Final = 4.0
_G_S: Final = 0.001


class RtoEstimator:
    """Smoothed RTT, RTT variation and RTO per RFC 6298, or as Linux computes them.

    Args:
        initial_s: RTO before the first sample (1 s, RFC 6298 §2.1).
        min_s: lower bound applied whenever the RTO is computed (§2.4); with
            ``linux``, the lower bound of the variance term.
        max_s: upper bound, also for the back-off (§2.5, §5.5).
        linux: compute as Linux does (see the module docstring).

    Attributes:
        srtt_s: smoothed RTT, None before the first sample.
        rttvar_s: RTT variation, None before the first sample; with
            ``linux``, a quarter of the variance term (so that the RTO is
            ``srtt_s + 4 * rttvar_s`` either way).
        rto_s: the current retransmission timeout.
    """

    __slots__ = (
        "srtt_s",
        "rttvar_s",
        "rto_s",
        "_min_s",
        "_max_s",
        "_linux_rule",
        "_mdev_s",
        "_mdev_max_s",
        "_rtt_seq",
    )

    def __init__(
        self, *, initial_s: float, min_s: float, max_s: float, linux: bool = False
    ) -> None:
        self.srtt_s: float | None = None
        self.rttvar_s: float | None = None
        self.rto_s = min(initial_s, max_s)
        self._min_s = min_s
        self._max_s = max_s
        self._linux_rule = linux
        self._mdev_s = 0.0  # Linux mdev_us: 4 x the mean deviation
        self._mdev_max_s = 0.0  # its largest value in the current flight
        self._rtt_seq = 0  # snd_nxt when the current flight began

    def sample(self, rtt_s: float, snd_una: int = 0, snd_nxt: int = 0) -> None:
        """Take one RTT measurement and recompute the RTO.

        Without timestamps, callers apply Karn's algorithm (RFC 6298 §3):
        never pass a sample timed on a retransmitted segment. ``snd_una``
        (after this ACK) and ``snd_nxt`` tell Linux's estimator when a
        flight of data has been acknowledged.
        """
        if self._linux_rule:
            self._sample_linux(rtt_s, snd_una, snd_nxt)
            return
        if self.srtt_s is None or self.rttvar_s is None:
            # RFC 6298 §2.2: the first measurement.
            self.srtt_s = rtt_s
            self.rttvar_s = rtt_s / 2.0
        else:
            # RFC 6298 §2.3: RTTVAR first, with the old SRTT.
            self.rttvar_s = (1.0 - _BETA) * self.rttvar_s + _BETA * abs(self.srtt_s - rtt_s)
            self.srtt_s = (1.0 - _ALPHA) * self.srtt_s + _ALPHA * rtt_s
        rto = self.srtt_s + max(_G_S, _K * self.rttvar_s)
        self.rto_s = min(max(rto, self._min_s), self._max_s)  # §2.4, §2.5

    def _sample_linux(self, m: float, snd_una: int, snd_nxt: int) -> None:
        """Linux ``tcp_rtt_estimator()`` then ``tcp_set_rto()`` (tcp_input.c).

        In seconds rather than Linux's scaled microseconds: ``_mdev_s`` and
        the variance term are Linux's ``mdev_us`` and ``rttvar_us``, four
        times a mean deviation. The term only grows within a flight; once a
        flight is acknowledged it falls a quarter of the way to the flight's
        largest deviation, never below ``rto_min``.
        """
        srtt = self.srtt_s
        if srtt is None:
            # No previous measure: "make sure rto = 3*rtt".
            srtt = m
            self._mdev_s = 2.0 * m
            var = max(self._mdev_s, self._min_s)
            self._mdev_max_s = var
            self._rtt_seq = snd_nxt
        else:
            var = _K * (self.rttvar_s or 0.0)
            err = m - srtt
            srtt += err * _ALPHA  # srtt = 7/8 srtt + 1/8 new
            if err < 0.0:
                # The RTT fell: a finer gain (alpha * beta) for mdev, like Eifel.
                err = -err - self._mdev_s * _BETA
                if err > 0.0:
                    err *= _ALPHA
            else:
                err -= self._mdev_s * _BETA
            self._mdev_s += err  # mdev = 3/4 mdev + 1/4 new
            if self._mdev_s > self._mdev_max_s:
                self._mdev_max_s = self._mdev_s
                if self._mdev_max_s > var:
                    var = self._mdev_max_s
            if snd_una > self._rtt_seq:  # a flight acknowledged
                if self._mdev_max_s < var:
                    var -= (var - self._mdev_max_s) * _BETA
                self._rtt_seq = snd_nxt
                self._mdev_max_s = self._min_s
        self.srtt_s = srtt
        self.rttvar_s = var / _K
        self.rto_s = min(srtt + var, self._max_s)  # __tcp_set_rto(), tcp_bound_rto()

    def back_off(self) -> None:
        """Double the RTO after the timer expires, up to the maximum (§5.5)."""
        self.rto_s = min(self.rto_s * 2.0, self._max_s)

    def at_least(self, floor_s: float) -> None:
        """Raise the RTO to ``floor_s`` if it is lower (used for RFC 6298 §5.7)."""
        self.rto_s = min(max(self.rto_s, floor_s), self._max_s)


# Linux's timer wheel (kernel/time/timer.c): level n holds timers due in
# LVL_START(n) .. LVL_START(n + 1) jiffies, with a granularity of 8**n jiffies.
_WHEEL_LEVEL_STARTS: Final = (63, 504, 4032, 32256, 258048)


def linux_timer_fires_s(now_s: float, deadline_s: float, hz: int) -> float:
    """When a Linux ``timer_list`` timer armed at ``now_s`` for ``deadline_s`` fires.

    TCP's retransmission, loss-probe and delayed-ACK timers are such timers:
    the delay becomes whole jiffies (``HZ`` a second, rounded up), and the
    wheel files the expiry in a bucket of its level and rounds it up past
    the bucket's granularity (``calc_index()``), so the timer never fires
    early and fires up to one granularity late: 1 jiffy within 63 jiffies,
    8 jiffies (32 ms at HZ=250) within 504, 64 (256 ms) within 4032, 512
    (2 s) beyond. Jiffy 0 is simulated time 0.
    """
    clk = math.floor(now_s * hz + 1e-9)
    delta = max(0, math.ceil((deadline_s - now_s) * hz - 1e-9))
    shift = 0
    for start in _WHEEL_LEVEL_STARTS:
        if delta < start:
            break
        shift += 3
    return ((((clk + delta) >> shift) + 1) << shift) / hz


class Timer:
    """A one-shot timer that calls ``callback()`` at its deadline.

    Args:
        env: the SimPy environment.
        callback: called with no arguments when the deadline is reached.
        hz: fire as a Linux timer of a kernel with this ``HZ`` would
            (:func:`linux_timer_fires_s`); 0 for exactly at the deadline.

    Attributes:
        deadline_s: when the timer fires, or None when stopped.
    """

    __slots__ = (
        "_immediate",
        "_callback",
        "deadline_s",
        "_wake_s",
        "_wake_cb",
        "_held_id",
        "_parked_id",
        "_release_cb",
        "_hz",
    )

    def __init__(self, env: simpy.Environment, callback: Callable[[], None], hz: int = 0) -> None:
        self._immediate = immediate(env)  # the clock, and env.timeout(...) built cheaply
        self._hz = hz
        self._callback = callback
        self.deadline_s: float | None = None
        self._wake_s: float | None = None  # the wake-up event that counts
        self._wake_cb = self._wake
        # The place in SimPy's order of a wake-up not in its queue (see _schedule):
        # held to the end of the callback, or parked since.
        self._held_id = -1
        self._parked_id = -1
        self._release_cb = self._release

    @property
    def running(self) -> bool:
        """True while a deadline is set."""
        return self.deadline_s is not None

    def start(self, delay_s: float) -> None:
        """(Re)start the timer to fire ``delay_s`` from now."""
        self.set_at(self._immediate.now() + delay_s)

    def set_at(self, deadline_s: float) -> None:
        """(Re)start the timer to fire at time ``deadline_s`` (a Linux timer: the
        wheel's time for it)."""
        if self._hz:
            deadline_s = linux_timer_fires_s(self._immediate.now(), deadline_s, self._hz)
        self.deadline_s = deadline_s
        wake_s = self._wake_s
        if wake_s is None or deadline_s < wake_s:
            self._schedule(deadline_s)
        elif self._parked_id >= 0:
            self._unpark(wake_s)

    def stop(self) -> None:
        """Stop the timer; a pending wake-up will find nothing to do."""
        self.deadline_s = None

    def _schedule(self, at_s: float) -> None:
        self._wake_s = at_s
        self._parked_id = -1  # a parked wake-up is superseded by this earlier one
        clock = self._immediate
        delay = at_s - clock.now()
        if delay > 0.0 and clock.depth > 0:
            # Inside a callback a timer is often stopped before the callback
            # ends (the delayed ACK that the reply carries), and a wake-up
            # left in the queue then costs a step of SimPy's loop to find
            # nothing to do. So the wake-up takes its place in SimPy's order
            # now, and enters the queue only when the callback has ended and
            # the timer still runs, or later, if it is started again before
            # the wake-up's time (see _release): exactly where it would have
            # been, and the same events happen in the same order (but see
            # _unpark for the one exception).
            eid = clock.reserve()
            if eid is not None:
                if self._held_id < 0:
                    clock.at_rest(self._release_cb)
                self._held_id = eid
                return
        self._held_id = -1  # a wake-up held back is superseded by this earlier one
        clock.timeout(delay if delay > 0.0 else 0.0, self._wake_cb, at_s)

    def _release(self) -> None:
        """The callback that held the wake-up ended: schedule it, or drop it."""
        eid = self._held_id
        self._held_id = -1
        at_s = self._wake_s
        if eid < 0 or at_s is None:
            return
        if self.deadline_s is None:
            # Stopped: the wake-up would find nothing to do, unless the timer
            # is started again before then and reuses it (set_at). Park it.
            self._parked_id = eid
            return
        clock = self._immediate
        clock.timeout(at_s - clock.now(), self._wake_cb, at_s, eid)

    def _unpark(self, at_s: float) -> None:
        """Started again with a parked wake-up due no later: queue it now."""
        eid = self._parked_id
        self._parked_id = -1
        clock = self._immediate
        delay = at_s - clock.now()
        # At its very instant (delay 0), whether SimPy would have run it
        # before the event now running cannot be told; it is queued, to run
        # next. Only there can the order differ, and only if the restart falls
        # exactly on the wake-up's time, a sum of floats equal to another.
        if delay < 0.0:
            # Its time has passed: it would have found nothing to do then.
            self._wake_s = None
            assert self.deadline_s is not None
            self._schedule(self.deadline_s)
            return
        clock.timeout(delay, self._wake_cb, at_s, eid)

    def _wake(self, event: Any) -> None:
        at_s = self._wake_s
        if at_s is None or event.value != at_s:
            return  # superseded by an earlier wake-up
        self._wake_s = None
        deadline = self.deadline_s
        if deadline is None:
            return
        if deadline <= at_s:
            self.deadline_s = None
            self._callback()
        else:
            self._schedule(deadline)
