"""Endpoint profiles: how the clients and brokers people deploy behave, where it matters.

On a long satellite link a few choices of the endpoints dominate the results
more than the protocol does: when a QoS 2 message is handed on (at PUBLISH or
at PUBREL, one round trip apart), whether a client pings while it is busy,
whether Nagle's algorithm holds small segments (TCP_NODELAY), in-flight
limits, reconnect back-off and connect timeouts. A profile gathers those
choices for one implementation, each with its source; a scenario places a
client or a broker with a profile and may override any field.

Profiles:

* client ``mqttsim``: what :class:`mqttsim.aio.AsyncClient` does over real
  sockets.
* client ``paho-2``: paho-mqtt 2.x (the Eclipse Python client) with its
  defaults.
* broker ``mqttsim``: what ``mqttsim broker`` does.
* broker ``mosquitto-2``: Eclipse Mosquitto 2.0 with its defaults.

What a profile does not change is the protocol itself: every profile runs
mqttsim's own client and broker cores, with the options those cores offer
(:class:`~mqttsim.protocol.QoS2Handover`, ``ping_every_keep_alive``), the
same options the socket broker and client expose. Behaviours that would need
a core option we do not offer are listed under "Not modelled" in each
profile's docstring.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

from mqttsim.protocol.broker_config import BrokerConfig
from mqttsim.protocol.enums import QoS2Handover
from mqttsim.protocol.errors import ConfigError

from .tcp_segment import TcpConfig

__all__ = [
    "BROKER_PROFILES",
    "CLIENT_PROFILES",
    "BrokerProfile",
    "ClientProfile",
    "broker_profile",
    "client_profile",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientProfile:
    """The behaviours of one client implementation that the simulator models.

    Attributes:
        name: the profile's key.
        description: one line.
        tcp_nodelay: TCP_NODELAY on the client's socket (Nagle off).
        max_inflight: QoS 1/2 messages in flight at once; None for the
            core's default (20 on MQTT 3.1.1, the server's Receive Maximum
            on MQTT 5).
        ping_every_keep_alive: PINGREQ every Keep Alive period whatever
            else is sent, rather than only when the connection was idle.
        qos2_handover: when a received QoS 2 message reaches the
            application: at PUBLISH or at PUBREL.
        backoff_initial_s, backoff_max_s: the reconnect delay, doubling
            from the first to the second after each failed attempt.
        backoff_jitter: multiply each delay by a uniform draw in [0.5, 1.5).
        connect_timeout_s: how long a TCP connection attempt may take
            before it is abandoned (None: until TCP itself gives up).
        write_each_packet: the library writes each packet with its own
            ``send()``; with Nagle on, the packets after the first then wait
            for its ACK instead of leaving in one segment.
        sources: behaviour -> where it is documented (docs or source code).
    """

    name: str
    description: str
    tcp_nodelay: bool
    max_inflight: int | None
    ping_every_keep_alive: bool
    qos2_handover: QoS2Handover
    backoff_initial_s: float
    backoff_max_s: float
    backoff_jitter: bool
    connect_timeout_s: float | None
    write_each_packet: bool = False
    sources: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.backoff_initial_s <= self.backoff_max_s:
            raise ConfigError(
                f"client profile {self.name}: need 0 < backoff_initial_s <= backoff_max_s,"
                f" got {self.backoff_initial_s!r} and {self.backoff_max_s!r}"
            )
        if self.max_inflight is not None and not 1 <= self.max_inflight <= 65535:
            raise ConfigError(f"max_inflight must be in 1..65535, got {self.max_inflight!r}")
        if self.connect_timeout_s is not None and not self.connect_timeout_s > 0:
            raise ConfigError(f"connect_timeout_s must be > 0, got {self.connect_timeout_s!r}")

    def tcp_config(self) -> TcpConfig:
        """The client end's TCP settings: Linux's, with Nagle as the socket option says."""
        return TcpConfig(nagle=not self.tcp_nodelay)

    def with_overrides(self, **changes: Any) -> ClientProfile:
        """A copy with some fields replaced; one line naming an unknown field."""
        return _override(self, changes)


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerProfile:
    """The behaviours of one broker implementation that the simulator models.

    Attributes:
        name: the profile's key.
        description: one line.
        tcp_nodelay: TCP_NODELAY on accepted sockets (Nagle off).
        write_each_packet: the broker writes each packet with its own
            ``send()`` (see :class:`ClientProfile`).
        config: the broker core's settings (in-flight window, queue bound,
            where QoS 2 is handed on...). ``$SYS`` updates are off
            (``sys_interval_s=0``) in every profile: nobody in a
            simulated network reads them, and they would cost events.
        sources: behaviour -> where it is documented.
    """

    name: str
    description: str
    tcp_nodelay: bool
    config: BrokerConfig
    write_each_packet: bool = False
    sources: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    def tcp_config(self) -> TcpConfig:
        """The broker ends' TCP settings."""
        return TcpConfig(nagle=not self.tcp_nodelay)

    def with_overrides(self, **changes: Any) -> BrokerProfile:
        """A copy with profile fields or :class:`BrokerConfig` fields replaced."""
        config_names = {f.name for f in fields(BrokerConfig)}
        config_changes = {k: v for k, v in changes.items() if k in config_names}
        own = {k: v for k, v in changes.items() if k not in config_names}
        profile: BrokerProfile = _override(self, own)
        if not config_changes:
            return profile
        try:
            config = replace(profile.config, **config_changes)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"broker profile {self.name}: {exc}") from None
        return replace(profile, config=config)


_P = TypeVar("_P", ClientProfile, BrokerProfile)


def _override(profile: _P, changes: dict[str, Any]) -> _P:
    allowed = sorted(f.name for f in fields(profile) if f.name not in ("name", "sources"))
    for key in changes:
        if key not in allowed:
            raise ConfigError(
                f"{type(profile).__name__} has no setting {key!r}; allowed: {', '.join(allowed)}"
            )
    if "qos2_handover" in changes and isinstance(changes["qos2_handover"], str):
        changes = {**changes, "qos2_handover": qos2_handover(changes["qos2_handover"])}
    return replace(profile, **changes)


def qos2_handover(text: str) -> QoS2Handover:
    """``"publish"`` or ``"pubrel"`` as a :class:`QoS2Handover`; one line if neither."""
    for member in QoS2Handover:
        if member.value == text:
            return member
    allowed = ", ".join(m.value for m in QoS2Handover)
    raise ConfigError(f"qos2_handover must be one of {allowed}, got {text!r}")


_ASYNCIO_NODELAY = (
    "asyncio sets TCP_NODELAY on every TCP socket its transports own"
    " (CPython Lib/asyncio/base_events.py, _set_nodelay, called by the selector transport)"
)

MQTTSIM_CLIENT = ClientProfile(
    name="mqttsim",
    description="mqttsim.aio.AsyncClient, mqttsim's own asyncio client",
    tcp_nodelay=True,
    max_inflight=None,
    ping_every_keep_alive=False,
    qos2_handover=QoS2Handover.ON_PUBLISH,
    backoff_initial_s=0.5,
    backoff_max_s=30.0,
    backoff_jitter=True,
    connect_timeout_s=10.0,
    sources={
        "tcp_nodelay": _ASYNCIO_NODELAY,
        "max_inflight": "mqttsim/protocol/client.py: 20 on MQTT 3.1.1, the server's Receive"
        " Maximum on MQTT 5",
        "ping_every_keep_alive": "mqttsim/protocol/client.py: PINGREQ when nothing was sent,"
        " or nothing received, for Keep Alive",
        "qos2_handover": "mqttsim/protocol/client_flows.py: MessageReceived at PUBLISH"
        " (Method B of MQTT 5 §4.3.3)",
        "backoff": "mqttsim/aio/client.py AsyncClient: backoff_initial_s 0.5 doubling to"
        " backoff_max_s 30, times a uniform draw in [0.5, 1.5)",
        "connect_timeout_s": "mqttsim/aio/client.py AsyncClient: connect_timeout_s 10",
    },
)
"""What :class:`mqttsim.aio.AsyncClient` does over real sockets.

Not modelled: nothing the simulator can see; the socket client's TLS and
WebSocket framing add bytes the simulated TCP does not carry.
"""

PAHO_2 = ClientProfile(
    name="paho-2",
    description="paho-mqtt 2.x (Eclipse Paho Python client), default settings",
    tcp_nodelay=False,
    max_inflight=20,
    ping_every_keep_alive=True,
    qos2_handover=QoS2Handover.ON_PUBREL,
    backoff_initial_s=1.0,
    backoff_max_s=120.0,
    backoff_jitter=False,
    connect_timeout_s=5.0,
    write_each_packet=True,
    sources={
        "tcp_nodelay": "paho-mqtt 2.2.0 src/paho/mqtt/client.py: the socket is made by"
        " socket.create_connection and TCP_NODELAY is never set",
        "write_each_packet": "paho-mqtt 2.2.0 Client._packet_write: one socket send() per"
        " queued packet",
        "max_inflight": "paho-mqtt 2.2.0 Client.max_inflight_messages_set: default 20",
        "ping_every_keep_alive": "paho-mqtt 2.2.0 Client._check_keepalive pings when"
        " now - _last_msg_out >= keepalive, and _packet_write returns from inside its loop"
        " when its queue empties, so _last_msg_out is refreshed only by a PINGREQ",
        "qos2_handover": "paho-mqtt 2.2.0 Client._handle_pubrel calls on_message for a"
        " QoS 2 message when its PUBREL arrives",
        "backoff": "paho-mqtt 2.2.0 Client.reconnect_delay_set(min_delay=1, max_delay=120)"
        " and _reconnect_wait: the delay doubles, without jitter",
        "connect_timeout_s": "paho-mqtt 2.2.0 Client.connect_timeout: 5.0 s, the timeout of"
        " socket.create_connection",
        "offline publish": "paho-mqtt 2.2.0 Client.publish while disconnected returns"
        " MQTT_ERR_NO_CONN: QoS 0 is gone, QoS 1/2 are kept and sent after reconnecting"
        " (the core does the same with Clean Start 0)",
    },
)
"""paho-mqtt 2.x with its defaults.

Not modelled: on reconnect paho sends its whole QoS 1/2 backlog at once,
ignoring ``max_inflight_messages`` (its ``_messages_reconnect_reset_out``
does not count them as in flight); the core keeps its in-flight window.
"""

MQTTSIM_BROKER = BrokerProfile(
    name="mqttsim",
    description="mqttsim broker, mqttsim's own asyncio broker",
    tcp_nodelay=True,
    config=BrokerConfig(sys_interval_s=0),
    sources={
        "tcp_nodelay": _ASYNCIO_NODELAY,
        "config": "mqttsim/protocol/broker_config.py: BrokerConfig defaults (max_inflight 20,"
        " max_queued_messages 1000, QoS 2 handed on at PUBLISH)",
        "keep_alive": "the broker closes a client silent for 1.5 x Keep Alive [MQTT-3.1.2-24]",
    },
)
"""What ``mqttsim broker`` does with its defaults."""

MOSQUITTO_2 = BrokerProfile(
    name="mosquitto-2",
    description="Eclipse Mosquitto 2.0, default settings",
    tcp_nodelay=False,
    config=BrokerConfig(
        sys_interval_s=0,
        max_inflight=20,
        max_queued_messages=1000,
        qos2_handover=QoS2Handover.ON_PUBREL,
    ),
    write_each_packet=True,
    sources={
        "tcp_nodelay": "mosquitto.conf(5): set_tcp_nodelay, default false",
        "write_each_packet": "mosquitto 2.0 lib/packet_mosq.c: packet__queue() ends with"
        " packet__write() in the broker, so each reply is written as its packet is handled"
        " (seen in docs/validation.md's captures: a PUBCOMP leaves alone and the PUBREC"
        " handled after it waits for its ACK)",
        "max_inflight": "mosquitto.conf(5): max_inflight_messages, default 20",
        "max_queued_messages": "mosquitto.conf(5): max_queued_messages, default 1000",
        "qos2_handover": "mosquitto 2.0 src/handle_pubrel.c: an incoming QoS 2 message is"
        " released to subscribers (db__message_release_incoming) when its PUBREL arrives",
        "keep_alive": "mosquitto 2.0 closes a client 1.5 x Keep Alive after the last packet"
        " it received from it [MQTT-3.1.2-24]",
    },
)
"""Eclipse Mosquitto 2.0 with its defaults.

Not modelled: beyond its in-flight quota mosquitto refuses an incoming QoS 2
message, and to an MQTT 3.1.1 client that refusal goes out as an ordinary
PUBREC (``handle__publish``), so the message is acknowledged and dropped;
mqttsim's core never acknowledges a message it drops.
"""

CLIENT_PROFILES: dict[str, ClientProfile] = {p.name: p for p in (MQTTSIM_CLIENT, PAHO_2)}
BROKER_PROFILES: dict[str, BrokerProfile] = {p.name: p for p in (MQTTSIM_BROKER, MOSQUITTO_2)}


def client_profile(name: str) -> ClientProfile:
    """A client profile by name; one line listing the names if unknown."""
    try:
        return CLIENT_PROFILES[name]
    except KeyError:
        allowed = ", ".join(CLIENT_PROFILES)
        raise ConfigError(f"unknown client profile {name!r}; allowed: {allowed}") from None


def broker_profile(name: str) -> BrokerProfile:
    """A broker profile by name; one line listing the names if unknown."""
    try:
        return BROKER_PROFILES[name]
    except KeyError:
        allowed = ", ".join(BROKER_PROFILES)
        raise ConfigError(f"unknown broker profile {name!r}; allowed: {allowed}") from None
