"""Persistence of sessions and retained messages in SQLite.

A :class:`SqliteStore` is the broker core's :class:`SessionStore`. The core
hands it one batch of changes before any acknowledgement that depends on
them leaves (see ``BrokerConnection.data_to_send``); the batch is written in
one transaction. SQLite in WAL mode with ``synchronous=NORMAL`` keeps every
committed transaction across a kill of the broker process (the OS holds
the written pages); ``durable=True`` asks for ``synchronous=FULL``, which
also survives a power cut at the cost of an fsync per batch.

Messages are stored as their MQTT 5 encoding: the codec we trust for the
wire is the serialiser, so nothing here knows the fields of a PUBLISH.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections import deque
from pathlib import Path
from typing import Any

from mqttsim.protocol.codec import decode, encode
from mqttsim.protocol.enums import ProtocolVersion, QoS, RetainHandling
from mqttsim.protocol.errors import ConfigError
from mqttsim.protocol.hooks import StoreChanges, StoredState
from mqttsim.protocol.packets import Publish, Subscription
from mqttsim.protocol.session import (
    InflightMessage,
    OutboundState,
    PacketIdPool,
    QueuedMessage,
    Session,
    SubscriptionRecord,
)

__all__ = ["SqliteStore"]

_V5 = ProtocolVersion.V5
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (client_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS retained (
    topic TEXT PRIMARY KEY, packet BLOB NOT NULL, expires_at REAL
);
"""


def _packet_text(publish: Publish) -> str:
    return base64.b64encode(encode(publish, _V5)).decode("ascii")


def _packet_from(text: str) -> Publish:
    packet = decode(base64.b64decode(text), _V5)
    if not isinstance(packet, Publish):
        raise ConfigError(f"stored message is a {type(packet).__name__}, not a PUBLISH")
    return packet


def session_to_json(session: Session) -> str:
    """A session as JSON text (messages as base64 MQTT 5 packets)."""
    data: dict[str, Any] = {
        "expiry_interval_s": session.expiry_interval_s,
        "disconnected_at": session.disconnected_at,
        "next_id": session.packet_ids.next_id,
        "outbound": [
            [pid, m.state.name, _packet_text(m.publish), m.expires_at]
            for pid, m in session.outbound.items()
        ],
        "inbound_qos2": sorted(session.inbound_qos2),
        "queued": [[_packet_text(q.publish), q.expires_at] for q in session.queued],
        "subscriptions": [
            [
                f,
                int(r.subscription.qos),
                r.subscription.no_local,
                r.subscription.retain_as_published,
                int(r.subscription.retain_handling),
                r.identifier,
            ]
            for f, r in session.subscriptions.items()
        ],
    }
    return json.dumps(data, separators=(",", ":"))


def session_from_json(client_id: str, text: str) -> Session:
    data = json.loads(text)
    session = Session(
        client_id=client_id,
        expiry_interval_s=data["expiry_interval_s"],
        disconnected_at=data["disconnected_at"],
        packet_ids=PacketIdPool(next_id=data["next_id"]),
    )
    for pid, state, packet, expires_at in data["outbound"]:
        session.outbound[pid] = InflightMessage(
            publish=_packet_from(packet), state=OutboundState[state], expires_at=expires_at
        )
        session.packet_ids.claim(pid)
    session.inbound_qos2 = set(data["inbound_qos2"])
    session.queued = deque(
        QueuedMessage(publish=_packet_from(p), expires_at=e) for p, e in data["queued"]
    )
    for queued in session.queued:
        if queued.publish.packet_id is not None:
            session.packet_ids.claim(queued.publish.packet_id)
    for f, qos, no_local, rap, handling, identifier in data["subscriptions"]:
        sub = Subscription(
            topic_filter=f,
            qos=QoS(qos),
            no_local=no_local,
            retain_as_published=rap,
            retain_handling=RetainHandling(handling),
        )
        session.subscriptions[f] = SubscriptionRecord(subscription=sub, identifier=identifier)
    return session


class SqliteStore:
    """Sessions and retained messages in one SQLite file.

    Args:
        path: the database file; created if missing.
        durable: fsync every batch (survives power loss, not only a kill).
    """

    def __init__(self, path: str | Path, *, durable: bool = False) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open persistence file {self.path}: {exc}") from None

    def load(self) -> StoredState:
        try:
            sessions = [
                session_from_json(cid, data)
                for cid, data in self._db.execute("SELECT client_id, data FROM sessions")
            ]
            retained = [
                QueuedMessage(publish=decode(bytes(packet), _V5), expires_at=expires_at)  # type: ignore[arg-type]
                for packet, expires_at in self._db.execute(
                    "SELECT packet, expires_at FROM retained"
                )
            ]
        except (sqlite3.Error, ValueError, KeyError) as exc:
            raise ConfigError(f"persistence file {self.path} is unreadable: {exc}") from None
        return StoredState(sessions=sessions, retained=retained)

    def apply(self, changes: StoreChanges) -> None:
        db = self._db
        db.execute("BEGIN")
        try:
            for client_id in changes.deleted_sessions:
                db.execute("DELETE FROM sessions WHERE client_id = ?", (client_id,))
            db.executemany(
                "INSERT OR REPLACE INTO sessions (client_id, data) VALUES (?, ?)",
                [(s.client_id, session_to_json(s)) for s in changes.sessions],
            )
            for topic, message in changes.retained.items():
                if message is None:
                    db.execute("DELETE FROM retained WHERE topic = ?", (topic,))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO retained (topic, packet, expires_at)"
                        " VALUES (?, ?, ?)",
                        (topic, encode(message.publish, _V5), message.expires_at),
                    )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
