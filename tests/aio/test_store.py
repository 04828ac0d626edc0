"""SQLite persistence: a broker rebuilt from its store resumes sessions and
retained messages, nothing acknowledged is lost, and a change costs what
changed, not the whole session."""

from __future__ import annotations

import base64
import json
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from mqttsim.aio.store import SCHEMA_VERSION, SqliteStore
from mqttsim.protocol.broker import Broker, BrokerConfig
from mqttsim.protocol.codec import encode
from mqttsim.protocol.enums import ProtocolVersion, QoS, QoS2Handover
from mqttsim.protocol.errors import ConfigError
from mqttsim.protocol.events import PublishAcked, PublishCompleted
from mqttsim.protocol.hooks import StoreChanges
from mqttsim.protocol.packets import Publish, Subscription
from mqttsim.protocol.properties import Properties
from mqttsim.protocol.session import (
    InflightMessage,
    OutboundState,
    QueuedMessage,
    Session,
    SubscriptionRecord,
)

from ..protocol.harness import Net

V5 = ProtocolVersion.V5


def _restart(path: Path, net: Net, config: BrokerConfig | None = None) -> Net:
    """The broker process dies and starts again from its file; the clients
    (other processes) live on and see their connections drop."""
    net.broker.store.close()  # type: ignore[union-attr]
    fresh = Net(Broker(config, store=SqliteStore(path), now=net.now), now=net.now)
    for name, link in net.links.items():
        link.conn = None
        link.events += link.client.connection_lost(now=net.now)
        fresh.links[name] = link
    return fresh


def test_queued_messages_and_retained_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "broker.db"
    net = Net(Broker(store=SqliteStore(path)))
    net.connect("scada", version=V5, clean_start=False, session_expiry_interval_s=3600)
    net.links["scada"].client.subscribe("pipeline/#", qos=2, now=0)
    net.pump()
    net.cut("scada")
    net.connect("st-01", version=V5)
    st = net.links["st-01"].client
    st.publish("pipeline/st-01/pressure", b"61", qos=1, now=0)
    st.publish("pipeline/st-01/alarm", b"LEAK", qos=2, now=0)
    st.publish("pipeline/st-01/last", b"60", qos=1, retain=True, now=0)
    net.pump()
    assert len(net.events("st-01", PublishAcked)) == 2
    assert len(net.events("st-01", PublishCompleted)) == 1

    net = _restart(path, net)
    net.reconnect("scada", clean_start=False)
    assert net.connected("scada").session_present
    assert sorted(net.payloads("scada")) == [b"60", b"61", b"LEAK"]
    net.connect("late", version=V5)
    net.links["late"].client.subscribe("pipeline/+/last", now=0)
    net.pump()
    assert net.payloads("late") == [b"60"]


def test_a_half_finished_qos2_exchange_completes_exactly_once_after_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "broker.db"
    net = Net(Broker(store=SqliteStore(path)))
    net.connect("scada", version=V5, clean_start=False, session_expiry_interval_s=3600)
    net.links["scada"].client.subscribe("a", qos=2, now=0)
    net.pump()
    net.connect("st", version=V5, clean_start=False, session_expiry_interval_s=3600)
    net.links["st"].client.publish("a", b"once", qos=2, now=0)
    net.to_broker("st")  # broker has it and answered PUBREC (lost in the crash)
    net.to_client("scada")  # scada received it; its PUBREC is lost too

    net = _restart(path, net)
    net.reconnect("st", clean_start=False)
    net.reconnect("scada", clean_start=False)
    net.pump()
    assert net.payloads("scada") == [b"once"]
    assert len(net.events("st", PublishCompleted)) == 1
    assert not net.broker.sessions["st"].inbound_qos2
    assert not net.broker.sessions["scada"].outbound


# -- sessions written per message ---------------------------------------------------------


def _full_session() -> Session:
    """A session with something in every field."""
    session = Session(
        client_id="st-01", expiry_interval_s=3600, disconnected_at=12.5, username="station"
    )
    pub = Publish(
        topic="a",
        payload=b"\x00\xff",
        qos=QoS.EXACTLY_ONCE,
        packet_id=7,
        properties=Properties(user_properties=(("k", "v"),)),
    )
    session.outbound[7] = InflightMessage(
        publish=pub, state=OutboundState.AWAITING_PUBCOMP, expires_at=99.0
    )
    session.packet_ids.claim(7)
    session.packet_ids.next_id = 9
    session.inbound_qos2 = {3, 4}
    queued = Publish(topic="b", payload=b"q", qos=QoS.AT_LEAST_ONCE, packet_id=8)
    session.queued.append(QueuedMessage(publish=queued, expires_at=None))
    session.packet_ids.claim(8)
    session.subscriptions["a/#"] = SubscriptionRecord(
        subscription=Subscription(topic_filter="a/#", qos=QoS(1), no_local=True), identifier=5
    )
    return session


def _reloaded(path: Path) -> dict[str, Session]:
    """The sessions a broker restarted from ``path`` would get."""
    store = SqliteStore(path)
    try:
        return {s.client_id: s for s in store.load().sessions}
    finally:
        store.close()


def _statements(store: SqliteStore, action: Callable[[], None]) -> list[str]:
    """The SQL the store runs during ``action``, with its values written in."""
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)  # white-box: what reaches SQLite
    try:
        action()
    finally:
        store._db.set_trace_callback(None)
    return seen


def test_a_restart_restores_every_field_of_a_session_including_its_owner(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "broker.db")
    session = _full_session()
    store.apply(StoreChanges(sessions=[session]))
    store.close()
    assert _reloaded(tmp_path / "broker.db") == {"st-01": session}


def _held(pid: int, expires_at: float | None = None) -> QueuedMessage:
    publish = Publish(topic="pipeline/st-01/alarm", payload=b"LEAK", qos=QoS(2), packet_id=pid)
    return QueuedMessage(publish=publish, expires_at=expires_at)


def test_a_message_held_for_its_pubrel_is_saved_restored_and_deleted_when_released(
    tmp_path: Path,
) -> None:
    path = tmp_path / "broker.db"
    store = SqliteStore(path)
    session = _full_session()
    session.held_qos2 = {3: _held(3, expires_at=70.0), 4: _held(4)}  # both in inbound_qos2
    store.apply(StoreChanges(sessions=[session]))
    store.close()
    assert _reloaded(path) == {"st-01": session}

    store = SqliteStore(path)
    [session] = store.load().sessions

    def release() -> None:
        del session.held_qos2[3]
        session.inbound_qos2.discard(3)
        store.apply(StoreChanges(sessions=[session]))

    writes = [t for t in _statements(store, release) if not t.startswith(("BEGIN", "COMMIT"))]
    # The released identifier leaves inbound_qos2 (one UPDATE) and its row goes (one DELETE).
    assert len(writes) == 2, writes
    assert writes[0].startswith("UPDATE sessions") and writes[1].startswith("DELETE FROM held")
    store.close()
    assert _reloaded(path) == {"st-01": session}
    assert list(session.held_qos2) == [4]


def test_a_message_held_for_its_pubrel_survives_a_broker_restart(tmp_path: Path) -> None:
    """Method A of §4.3.3 with persistence: PUBREC leaves only once the held message is
    written, and after a restart the resent PUBREL routes it, once."""
    path = tmp_path / "broker.db"
    config = BrokerConfig(qos2_handover=QoS2Handover.ON_PUBREL)
    net = Net(Broker(config, store=SqliteStore(path)))
    net.connect("scada", version=V5, clean_start=False, session_expiry_interval_s=3600)
    net.links["scada"].client.subscribe("a", qos=2, now=0)
    net.pump()
    net.connect("st", version=V5, clean_start=False, session_expiry_interval_s=3600)
    net.links["st"].client.publish("a", b"once", qos=2, now=0)
    net.to_broker("st")  # held and written; the PUBREC goes out
    net.to_client("st")  # the PUBREL is queued, then lost in the crash

    net = _restart(path, net, config)
    assert list(net.broker.sessions["st"].held_qos2) == [1]
    net.reconnect("scada", clean_start=False)
    net.reconnect("st", clean_start=False)
    net.pump()
    assert net.payloads("scada") == [b"once"]
    assert len(net.events("st", PublishCompleted)) == 1
    assert not net.broker.sessions["st"].held_qos2


def _queued(n: int) -> QueuedMessage:
    publish = Publish(topic="pipeline/st-01/pressure", payload=b"%06d" % n, qos=QoS(1), packet_id=n)
    return QueuedMessage(publish=publish, expires_at=None)


def _bytes_to_queue_one_more(tmp_path: Path, waiting: int) -> tuple[int, int]:
    """(statements, characters of SQL) that queueing one message costs when
    ``waiting`` messages are queued already."""
    store = SqliteStore(tmp_path / f"queue-{waiting}.db")
    session = Session(client_id="scada", expiry_interval_s=3600)
    for _ in range(waiting):
        session.queued.append(_queued(session.packet_ids.allocate()))
    store.apply(StoreChanges(sessions=[session]))

    def queue_one() -> None:
        session.queued.append(_queued(session.packet_ids.allocate()))
        store.apply(StoreChanges(sessions=[session]))

    seen = _statements(store, queue_one)
    store.close()
    assert _reloaded(tmp_path / f"queue-{waiting}.db") == {"scada": session}
    return len(seen), sum(len(text) for text in seen)


def test_queueing_one_message_writes_as_much_with_5000_waiting_as_with_500(
    tmp_path: Path,
) -> None:
    few = _bytes_to_queue_one_more(tmp_path, 500)
    many = _bytes_to_queue_one_more(tmp_path, 5000)
    assert many[0] == few[0]
    # The new packet identifier has one digit more; the other 4,500 messages
    # must not be written again.
    assert many[1] <= few[1] + 8


def test_an_acknowledged_message_deletes_its_row_and_rewrites_nothing_else(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "broker.db")
    session = Session(client_id="scada", expiry_interval_s=3600)
    for _ in range(100):
        pid = session.packet_ids.allocate()
        session.outbound[pid] = InflightMessage(
            publish=_queued(pid).publish, state=OutboundState.AWAITING_PUBACK
        )
    store.apply(StoreChanges(sessions=[session]))

    def acknowledge() -> None:
        del session.outbound[50]
        session.packet_ids.release(50)
        store.apply(StoreChanges(sessions=[session]))

    seen = _statements(store, acknowledge)
    writes = [text for text in seen if not text.startswith(("BEGIN", "COMMIT"))]
    assert len(writes) == 1 and writes[0].startswith("DELETE"), writes
    store.close()
    assert _reloaded(tmp_path / "broker.db") == {"scada": session}


def _mutate(session: Session, rng: random.Random) -> Session:
    """One change of the kinds the broker makes, or might make (the store must
    stay right whatever the core does); may return a new session."""
    choice = rng.randrange(14)
    if choice <= 2 and len(session.packet_ids.in_use) < 200:
        session.queued.append(_queued(session.packet_ids.allocate()))
    elif choice == 3 and session.queued:
        queued = session.queued.popleft()
        qos = rng.choice((1, 2))
        publish = Publish(
            topic=queued.publish.topic,
            payload=queued.publish.payload,
            qos=QoS(qos),
            packet_id=queued.publish.packet_id,
        )
        state = OutboundState.AWAITING_PUBACK if qos == 1 else OutboundState.AWAITING_PUBREC
        assert publish.packet_id is not None
        session.outbound[publish.packet_id] = InflightMessage(
            publish=publish, state=state, expires_at=rng.choice((None, 50.0))
        )
    elif choice == 4 and session.outbound:
        pid = rng.choice(list(session.outbound))
        inflight = session.outbound[pid]
        if inflight.state is OutboundState.AWAITING_PUBREC:
            inflight.state = OutboundState.AWAITING_PUBCOMP
        else:
            del session.outbound[pid]
            session.packet_ids.release(pid)
    elif choice == 5 and session.outbound:
        inflight = rng.choice(list(session.outbound.values()))
        inflight.publish = Publish(
            topic=inflight.publish.topic,
            payload=inflight.publish.payload,
            qos=inflight.publish.qos,
            packet_id=inflight.publish.packet_id,
            dup=True,
        )
    elif choice == 6:
        topic_filter = rng.choice(("a/#", "b/+", "c"))
        if topic_filter in session.subscriptions:
            del session.subscriptions[topic_filter]
        else:
            sub = Subscription(topic_filter=topic_filter, qos=QoS(rng.randrange(3)))
            session.subscriptions[topic_filter] = SubscriptionRecord(subscription=sub)
    elif choice == 7:
        session.disconnected_at = rng.choice((None, float(rng.randrange(100))))
        session.username = rng.choice((None, "alice", "bob"))
        session.expiry_interval_s = rng.randrange(1, 5000)
    elif choice == 8:
        pid = rng.randrange(1, 20)
        session.inbound_qos2 ^= {pid}
    elif choice == 9 and len(session.packet_ids.in_use) < 200:
        session.queued.appendleft(_queued(session.packet_ids.allocate()))
    elif choice == 10 and len(session.outbound) > 1:
        # An identifier comes back after newer ones (the pool wrapped around).
        pid = next(iter(session.outbound))
        inflight = session.outbound.pop(pid)
        session.outbound[pid] = InflightMessage(
            publish=inflight.publish, state=OutboundState.AWAITING_PUBACK
        )
    elif choice == 11 and len(session.queued) > 2:
        dropped = session.queued[len(session.queued) // 2]  # expired in the middle
        session.queued.remove(dropped)
        assert dropped.publish.packet_id is not None
        session.packet_ids.release(dropped.publish.packet_id)
    elif choice == 12 and rng.random() < 0.2:  # a clean start replaces the session
        return Session(client_id=session.client_id, expiry_interval_s=60)
    elif choice == 13:  # a QoS 2 message held for its PUBREL arrives, or is released
        pid = rng.randrange(1, 20)
        if session.held_qos2.pop(pid, None) is None:
            publish = Publish(topic="held", payload=b"%d" % pid, qos=QoS(2), packet_id=pid)
            session.held_qos2[pid] = QueuedMessage(
                publish=publish, expires_at=rng.choice((None, 9.0))
            )
        session.inbound_qos2 ^= {pid}
    return session


def test_many_small_batches_then_a_restart_restore_every_session_exactly(
    tmp_path: Path, rng: random.Random
) -> None:
    path = tmp_path / "broker.db"
    store = SqliteStore(path)
    sessions = {cid: Session(client_id=cid, expiry_interval_s=60) for cid in ("a", "b", "c")}
    written: set[str] = set()  # applied since last deleted
    for step in range(600):
        batch: dict[str, Session] = {}
        for _ in range(rng.randrange(1, 4)):
            cid = rng.choice(sorted(sessions))
            sessions[cid] = batch[cid] = _mutate(sessions[cid], rng)
        deleted = []
        if rng.random() < 0.02:
            cid = rng.choice(sorted(sessions))
            deleted.append(cid)
            batch.pop(cid, None)
            sessions[cid] = Session(client_id=cid, expiry_interval_s=60)
        store.apply(StoreChanges(sessions=list(batch.values()), deleted_sessions=deleted))
        written = (written - set(deleted)) | set(batch)
        if step % 100 == 99:
            assert _reloaded(path) == {cid: sessions[cid] for cid in sorted(written)}
    store.close()
    assert _reloaded(path) == {cid: sessions[cid] for cid in sorted(written)}


def test_a_batch_that_fails_is_rolled_back_and_the_next_one_catches_up(tmp_path: Path) -> None:
    path = tmp_path / "broker.db"
    store = SqliteStore(path)
    session = _full_session()
    store.apply(StoreChanges(sessions=[session]))
    session.queued.append(_queued(session.packet_ids.allocate()))
    session.queued.append("not a message")  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        store.apply(StoreChanges(sessions=[session]))
    assert _reloaded(path) != {"st-01": session}
    session.queued.pop()
    store.apply(StoreChanges(sessions=[session]))
    store.close()
    assert _reloaded(path) == {"st-01": session}


# -- files written by earlier versions ------------------------------------------------------


def _b64(publish: Publish) -> str:
    return base64.b64encode(encode(publish, V5)).decode("ascii")


def test_a_file_of_the_first_schema_is_migrated_then_written_per_message(
    tmp_path: Path,
) -> None:
    path = tmp_path / "broker.db"
    expected = _full_session()
    expected.username = None  # the first schema did not keep the owner
    big = Publish(topic="b", payload=b"x" * 4000, qos=QoS(1), packet_id=9)
    expected.queued.append(QueuedMessage(publish=big, expires_at=None))
    expected.packet_ids.claim(9)
    old = {
        "expiry_interval_s": 3600,
        "disconnected_at": 12.5,
        "next_id": 9,
        "outbound": [[7, "AWAITING_PUBCOMP", _b64(expected.outbound[7].publish), 99.0]],
        "inbound_qos2": [3, 4],
        "queued": [[_b64(q.publish), q.expires_at] for q in expected.queued],
        "subscriptions": [["a/#", 1, True, False, 0, 5]],
    }
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE sessions (client_id TEXT PRIMARY KEY, data TEXT NOT NULL);"
        "CREATE TABLE retained (topic TEXT PRIMARY KEY, packet BLOB NOT NULL, expires_at REAL);"
    )
    db.execute("INSERT INTO sessions VALUES (?, ?)", ("st-01", json.dumps(old)))
    db.commit()
    db.close()

    store = SqliteStore(path)
    [session] = store.load().sessions
    assert session == expected

    def queue_one() -> None:
        session.queued.append(_queued(session.packet_ids.allocate()))
        store.apply(StoreChanges(sessions=[session]))

    assert sum(len(text) for text in _statements(store, queue_one)) < 1000
    store.close()
    assert _reloaded(path) == {"st-01": session}


def test_a_file_of_the_second_schema_gets_the_held_table_and_keeps_its_sessions(
    tmp_path: Path,
) -> None:
    """Schema 2 had no ``held`` table: no version that wrote it held messages."""
    path = tmp_path / "broker.db"
    store = SqliteStore(path)
    session = _full_session()
    store.apply(StoreChanges(sessions=[session]))
    store.close()
    db = sqlite3.connect(path)  # now make it the file a schema-2 mqttsim left
    db.execute("DROP TABLE held")
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()

    store = SqliteStore(path)
    [migrated] = store.load().sessions
    assert migrated == session and not migrated.held_qos2
    migrated.held_qos2[3] = _held(3)
    store.apply(StoreChanges(sessions=[migrated]))
    store.close()
    assert _reloaded(path) == {"st-01": migrated}
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,) == (3,)
    db.close()


def test_a_file_from_a_newer_version_is_refused_in_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "broker.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(ConfigError) as caught:
        SqliteStore(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
