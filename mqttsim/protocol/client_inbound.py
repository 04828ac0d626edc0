"""The client's receiving flow: the server's publications, and the acknowledgements we owe.

Theory of operation
-------------------
:class:`InboundFlow` is the half of :class:`~.client.ClientConnection` that
receives application messages. It answers each PUBLISH (PUBACK for QoS 1,
PUBREC for QoS 2), holds the server to our Receive Maximum, resolves the
server's Topic Aliases, and hands each message to the application as one
``MessageReceived``: QoS 0 and 1 at once; QoS 2 exactly once however often
its PUBLISH is repeated before the PUBREL [MQTT-4.3.3-10], either

* on its PUBLISH (``QoS2Handover.ON_PUBLISH``, Method B of §4.3.3): the
  identifier waits in ``session.inbound_qos2`` for the PUBREL; or
* on its PUBREL (``QoS2Handover.ON_PUBREL``, Method A, as paho-mqtt 2.x's
  ``_handle_pubrel`` does): the message waits too, in ``session.held_qos2``,
  so that a resumed session still delivers it when the server sends the
  PUBREL again.

The acknowledgements go into the :class:`~.client_flows.OutboundFlow`'s
outbox, and the identifiers and held messages live in its session.

Normative statement IDs are those of MQTT 5.0.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from .client_flows import OutboundFlow
from .enums import ReasonCode
from .errors import RemoteProtocolError, TopicNameInvalid
from .events import Event, MessageReceived
from .members import AT_LEAST_ONCE
from .packets import PubAck, PubComp, Publish, PubRec, PubRel
from .session import QueuedMessage
from .topics import validate_topic_name

__all__ = ["InboundFlow"]

_TOPIC_CACHE_LIMIT: Final = 1000  # topic names remembered as valid


class InboundFlow:
    """The server's publications to us, and the acknowledgements we owe.

    Args:
        out: where acknowledgements are queued; its session holds the QoS 2
            identifiers not yet released (and the messages held for them).
        receive_maximum: the unreleased QoS 2 messages we accept, or
            ``None`` for no limit (MQTT 3.1.1 has no Receive Maximum).
        topic_alias_maximum: the highest Topic Alias the server may use.
        at_pubrel: hand QoS 2 messages on at their PUBREL (Method A of
            §4.3.3), not at their PUBLISH (Method B).
    """

    def __init__(
        self,
        *,
        out: OutboundFlow,
        receive_maximum: int | None,
        topic_alias_maximum: int,
        at_pubrel: bool = False,
    ) -> None:
        self._out = out
        self._receive_maximum = receive_maximum
        self._alias_maximum = topic_alias_maximum
        self._at_pubrel = at_pubrel
        self._aliases: dict[int, str] = {}
        self._valid_topics: set[str] = set()  # topic names already validated

    def end_connection(self) -> None:
        """The server's Topic Aliases die with the connection [MQTT-3.3.2-7]."""
        self._aliases.clear()

    def on_publish(self, packet: Publish, events: list[Event]) -> None:
        """Deliver ``packet`` (once, for QoS 2; or hold it for its PUBREL)
        and queue its acknowledgement.

        QoS 1 is acknowledged at once, so only unreleased QoS 2 messages
        count against our Receive Maximum, held ones included.

        Raises:
            RemoteProtocolError: see :meth:`resolve_alias`; more unreleased
                QoS 2 messages than our Receive Maximum [MQTT-3.3.4-9] (0x93).
        """
        message = self.resolve_alias(packet)
        pid = packet.packet_id
        if pid is None:  # QoS 0
            events.append(MessageReceived(publish=message))
        elif packet.qos == AT_LEAST_ONCE:
            events.append(MessageReceived(publish=message))
            self._out.queue_ack(PubAck, pid)  # [MQTT-4.3.2-4]
        else:
            session = self._out.session
            inbound = session.inbound_qos2
            if pid in inbound:
                # A repeat before PUBREL: PUBREC again, no second delivery [MQTT-4.3.3-10].
                self._out.stats.duplicates_received += 1
            else:
                limit = self._receive_maximum
                if limit is not None and len(inbound) >= limit:
                    raise RemoteProtocolError(
                        f"the server sent more than our Receive Maximum of {limit} unreleased"
                        " QoS 2 messages [MQTT-3.3.4-9]",
                        ReasonCode.RECEIVE_MAXIMUM_EXCEEDED,
                    )
                inbound.add(pid)
                if self._at_pubrel:
                    session.held_qos2[pid] = QueuedMessage(publish=message)  # Method A
                else:
                    events.append(MessageReceived(publish=message))  # Method B
            self._out.queue_ack(PubRec, pid)  # [MQTT-4.3.3-8]

    def on_pubrel(self, packet: PubRel, events: list[Event]) -> None:
        """Deliver the message held for this PUBREL, if any; answer PUBCOMP
        and forget the identifier [MQTT-4.3.3-11]: a PUBLISH reusing it is a
        new message [MQTT-4.3.3-12]. An identifier we do not hold is answered
        0x92 on MQTT 5 (§3.7.2.1), plainly on 3.1.1."""
        pid = packet.packet_id
        session = self._out.session
        if pid in session.inbound_qos2:
            session.inbound_qos2.discard(pid)
            held = session.held_qos2.pop(pid, None)
            if held is not None:
                events.append(MessageReceived(publish=held.publish))
            self._out.queue_ack(PubComp, pid)
        elif self._receive_maximum is not None:  # MQTT 5
            code = ReasonCode.PACKET_IDENTIFIER_NOT_FOUND
            self._out.queue(PubComp(packet_id=pid, reason_code=code))
        else:
            self._out.queue(PubComp(packet_id=pid))

    def resolve_alias(self, packet: Publish) -> Publish:
        """Return ``packet`` with its full topic name and no Topic Alias.

        Raises:
            RemoteProtocolError: an invalid topic name (0x90); an alias of 0
                or over our Topic Alias Maximum (0x94) [MQTT-3.3.2-8]
                [MQTT-3.3.2-10]; an empty topic with no alias, or with an
                alias not mapped on this connection (0x82) (§3.3.2.3.4).
        """
        alias = packet.properties.topic_alias
        topic = packet.topic
        if topic and topic not in self._valid_topics:  # each topic is checked once
            try:
                validate_topic_name(topic)
            except TopicNameInvalid as exc:
                raise RemoteProtocolError(exc.detail, ReasonCode.TOPIC_NAME_INVALID) from None
            if len(self._valid_topics) >= _TOPIC_CACHE_LIMIT:
                self._valid_topics.clear()
            self._valid_topics.add(topic)
        if alias is None:
            if not topic:
                raise RemoteProtocolError(
                    "PUBLISH has an empty topic name and no Topic Alias (§3.3.2.1)"
                )
            return packet
        if alias == 0 or alias > self._alias_maximum:
            raise RemoteProtocolError(
                f"Topic Alias {alias} is outside 1..{self._alias_maximum}, our Topic Alias"
                " Maximum [MQTT-3.3.2-8] [MQTT-3.3.2-10]",
                ReasonCode.TOPIC_ALIAS_INVALID,
            )
        if topic:
            self._aliases[alias] = topic
        elif (known := self._aliases.get(alias)) is not None:
            topic = known
        else:
            raise RemoteProtocolError(
                f"PUBLISH has an empty topic and Topic Alias {alias}, which has no mapping"
                " on this connection (§3.3.2.3.4)"
            )
        props = replace(packet.properties, topic_alias=None)
        return replace(packet, topic=topic, properties=props)
