"""A one-way simulated link: delay, jitter, bandwidth, a queue, loss, outages.

Theory of operation
-------------------
A :class:`Link` carries opaque items (TCP segments, in practice) one way.
Everything about a packet's fate is decided the moment it is handed to
:meth:`Link.send`, so a packet costs one scheduled SimPy event (its arrival)
and no process:

1. **Queue.** The transmitter sends one packet at a time, first in first out.
   A packet starts when the transmitter is free: ``start = max(now,
   end of the previous transmission)``. With ``queue_limit_bytes`` set, a
   packet that would take the bytes waiting or in transmission over the limit
   is tail-dropped (outcome ``"queue-full"``) and never transmitted.
2. **Serialisation.** Sending takes ``size_bytes * 8 / bandwidth_bps``
   seconds (zero with ``bandwidth_bps=None``, an infinitely fast link).
3. **Propagation.** The last bit arrives ``delay_s`` later, plus a jitter
   drawn from the link's jitter distribution: uniform in ``[0, jitter_s]``
   unless ``jitter_model`` names another of
   :data:`~mqttsim.sim.link_figures.JITTER_MODELS`. Propagation delay is a floor
   (the speed of light does not get faster), so jitter only ever adds.
4. **Ordering.** Real satellite links rarely reorder: a modem delivers frames
   in order. A packet therefore never overtakes the one sent before it:
   ``arrival = max(arrival, previous arrival)``. Jitter shows up as delay
   variation and bunching, never as reordering.
5. **Outages.** A packet is dropped (outcome ``"outage"``) if the link is down
   at any moment from the start of its transmission to its arrival: a frame
   that is in flight when a rain fade begins does not make it.
6. **Loss.** Otherwise the loss model decides (outcome ``"lost"``).

Dropped packets still occupied the transmitter (the sender cannot tell), so
``stats.bytes_sent`` counts every byte that went on the air.

An observer, if given, receives one :class:`LinkRecord` per packet, from
inside :meth:`Link.send`. Because the fate is decided at once, a queued
packet's record carries a ``time_s`` later than ``env.now``. An observer
with an ``observe_packet(time_s, size_bytes, outcome, arrival_s, item)``
method (the packet log's) is called that way instead, and no record is
built: a long run sends millions of packets.

Every figure's range is :data:`~mqttsim.sim.link_figures.LINK_FIGURES`'s; a
whole link, both directions, is described by a
:class:`~mqttsim.sim.linkspec.LinkSpec`, whose
:meth:`~mqttsim.sim.linkspec.LinkSpec.links` builds its two Links.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import simpy

from mqttsim.protocol.errors import ConfigError

from .immediate import immediate
from .link_figures import (
    JITTER_MODELS,
    check_jitter_model,
    check_link_figure,
    check_outage_windows,
    check_queue_limit_bytes,
)
from .loss import LossModel, RandomSource

__all__ = ["Link", "LinkRecord", "LinkStats", "OutageSchedule", "Outcome", "RandomOutages"]

Outcome = Literal["delivered", "lost", "outage", "queue-full"]


@dataclass(slots=True, unsafe_hash=True)
class LinkRecord:
    """What happened to one packet handed to a link (treat it as read-only).

    Not frozen: one is made per packet while a packet log is kept, and a
    frozen dataclass's ``__init__`` cost twice as much as plain assignments
    (bench/sim_pipeline.py). ``unsafe_hash`` keeps it hashable by value.

    Attributes:
        time_s: when its transmission started (or was refused, for
            ``"queue-full"``).
        link: the link's name.
        size_bytes: the packet's size on the wire.
        outcome: ``"delivered"``, ``"lost"``, ``"outage"`` or ``"queue-full"``.
        arrival_s: when the last bit arrives; None if the packet was dropped.
        item: the object carried (a TCP segment, for instance).
    """

    time_s: float
    link: str
    size_bytes: int
    outcome: Outcome
    arrival_s: float | None
    item: Any


@dataclass(slots=True)
class LinkStats:
    """Running counters of one link (mutable; read them at any time).

    Attributes:
        packets_sent: packets that went on the air (all but queue-full).
        bytes_sent: their bytes, headers included.
        delivered: packets that arrived.
        lost: packets the loss model dropped.
        outage: packets dropped by an outage.
        queue_full: packets tail-dropped by a full queue (never sent).
    """

    packets_sent: int = 0
    bytes_sent: int = 0
    delivered: int = 0
    lost: int = 0
    outage: int = 0
    queue_full: int = 0


class OutageSchedule:
    """Fixed windows during which a link carries nothing.

    Windows are half-open, ``[start_s, start_s + duration_s)``; overlapping
    or touching windows are merged.

    Args:
        windows: ``(start_s, duration_s)`` pairs, start >= 0, duration > 0.

    Raises:
        ConfigError: if a start is negative or a duration is not positive.
    """

    __slots__ = ("_starts", "_ends")

    def __init__(self, windows: Iterable[tuple[float, float]]) -> None:
        spans = [(start, start + duration) for start, duration in check_outage_windows(windows)]
        spans.sort()
        starts: list[float] = []
        ends: list[float] = []
        for start, end in spans:
            if ends and start <= ends[-1]:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        self._starts = starts
        self._ends = ends

    @property
    def windows(self) -> tuple[tuple[float, float], ...]:
        """The merged windows as ``(start_s, duration_s)`` pairs, in time order."""
        return tuple((s, e - s) for s, e in zip(self._starts, self._ends, strict=True))

    @property
    def down_s(self) -> float:
        """Total time the link is down."""
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    def is_down(self, now: float) -> bool:
        """Return True if the link is down at time ``now``."""
        i = bisect_right(self._starts, now) - 1
        return i >= 0 and now < self._ends[i]

    def down_between(self, t0_s: float, t1_s: float) -> bool:
        """Return True if the link is down at any moment of ``[t0_s, t1_s]``."""
        # Windows are sorted and disjoint, so their ends are sorted too: only
        # the last window starting by t1_s can reach back past t0_s.
        i = bisect_right(self._starts, t1_s) - 1
        return i >= 0 and self._ends[i] > t0_s


class RandomOutages(OutageSchedule):
    """Outages at random: alternating up and down times, both exponential.

    The link starts up. Up and down durations are drawn with means
    ``mean_up_s`` and ``mean_down_s`` until ``horizon_s``; after that the link
    stays up. All draws happen here, so the schedule is fixed once built.

    Args:
        mean_up_s: mean time between outages, > 0.
        mean_down_s: mean outage duration, > 0.
        rng: the random source.
        horizon_s: time up to which outages are generated, >= 0.

    Raises:
        ConfigError: if a mean is not positive or the horizon is negative.
    """

    __slots__ = ()

    def __init__(
        self, mean_up_s: float, mean_down_s: float, rng: RandomSource, horizon_s: float
    ) -> None:
        up = check_link_figure("mean_up_s", mean_up_s)
        down = check_link_figure("mean_down_s", mean_down_s)
        horizon = check_link_figure("horizon_s", horizon_s)
        windows: list[tuple[float, float]] = []
        t = 0.0
        while True:
            # Inverse transform: 1 - u lies in (0, 1], so the log is finite.
            t += -up * math.log(1.0 - rng.random())
            if t >= horizon:
                break
            duration = -down * math.log(1.0 - rng.random())
            if duration > 0.0:
                windows.append((t, duration))
            t += duration
        super().__init__(windows)


class Link:
    """One direction of a network path (see the module docstring).

    Args:
        env: the SimPy environment.
        name: a label used in records, e.g. ``"st-07 up"``.
        delay_s: one-way propagation delay, >= 0.
        jitter_s: scale of the extra delay, >= 0 (the most it adds, for uniform).
        jitter_model: the jitter distribution, a key of
            :data:`~mqttsim.sim.link_figures.JITTER_MODELS`; ``"uniform"``
            draws from ``[0, jitter_s]``.
        bandwidth_bps: transmit rate in bit/s, > 0; None for no serialisation.
        loss: the loss model; None for no loss.
        outages: when the link is down; None for never.
        rng: random source for jitter; required when ``jitter_s > 0``.
        queue_limit_bytes: bound on bytes waiting or in transmission, > 0;
            None for an unbounded queue.
        observer: called with a :class:`LinkRecord` for every packet.

    Raises:
        ConfigError: for a value outside its range (one line naming it).
    """

    def __init__(
        self,
        env: simpy.Environment,
        *,
        name: str,
        delay_s: float,
        jitter_s: float = 0.0,
        jitter_model: str = "uniform",
        bandwidth_bps: float | None = None,
        loss: LossModel | None = None,
        outages: OutageSchedule | None = None,
        rng: RandomSource | None = None,
        queue_limit_bytes: int | None = None,
        observer: Callable[[LinkRecord], None] | None = None,
    ) -> None:
        self.env = env
        self.name = name
        self.delay_s = check_link_figure("delay_s", delay_s)
        self.jitter_s = check_link_figure("jitter_s", jitter_s)
        self.jitter_model = check_jitter_model(jitter_model, name="jitter_model")
        self.bandwidth_bps = (
            None if bandwidth_bps is None else check_link_figure("bandwidth_bps", bandwidth_bps)
        )
        if self.jitter_s > 0.0 and rng is None:
            raise ConfigError("rng must be given when jitter_s > 0")
        self.loss = loss
        self.outages = outages
        self.queue_limit_bytes = check_queue_limit_bytes(queue_limit_bytes)
        self.observer = observer
        self._observe_packet: Callable[[float, int, Outcome, float | None, object], None] | None = (
            getattr(observer, "observe_packet", None)
        )
        self.stats = LinkStats()
        # The uniform draw, the common case, is inlined in send(); another
        # distribution costs a call per packet to its sampler.
        self._random: Callable[[], float] | None = None
        self._jitter_draw: Callable[[], float] | None = None
        if rng is not None and self.jitter_s > 0.0:
            if self.jitter_model == "uniform":
                self._random = rng.random
            else:
                self._jitter_draw = JITTER_MODELS[self.jitter_model].sampler(self.jitter_s, rng)
        self._s_per_byte = 0.0 if self.bandwidth_bps is None else 8.0 / self.bandwidth_bps
        self._tx_free_s = -math.inf  # when the transmitter finishes its last packet
        self._last_arrival_s = -math.inf
        self._in_queue: deque[tuple[float, int]] = deque()  # (tx end, size), if bounded
        self._queued_bytes = 0
        self._in_flight: deque[object] = deque()  # delivered-to-be, in send order
        self._store = simpy.Store(env)
        self._sink: Callable[[Any], None] | None = None
        self._deliver_cb = self._deliver
        self._immediate = immediate(env)

    def attach(self, sink: Callable[[Any], None]) -> None:
        """Hand arriving items to ``sink(item)`` instead of queueing them for recv().

        The TCP model uses this to avoid a SimPy process per connection end.
        """
        self._sink = sink

    def is_down(self, now: float) -> bool:
        """Return True if an outage is in progress at ``now``."""
        return self.outages is not None and self.outages.is_down(now)

    def send(self, item: object, size_bytes: int) -> None:
        """Hand a packet to the link; never blocks.

        Args:
            item: whatever is carried; delivered unchanged.
            size_bytes: its size on the wire, > 0, headers included.
        """
        now = self._immediate.now()
        stats = self.stats
        if self.queue_limit_bytes is not None:
            in_queue = self._in_queue
            while in_queue and in_queue[0][0] <= now:
                self._queued_bytes -= in_queue.popleft()[1]
            if self._queued_bytes + size_bytes > self.queue_limit_bytes:
                stats.queue_full += 1
                if self._observe_packet is not None:
                    self._observe_packet(now, size_bytes, "queue-full", None, item)
                elif self.observer is not None:
                    self.observer(LinkRecord(now, self.name, size_bytes, "queue-full", None, item))
                return
        start = now if now > self._tx_free_s else self._tx_free_s
        end = start + size_bytes * self._s_per_byte
        self._tx_free_s = end
        if self.queue_limit_bytes is not None:
            self._in_queue.append((end, size_bytes))
            self._queued_bytes += size_bytes
        stats.packets_sent += 1
        stats.bytes_sent += size_bytes
        arrival = end + self.delay_s
        if self._random is not None:
            arrival += self.jitter_s * self._random()
        elif self._jitter_draw is not None:
            arrival += self._jitter_draw()
        if arrival < self._last_arrival_s:  # no reordering: see the module docstring
            arrival = self._last_arrival_s
        outcome: Outcome
        if self.outages is not None and self.outages.down_between(start, arrival):
            outcome = "outage"
            stats.outage += 1
        elif self.loss is not None and self.loss.lost(start):
            outcome = "lost"
            stats.lost += 1
        else:
            outcome = "delivered"
            stats.delivered += 1
            self._last_arrival_s = arrival
            self._in_flight.append(item)
            self._immediate.timeout(arrival - now, self._deliver_cb)
        if self._observe_packet is not None:
            self._observe_packet(
                start, size_bytes, outcome, arrival if outcome == "delivered" else None, item
            )
        elif self.observer is not None:
            self.observer(
                LinkRecord(
                    start,
                    self.name,
                    size_bytes,
                    outcome,
                    arrival if outcome == "delivered" else None,
                    item,
                )
            )

    def recv(self) -> simpy.Event:
        """Return an event that fires with the next arriving item.

        Each call queues one request (as :meth:`simpy.Store.get` does); do not
        call it again while an earlier request is still pending. Not for use
        on a link with an attached sink.
        """
        return self._store.get()

    def _deliver(self, event: object) -> None:
        # Arrivals are in send order, but ``now + (arrival - now)`` rounds
        # differently for different ``now``: two arrivals meant to coincide may
        # fire one ulp apart in either order. Taking the oldest item in flight,
        # not the event's own, keeps the order exact.
        item = self._in_flight.popleft()
        if self._sink is not None:
            now = self._immediate
            now.depth += 1  # now.enter(), inline: once per packet
            try:
                self._sink(item)
            except BaseException:
                now.bail()
                raise
            now.leave()  # the readers it woke run now, or get queued
        else:
            self._store.put(item)
