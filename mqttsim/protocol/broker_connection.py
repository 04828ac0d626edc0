"""The broker's side of one network connection.

Theory of operation
-------------------
A :class:`BrokerConnection` is created by :meth:`Broker.connection_made` when a
transport opens, and lives until that transport closes. It starts in
``AWAITING_CONNECT``; the first packet must be CONNECT [MQTT-3.1.0-1]. Once
accepted it is ``CONNECTED`` and bound to a :class:`Session` that the broker
owns and that may outlive it. Any packet the table in :mod:`.tables` does not
allow, and any bytes the codec refuses, close the connection with the
matching reason code (MQTT 5: DISCONNECT first; 3.1.1: just close) and never
affect another connection.

The connection owns what is per-transport: the decoder, the outgoing bytes,
keep-alive, topic aliases, the client's limits (Receive Maximum, Maximum
Packet Size). Everything shared (sessions, subscriptions, retained messages,
wills, routing) is the :class:`Broker`'s.

Invariants:

* ``len(session.outbound) <= send_window`` — the client's Receive Maximum
  is never exceeded [MQTT-3.3.4-9]; the rest waits in ``session.queued``.
* Acknowledgements leave only after the broker's store has the state they
  acknowledge (``data_to_send`` flushes the store first).
* The outbox (what ``data_to_send`` has not yet taken) stops taking
  application messages once it holds ``BrokerConfig.max_outgoing_bytes`` or
  ``max_outgoing_messages``: a client that stops reading costs the broker a
  bounded amount of memory. Control packets are never held back.
* A packet type the state does not admit is refused from its fixed header,
  before its body is decoded (the decoder is given the table's row).
* A QoS 2 message from the client is routed once: on its PUBLISH (Method B
  of §4.3.3), or, with ``BrokerConfig.qos2_handover`` ``ON_PUBREL``, on its
  PUBREL (Method A). Then the PUBLISH is checked and answered PUBREC at once,
  and the message waits in ``session.held_qos2``, whose identifiers are
  always in ``session.inbound_qos2`` (so they count against Receive Maximum).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Final

from .codec import StreamDecoder, encode, encode_success_ack
from .enums import ProtocolVersion, QoS2Handover, ReasonCode
from .errors import ProtocolError, RemoteProtocolError
from .events import (
    ClientDisconnected,
    Disconnected,
    Event,
    PacketReceived,
    PacketSent,
    ProtocolViolation,
)
from .members import AT_LEAST_ONCE, EXACTLY_ONCE, SUCCESS, V5, is_error
from .packets import (
    PACKET_CLASSES,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    Subscribe,
    Unsubscribe,
    Will,
)
from .properties import NO_PROPERTIES
from .session import InflightMessage, OutboundState, Session
from .stats import DropReason
from .tables import BROKER_TRANSITIONS, BrokerState
from .timers import keep_alive_expiry, remaining_expiry_s

if TYPE_CHECKING:
    from .broker import Broker

__all__ = ["BrokerConnection"]

# What each state admits from the client, and where it leads (tables.py).
_ALLOWED: Final[dict[BrokerState, dict[type[Packet], BrokerState]]] = {
    state: {
        PACKET_CLASSES[ptype]: nxt for (s, ptype), nxt in BROKER_TRANSITIONS.items() if s is state
    }
    for state in BrokerState
}

# What a client may send once connected, checked by the decoder from each
# fixed header, so that a CONNACK or a SUBACK from a client is refused as the
# Protocol Error it is, not for a defect in a body never meant for us.
_FROM_CLIENT: Final = frozenset(
    ptype for (state, ptype) in BROKER_TRANSITIONS if state is BrokerState.CONNECTED
)


# The packet that moves an outbound exchange on from each state, for errors.
_ACK_AWAITED: Final = {
    OutboundState.AWAITING_PUBACK: "PUBACK",
    OutboundState.AWAITING_PUBREC: "PUBREC",
    OutboundState.AWAITING_PUBCOMP: "PUBCOMP",
}


class BrokerConnection:
    """One client's network connection, as the broker sees it.

    Drivers call :meth:`receive_data` with bytes from the transport,
    write :meth:`data_to_send`, call :meth:`handle_timeout` at
    :meth:`next_deadline`, and :meth:`connection_lost` when the transport
    closes. When :attr:`is_closed` is true and nothing is left to send,
    the driver closes the transport.
    """

    def __init__(self, broker: Broker, conn_id: int, *, now: float) -> None:
        self._broker = broker
        self.id = conn_id
        self.state = BrokerState.AWAITING_CONNECT
        self.version: ProtocolVersion | None = None
        self.client_id: str | None = None
        self.username: str | None = None
        self.session: Session | None = None
        self.will: Will | None = None
        self.keep_alive_s = 0
        self.send_window = broker.config.max_inflight
        self.client_max_packet_size: int | None = None
        self._decoder = StreamDecoder(
            max_packet_size=broker.config.max_packet_size,
            accepts=_FROM_CLIENT,
            context="from a client while connected",
        )
        self._out: list[bytes] = []
        # The outbox's bound (BrokerConfig.max_outgoing_*): a client that stops
        # reading must not make the broker buffer without limit.
        self._out_bytes = 0
        self._max_out_bytes = broker.config.max_outgoing_bytes
        self._max_out_messages = broker.config.max_outgoing_messages
        self._trace_out: list[Packet] = []
        self._opened_at = now
        self._last_received = now
        self._aliases: dict[int, str] = {}
        self.session_expiry_s = 0
        # Method A of §4.3.3: QoS 2 is routed at PUBREL (read once: an enum
        # member is slow to read from compiled code).
        self._hold_qos2 = broker.config.qos2_handover is QoS2Handover.ON_PUBREL

    def __repr__(self) -> str:
        return f"<BrokerConnection {self.id} {self.client_id!r} {self.state.name}>"

    # -- driver surface -------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self.state is BrokerState.CLOSED

    @property
    def outgoing_bytes(self) -> int:
        """Bytes queued for this client that :meth:`data_to_send` has not yet taken."""
        return self._out_bytes

    @property
    def outgoing_messages(self) -> int:
        """Packets queued for this client that :meth:`data_to_send` has not yet taken."""
        return len(self._out)

    def outbox_full(self) -> bool:
        """Whether the outbox has reached ``BrokerConfig.max_outgoing_bytes``
        or ``max_outgoing_messages``. Then QoS 0 messages for this client are
        dropped and QoS 1/2 ones wait in its session; control packets are
        still queued (an acknowledgement is never held back)."""
        return self._out_bytes >= self._max_out_bytes or len(self._out) >= self._max_out_messages

    def receive_data(self, data: bytes, *, now: float) -> list[Event]:
        """Feed bytes from the transport; returns what happened."""
        events: list[Event] = []
        if self.state is BrokerState.CLOSED or not data:
            return events
        self._broker.stats.bytes_received += len(data)
        try:
            packets = self._decoder.feed(data)
            for packet in packets:
                if self.is_closed:  # an earlier packet of this read closed us
                    break
                self._handle_packet(packet, now, events)
        except ProtocolError as exc:
            self._fail(exc, now, events)
        return events

    def data_to_send(self, *, now: float) -> bytes:
        """Bytes to write now. The store is flushed first, so no
        acknowledgement leaves before what it acknowledges is durable."""
        return b"".join(self.packets_to_send(now=now))

    def packets_to_send(self, *, now: float) -> list[bytes]:
        """:meth:`data_to_send`, one encoded packet per item: for a driver
        that writes each packet on its own, as some brokers do."""
        out = self._out
        if not out:
            return []
        self._broker.flush_store()
        packets = out[:]
        out.clear()
        self._out_bytes = 0
        self._broker.stats.bytes_sent += sum(len(p) for p in packets)
        if self._broker.trace:
            for packet in self._trace_out:
                self._broker.trace_log.append(
                    PacketSent(packet=packet, size=len(encode(packet, self._wire_version)), now=now)
                )
            self._trace_out.clear()
        session = self.session
        if session is not None and session.queued:
            # Messages held back while the outbox was full move up now.
            self.drain_queue(now)
        return packets

    def next_deadline(self) -> float | None:
        """Keep-alive expiry, or the CONNECT timeout before CONNECT."""
        if self.state is BrokerState.AWAITING_CONNECT:
            return self._opened_at + self._broker.config.connect_timeout_s
        if self.state is BrokerState.CONNECTED:
            return keep_alive_expiry(self._last_received, self.keep_alive_s)
        return None

    def handle_timeout(self, *, now: float) -> list[Event]:
        events: list[Event] = []
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return events
        if self.state is BrokerState.AWAITING_CONNECT:
            self._close(
                now,
                events,
                ReasonCode.MAXIMUM_CONNECT_TIME,
                "no CONNECT in time",
                send_disconnect=False,
                by_peer=False,
            )
        else:
            # 1.5 x Keep Alive without a packet: the client is gone [MQTT-3.1.2-24].
            self._close(
                now,
                events,
                ReasonCode.KEEP_ALIVE_TIMEOUT,
                f"nothing received for 1.5 x keep alive ({self.keep_alive_s} s)",
                send_disconnect=True,
                by_peer=False,
            )
        return events

    def connection_lost(self, *, now: float) -> list[Event]:
        """The transport closed without DISCONNECT: an abnormal close."""
        events: list[Event] = []
        if self.state is not BrokerState.CLOSED:
            self._close(
                now,
                events,
                ReasonCode.UNSPECIFIED_ERROR,
                "connection lost",
                send_disconnect=False,
                by_peer=True,
            )
        return events

    def close(self, reason_code: ReasonCode, detail: str, *, now: float) -> list[Event]:
        """Close from the broker's side (take-over, shutdown, administrative)."""
        events: list[Event] = []
        if self.state is not BrokerState.CLOSED:
            self._close(now, events, reason_code, detail, send_disconnect=True, by_peer=False)
        return events

    # -- sending --------------------------------------------------------------

    @property
    def _wire_version(self) -> ProtocolVersion:
        return self.version or ProtocolVersion.V311

    def send(self, packet: Packet) -> None:
        """Queue one packet (encoded here) for the transport."""
        self.send_bytes(encode(packet, self._wire_version), packet)

    def send_ack(
        self,
        kind: type[PubAck | PubRec | PubRel | PubComp],
        packet_id: int,
        reason: ReasonCode = ReasonCode.SUCCESS,
    ) -> None:
        """Queue a PUBACK, PUBREC, PUBREL or PUBCOMP.

        The usual case (success, no properties) is the same four bytes in
        both versions (MQTT 5 §3.4.2.1 lets the reason code go when it is
        0x00), so it is written directly: acknowledgements are half the
        packets of a QoS 1/2 broker, and a dataclass per ack showed up in
        the profile (bench/broker_throughput.py).
        """
        if reason or self._broker.trace:
            self.send(kind(packet_id=packet_id, reason_code=reason))
            return
        self.send_bytes(encode_success_ack(kind, packet_id), None)

    def send_bytes(self, data: bytes, packet: Packet | None) -> None:
        if not self._out:
            self._broker.mark_pending(self)
        self._out.append(data)
        self._out_bytes += len(data)
        self._broker.stats.messages_sent += 1
        if self._broker.trace and packet is not None:
            self._trace_out.append(packet)

    def resend_inflight(self, now: float) -> None:
        """On resume, resend unacknowledged messages in order, PUBLISH with
        DUP=1 and PUBREL as they were [MQTT-4.4.0-1][MQTT-4.6.0-1]."""
        session = self.session
        assert session is not None
        for pid, inflight in session.outbound.items():
            if inflight.state is OutboundState.AWAITING_PUBCOMP:
                self.send(PubRel(packet_id=pid))
                continue
            inflight.publish = replace(inflight.publish, dup=True)
            # Once sent, a message is delivered even if it expires meanwhile:
            # the exchange must complete (§4.3.3), so no expiry check.
            publish = self.for_wire(inflight.publish, None, now) or inflight.publish
            self.send(publish)
        self.drain_queue(now)

    def track_outbound(self, session: Session, publish: Publish, expires_at: float | None) -> None:
        """Record a QoS 1/2 PUBLISH just sent as in flight, awaiting the
        first acknowledgement of its QoS (PUBACK or PUBREC)."""
        assert publish.packet_id is not None
        state = OutboundState.AWAITING_PUBACK if publish.qos == 1 else OutboundState.AWAITING_PUBREC
        session.outbound[publish.packet_id] = InflightMessage(
            publish=publish, state=state, expires_at=expires_at
        )

    def drain_queue(self, now: float) -> None:
        """Send queued messages while the client's window has room."""
        session = self.session
        if session is None or self.state is not BrokerState.CONNECTED:
            return
        while (
            session.queued and len(session.outbound) < self.send_window and not self.outbox_full()
        ):
            queued = session.queued.popleft()
            publish = self.for_wire(queued.publish, queued.expires_at, now)
            if publish is None:
                self._broker.message_dropped(session, queued.publish, DropReason.EXPIRED)
                if queued.publish.packet_id is not None:
                    session.packet_ids.release(queued.publish.packet_id)
                continue
            if publish.qos > 0:
                self.track_outbound(session, publish, queued.expires_at)
            self._broker.stats.publish_sent += 1
            self.send(publish)
            self._broker.mark_dirty(session)

    def for_wire(self, publish: Publish, expires_at: float | None, now: float) -> Publish | None:
        """A stored PUBLISH as this client must receive it now, or ``None``
        if it has expired. The Message Expiry Interval sent on is what is
        left of it [MQTT-3.3.2-6]; 3.1.1 clients get no properties."""
        left = remaining_expiry_s(expires_at, now)
        if left is not None and left <= 0:
            return None
        if self.version is not V5:
            if publish.properties:
                publish = replace(publish, properties=NO_PROPERTIES)
        elif left is not None and publish.properties.message_expiry_interval != left:
            publish = replace(
                publish, properties=replace(publish.properties, message_expiry_interval=left)
            )
        return publish

    # -- receiving --------------------------------------------------------------

    def _handle_packet(self, packet: Packet, now: float, events: list[Event]) -> None:
        self._last_received = now
        self._broker.stats.messages_received += 1
        if self._broker.trace:
            self._broker.trace_log.append(
                PacketReceived(packet=packet, size=len(encode(packet, self._wire_version)), now=now)
            )
        # The table, keyed by packet class: the hot path avoids hashing enums.
        next_state = _ALLOWED[self.state].get(type(packet))
        if next_state is None:
            if self.state is BrokerState.AWAITING_CONNECT:
                raise RemoteProtocolError(
                    f"the first packet must be CONNECT, not {packet.packet_type.name}"
                    " [MQTT-3.1.0-1]"
                )
            raise RemoteProtocolError(
                f"{packet.packet_type.name} is not allowed from a client while {self.state.value}"
            )
        match packet:  # PUBLISH first: it is most of the traffic
            case Publish():
                self._on_publish(packet, now, events)
            case Connect():
                self._broker.accept_connect(self, packet, now, events)
            case PubAck(packet_id=pid):
                self._on_ack(pid, OutboundState.AWAITING_PUBACK, now)
            case PubRec(packet_id=pid, reason_code=code):
                self._on_pubrec(pid, code, now)
            case PubRel(packet_id=pid):
                self._on_pubrel(pid, now, events)
            case PubComp(packet_id=pid):
                self._on_ack(pid, OutboundState.AWAITING_PUBCOMP, now)
            case Subscribe():
                self._broker.subscribe(self, packet, now, events)
            case Unsubscribe():
                self._broker.unsubscribe(self, packet, events)
            case PingReq():
                self.send(PingResp())
            case Disconnect():
                self._on_disconnect(packet, now, events)

    def _on_publish(self, packet: Publish, now: float, events: list[Event]) -> None:
        broker = self._broker
        session = self.session
        assert session is not None and self.version is not None and self.client_id is not None
        broker.stats.publish_received += 1
        props = packet.properties
        if props is not NO_PROPERTIES:  # most messages carry none: one comparison
            if props.subscription_identifiers:
                raise RemoteProtocolError(
                    "a PUBLISH from a client carries a Subscription Identifier [MQTT-3.3.4-6]"
                )
            if props.topic_alias is not None:
                packet = self._resolve_alias(packet)
        broker.check_topic_name(packet.topic)
        if packet.qos > broker.config.maximum_qos:
            raise RemoteProtocolError(
                f"PUBLISH with QoS {int(packet.qos)} above the Maximum QoS"
                f" {int(broker.config.maximum_qos)} [MQTT-3.2.2-11]",
                ReasonCode.QOS_NOT_SUPPORTED,
            )
        if packet.retain and not broker.config.retain_available:
            raise RemoteProtocolError(
                "PUBLISH with RETAIN while Retain Available is 0 [MQTT-3.3.1-12]",
                ReasonCode.RETAIN_NOT_SUPPORTED,
            )
        if packet.qos == EXACTLY_ONCE:
            pid = packet.packet_id
            assert pid is not None
            if pid in session.inbound_qos2:
                # A resent QoS 2 PUBLISH: answered, never routed (nor held)
                # twice [MQTT-4.3.3-10].
                self.send_ack(PubRec, pid)
                return
            if len(session.inbound_qos2) >= broker.config.receive_maximum:
                raise RemoteProtocolError(
                    f"more than Receive Maximum ({broker.config.receive_maximum}) QoS 2"
                    " messages unacknowledged [MQTT-3.3.4-9]",
                    ReasonCode.RECEIVE_MAXIMUM_EXCEEDED,
                )
        if packet.topic.startswith("$") and not broker.config.dollar_topics_writable:
            reason = self._refuse_dollar_publish(packet.topic, events)
        else:
            hold = self._hold_qos2 and packet.qos == EXACTLY_ONCE
            reason = broker.publish_from_client(self, packet, now, events, hold=hold)
        if self.version is not V5 and is_error(reason):
            # 3.1.1 cannot say no: acknowledge and drop (logged as denied)
            # [MQTT-3.3.5-2].
            reason = SUCCESS
        if packet.qos == AT_LEAST_ONCE:
            assert packet.packet_id is not None
            self.send_ack(PubAck, packet.packet_id, self._v5(reason))
        elif packet.qos == EXACTLY_ONCE:
            assert packet.packet_id is not None
            if not is_error(reason):
                session.inbound_qos2.add(packet.packet_id)
                broker.mark_dirty(session)
            self.send_ack(PubRec, packet.packet_id, self._v5(reason))

    def _refuse_dollar_publish(self, topic: str, events: list[Event]) -> ReasonCode:
        """Topics starting with '$' are the server's (MQTT 5 §4.7.2): a client
        writing there could forge ``$SYS``. Refused as mosquitto does: 0x87
        in MQTT 5 (QoS 0: dropped and reported); 3.1.1 has no way to say no,
        so the connection closes, which [MQTT-3.3.5-2] allows."""
        assert self.client_id is not None
        self._broker.deny(events, self.client_id, self.username, "publish", topic)
        if self.version is not V5:
            raise RemoteProtocolError(
                f"PUBLISH to {topic!r}: topics starting with '$' are the server's [MQTT-3.3.5-2]",
                ReasonCode.NOT_AUTHORIZED,
            )
        return ReasonCode.NOT_AUTHORIZED

    def _resolve_alias(self, packet: Publish) -> Publish:
        alias = packet.properties.topic_alias
        if alias is None:
            return packet
        if alias > self._broker.config.topic_alias_maximum:
            raise RemoteProtocolError(
                f"Topic Alias {alias} above the Topic Alias Maximum"
                f" {self._broker.config.topic_alias_maximum} [MQTT-3.3.2-9]",
                ReasonCode.TOPIC_ALIAS_INVALID,
            )
        if packet.topic:
            self._aliases[alias] = packet.topic
            topic = packet.topic
        else:
            known = self._aliases.get(alias)
            if known is None:
                raise RemoteProtocolError(
                    f"Topic Alias {alias} used before it was set [MQTT-3.3.2-8]",
                    ReasonCode.PROTOCOL_ERROR,
                )
            topic = known
        return replace(packet, topic=topic, properties=replace(packet.properties, topic_alias=None))

    def _on_ack(self, pid: int, expected: OutboundState, now: float) -> None:
        session = self.session
        assert session is not None
        inflight = session.outbound.get(pid)
        if inflight is None:
            # An acknowledgement for nothing in flight (one resent after a
            # reconnect): harmless, ignored.
            return
        if inflight.state is not expected:
            # A PUBACK for a QoS 2 message, a PUBCOMP before PUBREL: a protocol
            # violation, which closes the connection ([MQTT-4.8.0-1] in 3.1.1;
            # MQTT 5 §4.13.1 gives no reason code to answer it with).
            raise RemoteProtocolError(
                f"{_ACK_AWAITED[expected]} for packet identifier {pid}, which is"
                f" {inflight.state.value} [MQTT-4.8.0-1]"
            )
        del session.outbound[pid]
        session.packet_ids.release(pid)
        self._broker.mark_dirty(session)
        self.drain_queue(now)

    def _on_pubrec(self, pid: int, reason: ReasonCode, now: float) -> None:
        session = self.session
        assert session is not None
        inflight = session.outbound.get(pid)
        if inflight is None or inflight.state is OutboundState.AWAITING_PUBACK:
            if inflight is not None and self.version is not V5:
                # 3.1.1 has no reason code for a PUBREC of a QoS 1 message:
                # a protocol violation, which closes [MQTT-4.8.0-1].
                raise RemoteProtocolError(
                    f"PUBREC for packet identifier {pid}, a QoS 1 message"
                    " awaiting PUBACK [MQTT-4.8.0-1]"
                )
            # MQTT 5 answers: no QoS 2 exchange has that identifier (§3.6.2.1).
            self.send(
                PubRel(packet_id=pid, reason_code=self._v5(ReasonCode.PACKET_IDENTIFIER_NOT_FOUND))
            )
            return
        if is_error(reason):
            # The receiver refused it: the exchange ends here (MQTT 5 §4.3.3).
            self._on_ack(pid, inflight.state, now)
            return
        inflight.state = OutboundState.AWAITING_PUBCOMP
        self._broker.mark_dirty(session)
        self.send_ack(PubRel, pid)

    def _on_pubrel(self, pid: int, now: float, events: list[Event]) -> None:
        """Release ``pid`` and answer PUBCOMP [MQTT-4.3.3-11]. A message held
        for its PUBREL (Method A of §4.3.3) is routed first, so the PUBCOMP
        leaves with its routing done (and stored)."""
        session = self.session
        assert session is not None
        if pid in session.inbound_qos2:
            session.inbound_qos2.discard(pid)
            held = session.held_qos2.pop(pid, None)
            if held is not None:
                self._broker.release_held(session, held, now, events)
            self._broker.mark_dirty(session)
            self.send_ack(PubComp, pid)
        else:
            self.send(
                PubComp(packet_id=pid, reason_code=self._v5(ReasonCode.PACKET_IDENTIFIER_NOT_FOUND))
            )

    def _on_disconnect(self, packet: Disconnect, now: float, events: list[Event]) -> None:
        new_expiry = packet.properties.session_expiry_interval
        if new_expiry is not None:
            if self.session_expiry_s == 0 and new_expiry != 0:
                raise RemoteProtocolError(
                    "DISCONNECT sets a Session Expiry Interval after CONNECT set 0 [MQTT-3.14.2-2]"
                )
            self.session_expiry_s = new_expiry
            assert self.session is not None
            self.session.expiry_interval_s = new_expiry
        if packet.reason_code != ReasonCode.DISCONNECT_WITH_WILL_MESSAGE:
            # A normal DISCONNECT discards the will [MQTT-3.14.4-3].
            self.will = None
        self._close(
            now,
            events,
            packet.reason_code,
            "client disconnected",
            send_disconnect=False,
            by_peer=True,
        )

    # -- closing ----------------------------------------------------------------

    def _fail(self, exc: ProtocolError, now: float, events: list[Event]) -> None:
        self._broker.stats.protocol_errors += 1
        events.append(ProtocolViolation(reason_code=exc.reason_code, detail=exc.detail))
        if self.state is BrokerState.AWAITING_CONNECT:
            self._refuse_connect(exc.reason_code)
            self._close(
                now, events, exc.reason_code, exc.detail, send_disconnect=False, by_peer=False
            )
        else:
            self._close(
                now, events, exc.reason_code, exc.detail, send_disconnect=True, by_peer=False
            )

    def _refuse_connect(self, reason: ReasonCode, limit: int | None = None) -> None:
        """Answer a CONNECT that cannot be accepted with a CONNACK, if the
        version is known (MQTT 5 §4.13.1) and the CONNACK fits the client's
        Maximum Packet Size ``limit`` [MQTT-3.1.2-24]; otherwise just close."""
        if reason == ReasonCode.UNSUPPORTED_PROTOCOL_VERSION:
            # The client's version is unknown: answer in 3.1.1's form, return
            # code 1, as 3.1.1 requires [MQTT-3.1.2-2].
            self.version = ProtocolVersion.V311
        if self.version is None:
            return
        if self.version is not V5 and reason not in (
            ReasonCode.UNSUPPORTED_PROTOCOL_VERSION,
            ReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
            ReasonCode.SERVER_UNAVAILABLE,
            ReasonCode.BAD_USER_NAME_OR_PASSWORD,
            ReasonCode.NOT_AUTHORIZED,
        ):
            return
        connack = ConnAck(reason_code=reason)
        encoded = encode(connack, self.version)
        if limit is None or len(encoded) <= limit:
            self.send_bytes(encoded, connack)

    def refuse(
        self,
        reason: ReasonCode,
        detail: str,
        now: float,
        events: list[Event],
        *,
        limit: int | None = None,
    ) -> None:
        """Refuse the CONNECT being handled with ``reason``, then close.
        ``limit`` is the client's Maximum Packet Size, if it gave one."""
        self._refuse_connect(reason, limit)
        self._close(now, events, reason, detail, send_disconnect=False, by_peer=False)

    def _close(
        self,
        now: float,
        events: list[Event],
        reason: ReasonCode,
        detail: str,
        *,
        send_disconnect: bool,
        by_peer: bool,
    ) -> None:
        was_connected = self.state is BrokerState.CONNECTED
        if send_disconnect and self.version is V5 and was_connected:
            # Only MQTT 5 has a server DISCONNECT [MQTT-3.14.0-1]; reason codes
            # below 0x80 never go out from a closing server except 0x00.
            self.send(Disconnect(reason_code=reason))
        self.state = BrokerState.CLOSED
        self._broker.mark_pending(self)
        events.append(Disconnected(reason_code=reason, by_peer=by_peer, detail=detail))
        if was_connected:
            assert self.client_id is not None
            normal = reason == ReasonCode.NORMAL_DISCONNECTION and by_peer
            will_sent = self._broker.connection_closed(self, now, publish_will=not normal)
            events.append(
                ClientDisconnected(
                    client_id=self.client_id,
                    reason_code=reason,
                    detail=detail,
                    will_published=will_sent,
                )
            )

    def _v5(self, reason: ReasonCode) -> ReasonCode:
        """3.1.1 acknowledgements carry no reason code; 5.0's do."""
        return reason if self.version is V5 else SUCCESS
