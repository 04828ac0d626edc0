"""Simulated MQTT nodes: the protocol cores driven by SimPy events.

Theory of operation
-------------------
:class:`SimBroker` and :class:`SimClient` run the very objects the asyncio
driver runs (:class:`~mqttsim.protocol.Broker`,
:class:`~mqttsim.protocol.ClientConnection`) over the simulated TCP of
:mod:`mqttsim.sim.tcp`. Each connection has one pump doing the four steps of
every mqttsim driver (docs/ARCHITECTURE.md, "How a driver stays thin"):

1. wait for bytes or the core's next deadline (see :class:`_Pump`);
2. hand them over: ``receive_data(data, now=)``, ``connection_lost(now=)``
   when the stream ends, or ``handle_timeout(now=)``;
3. write ``data_to_send(now=)`` to the endpoint (or, for an application
   that writes each packet with its own ``send()``, ``packets_to_send(now=)``
   one by one: with Nagle on, the first leaves and the rest wait for its
   ACK, as they do on a real socket);
4. turn events into SimPy idioms: a received message goes on a
   :class:`simpy.Store` (or to an ``on_message`` callback), other events
   into a plain ``log`` list.

The pump, and a client's connect / back-off loop, are the loops a SimPy
process would run, written as callbacks on the events such a process would
wait for; every step runs in the very event where the process would have
resumed, so the model behaves as with processes, for less work per wake-up
(bench/sim_pipeline.py).

The driver decides nothing about MQTT. When the core has closed the
connection the driver writes what is left and closes the TCP end; when the
TCP stream ends it tells the core. A client then waits a back-off, opens a
new TCP connection and calls ``connect()`` again: whether the session
resumes, and what becomes of messages published meanwhile, is the core's
business. The only random draw here is the reconnect jitter, from the
``rng`` passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from typing import Any, Final, Protocol, cast

import simpy

from mqttsim.protocol.broker import Broker
from mqttsim.protocol.broker_connection import BrokerConnection
from mqttsim.protocol.client import ClientConnection
from mqttsim.protocol.enums import QoS
from mqttsim.protocol.errors import LocalProtocolError
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

from .immediate import call_soon, immediate, triggered, when
from .loss import RandomSource
from .path import TcpListener
from .tcp import ConnectionFailed
from .tcp_segment import TcpConfig
from .tcp_timers import Timer
from .transport import Transport

__all__ = ["Connector", "SimBroker", "SimClient", "Transport"]

Proc = Generator[simpy.Event, Any, None]
_ACKS: Final = (PublishAcked, PublishReceived, PublishCompleted)
_TRACE: Final = (PacketSent, PacketReceived)


class Connector(Protocol):
    """What a client needs of its path: Path and LoopbackPath fit."""

    def connect(
        self, config: TcpConfig | None = None, *, timeout_s: float | None = None, owner: str = ""
    ) -> simpy.Event: ...


class _Pump:
    """The four steps for one connection, on the broker's side or a client's.

    Step 1 waits on ``endpoint.recv()`` alone; the core's deadline is kept by
    one :class:`~mqttsim.sim.tcp_timers.Timer`, which interrupts the wait
    only when the deadline is really due (one that moved later just re-arms
    it). The textbook ``yield recv | env.timeout(deadline - now)`` costs a
    Condition and a timeout per packet: more than the MQTT work they wrap on
    the 200-station pipeline (measured), while deadlines seldom fire.

    The loop is written as callbacks on the ``recv()`` events rather than as a
    generator process: resuming a process costs more than the callback, and
    a pump wakes several times per message. Each step happens in the same
    event, in the same order, as a process's would (an interrupted wait is an
    urgent event of its own, as :meth:`simpy.Process.interrupt` makes), so
    the model's results are the same.

    Args:
        env: the SimPy environment.
        endpoint: the connection's end.
        core: the protocol object that reads and writes it.
        after: steps 3 and 4, called with the core's events and the time.
        finished: called once, when the loop ends (once the core has closed
            the connection).
    """

    __slots__ = (
        "env",
        "endpoint",
        "core",
        "after",
        "finished",
        "timer",
        "_recv",
        "_waiting",
        "_resume_cb",
        "_immediate",
    )

    def __init__(
        self,
        env: simpy.Environment,
        endpoint: Transport,
        core: ClientConnection | BrokerConnection,
        after: Callable[[list[Event], float], None],
        finished: Callable[[], None] | None = None,
    ) -> None:
        self.env = env
        self.endpoint = endpoint
        self.core = core
        self.after = after  # steps 3 and 4
        self.finished = finished
        self.timer = Timer(env, self._due)
        self._recv: simpy.Event | None = None
        self._waiting = False
        self._resume_cb = self._resume
        self._immediate = immediate(env)

    def start(self, _event: simpy.Event | None = None) -> None:
        """Begin the loop: its first wait starts now."""
        self._wait()

    def _wait(self) -> None:
        """Step 1: wait for bytes, with the timer set to the core's deadline."""
        if self.core.is_closed:
            self.timer.stop()
            if self.finished is not None:
                self.finished()
            return
        recv = self.endpoint.recv()  # the same event again after an interrupted wait
        deadline = self.core.next_deadline()
        if deadline is None:
            self.timer.stop()
        else:
            self.timer.set_at(deadline)
        self._waiting = True
        self._recv = recv
        when(recv, self._resume_cb)

    def _resume(self, event: simpy.Event) -> None:
        self._waiting = False
        now = self._immediate
        now.depth += 1  # now.enter(), inline: a pump wakes several times per message
        try:
            self._step(event._value)  # (recv events never fail)
        except BaseException:
            now.bail()
            raise
        now.leave()  # the ends it wrote wake now, or get queued

    def _due(self) -> None:
        deadline = self.core.next_deadline()
        if deadline is not None and deadline > self._immediate.now():
            self.timer.set_at(deadline)  # it moved later: sleep on
        elif self._waiting:
            self._waiting = False
            call_soon(self.env, self._interrupted)

    def _interrupted(self, _event: simpy.Event) -> None:
        """The deadline came while waiting: stop waiting, as an interrupt would."""
        recv = self._recv
        assert recv is not None and recv.callbacks is not None
        recv.callbacks.remove(self._resume_cb)
        now = self._immediate
        now.enter()
        try:
            self._step(recv.value if triggered(recv) else None)
        except BaseException:
            now.bail()
            raise
        now.leave()

    def _step(self, data: bytes | None) -> None:
        """Step 2 (bytes, end of stream, or the deadline), then 3 and 4, then wait again."""
        core = self.core
        now = self._immediate.now()
        if data is None:
            events = core.handle_timeout(now=now)
        elif data:
            events = core.receive_data(data, now=now)
        else:
            events = core.connection_lost(now=now)
        self.after(events, now)
        self._wait()


def _write(
    core: ClientConnection | BrokerConnection, endpoint: Transport | None, now: float, each: bool
) -> None:
    """Step 3: what ``core`` has to send, in one write or one per packet; lost
    if the endpoint is gone or closed (the core is drained either way)."""
    if each:
        for packet in core.packets_to_send(now=now):
            if endpoint is not None and endpoint.is_open:
                endpoint.send(packet)
        return
    data = core.data_to_send(now=now)
    if data and endpoint is not None and endpoint.is_open:
        endpoint.send(data)


class SimBroker:
    """A broker host: one :class:`Broker` serving every connection its listener accepts.

    Args:
        env: the SimPy environment.
        listener: where clients connect (one listener may serve many paths).
        broker: the broker core; a new one with default settings if None.
        write_each_packet: write each packet with its own ``send()`` (as
            mosquitto does), not each batch the core has ready at once.

    Attributes:
        broker: the protocol core (``stats``, ``sessions``, ``retained``...).
        log: ``(time_s, event)`` for every event the core reported (clients
            connecting and leaving, wills, drops); trace events, when asked
            for, go to ``broker.trace_log``.
    """

    def __init__(
        self,
        env: simpy.Environment,
        listener: TcpListener,
        broker: Broker | None = None,
        *,
        write_each_packet: bool = False,
    ) -> None:
        self.env = env
        self.listener = listener
        self.broker = broker if broker is not None else Broker(now=env.now)
        self.write_each_packet = write_each_packet
        self.log: list[tuple[float, Event]] = []
        self._endpoints: dict[int, Transport] = {}  # connection id -> its end
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
            call_soon(env, pump.start)  # where a process for it would start

    def _timers(self) -> Proc:
        """Wills, session expiry and ``$SYS``: the broker's own deadlines."""
        env, broker = self.env, self.broker
        while True:
            self._wake = env.event()
            deadline = self._timer_at = broker.next_deadline()
            if deadline is None:
                yield self._wake
            else:
                yield self._wake | env.timeout(max(0.0, deadline - env.now))
            self._after(broker.handle_timeout(now=env.now), env.now)

    def _after(self, events: list[Event], now: float) -> None:
        """Steps 3 and 4 for the whole broker: write, close, log, re-arm the timer."""
        endpoints = self._endpoints
        each = self.write_each_packet
        for conn in self.broker.pending_connections():
            endpoint = endpoints.get(conn.id)
            _write(conn, endpoint, now, each)  # drained even when the TCP end is gone
            if endpoint is None:
                continue
            if conn.is_closed:
                del endpoints[conn.id]
                endpoint.close()  # FIN after the last bytes, as close(2) does
        if events:
            self.log.extend((now, event) for event in events if not isinstance(event, _TRACE))
        deadline = self.broker.next_deadline()
        if deadline is not None and (self._timer_at is None or deadline < self._timer_at):
            if not triggered(self._wake):
                self._wake.succeed()


class SimClient:
    """A client host: one :class:`ClientConnection` over a path, reconnecting.

    It connects at once (or at :meth:`start`). When the network connection
    ends it waits ``delay * (0.5 + rng.random())``, ``delay`` doubling from
    ``backoff_initial_s`` to ``backoff_max_s`` and starting over after a
    CONNACK, then connects again (without ``backoff_jitter`` the delay is
    ``delay`` itself and no draw is made). A TCP attempt still unanswered
    after ``connect_timeout_s`` is abandoned and counts as failed, as a
    socket ``connect()`` with a timeout is. Built with ``clean_start=False`` the core
    resumes its session, keeping QoS 1/2 messages published meanwhile and
    dropping QoS 0 (:meth:`ClientConnection.publish`).

    Args:
        env: the SimPy environment.
        path: a :class:`~mqttsim.sim.path.Path` to the broker host, or a
            :class:`~mqttsim.sim.loopback.LoopbackPath` on it.
        connection: the protocol core; the driver calls its ``connect()``.
        rng: random source for the reconnect jitter.
        tcp_config: settings of the client's TCP end.
        backoff_initial_s, backoff_max_s: the reconnect delays (before jitter).
        backoff_jitter: multiply each delay by a draw in [0.5, 1.5).
        connect_timeout_s: how long a TCP attempt may take; None for as
            long as TCP itself keeps trying.
        write_each_packet: write each packet with its own ``send()`` (as
            paho-mqtt does), not each batch the core has ready at once.
        log_acks: also log PublishAcked/PublishReceived/PublishCompleted
            (one per QoS 1/2 message: off for long runs).
        autostart: start connecting at once.
        on_message: if given, called with each :class:`MessageReceived`
            at once, in place of putting it on ``messages`` (cheaper than a
            Store's put and get events when a long run has one reader).

    Attributes:
        on_message: as the argument; may be replaced (None: the Store).
        messages: a Store of :class:`MessageReceived` events, in arrival
            order: ``event = yield client.messages.get()``.
        log: ``(time_s, event)`` for the core's other events (Connected,
            Disconnected, PublishDropped, Subscribed, ...).
        attempts: TCP connections attempted.
    """

    def __init__(
        self,
        env: simpy.Environment,
        path: Connector,
        connection: ClientConnection,
        *,
        rng: RandomSource,
        tcp_config: TcpConfig | None = None,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 120.0,
        backoff_jitter: bool = True,
        connect_timeout_s: float | None = None,
        log_acks: bool = False,
        autostart: bool = True,
        on_message: Callable[[MessageReceived], None] | None = None,
        write_each_packet: bool = False,
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
        self._jitter = backoff_jitter
        self._connect_timeout = connect_timeout_s
        self._skip = _TRACE if log_acks else _TRACE + _ACKS
        self.on_message = on_message
        self.write_each_packet = write_each_packet
        self._immediate = immediate(env)
        self._endpoint: Transport | None = None
        self._waiting: list[simpy.Event] = []
        self._stopped = False
        self._started = False
        self._accepted = False
        self._delay = backoff_initial_s  # the next reconnect delay, before jitter
        if autostart:
            self.start()

    @property
    def is_connected(self) -> bool:
        """True from CONNACK to the end of the connection."""
        return self.connection.is_connected

    def start(self) -> None:
        """Start connecting (once; later calls do nothing)."""
        if not self._started:
            self._started = True
            call_soon(self.env, self._attempt)

    def connected(self) -> simpy.Event:
        """An event that fires with the next :class:`Connected` event."""
        event = self.env.event()
        self._waiting.append(event)
        return event

    def publish(
        self, topic: str, payload: bytes = b"", *, qos: QoS | int = 0, retain: bool = False
    ) -> int | None:
        """Publish now and write the bytes; see :meth:`ClientConnection.publish`."""
        pid = self.connection.publish(
            topic, payload, qos=qos, retain=retain, now=self._immediate.now()
        )
        self.flush()
        return pid

    def publish_many(self, messages: Iterable[tuple[str, bytes, int, bool]]) -> list[int | None]:
        """Publish ``(topic, payload, qos, retain)`` tuples, then write once (so
        the packets share TCP segments, as a report written at once does)."""
        now = self._immediate.now()
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
        """Send DISCONNECT (if connected), close the TCP end, stop reconnecting."""
        self._stopped = True
        try:
            self.connection.disconnect(now=self.env.now)
        except LocalProtocolError:
            pass  # not connected: nothing to say
        self.flush()
        if self._endpoint is not None:
            self._endpoint.close()

    def flush(self) -> None:
        """Step 3: write what the core has to send (lost if TCP cannot take it)."""
        _write(self.connection, self._endpoint, self._immediate.now(), self.write_each_packet)

    # The connect / pump / back-off loop, as callbacks (see _Pump): each step
    # runs in the event where a process's ``yield`` would have resumed.

    def _attempt(self, _event: simpy.Event | None = None) -> None:
        """Open a TCP connection (the top of the loop)."""
        if self._stopped:
            return
        self.attempts += 1
        opening = self.path.connect(
            self._tcp_config, timeout_s=self._connect_timeout, owner=self.connection.client_id
        )
        when(opening, self._on_connect)

    def _on_connect(self, event: simpy.Event) -> None:
        """The connection opened (or failed: ConnectionFailed)."""
        if not event.ok:
            failure = event.value
            if isinstance(failure, BaseException) and not isinstance(failure, ConnectionFailed):
                raise failure  # not a refused connection: a bug, as a process would crash
            event.defused = True  # a failed attempt is an answer, not a crash
            self._retry_later()
            return
        endpoint = cast(Transport, event.value)
        conn = self.connection
        self._endpoint = endpoint
        self._accepted = False
        conn.connect(now=self.env.now)
        self.flush()
        pump = _Pump(
            self.env,
            endpoint,
            conn,
            self._after,
            lambda: self._connection_over(endpoint),
        )
        pump.start()

    def _connection_over(self, endpoint: Transport) -> None:
        endpoint.close()  # after the last bytes (a DISCONNECT, if any)
        if self._accepted:
            self._delay = self._backoff[0]  # a connection that worked resets the back-off
        self._endpoint = None
        self._retry_later()

    def _retry_later(self) -> None:
        if self._stopped:
            return
        delay = self._delay * (0.5 + self._rng.random()) if self._jitter else self._delay
        wait = self.env.timeout(delay)
        when(wait, self._backed_off)

    def _backed_off(self, _event: simpy.Event) -> None:
        self._delay = min(self._delay * 2.0, self._backoff[1])
        self._attempt()

    def _after(self, events: list[Event], now: float) -> None:
        """Steps 3 and 4: write; messages to the Store, other events to the log."""
        self.flush()
        skip = self._skip
        on_message = self.on_message
        for event in events:
            if isinstance(event, MessageReceived):
                if on_message is None:
                    self.messages.put(event)
                else:
                    on_message(event)
            elif not isinstance(event, skip):
                self.log.append((now, event))
                if isinstance(event, Connected):
                    self._accepted = True
                    waiting, self._waiting = self._waiting, []
                    for waiter in waiting:
                        waiter.succeed(event)
