"""An asyncio MQTT client for any broker: ours, mosquitto, a managed cluster.

A thin loop around :class:`ClientConnection`: one task per connection reads
the socket until the core's next deadline, hands it the bytes or the
timeout, writes what comes back, and turns the core's events into futures
(``await client.publish(...)`` returns when the broker acknowledges) and an
async iterator of messages. When the connection drops it reconnects with
exponential back-off. An awaited QoS 1/2 publish never waits forever: the
next connection sends it again (as a new message after Clean Start, so QoS 2
may then arrive twice), and when none will come (``reconnect=False``, a
refusal, ``close()``) it raises :class:`PublishFailed`. The core notices a
link that died silently within 2 x Keep Alive, even while we publish.

It runs on whatever loop is running, including a Jupyter kernel's::

    async with AsyncClient("127.0.0.1", port, client_id="scada") as client:
        await client.subscribe("pipeline/#", qos=1)
        await client.publish("pipeline/st-01/valve", b"close", qos=2)
        async for message in client.messages():
            ...
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import AsyncIterator, Sequence
from typing import Any

from mqttsim.protocol.client import ClientConnection
from mqttsim.protocol.enums import QoS, QoS2Handover, ReasonCode
from mqttsim.protocol.errors import (
    ConnectFailed,
    OperationFailed,
    PublishFailed,
    SubscribeFailed,
    UnsubscribeFailed,
)
from mqttsim.protocol.events import (
    Connected,
    ConnectionRefused,
    Disconnected,
    Event,
    MessageReceived,
    ProtocolViolation,
    PublishAcked,
    PublishCompleted,
    PublishDropped,
    PublishReceived,
    Subscribed,
    Unsubscribed,
)
from mqttsim.protocol.packets import Publish, Subscription
from mqttsim.protocol.properties import NO_PROPERTIES, Properties

from .transport import Framing, PlainFraming, WebSocketClientFraming, set_tcp_nodelay

__all__ = ["AsyncClient"]

log = logging.getLogger("mqttsim.client")


class AsyncClient:
    """An MQTT client on asyncio.

    Args:
        host, port: the broker.
        tls: an ``ssl.SSLContext``, or True for the system's default context.
        websocket_path: speak MQTT over WebSocket at this path (e.g. "/mqtt").
        reconnect: reconnect after a lost connection (not after a refusal).
        backoff_initial_s, backoff_max_s: reconnect delays double from the
            first to the second, with jitter so a fleet does not reconnect
            in step.
        connect_timeout_s: how long one attempt may take.
        qos2_handover: when a QoS 2 message reaches :meth:`messages`: at its
            PUBLISH, or at its PUBREL (one round trip later, as paho-mqtt
            2.x's ``on_message``); passed to :class:`ClientConnection`.
        ping_every_keep_alive: send PINGREQ every Keep Alive even while
            other packets flow, as paho-mqtt 2.x does; passed to
            :class:`ClientConnection`.
        tcp_nodelay: leave TCP_NODELAY set on the socket, as asyncio sets
            it (Nagle's algorithm off); False clears it, as paho-mqtt
            (which never sets it) runs.
        **options: passed to :class:`ClientConnection` (client_id, version,
            keep_alive_s, clean_start, session_expiry_interval_s, username,
            password, will, maximum_packet_size (1 MiB unless told), ...).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        tls: ssl.SSLContext | bool | None = None,
        websocket_path: str | None = None,
        reconnect: bool = True,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        qos2_handover: QoS2Handover = QoS2Handover.ON_PUBLISH,
        ping_every_keep_alive: bool = False,
        tcp_nodelay: bool = True,
        **options: Any,
    ) -> None:
        self.host, self.port = host, port
        self._tls = ssl.create_default_context() if tls is True else tls or None
        self._ws_path = websocket_path
        self._reconnect = reconnect
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._timeout = connect_timeout_s
        self._tcp_nodelay = tcp_nodelay
        self.connection = ClientConnection(
            qos2_handover=qos2_handover, ping_every_keep_alive=ping_every_keep_alive, **options
        )
        self._writer: asyncio.StreamWriter | None = None
        self._framing: Framing = PlainFraming()
        self._task: asyncio.Task[None] | None = None
        self._connected: asyncio.Future[Connected] | None = None
        # packet id -> (the waiter, the exception that fails it)
        self._acks: dict[int, tuple[asyncio.Future[Event], type[OperationFailed]]] = {}
        self._messages: asyncio.Queue[Publish | None] = asyncio.Queue()
        self._closing = False
        self._accepted = False  # a CONNACK accepted the current network connection
        self._last_failure = ""  # why the last attempt failed, for connect()'s error
        self._rng = random.Random()

    @property
    def is_connected(self) -> bool:
        return self.connection.is_connected

    # -- commands ---------------------------------------------------------------

    async def connect(self) -> Connected:
        """Connect (and keep reconnecting if asked); returns the first CONNACK.

        Raises:
            ConnectFailed: the broker refused us or broke the protocol before
                accepting us (the reason code and the rule it broke), or no
                attempt succeeded within the connect timeout (with the last
                attempt's failure).
        """
        loop = asyncio.get_running_loop()
        self._connected = loop.create_future()
        self._closing = False
        self._last_failure = ""
        self._task = asyncio.create_task(self._run(), name="mqttsim-client")
        try:
            return await asyncio.wait_for(asyncio.shield(self._connected), self._timeout)
        except TimeoutError:
            await self.close()
            why = f" (last attempt: {self._last_failure})" if self._last_failure else ""
            raise ConnectFailed(
                f"no CONNACK from {self.host}:{self.port} within {self._timeout} s{why}",
                ReasonCode.SERVER_UNAVAILABLE,
            ) from None
        except ConnectFailed:
            await self.close()
            raise

    async def publish(
        self,
        topic: str,
        payload: bytes | str = b"",
        *,
        qos: QoS | int = 0,
        retain: bool = False,
        properties: Properties = NO_PROPERTIES,
    ) -> Event | None:
        """Publish; for QoS 1/2 wait until the broker has it (PUBACK / PUBCOMP).

        QoS 1/2 published while reconnecting waits for the next connection.
        QoS 0 returns once written, or held while a PINGREQ is overdue (see
        :class:`ClientConnection`); if the link then proves dead it is logged
        (WARNING) and counted in ``connection.stats.publishes_dropped``.

        Raises:
            PublishFailed: the broker refused it (reason code >= 0x80); QoS 0
                while reconnecting (not kept for later); any QoS when the
                client is closed or gave up; the connection was lost before
                the acknowledgement and none will follow (the broker may or
                may not have it; a later ``connect()`` sends it again).
        """
        if not self._running:
            raise PublishFailed(
                "the client is not connected and not reconnecting: call connect() first",
                ReasonCode.UNSPECIFIED_ERROR,
            )
        data = payload.encode() if isinstance(payload, str) else payload
        stats = self.connection.stats
        refused = stats.dropped_qos0_while_disconnected
        pid = self.connection.publish(
            topic, data, qos=qos, retain=retain, properties=properties, now=self._now()
        )
        if pid is not None:
            return await self._wait(pid, PublishFailed)
        if stats.dropped_qos0_while_disconnected != refused:
            raise PublishFailed(
                "not connected (reconnecting): a QoS 0 message is not kept for later",
                ReasonCode.UNSPECIFIED_ERROR,
            )
        self._flush()
        return None

    async def subscribe(
        self,
        subscriptions: str | Subscription | Sequence[Any],
        *,
        qos: QoS | int = 0,
        properties: Properties = NO_PROPERTIES,
    ) -> tuple[ReasonCode, ...]:
        """Subscribe; returns the granted QoS (or failure) per filter.

        Raises:
            SubscribeFailed: every filter was refused.
        """
        pid = self.connection.subscribe(
            subscriptions, qos=qos, properties=properties, now=self._now()
        )
        event = await self._wait(pid, SubscribeFailed)
        assert isinstance(event, Subscribed)
        return event.reason_codes

    async def unsubscribe(self, topic_filters: str | Sequence[str]) -> tuple[ReasonCode, ...]:
        pid = self.connection.unsubscribe(topic_filters, now=self._now())
        event = await self._wait(pid, UnsubscribeFailed)
        assert isinstance(event, Unsubscribed)
        return event.reason_codes

    async def messages(self) -> AsyncIterator[Publish]:
        """The messages received, as PUBLISH packets, until the client closes."""
        while True:
            message = await self._messages.get()
            if message is None:
                return
            yield message

    async def disconnect(self, reason_code: ReasonCode = ReasonCode.NORMAL_DISCONNECTION) -> None:
        """Say DISCONNECT (0x04 keeps the will) and close; no reconnect."""
        self._closing = True
        if self.connection.is_connected:
            self.connection.disconnect(reason_code, now=self._now())
            self._flush()
            if self._writer is not None:
                await self._writer.drain()
        await self.close()

    async def close(self) -> None:
        """Close the socket without DISCONNECT (the broker sends our will).
        Operations still awaiting an answer raise their ``OperationFailed``."""
        self._closing = True
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._stop("the client closed")

    async def __aenter__(self) -> AsyncClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    # -- the pump -----------------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    @property
    def _running(self) -> bool:
        """The pump runs: connected, connecting, or waiting to reconnect."""
        return self._task is not None and not self._task.done() and not self._closing

    async def _run(self) -> None:
        delay = self._backoff[0]
        why = "the connection failed or ended, and reconnect is off"
        try:
            while not self._closing:
                self._accepted = False
                try:
                    await self._session_once()
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    self._last_failure = str(exc) or type(exc).__name__
                    log.info("connection to %s:%d failed: %s", self.host, self.port, exc)
                    self._dispatch(self.connection.connection_lost(now=self._now()))
                except ConnectFailed as exc:
                    # Refused, or a broken CONNACK: retrying the same cannot help.
                    why = f"the client gave up reconnecting: {exc.detail}"
                    break
                if self._accepted:
                    delay = self._backoff[0]  # a connection that worked resets the back-off
                if self._closing or not self._reconnect:
                    break
                await asyncio.sleep(delay * (0.5 + self._rng.random()))
                delay = min(delay * 2, self._backoff[1])
        finally:
            if not self._closing:  # (close() says why itself)
                self._stop(why)

    def _stop(self, why: str) -> None:
        """No connection will follow: fail whatever still waits for one."""
        if self._connected is not None and not self._connected.done():
            reason = f"{why} ({self._last_failure})" if self._last_failure else why
            self._connected.set_exception(ConnectFailed(reason, ReasonCode.UNSPECIFIED_ERROR))
            self._connected.exception()  # (retrieved: connect() may have stopped waiting)
        for pid in list(self._acks):
            self._reject(
                pid, f"{why}; no answer to packet {pid}: the broker may or may not have it"
            )
        self._messages.put_nowait(None)

    async def _session_once(self) -> None:
        """One network connection, from socket open to socket close."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=self._tls), self._timeout
        )
        self._writer = writer
        if not self._tcp_nodelay:
            set_tcp_nodelay(writer.transport, False)  # asyncio set it; paho-mqtt never does
        self._framing = (
            WebSocketClientFraming(self.host, self._ws_path) if self._ws_path else PlainFraming()
        )
        try:
            writer.write(self._framing.start())
            if self._ws_path:
                await self._await_websocket(reader)
            self.connection.connect(now=self._now())
            self._flush()
            while not self.connection.is_closed:
                deadline = self.connection.next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - self._now())
                try:
                    data = await asyncio.wait_for(reader.read(65536), timeout)
                except TimeoutError:
                    events = self.connection.handle_timeout(now=self._now())
                    self._flush()
                    self._dispatch(events)
                    continue
                if not data:
                    self._dispatch(self.connection.connection_lost(now=self._now()))
                    return
                incoming = self._framing.incoming(data)
                if incoming.reply:
                    writer.write(incoming.reply)
                events = self.connection.receive_data(incoming.mqtt, now=self._now())
                self._flush()  # first: a DISCONNECT for a broken packet goes before we stop
                self._dispatch(events)
                if incoming.closed:
                    self._dispatch(self.connection.connection_lost(now=self._now()))
                    return
        finally:
            self._writer = None
            writer.close()

    async def _await_websocket(self, reader: asyncio.StreamReader) -> None:
        for _ in range(64):  # the upgrade answer is a few hundred bytes
            incoming = self._framing.incoming(await reader.read(4096))
            if incoming.closed:
                raise OSError("WebSocket upgrade refused")
            if incoming.opened:
                return
        raise OSError("no WebSocket upgrade answer")

    def _flush(self) -> None:
        data = self.connection.data_to_send(now=self._now())
        if data and self._writer is not None:
            self._writer.write(self._framing.outgoing(data))

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            match event:
                case Connected():
                    self._accepted = True
                    if self._connected is not None and not self._connected.done():
                        self._connected.set_result(event)
                case ConnectionRefused(reason_code=code):
                    self._refuse(f"broker refused the connection: {code.name}", code)
                case ProtocolViolation(reason_code=code, detail=detail) if not self._accepted:
                    self._refuse(f"broker broke the protocol before accepting us: {detail}", code)
                case MessageReceived(publish=publish):
                    self._messages.put_nowait(publish)
                case PublishAcked(packet_id=pid) | PublishCompleted(packet_id=pid):
                    self._resolve(pid, event)
                case PublishReceived(packet_id=pid, reason_code=code) if code.is_error:
                    self._resolve(pid, event)
                case Subscribed(packet_id=pid) | Unsubscribed(packet_id=pid):
                    self._resolve(pid, event)
                case PublishDropped(packet_id=pid, reason=reason) if pid is not None:
                    self._reject(pid, reason)
                case PublishDropped(topic=topic, reason=reason):
                    log.warning("dropped a QoS 0 message on %r: %s", topic, reason)
                case Disconnected(reason_code=code, detail=detail):
                    log.info(
                        "disconnected from %s:%d: %s (0x%02X)", self.host, self.port, detail, code
                    )
                    # Subscriptions in flight are lost with the connection; QoS
                    # 1/2 publishes stay pending: the next connection sends them.
                    for pid in list(self._acks):
                        if pid in self.connection.session.outbound or any(
                            q.publish.packet_id == pid for q in self.connection.session.queued
                        ):
                            continue
                        self._reject(pid, f"connection lost: {detail}")

    def _refuse(self, detail: str, code: ReasonCode) -> None:
        """The broker would not have this connection: fail connect(), stop the pump."""
        error = ConnectFailed(detail, code)
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(error)
        raise error

    async def _wait(self, pid: int, failure: type[OperationFailed]) -> Event:
        """Register a waiter for ``pid``, send what the command queued, and
        wait for the answer; a failing reason code raises ``failure``."""
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._acks[pid] = (future, failure)
        self._flush()
        event = await future
        codes: tuple[ReasonCode, ...] = getattr(event, "reason_codes", ())
        code: ReasonCode | None = getattr(event, "reason_code", None)
        if code is not None and code.is_error:
            raise failure(f"refused with {code.name}", code)
        if codes and all(c.is_error for c in codes):
            raise failure(f"refused with {', '.join(c.name for c in codes)}", codes[0])
        return event

    def _resolve(self, pid: int, event: Event) -> None:
        future, _ = self._acks.pop(pid, (None, None))
        if future is not None and not future.done():
            future.set_result(event)

    def _reject(self, pid: int, detail: str) -> None:
        """Fail the waiter for ``pid`` with its operation's exception."""
        future, failure = self._acks.pop(pid, (None, None))
        if future is not None and failure is not None and not future.done():
            future.set_exception(failure(detail, ReasonCode.UNSPECIFIED_ERROR))
