"""Timers for the simulated TCP: the RFC 6298 estimator and a cheap SimPy timer.

:class:`RtoEstimator` is pure arithmetic (no SimPy): it turns RTT samples
into a retransmission timeout exactly as RFC 6298 §2 says, and doubles it on
expiry (§5.5).

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

from collections.abc import Callable
from typing import Any, Final

import simpy

from .immediate import immediate

__all__ = ["RtoEstimator", "Timer"]

# RFC 6298 §2: alpha = 1/8, beta = 1/4, K = 4. G is the clock granularity;
# Linux keeps time in jiffies of 1 ms (HZ=1000).
_ALPHA: Final = 0.125
_BETA: Final = 0.25
_K: Final = 4.0
_G_S: Final = 0.001


class RtoEstimator:
    """Smoothed RTT, RTT variation and RTO per RFC 6298.

    Args:
        initial_s: RTO before the first sample (1 s, RFC 6298 §2.1).
        min_s: lower bound applied whenever the RTO is computed (§2.4).
        max_s: upper bound, also for the back-off (§2.5, §5.5).

    Attributes:
        srtt_s: smoothed RTT, None before the first sample.
        rttvar_s: RTT variation, None before the first sample.
        rto_s: the current retransmission timeout.
    """

    __slots__ = ("srtt_s", "rttvar_s", "rto_s", "_min_s", "_max_s")

    def __init__(self, *, initial_s: float, min_s: float, max_s: float) -> None:
        self.srtt_s: float | None = None
        self.rttvar_s: float | None = None
        self.rto_s = min(initial_s, max_s)
        self._min_s = min_s
        self._max_s = max_s

    def sample(self, rtt_s: float) -> None:
        """Take one RTT measurement and recompute the RTO.

        Callers apply Karn's algorithm (RFC 6298 §3): never pass a sample
        timed on a retransmitted segment.
        """
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

    def back_off(self) -> None:
        """Double the RTO after the timer expires, up to the maximum (§5.5)."""
        self.rto_s = min(self.rto_s * 2.0, self._max_s)

    def at_least(self, floor_s: float) -> None:
        """Raise the RTO to ``floor_s`` if it is lower (used for RFC 6298 §5.7)."""
        self.rto_s = min(max(self.rto_s, floor_s), self._max_s)


class Timer:
    """A one-shot timer that calls ``callback()`` at its deadline.

    Args:
        env: the SimPy environment.
        callback: called with no arguments when the deadline is reached.

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
    )

    def __init__(self, env: simpy.Environment, callback: Callable[[], None]) -> None:
        self._immediate = immediate(env)  # the clock, and env.timeout(...) built cheaply
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
        """(Re)start the timer to fire at time ``deadline_s``."""
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
