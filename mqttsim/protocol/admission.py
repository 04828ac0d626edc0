"""Admission: the broker's answer to CONNECT (§3.1, §3.2), as a value.

:func:`decide_connect` looks at a CONNECT, the configuration and the
authenticator's verdict, and returns what to do: a :class:`ConnectRefused`
(the CONNACK reason and why) or a :class:`ConnectAccepted` (the client
identifier, the limits in force, the CONNACK's properties). It changes
nothing: :class:`~mqttsim.protocol.broker.Broker` applies the decision in
one place (binds the session, sends the CONNACK), so the rules below can be
tested without a broker.

In order: the client identifier (assigned if empty [MQTT-3.1.3-6]), the
user name, the authentication method, the will, the credentials, then the
limits and the CONNACK that tells the client what it must respect. Nothing
is kept of a refused client.

A client's own protocol violations (a will topic that is not a topic name)
raise :class:`~mqttsim.protocol.errors.ProtocolError` instead, as every
violation does; the connection closes with its reason code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from .broker_config import BrokerConfig
from .codec import encode
from .enums import ProtocolVersion, ReasonCode
from .hooks import Authenticator
from .packets import ConnAck, Connect, Will
from .properties import NO_PROPERTIES, Properties
from .session import SESSION_NEVER_EXPIRES
from .topics import control_character, validate_topic_name

__all__ = [
    "ConnectAccepted",
    "ConnectRefused",
    "decide_connect",
    "fit_connack",
]

@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectRefused:
    """Refuse the CONNECT: answer a CONNACK with ``reason`` and close.

    Attributes:
        reason: the CONNACK reason code (3.1.1: mapped to a return code, or
            just a close where 3.1.1 has none).
        detail: a sentence for logs and lessons.
        denied: the authenticator refused the credentials (counted as
            denied and reported as an ``ActionDenied``).
        client_id: the identifier the client gave or would have been given.
    """

    reason: ReasonCode
    detail: str
    denied: bool = False
    client_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectAccepted:
    """Accept the CONNECT with these terms.

    Attributes:
        client_id: the session's key (the client's, or the assigned one).
        assigned: whether the broker chose ``client_id``: such a session is
            always new, never resumed [MQTT-3.2.2-16].
        username: the user name given, owner of the session.
        will: the will to publish if the connection ends abnormally.
        keep_alive_s: the Keep Alive in force (the server's if it imposes one
            [MQTT-3.2.2-21]).
        session_expiry_s: the Session Expiry Interval in force.
        clean_start: start a new session, discarding any old one.
        send_window: QoS 1/2 messages we may have in flight to the client.
        client_max_packet_size: the client's Maximum Packet Size, if given.
        connack: the CONNACK to send, Session Present still 0; it already
            fits the client's Maximum Packet Size [MQTT-3.1.2-24].
    """

    client_id: str
    assigned: bool
    username: str | None
    will: Will | None
    keep_alive_s: int
    session_expiry_s: int
    clean_start: bool
    send_window: int
    client_max_packet_size: int | None
    connack: ConnAck


def decide_connect(
    config: BrokerConfig,
    packet: Connect,
    *,
    authenticator: Authenticator,
    assign_client_id: Callable[[], str],
) -> ConnectAccepted | ConnectRefused:
    """Decide whether ``packet`` is accepted, and on which terms.

    Args:
        config: the broker's limits and capabilities.
        packet: the CONNECT.
        authenticator: asked about the credentials, once, after every other
            check has passed.
        assign_client_id: called once if the client sent no identifier; it
            returns one that no session or connection holds.

    Returns:
        What the broker must do.

    Raises:
        ProtocolError: the CONNECT breaks a rule of the protocol (a will
            topic that is not a valid topic name, or over the limits).
    """
    v5 = packet.version is ProtocolVersion.V5
    props = packet.properties
    client_id = packet.client_id
    assigned = False
    if not client_id:
        if not v5 and not packet.clean_start:
            # 3.1.1: an empty id needs Clean Session = 1 [MQTT-3.1.3-8].
            return ConnectRefused(
                reason=ReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
                detail="empty client identifier with Clean Session = 0 [MQTT-3.1.3-8]",
            )
        client_id = assign_client_id()
        assigned = True
    elif control_character(client_id) is not None:
        return ConnectRefused(
            reason=ReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
            detail="client identifier contains a control character (MQTT 5.0 §1.5.4, §5.4.9)",
        )
    if packet.username is not None and control_character(packet.username) is not None:
        # 0x86 (3.1.1 return code 4) is defined as "the data in the user name
        # or password is malformed" (§3.2.2.2; 3.1.1 Table 3.1): the closest
        # code for a user name the server will not take, and no hint to a
        # guesser of whether the user exists.
        return ConnectRefused(
            reason=ReasonCode.BAD_USER_NAME_OR_PASSWORD,
            detail="user name contains a control character (MQTT 5.0 §1.5.4, §5.4.9)",
            client_id=client_id,
        )
    if props.authentication_method is not None:
        return ConnectRefused(
            reason=ReasonCode.BAD_AUTHENTICATION_METHOD,
            detail=f"authentication method {props.authentication_method!r} not supported",
            client_id=client_id,
        )
    will = packet.will
    if will is not None:
        refused = _judge_will(config, will, client_id)
        if refused is not None:
            return refused
    verdict = authenticator.authenticate(client_id, packet.username, packet.password)
    if verdict.is_error:
        return ConnectRefused(
            reason=verdict,
            detail=f"credentials refused for user {packet.username!r}",
            denied=True,
            client_id=client_id,
        )
    return _accept(config, packet, client_id, assigned)


def _judge_will(config: BrokerConfig, will: Will, client_id: str) -> ConnectRefused | None:
    """Refuse a will the broker would not publish for this client."""
    validate_topic_name(
        will.topic, max_levels=config.max_topic_levels, max_bytes=config.max_topic_length
    )
    if will.topic.startswith("$") and not config.dollar_topics_writable:
        # Topics starting with '$' are the server's (MQTT 5 §4.7.2), as for PUBLISH.
        return ConnectRefused(
            reason=ReasonCode.NOT_AUTHORIZED,
            detail=f"will topic {will.topic!r}: topics starting with '$' are the server's",
            client_id=client_id,
        )
    if will.qos > config.maximum_qos:
        return ConnectRefused(
            reason=ReasonCode.QOS_NOT_SUPPORTED,
            detail="will QoS above Maximum QoS [MQTT-3.2.2-12]",
            client_id=client_id,
        )
    if will.retain and not config.retain_available:
        return ConnectRefused(
            reason=ReasonCode.RETAIN_NOT_SUPPORTED,
            detail="retained will while Retain Available is 0 [MQTT-3.2.2-13]",
            client_id=client_id,
        )
    return None


def _accept(
    config: BrokerConfig, packet: Connect, client_id: str, assigned: bool
) -> ConnectAccepted | ConnectRefused:
    """The terms of an accepted CONNECT, or a refusal if its CONNACK cannot
    fit the client's Maximum Packet Size."""
    v5 = packet.version is ProtocolVersion.V5
    props = packet.properties
    keep_alive = packet.keep_alive_s
    server_keep_alive = None
    if v5 and config.server_keep_alive_s is not None and config.server_keep_alive_s != keep_alive:
        # The server's value replaces the client's [MQTT-3.2.2-21].
        keep_alive = server_keep_alive = config.server_keep_alive_s
    if v5:
        requested = props.session_expiry_interval or 0
        send_window = min(config.max_inflight, props.receive_maximum or 65535)
        client_max = props.maximum_packet_size
    else:
        # 3.1.1: Clean Session = 0 means the session lasts until the client
        # comes back, however long that is (§3.1.2.4).
        requested = 0 if packet.clean_start else SESSION_NEVER_EXPIRES
        send_window = config.max_inflight
        client_max = None
    expiry = requested
    if config.max_session_expiry_s is not None and requested > config.max_session_expiry_s:
        expiry = config.max_session_expiry_s
    ack_props = NO_PROPERTIES
    if v5:
        ack_props = Properties(
            assigned_client_identifier=client_id if assigned else None,
            server_keep_alive=server_keep_alive,
            session_expiry_interval=expiry if expiry != requested else None,
            receive_maximum=config.receive_maximum if config.receive_maximum != 65535 else None,
            maximum_qos=int(config.maximum_qos) if config.maximum_qos < 2 else None,
            retain_available=None if config.retain_available else 0,
            maximum_packet_size=config.max_packet_size,
            topic_alias_maximum=config.topic_alias_maximum or None,
            wildcard_subscription_available=None if config.wildcard_subscriptions else 0,
            subscription_identifier_available=None if config.subscription_identifiers else 0,
            shared_subscription_available=None if config.shared_subscriptions else 0,
        )
    connack = fit_connack(ConnAck(properties=ack_props), packet.version, client_max)
    if connack is None:
        return ConnectRefused(
            reason=ReasonCode.PACKET_TOO_LARGE,
            detail=(
                f"the CONNACK cannot fit the client's Maximum Packet Size of {client_max} bytes"
                " [MQTT-3.1.2-24]"
            ),
            client_id=client_id,
        )
    return ConnectAccepted(
        client_id=client_id,
        assigned=assigned,
        username=packet.username,
        will=packet.will,
        keep_alive_s=keep_alive,
        session_expiry_s=expiry,
        # A broker-chosen identifier names no earlier session: it starts new
        # whatever the client asked [MQTT-3.2.2-16].
        clean_start=packet.clean_start or assigned,
        send_window=send_window,
        client_max_packet_size=client_max,
        connack=connack,
    )


def fit_connack(connack: ConnAck, version: ProtocolVersion, limit: int | None) -> ConnAck | None:
    """``connack`` without the optional properties it must lose to be at
    most ``limit`` bytes (the client's Maximum Packet Size [MQTT-3.1.2-24]),
    or ``None`` if it cannot fit even without them.

    They go in this order: the Reason String and the User Properties, which
    the specification names [MQTT-3.2.2-19][MQTT-3.2.2-20], then the Topic
    Alias Maximum, whose absence means 0 (the client then sets no alias, a
    restriction it obeys [MQTT-3.2.2-18]). The other properties are limits
    the client must be told or the identifier it must use; a CONNACK that
    cannot fit with them is not sent, and the connection is refused.
    """
    if limit is None or len(encode(connack, version)) <= limit:
        return connack
    props = connack.properties
    for lighter in (
        replace(props, reason_string=None),
        replace(props, reason_string=None, user_properties=()),
        replace(props, reason_string=None, user_properties=(), topic_alias_maximum=None),
    ):
        candidate = replace(connack, properties=lighter)
        if len(encode(candidate, version)) <= limit:
            return candidate
    return None
