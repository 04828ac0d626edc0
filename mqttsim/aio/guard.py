"""Admission control for the socket broker: which sockets may reach the core.

Theory of operation
-------------------
Every accepted socket is *pending* until the core accepts its CONNECT (the
``ClientConnected`` event), then *connected* until it closes. Three limits
apply, all decided by the driver before the core sees a byte:

* **Connected clients** (``max_connections``): a new socket is refused at once
  while that many clients are connected. Pending sockets do not count, so
  unauthenticated sockets can never push real clients out.
* **Pending sockets** (``max_pending``): a budget of its own. When it is full,
  the *oldest* pending socket is closed to make room for the newcomer. A real
  client sends CONNECT within a round trip of connecting, so a flood must
  replace the whole budget faster than that to starve it; refusing the
  newcomer instead would let a few hundred idle sockets lock every real user
  out for the whole connect timeout (the defect this module fixes).
* **Login back-off** (:class:`LoginBackoff`): after failed logins from one
  source, its new sockets are refused, and its pending ones closed, for a
  delay that doubles per consecutive failure. A password guesser gets about
  one guess per delay instead of thousands per second.

A limit reached is never silent: each refusal is counted in
:attr:`Guard.refused` under its reason, and logged, the first ten and then
every thousandth of each reason, so that a flood cannot flood the log too.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from .eventlog import worth_a_line

__all__ = ["Guard", "LoginBackoff", "source_of"]

log = logging.getLogger("mqttsim.broker")


def source_of(host: str) -> str:
    """The key one client machine is known by: its IPv4 address, or the /64
    an IPv6 address belongs to (one host is routinely given a whole /64, so
    per-address keys would let it rotate past the back-off)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host  # a Unix socket or something else without an IP
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass(slots=True)
class _Record:
    failures: int
    until: float  # refused before this time
    last: float  # time of the latest failure


class LoginBackoff:
    """Per-source delay after failed CONNECT authentication.

    The first ``free_failures`` consecutive failures from a source cost
    nothing (a mistyped password); each one after that refuses the source for
    ``first_delay_s``, doubled per further failure up to ``max_delay_s``. A
    successful login forgets the source; so does ``forget_after_s`` without a
    failure. At most ``max_sources`` sources are remembered: past that, the
    one that failed least recently is forgotten first.

    Args:
        first_delay_s: the delay after the first failure that costs one.
        max_delay_s: the cap on the delay.
        free_failures: consecutive failures allowed without delay.
        forget_after_s: a source quiet this long starts afresh.
        max_sources: bound on the table's size (memory).
        clock: seconds, monotonic; injectable so that tests need no waiting.
    """

    def __init__(
        self,
        *,
        first_delay_s: float = 1.0,
        max_delay_s: float = 60.0,
        free_failures: int = 2,
        forget_after_s: float = 600.0,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if first_delay_s <= 0 or max_delay_s < first_delay_s:
            raise ValueError("need 0 < first_delay_s <= max_delay_s")
        if free_failures < 0 or max_sources < 1 or forget_after_s <= max_delay_s:
            raise ValueError(
                "need free_failures >= 0, max_sources >= 1 and forget_after_s > max_delay_s"
            )
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.free_failures = free_failures
        self.forget_after_s = forget_after_s
        self.max_sources = max_sources
        self.clock = clock
        # Ordered by latest failure, oldest first: forgetting and evicting
        # both take from the front.
        self._table: OrderedDict[str, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table)

    def delay_left(self, source: str) -> float:
        """Seconds ``source`` is still refused for (0.0: let it in)."""
        record = self._table.get(source)
        if record is None:
            return 0.0
        now = self.clock()
        if now - record.last >= self.forget_after_s:
            del self._table[source]
            return 0.0
        return max(0.0, record.until - now)

    def failed(self, source: str) -> float:
        """Record a failed login from ``source``; returns the delay now in force."""
        now = self.clock()
        self._forget_quiet(now)
        record = self._table.pop(source, None)
        if record is None:
            record = _Record(failures=0, until=now, last=now)
        record.failures += 1
        record.last = now
        paid = record.failures - self.free_failures
        delay = 0.0
        if paid > 0:
            # min() before the power keeps the exponent small after many failures.
            delay = min(self.max_delay_s, self.first_delay_s * 2.0 ** min(paid - 1, 32))
        record.until = now + delay
        self._table[source] = record
        while len(self._table) > self.max_sources:
            self._table.popitem(last=False)
        return delay

    def succeeded(self, source: str) -> None:
        """A login from ``source`` succeeded: forget its failures."""
        self._table.pop(source, None)

    def _forget_quiet(self, now: float) -> None:
        while self._table:
            source, record = next(iter(self._table.items()))
            if now - record.last < self.forget_after_s:
                return
            del self._table[source]


class Admitted(Protocol):
    """What the guard needs of a socket: where it comes from, how to close it."""

    source: str
    peer: str

    def close(self) -> None: ...


S = TypeVar("S", bound=Admitted)


class Guard(Generic[S]):
    """The connection limits of one server (see the module's docstring).

    Args:
        max_connections: connected clients at most.
        max_pending: sockets not yet accepted by CONNACK at most.
        backoff: the login back-off, or ``None`` for none.
    """

    def __init__(
        self, *, max_connections: int, max_pending: int, backoff: LoginBackoff | None
    ) -> None:
        if max_connections < 1 or max_pending < 1:
            raise ValueError("max_connections and max_pending must be at least 1")
        self.max_connections = max_connections
        self.max_pending = max_pending
        self.backoff = backoff
        self.refused: Counter[str] = Counter()
        # Insertion order is age: the first pending socket is the oldest.
        self._pending: dict[S, None] = {}
        self._connected: set[S] = set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def connected(self) -> int:
        return len(self._connected)

    def admit(self, sock: S) -> bool:
        """A socket was accepted: may it go on to the core? If the pending
        budget is full, the oldest pending socket is closed to make room."""
        if self.backoff is not None:
            left = self.backoff.delay_left(sock.source)
            if left > 0:
                self._refuse(
                    "login-backoff",
                    "refused connection from %s: failed logins, %.1f s of back-off left",
                    sock.peer,
                    left,
                )
                return False
        if len(self._connected) >= self.max_connections:
            self._refuse(
                "max-connections",
                "refused connection from %s: %d clients connected (max_connections)",
                sock.peer,
                len(self._connected),
            )
            return False
        if len(self._pending) >= self.max_pending:
            oldest = next(iter(self._pending))
            del self._pending[oldest]
            self._refuse(
                "max-pending",
                "closed the oldest unauthenticated connection, from %s, to admit one"
                " from %s: %d awaiting CONNACK (max_pending_connections)",
                oldest.peer,
                sock.peer,
                self.max_pending,
            )
            oldest.close()
        self._pending[sock] = None
        return True

    def connected_ok(self, sock: S) -> bool:
        """The core accepted the socket's CONNECT. False if that makes one
        client too many (several pending sockets finished at once): the
        caller closes it."""
        self._pending.pop(sock, None)
        if self.backoff is not None:
            self.backoff.succeeded(sock.source)
        if len(self._connected) >= self.max_connections:
            self._refuse(
                "max-connections",
                "closing client from %s: %d clients connected (max_connections)",
                sock.peer,
                len(self._connected),
            )
            return False
        self._connected.add(sock)
        return True

    def login_failed(self, sock: S) -> None:
        """The core refused the socket's credentials: start or lengthen the
        back-off of its source, and close that source's other pending sockets
        (opened in parallel, they would each get a guess)."""
        if self.backoff is None:
            return
        if self.backoff.failed(sock.source) <= 0:
            return
        for other in [s for s in self._pending if s.source == sock.source and s is not sock]:
            del self._pending[other]
            self._refuse(
                "login-backoff",
                "closed a pending connection from %s: failed logins from that address",
                other.peer,
            )
            other.close()

    def closed(self, sock: S) -> None:
        """The socket closed (whatever its stage)."""
        self._pending.pop(sock, None)
        self._connected.discard(sock)

    def _refuse(self, reason: str, message: str, *args: object) -> None:
        self.refused[reason] += 1
        count = self.refused[reason]
        if worth_a_line(count):
            log.warning(message + " [%s: %d so far]", *args, reason, count)
