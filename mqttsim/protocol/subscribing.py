"""SUBSCRIBE and UNSUBSCRIBE decided as values (§3.8, §3.10).

:func:`decide_subscribe` judges each topic filter of a SUBSCRIBE on its own:
an invalid or forbidden filter gets a failure code in its SUBACK slot while
the others are granted (§3.9.3 in both versions). It changes nothing:
:class:`~mqttsim.protocol.broker.Broker` applies the answers in one place
(the session's subscriptions, the subscription tree, the SUBACK, then the
retained messages). A granted subscription replaces an existing one with the
same filter [MQTT-3.8.4-3]; retained messages follow the SUBACK according to
Retain Handling (MQTT 5 §3.8.3.1) and never for shared subscriptions
(MQTT 5 §4.8.2).

A violation of the protocol by the packet as a whole (a Subscription
Identifier the server does not offer, No Local on a shared subscription, an
empty filter in 3.1.1, which has no failure code for it) raises
:class:`~mqttsim.protocol.errors.RemoteProtocolError` before anything is
applied: the connection closes [MQTT-4.8.0-1] (3.1.1), [MQTT-4.13.1-1].
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, replace

from .broker_config import BrokerConfig
from .enums import ProtocolVersion, QoS, ReasonCode, RetainHandling
from .errors import RemoteProtocolError, TopicFilterInvalid
from .hooks import Authorizer
from .packets import Subscribe, Unsubscribe
from .session import SubscriptionRecord
from .topics import parse_shared, validate_topic_filter

__all__ = [
    "FilterGranted",
    "FilterRefused",
    "decide_subscribe",
    "decide_unsubscribe",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class FilterGranted:
    """A subscription to add (or to replace the session's one for its filter).

    Attributes:
        topic_filter: the filter, as subscribed.
        record: what the session keeps, at the granted QoS.
        send_retained: whether the retained messages it matches follow the
            SUBACK.
    """

    topic_filter: str
    record: SubscriptionRecord
    send_retained: bool

    @property
    def reason_code(self) -> ReasonCode:
        """The SUBACK code: the granted QoS."""
        return ReasonCode(int(self.record.subscription.qos))


@dataclass(frozen=True, slots=True, kw_only=True)
class FilterRefused:
    """A filter not subscribed.

    Attributes:
        topic_filter: the filter, as sent.
        reason_code: MQTT 5's SUBACK code for it (3.1.1 has only 0x80).
        detail: why, for logs and lessons.
        denied: the authoriser refused it (counted as denied and reported
            as an ``ActionDenied``).
    """

    topic_filter: str
    reason_code: ReasonCode
    detail: str
    denied: bool = False


def decide_subscribe(
    config: BrokerConfig,
    packet: Subscribe,
    version: ProtocolVersion,
    *,
    existing: Container[str],
    authorizer: Authorizer,
    client_id: str,
    username: str | None,
) -> tuple[FilterGranted | FilterRefused, ...]:
    """Decide each filter of ``packet``, in order.

    Args:
        config: the broker's capabilities and topic limits.
        packet: the SUBSCRIBE.
        version: the connection's protocol version.
        existing: the filters the session already subscribes to (Retain
            Handling 1 sends retained messages only for a new one).
        authorizer: asked whether this client may subscribe to each filter.
        client_id: the subscribing client.
        username: its user name.

    Returns:
        One decision per filter, in the packet's order (the SUBACK's order
        [MQTT-3.8.4-6]).

    Raises:
        RemoteProtocolError: the packet breaks a rule that closes the
            connection.
    """
    v5 = version is ProtocolVersion.V5
    ids = packet.properties.subscription_identifiers
    identifier = ids[0] if ids else None
    if identifier is not None and not config.subscription_identifiers:
        raise RemoteProtocolError(
            "SUBSCRIBE carries a Subscription Identifier the server does not support",
            ReasonCode.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
        )
    seen: set[str] = set()
    decisions: list[FilterGranted | FilterRefused] = []
    for sub in packet.subscriptions:
        topic_filter = sub.topic_filter
        if not topic_filter and not v5:
            # 3.1.1's 0x80 is a refusal, not the protocol violation an empty
            # filter is [MQTT-4.7.3-1]: close [MQTT-4.8.0-1].
            raise RemoteProtocolError("SUBSCRIBE with an empty topic filter [MQTT-4.7.3-1]")
        try:
            validate_topic_filter(
                topic_filter,
                shared_allowed=config.shared_subscriptions,
                wildcards_allowed=config.wildcard_subscriptions,
                max_levels=config.max_topic_levels,
                max_bytes=config.max_topic_length,
            )
        except TopicFilterInvalid as exc:
            decisions.append(
                FilterRefused(
                    topic_filter=topic_filter, reason_code=exc.reason_code, detail=exc.detail
                )
            )
            continue
        group, _inner = parse_shared(topic_filter)
        if group is not None and sub.no_local:
            raise RemoteProtocolError(
                f"No Local set on shared subscription {topic_filter!r} [MQTT-3.8.3-4]"
            )
        if not authorizer.may_subscribe(client_id, username, topic_filter):
            decisions.append(
                FilterRefused(
                    topic_filter=topic_filter,
                    reason_code=ReasonCode.NOT_AUTHORIZED,
                    detail=f"not authorised to subscribe to {topic_filter!r}",
                    denied=True,
                )
            )
            continue
        granted = QoS(min(sub.qos, config.maximum_qos))
        record = SubscriptionRecord(
            subscription=sub if granted == sub.qos else replace(sub, qos=granted),
            identifier=identifier,
        )
        is_new = topic_filter not in existing and topic_filter not in seen
        seen.add(topic_filter)
        handling = sub.retain_handling
        send_retained = group is None and (
            handling is RetainHandling.SEND_ON_SUBSCRIBE
            or (handling is RetainHandling.SEND_IF_NEW_SUBSCRIPTION and is_new)
        )
        decisions.append(
            FilterGranted(topic_filter=topic_filter, record=record, send_retained=send_retained)
        )
    return tuple(decisions)


def decide_unsubscribe(
    packet: Unsubscribe, version: ProtocolVersion
) -> tuple[TopicFilterInvalid | None, ...]:
    """Check each filter of an UNSUBSCRIBE: ``None`` for one to look up, or
    why it is not a topic filter at all (MQTT 5 answers 0x8F in its slot).

    Raises:
        RemoteProtocolError: in 3.1.1, whose UNSUBACK cannot refuse, an
            invalid filter is a protocol violation that closes the
            connection [MQTT-4.8.0-1].
    """
    found: list[TopicFilterInvalid | None] = []
    for topic_filter in packet.topic_filters:
        try:
            validate_topic_filter(topic_filter)
        except TopicFilterInvalid as exc:
            if version is not ProtocolVersion.V5:
                raise RemoteProtocolError(f"UNSUBSCRIBE: {exc.detail}") from None
            found.append(exc)
            continue
        found.append(None)
    return tuple(found)
