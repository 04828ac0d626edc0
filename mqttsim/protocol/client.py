"""The client end of an MQTT connection, as a sans-IO state machine.

Theory of operation
-------------------
A :class:`ClientConnection` holds one client's view of the protocol: the
state (``NEW``, ``CONNECTING``, ``CONNECTED``, ``CLOSED``; see
:mod:`.tables`), the :class:`~.session.Session` that outlives network
connections, and the keep-alive clock. It never touches a socket or a
clock of its own. Its caller moves the bytes and says what time it is::

    conn.connect(now=t)                        # commands queue packets
    wire = conn.data_to_send(now=t)            # ... which leave here
    events = conn.receive_data(chunk, now=t)   # any slice of bytes
    events += conn.handle_timeout(now=conn.next_deadline())

Who moves the state: ``connect()`` (NEW/CLOSED -> CONNECTING); the packets
the server sends, looked up in ``CLIENT_TRANSITIONS`` (a packet not in the
table for the current state is a Protocol Error); ``disconnect()``,
``connection_lost()`` and the keep-alive timer (-> CLOSED). A CLOSED
connection ignores bytes and may connect again; the session carries over
unless Clean Start is asked for.

The sending half of the QoS flows (the Receive Maximum window, the queue,
resending on resume, Topic Aliases towards the server) lives in
:class:`~.client_flows.OutboundFlow`; the receiving half (QoS 2
de-duplication, handing a QoS 2 message on at its PUBLISH or at its PUBREL,
the server's Topic Aliases) in :class:`~.client_inbound.InboundFlow`.

Liveness (when to send PINGREQ, when to give up on the server, when new
messages wait for an overdue PINGRESP) is :mod:`.client_liveness`'s.

Invariants:

* A QoS 1/2 message has its packet identifier from the moment
  ``publish()`` returns it until its exchange ends, and is then either in
  ``session.queued`` (not yet sent) or ``session.outbound`` (in flight).
* A QoS 0 message is sent, or reported dropped: counted when published while
  CLOSED, a ``PublishDropped`` when its connection ended first.
* Mistakes of the caller raise :class:`LocalProtocolError` before anything
  is queued. Mistakes of the server never raise out of ``receive_data``:
  they become ``ProtocolViolation`` + ``Disconnected``, after a DISCONNECT
  carrying the reason code is queued on MQTT 5 (§4.13).

Normative statement IDs are those of MQTT 5.0 unless marked "3.1.1".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from .client_flows import (
    DEFAULT_MAXIMUM_PACKET_SIZE,
    ClientStats,
    OutboundFlow,
    PendingRequests,
    ServerLimits,
    checked_qos,
    checked_subscriptions,
    merge_connect_properties,
    unexpected_packet,
)
from .client_inbound import InboundFlow
from .client_liveness import Liveness
from .codec import StreamDecoder, encode
from .enums import (
    REASON_CODES_BY_PACKET,
    PacketType,
    ProtocolVersion,
    QoS,
    QoS2Handover,
    ReasonCode,
)
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .events import (
    AuthReceived,
    Connected,
    ConnectionRefused,
    Disconnected,
    Event,
    PacketReceived,
    PacketSent,
    PongReceived,
    ProtocolViolation,
    Subscribed,
    Unsubscribed,
)
from .members import AT_MOST_ONCE
from .packets import (
    PACKET_CLASSES,
    Auth,
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
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
)
from .properties import NO_PROPERTIES, Properties
from .session import QueuedMessage, Session
from .tables import CLIENT_COMMANDS, CLIENT_TRANSITIONS, ClientState
from .tables import ClientState as _S
from .timers import message_expiry
from .topics import validate_topic_filter, validate_topic_name

__all__ = ["DEFAULT_MAXIMUM_PACKET_SIZE", "ClientConnection", "ClientStats", "ServerLimits"]


_DISCONNECT_CODES: Final = REASON_CODES_BY_PACKET[PacketType.DISCONNECT]
_CLIENT_AUTH_CODES: Final = frozenset(
    {ReasonCode.CONTINUE_AUTHENTICATION, ReasonCode.RE_AUTHENTICATE}
)


def _by_peer(code: ReasonCode, detail: str, props: Properties) -> Disconnected:
    return Disconnected(reason_code=code, by_peer=True, detail=detail, properties=props)


# The table, keyed by packet class: the hot path avoids hashing enums.
_ALLOWED: Final = {
    state: {
        PACKET_CLASSES[ptype]: nxt for (s, ptype), nxt in CLIENT_TRANSITIONS.items() if s is state
    }
    for state in ClientState
}
_TOPIC_CACHE_LIMIT: Final = 1000  # topic names remembered as valid, per connection
_V311_MAX_INFLIGHT: Final = 20  # paho-mqtt's max_inflight_messages, libmosquitto's too


class ClientConnection:
    """One MQTT client connection: commands in, bytes out; bytes in, events out.

    Args:
        client_id: "" asks an MQTT 5 server to assign one (3.1.1 allows it
            only with Clean Start [MQTT-3.1.3-7 3.1.1]).
        version: the protocol spoken for the whole life of this object.
        keep_alive_s: seconds; 0 turns keep-alive off.
        clean_start: the default for ``connect()``.
        session_expiry_interval_s: MQTT 5: how long the server keeps the
            session after the connection ends.
        username, password, will: as in CONNECT (§3.1.3).
        receive_maximum: how many unreleased QoS 2 messages we accept from
            the server (QoS 1 is acknowledged at once, so never piles up).
        max_inflight: the most QoS 1/2 messages we keep in flight, under the
            server's Receive Maximum. ``None``: none of our own on MQTT 5,
            whose server announces its limit; 20 on MQTT 3.1.1, which cannot
            (paho-mqtt's and libmosquitto's default), so that a server's
            unannounced limit is not overrun and the connection closed.
        maximum_packet_size: the largest packet we accept (default
            :data:`DEFAULT_MAXIMUM_PACKET_SIZE`, 1 MiB; up to 268,435,460);
            a bigger one closes the connection with 0x95. MQTT 5 announces
            it in CONNECT (§3.1.2.11.4); MQTT 3.1.1 enforces it unannounced.
        topic_alias_maximum: how many Topic Aliases the server may use
            towards us (0: none).
        use_topic_aliases: use Topic Aliases on our PUBLISHes when the
            server allows them.
        connect_properties: further CONNECT properties; the keyword
            arguments above override the fields they name.
        session: a saved session to resume; a new empty one if ``None``.
        trace: append PacketSent/PacketReceived events to ``trace_log``.
        qos2_handover: a QoS 2 message is one ``MessageReceived`` at its
            PUBLISH, or at its PUBREL as paho-mqtt 2.x (:mod:`.client_inbound`).
        ping_every_keep_alive: PINGREQ every Keep Alive however busy the
            connection is, as paho-mqtt 2.x (:mod:`.client_liveness`).

    Raises:
        LocalProtocolError: an option out of range, or MQTT 5 properties on
            an MQTT 3.1.1 connection.
    """

    def __init__(
        self,
        *,
        client_id: str = "",
        version: ProtocolVersion = ProtocolVersion.V5,
        keep_alive_s: int = 60,
        clean_start: bool = True,
        session_expiry_interval_s: int = 0,
        username: str | None = None,
        password: bytes | None = None,
        will: Will | None = None,
        receive_maximum: int = 65535,
        max_inflight: int | None = None,
        maximum_packet_size: int | None = None,
        topic_alias_maximum: int = 0,
        use_topic_aliases: bool = False,
        connect_properties: Properties = NO_PROPERTIES,
        session: Session | None = None,
        trace: bool = False,
        qos2_handover: QoS2Handover = QoS2Handover.ON_PUBLISH,
        ping_every_keep_alive: bool = False,
    ) -> None:
        self._version = version
        self._v5 = version is ProtocolVersion.V5
        props, self._maximum_packet_size = merge_connect_properties(
            version,
            connect_properties,
            session_expiry_interval_s=session_expiry_interval_s,
            receive_maximum=receive_maximum,
            maximum_packet_size=maximum_packet_size,
            topic_alias_maximum=topic_alias_maximum,
        )
        # What we announce is what we enforce, whichever way it was given.
        self._receive_maximum = 65535 if props.receive_maximum is None else props.receive_maximum
        self._topic_alias_maximum = props.topic_alias_maximum or 0
        self._session_expiry_s = props.session_expiry_interval or 0
        self._connect_props = props
        self._configured_keep_alive = keep_alive_s
        self._live = Liveness(keep_alive_s, ping_every_keep_alive=ping_every_keep_alive)
        self._clean_start = clean_start
        self._asked_clean_start = clean_start
        self._credentials = (username, password)
        self._will = will
        self._client_id = client_id or (session.client_id if session is not None else "")
        self._session = session if session is not None else Session(client_id=self._client_id)
        self._session.expiry_interval_s = self._session_expiry_s
        self._trace = trace
        self.trace_log: list[Event] = []
        """PacketSent/PacketReceived events (``trace=True``); drivers drain it."""
        self.stats = ClientStats()
        """Counters of packets, bytes, resends, drops."""
        if max_inflight is None:
            max_inflight = 65535 if self._v5 else _V311_MAX_INFLIGHT
        if not 1 <= max_inflight <= 0xFFFF:
            raise LocalProtocolError("max_inflight must be 1..65535")
        self._out = OutboundFlow(
            session=self._session,
            version=version,
            use_topic_aliases=use_topic_aliases,
            stats=self.stats,
            trace=trace,
            max_inflight=max_inflight,
        )
        self._in = InboundFlow(
            out=self._out,
            receive_maximum=self._receive_maximum if self._v5 else None,
            topic_alias_maximum=self._topic_alias_maximum,
            at_pubrel=qos2_handover is QoS2Handover.ON_PUBREL,
        )
        self._state = _S.NEW
        self._decoder: StreamDecoder | None = None
        self._pending_subscribe = PendingRequests("SUBACK", self._session, self.stats)
        self._pending_unsubscribe = PendingRequests("UNSUBACK", self._session, self.stats)
        self._held = False  # messages wait for the server to be heard from
        self._valid_topics: set[str] = set()  # topic names already validated

    # -- read-only views -----------------------------------------------------------

    @property
    def state(self) -> ClientState:
        """Where the connection stands (see :mod:`.tables`)."""
        return self._state

    @property
    def is_connected(self) -> bool:
        """True from an accepting CONNACK to the end of the connection."""
        return self._state is _S.CONNECTED

    @property
    def is_closed(self) -> bool:
        """True once the network connection is over (the driver may close
        the transport when ``data_to_send`` is drained), until ``connect()``."""
        return self._state is _S.CLOSED

    @property
    def session(self) -> Session:
        """The session state: plain data a store can save."""
        return self._session

    @property
    def client_id(self) -> str:
        """Our Client Identifier, updated by an Assigned Client Identifier."""
        return self._client_id

    @property
    def version(self) -> ProtocolVersion:
        """The protocol version this connection speaks."""
        return self._version

    @property
    def keep_alive_s(self) -> int:
        """The Keep Alive in force: ours, or the Server Keep Alive [MQTT-3.2.2-21]."""
        return self._live.keep_alive

    @property
    def server_limits(self) -> ServerLimits:
        """The limits of the current (or last) CONNACK; the defaults before one."""
        return self._out.limits

    # -- commands ------------------------------------------------------------------

    def connect(self, *, now: float, clean_start: bool | None = None) -> None:
        """Open a new network connection: queue CONNECT with all our options.

        The session carries over from the last connection unless Clean
        Start is asked for, which ends the exchanges of both directions
        [MQTT-3.1.2-4]: our unacknowledged QoS 1/2 messages are then sent
        again as new messages, under the same packet identifiers (see
        :meth:`OutboundFlow.restart`: a QoS 2 message may arrive twice).

        Args:
            now: the current time.
            clean_start: overrides the constructor's default for this connect.

        Raises:
            LocalProtocolError: not NEW or CLOSED; or an empty client id
                without Clean Start on MQTT 3.1.1 [MQTT-3.1.3-7 3.1.1].
        """
        self._require("connect")
        clean = self._clean_start if clean_start is None else clean_start
        if not clean and not self._client_id and not self._v5:
            raise LocalProtocolError(
                "MQTT 3.1.1 needs a client id to resume a session [MQTT-3.1.3-7 3.1.1]"
            )
        if clean:
            self._out.restart()
        self._asked_clean_start = clean
        self._session.client_id = self._client_id
        self._session.disconnected_at = None
        self._out.new_connection()
        self._decoder = StreamDecoder(version=self._version)
        self._decoder.max_packet_size = self._maximum_packet_size
        self._live.start(self._configured_keep_alive, now)
        username, password = self._credentials
        self._out.queue(
            Connect(
                version=self._version,
                client_id=self._client_id,
                clean_start=clean,
                keep_alive_s=self._configured_keep_alive,
                username=username,
                password=password,
                will=self._will,
                properties=self._connect_props,
            )
        )
        self._state = _S.CONNECTING

    def publish(
        self,
        topic: str,
        payload: bytes = b"",
        *,
        qos: QoS | int = 0,
        retain: bool = False,
        properties: Properties = NO_PROPERTIES,
        now: float,
    ) -> int | None:
        """Publish an application message.

        QoS 0 leaves at once when CONNECTED, waits for CONNACK when NEW or
        CONNECTING, and is dropped (counted in
        ``stats.dropped_qos0_while_disconnected``) when CLOSED. QoS 1 and 2
        get a packet identifier now; they are sent at once if the server's
        Receive Maximum window has room and nothing waits ahead of them, and
        otherwise wait in ``session.queued`` to leave in order.

        While our PINGREQ is overdue (see "Liveness" above) a message of any
        QoS waits in the queue; QoS 0 whose connection ends before it was
        sent is reported by ``PublishDropped``.

        Returns:
            The packet identifier the message carries (QoS 1/2), or ``None``.

        Raises:
            TopicNameInvalid: ``topic`` is not a valid topic name [MQTT-3.3.2-2].
            LocalProtocolError: QoS above the server's Maximum QoS
                [MQTT-3.2.2-11]; RETAIN where it is not available
                [MQTT-3.2.2-14]; over the server's Maximum Packet Size
                [MQTT-3.2.2-15]; properties a client may not send.
        """
        self._require("publish")
        qos = checked_qos(qos)
        if topic not in self._valid_topics:  # a client publishes on few topics: check each once
            validate_topic_name(topic)
            if len(self._valid_topics) >= _TOPIC_CACHE_LIMIT:
                self._valid_topics.clear()
            self._valid_topics.add(topic)
        expires_at = None
        if properties is not NO_PROPERTIES:  # (the checks below all pass for none)
            self._check_properties(properties, "PUBLISH")
            if properties.topic_alias is not None:
                raise LocalProtocolError(
                    "Topic Aliases are managed by the connection: pass use_topic_aliases=True"
                )
            if properties.subscription_identifiers:
                raise LocalProtocolError(
                    "a client's PUBLISH must not carry a Subscription Identifier [MQTT-3.3.4-6]"
                )
            expires_at = message_expiry(now, properties.message_expiry_interval)
        connected = self._state is _S.CONNECTED
        if connected and (refusal := self._out.refusal(qos, retain)) is not None:
            raise refusal
        pid = None if qos == AT_MOST_ONCE else self._session.packet_ids.allocate()
        # Publish(...) without __post_init__: QoS, identifier and DUP=0 are right by construction.
        message = Publish.unchecked(topic, payload, qos, retain, False, pid, properties)
        if pid is None and self._state is _S.CLOSED:
            self.stats.dropped_qos0_while_disconnected += 1
        elif pid is None and not connected:
            self._session.queued.append(QueuedMessage(publish=message, expires_at=expires_at))
        else:
            hold = connected and self._live.overdue(now)  # the link is not known to be alive
            self._out.submit(message, expires_at, connected=connected, hold=hold)
            self._held |= hold
        return pid

    def subscribe(
        self,
        subscriptions: str | Subscription | Sequence[Subscription | tuple[str, int]],
        *,
        qos: QoS | int = 0,
        properties: Properties = NO_PROPERTIES,
        now: float,
    ) -> int:
        """Queue a SUBSCRIBE; a ``Subscribed`` event reports the SUBACK.

        Args:
            subscriptions: a filter (subscribed at ``qos``), a Subscription,
                or a sequence of Subscriptions and ``(filter, qos)`` pairs.

        Returns:
            The SUBSCRIBE's packet identifier.

        Raises:
            TopicFilterInvalid: a filter breaks §4.7, or uses a wildcard or
                a shared subscription the server said it does not support.
            LocalProtocolError: not CONNECTED; No Local on a shared
                subscription [MQTT-3.8.3-4]; MQTT 5 options on 3.1.1.
        """
        self._require("subscribe")
        items = checked_subscriptions(subscriptions, qos, self._out.limits, v5=self._v5)
        self._check_properties(properties, "SUBSCRIBE")
        if (
            properties.subscription_identifiers
            and not self._out.limits.subscription_identifier_available
        ):
            raise LocalProtocolError(
                "the server does not support Subscription Identifiers (§3.2.2.3.12)"
            )
        pid = self._allocate_and_queue(
            lambda pid: Subscribe(packet_id=pid, subscriptions=tuple(items), properties=properties)
        )
        self._pending_subscribe.add(pid, len(items))
        return pid

    def unsubscribe(
        self,
        topic_filters: str | Sequence[str],
        *,
        properties: Properties = NO_PROPERTIES,
        now: float,
    ) -> int:
        """Queue an UNSUBSCRIBE; an ``Unsubscribed`` event reports the UNSUBACK.

        Returns:
            The UNSUBSCRIBE's packet identifier.

        Raises:
            TopicFilterInvalid: a filter breaks §4.7.
            LocalProtocolError: not CONNECTED, or no filter [MQTT-3.10.3-2].
        """
        self._require("unsubscribe")
        filters = (topic_filters,) if isinstance(topic_filters, str) else tuple(topic_filters)
        for topic_filter in filters:
            validate_topic_filter(topic_filter)
        self._check_properties(properties, "UNSUBSCRIBE")
        pid = self._allocate_and_queue(
            lambda pid: Unsubscribe(packet_id=pid, topic_filters=filters, properties=properties)
        )
        self._pending_unsubscribe.add(pid, len(filters))
        return pid

    def ping(self, *, now: float) -> None:
        """Queue a PINGREQ now, whatever the keep-alive timer says."""
        self._require("ping")
        self._out.queue(PingReq())
        self._live.ping_pending = True

    def disconnect(
        self,
        reason_code: ReasonCode = ReasonCode.NORMAL_DISCONNECTION,
        *,
        properties: Properties = NO_PROPERTIES,
        now: float,
    ) -> None:
        """Queue DISCONNECT and close.

        The state is CLOSED at once, so no command can slip in behind the
        DISCONNECT; the packet stays in the outbox, and the driver closes the
        transport once ``data_to_send`` has drained it. No ``Disconnected``
        event follows: the caller knows. Reason 0x04 (Disconnect with Will
        Message) asks the server to publish the will. Messages held for an
        overdue PINGREQ leave ahead of the DISCONNECT (our last chance); QoS
        0 still held back is dropped, counted in ``stats.publishes_dropped``.

        Raises:
            LocalProtocolError: not CONNECTING/CONNECTED; a reason code a
                DISCONNECT cannot carry; a reason or properties on 3.1.1; a
                non-zero Session Expiry Interval after connecting with 0
                [MQTT-3.14.2-2].
        """
        self._require("disconnect")
        if not self._v5 and (reason_code != ReasonCode.NORMAL_DISCONNECTION or properties):
            raise LocalProtocolError("MQTT 3.1.1 DISCONNECT has no reason code or properties")
        if reason_code not in _DISCONNECT_CODES:
            raise LocalProtocolError(f"DISCONNECT cannot carry {reason_code.name} (§3.14.2.1)")
        expiry = properties.session_expiry_interval
        if expiry is not None:
            if expiry and not self._session_expiry_s:
                raise LocalProtocolError(
                    "a session that ends with its connection cannot be extended by DISCONNECT"
                    " [MQTT-3.14.2-2]"
                )
            self._session.expiry_interval_s = expiry
        if self._held and self._state is _S.CONNECTED:
            self._out.drain(now, [])  # (a drop is counted in stats: no events return from here)
        self._out.queue(Disconnect(reason_code=reason_code, properties=properties))
        self._close(now, "we sent DISCONNECT")

    def auth(self, reason_code: ReasonCode, *, properties: Properties, now: float) -> None:
        """Queue AUTH (MQTT 5 enhanced authentication, §4.12).

        Raises:
            LocalProtocolError: wrong state; MQTT 3.1.1; a reason code other
                than 0x18 (Continue) or 0x19 (Re-authenticate) (§3.15.2.1).
        """
        self._require("auth")
        if not self._v5:
            raise LocalProtocolError("AUTH exists only in MQTT 5 (§3.15)")
        if reason_code not in _CLIENT_AUTH_CODES:
            raise LocalProtocolError(f"a client's AUTH cannot carry {reason_code.name} (§3.15.2.1)")
        self._out.queue(Auth(reason_code=reason_code, properties=properties))

    # -- the driver's side -----------------------------------------------------------

    def receive_data(self, data: bytes, *, now: float) -> list[Event]:
        """Feed bytes from the server (any slice); return what they caused.

        A server that breaks the rules gets ``[..., ProtocolViolation,
        Disconnected]`` and, on MQTT 5, a DISCONNECT with the reason code:
        this method never raises for the peer's mistakes. Bytes arriving
        after the connection closed are ignored.
        """
        closed = self._state is _S.CLOSED  # (a flag: _handle() moves the state below)
        if closed:
            return []
        self.stats.bytes_received += len(data)
        if data:
            self._live.last_received = now  # the server is alive: the keep-alive clock restarts
        events: list[Event] = []
        try:
            if self._decoder is None:
                raise RemoteProtocolError("bytes arrived before connect() [MQTT-3.1.0-1]")
            for packet in self._decoder.feed(data):
                if self._state is _S.CLOSED:
                    break  # e.g. bytes behind a DISCONNECT
                self.stats.packets_received += 1
                if self._trace:
                    size = self._received_size(packet)
                    self.trace_log.append(PacketReceived(packet=packet, size=size, now=now))
                self._handle(packet, now, events)
        except ProtocolError as exc:  # codec errors and table or guard violations alike
            events += self._fail(exc, now)
        if self._held and data and self._state is _S.CONNECTED:
            self._held = False  # heard from the server: what waited for it goes
            self._out.drain(now, events)
        return events

    def data_to_send(self, *, now: float) -> bytes:
        """Drain the bytes to write. ``now`` is when they leave: keep-alive
        counts from the last packet *sent* [MQTT-3.1.2-20]."""
        return b"".join(self.packets_to_send(now=now))

    def packets_to_send(self, *, now: float) -> list[bytes]:
        """:meth:`data_to_send`, one encoded packet per item: for a driver
        that writes each packet on its own, as some clients do."""
        outbox = self._out.outbox
        if not outbox:
            return []
        packets = outbox[:]
        outbox.clear()
        trace = self._trace
        connect = ping = False
        for packet, data in packets:
            kind = type(packet)  # (None for an acknowledgement written directly)
            if kind is PingReq:
                self.stats.pings_sent += 1
                ping = True
            elif kind is Connect:
                connect = True
            if trace and packet is not None:
                self.trace_log.append(PacketSent(packet=packet, size=len(data), now=now))
        wire = [data for _, data in packets]
        self.stats.bytes_sent += sum(len(data) for data in wire)
        self.stats.packets_sent += len(packets)
        self._live.sent(now, connect=connect, ping=ping)
        return wire

    def next_deadline(self) -> float | None:
        """When ``handle_timeout`` must next be called, or ``None``: Keep
        Alive after CONNECT left, for CONNACK; when a PINGREQ is due; Keep
        Alive after it left, for PINGRESP (:meth:`Liveness.deadline`)."""
        return self._live.deadline(self._state)

    def handle_timeout(self, *, now: float) -> list[Event]:
        """Act on the keep-alive clock: send PINGREQ, or give up on a silent server.

        The server is dead when its answer (CONNACK to CONNECT, PINGRESP to
        PINGREQ) has not come within Keep Alive of our request leaving: our
        choice for §3.1.2.10's "reasonable amount of time", not a rule of the
        specification. No DISCONNECT goes to a dead peer; the QoS 0 messages
        that waited for it are reported dropped.
        """
        deadline = self._live.deadline(self._state)
        if deadline is None or now < deadline:
            return []
        why = self._live.why_dead(self._state)
        if why is not None:
            return self._expire(now, why)
        self._out.queue(PingReq())  # [MQTT-3.1.2-20]
        self._live.ping_pending = True
        return []

    def connection_lost(self, *, now: float) -> list[Event]:
        """The transport closed under us: ``Disconnected(by_peer=True)``, unless
        the connection was already closed (or never opened)."""
        if self._state in (_S.NEW, _S.CLOSED):
            return []
        self._out.outbox.clear()
        detail = "the network connection closed without DISCONNECT"
        events = self._close(now, detail)
        events.append(
            Disconnected(reason_code=ReasonCode.UNSPECIFIED_ERROR, by_peer=True, detail=detail)
        )
        return events

    # -- incoming packets ---------------------------------------------------------------

    def _handle(self, packet: Packet, now: float, events: list[Event]) -> None:
        """Check ``packet`` against the transition table, then act on it."""
        next_state = _ALLOWED[self._state].get(type(packet))
        if next_state is None:
            raise RemoteProtocolError(unexpected_packet(self._state, packet.packet_type))
        self._state = next_state
        match packet:  # PUBLISH and its acknowledgements first: most of the traffic
            case Publish():
                self._in.on_publish(packet, events)
            case PubAck():
                self._out.on_puback(packet, now, events)
            case PubRec():
                self._out.on_pubrec(packet, now, events)
            case PubRel():
                self._in.on_pubrel(packet, events)
            case PubComp():
                self._out.on_pubcomp(packet, now, events)
            case ConnAck():
                self._on_connack(packet, now, events)
            case SubAck(packet_id=pid, reason_codes=codes):
                if self._pending_subscribe.answered(pid, len(codes)):
                    props = packet.properties
                    events.append(Subscribed(packet_id=pid, reason_codes=codes, properties=props))
            case UnsubAck(packet_id=pid, reason_codes=codes):
                count = len(codes) if self._v5 else None  # 3.1.1 UNSUBACK has no codes
                if self._pending_unsubscribe.answered(pid, count):
                    props = packet.properties
                    events.append(Unsubscribed(packet_id=pid, reason_codes=codes, properties=props))
            case PingResp():
                self._live.pong(now)
                events.append(PongReceived())
            case Auth():
                props = packet.properties
                events.append(AuthReceived(reason_code=packet.reason_code, properties=props))
            case Disconnect(reason_code=code, properties=props):
                self._out.outbox.clear()  # the server is gone: nothing more to say
                detail = f"the server sent DISCONNECT {code.name}"
                events += self._close(now, detail)
                events.append(_by_peer(code, detail, props))
            case _:  # unreachable while the table admits only the packets above
                raise RemoteProtocolError(unexpected_packet(self._state, packet.packet_type))

    def _on_connack(self, packet: ConnAck, now: float, events: list[Event]) -> None:
        props = packet.properties
        self._live.connack(now)
        if packet.reason_code.is_error:
            # The server closes the connection after a refusal (§3.2.2.2).
            events.append(ConnectionRefused(reason_code=packet.reason_code, properties=props))
            self._out.outbox.clear()
            detail = f"CONNACK refused the connection: {packet.reason_code.name}"
            events += self._close(now, detail)
            events.append(_by_peer(packet.reason_code, detail, props))
            return
        if packet.session_present and self._asked_clean_start:
            raise RemoteProtocolError(
                "CONNACK has Session Present 1 but we connected with Clean Start, so we hold"
                " no session state to resume [MQTT-3.2.2-4] [MQTT-3.2.2-2]"
            )
        if self._v5:
            self._out.set_limits(ServerLimits.from_connack(props))
        if props.assigned_client_identifier is not None:
            self._client_id = props.assigned_client_identifier
            self._session.client_id = self._client_id
        if props.server_keep_alive is not None:
            self._live.keep_alive = props.server_keep_alive  # [MQTT-3.2.2-21]
        present = packet.session_present
        events.append(
            Connected(session_present=present, client_id=self._client_id, properties=props)
        )
        if present:
            self._out.resume(events)
        else:
            self._out.restart()
        self._out.drain(now, events)

    # -- plumbing ----------------------------------------------------------------------

    def _require(self, command: str) -> None:
        allowed = CLIENT_COMMANDS[command]
        if self._state not in allowed:
            names = ", ".join(s.name for s in ClientState if s in allowed)
            raise LocalProtocolError(
                f"cannot {command}() while the client is {self._state.name}; {command}() is"
                f" allowed only in {names}"
            )

    def _check_properties(self, properties: Properties, kind: str) -> None:
        if properties and not self._v5:
            raise LocalProtocolError(f"MQTT {self._version.label} {kind} carries no properties")

    def _allocate_and_queue(self, build: Callable[[int], Packet]) -> int:
        pid = self._session.packet_ids.allocate()
        try:
            self._out.queue(build(pid))
        except ProtocolError:
            self._session.packet_ids.release(pid)
            raise
        return pid

    def _received_size(self, packet: Packet) -> int:
        # The decoder hands over packets, not their sizes; a decoded packet
        # re-encodes to the same length. Tracing must never close a connection.
        try:
            return len(encode(packet, self._version))
        except ProtocolError:
            return 0

    def _fail(self, error: ProtocolError, now: float) -> list[Event]:
        """Close because the server broke a rule (§4.13)."""
        if self._v5 and self._decoder is not None:
            code = error.reason_code
            disconnect = Disconnect(
                reason_code=code if code in _DISCONNECT_CODES else ReasonCode.PROTOCOL_ERROR
            )
            # Not checked against Maximum Packet Size: a bare DISCONNECT is tiny.
            self._out.outbox.append((disconnect, encode(disconnect, self._version)))
        events = self._close(now, error.detail)
        events.append(ProtocolViolation(reason_code=error.reason_code, detail=error.detail))
        events.append(
            Disconnected(reason_code=error.reason_code, by_peer=False, detail=error.detail)
        )
        return events

    def _expire(self, now: float, detail: str) -> list[Event]:
        self._out.outbox.clear()
        events = self._close(now, detail)
        code = ReasonCode.KEEP_ALIVE_TIMEOUT
        events.append(Disconnected(reason_code=code, by_peer=False, detail=detail))
        return events

    def _close(self, now: float, why: str) -> list[Event]:
        """Enter CLOSED: what lives per network connection goes, the session stays.

        SUBSCRIBE and UNSUBSCRIBE requests still unanswered are abandoned
        (:class:`PendingRequests`). QoS 0 messages still waiting are dropped:
        returns a ``PublishDropped`` for each (``why`` says what ended).
        """
        events: list[Event] = []
        self._out.drop_waiting_qos0(
            f"QoS 0 is not kept beyond the network connection it waited for, which ended: {why}",
            events,
        )
        self._held = False
        self._state = _S.CLOSED
        self._decoder = None
        self._session.disconnected_at = now
        self._pending_subscribe.abandon()
        self._pending_unsubscribe.abandon()
        self._in.end_connection()
        self._out.end_connection()
        self._live.end()
        return events
