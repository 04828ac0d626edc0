"""Fixtures for tests that run the broker on real loopback sockets.

Every broker here listens on 127.0.0.1 on a port the kernel picks, and is
stopped when its test ends. Nothing waits by sleeping: a test waits on an
event (a paho callback, a hook the broker calls, a socket read) with a
timeout, so a slow machine makes a test slower, never wrong.

The waiting machinery is one :class:`threading.Condition`, :data:`CHANGED`.
Whatever the tests watch (paho callbacks, the :class:`Probe` hooks the broker
calls, the broker's table of sockets) notifies it after a change, and
:func:`wait_for` re-checks its predicate on each notification.
"""

from __future__ import annotations

import itertools
import queue
import re
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mqttsim.aio.background import BackgroundBroker, running_broker
from mqttsim.aio.server import Listener
from mqttsim.protocol.hooks import AllowAll, Authorizer

try:  # foreign tools: the tests that need them skip when they are absent
    import paho.mqtt.client as mqtt
    from paho.mqtt import packettypes as paho_packettypes
    from paho.mqtt import properties as paho_properties
except ImportError:  # pragma: no cover
    mqtt = None
try:
    import trustme
except ImportError:  # pragma: no cover
    trustme = None

HOST = "127.0.0.1"
TIMEOUT_S = 5.0

# -- waiting on conditions ----------------------------------------------------------------

CHANGED = threading.Condition()
"""Notified whenever something a test may be waiting for has changed."""


def notify_changed() -> None:
    with CHANGED:
        CHANGED.notify_all()


def wait_for(predicate: Callable[[], bool], timeout_s: float = TIMEOUT_S, what: str = "") -> None:
    """Block until ``predicate()`` is true, re-checking it each time
    :data:`CHANGED` is notified; fail the test after ``timeout_s``.

    The predicate runs with the condition's lock held, so it must be quick and
    must never wait on the broker's thread (no ``BackgroundBroker.call``):
    the broker's thread may be waiting for the same lock to notify.
    """
    with CHANGED:
        if not CHANGED.wait_for(predicate, timeout=timeout_s):
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or predicate}")


class Probe(AllowAll):
    """An ``Authorizer`` that allows everything (or defers to ``inner``) and
    records each SUBSCRIBE the broker handles.

    The broker calls ``may_subscribe`` on its own thread while it handles the
    SUBSCRIBE, and handles nothing else meanwhile, so once the call is seen
    any packet sent later (a PUBLISH from another client) is routed to the
    new subscription. That lets a test synchronise with foreign clients such
    as mosquitto_sub, whose output is block-buffered on a pipe.
    """

    def __init__(self, inner: Authorizer | None = None) -> None:
        self.inner: Authorizer = inner or AllowAll()
        self.subscriptions: list[tuple[str, str]] = []

    def may_subscribe(self, client_id: str, username: str | None, topic_filter: str) -> bool:
        allowed = self.inner.may_subscribe(client_id, username, topic_filter)
        self.subscriptions.append((client_id, topic_filter))
        notify_changed()
        return allowed

    def may_publish(self, client_id: str, username: str | None, topic: str) -> bool:
        return self.inner.may_publish(client_id, username, topic)

    def may_receive(self, client_id: str, username: str | None, topic: str) -> bool:
        return self.inner.may_receive(client_id, username, topic)

    def wait_subscribed(
        self, client_id: str, topic_filter: str, timeout_s: float = TIMEOUT_S
    ) -> None:
        wait_for(
            lambda: (client_id, topic_filter) in self.subscriptions,
            timeout_s,
            f"{client_id!r} to subscribe to {topic_filter!r}",
        )


class SocketTable(dict[int, Any]):
    """Stands in for ``BrokerServer.sockets`` and notifies :data:`CHANGED`
    when a socket is added or removed; ``added`` counts every socket ever
    accepted."""

    added = 0

    def __setitem__(self, key: int, value: Any) -> None:
        super().__setitem__(key, value)
        self.added += 1
        notify_changed()

    def pop(self, key: int, *default: Any) -> Any:
        value = super().pop(key, *default)
        notify_changed()
        return value


def watch_sockets(broker: BackgroundBroker) -> SocketTable:
    """Swap the server's socket table for a :class:`SocketTable` (on the
    broker's thread) and return it."""

    def install() -> SocketTable:
        server = broker.server
        assert server is not None
        table = SocketTable(server.sockets)
        server.sockets = table
        return table

    table: SocketTable = broker.call(install)
    return table


def advance_clock(broker: BackgroundBroker, seconds: float) -> None:
    """Move the broker's clock ``seconds`` forward, so that expiry can be
    tested without waiting for it. The server gives the core wall-clock time
    as ``_epoch + time.monotonic()``; this shifts the epoch on the broker's
    thread. Timers already armed fire at their old loop times, which is late
    but never early, and the core checks the time it is given."""

    def shift() -> None:
        server = broker.server
        assert server is not None and hasattr(server, "_epoch"), "BrokerServer has no _epoch"
        server._epoch += seconds

    broker.call(shift)


# -- brokers --------------------------------------------------------------------------------


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def broker(probe: Probe) -> Iterator[BackgroundBroker]:
    """A broker on 127.0.0.1, a free port; ``broker.port``."""
    with running_broker(authorizer=probe) as b:
        yield b


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A throw-away CA, a server certificate for 127.0.0.1 and localhost, and
    a client certificate, all as PEM files."""

    ca: Any  # trustme.CA
    ca_pem: Path
    server_chain: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_chain, self.server_key)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=str(self.ca_pem))
        return context


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    if trustme is None:
        pytest.skip("trustme is not installed")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@mqttsim.test", common_name="mqttsim-test-client")
    files = TlsFiles(
        ca=ca,
        ca_pem=tmp_path / "ca.pem",
        server_chain=tmp_path / "server.pem",
        server_key=tmp_path / "server.key",
        client_cert=tmp_path / "client.pem",
        client_key=tmp_path / "client.key",
    )
    ca.cert_pem.write_to_path(str(files.ca_pem))
    server.private_key_pem.write_to_path(str(files.server_key))
    for i, pem in enumerate(server.cert_chain_pems):
        pem.write_to_path(str(files.server_chain), append=i > 0)
    client.private_key_pem.write_to_path(str(files.client_key))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    return files


@dataclass(frozen=True, slots=True)
class TlsBroker:
    """A running broker with a TCP and a TLS listener, and its certificates."""

    broker: BackgroundBroker
    files: TlsFiles

    @property
    def tcp_port(self) -> int:
        return self.broker.ports["tcp"]

    @property
    def tls_port(self) -> int:
        return self.broker.ports["tls"]

    @property
    def ca_pem(self) -> Path:
        return self.files.ca_pem


def _tls_broker(files: TlsFiles, probe: Probe, *, require_client_cert: bool) -> Iterator[TlsBroker]:
    listeners = [
        Listener(kind="tcp", host=HOST, port=0),
        Listener(
            kind="tls",
            host=HOST,
            port=0,
            ssl_context=files.server_context(require_client_cert=require_client_cert),
        ),
    ]
    with running_broker(listeners=listeners, authorizer=probe) as b:
        yield TlsBroker(broker=b, files=files)


@pytest.fixture
def tls_broker(tls_files: TlsFiles, probe: Probe) -> Iterator[TlsBroker]:
    """TCP and TLS listeners; the TLS one asks for no client certificate."""
    yield from _tls_broker(tls_files, probe, require_client_cert=False)


@pytest.fixture
def mtls_broker(tls_files: TlsFiles, probe: Probe) -> Iterator[TlsBroker]:
    """TCP and TLS listeners; the TLS one requires a client certificate
    signed by the test CA (mosquitto's ``require_certificate true``)."""
    yield from _tls_broker(tls_files, probe, require_client_cert=True)


@pytest.fixture
def ws_broker(probe: Probe) -> Iterator[BackgroundBroker]:
    """TCP (``ports['tcp']``) and WebSocket (``ports['ws']``) listeners."""
    listeners = [Listener(kind="tcp", host=HOST, port=0), Listener(kind="ws", host=HOST, port=0)]
    with running_broker(listeners=listeners, authorizer=probe) as b:
        yield b


# -- the broker as a process of its own -----------------------------------------------------

_LISTENING = re.compile(r"listening for MQTT over TCP on [\d.]+:(\d+)")


class BrokerProcess:
    """``python -m mqttsim broker --port 0 ARGS`` in a process of its own, so
    that its memory can be read from ``/proc/PID/status`` without counting
    the test's. A thread keeps its log in :attr:`lines` (a full pipe would
    stop the broker at its next log line) and notifies :data:`CHANGED`."""

    def __init__(self, *args: str, start_timeout_s: float = 30.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mqttsim", "broker", "--port", "0", *args],
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        found: list[int] = []

        def listening() -> bool:
            found[:] = [int(m.group(1)) for line in self.lines if (m := _LISTENING.search(line))]
            return bool(found) or self.proc.poll() is not None

        wait_for(listening, start_timeout_s, "the broker process to listen")
        if not found:
            self.stop()
            raise AssertionError("the broker did not start:\n" + "".join(self.lines))
        self.port = found[0]

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:  # ends at EOF, when the process exits
            self.lines.append(line)
            notify_changed()

    def memory_kib(self, field: str) -> int:
        """A ``/proc/PID/status`` figure in KiB: ``VmRSS`` (resident now) or
        ``VmHWM`` (the peak since start or :meth:`reset_peak`)."""
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.proc.pid}/status")

    def reset_peak(self) -> None:
        """Start VmHWM afresh from the current RSS (Linux >= 4.0, proc(5))."""
        with open(f"/proc/{self.proc.pid}/clear_refs", "w") as clear_refs:
            clear_refs.write("5")

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout_s)
        self._reader.join(timeout=timeout_s)


@pytest.fixture
def broker_process() -> Iterator[Callable[..., BrokerProcess]]:
    """Start brokers as processes (``broker_process("--max-inflight", "5")``);
    each is stopped when the test ends."""
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/PID/status")
    started: list[BrokerProcess] = []

    def start(*args: str) -> BrokerProcess:
        started.append(BrokerProcess(*args))
        return started[-1]

    yield start
    for process in started:
        process.stop()


# -- paho-mqtt clients --------------------------------------------------------------------

_sync_ids = itertools.count(1)


class PahoClient:
    """A paho-mqtt 2.x client (callback API version 2) run on paho's own
    network thread, with what it receives in :attr:`messages`.

    Args:
        port: the broker's port on 127.0.0.1.
        version: 5 for MQTT 5, 4 for MQTT 3.1.1.
        client_id: ``""`` lets the broker assign one.
        clean: MQTT 3.1.1 Clean Session / MQTT 5 Clean Start.
        session_expiry_s: MQTT 5 Session Expiry Interval on CONNECT.
        transport: ``"tcp"`` or ``"websockets"`` (path ``/mqtt``).
        ca_pem, client_cert: TLS settings; TLS is used when ``ca_pem`` is set.
        will: ``(topic, payload, qos)`` of a will message.

    paho's automatic reconnection is off: a dropped connection shows in
    :attr:`disconnected` rather than being mended behind the test's back.
    """

    def __init__(
        self,
        port: int,
        *,
        version: int = 5,
        client_id: str = "",
        clean: bool = True,
        session_expiry_s: int | None = None,
        transport: str = "tcp",
        ca_pem: Path | None = None,
        client_cert: tuple[Path, Path] | None = None,
        will: tuple[str, bytes, int] | None = None,
    ) -> None:
        self.port = port
        self.version = version
        self.clean = clean
        self.session_expiry_s = session_expiry_s
        kwargs: dict[str, Any] = {
            "callback_api_version": mqtt.CallbackAPIVersion.VERSION2,
            "client_id": client_id,
            "protocol": mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311,
            "transport": transport,
            "reconnect_on_failure": False,
        }
        if version != 5:
            kwargs["clean_session"] = clean
        self.client = mqtt.Client(**kwargs)
        if transport == "websockets":
            self.client.ws_set_options(path="/mqtt")
        if ca_pem is not None:
            certfile, keyfile = client_cert if client_cert else (None, None)
            self.client.tls_set(
                ca_certs=str(ca_pem),
                certfile=str(certfile) if certfile else None,
                keyfile=str(keyfile) if keyfile else None,
            )
        if will is not None:
            self.client.will_set(will[0], will[1], qos=will[2])
        self.messages: queue.Queue[Any] = queue.Queue()
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.connect_reason: Any = None
        self.session_present: bool | None = None
        self.disconnect_reason: Any = None
        self.subacks: dict[int, list[Any]] = {}
        self._sync_topic: str | None = None
        self._sync_count = 0
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    # paho callbacks (paho's thread) ---------------------------------------------------------

    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self.connect_reason = reason
        self.session_present = bool(flags.session_present)
        self.connected.set()
        notify_changed()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self.disconnect_reason = reason
        self.disconnected.set()
        notify_changed()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.messages.put(message)
        notify_changed()

    def _on_subscribe(
        self, client: Any, userdata: Any, mid: int, reasons: list[Any], properties: Any
    ) -> None:
        self.subacks[mid] = list(reasons)
        notify_changed()

    # commands (the test's thread) ---------------------------------------------------------

    def connect(self, timeout_s: float = TIMEOUT_S) -> PahoClient:
        """Connect, start paho's thread, and wait for a successful CONNACK."""
        properties = None
        if self.version == 5 and self.session_expiry_s is not None:
            properties = paho_properties.Properties(paho_packettypes.PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self.session_expiry_s
        if self.version == 5:
            self.client.connect(
                HOST, self.port, keepalive=60, clean_start=self.clean, properties=properties
            )
        else:
            self.client.connect(HOST, self.port, keepalive=60)
        self.client.loop_start()
        if not self.connected.wait(timeout_s):
            raise AssertionError(f"no CONNACK within {timeout_s} s")
        if self.connect_reason.is_failure:
            raise AssertionError(f"connection refused: {self.connect_reason}")
        return self

    def subscribe(
        self,
        topic_filter: str,
        qos: int = 1,
        *,
        properties: Any = None,
        timeout_s: float = TIMEOUT_S,
    ) -> list[Any]:
        """Subscribe and wait for the SUBACK; returns its reason codes."""
        if self.version == 5:
            options = mqtt.SubscribeOptions(qos=qos)
            rc, mid = self.client.subscribe(topic_filter, options=options, properties=properties)
        else:
            rc, mid = self.client.subscribe(topic_filter, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"subscribe not sent: {rc}"
        wait_for(lambda: mid in self.subacks, timeout_s, f"SUBACK for {topic_filter!r}")
        reasons = self.subacks[mid]
        assert all(not r.is_failure for r in reasons), f"subscription refused: {reasons}"
        return reasons

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 0,
        *,
        retain: bool = False,
        properties: Any = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        """Publish and wait until paho has written it (QoS 0) or has the
        acknowledgement (PUBACK for QoS 1, PUBCOMP for QoS 2)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish not sent: {info.rc}"
        info.wait_for_publish(timeout=timeout_s)
        assert info.is_published(), f"publish on {topic!r} not completed in {timeout_s} s"

    def get(self, timeout_s: float = TIMEOUT_S) -> Any:
        """The next message received (paho's ``MQTTMessage``)."""
        try:
            return self.messages.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout_s} s") from None

    def drain(self, timeout_s: float = TIMEOUT_S) -> list[Any]:
        """Every message the broker sent this client before now, and no more.

        The client publishes a marker to a topic only it subscribes to and
        reads until the marker returns. The broker writes to one connection
        in order, so whatever it queued for this client earlier arrives
        before the marker. Proves a negative ("nothing else came") without
        waiting for a timeout to pass.
        """
        if self._sync_topic is None:
            self._sync_topic = f"mqttsim-test-sync/{next(_sync_ids)}"
            self.subscribe(self._sync_topic, qos=0)
        self._sync_count += 1
        marker = str(self._sync_count).encode()
        self.publish(self._sync_topic, marker, qos=0)
        received: list[Any] = []
        for _ in range(10_000):  # bounded; each get() is bounded in time too
            message = self.get(timeout_s)
            if message.topic == self._sync_topic:
                if message.payload == marker:
                    return received
                continue  # an older marker
            received.append(message)
        raise AssertionError("more than 10,000 messages before the marker")

    def abort(self) -> None:
        """End the connection without DISCONNECT, as a crash or a cut cable
        would: shut the socket down under paho (which sees EOF and stops)."""
        sock = self.client.socket()
        assert sock is not None, "not connected"
        sock.shutdown(socket.SHUT_RDWR)
        if not self.disconnected.wait(TIMEOUT_S):
            raise AssertionError("paho did not notice its socket closing")
        self.client.loop_stop()

    def close(self) -> None:
        """Disconnect normally (if still connected) and stop paho's thread."""
        if self.connected.is_set() and not self.disconnected.is_set():
            self.client.disconnect()
            self.disconnected.wait(TIMEOUT_S)
        self.client.loop_stop()


@pytest.fixture
def paho() -> Iterator[Callable[..., PahoClient]]:
    """``paho(port, **options)``: a connected :class:`PahoClient`
    (``connect=False`` to connect later); all are closed after the test."""
    if mqtt is None:
        pytest.skip("paho-mqtt is not installed")
    made: list[PahoClient] = []

    def make(port: int, *, connect: bool = True, **options: Any) -> PahoClient:
        client = PahoClient(port, **options)
        made.append(client)
        return client.connect() if connect else client

    yield make
    for client in reversed(made):
        client.close()


def user_properties(*pairs: tuple[str, str]) -> Any:
    """MQTT 5 PUBLISH properties holding ``pairs`` as User Properties, in order."""
    properties = paho_properties.Properties(paho_packettypes.PacketTypes.PUBLISH)
    for pair in pairs:
        properties.UserProperty = pair  # paho appends each assignment
    return properties


def publish_properties(**values: Any) -> Any:
    """MQTT 5 PUBLISH properties by paho's names (``MessageExpiryInterval=60``)."""
    properties = paho_properties.Properties(paho_packettypes.PacketTypes.PUBLISH)
    for name, value in values.items():
        setattr(properties, name, value)
    return properties
