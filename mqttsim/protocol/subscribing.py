"""SUBSCRIBE handling on the broker (§3.8, §3.9).

Each topic filter is judged on its own: an invalid or forbidden filter gets
a failure code in its SUBACK slot while the others are granted
(§3.9.3 in both versions). A granted subscription replaces an existing
one with the same filter [MQTT-3.8.4-3]; retained messages then follow the
SUBACK according to Retain Handling (MQTT 5 §3.8.3.1) and never for shared
subscriptions (MQTT 5 §4.8.2).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .enums import ProtocolVersion, QoS, ReasonCode, RetainHandling
from .errors import RemoteProtocolError, TopicFilterInvalid
from .events import ActionDenied, Event
from .packets import SubAck, Subscribe
from .session import SubscriptionRecord
from .topics import parse_shared, validate_topic_filter

if TYPE_CHECKING:
    from .broker import Broker
    from .broker_connection import BrokerConnection

__all__ = ["handle_subscribe"]


def handle_subscribe(
    broker: Broker, conn: BrokerConnection, packet: Subscribe, now: float, events: list[Event]
) -> None:
    """Grant or refuse each filter of ``packet``, answer SUBACK, then send
    the retained messages the new subscriptions are owed."""
    cfg = broker.config
    session = conn.session
    assert session is not None and conn.client_id is not None
    v5 = conn.version is ProtocolVersion.V5
    ids = packet.properties.subscription_identifiers
    identifier = ids[0] if ids else None
    if identifier is not None and not cfg.subscription_identifiers:
        raise RemoteProtocolError(
            "SUBSCRIBE carries a Subscription Identifier the server does not support",
            ReasonCode.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
        )
    codes: list[ReasonCode] = []
    owed: list[SubscriptionRecord] = []
    for sub in packet.subscriptions:
        topic_filter = sub.topic_filter
        try:
            validate_topic_filter(
                topic_filter,
                shared_allowed=cfg.shared_subscriptions,
                wildcards_allowed=cfg.wildcard_subscriptions,
            )
        except TopicFilterInvalid as exc:
            codes.append(exc.reason_code)
            continue
        group, _inner = parse_shared(topic_filter)
        if group is not None and sub.no_local:
            raise RemoteProtocolError(
                f"No Local set on shared subscription {topic_filter!r} [MQTT-3.8.3-4]"
            )
        if not broker.authorizer.may_subscribe(conn.client_id, conn.username, topic_filter):
            broker.stats.denied += 1
            events.append(
                ActionDenied(
                    client_id=conn.client_id,
                    action="subscribe",
                    topic=topic_filter,
                    reason_code=ReasonCode.NOT_AUTHORIZED,
                )
            )
            codes.append(ReasonCode.NOT_AUTHORIZED)
            continue
        granted = QoS(min(sub.qos, cfg.maximum_qos))
        record = SubscriptionRecord(
            subscription=sub if granted == sub.qos else replace(sub, qos=granted),
            identifier=identifier,
        )
        existed = topic_filter in session.subscriptions
        session.subscriptions[topic_filter] = record
        broker.subscriptions.add(topic_filter, conn.client_id, record)
        broker.subscriptions_changed()
        codes.append(ReasonCode(int(granted)))
        handling = sub.retain_handling
        if group is None and (
            handling is RetainHandling.SEND_ON_SUBSCRIBE
            or (handling is RetainHandling.SEND_IF_NEW_SUBSCRIPTION and not existed)
        ):
            owed.append(record)
    if not v5:
        # 3.1.1 has one failure code, 0x80 [MQTT-3.9.3-2].
        codes = [c if not c.is_error else ReasonCode.UNSPECIFIED_ERROR for c in codes]
    broker.mark_dirty(session)
    conn.send(SubAck(packet_id=packet.packet_id, reason_codes=tuple(codes)))
    for record in owed:
        broker.deliver_retained(conn, record, now)
