"""The broker core: shared state and the routing of application messages.

Theory of operation
-------------------
One :class:`Broker` holds everything that outlives a network connection:

* ``sessions``: client id -> :class:`Session` (subscriptions, in-flight and
  queued messages, the QoS 2 identifiers not yet released, and the QoS 2
  messages held for their PUBREL when ``BrokerConfig.qos2_handover`` says
  so);
* ``subscriptions``: a :class:`SubscriptionTree` over every session's filters,
  so routing a PUBLISH visits only the filters that match its topic;
* ``retained``: the last retained message per topic;
* timers: delayed wills, session expiry, the periodic ``$SYS`` update.

Each transport gets a :class:`BrokerConnection` from :meth:`connection_made`.
A PUBLISH received on one connection is routed here and written into other
connections' outboxes; :meth:`pending_connections` tells the driver which
connections now have bytes to send. The broker never reads a clock: every
call takes ``now``, and :meth:`next_deadline` says when it next needs one.

Delivery rules kept here: effective QoS = min(published, granted)
[MQTT-3.8.4-8]; one copy per client even with overlapping subscriptions
(:mod:`.forwarding` builds it); No Local [MQTT-3.8.3-3]; Retain As Published
[MQTT-3.3.1-12][MQTT-3.3.1-13]; one member of each shared group (§4.8.2);
a subscriber's messages authorised as its session's owner, connected or
not; bounded queues and outboxes whose overflow is counted and reported; a
client's QoS 2 message routed once, on its PUBLISH or its PUBREL (§4.3.3),
and one held for a PUBREL that never came counted dropped with its session.

CONNECT and SUBSCRIBE are decided by pure functions (:mod:`.admission`,
:mod:`.subscribing`) that return values; the broker applies them here, in
:meth:`accept_connect` and :meth:`subscribe`.
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from typing import Final

from .admission import ConnectAccepted, ConnectRefused, decide_connect
from .broker_config import BrokerConfig
from .broker_connection import BrokerConnection
from .enums import ProtocolVersion, QoS, ReasonCode
from .events import ActionDenied, ClientConnected, Event, MessageDropped, WillPublished
from .forwarding import Targets, application_message, forwarded_form, merge_target
from .hooks import AllowAll, Authenticator, Authorizer, SessionStore, StoreChanges
from .members import SUCCESS, V5
from .packets import (
    Connect,
    Publish,
    SubAck,
    Subscribe,
    UnsubAck,
    Unsubscribe,
    Will,
    with_packet_id,
)
from .properties import NO_PROPERTIES, Properties
from .retained import RetainedStore
from .session import (
    SESSION_NEVER_EXPIRES,
    QueuedMessage,
    Session,
    SubscriptionRecord,
)
from .stats import BrokerStats, DropReason
from .subscribing import FilterGranted, FilterRefused, decide_subscribe, decide_unsubscribe
from .tables import BrokerState
from .timers import message_expiry
from .topics import SubscriptionTree, TreeMatch, validate_topic_name

__all__ = ["Broker", "BrokerConfig"]

_VERSION: Final = "0.1.0"
_CACHE_LIMIT: Final = 10_000  # topics remembered by the hot-path caches
_FAILURE: Final = ReasonCode.UNSPECIFIED_ERROR  # 3.1.1's one SUBACK failure code, 0x80


def _asks(authorizer: Authorizer) -> bool:
    """Whether the per-message checks need asking: AllowAll's answer is known,
    and asking it is two calls into the interpreter for every message."""
    return type(authorizer) is not AllowAll


class Broker:
    """The shared state of one broker; see the module docstring."""

    def __init__(
        self,
        config: BrokerConfig | None = None,
        *,
        authenticator: Authenticator | None = None,
        authorizer: Authorizer | None = None,
        store: SessionStore | None = None,
        now: float = 0.0,
        trace: bool = False,
        client_id_prefix: str | None = None,
    ) -> None:
        """Build a broker.

        Args:
            config: limits and capabilities (:class:`BrokerConfig`).
            authenticator: checks CONNECT credentials; anyone by default.
            authorizer: checks each publish, subscribe and delivery.
            store: keeps persistent sessions and retained messages.
            now: the time the broker starts.
            trace: record every packet sent and received in ``trace_log``.
            client_id_prefix: goes into the Client Identifiers the broker
                assigns (``mqttsim-<prefix>-000001``). A socket server passes
                a random one, so that assigned identifiers cannot be guessed
                and differ from a previous run's; the simulator keeps the
                deterministic default (``mqttsim-000001``). ASCII letters and
                digits only.

        Raises:
            ValueError: ``client_id_prefix`` is not ASCII letters and digits.
        """
        if client_id_prefix is not None and not (
            client_id_prefix.isascii() and client_id_prefix.isalnum()
        ):
            raise ValueError("client_id_prefix must be ASCII letters and digits")
        self._client_id_prefix = (
            "mqttsim-" if client_id_prefix is None else f"mqttsim-{client_id_prefix}-"
        )
        self.config = config or BrokerConfig()
        self.authenticator: Authenticator = authenticator or AllowAll()
        self.authorizer: Authorizer = authorizer or AllowAll()
        self.store = store
        self.trace = trace
        self.trace_log: list[Event] = []
        self.sessions: dict[str, Session] = {}
        self.connections: dict[str, BrokerConnection] = {}
        self.subscriptions: SubscriptionTree[str, SubscriptionRecord] = SubscriptionTree()
        self.retained = RetainedStore()
        self.stats = BrokerStats(started_at=now)
        self._next_conn_id = 1
        self._pending: dict[int, BrokerConnection] = {}
        self._timers: list[tuple[float, int, str, str, float]] = []
        self._timer_seq = 0
        self._pending_wills: dict[str, tuple[Will, float, str | None]] = {}
        self._shared_next: dict[tuple[str, str], int] = {}
        self._changes = StoreChanges()
        self._dirty: dict[str, Session] = {}
        self._assigned = 0
        # Hot-path caches, both cleared whenever they could go stale: the
        # subscription tree's answer per topic, and topic names known valid.
        self._routes: dict[str, TreeMatch[str, SubscriptionRecord]] = {}
        self._targets: dict[tuple[str, str | None], Targets] = {}  # by (topic, publisher)
        self._valid_topics: set[str] = set()
        if store is not None:
            self._restore(store)
        if self.config.sys_interval_s > 0:
            self._schedule(now + self.config.sys_interval_s, "sys", "", 0.0)

    # -- driver surface -----------------------------------------------------

    def connection_made(self, *, now: float) -> BrokerConnection:
        """A transport opened: here is the object that speaks MQTT on it."""
        conn = BrokerConnection(self, self._next_conn_id, now=now)
        self._next_conn_id += 1
        return conn

    def pending_connections(self) -> list[BrokerConnection]:
        """Connections with bytes to send (or closed and waiting to be torn down)."""
        pending = list(self._pending.values())
        self._pending.clear()
        return pending

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timeout` must next run (wills, expiry, ``$SYS``)."""
        return self._timers[0][0] if self._timers else None

    def handle_timeout(self, *, now: float) -> list[Event]:
        events: list[Event] = []
        while self._timers and self._timers[0][0] <= now:
            _, _, kind, key, stamp = heapq.heappop(self._timers)
            if kind == "will":
                pending = self._pending_wills.get(key)
                if pending is not None and pending[1] == stamp:
                    del self._pending_wills[key]
                    self._publish_will(key, pending[0], pending[2], now, events)
            elif kind == "expiry":
                session = self.sessions.get(key)
                if (
                    session is not None
                    and session.disconnected_at == stamp
                    and key not in self.connections
                ):
                    self._end_session(session, now, events)
            elif kind == "sys":
                self.publish_sys(now=now)
                self._schedule(now + self.config.sys_interval_s, "sys", "", 0.0)
        return events

    def publish(
        self,
        topic: str,
        payload: bytes = b"",
        *,
        qos: QoS | int = QoS.AT_MOST_ONCE,
        retain: bool = False,
        properties: Properties = NO_PROPERTIES,
        now: float,
    ) -> ReasonCode:
        """Publish a message from the broker itself (``$SYS``, admin tools)."""
        packet = application_message(topic, payload, qos, retain, properties)
        events: list[Event] = []
        return self._accept_message(packet, None, now, events)

    def publish_sys(self, *, now: float) -> None:
        """Publish the ``$SYS`` statistics tree as retained messages."""
        tree = self.stats.tree(
            now=now,
            sessions=len(self.sessions),
            subscriptions=len(self.subscriptions),
            retained=len(self.retained),
            version=_VERSION,
        )
        for topic, value in tree.items():
            self.publish(topic, value.encode(), retain=True, now=now)

    def flush_store(self) -> None:
        """Write pending session and retained changes to the store, if any."""
        if self.store is None:
            return  # mark_dirty keeps nothing without a store
        if self._dirty:
            self._changes.sessions.extend(self._dirty.values())
            self._dirty.clear()
        if self._changes:
            changes, self._changes = self._changes, StoreChanges()
            self.store.apply(changes)

    # -- called by BrokerConnection ----------------------------------------------

    def mark_pending(self, conn: BrokerConnection) -> None:
        self._pending[conn.id] = conn

    def mark_dirty(self, session: Session) -> None:
        if self.store is not None and session.expiry_interval_s != 0:
            self._dirty[session.client_id] = session

    def message_dropped(
        self, session: Session, publish: Publish, reason: str, events: list[Event] | None = None
    ) -> None:
        self.stats.dropped[reason] += 1
        if events is not None:
            events.append(
                MessageDropped(
                    client_id=session.client_id,
                    topic=publish.topic,
                    qos=publish.qos,
                    reason=reason,
                )
            )

    def accept_connect(
        self, conn: BrokerConnection, packet: Connect, now: float, events: list[Event]
    ) -> None:
        """Handle CONNECT: apply :func:`decide_connect`'s decision (bind a
        session and answer CONNACK, or refuse and close)."""
        conn.version = packet.version
        decision = decide_connect(
            self.config,
            packet,
            authenticator=self.authenticator,
            assign_client_id=self.assign_client_id,
        )
        match decision:
            case ConnectRefused():
                if decision.denied:
                    self.deny(
                        events, decision.client_id, packet.username, "connect", "", decision.reason
                    )
                limit = packet.properties.maximum_packet_size
                conn.refuse(decision.reason, decision.detail, now, events, limit=limit)
            case ConnectAccepted():
                self._admit(conn, packet.version, decision, now, events)

    def _admit(
        self,
        conn: BrokerConnection,
        version: ProtocolVersion,
        terms: ConnectAccepted,
        now: float,
        events: list[Event],
    ) -> None:
        conn.client_id = terms.client_id
        conn.username = terms.username
        conn.will = terms.will
        conn.keep_alive_s = terms.keep_alive_s
        conn.send_window = terms.send_window
        conn.client_max_packet_size = terms.client_max_packet_size
        conn.session_expiry_s = terms.session_expiry_s
        conn.state = BrokerState.CONNECTED
        resumed = self.bind_session(conn, terms.clean_start, terms.session_expiry_s, now, events)
        connack = terms.connack
        if resumed and version is not ProtocolVersion.V31:
            # MQTT 3.1 has no Session Present flag: that byte is reserved
            # there, so a 3.1 client always gets 0.
            connack = replace(connack, session_present=True)
        conn.send(connack)
        events.append(
            ClientConnected(
                client_id=terms.client_id,
                version=version,
                session_present=resumed,
                username=terms.username,
            )
        )
        if resumed:
            conn.resend_inflight(now)

    def assign_client_id(self) -> str:
        """A Client Identifier that no session (restored ones included) and
        no connection holds [MQTT-3.2.2-16]: a client that sends none must
        never be handed another's session or knock another off. The driver's
        ``client_id_prefix`` makes them unpredictable and different after a
        restart; the core draws no random numbers itself."""
        # Of len(sessions) + len(connections) + 1 distinct candidates, one is free.
        for _ in range(len(self.sessions) + len(self.connections) + 1):
            self._assigned += 1
            candidate = f"{self._client_id_prefix}{self._assigned:06d}"
            if candidate not in self.sessions and candidate not in self.connections:
                return candidate
        raise AssertionError("unreachable: more identifiers tried than are in use")

    def bind_session(
        self,
        conn: BrokerConnection,
        clean_start: bool,
        expiry_s: int,
        now: float,
        events: list[Event],
    ) -> bool:
        """Take over or create the session of ``conn.client_id``; True if resumed."""
        client_id = conn.client_id
        assert client_id is not None
        old = self.connections.get(client_id)
        if old is not None and old is not conn:
            # Session take-over [MQTT-3.1.4-3]: the old connection closes.
            events.extend(old.close(ReasonCode.SESSION_TAKEN_OVER, "session taken over", now=now))
        session = self.sessions.get(client_id)
        pending_will = self._pending_wills.pop(client_id, None)
        if clean_start and session is not None:
            if pending_will is not None:
                # The old session ends here, so its delayed will goes now [MQTT-3.1.3-9].
                self._publish_will(client_id, pending_will[0], pending_will[2], now, events)
            self._end_session(session, now, events, DropReason.SESSION_DISCARDED)
            session = None
        resumed = session is not None
        if session is None:
            session = Session(client_id=client_id)
            self.sessions[client_id] = session
        session.expiry_interval_s = expiry_s
        session.disconnected_at = None
        # The session belongs to whoever holds it now: a take-over by another
        # user (same client id) makes that user the owner.
        session.username = conn.username
        conn.session = session
        self.connections[client_id] = conn
        self.stats.client_connected()
        self.mark_dirty(session)
        if expiry_s == 0 and self.store is not None:
            self._changes.deleted_sessions.append(client_id)
        return resumed

    def connection_closed(self, conn: BrokerConnection, now: float, *, publish_will: bool) -> bool:
        """A connection ended; returns True if its will was published now."""
        client_id = conn.client_id
        assert client_id is not None
        if self.connections.get(client_id) is not conn:
            return False  # already taken over
        del self.connections[client_id]
        self.stats.clients_connected -= 1
        session = conn.session
        assert session is not None
        session.disconnected_at = now
        will_sent = False
        events: list[Event] = []
        will = conn.will if publish_will else None
        conn.will = None
        if will is not None:
            delay = will.properties.will_delay_interval or 0
            if session.expiry_interval_s != SESSION_NEVER_EXPIRES:
                # The will goes when the session ends, if that is sooner [MQTT-3.1.3-9].
                delay = min(delay, session.expiry_interval_s)
            if delay <= 0:
                self._publish_will(client_id, will, conn.username, now, events)
                will_sent = True
            else:
                self._pending_wills[client_id] = (will, now, conn.username)
                self._schedule(now + delay, "will", client_id, now)
        if session.expiry_interval_s == 0:
            self._end_session(session, now, events)
        else:
            self.mark_dirty(session)
            expires = session.expires_at()
            if expires is not None:
                self._schedule(expires, "expiry", client_id, now)
        return will_sent

    def publish_from_client(
        self,
        conn: BrokerConnection,
        packet: Publish,
        now: float,
        events: list[Event],
        *,
        hold: bool = False,
    ) -> ReasonCode:
        """Authorise and accept a client's PUBLISH; the reason for its ack.
        With ``hold`` (QoS 2 handed on at PUBREL, Method A of §4.3.3) it is
        stored in the session for :meth:`release_held` instead of routed."""
        session = conn.session
        assert conn.client_id is not None and session is not None
        authorizer = self.authorizer
        if _asks(authorizer) and not authorizer.may_publish(
            conn.client_id, conn.username, packet.topic
        ):
            self.deny(events, conn.client_id, conn.username, "publish", packet.topic)
            return ReasonCode.NOT_AUTHORIZED
        if not hold:
            return self._accept_message(packet, conn.client_id, now, events)
        assert packet.packet_id is not None
        expires_at = message_expiry(now, packet.properties.message_expiry_interval)
        session.held_qos2[packet.packet_id] = QueuedMessage(publish=packet, expires_at=expires_at)
        self.mark_dirty(session)
        return SUCCESS  # who subscribes is known at PUBREL (0x10 is a MAY, §3.5.2.1)

    def release_held(
        self, session: Session, held: QueuedMessage, now: float, events: list[Event]
    ) -> None:
        """Route a message held for its PUBREL, which came. One that expired
        meanwhile is dropped, counted and reported [MQTT-3.3.2-5]."""
        packet, expires_at = held.publish, held.expires_at
        if expires_at is not None and expires_at <= now:
            self.message_dropped(session, packet, DropReason.EXPIRED, events)
            return
        if packet.retain:  # then as _accept_message, with the expiry it came with
            self._retain(packet, expires_at)
        self._route(packet, session.client_id, expires_at, now, events)

    # -- subscriptions ---------------------------------------------------------------

    def subscribe(
        self, conn: BrokerConnection, packet: Subscribe, now: float, events: list[Event]
    ) -> None:
        """Apply :func:`decide_subscribe`'s answers: the subscriptions, the
        SUBACK, then the retained messages they are owed."""
        session = conn.session
        client_id = conn.client_id
        assert session is not None and client_id is not None and conn.version is not None
        decisions = decide_subscribe(
            self.config,
            packet,
            conn.version,
            existing=session.subscriptions,
            authorizer=self.authorizer,
            client_id=client_id,
            username=conn.username,
        )
        codes: list[ReasonCode] = []
        owed: list[SubscriptionRecord] = []
        for decision in decisions:
            match decision:
                case FilterGranted(topic_filter=topic_filter, record=record):
                    session.subscriptions[topic_filter] = record
                    self.subscriptions.add(topic_filter, client_id, record)
                    self.subscriptions_changed()
                    if decision.send_retained:
                        owed.append(record)
                case FilterRefused(denied=True):
                    self.deny(
                        events,
                        client_id,
                        conn.username,
                        "subscribe",
                        decision.topic_filter,
                        decision.reason_code,
                    )
            code = decision.reason_code
            # 3.1.1 has one failure code, 0x80 [MQTT-3.9.3-2].
            codes.append(code if conn.version is V5 or not code.is_error else _FAILURE)
        self.mark_dirty(session)
        conn.send(SubAck(packet_id=packet.packet_id, reason_codes=tuple(codes)))
        for record in owed:
            self.deliver_retained(conn, record, now)

    def unsubscribe(self, conn: BrokerConnection, packet: Unsubscribe, events: list[Event]) -> None:
        session = conn.session
        assert session is not None and conn.version is not None
        codes: list[ReasonCode] = []
        invalid = decide_unsubscribe(packet, conn.version)
        for topic_filter, problem in zip(packet.topic_filters, invalid, strict=True):
            if problem is not None:
                codes.append(problem.reason_code)
            elif session.subscriptions.pop(topic_filter, None) is not None:
                self.subscriptions.remove(topic_filter, session.client_id)
                self.subscriptions_changed()
                codes.append(ReasonCode.SUCCESS)
            else:
                codes.append(ReasonCode.NO_SUBSCRIPTION_EXISTED)
        self.mark_dirty(session)
        conn.send(
            UnsubAck(
                packet_id=packet.packet_id,
                reason_codes=tuple(codes) if conn.version is V5 else (),
            )
        )

    def deliver_retained(
        self, conn: BrokerConnection, record: SubscriptionRecord, now: float
    ) -> None:
        """Send the retained messages a new subscription matches (§3.3.1.3)."""
        session = conn.session
        assert session is not None and conn.client_id is not None
        sub = record.subscription
        for message in self.retained.match(sub.topic_filter):
            if message.expires_at is not None and message.expires_at <= now:
                continue
            if not self.authorizer.may_receive(
                conn.client_id, session.username, message.publish.topic
            ):
                continue
            # Retained messages sent on subscribe keep RETAIN=1 [MQTT-3.3.1-8].
            ids = (record.identifier,) if record.identifier is not None else ()
            self._deliver(
                session,
                conn,
                message.publish,
                min(message.publish.qos, sub.qos),
                True,
                ids,
                message.expires_at,
                now,
                None,
                {},
            )

    # -- routing -------------------------------------------------------------------

    def _accept_message(
        self, packet: Publish, origin: str | None, now: float, events: list[Event]
    ) -> ReasonCode:
        expires_at = message_expiry(now, packet.properties.message_expiry_interval)
        if packet.retain:
            self._retain(packet, expires_at)
        return self._route(packet, origin, expires_at, now, events)

    def _retain(self, packet: Publish, expires_at: float | None) -> None:
        topic = packet.topic
        if not packet.payload:
            # An empty retained message clears the topic [MQTT-3.3.1-6][MQTT-3.3.1-7].
            if self.retained.clear(topic) and self.store is not None:
                self._changes.retained[topic] = None
            return
        message = QueuedMessage(publish=packet, expires_at=expires_at)
        self.retained.set(message)
        if self.store is not None:
            self._changes.retained[topic] = message

    def check_topic_name(self, topic: str) -> None:
        """Validate a PUBLISH topic name, remembering the good ones."""
        if topic in self._valid_topics:
            return
        config = self.config
        validate_topic_name(
            topic, max_levels=config.max_topic_levels, max_bytes=config.max_topic_length
        )
        if len(self._valid_topics) >= _CACHE_LIMIT:
            self._valid_topics.clear()
        self._valid_topics.add(topic)

    def subscriptions_changed(self) -> None:
        """Forget cached routes: the subscription tree changed."""
        self._routes.clear()
        self._targets.clear()

    def _match(self, topic: str) -> TreeMatch[str, SubscriptionRecord]:
        match = self._routes.get(topic)
        if match is None:
            match = self.subscriptions.match(topic)
            if len(self._routes) >= _CACHE_LIMIT:
                self._routes.clear()
            self._routes[topic] = match
        return match

    def _route(
        self,
        packet: Publish,
        origin: str | None,
        expires_at: float | None,
        now: float,
        events: list[Event],
    ) -> ReasonCode:
        topic = packet.topic
        targets = self._targets.get((topic, origin))
        if targets is None:
            match = self._match(topic)
            targets = {}
            for _filter, client_id, record in match.normal:
                sub = record.subscription
                if sub.no_local and client_id == origin:
                    continue  # No Local [MQTT-3.8.3-3]
                merge_target(targets, client_id, record)
            if match.shared:
                for group_key, members in match.shared.items():
                    client_id, record = self._pick_shared(group_key, members)
                    merge_target(targets, client_id, record)
            else:
                # Without shared groups (whose member changes per message) the
                # targets depend only on the topic and the publisher: keep them.
                if len(self._targets) >= _CACHE_LIMIT:
                    self._targets.clear()
                self._targets[(topic, origin)] = targets
        if not targets:
            return ReasonCode.NO_MATCHING_SUBSCRIBERS
        forms: dict[tuple[object, ...], tuple[Publish, bytes, int]] = {}
        authorizer = self.authorizer
        asks = _asks(authorizer)
        for client_id, (granted, rap, ids) in targets.items():
            session = self.sessions[client_id]
            conn = self.connections.get(client_id)
            # The owner's identity, connected or not: an absent subscriber is
            # not anonymous.
            if asks and not authorizer.may_receive(client_id, session.username, packet.topic):
                self.message_dropped(session, packet, DropReason.NOT_AUTHORIZED, events)
                continue
            qos = min(packet.qos, granted)
            retain = packet.retain and rap  # RETAIN=0 unless Retain As Published [MQTT-3.3.1-12]
            self._deliver(session, conn, packet, qos, retain, ids, expires_at, now, events, forms)
        # A subscription matched, so the message was accepted: a drop for one
        # subscriber (absent at QoS 0, full queue, not allowed to read) is that
        # subscriber's, counted and reported, not a failure of the publisher's.
        # 0x10 is for "no subscription matched" alone (MQTT 5 §3.4.2.1).
        return SUCCESS

    def _pick_shared(
        self, group_key: tuple[str, str], members: list[tuple[str, SubscriptionRecord]]
    ) -> tuple[str, SubscriptionRecord]:
        """Round-robin over a shared group, preferring connected members."""
        start = self._shared_next.get(group_key, 0)
        count = len(members)
        for step in range(count):
            index = (start + step) % count
            if members[index][0] in self.connections:
                self._shared_next[group_key] = index + 1
                return members[index]
        self._shared_next[group_key] = start + 1
        return members[start % count]

    def _deliver(
        self,
        session: Session,
        conn: BrokerConnection | None,
        packet: Publish,
        qos: int,
        retain: bool,
        ids: tuple[int, ...],
        expires_at: float | None,
        now: float,
        events: list[Event] | None,
        forms: dict[tuple[object, ...], tuple[Publish, bytes, int]],
    ) -> None:
        """Send or queue one message for one session, or drop it (counted and
        reported as that subscriber's drop, never as the publisher's failure)."""
        online = conn is not None and conn.state is BrokerState.CONNECTED
        if qos == 0 and not online:
            # QoS 0 is not kept for absent clients (MQTT 5 §3.1.2.4 allows either).
            self.message_dropped(session, packet, DropReason.QOS0_OFFLINE, events)
            return
        version = conn.version if conn is not None and online else None
        key = (version, qos, retain, ids)
        form = forms.get(key)
        if form is None:
            form = forwarded_form(packet, version, qos, retain, ids, expires_at, now)
            forms[key] = form
        publish, encoded, pid_offset = form
        if conn is not None and online:
            if (
                conn.client_max_packet_size is not None
                and len(encoded) > conn.client_max_packet_size
            ):
                # Never send more than the client accepts [MQTT-3.1.2-25].
                self.message_dropped(session, packet, DropReason.PACKET_TOO_LARGE, events)
                return
            if conn.outbox_full():
                # The client is not reading (BrokerConfig.max_outgoing_*): QoS 0
                # is dropped and counted; QoS 1/2 waits in the session queue.
                if qos == 0:
                    self.message_dropped(session, packet, DropReason.OUTGOING_BUFFER_FULL, events)
                    return
            elif qos == 0:
                self.stats.publish_sent += 1
                conn.send_bytes(encoded, publish)
                return
            elif len(session.outbound) < conn.send_window and not session.queued:
                pid = session.packet_ids.allocate()
                data = encoded[:pid_offset] + pid.to_bytes(2, "big") + encoded[pid_offset + 2 :]
                publish = with_packet_id(publish, pid)  # replace(), without its cost per message
                conn.track_outbound(session, publish, expires_at)
                self.mark_dirty(session)
                self.stats.publish_sent += 1
                conn.send_bytes(data, publish)
                return
        if len(session.queued) >= self.config.max_queued_messages:
            self.message_dropped(session, packet, DropReason.QUEUE_FULL, events)
            return
        pid = session.packet_ids.allocate()
        session.queued.append(
            QueuedMessage(publish=with_packet_id(publish, pid), expires_at=expires_at)
        )
        self.mark_dirty(session)

    def deny(
        self,
        events: list[Event],
        client_id: str,
        username: str | None,
        action: str,
        topic: str,
        reason: ReasonCode = ReasonCode.NOT_AUTHORIZED,
    ) -> None:
        """Count a refused action in ``$SYS`` and report it, naming who asked."""
        self.stats.denied += 1
        events.append(
            ActionDenied(
                client_id=client_id,
                action=action,
                topic=topic,
                reason_code=reason,
                username=username,
            )
        )

    # -- wills and session ends ------------------------------------------------------

    def _publish_will(
        self, client_id: str, will: Will, username: str | None, now: float, events: list[Event]
    ) -> None:
        """Publish a will as its client would have, authorisation included."""
        if not self.authorizer.may_publish(client_id, username, will.topic):
            self.deny(events, client_id, username, "publish will", will.topic)
            return
        props = replace(will.properties, will_delay_interval=None)
        packet = application_message(will.topic, will.payload, will.qos, will.retain, props)
        events.append(WillPublished(client_id=client_id, topic=will.topic))
        self._accept_message(packet, client_id, now, events)

    def _end_session(
        self,
        session: Session,
        now: float,
        events: list[Event],
        reason: str = DropReason.SESSION_EXPIRED,
    ) -> None:
        client_id = session.client_id
        for topic_filter in list(session.subscriptions):
            self.subscriptions.remove(topic_filter, client_id)
        self.subscriptions_changed()
        lost = len(session.queued) + len(session.outbound)
        if lost:
            self.stats.dropped[reason] += lost
        for held in session.held_qos2.values():
            # PUBREC told the publisher we had it: the loss is reported too.
            self.message_dropped(session, held.publish, reason, events)
        self.sessions.pop(client_id, None)
        self._dirty.pop(client_id, None)
        if self.store is not None:
            self._changes.deleted_sessions.append(client_id)

    def _schedule(self, when: float, kind: str, key: str, stamp: float) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (when, self._timer_seq, kind, key, stamp))

    def _restore(self, store: SessionStore) -> None:
        state = store.load()
        now = self.stats.started_at
        for session in state.sessions:
            self.sessions[session.client_id] = session
            for topic_filter, record in session.subscriptions.items():
                self.subscriptions.add(topic_filter, session.client_id, record)
            # Restored sessions are disconnected: their expiry clock runs from
            # when they were last connected, or from now if that is unknown.
            if session.disconnected_at is None:
                session.disconnected_at = now
            expires = session.expires_at()
            if expires is not None:
                self._schedule(
                    max(expires, now), "expiry", session.client_id, session.disconnected_at
                )
        self.subscriptions_changed()
        for message in state.retained:
            self.retained.set(message)
