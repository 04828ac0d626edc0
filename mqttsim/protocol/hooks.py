"""What the broker core asks of the world: who may connect, who may do what,
and where sessions are kept. Plain ``typing.Protocol``s, so a password file,
an ACL file, a SQLite database or a test's dict can serve without inheriting
anything. File formats live in ``mqttsim.aio``, never here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .enums import ReasonCode
from .session import QueuedMessage, Session

__all__ = [
    "Authenticator",
    "Authorizer",
    "SessionStore",
    "StoreChanges",
    "StoredState",
    "AllowAll",
]


class Authenticator(Protocol):
    """Decides whether a CONNECT's credentials are good."""

    def authenticate(
        self, client_id: str, username: str | None, password: bytes | None
    ) -> ReasonCode:
        """``SUCCESS``, or the CONNACK reason to refuse with (usually
        ``BAD_USER_NAME_OR_PASSWORD`` or ``NOT_AUTHORIZED``)."""
        ...


class Authorizer(Protocol):
    """Decides, per client, which topics may be written and read."""

    def may_publish(self, client_id: str, username: str | None, topic: str) -> bool: ...

    def may_subscribe(self, client_id: str, username: str | None, topic_filter: str) -> bool: ...

    def may_receive(self, client_id: str, username: str | None, topic: str) -> bool:
        """Checked for each message before delivery, so a wildcard
        subscription cannot read topics the client may not read."""
        ...


@dataclass(slots=True, kw_only=True)
class StoreChanges:
    """One batch of changes, written in one transaction before any
    acknowledgement that depends on them leaves the broker."""

    sessions: list[Session] = field(default_factory=list)
    deleted_sessions: list[str] = field(default_factory=list)
    #: topic -> its retained message now, or ``None`` where it was cleared.
    retained: dict[str, QueuedMessage | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.sessions or self.deleted_sessions or self.retained)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredState:
    """What a store hands back on start-up."""

    sessions: list[Session]
    retained: list[QueuedMessage]


class SessionStore(Protocol):
    """Durable storage for persistent sessions and retained messages."""

    def load(self) -> StoredState: ...

    def apply(self, changes: StoreChanges) -> None: ...


class AllowAll:
    """The default hooks: anyone may connect and do anything."""

    def authenticate(
        self, client_id: str, username: str | None, password: bytes | None
    ) -> ReasonCode:
        return ReasonCode.SUCCESS

    def may_publish(self, client_id: str, username: str | None, topic: str) -> bool:
        return True

    def may_subscribe(self, client_id: str, username: str | None, topic_filter: str) -> bool:
        return True

    def may_receive(self, client_id: str, username: str | None, topic: str) -> bool:
        return True
