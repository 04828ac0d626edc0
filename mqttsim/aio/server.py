"""The broker on real sockets: TCP, TLS and WebSocket listeners on asyncio.

This driver is thin on purpose. For each socket it owns one
:class:`BrokerConnection` from the core and does four things: hand it the
bytes read, write what it has to send, call it back at its deadline, tell it
when the socket closes. Everything MQTT (routing, sessions, acks, keep-alive,
wills) happens in :mod:`mqttsim.protocol`.

Sockets are served by ``asyncio.Protocol`` callbacks rather than a task per
connection: the core never blocks, so there is nothing for a task to wait
on, and a callback costs less memory per idle connection and less time per
packet. Timers are lazy: a connection's timer fires at its last known
deadline and re-arms at the new one, instead of being moved on every packet.

Writing respects backpressure: a socket whose peer does not read fast
enough is paused (asyncio's ``pause_writing``), and while it is, its bytes
stay in the core, whose outbox is bounded (beyond it QoS 0 is dropped and
counted, QoS 1/2 wait in the session's bounded queue), and nothing more is
read from it (a client that never reads its acknowledgements cannot make us
hold them). ``resume_writing`` drains it and reads again. Which sockets may
reach the core at all (connection limits, the budget of unauthenticated
sockets, the back-off after failed logins) is :mod:`.guard`'s business.

The clock given to the core is wall-clock seconds (made monotonic for the
life of the process), so that times saved with persistent sessions still
mean something after a restart.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from mqttsim.protocol.broker import Broker, BrokerConfig
from mqttsim.protocol.broker_connection import BrokerConnection
from mqttsim.protocol.enums import ReasonCode
from mqttsim.protocol.events import ActionDenied, ClientConnected, Event
from mqttsim.protocol.hooks import Authenticator, Authorizer, SessionStore

from .eventlog import EventLog
from .guard import Guard, LoginBackoff, source_of
from .transport import Framing, PlainFraming, WebSocketServerFraming, set_tcp_nodelay

__all__ = ["BrokerServer", "Listener", "LoginBackoff"]

log = logging.getLogger("mqttsim.broker")

# asyncio's write buffer per socket, in bytes: writing pauses above HIGH and
# resumes below LOW (asyncio's own defaults, stated so that the bound on a
# slow reader's memory is visible: HIGH plus the core's outbox).
WRITE_BUFFER_HIGH = 64 * 1024
WRITE_BUFFER_LOW = 16 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Listener:
    """One listening socket: ``kind`` is ``"tcp"``, ``"tls"`` or ``"ws"``;
    ``port`` 0 picks a free port (read it back from :attr:`BrokerServer.ports`)."""

    kind: str
    host: str = "127.0.0.1"
    port: int = 1883
    ssl_context: ssl.SSLContext | None = None
    allowed_origins: tuple[str, ...] | None = None
    """WebSocket only: the Origins a browser may connect from (``None``: any).
    Requests without an Origin header (non-browser clients) always pass."""


class _Socket(asyncio.Protocol):
    """One accepted socket, wired to one core connection."""

    def __init__(self, server: BrokerServer, framing: Framing) -> None:
        self.server = server
        self.framing = framing
        self.transport: asyncio.Transport | None = None
        self.conn: BrokerConnection | None = None
        self.host = self.peer = self.source = "?"
        self.paused = False  # asyncio asked us to stop writing
        self.waiting = False  # paused with bytes left in the core
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.host = str(peer[0])
            self.peer = f"[{peer[0]}]:{peer[1]}" if ":" in self.host else f"{peer[0]}:{peer[1]}"
        else:
            self.host = self.peer = str(peer)
        self.source = source_of(self.host)
        if not self.server.guard.admit(self):
            transport.abort()
            return
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH, low=WRITE_BUFFER_LOW)
        if not self.server.tcp_nodelay:
            set_tcp_nodelay(transport, False)  # asyncio set it; mosquitto's default is off
        self.conn = self.server.broker.connection_made(now=self.server.now())
        self.server.sockets[self.conn.id] = self
        self.arm()

    def data_received(self, data: bytes) -> None:
        conn, transport = self.conn, self.transport
        if conn is None or transport is None:
            return
        incoming = self.framing.incoming(data)
        if incoming.reply:
            transport.write(incoming.reply)
        if incoming.mqtt:
            self.server.after(conn.receive_data(incoming.mqtt, now=self.server.now()), self)
        if incoming.closed:
            transport.close()

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost follows

    def pause_writing(self) -> None:
        # The peer reads slower than we write: keep further bytes in the core
        # (BrokerServer.after skips us) and stop reading its packets.
        self.paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.resume_reading()
        if self.waiting:
            self.waiting = False
            self.server.drain(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.guard.closed(self)
        if self._timer is not None:
            self._timer.cancel()
        conn = self.conn
        if conn is None:
            return
        self.server.sockets.pop(conn.id, None)
        self.server.after(conn.connection_lost(now=self.server.now()), self)
        self.conn = None

    def arm(self) -> None:
        """Schedule the timer for the connection's deadline, if it has one."""
        conn = self.conn
        deadline = conn.next_deadline() if conn is not None else None
        if deadline is None:
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(self.server.to_loop_time(deadline), self._fire)

    def _fire(self) -> None:
        self._timer = None
        conn = self.conn
        if conn is None:
            return
        self.server.after(conn.handle_timeout(now=self.server.now()), self)
        self.arm()

    def write(self, data: bytes) -> None:
        if self.transport is not None and data:
            self.transport.write(self.framing.outgoing(data))

    def close(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.paused:
            # The peer is not reading: a polite close would hold the socket
            # and its buffer until it did, possibly for ever.
            self.transport.abort()
            return
        closing = self.framing.close()
        if closing:
            self.transport.write(closing)
        self.transport.close()


class _Default:
    """The type of an argument left out, where ``None`` means something."""


_DEFAULT = _Default()


class BrokerServer:
    """An MQTT broker listening on sockets.

    Args:
        listeners: where to listen; default one TCP listener on
            127.0.0.1:1883.
        config: the core's limits.
        authenticator, authorizer, store: the core's hooks.
        max_connections: connected clients at most; a new socket beyond
            this is closed at once (logged, counted in ``guard.refused``).
        max_pending_connections: sockets not yet accepted by CONNACK at
            most; beyond it the oldest of them is closed (see :mod:`.guard`).
        login_backoff: the per-address back-off after failed logins; the
            default is :class:`LoginBackoff`'s; ``None`` turns it off.
        broker: an existing core to serve instead of a new one.
        tcp_nodelay: leave TCP_NODELAY set on each accepted socket, as
            asyncio sets it (Nagle's algorithm off); False clears it, as
            mosquitto's default ``set_tcp_nodelay false`` leaves Nagle on.

    Use ``async with BrokerServer(...) as server:`` or ``await server.start()``
    and ``await server.stop()``.
    """

    def __init__(
        self,
        listeners: list[Listener] | None = None,
        *,
        config: BrokerConfig | None = None,
        authenticator: Authenticator | None = None,
        authorizer: Authorizer | None = None,
        store: SessionStore | None = None,
        max_connections: int = 10_000,
        max_pending_connections: int = 256,
        login_backoff: LoginBackoff | None | _Default = _DEFAULT,
        broker: Broker | None = None,
        tcp_nodelay: bool = True,
    ) -> None:
        self.listeners = listeners or [Listener(kind="tcp")]
        self.tcp_nodelay = tcp_nodelay
        self._epoch = time.time() - time.monotonic()
        self.broker = broker or Broker(
            config,
            authenticator=authenticator,
            authorizer=authorizer,
            store=store,
            now=self.now(),
            # Assigned client ids must not be guessable, nor repeat a previous
            # run's (a guessed id takes over that client's session).
            client_id_prefix=secrets.token_hex(4),
        )
        self.guard: Guard[_Socket] = Guard(
            max_connections=max_connections,
            max_pending=max_pending_connections,
            backoff=LoginBackoff() if isinstance(login_backoff, _Default) else login_backoff,
        )
        self.sockets: dict[int, _Socket] = {}
        self.ports: dict[str, int] = {}
        self._servers: list[asyncio.Server] = []
        self._broker_timer: asyncio.TimerHandle | None = None
        self._broker_deadline: float | None = None
        self.event_log = EventLog()

    # -- clock ------------------------------------------------------------------

    def now(self) -> float:
        """Wall-clock seconds, monotonic for the life of the process."""
        return self._epoch + time.monotonic()

    def to_loop_time(self, when: float) -> float:
        return when - self.now() + asyncio.get_running_loop().time()

    # -- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for listener in self.listeners:
            framing: Callable[[], Framing] = PlainFraming
            if listener.kind == "ws":
                framing = functools.partial(
                    WebSocketServerFraming, allowed_origins=listener.allowed_origins
                )

            def factory(framing: Callable[[], Framing] = framing) -> _Socket:
                return _Socket(self, framing())

            server = await loop.create_server(
                factory,
                listener.host,
                listener.port,
                ssl=listener.ssl_context,
                # The TLS handshake comes before connection_made(), so the
                # connect timeout must bound it here too.
                ssl_handshake_timeout=(
                    self.broker.config.connect_timeout_s if listener.ssl_context else None
                ),
                reuse_address=True,
            )
            self._servers.append(server)
            port = server.sockets[0].getsockname()[1]
            self.ports[listener.kind] = port
            log.info(
                "listening for MQTT over %s on %s:%d", listener.kind.upper(), listener.host, port
            )
        self._arm_broker_timer()

    async def stop(self) -> None:
        """Stop listening, tell every client the server is shutting down
        (MQTT 5: DISCONNECT 0x8B), flush the store, close every socket."""
        for server in self._servers:
            server.close()
        now = self.now()
        for sock in list(self.sockets.values()):
            if sock.conn is not None:
                self.after(
                    sock.conn.close(
                        ReasonCode.SERVER_SHUTTING_DOWN, "server shutting down", now=now
                    ),
                    sock,
                )
        for sock in list(self.sockets.values()):
            sock.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self._broker_timer is not None:
            self._broker_timer.cancel()
        self.broker.flush_store()
        log.info("broker stopped")

    async def __aenter__(self) -> BrokerServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        await asyncio.gather(*(s.serve_forever() for s in self._servers))

    # -- the pump ----------------------------------------------------------------------

    def after(self, events: list[Event], sock: _Socket | None) -> None:
        """Act on what happened, then write every connection's pending bytes
        (except to paused sockets: theirs wait in the core)."""
        for event in events:
            self._on_event(event, sock)
        now = self.now()
        # Taking a connection's bytes may move messages up from its session
        # queue, reporting it again: loop until nothing is reported. This
        # ends, as each further round only moves queued messages (finite)
        # into the client's window (or a paused socket keeps them).
        pending = self.broker.pending_connections()
        while pending:
            for conn in pending:
                target = self.sockets.get(conn.id)
                if target is None:
                    conn.data_to_send(now=now)  # the socket is gone: nowhere to write
                elif target.paused and not conn.is_closed:
                    # The core reports a connection once until it is drained;
                    # remember it, and drain it at resume_writing.
                    target.waiting = True
                else:
                    target.write(conn.data_to_send(now=now))
                    if conn.is_closed:
                        target.close()
            pending = self.broker.pending_connections()
        if self.broker.next_deadline() != self._broker_deadline:
            self._arm_broker_timer()

    def drain(self, sock: _Socket) -> None:
        """Write what the core kept for ``sock`` while it was paused."""
        conn = sock.conn
        if conn is not None:
            sock.write(conn.data_to_send(now=self.now()))
            if conn.is_closed:
                sock.close()
        self.after([], sock)

    def _arm_broker_timer(self) -> None:
        if self._broker_timer is not None:
            self._broker_timer.cancel()
            self._broker_timer = None
        self._broker_deadline = deadline = self.broker.next_deadline()
        if deadline is not None:
            loop = asyncio.get_running_loop()
            self._broker_timer = loop.call_at(self.to_loop_time(deadline), self._broker_fire)

    def _broker_fire(self) -> None:
        self._broker_timer = None
        self._broker_deadline = None
        events = self.broker.handle_timeout(now=self.now())
        for event in events:
            self._on_event(event, None)
        self.after([], None)
        self._arm_broker_timer()

    def _on_event(self, event: Event, sock: _Socket | None) -> None:
        if sock is None:
            self.event_log.record(event, "-", "-")
            return
        self.event_log.record(event, sock.peer, sock.host)
        match event:
            case ClientConnected():
                conn = sock.conn
                if conn is not None and not self.guard.connected_ok(sock):
                    now = self.now()
                    self.after(
                        conn.close(ReasonCode.SERVER_BUSY, "too many clients", now=now), sock
                    )
            case ActionDenied(action="connect"):
                self.guard.login_failed(sock)
