"""The client's sending flow, from PUBLISH to the last ack, and its requests.

Theory of operation
-------------------
:class:`OutboundFlow` is the half of :class:`~.client.ClientConnection` that
sends. It holds the outbox (packets encoded and waiting for
``data_to_send``), the limits the server announced in CONNACK, and our Topic
Alias mapping. The messages themselves live in the :class:`~.session.Session`,
so they survive the network connection:

* ``session.queued``: published, not yet sent, oldest first. A message waits
  here while we are not connected or the server's Receive Maximum window is
  full, and keeps the packet identifier ``publish()`` returned.
* ``session.outbound``: sent, awaiting PUBACK, PUBREC or PUBCOMP, in the
  order first sent. Its size is the number of QoS 1/2 PUBLISHes the server
  has not finished with, which Receive Maximum bounds [MQTT-3.3.4-7].

A message moves queued -> outbound when a slot is free, and leaves outbound
on PUBACK, on PUBCOMP, or on a PUBREC with a failure code (which ends the
exchange [MQTT-4.3.3-4]). Every freed slot lets the queue move on. When a
connection resumes a session the outbound messages are sent again in order;
when the server has no session (we asked for Clean Start, or it lost ours)
they start over as new messages, so that no awaited publication is left
without an answer. QoS 0 messages wait in the queue only for the connection
they were published on (or the one being opened); when it ends first, each
is dropped. Nothing is given up without a ``PublishDropped`` event.

The receiving half, :class:`~.client_inbound.InboundFlow`, has a module of
its own; it queues its acknowledgements here.

Normative statement IDs are those of MQTT 5.0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from .codec import encode, encode_success_ack
from .enums import PacketType, ProtocolVersion, QoS, ReasonCode
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .events import (
    Event,
    PublishAcked,
    PublishCompleted,
    PublishDropped,
    PublishReceived,
)
from .members import AT_LEAST_ONCE, is_error
from .packets import Packet, PubAck, PubComp, Publish, PubRec, PubRel, Subscription
from .properties import Properties
from .session import InflightMessage, OutboundState, QueuedMessage, Session
from .tables import CLIENT_TRANSITIONS, ClientState
from .timers import remaining_expiry_s
from .topics import parse_shared, validate_topic_filter

__all__ = [
    "DEFAULT_MAXIMUM_PACKET_SIZE",
    "ClientStats",
    "ServerLimits",
    "OutboundFlow",
    "PendingRequests",
    "checked_qos",
    "checked_subscriptions",
    "merge_connect_properties",
    "unexpected_packet",
]


@dataclass(slots=True)
class ClientStats:
    """Counters a driver, a lesson or a benchmark can read at any time."""

    packets_sent: int = 0
    bytes_sent: int = 0
    packets_received: int = 0
    bytes_received: int = 0
    pings_sent: int = 0
    #: PUBLISH packets sent again with DUP=1 on session resume.
    publishes_resent: int = 0
    #: QoS 2 PUBLISH repeats answered with PUBREC but not delivered again.
    duplicates_received: int = 0
    #: Acknowledgements for packet identifiers we were not waiting on.
    unexpected_acks: int = 0
    #: QoS 0 messages published while CLOSED, refused at once (paho-mqtt
    #: refuses them too, with MQTT_ERR_NO_CONN).
    dropped_qos0_while_disconnected: int = 0
    #: Queued or in-flight messages given up, each reported by PublishDropped.
    publishes_dropped: int = 0
    #: In-flight messages sent again as new ones because the server had no
    #: session for them (Clean Start, or Session Present 0).
    publishes_restarted: int = 0
    #: QoS 2 messages received and held for a PUBREL (QoS2Handover.ON_PUBREL)
    #: that the server's lost session will never send: never delivered.
    held_qos2_discarded: int = 0


#: The largest packet a client accepts from the server unless told otherwise
#: (the broker's default too). The protocol allows 268,435,460 bytes; a
#: client that accepted that by default could be made to buffer 256 MB.
DEFAULT_MAXIMUM_PACKET_SIZE: Final = 1024 * 1024
# 268,435,455 bytes of Remaining Length behind a fixed header of at most 5 (§2.1.4).
_PROTOCOL_MAXIMUM_PACKET_SIZE: Final = 268_435_460


def merge_connect_properties(
    version: ProtocolVersion,
    given: Properties,
    *,
    session_expiry_interval_s: int,
    receive_maximum: int,
    maximum_packet_size: int | None,
    topic_alias_maximum: int,
) -> tuple[Properties, int]:
    """The CONNECT properties: ``given``, with the client's keyword options over it.

    Returns:
        The properties, and the Maximum Packet Size we enforce: the one
        given, or :data:`DEFAULT_MAXIMUM_PACKET_SIZE`. MQTT 5 announces it
        (§3.1.2.11.4); MQTT 3.1.1 cannot, and enforces it all the same.

    Raises:
        LocalProtocolError: an option out of range, or MQTT 5 properties on
            an MQTT 3.1.1 connection.
    """
    v5 = version is ProtocolVersion.V5
    max_size = given.maximum_packet_size if maximum_packet_size is None else maximum_packet_size
    if max_size is None:
        max_size = DEFAULT_MAXIMUM_PACKET_SIZE
    props = replace(
        given,
        session_expiry_interval=session_expiry_interval_s or given.session_expiry_interval,
        receive_maximum=given.receive_maximum if receive_maximum == 65535 else receive_maximum,
        maximum_packet_size=max_size if v5 else given.maximum_packet_size,
        topic_alias_maximum=topic_alias_maximum or given.topic_alias_maximum,
    )
    if props and not v5:
        raise LocalProtocolError(f"MQTT {version.label} CONNECT carries no properties: {props}")
    if props.receive_maximum is not None and not 1 <= props.receive_maximum <= 0xFFFF:
        raise LocalProtocolError("Receive Maximum must be 1..65535 (§3.1.2.11.3)")
    if not 0 < max_size <= _PROTOCOL_MAXIMUM_PACKET_SIZE:
        raise LocalProtocolError(
            f"Maximum Packet Size must be 1..{_PROTOCOL_MAXIMUM_PACKET_SIZE} (§3.1.2.11.4)"
        )
    if not 0 <= (props.topic_alias_maximum or 0) <= 0xFFFF:
        raise LocalProtocolError("Topic Alias Maximum must be 0..65535 (§3.1.2.11.5)")
    return props, max_size


# A dict lookup instead of calling the enum (QoS is an IntEnum, so 1 and
# QoS.AT_LEAST_ONCE are the same key): publish() does it for every message.
_QOS_LEVELS: Final = {int(q): q for q in QoS}


def checked_qos(value: QoS | int) -> QoS:
    """``value`` as a QoS.

    Raises:
        LocalProtocolError: not 0, 1 or 2 [MQTT-3.3.1-4].
    """
    try:
        return _QOS_LEVELS[value]
    except (KeyError, TypeError):
        raise LocalProtocolError(f"QoS {value!r} is not 0, 1 or 2 [MQTT-3.3.1-4]") from None


def checked_subscriptions(
    subscriptions: str | Subscription | Sequence[Subscription | tuple[str, int]],
    qos: QoS | int,
    limits: ServerLimits,
    *,
    v5: bool,
) -> tuple[Subscription, ...]:
    """The subscriptions of a SUBSCRIBE, from what ``ClientConnection.subscribe`` takes.

    Raises:
        TopicFilterInvalid: a filter breaks §4.7, or uses a wildcard or a
            shared subscription the server said it does not support.
        LocalProtocolError: No Local on a shared subscription
            [MQTT-3.8.3-4]; MQTT 5 options on 3.1.1.
    """
    if isinstance(subscriptions, str):
        items = [Subscription(topic_filter=subscriptions, qos=checked_qos(qos))]
    elif isinstance(subscriptions, Subscription):
        items = [subscriptions]
    else:
        items = [
            s
            if isinstance(s, Subscription)
            else Subscription(topic_filter=s[0], qos=checked_qos(s[1]))
            for s in subscriptions
        ]
    for sub in items:
        validate_topic_filter(
            sub.topic_filter,
            shared_allowed=limits.shared_subscription_available,
            wildcards_allowed=limits.wildcard_subscription_available,
        )
        if sub.no_local and parse_shared(sub.topic_filter)[0] is not None:
            raise LocalProtocolError(
                f"No Local on shared subscription {sub.topic_filter!r} [MQTT-3.8.3-4]"
            )
        if not v5 and (sub.no_local or sub.retain_as_published or sub.retain_handling):
            raise LocalProtocolError(
                "No Local, Retain As Published and Retain Handling are MQTT 5 only"
            )
    return tuple(items)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerLimits:
    """What the server's CONNACK allows this connection (§3.2.2.3).

    The defaults are the specification's values for an absent property;
    MQTT 3.1.1 servers announce nothing, so the defaults always hold there.
    """

    receive_maximum: int = 65535
    maximum_packet_size: int | None = None
    topic_alias_maximum: int = 0
    maximum_qos: QoS = QoS.EXACTLY_ONCE
    retain_available: bool = True
    wildcard_subscription_available: bool = True
    subscription_identifier_available: bool = True
    shared_subscription_available: bool = True

    @classmethod
    def from_connack(cls, props: Properties) -> ServerLimits:
        """Read the limits from CONNACK properties.

        Raises:
            RemoteProtocolError: a Receive Maximum or Maximum Packet Size of 0,
                or a Maximum QoS other than 0 or 1 (§3.2.2.3.3-6).
        """
        if props.receive_maximum == 0 or props.maximum_packet_size == 0:
            raise RemoteProtocolError(
                "CONNACK has a Receive Maximum or Maximum Packet Size of 0 (§3.2.2.3.3, §3.2.2.3.6)"
            )
        if props.maximum_qos not in (None, 0, 1):
            raise RemoteProtocolError(f"CONNACK has Maximum QoS {props.maximum_qos} (§3.2.2.3.4)")

        def available(flag: int | None) -> bool:
            return flag is None or flag != 0

        return cls(
            receive_maximum=props.receive_maximum or 65535,
            maximum_packet_size=props.maximum_packet_size,
            topic_alias_maximum=props.topic_alias_maximum or 0,
            maximum_qos=QoS(2 if props.maximum_qos is None else props.maximum_qos),
            retain_available=available(props.retain_available),
            wildcard_subscription_available=available(props.wildcard_subscription_available),
            subscription_identifier_available=available(props.subscription_identifier_available),
            shared_subscription_available=available(props.shared_subscription_available),
        )


class OutboundFlow:
    """Our publications in flight, the outbox and the server's limits.

    Args:
        session: where queued and in-flight messages live.
        version: the protocol version packets are encoded for.
        use_topic_aliases: replace repeated topics with Topic Aliases when
            the server allows them.
        stats: the connection's counters.
        trace: the connection keeps a trace, which needs every packet as an object.
        max_inflight: our own cap on QoS 1/2 PUBLISHes in flight, under the
            server's Receive Maximum.
    """

    def __init__(
        self,
        *,
        session: Session,
        version: ProtocolVersion,
        use_topic_aliases: bool,
        stats: ClientStats,
        trace: bool = False,
        max_inflight: int = 65535,
    ) -> None:
        self.session = session
        self.version = version
        self.stats = stats
        self.limits = ServerLimits()
        self._max_inflight = max_inflight
        #: QoS 1/2 PUBLISHes we may have in flight: the server's Receive
        #: Maximum [MQTT-3.3.4-7], or our own cap if lower.
        self.window = min(self.limits.receive_maximum, max_inflight)
        #: Packets with their encoding, waiting for ``data_to_send``; the
        #: packet is None for an acknowledgement written directly (queue_ack).
        self.outbox: list[tuple[Packet | None, bytes]] = []
        self._trace = trace
        self._v5 = version is ProtocolVersion.V5
        self._use_topic_aliases = use_topic_aliases
        self._aliases: dict[str, int] = {}

    # -- connection life ---------------------------------------------------------

    def new_connection(self) -> None:
        """A new network connection: no limits known, nothing to send, no aliases."""
        self.set_limits(ServerLimits())
        self.outbox.clear()
        self._aliases.clear()

    def set_limits(self, limits: ServerLimits) -> None:
        """The limits of this connection's CONNACK (or the defaults before one)."""
        self.limits = limits
        self.window = min(limits.receive_maximum, self._max_inflight)

    def end_connection(self) -> None:
        """Topic Alias mappings die with the connection [MQTT-3.3.2-7]."""
        self._aliases.clear()

    def resume(self, events: list[Event]) -> None:
        """Session Present 1: resend unfinished exchanges in their original
        order [MQTT-4.4.0-1] [MQTT-4.6.0-1], the PUBLISH with DUP=1
        [MQTT-3.3.1-1], or the PUBREL where PUBREC already came. The window
        does not hold these back: they are in flight already."""
        outbound = self.session.outbound
        for pid, message in list(outbound.items()):
            if message.state is OutboundState.AWAITING_PUBCOMP:
                self.queue(PubRel(packet_id=pid))
                continue
            try:
                self.send_publish(replace(message.publish, dup=True))
            except LocalProtocolError as exc:  # the new Maximum Packet Size is smaller
                del outbound[pid]
                self._drop(message.publish, exc.detail, events)
                continue
            self.stats.publishes_resent += 1

    def restart(self) -> None:
        """The server has no session for us: we connect with Clean Start, or
        it answered Session Present 0 to our resuming (§3.2.2.2). Its exchanges
        towards us are over [MQTT-3.1.2-4] [MQTT-3.2.2-5] (a message held for
        its PUBREL is lost, counted in ``stats.held_qos2_discarded``); ours
        are not given up.

        Every unfinished message goes back to the head of the queue, in order,
        to be sent as a new message (DUP=0) under the packet identifier the
        caller holds, which the server's new session has never seen; so an
        awaited publication still gets its acknowledgement. This is what
        paho-mqtt does, and it has a price: a QoS 2 message may be delivered
        twice, when the lost session had handed it on already. A message past
        PUBREC is sent again too: a server that hands QoS 2 on at PUBREL
        (Method A of MQTT 5 §4.3.3, as mosquitto does) lost it with the
        session. Exactly once needs a kept session (Clean Start 0 and a
        Session Expiry Interval).
        """
        session = self.session
        session.inbound_qos2.clear()
        if session.held_qos2:
            # Acknowledged with PUBREC, never released: lost with the server's
            # session (paho-mqtt drops them too), and counted.
            self.stats.held_qos2_discarded += len(session.held_qos2)
            session.held_qos2.clear()
        if not session.outbound:
            return
        restart = [
            QueuedMessage(
                publish=replace(message.publish, dup=False), expires_at=message.expires_at
            )
            for message in session.outbound.values()
        ]
        self.stats.publishes_restarted += len(restart)
        session.outbound.clear()
        session.queued.extendleft(reversed(restart))

    def drop_waiting_qos0(self, reason: str, events: list[Event]) -> None:
        """The network connection ended: the QoS 0 messages still queued for
        it are dropped, each with a ``PublishDropped``. QoS 0 is never sent
        again (§4.3.1), so holding it for a later connection would deliver it
        late or never; the application hears of it now instead."""
        queue = self.session.queued
        kept = [item for item in queue if item.publish.packet_id is not None]
        if len(kept) == len(queue):
            return
        for item in queue:
            if item.publish.packet_id is None:
                self._drop(item.publish, reason, events)
        queue.clear()
        queue.extend(kept)

    # -- sending -----------------------------------------------------------------

    def queue(self, packet: Packet) -> None:
        """Encode ``packet`` into the outbox (checked against Maximum Packet Size)."""
        self.outbox.append((packet, self.encode_checked(packet)))

    def queue_ack(self, kind: type[PubAck | PubRec | PubRel | PubComp], packet_id: int) -> None:
        """Queue a success acknowledgement without properties.

        That is the same four bytes in both versions (MQTT 5 §3.4.2.1 lets
        the reason code go when it is 0x00), so it is written directly, with
        no packet object (unless a trace wants one, or the server's Maximum
        Packet Size is under four bytes): acknowledgements are half the
        packets of a QoS 1/2 exchange.
        """
        limit = self.limits.maximum_packet_size
        if self._trace or (limit is not None and limit < 4):
            self.queue(kind(packet_id=packet_id))
            return
        self.outbox.append((None, encode_success_ack(kind, packet_id)))

    def encode_checked(self, packet: Packet) -> bytes:
        """Encode ``packet``; refuse it if the server could not take it.

        Raises:
            LocalProtocolError: over the server's Maximum Packet Size
                [MQTT-3.2.2-15] (reason code 0x95).
        """
        data = encode(packet, self.version)
        limit = self.limits.maximum_packet_size
        if limit is not None and len(data) > limit:
            raise LocalProtocolError(
                f"{packet.packet_type.name} of {len(data)} bytes is over the server's Maximum"
                f" Packet Size of {limit} [MQTT-3.2.2-15]",
                ReasonCode.PACKET_TOO_LARGE,
            )
        return data

    def refusal(self, qos: QoS, retain: bool) -> LocalProtocolError | None:
        """Why the server's CONNACK forbids this publication, if it does."""
        if qos > self.limits.maximum_qos:
            return LocalProtocolError(
                f"QoS {int(qos)} is above the server's Maximum QoS"
                f" {int(self.limits.maximum_qos)} [MQTT-3.2.2-11]",
                ReasonCode.QOS_NOT_SUPPORTED,
            )
        if retain and not self.limits.retain_available:
            return LocalProtocolError(
                "the server does not support retained messages [MQTT-3.2.2-14]",
                ReasonCode.RETAIN_NOT_SUPPORTED,
            )
        return None

    def window_open(self) -> bool:
        """Room for one more QoS 1/2 PUBLISH in the window [MQTT-3.3.4-7]."""
        return len(self.session.outbound) < self.window

    def submit(
        self, message: Publish, expires_at: float | None, *, connected: bool, hold: bool = False
    ) -> None:
        """Send a new message now, or queue it behind those already waiting.

        QoS 0 is only submitted while connected, and never waits for the
        window: a sender with no quota left may still send QoS 0 (§4.9).
        With ``hold`` the message waits in the queue whatever its QoS: the
        link is not known to be alive, and is not to be written into.

        Raises:
            LocalProtocolError: the server's Maximum Packet Size is known and
                the message is over it. A QoS 1/2 message's identifier is
                released first.
        """
        pid = message.packet_id
        session = self.session
        try:
            if (
                hold
                or pid is not None
                and (
                    not connected
                    or session.queued
                    or len(session.outbound) >= self.window  # not window_open()
                )
            ):
                if connected:  # the size limit is known: refuse now, not later
                    self.encode_checked(message)
                session.queued.append(QueuedMessage(publish=message, expires_at=expires_at))
                return
            self.send_publish(message)
        except ProtocolError:
            if pid is not None:
                session.packet_ids.release(pid)
            raise
        if pid is not None:
            session.outbound[pid] = InflightMessage(
                publish=message, state=_awaiting(message.qos), expires_at=expires_at
            )

    def send_publish(self, message: Publish) -> None:
        """Put ``message`` in the outbox, with a Topic Alias where allowed.

        The first PUBLISH on a topic carries the topic and a new alias, later
        ones an empty topic and the alias; the alias never exceeds the
        server's Topic Alias Maximum [MQTT-3.3.2-9] and is never 0
        [MQTT-3.3.2-8]. The session keeps the full topic, so a resend on
        the next connection does not depend on this one's aliases.
        """
        wire = message
        new_alias = None
        if self._use_topic_aliases and self.limits.topic_alias_maximum:
            alias = self._aliases.get(message.topic)
            if alias is not None:
                wire = replace(message, topic="", properties=_with_alias(message, alias))
            elif len(self._aliases) < self.limits.topic_alias_maximum:
                new_alias = len(self._aliases) + 1
                wire = replace(message, properties=_with_alias(message, new_alias))
        data = self.encode_checked(wire)
        if new_alias is not None:
            self._aliases[message.topic] = new_alias
        self.outbox.append((wire, data))

    def drain(self, now: float, events: list[Event]) -> None:
        """Send queued messages, oldest first, while the window has room.

        Called only while connected. QoS 0 messages queued before CONNACK
        leave in their place in line. A message the server's limits forbid,
        or whose Message Expiry Interval ran out while it waited, is dropped
        with an event; one that waited leaves with the interval it has left
        (§3.3.2.3.3).
        """
        queue = self.session.queued
        while queue:
            item = queue[0]
            message = item.publish
            if message.qos and not self.window_open():
                break  # [MQTT-4.9.0-2]
            queue.popleft()
            problem = self.refusal(message.qos, message.retain)
            reason = None if problem is None else problem.detail
            if item.expires_at is not None and item.expires_at <= now:
                reason = "its Message Expiry Interval ran out while it was queued (§3.3.2.3.3)"
            if reason is None:
                message = _with_remaining_expiry(message, item.expires_at, now)
                try:
                    self.send_publish(message)
                except LocalProtocolError as exc:
                    reason = exc.detail
            if reason is not None:
                self._drop(message, reason, events)
            elif message.packet_id is not None:
                self.session.outbound[message.packet_id] = InflightMessage(
                    publish=message, state=_awaiting(message.qos), expires_at=item.expires_at
                )

    # -- acknowledgements --------------------------------------------------------------

    def on_puback(self, packet: PubAck, now: float, events: list[Event]) -> None:
        """PUBACK ends a QoS 1 exchange, whatever its reason code (§4.3.2)."""
        if self._holds(packet.packet_id, OutboundState.AWAITING_PUBACK):
            self._finish(packet.packet_id)
            events.append(
                PublishAcked(
                    packet_id=packet.packet_id,
                    reason_code=packet.reason_code,
                    properties=packet.properties,
                )
            )
            self.drain(now, events)

    def on_pubrec(self, packet: PubRec, now: float, events: list[Event]) -> None:
        """PUBREC: answer PUBREL [MQTT-4.3.3-4], unless it refused the message."""
        pid = packet.packet_id
        message = self.session.outbound.get(pid)
        if message is None or message.state is OutboundState.AWAITING_PUBACK:
            # Let the server finish an exchange we do not hold (§4.3.3).
            self.stats.unexpected_acks += 1
            not_found = ReasonCode.PACKET_IDENTIFIER_NOT_FOUND if self._v5 else ReasonCode.SUCCESS
            self.queue(PubRel(packet_id=pid, reason_code=not_found))
            return
        if message.state is OutboundState.AWAITING_PUBCOMP:
            self.queue_ack(PubRel, pid)  # a repeated PUBREC: PUBREL again
            return
        events.append(
            PublishReceived(
                packet_id=pid, reason_code=packet.reason_code, properties=packet.properties
            )
        )
        if is_error(packet.reason_code):
            # The exchange ends without PUBREL [MQTT-4.3.3-4], and its slot in
            # the server's window is free again (§4.9).
            self._finish(pid)
            self.drain(now, events)
            return
        message.state = OutboundState.AWAITING_PUBCOMP
        self.queue_ack(PubRel, pid)

    def on_pubcomp(self, packet: PubComp, now: float, events: list[Event]) -> None:
        """PUBCOMP ends a QoS 2 exchange; the identifier is free again."""
        if self._holds(packet.packet_id, OutboundState.AWAITING_PUBCOMP):
            self._finish(packet.packet_id)
            events.append(
                PublishCompleted(
                    packet_id=packet.packet_id,
                    reason_code=packet.reason_code,
                    properties=packet.properties,
                )
            )
            self.drain(now, events)

    def _holds(self, pid: int, state: OutboundState) -> bool:
        # Stray acknowledgements are counted, never fatal: a server that lost
        # track is better answered by patience than by a closed connection.
        message = self.session.outbound.get(pid)
        if message is not None and message.state is state:
            return True
        self.stats.unexpected_acks += 1
        return False

    def _finish(self, pid: int) -> None:
        del self.session.outbound[pid]
        self.session.packet_ids.release(pid)

    def _drop(self, message: Publish, reason: str, events: list[Event]) -> None:
        if message.packet_id is not None:
            self.session.packet_ids.release(message.packet_id)
        self.stats.publishes_dropped += 1
        events.append(
            PublishDropped(packet_id=message.packet_id, topic=message.topic, reason=reason)
        )


def unexpected_packet(state: ClientState, packet_type: PacketType) -> str:
    """Why a client in ``state`` refuses a ``packet_type`` from the server."""
    allowed = ", ".join(t.name for (s, t) in CLIENT_TRANSITIONS if s is state)
    if state is ClientState.CONNECTING:
        rule = "the server sends CONNACK before anything but AUTH [MQTT-3.2.0-1]"
    elif packet_type is PacketType.CONNACK:
        rule = "a server sends one CONNACK per connection [MQTT-3.2.0-2]"
    else:
        rule = "a server never sends it (§2.1.2)"
    return (
        f"received {packet_type.name} while {state.name}, where a client accepts"
        f" only {allowed}: {rule}"
    )


class PendingRequests:
    """SUBSCRIBE or UNSUBSCRIBE requests awaiting their answer, by packet identifier.

    They live with the network connection: the specification resends only
    PUBLISH and PUBREL, so a request unanswered when it ends is abandoned,
    and drivers fail its waiter on ``Disconnected``.

    Args:
        answer: the packet that answers them, "SUBACK" or "UNSUBACK".
        session: whose packet identifiers they hold.
        stats: where stray answers are counted.
    """

    def __init__(self, answer: str, session: Session, stats: ClientStats) -> None:
        self._answer = answer
        self._session = session
        self._stats = stats
        self._filters: dict[int, int] = {}  # packet id -> number of topic filters

    def add(self, pid: int, filters: int) -> None:
        """A request with ``filters`` topic filters went out as ``pid``."""
        self._filters[pid] = filters

    def answered(self, pid: int, codes: int | None) -> bool:
        """Match an answer with ``codes`` reason codes (None: 3.1.1 UNSUBACK
        has none) to its request, freeing the identifier; a stray one is
        counted and ignored (False).

        Raises:
            RemoteProtocolError: not one reason code per topic filter
                [MQTT-3.9.3-1] [MQTT-3.11.3-1].
        """
        expected = self._filters.pop(pid, None)
        if expected is None:
            self._stats.unexpected_acks += 1
            return False
        self._session.packet_ids.release(pid)
        if codes is not None and codes != expected:
            raise RemoteProtocolError(
                f"{self._answer} has {codes} reason codes for {expected} topic filters"
                " [MQTT-3.9.3-1] [MQTT-3.11.3-1]"
            )
        return True

    def abandon(self) -> None:
        """The network connection ended: forget every request, free their identifiers."""
        for pid in self._filters:
            self._session.packet_ids.release(pid)
        self._filters.clear()


def _awaiting(qos: QoS) -> OutboundState:
    if qos == AT_LEAST_ONCE:
        return OutboundState.AWAITING_PUBACK
    return OutboundState.AWAITING_PUBREC


def _with_alias(message: Publish, alias: int) -> Properties:
    return replace(message.properties, topic_alias=alias)


def _with_remaining_expiry(message: Publish, expires_at: float | None, now: float) -> Publish:
    remaining = remaining_expiry_s(expires_at, now)
    if remaining is None or remaining == message.properties.message_expiry_interval:
        return message
    props = replace(message.properties, message_expiry_interval=remaining)
    return replace(message, properties=props)
