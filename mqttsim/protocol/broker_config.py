"""The broker's limits and capabilities, as one frozen value.

Kept apart from :mod:`.broker` so that the decision modules
(:mod:`.admission`, :mod:`.subscribing`) can read the configuration without
importing the broker they serve.
"""

from __future__ import annotations

from dataclasses import dataclass

from .enums import QoS, QoS2Handover

__all__ = ["BrokerConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerConfig:
    """Limits and capabilities; the defaults are safe for a laptop.

    Attributes:
        max_inflight: QoS 1/2 messages in flight to one client (further
            capped by the client's Receive Maximum).
        receive_maximum: QoS 2 messages a client may have unreleased with us.
        max_queued_messages: per session; overflow is dropped, counted and
            reported, never silent.
        max_packet_size: the largest packet we accept (bytes, whole packet).
        connect_timeout_s: time a new connection has to send CONNECT.
        maximum_qos: the highest QoS accepted and granted (MQTT 5 §3.2.2.3.4).
        retain_available: whether RETAIN is accepted (§3.2.2.3.5).
        wildcard_subscriptions: whether filters may hold ``+`` and ``#``.
        subscription_identifiers: whether SUBSCRIBE may carry one.
        shared_subscriptions: whether ``$share/`` filters are accepted.
        topic_alias_maximum: Topic Aliases a client may set with us.
        server_keep_alive_s: if set, imposed on every MQTT 5 client.
        max_session_expiry_s: cap on Session Expiry Interval (3.1.1
            persistent sessions get this too; ``None`` means never expire).
        sys_interval_s: period of ``$SYS`` updates; 0 turns them off.
        max_outgoing_bytes: bytes that may wait in one connection's outbox
            (what the driver has not yet taken with ``data_to_send``). Once
            they are reached (a message that starts below the bound may
            cross it, so one message of any size always fits), QoS 0
            messages for that client are dropped and counted, and QoS 1/2
            ones wait in its session queue; acknowledgements and other
            control packets are never held back.
        max_outgoing_messages: the same bound, in packets.
        dollar_topics_writable: whether clients may publish (and set wills)
            on topics starting with ``$``. Off by default: those belong to
            the server (``$SYS``, MQTT 5 §4.7.2), and a client writing there
            could forge the broker's own statistics. The broker's own
            :meth:`Broker.publish` is never refused.
        max_topic_levels: the most levels a topic name or filter may have
            (mosquitto's ``TOPIC_HIERARCHY_LIMIT`` is 200): the subscription
            tree's work per topic grows with it.
        max_topic_length: the longest topic name or filter, in UTF-8 bytes.
        qos2_handover: when a QoS 2 message from a client is routed to
            subscribers and the retained store (§4.3.3): on its PUBLISH
            (Method B), or on its PUBREL (Method A, as mosquitto 2.x does).
            With ``ON_PUBREL`` the PUBREC still answers at once, with the
            reason code the checks give, and the message waits in the
            publisher's session (``Session.held_qos2``), counting against
            ``receive_maximum``; one held when its session ends is counted
            dropped.
    """

    max_inflight: int = 20
    receive_maximum: int = 100
    max_queued_messages: int = 1000
    max_packet_size: int = 1024 * 1024
    connect_timeout_s: float = 10.0
    maximum_qos: QoS = QoS.EXACTLY_ONCE
    retain_available: bool = True
    wildcard_subscriptions: bool = True
    subscription_identifiers: bool = True
    shared_subscriptions: bool = True
    topic_alias_maximum: int = 10
    server_keep_alive_s: int | None = None
    max_session_expiry_s: int | None = None
    sys_interval_s: float = 10.0
    max_outgoing_bytes: int = 8 * 1024 * 1024
    max_outgoing_messages: int = 10_000
    dollar_topics_writable: bool = False
    max_topic_levels: int = 200
    max_topic_length: int = 65535
    qos2_handover: QoS2Handover = QoS2Handover.ON_PUBLISH

    def __post_init__(self) -> None:
        if not 1 <= self.max_inflight <= 65535:
            raise ValueError("max_inflight must be in 1..65535")
        if not 1 <= self.receive_maximum <= 65535:
            raise ValueError("receive_maximum must be in 1..65535")
        if not 0 <= self.max_queued_messages <= 60000:
            # Queued QoS 1/2 messages hold packet identifiers (65535 in all).
            raise ValueError("max_queued_messages must be in 0..60000")
        if self.max_packet_size < 64:
            raise ValueError("max_packet_size must be at least 64 bytes")
        if self.connect_timeout_s <= 0:
            raise ValueError("connect_timeout_s must be positive")
        if self.max_outgoing_bytes < 1:
            raise ValueError("max_outgoing_bytes must be at least 1")
        if self.max_outgoing_messages < 1:
            raise ValueError("max_outgoing_messages must be at least 1")
        if self.max_topic_levels < 1:
            raise ValueError("max_topic_levels must be at least 1")
        if not 1 <= self.max_topic_length <= 65535:
            # A UTF-8 Encoded String holds at most 65535 bytes (§1.5.4).
            raise ValueError("max_topic_length must be in 1..65535")
