"""Events triggered for the current instant, run without a trip through SimPy's queue.

Theory of operation
-------------------
Much of the model's work is one callback waking another at the same
simulated instant: a segment arrives and wakes the reader of its TCP end; a
broker writes on a loopback connection and wakes the client behind it.
``event.succeed()`` schedules such an event at ``now`` and SimPy runs its
callbacks when it pops it from the queue, which costs more than the wake-up
itself.

SimPy orders events by ``(time, priority, id)``, ids counting up as events
are scheduled. :meth:`Immediate.succeed` triggers the event at once (so
``event.triggered`` is true, as after ``succeed()``) and takes its id from
SimPy's counter at the same moment, but does not push it. When the callback
that SimPy is running returns (see :meth:`Immediate.enter` and
:meth:`Immediate.leave`), each such event is looked at in id order: if the
event at the head of SimPy's queue would not run before it, then it is the
very next event SimPy would process, and its callbacks run now; otherwise it
and every later one go into the queue under the ids they took. Either way
every callback runs at the same point of the run as after ``succeed()``, so
results do not change, and most wake-ups skip the queue.

Outside :meth:`enter` / :meth:`leave` (code run by a SimPy process, say),
:meth:`succeed` is plain ``event.succeed()``.

This reads SimPy's ``Environment._queue`` and ``_eid`` (SimPy 4). An
environment without them gets plain ``succeed()`` calls.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Final

import simpy
from simpy.core import StopSimulation
from simpy.events import NORMAL, PENDING, URGENT

__all__ = ["Immediate", "call_soon", "immediate", "triggered", "when"]

_STOP: Final = StopSimulation.callback  # what env.run(until=event) puts on the event
# Module names that compiled code reads as C statics, not from the module's dict.
_PENDING: Final = PENDING
_NORMAL: Final = NORMAL
_heappush: Final = heapq.heappush


class Immediate:
    """The wake-ups of one environment (use :func:`immediate` to get it).

    Args:
        env: the SimPy environment.
    """

    __slots__ = ("env", "depth", "_queue", "_next_id", "_pending", "_at_rest")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.depth = 0  # > 0 while a callback that will call leave() runs
        queue = getattr(env, "_queue", None)
        eid = getattr(env, "_eid", None)
        # Without SimPy's internals, every succeed() stays a plain one.
        usable = isinstance(queue, list) and isinstance(eid, Iterator)
        self._queue: list[Any] | None = queue if usable else None
        # SimPy numbers events as it schedules them: ours take their numbers from it.
        self._next_id: Callable[[], int] = (eid if isinstance(eid, Iterator) else iter(())).__next__
        self._pending: deque[tuple[int, simpy.Event | _Due]] = deque()
        self._at_rest: list[Callable[[], None]] = []

    def now(self) -> float:
        """``env.now``: SimPy's own is a property, a Python call each time the
        compiled model reads the clock (a dozen times per message)."""
        return self.env._now if self._queue is not None else self.env.now

    def succeed(self, event: simpy.Event, value: Any = None) -> None:
        """``event.succeed(value)``, with its callbacks run at once when nothing
        else would run before them."""
        if self.depth == 0 or self._queue is None:
            event.succeed(value)
            return
        event._ok = True  # triggered now, as succeed() does
        event._value = value
        self._pending.append((self._next_id(), event))

    def soon(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback`` as the callback of an event triggered now, as a
        Store's put or get is; for callbacks that need nothing of the event.
        Like :meth:`timeout`, it builds no SimPy event."""
        queue = self._queue
        if queue is None:
            event = self.env.event()
            event.callbacks.append(callback)
            event.succeed()
        elif self.depth == 0:
            _heappush(queue, (self.env._now, _NORMAL, self._next_id(), _Due(callback, None)))
        else:
            self._pending.append((self._next_id(), _Due(callback, None)))

    def enter(self) -> None:
        """A callback that SimPy runs starts: wake-ups wait for its end."""
        self.depth += 1

    def leave(self) -> None:
        """The callback ends: run or schedule the wake-ups it made."""
        self.depth -= 1
        if self.depth == 0:
            if self._pending:
                self._flush()
            if self._at_rest:
                self._rest()

    def bail(self) -> None:
        """The callback raised instead: queue its wake-ups, run none of them."""
        self.depth -= 1
        if self.depth == 0:
            self._queue_pending()
            if self._at_rest:
                self._rest()

    def at_rest(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the callback that SimPy runs has ended and
        its wake-ups have run or been queued, before SimPy takes another event;
        at once outside such a callback."""
        if self.depth == 0:
            callback()
        else:
            self._at_rest.append(callback)

    def _rest(self) -> None:
        hooks = self._at_rest
        self._at_rest = []
        for hook in hooks:
            hook()

    def reserve(self) -> int | None:
        """The place in SimPy's order of an event scheduled now, for one that
        :meth:`timeout` schedules later (None without SimPy's internals)."""
        return self._next_id() if self._queue is not None else None

    def _queue_pending(self) -> None:
        """Into SimPy's queue, in order, under their ids, as succeed() would have put them."""
        queue = self._queue
        assert queue is not None
        now = self.env._now
        for eid, event in self._pending:
            _heappush(queue, (now, _NORMAL, eid, event))
        self._pending.clear()

    def _flush(self) -> None:
        pending = self._pending
        queue = self._queue
        assert queue is not None
        now = self.env._now
        self.depth += 1
        try:
            while pending:
                eid, event = pending[0]
                callbacks = event.callbacks
                assert callbacks is not None
                if (queue and queue[0] < (now, _NORMAL, eid)) or _STOP in callbacks:
                    # Another event comes first (or env.run() waits for this
                    # one, to stop there): leave it to SimPy.
                    break
                pending.popleft()
                # What Environment.step() does with the event it pops.
                event.callbacks = None
                for callback in callbacks:
                    callback(event)
        finally:
            self.depth -= 1
            if pending:  # the ones left, or all after a callback raised
                self._queue_pending()

    def timeout(
        self,
        delay: float,
        callback: Callable[[Any], None],
        value: Any = None,
        reserved: int | None = None,
    ) -> None:
        """``env.timeout(delay, value)`` with ``callback`` on it, for callbacks
        that need nothing of the event but its ``value``.

        SimPy processes the bare event this pushes exactly as the Timeout it
        stands for (same time, ``now + delay``, same place in the queue);
        only building it is cheaper, and a link makes one per packet. With
        ``reserved`` (from :meth:`reserve`), it takes that place in the queue.
        """
        queue = self._queue
        if queue is None:
            self.env.timeout(delay, value).callbacks.append(callback)
            return
        eid = self._next_id() if reserved is None else reserved
        _heappush(queue, (self.env._now + delay, _NORMAL, eid, _Due(callback, value)))


class _Due:
    """What Environment.step() needs of a triggered event, and its value."""

    __slots__ = ("callbacks", "_ok", "value")

    def __init__(self, callback: Callable[[Any], None], value: Any) -> None:
        self.callbacks: list[Callable[[Any], None]] | None = [callback]
        self._ok = True
        self.value = value


def immediate(env: simpy.Environment) -> Immediate:
    """The :class:`Immediate` of ``env`` (made on first use)."""
    found: Immediate | None = env.__dict__.get("_mqttsim_immediate")
    if found is None:
        found = env.__dict__["_mqttsim_immediate"] = Immediate(env)
    return found


def call_soon(env: simpy.Environment, callback: Callable[[simpy.Event], None]) -> None:
    """Run ``callback`` as an urgent event of its own, now.

    That is the place in SimPy's queue that a new process's first step (its
    ``Initialize``) and an interrupt take, so a callback started this way
    runs exactly when the process it stands for would have.
    """
    event = simpy.Event(env)
    event._ok = True  # triggered, as SimPy's own run(until=...) marks its event
    event._value = None
    event.callbacks.append(callback)
    env.schedule(event, URGENT)


def triggered(event: simpy.Event) -> bool:
    """``event.triggered``: SimPy's is a property, a Python call each time
    compiled code reads it, and transports read it for every segment."""
    return event._value is not _PENDING


def when(event: simpy.Event, callback: Callable[[simpy.Event], None]) -> None:
    """Call ``callback(event)`` once ``event`` is processed: what ``yield event``
    does for a process (at once, if the event already was)."""
    if event.callbacks is None:
        callback(event)
    else:
        event.callbacks.append(callback)
