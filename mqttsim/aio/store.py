"""Persistence of sessions and retained messages in SQLite.

A :class:`SqliteStore` is the broker core's :class:`SessionStore`. The core
hands it one batch of changes before any acknowledgement that depends on
them leaves (see ``BrokerConnection.data_to_send``); the batch is written in
one transaction. SQLite in WAL mode with ``synchronous=NORMAL`` keeps every
committed transaction across a kill of the broker process (the OS holds
the written pages); ``durable=True`` asks for ``synchronous=FULL``, which
also survives a power cut at the cost of an fsync per batch.

Theory of operation. The core hands over whole :class:`Session` objects, so
the store remembers, per session, what it last wrote (the ``_Written``
record) and writes only the difference: one row per message queued or in
flight, inserted when the message object is new, deleted when it is gone,
updated when an in-flight message's state or packet changed; the session's
row (metadata and subscriptions) only when those changed. Queued messages
are immutable and leave the queue from the left, so the common case is
found with a comparison of identities; any other change of the queue writes
the whole queue again, which is always correct. An offline queue of 5,000
messages thus costs one row per new message, not 5,000.

Rows keep their order in ``seq``, a per-session counter: the queue's order
and the order in-flight messages were first sent, which a resumed session
resends in [MQTT-4.6.0-1]. A batch that fails is rolled back and its
sessions forgotten, so the next batch writes them whole.

QoS 2 messages held for their PUBREL (``Session.held_qos2``) are few (the
Receive Maximum bounds them) and never change: a row each in ``held``, keyed
by packet identifier, inserted when the object is new and deleted when it
is gone.

Messages are stored as their MQTT 5 encoding: the codec we trust for the
wire is the serialiser, so nothing here knows the fields of a PUBLISH.
Files of the first schema (one JSON document per session) are migrated when
opened, and files of the second get the ``held`` table (empty: no version
that wrote them held messages); a file from a newer version is refused.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
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

__all__ = ["SqliteStore", "SCHEMA_VERSION"]

SCHEMA_VERSION = 3
"""The layout this module writes, kept in SQLite's ``user_version``: 1 had
no number (one JSON document per session), 2 had no ``held`` table."""

_V5 = ProtocolVersion.V5
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    client_id TEXT PRIMARY KEY,
    username TEXT,
    expiry_interval_s INTEGER NOT NULL,
    disconnected_at REAL,
    next_packet_id INTEGER NOT NULL,
    inbound_qos2 TEXT NOT NULL,
    subscriptions TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    client_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    state TEXT,
    packet BLOB NOT NULL,
    expires_at REAL,
    PRIMARY KEY (client_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS retained (
    topic TEXT PRIMARY KEY, packet BLOB NOT NULL, expires_at REAL
);
CREATE TABLE IF NOT EXISTS held (
    client_id TEXT NOT NULL,
    packet_id INTEGER NOT NULL,
    packet BLOB NOT NULL,
    expires_at REAL,
    PRIMARY KEY (client_id, packet_id)
) WITHOUT ROWID;
"""
# In ``messages``, ``state`` is NULL for a queued message, else the name of
# the in-flight message's OutboundState. ``inbound_qos2`` and
# ``subscriptions`` are JSON lists (see _meta_row and _subscriptions_text).

_INSERT_MESSAGE = (
    "INSERT INTO messages (client_id, seq, state, packet, expires_at) VALUES (?, ?, ?, ?, ?)"
)
_UPDATE_MESSAGE = (
    "UPDATE messages SET state = ?, packet = ?, expires_at = ? WHERE client_id = ? AND seq = ?"
)
_DELETE_MESSAGE = "DELETE FROM messages WHERE client_id = ? AND seq = ?"
_UPSERT_SESSION = (
    "INSERT OR REPLACE INTO sessions (client_id, username, expiry_interval_s, disconnected_at,"
    " next_packet_id, inbound_qos2, subscriptions) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_META = (
    "UPDATE sessions SET username = ?, expiry_interval_s = ?, disconnected_at = ?,"
    " next_packet_id = ?, inbound_qos2 = ? WHERE client_id = ?"
)
_UPDATE_SUBSCRIPTIONS = "UPDATE sessions SET subscriptions = ? WHERE client_id = ?"
_INSERT_HELD = (
    "INSERT OR REPLACE INTO held (client_id, packet_id, packet, expires_at) VALUES (?, ?, ?, ?)"
)
_DELETE_HELD = "DELETE FROM held WHERE client_id = ? AND packet_id = ?"

_Meta = tuple[str | None, int, float | None, int, frozenset[int]]


def _meta(session: Session) -> _Meta:
    return (
        session.username,
        session.expiry_interval_s,
        session.disconnected_at,
        session.packet_ids.next_id,
        frozenset(session.inbound_qos2),
    )


def _meta_row(meta: _Meta) -> tuple[Any, ...]:
    username, expiry, disconnected_at, next_id, inbound = meta
    return (username, expiry, disconnected_at, next_id, json.dumps(sorted(inbound)))


def _subscriptions_text(subscriptions: dict[str, SubscriptionRecord]) -> str:
    return json.dumps(
        [
            [
                topic_filter,
                int(r.subscription.qos),
                r.subscription.no_local,
                r.subscription.retain_as_published,
                int(r.subscription.retain_handling),
                r.identifier,
            ]
            for topic_filter, r in subscriptions.items()
        ],
        separators=(",", ":"),
    )


def _subscriptions_from(rows: Iterable[list[Any]]) -> dict[str, SubscriptionRecord]:
    result: dict[str, SubscriptionRecord] = {}
    for topic_filter, qos, no_local, rap, handling, identifier in rows:
        sub = Subscription(
            topic_filter=topic_filter,
            qos=QoS(qos),
            no_local=no_local,
            retain_as_published=rap,
            retain_handling=RetainHandling(handling),
        )
        result[topic_filter] = SubscriptionRecord(subscription=sub, identifier=identifier)
    return result


def _publish_from(data: bytes) -> Publish:
    packet = decode(data, _V5)
    if not isinstance(packet, Publish):
        raise ValueError(f"a stored message is a {type(packet).__name__}, not a PUBLISH")
    return packet


@dataclass(slots=True, frozen=True)
class _Outbound:
    """What was written for one in-flight message (InflightMessage mutates in
    place, so the fields that can change are kept beside the object)."""

    message: InflightMessage
    seq: int
    state: OutboundState
    publish: Publish
    expires_at: float | None


@dataclass(slots=True)
class _Written:
    """What the database holds for one session, as objects. Holding the
    objects keeps their ``id()`` from being reused while we compare by it."""

    session: Session
    next_seq: int = 0
    meta: _Meta | None = None
    subscriptions: dict[str, SubscriptionRecord] = field(default_factory=dict)
    queued: list[QueuedMessage] = field(default_factory=list)
    queued_seqs: list[int] = field(default_factory=list)
    outbound: dict[int, _Outbound] = field(default_factory=dict)
    held: dict[int, QueuedMessage] = field(default_factory=dict)


class _Batch:
    """The statements of one transaction, grouped so each kind runs once."""

    def __init__(self) -> None:
        self.inserts: list[tuple[Any, ...]] = []
        self.updates: list[tuple[Any, ...]] = []
        self.deletes: list[tuple[str, int]] = []
        self.held_inserts: list[tuple[Any, ...]] = []
        self.held_deletes: list[tuple[str, int]] = []

    def queue_rows(self, cid: str, w: _Written, messages: Iterable[QueuedMessage]) -> None:
        for message in messages:
            w.queued.append(message)
            w.queued_seqs.append(w.next_seq)
            self.inserts.append(
                (cid, w.next_seq, None, encode(message.publish, _V5), message.expires_at)
            )
            w.next_seq += 1

    def outbound_row(self, cid: str, w: _Written, pid: int, message: InflightMessage) -> None:
        w.outbound[pid] = _Outbound(
            message, w.next_seq, message.state, message.publish, message.expires_at
        )
        self.inserts.append(
            (cid, w.next_seq, message.state.name, encode(message.publish, _V5), message.expires_at)
        )
        w.next_seq += 1


def _diff_queue(cid: str, session: Session, old: _Written, new: _Written, batch: _Batch) -> None:
    """Rows for the queue: messages popped from the left are deleted, those
    appended are inserted; any other change rewrites the whole queue."""
    ids = list(map(id, session.queued))
    old_ids = list(map(id, old.queued))
    if ids == old_ids:
        new.queued, new.queued_seqs = old.queued, old.queued_seqs
        return
    gone = len(old_ids)
    if ids:
        try:
            gone = old_ids.index(ids[0])
        except ValueError:
            pass
    kept = len(old_ids) - gone
    if ids[:kept] != old_ids[gone:]:
        gone, kept = len(old_ids), 0
    batch.deletes.extend((cid, seq) for seq in old.queued_seqs[:gone])
    new.queued = old.queued[gone:]
    new.queued_seqs = old.queued_seqs[gone:]
    batch.queue_rows(cid, new, islice(session.queued, kept, None))


def _diff_outbound(cid: str, session: Session, old: _Written, new: _Written, batch: _Batch) -> None:
    """Rows for the in-flight messages, by packet identifier."""
    if not _same_order(session, old):
        batch.deletes.extend((cid, row.seq) for row in old.outbound.values())
        for pid, message in session.outbound.items():
            batch.outbound_row(cid, new, pid, message)
        return
    for pid, message in session.outbound.items():
        row = old.outbound.get(pid)
        if row is None:
            batch.outbound_row(cid, new, pid, message)
        elif (
            row.message is not message
            or row.state is not message.state
            or row.publish is not message.publish
            or row.expires_at != message.expires_at
        ):
            new.outbound[pid] = _Outbound(
                message, row.seq, message.state, message.publish, message.expires_at
            )
            batch.updates.append(
                (message.state.name, encode(message.publish, _V5), message.expires_at, cid, row.seq)
            )
        else:
            new.outbound[pid] = row
    batch.deletes.extend(
        (cid, row.seq) for pid, row in old.outbound.items() if pid not in session.outbound
    )


def _diff_held(cid: str, session: Session, old: _Written, new: _Written, batch: _Batch) -> None:
    """Rows for the messages held for their PUBREL: immutable, so compared
    by identity; one arriving is inserted, one released is deleted."""
    for pid, message in session.held_qos2.items():
        if old.held.get(pid) is not message:
            batch.held_inserts.append((cid, pid, encode(message.publish, _V5), message.expires_at))
        new.held[pid] = message
    batch.held_deletes.extend((cid, pid) for pid in old.held if pid not in session.held_qos2)


def _same_order(session: Session, old: _Written) -> bool:
    """Whether the rows kept, in their ``seq`` order, then the new rows, give
    the dict's order. Not so only if an identifier came back after a newer
    one (a wrap-around of the 65535 identifiers between two batches)."""
    last = -1
    for pid in session.outbound:
        row = old.outbound.get(pid)
        if row is None:
            last = old.next_seq  # new rows come after every kept one
        elif row.seq < last:
            return False
        else:
            last = row.seq
    return True


def _session_from_v1(client_id: str, text: str) -> Session:
    """A session from the first schema: one JSON document, messages as
    base64 MQTT 5 packets."""
    data = json.loads(text)
    session = Session(
        client_id=client_id,
        expiry_interval_s=data["expiry_interval_s"],
        disconnected_at=data["disconnected_at"],
        packet_ids=PacketIdPool(next_id=data["next_id"]),
    )
    for pid, state, packet, expires_at in data["outbound"]:
        session.outbound[pid] = InflightMessage(
            publish=_publish_from(base64.b64decode(packet)),
            state=OutboundState[state],
            expires_at=expires_at,
        )
        session.packet_ids.claim(pid)
    session.inbound_qos2 = set(data["inbound_qos2"])
    for packet, expires_at in data["queued"]:
        publish = _publish_from(base64.b64decode(packet))
        session.queued.append(QueuedMessage(publish=publish, expires_at=expires_at))
        if publish.packet_id is not None:
            session.packet_ids.claim(publish.packet_id)
    session.subscriptions = _subscriptions_from(data["subscriptions"])
    return session


class SqliteStore:
    """Sessions and retained messages in one SQLite file.

    Args:
        path: the database file; created if missing, migrated if written by
            the first schema.
        durable: fsync every batch (survives power loss, not only a kill).

    Raises:
        ConfigError: if the file cannot be opened, is not a database, or was
            written by a newer version (one line naming the file).
    """

    def __init__(self, path: str | Path, *, durable: bool = False) -> None:
        self.path = Path(path)
        self._written: dict[str, _Written] = {}
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open persistence file {self.path}: {exc}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._open_schema()
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, sqlite3.Error):
                raise ConfigError(f"cannot open persistence file {self.path}: {exc}") from None
            if isinstance(exc, (ValueError, KeyError, TypeError)):
                raise ConfigError(
                    f"cannot migrate persistence file {self.path} from the first schema: {exc}"
                ) from None
            raise

    def _open_schema(self) -> None:
        db = self._db
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"persistence file {self.path} has schema {version}, written by a newer"
                f" mqttsim; this one reads schemas 1 to {SCHEMA_VERSION}"
            )
        if version == SCHEMA_VERSION:
            return
        # Schema 1 had no version number and a ``data`` column in ``sessions``;
        # schema 2 lacks only the ``held`` table, which CREATE ... IF NOT EXISTS adds.
        columns = {row[1] for row in db.execute("PRAGMA table_info(sessions)")}
        db.execute("BEGIN IMMEDIATE")
        try:
            if "data" in columns:
                db.execute("ALTER TABLE sessions RENAME TO sessions_v1")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            if "data" in columns:
                self._migrate_v1()
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _migrate_v1(self) -> None:
        """Rewrite every first-schema session as rows, inside the open transaction."""
        batch = _Batch()
        sessions = [
            _session_from_v1(cid, data)
            for cid, data in self._db.execute("SELECT client_id, data FROM sessions_v1")
        ]
        for session in sessions:
            self._write_whole(session, batch)
        self._run(batch)
        self._db.execute("DROP TABLE sessions_v1")
        self._written.clear()  # load() records what it reads

    def load(self) -> StoredState:
        """Read every session and retained message (at start-up).

        Raises:
            ConfigError: if the file is unreadable or holds something that is
                not a valid session.
        """
        try:
            sessions = self._load_sessions()
            retained = [
                QueuedMessage(publish=_publish_from(bytes(packet)), expires_at=expires_at)
                for packet, expires_at in self._db.execute(
                    "SELECT packet, expires_at FROM retained"
                )
            ]
        except (sqlite3.Error, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"persistence file {self.path} is unreadable: {exc}") from None
        return StoredState(sessions=sessions, retained=retained)

    def _load_sessions(self) -> list[Session]:
        self._written.clear()
        sessions: dict[str, Session] = {}
        for cid, username, expiry, disconnected_at, next_id, inbound, subs in self._db.execute(
            "SELECT client_id, username, expiry_interval_s, disconnected_at, next_packet_id,"
            " inbound_qos2, subscriptions FROM sessions"
        ):
            session = Session(
                client_id=cid,
                username=username,
                expiry_interval_s=expiry,
                disconnected_at=disconnected_at,
                packet_ids=PacketIdPool(next_id=next_id),
                inbound_qos2=set(json.loads(inbound)),
                subscriptions=_subscriptions_from(json.loads(subs)),
            )
            sessions[cid] = session
            self._written[cid] = _Written(
                session=session, meta=_meta(session), subscriptions=dict(session.subscriptions)
            )
        for cid, seq, state, packet, expires_at in self._db.execute(
            "SELECT client_id, seq, state, packet, expires_at FROM messages ORDER BY client_id, seq"
        ):
            owner = sessions.get(cid)
            if owner is None:
                continue  # cannot happen through apply(); ignore rather than invent a session
            w = self._written[cid]
            w.next_seq = seq + 1
            publish = _publish_from(bytes(packet))
            if state is None:
                queued = QueuedMessage(publish=publish, expires_at=expires_at)
                owner.queued.append(queued)
                w.queued.append(queued)
                w.queued_seqs.append(seq)
                if publish.packet_id is not None:
                    owner.packet_ids.claim(publish.packet_id)
                continue
            inflight = InflightMessage(
                publish=publish, state=OutboundState[state], expires_at=expires_at
            )
            pid = publish.packet_id
            if pid is None:
                raise ValueError(f"an in-flight message of {cid!r} has no packet identifier")
            owner.outbound[pid] = inflight
            owner.packet_ids.claim(pid)
            w.outbound[pid] = _Outbound(inflight, seq, inflight.state, publish, expires_at)
        for cid, pid, packet, expires_at in self._db.execute(
            "SELECT client_id, packet_id, packet, expires_at FROM held"
            " ORDER BY client_id, packet_id"
        ):
            owner = sessions.get(cid)
            if owner is None:
                continue  # as above
            held = QueuedMessage(publish=_publish_from(bytes(packet)), expires_at=expires_at)
            owner.held_qos2[pid] = held
            self._written[cid].held[pid] = held
        return list(sessions.values())

    def apply(self, changes: StoreChanges) -> None:
        """Write one batch in one transaction: only what changed since the last.

        Raises:
            sqlite3.Error: if the database cannot be written; nothing of the
                batch is kept, and its sessions are written whole next time.
        """
        db = self._db
        staged: dict[str, _Written] = {}
        touched = [s.client_id for s in changes.sessions] + list(changes.deleted_sessions)
        db.execute("BEGIN")
        try:
            for client_id in changes.deleted_sessions:
                db.execute("DELETE FROM sessions WHERE client_id = ?", (client_id,))
                db.execute("DELETE FROM messages WHERE client_id = ?", (client_id,))
                db.execute("DELETE FROM held WHERE client_id = ?", (client_id,))
                self._written.pop(client_id, None)
                staged.pop(client_id, None)
            batch = _Batch()
            for session in changes.sessions:
                cid = session.client_id
                old = staged.get(cid) or self._written.get(cid)
                if old is None or old.session is not session:
                    staged[cid] = self._write_whole(session, batch)
                else:
                    staged[cid] = self._write_difference(session, old, batch)
            self._run(batch)
            self._write_retained(changes.retained)
        except BaseException:
            db.execute("ROLLBACK")
            for client_id in touched:  # unknown now: written whole next time
                self._written.pop(client_id, None)
            raise
        db.execute("COMMIT")
        self._written.update(staged)

    def _write_whole(self, session: Session, batch: _Batch) -> _Written:
        """A session seen for the first time (or replaced): every row anew."""
        cid = session.client_id
        self._run(batch)  # keep statement order: earlier rows of this batch first
        self._db.execute("DELETE FROM messages WHERE client_id = ?", (cid,))
        self._db.execute("DELETE FROM held WHERE client_id = ?", (cid,))
        meta = _meta(session)
        w = _Written(session=session, meta=meta, subscriptions=dict(session.subscriptions))
        self._db.execute(
            _UPSERT_SESSION, (cid, *_meta_row(meta), _subscriptions_text(session.subscriptions))
        )
        batch.queue_rows(cid, w, session.queued)
        for pid, message in session.outbound.items():
            batch.outbound_row(cid, w, pid, message)
        _diff_held(cid, session, _Written(session=session), w, batch)
        return w

    def _write_difference(self, session: Session, old: _Written, batch: _Batch) -> _Written:
        cid = session.client_id
        new = _Written(session=session, next_seq=old.next_seq, meta=old.meta)
        meta = _meta(session)
        if meta != old.meta:
            self._db.execute(_UPDATE_META, (*_meta_row(meta), cid))
            new.meta = meta
        if session.subscriptions != old.subscriptions:
            self._db.execute(
                _UPDATE_SUBSCRIPTIONS, (_subscriptions_text(session.subscriptions), cid)
            )
            new.subscriptions = dict(session.subscriptions)
        else:
            new.subscriptions = old.subscriptions
        _diff_queue(cid, session, old, new, batch)
        _diff_outbound(cid, session, old, new, batch)
        _diff_held(cid, session, old, new, batch)
        return new

    def _run(self, batch: _Batch) -> None:
        """Run the batch's message statements: deletes first, as a row's
        (client, seq) may be taken again only after it is gone."""
        db = self._db
        if batch.deletes:
            db.executemany(_DELETE_MESSAGE, batch.deletes)
        if batch.updates:
            db.executemany(_UPDATE_MESSAGE, batch.updates)
        if batch.inserts:
            db.executemany(_INSERT_MESSAGE, batch.inserts)
        if batch.held_deletes:
            db.executemany(_DELETE_HELD, batch.held_deletes)
        if batch.held_inserts:
            db.executemany(_INSERT_HELD, batch.held_inserts)
        batch.deletes.clear()
        batch.updates.clear()
        batch.inserts.clear()
        batch.held_deletes.clear()
        batch.held_inserts.clear()

    def _write_retained(self, retained: dict[str, QueuedMessage | None]) -> None:
        for topic, message in retained.items():
            if message is None:
                self._db.execute("DELETE FROM retained WHERE topic = ?", (topic,))
            else:
                self._db.execute(
                    "INSERT OR REPLACE INTO retained (topic, packet, expires_at) VALUES (?, ?, ?)",
                    (topic, encode(message.publish, _V5), message.expires_at),
                )

    def close(self) -> None:
        """Close the database; the store cannot be used afterwards."""
        self._db.close()
