"""Simulated MQTT nodes: the protocol core driven by SimPy processes.

Theory of operation
-------------------
:class:`SimBroker` and :class:`SimClient` run the very objects that the
asyncio driver runs (:class:`~mqttsim.protocol.Broker`,
:class:`~mqttsim.protocol.ClientConnection`) over the simulated TCP of
:mod:`mqttsim.sim.tcp`. Each connection is one SimPy process doing the four
steps of every mqttsim driver (DESIGN.md, "How the drivers stay thin"):

1. wait for bytes or the core's next deadline:
   ``yield endpoint.recv() | env.timeout(deadline - env.now)``;
2. hand them over: ``receive_data(data, now=)``, ``connection_lost(now=)``
   when the stream ends, or ``handle_timeout(now=)``;
3. write ``data_to_send(now=)`` to the endpoint;
4. turn events into SimPy idioms: a received message goes on a
   :class:`simpy.Store`; connection events go in a plain ``log`` list.

The driver decides nothing about MQTT. When the core says the connection is
over (its state is closed) the driver writes what is left and closes the
TCP end; when the TCP stream ends it tells the core. A client then opens a
new TCP connection after a back-off and calls ``connect()`` again: whether
the session resumes is the core's business (its ``clean_start``).

A deadline that moves later leaves its SimPy timeout in place: when it fires
early, ``handle_timeout`` finds nothing due, and a new one is set. So a busy
connection keeps one pending timeout, not one per packet.

Randomness: the only draw here is the reconnect jitter, from the ``rng``
passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from typing import Any

import simpy

from mqttsim.protocol.broker import Broker
from mqttsim.protocol.broker_connection import BrokerConnection
from mqttsim.protocol.client import ClientConnection
from mqttsim.protocol.enums import QoS
from mqttsim.protocol.events import (
    Connected,
    Event,
    MessageReceived,
    PacketReceived,
    PacketSent,
    PublishAcked,
    PublishCompleted,
    PublishReceived,
)
from mqttsim.protocol.packets import Subscription
from mqttsim.protocol.tables import ClientState

from .loss import RandomSource
from .path import Path, TcpListener
from .tcp import ConnectionFailed, TcpEndpoint
from .tcp_segment import TcpConfig
from .tcp_timers import Timer

__all__ = ["SimBroker", "SimClient"]

Proc = Generator[simpy.Event, Any, None]
_ACKS = (PublishAcked, PublishReceived, PublishCompleted)
_TRACE = (PacketSent, PacketReceived)


class _Pump:
    """The four steps for one connection, shared by the broker and the client side.

    Step 1 waits on ``endpoint.recv()`` alone. The core's deadline is kept by
    one :class:`~mqttsim.sim.tcp_timers.Timer`, which interrupts the wait
    only when the deadline is really due. This stands for the textbook
    ``yield recv | env.timeout(deadline - now)``, which costs a Condition and
    a timeout per packet, more than the MQTT work they wrap on the
    200-station pipeline, while deadlines are rarely due.

    Args:
        env: the SimPy environment.
        endpoint: the TCP end.
        core: a ClientConnection or BrokerConnection.
        after: steps 3 and 4, called with the events of step 2 and the time.
    """

    __slots__ = ("env", "endpoint", "core", "after", "timer", "process", "_waiting")

    def __init__(
        self,
        env: simpy.Environment,
        endpoint: TcpEndpoint,
        core: ClientConnection | BrokerConnection,
        after: Callable[[list[Event], float], None],
    ) -> None:
        self.env = env
        self.endpoint = endpoint
        self.core = core
        self.after = after
        self.timer = Timer(env, self._due)
        self.process: simpy.Process | None = None
        self._waiting = False

    def _due(self) -> None:
        deadline = self.core.next_deadline()
        if deadline is not None and deadline > self.env.now:
            self.timer.set_at(deadline)  # it moved later: sleep on
        elif self._waiting and self.process is not None:
            self._waiting = False
            self.process.interrupt()

    def run(self, done: Callable[[], bool]) -> Generator[simpy.Event, Any, None]:
        """Pump until ``done()`` says the core has closed the connection."""
        env, endpoint, core, timer = self.env, self.endpoint, self.core, self.timer
        while not done():
            recv = endpoint.recv()  # the same event again if the last wait was interrupted
            deadline = core.next_deadline()
            if deadline is None:
                timer.stop()
            else:
                timer.set_at(deadline)
            self._waiting = True
            try:
                data: bytes | None = yield recv
            except simpy.Interrupt:
                data = recv.value if recv.triggered else None
            self._waiting = False
            now = env.now
            if data is None:
                events = core.handle_timeout(now=now)
            elif data:
                events = core.receive_data(data, now=now)
            else:
                events = core.connection_lost(now=now)
            self.after(events, now)
        timer.stop()


class SimBroker:
    """A broker host: one :class:`Broker`, serving every connection its listener accepts.

    Args:
        env: the SimPy environment.
        listener: where clients connect (one listener may serve many paths).
        broker: the broker core; a new one with default settings if None.

    Attributes:
        broker: the protocol core (its ``stats``, ``sessions``, ``retained``
            are there to read).
        log: ``(time_s, event)`` for every event the core reported
            (clients connecting and leaving, wills, drops); trace events
            go to ``broker.trace_log`` instead, when asked for.
    """

    def __init__(
        self, env: simpy.Environment, listener: TcpListener, broker: Broker | None = None
    ) -> None:
        self.env = env
        self.listener = listener
        self.broker = broker if broker is not None else Broker(now=env.now)
        self.log: list[tuple[float, Event]] = []
        self._endpoints: dict[int, TcpEndpoint] = {}  # connection id -> its TCP end
        self._wake: simpy.Event = env.event()
        self._timer_at: float | None = None
        env.process(self._accept())
        env.process(self._timers())

    def _accept(self) -> Proc:
        env = self.env
        while True:
            endpoint = yield self.listener.accept()
            conn = self.broker.connection_made(now=env.now)
            self._endpoints[conn.id] = endpoint
            pump = _Pump(env, endpoint, conn, self._after)
            pump.process = env.process(pump.run(lambda conn=conn: conn.is_closed))

    def _timers(self) -> Proc:
        """Wills, session expiry and ``$SYS``: the broker's own deadlines."""
        env = self.env
        broker = self.broker
        while True:
            self._wake = env.event()
            deadline = broker.next_deadline()
            self._timer_at = deadline
            if deadline is None:
                yield self._wake
            else:
                yield self._wake | env.timeout(max(0.0, deadline - env.now))
            self._after(broker.handle_timeout(now=env.now), env.now)

    def _after(self, events: list[Event], now: float) -> None:
        """Steps 3 and 4 for the whole broker: write, close, log, re-arm the timer."""
        endpoints = self._endpoints
        for conn in self.broker.pending_connections():
            data = conn.data_to_send(now=now)
            endpoint = endpoints.get(conn.id)
            if endpoint is None:
                continue
            if data and endpoint.is_open:
                endpoint.send(data)
            if conn.is_closed:
                del endpoints[conn.id]
                endpoint.close()  # FIN after the last bytes, as close(2) does
        if events:
            self.log.extend((now, event) for event in events if not isinstance(event, _TRACE))
        deadline = self.broker.next_deadline()
        if deadline is not None and (self._timer_at is None or deadline < self._timer_at):
            if not self._wake.triggered:
                self._wake.succeed()


class SimClient:
    """A client host: one :class:`ClientConnection` over a :class:`Path`, reconnecting.

    The client connects at once (or when :meth:`start` is called). When the
    network connection ends (the core closed it, or TCP died or was reset)
    it waits a back-off, ``delay * (0.5 + rng.random())`` with ``delay``
    doubling from ``backoff_initial_s`` up to ``backoff_max_s`` and going
    back to the start after a successful CONNACK, then opens a new TCP
    connection and calls ``connect()`` again. Whether the session resumes,
    and what happens to messages published meanwhile, is the core's
    business: built with ``clean_start=False``, it keeps QoS 1/2 messages
    for the resumed session and drops QoS 0 (see
    :meth:`ClientConnection.publish`).

    Args:
        env: the SimPy environment.
        path: the client's path to the broker host.
        connection: the protocol core; the driver calls its ``connect()``.
        rng: random source for the reconnect jitter.
        tcp_config: settings of the client's TCP end.
        backoff_initial_s: the first reconnect delay (before jitter).
        backoff_max_s: the longest reconnect delay (before jitter).
        log_acks: also log PublishAcked/PublishReceived/PublishCompleted
            (one per QoS 1/2 message: off for long runs).
        autostart: start connecting at once.

    Attributes:
        connection: the protocol core.
        messages: a Store of :class:`MessageReceived` events, in arrival
            order: ``event = yield client.messages.get()``.
        log: ``(time_s, event)`` for the core's other events (Connected,
            Disconnected, PublishDropped, Subscribed, ...).
        attempts: TCP connection attempts made.
    """

    def __init__(
        self,
        env: simpy.Environment,
        path: Path,
        connection: ClientConnection,
        *,
        rng: RandomSource,
        tcp_config: TcpConfig | None = None,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 120.0,
        log_acks: bool = False,
        autostart: bool = True,
    ) -> None:
        if not 0.0 < backoff_initial_s <= backoff_max_s:
            raise ValueError("need 0 < backoff_initial_s <= backoff_max_s")
        self.env = env
        self.path = path
        self.connection = connection
        self.messages = simpy.Store(env)
        self.log: list[tuple[float, Event]] = []
        self.attempts = 0
        self._rng = rng
        self._tcp_config = tcp_config
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._skip = _TRACE if log_acks else _TRACE + _ACKS
        self._endpoint: TcpEndpoint | None = None
        self._waiting: list[simpy.Event] = []
        self._stopped = False
        self._process: simpy.Process | None = None
        self._accepted = False
        if autostart:
            self.start()

    # -- the scenario's side ------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        """True from CONNACK to the end of the connection."""
        return self.connection.is_connected

    def start(self) -> None:
        """Start connecting (once; later calls do nothing)."""
        if self._process is None:
            self._process = self.env.process(self._run())

    def connected(self) -> simpy.Event:
        """An event that fires with the next :class:`Connected` event."""
        event = self.env.event()
        self._waiting.append(event)
        return event

    def publish(
        self, topic: str, payload: bytes = b"", *, qos: QoS | int = 0, retain: bool = False
    ) -> int | None:
        """Publish now and write the bytes; see :meth:`ClientConnection.publish`."""
        pid = self.connection.publish(topic, payload, qos=qos, retain=retain, now=self.env.now)
        self.flush()
        return pid

    def publish_many(self, messages: Iterable[tuple[str, bytes, int, bool]]) -> list[int | None]:
        """Publish ``(topic, payload, qos, retain)`` tuples, then write once.

        One write means the packets share TCP segments, as an application
        that writes a whole report at once would see.
        """
        now = self.env.now
        publish = self.connection.publish
        pids = [publish(t, p, qos=q, retain=r, now=now) for t, p, q, r in messages]
        self.flush()
        return pids

    def subscribe(
        self,
        subscriptions: str | Subscription | list[Subscription | tuple[str, int]],
        *,
        qos: QoS | int = 0,
    ) -> int:
        """Subscribe now; a ``Subscribed`` event in ``log`` reports the SUBACK."""
        pid = self.connection.subscribe(subscriptions, qos=qos, now=self.env.now)
        self.flush()
        return pid

    def disconnect(self) -> None:
        """Send DISCONNECT, close the TCP end, and stop reconnecting."""
        self._stopped = True
        if self.connection.state in (ClientState.CONNECTING, ClientState.CONNECTED):
            self.connection.disconnect(now=self.env.now)
            self.flush()
        if self._endpoint is not None:
            self._endpoint.close()

    def flush(self) -> None:
        """Step 3: write what the core has to send (dropped if TCP cannot take it)."""
        data = self.connection.data_to_send(now=self.env.now)
        endpoint = self._endpoint
        if data and endpoint is not None and endpoint.is_open:
            endpoint.send(data)

    # -- the driver -----------------------------------------------------------------

    def _run(self) -> Proc:
        env = self.env
        initial, longest = self._backoff
        delay = initial
        while not self._stopped:
            self.attempts += 1
            try:
                endpoint: TcpEndpoint = yield self.path.connect(self._tcp_config)
            except ConnectionFailed:
                pass
            else:
                self._endpoint = endpoint
                if (yield from self._pump(endpoint)):
                    delay = initial  # a connection that worked resets the back-off
                self._endpoint = None
            if self._stopped:
                break
            yield env.timeout(delay * (0.5 + self._rng.random()))
            delay = min(delay * 2.0, longest)

    def _pump(self, endpoint: TcpEndpoint) -> Generator[simpy.Event, Any, bool]:
        """One network connection; returns True if CONNACK accepted it."""
        conn = self.connection
        self._accepted = False
        conn.connect(now=self.env.now)
        self.flush()
        pump = _Pump(self.env, endpoint, conn, self._after)
        pump.process = self._process
        yield from pump.run(lambda: conn.state is ClientState.CLOSED)
        endpoint.close()  # after the last bytes (a DISCONNECT, if any)
        return self._accepted

    def _after(self, events: list[Event], now: float) -> None:
        self.flush()
        if events:
            self._dispatch(events)

    def _dispatch(self, events: list[Event]) -> None:
        """Step 4: messages to the Store, other events to the log."""
        now = self.env.now
        skip = self._skip
        for event in events:
            if isinstance(event, MessageReceived):
                self.messages.put(event)
            elif not isinstance(event, skip):
                self.log.append((now, event))
                if isinstance(event, Connected):
                    self._accepted = True
                    waiting, self._waiting = self._waiting, []
                    for waiter in waiting:
                        waiter.succeed(event)

