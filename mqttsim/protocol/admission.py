"""Admission: the broker's answer to CONNECT (§3.1, §3.2).

In order: the client identifier (assigned if empty [MQTT-3.1.3-6]), the
authentication method, the will, the credentials, then the session (new,
resumed or taken over) and the CONNACK that tells the client the limits it
must respect. A refusal answers CONNACK with the reason and closes; nothing
is kept of a refused client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .enums import ProtocolVersion, ReasonCode
from .events import ActionDenied, ClientConnected, Event
from .packets import ConnAck, Connect
from .properties import Properties
from .session import SESSION_NEVER_EXPIRES
from .tables import BrokerState
from .topics import validate_topic_name

if TYPE_CHECKING:
    from .broker import Broker
    from .broker_connection import BrokerConnection

__all__ = ["handle_connect"]


def handle_connect(
    broker: Broker, conn: BrokerConnection, packet: Connect, now: float, events: list[Event]
) -> None:
    """Accept or refuse ``packet`` on ``conn``."""
    cfg = broker.config
    conn.version = packet.version
    v5 = packet.version is ProtocolVersion.V5
    props = packet.properties
    client_id = packet.client_id
    assigned = False
    if not client_id:
        if not v5 and not packet.clean_start:
            # 3.1.1: an empty id needs Clean Session = 1 [MQTT-3.1.3-8].
            conn.refuse(
                ReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
                "empty client identifier with Clean Session = 0",
                now,
                events,
            )
            return
        client_id = broker.assign_client_id()
        assigned = True
    if props.authentication_method is not None:
        conn.refuse(
            ReasonCode.BAD_AUTHENTICATION_METHOD,
            f"authentication method {props.authentication_method!r} not supported",
            now,
            events,
        )
        return
    will = packet.will
    if will is not None:
        validate_topic_name(will.topic)
        if will.topic.startswith("$") and not cfg.dollar_topics_writable:
            conn.refuse(
                ReasonCode.NOT_AUTHORIZED,
                f"will topic {will.topic!r}: topics starting with '$' are the server's",
                now,
                events,
            )
            return
        if will.qos > cfg.maximum_qos:
            conn.refuse(
                ReasonCode.QOS_NOT_SUPPORTED,
                "will QoS above Maximum QoS [MQTT-3.2.2-12]",
                now,
                events,
            )
            return
        if will.retain and not cfg.retain_available:
            conn.refuse(
                ReasonCode.RETAIN_NOT_SUPPORTED,
                "retained will while Retain Available is 0 [MQTT-3.2.2-13]",
                now,
                events,
            )
            return
    verdict = broker.authenticator.authenticate(client_id, packet.username, packet.password)
    if verdict.is_error:
        broker.stats.denied += 1
        events.append(
            ActionDenied(
                client_id=client_id,
                action="connect",
                topic="",
                reason_code=verdict,
                username=packet.username,
            )
        )
        conn.refuse(verdict, f"credentials refused for user {packet.username!r}", now, events)
        return

    conn.client_id = client_id
    conn.username = packet.username
    conn.will = will
    conn.keep_alive_s = packet.keep_alive_s
    server_keep_alive = None
    if (
        v5
        and cfg.server_keep_alive_s is not None
        and cfg.server_keep_alive_s != packet.keep_alive_s
    ):
        # The server's value replaces the client's [MQTT-3.2.2-21].
        conn.keep_alive_s = server_keep_alive = cfg.server_keep_alive_s
    if v5:
        requested = props.session_expiry_interval or 0
        conn.send_window = min(cfg.max_inflight, props.receive_maximum or 65535)
        conn.client_max_packet_size = props.maximum_packet_size
    else:
        # 3.1.1: Clean Session = 0 means the session lasts until the client
        # comes back, however long that is (§3.1.2.4).
        requested = 0 if packet.clean_start else SESSION_NEVER_EXPIRES
    expiry = requested
    if cfg.max_session_expiry_s is not None and requested > cfg.max_session_expiry_s:
        expiry = cfg.max_session_expiry_s
    conn.session_expiry_s = expiry
    conn.state = BrokerState.CONNECTED
    resumed = broker.bind_session(conn, packet, expiry, now, events)

    ack_props = Properties()
    if v5:
        ack_props = Properties(
            assigned_client_identifier=client_id if assigned else None,
            server_keep_alive=server_keep_alive,
            session_expiry_interval=expiry if expiry != requested else None,
            receive_maximum=cfg.receive_maximum if cfg.receive_maximum != 65535 else None,
            maximum_qos=int(cfg.maximum_qos) if cfg.maximum_qos < 2 else None,
            retain_available=None if cfg.retain_available else 0,
            maximum_packet_size=cfg.max_packet_size,
            topic_alias_maximum=cfg.topic_alias_maximum or None,
            wildcard_subscription_available=None if cfg.wildcard_subscriptions else 0,
            subscription_identifier_available=None if cfg.subscription_identifiers else 0,
            shared_subscription_available=None if cfg.shared_subscriptions else 0,
        )
    conn.send(ConnAck(session_present=resumed, properties=ack_props))
    events.append(
        ClientConnected(
            client_id=client_id,
            version=packet.version,
            session_present=resumed,
            username=packet.username,
        )
    )
    if resumed:
        broker.resend_inflight(conn, now)
