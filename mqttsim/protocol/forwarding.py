"""How a routed message goes out: who gets which copy, in which form.

The broker routes each PUBLISH once (:meth:`Broker._route`), then hands one
copy to each subscribing session. These are the pure pieces of that path:

* :func:`merge_target` folds a client's overlapping subscriptions into one
  delivery: one copy per client, at the highest granted QoS, with every
  matching Subscription Identifier [MQTT-3.3.4-2][MQTT-3.3.4-3];
* :func:`forwarded_form` builds the PUBLISH as one kind of subscriber
  receives it (version, QoS, RETAIN, identifiers) and encodes it once, so
  every subscriber of that kind shares the bytes and only the packet
  identifier is patched (STYLE: "encode an outgoing PUBLISH once per
  distinct form");
* :func:`application_message` is a message that starts inside the broker
  (its own ``$SYS`` tree, a will).

They run for every message, so they stay lean: no allocation that a
forwarded-as-received message does not need.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from .codec import encode, publish_packet_id_offset
from .enums import ProtocolVersion, QoS
from .members import V5
from .packets import Publish
from .properties import NO_PROPERTIES, Properties
from .session import SubscriptionRecord
from .timers import remaining_expiry_s

__all__ = ["Targets", "application_message", "forwarded_form", "merge_target"]

_QOS_LEVELS: Final = tuple(QoS)  # QoS(n) as a lookup, for the hot path

#: Where a message goes: client id -> (granted QoS, Retain As Published,
#: subscription identifiers).
Targets = dict[str, tuple[int, bool, tuple[int, ...]]]


def application_message(
    topic: str, payload: bytes, qos: int, retain: bool, properties: Properties
) -> Publish:
    """An application message inside the broker, as a PUBLISH. A QoS 1/2
    PUBLISH must carry a packet identifier; this one holds 1 until a
    subscriber's own identifier replaces it on delivery."""
    return Publish(
        topic=topic,
        payload=payload,
        qos=QoS(qos),
        retain=retain,
        packet_id=None if qos == 0 else 1,
        properties=properties,
    )


def merge_target(targets: Targets, client_id: str, record: SubscriptionRecord) -> None:
    """Add one matching subscription of ``client_id`` to ``targets``."""
    sub = record.subscription
    ids = (record.identifier,) if record.identifier is not None else ()
    previous = targets.get(client_id)
    if previous is None:
        targets[client_id] = (sub.qos, sub.retain_as_published, ids)
    else:
        # Overlapping subscriptions: one copy, highest QoS, all identifiers.
        targets[client_id] = (
            max(previous[0], sub.qos),
            previous[1] or sub.retain_as_published,
            previous[2] + ids,
        )


def forwarded_form(
    packet: Publish,
    version: ProtocolVersion | None,
    qos: int,
    retain: bool,
    ids: tuple[int, ...],
    expires_at: float | None,
    now: float,
) -> tuple[Publish, bytes, int]:
    """The PUBLISH as one kind of subscriber receives it, encoded once.

    Args:
        packet: the message as the broker accepted it.
        version: the subscriber's protocol version, or ``None`` for a
            session whose client is away (the message is queued, not sent:
            nothing is encoded).
        qos: the QoS it is delivered at.
        retain: the RETAIN flag it is delivered with.
        ids: the subscriber's Subscription Identifiers that matched.
        expires_at: when the message expires, if it does.
        now: the time, for the Message Expiry Interval left [MQTT-3.3.2-6].

    Returns:
        ``(publish, encoded, offset)``: the packet (packet identifier 1 at
        QoS 1/2, to be replaced), its bytes, and where its packet
        identifier sits in them (0 at QoS 0).
    """
    props = packet.properties
    if version is None or version is V5:
        if (
            props.topic_alias is not None
            or ids
            or props.subscription_identifiers
            or props.message_expiry_interval is not None
        ):
            # The subscriber's own identifiers, never the publisher's (which a
            # client may not send [MQTT-3.3.4-6]; Broker.publish could pass some).
            props = replace(
                props,
                topic_alias=None,
                subscription_identifiers=ids,
                message_expiry_interval=remaining_expiry_s(expires_at, now),
            )
    elif props:
        props = NO_PROPERTIES
    if (
        qos == packet.qos
        and retain == packet.retain
        and not packet.dup
        and props is packet.properties
    ):
        # The common case: forwarded as received. Reuse the packet; only its
        # packet identifier will differ per subscriber.
        publish = packet
    else:
        # application_message(...), without Publish's checks: the QoS came
        # from a valid packet.
        pid = None if qos == 0 else 1
        publish = Publish.unchecked(
            packet.topic, packet.payload, _QOS_LEVELS[qos], retain, False, pid, props
        )
    if version is None:
        return publish, b"", 0
    encoded = encode(publish, version)
    return publish, encoded, publish_packet_id_offset(encoded) if qos else 0
