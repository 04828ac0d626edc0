"""A paho-mqtt client for lesson cells: every command waits for its answer.

paho-mqtt answers on its own network thread, through callbacks. A lesson
that wants to show "the station publishes, the SCADA host receives" in
three short lines needs the waiting done for it, and done without sleeping
for a guessed time. :class:`LiveClient` waits on paho's callbacks, bounded
in time, and keeps what it receives:

* :meth:`~LiveClient.inbox` returns every message the broker sent this
  client *before now*, and no more. The client publishes a marker to a
  topic only it subscribes to and reads until the marker comes back: the
  broker writes to one connection in order, so whatever it had for this
  client arrives first. That proves "nothing else came" without a timeout.
* :meth:`~LiveClient.vanish` ends the connection without DISCONNECT, as a
  crash or a cut cable would, so the broker publishes the will.

It works against any broker :func:`~mqttsim.widgets.broker.lesson_broker`
gives (mqttsim's own, mosquitto, a managed cluster).
"""

from __future__ import annotations

import itertools
import socket
import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from mqttsim.protocol import ConfigError, Will

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    from .broker import LessonBroker

__all__ = ["LiveClient", "Message", "SYNC_PREFIX", "messages_frame", "peek_retained"]

SYNC_PREFIX = "mqttsim-lesson/sync/"
"""Topics of the markers :meth:`LiveClient.inbox` sends itself; never shown."""
_MAX_MESSAGES = 100_000  # bounds every read loop
_peeks = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Message:
    """One message as a subscriber got it.

    Attributes:
        topic: the topic name.
        payload: the payload as text (invalid UTF-8 shown with escapes).
        qos: the QoS it was delivered at.
        retain: the RETAIN flag as delivered: 1 for a retained message sent
            because of a new subscription.
    """

    topic: str
    payload: str
    qos: int
    retain: bool


def messages_frame(messages: list[Message]) -> pd.DataFrame:
    """The messages as a table: topic, payload, qos, retain."""
    import pandas as pd

    columns = ["topic", "payload", "qos", "retain"]
    return pd.DataFrame([asdict(m) for m in messages], columns=columns)


class LiveClient:
    """A paho-mqtt client whose commands wait for the broker's answers.

    Args:
        broker: the lesson's broker.
        client_id: the MQTT client identifier.
        version: 5 (MQTT 5.0) or 4 (MQTT 3.1.1).
        clean_start: MQTT 5 Clean Start / MQTT 3.1.1 Clean Session.
        session_expiry_s: MQTT 5 Session Expiry Interval (0: the session
            ends with the connection; ``None``: not sent, which means 0).
        will: the will message, as mqttsim's :class:`~mqttsim.protocol.Will`
            (its ``properties.will_delay_interval`` is sent on MQTT 5).
        keep_alive_s: the Keep Alive in CONNECT.
        timeout_s: how long any one wait may take before it fails.

    Attributes:
        session_present: the CONNACK's Session Present flag, once connected.
    """

    def __init__(
        self,
        broker: LessonBroker,
        client_id: str,
        *,
        version: int = 5,
        clean_start: bool = True,
        session_expiry_s: int | None = None,
        will: Will | None = None,
        keep_alive_s: int = 60,
        timeout_s: float = 10.0,
    ) -> None:
        import paho.mqtt.client as paho

        if version == 4 and session_expiry_s is not None:
            raise ConfigError("MQTT 3.1.1 has no Session Expiry Interval: leave session_expiry_s")
        self.client_id = client_id
        self.version = version
        self._broker = broker
        self._clean_start = clean_start
        self._session_expiry_s = session_expiry_s
        self._keep_alive_s = keep_alive_s
        self._timeout_s = timeout_s
        # No reconnecting behind the lesson's back: a lost connection stays lost.
        extra: dict[str, Any] = {"reconnect_on_failure": False}
        if version == 4:
            extra["clean_session"] = clean_start
        self._client = broker.paho_client(client_id, version=version, **extra)
        if will is not None:
            self._client.will_set(
                will.topic,
                will.payload,
                qos=int(will.qos),
                retain=will.retain,
                properties=self._will_properties(will),
            )
        self._paho = paho
        self._changed = threading.Condition()
        self._messages: deque[Message] = deque()
        self._subacks: dict[int, list[Any]] = {}
        self._connack: Any = None
        self._connected = False
        self._sync_topic: str | None = None
        self._markers = itertools.count(1)
        self.session_present: bool | None = None
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    def __repr__(self) -> str:
        state = "connected" if self._connected else "not connected"
        return f"<LiveClient {self.client_id!r}, {state}>"

    def _will_properties(self, will: Will) -> Any:
        delay = will.properties.will_delay_interval
        if self.version != 5 or delay is None:
            return None
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        properties = Properties(PacketTypes.WILLMESSAGE)  # type: ignore[no-untyped-call]
        properties.WillDelayInterval = delay
        return properties

    # -- paho's callbacks (paho's thread) ------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        with self._changed:
            self._connack = reason
            self._connected = not reason.is_failure
            self.session_present = bool(flags.session_present)
            self._changed.notify_all()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        with self._changed:
            self._connected = False
            self._changed.notify_all()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        text = message.payload.decode("utf-8", errors="backslashreplace")
        with self._changed:
            self._messages.append(Message(message.topic, text, message.qos, bool(message.retain)))
            self._changed.notify_all()

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        with self._changed:
            self._subacks[mid] = list(reasons)
            self._changed.notify_all()

    def _wait(self, ready: Any, what: str) -> None:
        with self._changed:
            if not self._changed.wait_for(ready, timeout=self._timeout_s):
                raise TimeoutError(f"{self.client_id}: {what} within {self._timeout_s} s")

    # -- commands --------------------------------------------------------------------------

    def connect(self) -> LiveClient:
        """Connect and wait for the CONNACK; :attr:`session_present` tells
        whether the broker still had a session for this client id.

        Raises:
            ConnectionRefusedError: the broker refused the connection.
        """
        with self._changed:
            self._connack = None
        host, port = self._broker.host, self._broker.port
        if self.version == 5:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            properties = None
            if self._session_expiry_s is not None:
                properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                properties.SessionExpiryInterval = self._session_expiry_s
            self._client.connect(
                host,
                port,
                keepalive=self._keep_alive_s,
                clean_start=self._clean_start,
                properties=properties,
            )
        else:
            self._client.connect(host, port, keepalive=self._keep_alive_s)
        self._client.loop_start()
        self._wait(lambda: self._connack is not None, "no CONNACK")
        if self._connack.is_failure:
            self._client.loop_stop()
            raise ConnectionRefusedError(f"{self.client_id}: the broker refused: {self._connack}")
        return self

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe and wait for the SUBACK.

        Raises:
            PermissionError: the broker refused the subscription.
        """
        if self.version == 5:
            from paho.mqtt.subscribeoptions import SubscribeOptions

            options = SubscribeOptions(qos=qos)
            result, mid = self._client.subscribe(topic_filter, options=options)
        else:
            result, mid = self._client.subscribe(topic_filter, qos)
        if result != self._paho.MQTT_ERR_SUCCESS or mid is None:
            raise ConnectionError(f"{self.client_id}: SUBSCRIBE not sent ({result})")
        self._wait(lambda: mid in self._subacks, f"no SUBACK for {topic_filter!r}")
        reasons = self._subacks.pop(mid)
        if any(r.is_failure for r in reasons):
            raise PermissionError(f"{self.client_id}: {topic_filter!r} refused: {reasons[0]}")

    def publish(
        self, topic: str, payload: str | bytes = b"", qos: int = 0, retain: bool = False
    ) -> None:
        """Publish and wait until it is written (QoS 0) or acknowledged
        (PUBACK for QoS 1, PUBCOMP for QoS 2)."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != self._paho.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"{self.client_id}: PUBLISH not sent ({info.rc})")
        info.wait_for_publish(timeout=self._timeout_s)
        if not info.is_published():
            raise TimeoutError(f"{self.client_id}: {topic!r} not acknowledged in time")

    def inbox(self) -> pd.DataFrame:
        """Every message the broker sent this client until now, as a table
        (topic, payload, qos, retain); they are taken out of the inbox."""
        return messages_frame(self._take_until_marker())

    def wait_for(self, topic: str) -> pd.DataFrame:
        """Wait for the next message on ``topic`` (one the broker sends on
        its own, such as a will) and return it as a one-row table; messages
        on other topics stay in the inbox."""
        found: list[Message] = []

        def arrived() -> bool:
            for message in self._messages:
                if message.topic == topic:
                    found.append(message)
                    self._messages.remove(message)
                    return True
            return False

        self._wait(arrived, f"nothing on {topic!r}")
        return messages_frame(found)

    def disconnect(self) -> None:
        """Send DISCONNECT and close: the broker discards the will."""
        if self._connected:
            self._client.disconnect()
            self._wait(lambda: not self._connected, "no clean close")
        self._client.loop_stop()

    def vanish(self) -> None:
        """Close the network connection without DISCONNECT, as a crash
        would: the broker sees the connection end and publishes the will."""
        sock = self._client.socket()
        if sock is None or not self._connected:
            raise ConnectionError(f"{self.client_id} is not connected")
        raw: Any = getattr(sock, "_socket", sock)  # under paho's WebSocket wrapper
        raw.shutdown(socket.SHUT_RDWR)
        self._wait(lambda: not self._connected, "paho did not see its socket close")
        self._client.loop_stop()

    # -- the marker -------------------------------------------------------------------------

    def _take_until_marker(self) -> list[Message]:
        if self._sync_topic is None:
            self._sync_topic = f"{SYNC_PREFIX}{self.client_id}"
            self.subscribe(self._sync_topic, qos=0)
        marker = str(next(self._markers))
        self.publish(self._sync_topic, marker, qos=0)
        taken: list[Message] = []

        def arrived() -> bool:
            for _ in range(_MAX_MESSAGES):
                if not self._messages:
                    return False
                message = self._messages.popleft()
                if message.topic == self._sync_topic:
                    if message.payload == marker:
                        return True
                    continue  # an earlier marker
                if not message.topic.startswith(SYNC_PREFIX):
                    taken.append(message)
            return False

        self._wait(arrived, "the marker did not come back")
        return taken


def peek_retained(broker: LessonBroker, topic_filter: str) -> pd.DataFrame:
    """What a brand-new subscriber to ``topic_filter`` gets at once: the
    retained messages the broker holds for the topics it matches, sorted by
    topic (brokers send them in different orders)."""
    peek = LiveClient(broker, f"mqttsim-lesson-peek-{next(_peeks)}").connect()
    try:
        peek.subscribe(topic_filter, qos=1)
        messages = sorted(peek._take_until_marker(), key=lambda m: m.topic)
    finally:
        peek.disconnect()
    return messages_frame(messages)
