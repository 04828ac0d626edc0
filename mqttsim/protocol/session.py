"""Session state as plain data (MQTT 5 §4.1, 3.1.1 §4.1).

A session outlives its network connection: it is what Clean Start = 0 resumes.
Both ends keep one. On the client it holds the QoS 1 and 2 messages sent and
not yet completely acknowledged, and the QoS 2 packet identifiers received
and not yet released (with the messages themselves, for an end that hands
them on at PUBREL). The broker keeps those too, plus the subscriptions and
the messages queued while the client is away.

Everything here is a dataclass of primitives and packets, so a store can
save and restore a session without reaching into a connection's private
attributes, and a test can compare two sessions with ``==``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from .errors import LocalProtocolError
from .packets import Publish, Subscription

__all__ = [
    "OutboundState",
    "InflightMessage",
    "QueuedMessage",
    "SubscriptionRecord",
    "Session",
    "PacketIdPool",
]

#: Session Expiry Interval meaning "never expires" (MQTT 5 §3.1.2.11.2).
SESSION_NEVER_EXPIRES = 0xFFFFFFFF


class OutboundState(Enum):
    """Where a QoS 1/2 message we sent stands in its exchange (§4.3)."""

    AWAITING_PUBACK = "awaiting PUBACK"
    AWAITING_PUBREC = "awaiting PUBREC"
    AWAITING_PUBCOMP = "awaiting PUBCOMP"  # PUBREL sent; the message itself is gone


@dataclass(slots=True, kw_only=True, init=False)
class InflightMessage:
    """A QoS 1/2 message sent and not completely acknowledged.

    Attributes:
        publish: the PUBLISH as sent (with its packet identifier); on resume
            it is sent again with DUP=1 [MQTT-4.4.0-1].
        state: the acknowledgement we wait for.
        expires_at: absolute time the message expires, or ``None``.
    """

    publish: Publish
    state: OutboundState
    expires_at: float | None = None

    # Written out, here and below, so that mypyc compiles it: one or two are
    # made per message (see mqttsim.native).
    def __init__(
        self, *, publish: Publish, state: OutboundState, expires_at: float | None = None
    ) -> None:
        self.publish = publish
        self.state = state
        self.expires_at = expires_at


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class QueuedMessage:
    """A message waiting for a packet identifier, a free slot in the
    in-flight window, or the client's return."""

    publish: Publish
    expires_at: float | None = None

    def __init__(self, *, publish: Publish, expires_at: float | None = None) -> None:
        object.__setattr__(self, "publish", publish)
        object.__setattr__(self, "expires_at", expires_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionRecord:
    """A subscription held in a broker session."""

    subscription: Subscription
    identifier: int | None = None


@dataclass(slots=True, kw_only=True)
class PacketIdPool:
    """Allocates packet identifiers 1..65535, never one still in use
    [MQTT-2.2.1-3]; identifiers are reused only after their exchange ends."""

    next_id: int = 1
    in_use: set[int] = field(default_factory=set)

    def allocate(self) -> int:
        if len(self.in_use) >= 0xFFFF:
            raise LocalProtocolError("all 65535 packet identifiers are in use")
        pid = self.next_id
        while pid in self.in_use:
            pid = pid % 0xFFFF + 1
        self.in_use.add(pid)
        self.next_id = pid % 0xFFFF + 1
        return pid

    def claim(self, pid: int) -> None:
        """Mark ``pid`` as in use (restoring a saved session)."""
        self.in_use.add(pid)

    def release(self, pid: int) -> None:
        self.in_use.discard(pid)


@dataclass(slots=True, kw_only=True)
class Session:
    """One end's session state.

    Attributes:
        client_id: the session's key.
        expiry_interval_s: seconds the session outlives its connection
            (0: ends with it; 0xFFFFFFFF: never expires).
        outbound: our QoS 1/2 messages in flight, by packet identifier, in
            the order they were first sent (dicts keep insertion order, and
            resending in that order is required [MQTT-4.6.0-1]).
        inbound_qos2: packet identifiers of QoS 2 PUBLISHes received and
            not yet released by PUBREL: a PUBLISH arriving again with one of
            these is a duplicate and is not delivered again [MQTT-4.3.3-10].
        held_qos2: the QoS 2 messages received and held until their PUBREL,
            by packet identifier (Method A of §4.3.3, for an end set to
            ``QoS2Handover.ON_PUBREL``); each identifier is also in
            ``inbound_qos2``. The broker keeps each with its expiry, counted
            from when the PUBLISH arrived.
        queued: messages not yet sent, oldest first.
        subscriptions: broker side only; topic filter -> record.
        packet_ids: the identifier pool for our outgoing exchanges.
        disconnected_at: when the last connection ended (expiry clock);
            ``None`` while connected.
        username: broker side only; the user name its owner connected with
            (``None``: anonymous). Messages routed to the session while its
            client is away are authorised as this user, never as anonymous;
            a take-over by another user makes that user the owner.
    """

    client_id: str
    expiry_interval_s: int = 0
    outbound: dict[int, InflightMessage] = field(default_factory=dict)
    inbound_qos2: set[int] = field(default_factory=set)
    held_qos2: dict[int, QueuedMessage] = field(default_factory=dict)
    queued: deque[QueuedMessage] = field(default_factory=deque)
    subscriptions: dict[str, SubscriptionRecord] = field(default_factory=dict)
    packet_ids: PacketIdPool = field(default_factory=PacketIdPool)
    disconnected_at: float | None = None
    username: str | None = None

    def expires_at(self) -> float | None:
        """The absolute time this session ends, if disconnected."""
        if self.disconnected_at is None or self.expiry_interval_s == SESSION_NEVER_EXPIRES:
            return None
        return self.disconnected_at + self.expiry_interval_s
