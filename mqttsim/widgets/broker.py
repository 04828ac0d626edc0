"""Where the lessons find their broker: mqttsim's own, or the one ``MQTTSIM_BROKER`` names.

A lesson that talks to a live broker starts it with::

    broker = lesson_broker().start()          # or: with lesson_broker() as broker:
    scada = broker.paho_client("scada")
    scada.connect(broker.host, broker.port)
    ...
    broker.stop()

By default this runs mqttsim's :class:`~mqttsim.aio.background.BackgroundBroker`
on 127.0.0.1, on a port the operating system picks, for the life of the
lesson. When the environment variable ``MQTTSIM_BROKER`` holds a URL, the
lessons use that broker instead (a mosquitto on the next machine, a managed
cluster) and nothing is started::

    MQTTSIM_BROKER=mqtt://192.0.2.10:1883
    MQTTSIM_BROKER=mqtts://alice:secret@broker.example:8883
    MQTTSIM_BROKER=mqtts://broker.example:8883?ca=/etc/ssl/private-ca.pem
    MQTTSIM_BROKER=wss://broker.example:443/mqtt

``paho_client()`` and ``async_client()`` hand out clients already set up
for that broker (TLS, user name and password, WebSocket path), so a lesson
cell is the same whichever broker answers.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from mqttsim.aio.background import BackgroundBroker
from mqttsim.protocol import ConfigError

from .wire import lesson_version

if TYPE_CHECKING:
    import paho.mqtt.client as paho  # type: ignore[import-untyped,unused-ignore]
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    from mqttsim.aio.client import AsyncClient

    from .live import LiveClient

__all__ = [
    "ENV_VAR",
    "ACCEPTED_FORMS",
    "BrokerAddress",
    "BrokerURLError",
    "LessonBroker",
    "lesson_broker",
    "parse_broker_url",
]

ENV_VAR = "MQTTSIM_BROKER"
ACCEPTED_FORMS = (
    "mqtt://host[:port], mqtts://[user[:password]@]host[:port][?ca=file],"
    " ws://host[:port][/path] or wss://host[:port][/path]"
)
# scheme -> (default port, TLS, WebSocket). 1883 and 8883 are IANA's ports for
# MQTT; a WebSocket URL without a port uses HTTP's (RFC 6455 §3).
_SCHEMES: dict[str, tuple[int, bool, bool]] = {
    "mqtt": (1883, False, False),
    "mqtts": (8883, True, False),
    "ws": (80, False, True),
    "wss": (443, True, True),
}
_DEFAULT_WS_PATH = "/mqtt"
_LOOPBACK = "127.0.0.1"


class BrokerURLError(ConfigError, ValueError):
    """A ``MQTTSIM_BROKER`` URL that cannot be used; the message is one line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerAddress:
    """How to reach a broker.

    Attributes:
        scheme: ``"mqtt"``, ``"mqtts"``, ``"ws"`` or ``"wss"``.
        host, port: where it listens.
        username, password: credentials for CONNECT, if any.
        websocket_path: the HTTP path of a WebSocket listener (``ws``/``wss``).
        ca_file: a CA certificate (PEM) to trust instead of the system's.
    """

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    websocket_path: str | None = None
    ca_file: str | None = None

    @property
    def tls(self) -> bool:
        """True for ``mqtts`` and ``wss``."""
        return _SCHEMES[self.scheme][1]

    @property
    def transport(self) -> str:
        """paho-mqtt's name for it: ``"tcp"`` or ``"websockets"``."""
        return "websockets" if self.websocket_path is not None else "tcp"

    @property
    def url(self) -> str:
        """The URL with the password hidden, fit to print."""
        user = ""
        if self.username is not None:
            user = self.username + (":***" if self.password is not None else "") + "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{user}{host}:{self.port}{self.websocket_path or ''}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client TLS context that checks the broker's certificate, or None."""
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.ca_file)


def _masked(url: str) -> str:
    """The URL as an error message may quote it: never with its password."""
    scheme, at, rest = url.partition("://")
    userinfo, sep, tail = rest.rpartition("@")
    if at and sep and ":" in userinfo:
        return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{tail}"
    return url


def parse_broker_url(url: str) -> BrokerAddress:
    """Read a broker URL such as ``mqtts://alice:secret@broker.example:8883``.

    Percent-escapes in the user name and password are decoded, so a password
    holding ``@`` or ``:`` is written ``%40`` or ``%3A``. The only query
    parameter is ``ca``: a CA file to trust for ``mqtts``/``wss``.

    Raises:
        BrokerURLError: (a ``ValueError``) the URL is not one of
            :data:`ACCEPTED_FORMS`; the message names the problem and quotes
            the URL with its password hidden.
    """

    def bad(problem: str) -> BrokerURLError:
        return BrokerURLError(f"{ENV_VAR}={_masked(url)!r}: {problem}; use {ACCEPTED_FORMS}")

    text = url.strip()
    if "://" not in text:
        raise bad("not a URL")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise bad("the port is not a number from 1 to 65535") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise bad(f"unknown scheme {scheme!r}")
    default_port, tls, websocket = _SCHEMES[scheme]
    if not parts.hostname:
        raise bad("no host name")
    if port == 0:
        raise bad("the port is not a number from 1 to 65535")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise bad("a password needs a user name")
    path = parts.path
    if websocket:
        path = path or _DEFAULT_WS_PATH
    elif path not in ("", "/"):
        raise bad(f"{scheme}:// takes no path")
    if parts.fragment:
        raise bad("no '#' part is allowed")
    query = parse_qsl(parts.query, keep_blank_values=True)
    unknown = sorted({k for k, _ in query} - {"ca"})
    if unknown:
        raise bad(f"unknown parameter {unknown[0]!r}")
    ca_file = dict(query).get("ca") or None
    if ca_file is not None and not tls:
        raise bad(f"?ca= needs TLS ({scheme}s://)")
    if ca_file is not None and not os.path.isfile(ca_file):
        raise bad(f"?ca= file {ca_file} does not exist (or is not a file)")
    return BrokerAddress(
        scheme=scheme,
        host=parts.hostname,
        port=port or default_port,
        username=username,
        password=password,
        websocket_path=path if websocket else None,
        ca_file=ca_file,
    )


class LessonBroker:
    """The broker a lesson talks to; make one with :func:`lesson_broker`.

    Use it as a context manager or with :meth:`start` and :meth:`stop`.
    Before :meth:`start` (and after :meth:`stop`) mqttsim's own broker has
    no port, so :attr:`port` raises.

    Attributes:
        external: True when ``MQTTSIM_BROKER`` (or ``url``) named a broker;
            then nothing is started or stopped here.
        background: mqttsim's own broker while it runs (for a look at its
            state with ``background.call``); ``None`` for an external one.
    """

    def __init__(self, address: BrokerAddress | None = None, **broker_kwargs: Any) -> None:
        self._given = address
        self._broker_kwargs = broker_kwargs
        self.background: BackgroundBroker | None = None

    # -- life ---------------------------------------------------------------------------

    @property
    def external(self) -> bool:
        return self._given is not None

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop` (always for an external broker)."""
        return self.external or self.background is not None

    def start(self, timeout_s: float = 10.0) -> LessonBroker:
        """Start mqttsim's broker on 127.0.0.1 and a free port (external: nothing to do)."""
        if self.external:
            return self
        if self.background is not None:
            raise RuntimeError("the lesson's broker is already running")
        self.background = BackgroundBroker(**self._broker_kwargs).start(timeout_s)
        return self

    def stop(self) -> None:
        """Stop mqttsim's broker: its connections close and its port is free again."""
        background, self.background = self.background, None
        if background is not None:
            background.stop()

    def __enter__(self) -> LessonBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- where it is --------------------------------------------------------------------

    @property
    def address(self) -> BrokerAddress:
        """Everything a client needs to reach the broker."""
        if self._given is not None:
            return self._given
        if self.background is None:
            raise RuntimeError("the lesson's broker is not running: call start() first")
        return BrokerAddress(scheme="mqtt", host=_LOOPBACK, port=self.background.port)

    @property
    def host(self) -> str:
        return self.address.host

    @property
    def port(self) -> int:
        return self.address.port

    @property
    def tls(self) -> bool:
        return self.address.tls

    @property
    def username(self) -> str | None:
        return self.address.username

    @property
    def password(self) -> str | None:
        return self.address.password

    @property
    def websocket_path(self) -> str | None:
        return self.address.websocket_path

    def __str__(self) -> str:
        # No port: a lesson may print this, and its stored output must not vary.
        if self._given is not None:
            return f"the broker at {self._given.url} (from {ENV_VAR})"
        return f"mqttsim's own broker on {_LOOPBACK}"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LessonBroker: {self}, {state}>"

    # -- clients ------------------------------------------------------------------------

    def paho_client(self, client_id: str, *, version: int = 5, **kwargs: Any) -> paho.Client:
        """A paho-mqtt client (callback API version 2) set up for this broker:
        TLS, credentials and WebSocket path as the URL says. Not connected:
        call ``client.connect(broker.host, broker.port)``.

        Args:
            client_id: the MQTT client identifier.
            version: 5 (MQTT 5.0) or 4 (MQTT 3.1.1).
            **kwargs: passed to ``paho.mqtt.client.Client``.
        """
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

        wire = lesson_version(version)
        address = self.address
        transport: Literal["tcp", "websockets"] = (
            "websockets" if address.websocket_path is not None else "tcp"
        )
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if wire == 5 else MQTTProtocolVersion.MQTTv311,
            transport=transport,
            **kwargs,
        )
        if address.websocket_path is not None:
            client.ws_set_options(path=address.websocket_path)
        if address.tls:
            client.tls_set_context(address.ssl_context())
        if address.username is not None:
            client.username_pw_set(address.username, address.password)
        return client

    def async_client(self, client_id: str, **options: Any) -> AsyncClient:
        """mqttsim's :class:`~mqttsim.aio.client.AsyncClient` set up for this broker.

        Args:
            client_id: the MQTT client identifier.
            **options: passed to ``AsyncClient`` (version, keep_alive_s,
                clean_start, will, reconnect, ...).
        """
        from mqttsim.aio.client import AsyncClient

        address = self.address
        if address.username is not None:
            options.setdefault("username", address.username)
        if address.password is not None:
            options.setdefault("password", address.password.encode())
        return AsyncClient(
            address.host,
            address.port,
            tls=address.ssl_context(),
            websocket_path=address.websocket_path,
            client_id=client_id,
            **options,
        )

    def client(self, client_id: str, **options: Any) -> LiveClient:
        """A :class:`~mqttsim.widgets.live.LiveClient`: paho with the waiting
        built in, for short lesson cells. Not connected: call ``.connect()``."""
        from .live import LiveClient

        return LiveClient(self, client_id, **options)

    def retained(self, topic_filter: str) -> pd.DataFrame:
        """The retained messages a brand-new subscriber to ``topic_filter``
        would get now, as a table (topic, payload, qos, retain)."""
        from .live import peek_retained

        return peek_retained(self, topic_filter)


def lesson_broker(url: str | None = None, **broker_kwargs: Any) -> LessonBroker:
    """The broker for a lesson: ``MQTTSIM_BROKER``'s if set, else mqttsim's own.

    Args:
        url: a broker URL (see :data:`ACCEPTED_FORMS`); by default the value
            of the environment variable ``MQTTSIM_BROKER``. Unset or empty:
            mqttsim's own broker, started by :meth:`LessonBroker.start`.
        **broker_kwargs: passed to mqttsim's ``BackgroundBroker`` (e.g.
            ``config=BrokerConfig(...)``); an external broker keeps its own
            configuration, so they are ignored then.

    Raises:
        BrokerURLError: (a ``ValueError``) the URL is malformed; raised here,
            before anything starts.
    """
    if url is None:
        url = os.environ.get(ENV_VAR, "")
    address = parse_broker_url(url) if url.strip() else None
    return LessonBroker(address, **broker_kwargs)
