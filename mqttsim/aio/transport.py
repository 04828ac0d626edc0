"""Framing between a socket and MQTT's byte stream.

MQTT needs an ordered byte stream. Over TCP and TLS that is the socket
itself; over WebSocket it is the payload of binary messages, negotiated with
the ``mqtt`` subprotocol (MQTT 5 §6, 3.1.1 §6). A framing object turns bytes
read from the socket into MQTT bytes (plus any bytes the framing itself must
answer, such as a WebSocket handshake or pong), and MQTT bytes into bytes to
write. wsproto is sans-IO too, so the WebSocket layer stacks under ours the
way wsproto stacks on h11.

Under every framing is a TCP socket, whose Nagle algorithm
:func:`set_tcp_nodelay` turns on or off.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Protocol

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError as WsLocalError
from wsproto.utilities import RemoteProtocolError as WsRemoteError

__all__ = [
    "Framing",
    "Incoming",
    "PlainFraming",
    "WebSocketServerFraming",
    "WebSocketClientFraming",
    "MQTT_SUBPROTOCOL",
    "set_tcp_nodelay",
]

MQTT_SUBPROTOCOL = "mqtt"


@dataclass(frozen=True, slots=True)
class Incoming:
    """What one read from the socket yields.

    Attributes:
        mqtt: bytes for the MQTT connection.
        reply: bytes the framing must write back at once (handshake, pong).
        closed: the peer closed the framing; the socket should close.
        opened: the framing's own handshake just completed.
    """

    mqtt: bytes = b""
    reply: bytes = b""
    closed: bool = False
    opened: bool = False


class Framing(Protocol):
    """Turns socket bytes into MQTT bytes and back."""

    @property
    def is_open(self) -> bool: ...

    def start(self) -> bytes:
        """Bytes to write as soon as the socket is connected (client handshake)."""
        ...

    def incoming(self, data: bytes) -> Incoming: ...

    def outgoing(self, mqtt: bytes) -> bytes: ...

    def close(self) -> bytes:
        """Bytes that close the framing politely (may be empty)."""
        ...


class PlainFraming:
    """TCP and TLS: the socket is the MQTT stream."""

    is_open = True

    def start(self) -> bytes:
        return b""

    def incoming(self, data: bytes) -> Incoming:
        return Incoming(mqtt=data)

    def outgoing(self, mqtt: bytes) -> bytes:
        return mqtt

    def close(self) -> bytes:
        return b""


class _WebSocketFraming:
    def __init__(self, role: ConnectionType) -> None:
        self._ws = WSConnection(role)
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    def outgoing(self, mqtt: bytes) -> bytes:
        if not self._open or not mqtt:
            return b""
        return self._ws.send(BytesMessage(data=mqtt))

    def close(self) -> bytes:
        if not self._open:
            return b""
        self._open = False
        try:
            return self._ws.send(CloseConnection(code=1000))
        except WsLocalError:
            return b""

    def incoming(self, data: bytes) -> Incoming:
        try:
            self._ws.receive_data(data)
            return self._drain()
        except (WsRemoteError, WsLocalError):
            self._open = False
            return Incoming(closed=True)

    def _drain(self) -> Incoming:
        mqtt: list[bytes] = []
        reply: list[bytes] = []
        closed = opened = False
        for event in self._ws.events():
            match event:
                case BytesMessage(data=payload):
                    mqtt.append(bytes(payload))
                case TextMessage():
                    # MQTT is carried in binary messages only [MQTT-6.0.0-1].
                    closed = True
                    reply.append(self._ws.send(CloseConnection(code=1003)))
                case Ping():
                    reply.append(self._ws.send(event.response()))
                case CloseConnection():
                    if self._open:
                        reply.append(self._ws.send(event.response()))
                    self._open = False
                    closed = True
                case Request():
                    accepted = self._accept(event, reply)
                    opened = opened or accepted
                    closed = closed or not accepted
                case AcceptConnection():
                    self._open = opened = True
                case RejectConnection():
                    closed = True
        return Incoming(mqtt=b"".join(mqtt), reply=b"".join(reply), closed=closed, opened=opened)

    def _accept(self, request: Request, reply: list[bytes]) -> bool:
        """Only a server accepts upgrade requests; anywhere else it ends the framing."""
        return False


class WebSocketServerFraming(_WebSocketFraming):
    """The server side: accepts an upgrade that offers the ``mqtt`` subprotocol.

    Args:
        allowed_origins: the Origins (``scheme://host[:port]``, RFC 6454)
            an upgrade may come from; ``None`` allows any. A browser always
            sends Origin and a script cannot forge it, so the list stops a web
            page the user happens to visit from talking to the broker with
            the user's network position (cross-site WebSocket hijacking, RFC
            6455 §10.2). Requests without Origin come from other clients,
            which are not a browser's victims, and pass.
    """

    def __init__(self, allowed_origins: tuple[str, ...] | None = None) -> None:
        super().__init__(ConnectionType.SERVER)
        self._origins = (
            None if allowed_origins is None else frozenset(o.lower() for o in allowed_origins)
        )

    def start(self) -> bytes:
        return b""

    def _origin_allowed(self, request: Request) -> bool:
        if self._origins is None:
            return True
        # wsproto hands the headers on with lower-case names. Every Origin
        # sent must be allowed: two headers must not smuggle a second one.
        origins = [value for name, value in request.extra_headers if name == b"origin"]
        return all(value.decode("latin-1").strip().lower() in self._origins for value in origins)

    def _accept(self, request: Request, reply: list[bytes]) -> bool:
        if not self._origin_allowed(request):
            reply.append(self._ws.send(RejectConnection(status_code=403)))
            return False
        if MQTT_SUBPROTOCOL not in request.subprotocols:
            # The client must offer "mqtt" [MQTT-6.0.0-3]; refuse anything else.
            reply.append(self._ws.send(RejectConnection(status_code=400)))
            return False
        reply.append(self._ws.send(AcceptConnection(subprotocol=MQTT_SUBPROTOCOL)))
        self._open = True
        return True


class WebSocketClientFraming(_WebSocketFraming):
    """The client side: sends the upgrade request for ``path`` on ``host``."""

    def __init__(self, host: str, path: str = "/mqtt") -> None:
        super().__init__(ConnectionType.CLIENT)
        self._host = host
        self._path = path

    def start(self) -> bytes:
        return self._ws.send(
            Request(host=self._host, target=self._path, subprotocols=[MQTT_SUBPROTOCOL])
        )


def set_tcp_nodelay(transport: asyncio.BaseTransport, enabled: bool) -> None:
    """Set or clear TCP_NODELAY on the TCP socket under ``transport`` (TLS
    and WebSocket included: both run over a plain TCP socket here).

    asyncio sets it on every TCP socket it creates (``base_events._set_nodelay``,
    called by the selector transport), so Nagle's algorithm is off unless
    cleared here; paho-mqtt leaves it on, and mosquitto does too unless
    ``set_tcp_nodelay true``. A socket that is not TCP is left alone.
    """
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if enabled else 0)
