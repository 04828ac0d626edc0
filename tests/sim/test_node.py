"""SimBroker and SimClient: the protocol cores driven by SimPy over the simulated TCP."""

from __future__ import annotations

import random
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import simpy

from mqttsim.protocol import (
    Broker,
    BrokerConfig,
    ClientConnection,
    ClientDisconnected,
    Connected,
    Disconnected,
    MessageReceived,
    ProtocolVersion,
    PublishAcked,
    QoS,
    ReasonCode,
    Will,
)
from mqttsim.sim.link import Link, LinkRecord, OutageSchedule
from mqttsim.sim.loopback import LoopbackPath
from mqttsim.sim.node import SimBroker, SimClient
from mqttsim.sim.path import Path, TcpListener
from mqttsim.sim.tcp_segment import Segment, TcpConfig

Proc = Generator[simpy.Event, Any, None]
V311 = ProtocolVersion.V311


@dataclass
class World:
    """One broker host; clients over simulated links or on the broker's host."""

    env: simpy.Environment = field(default_factory=simpy.Environment)
    records: list[LinkRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.listener = TcpListener(self.env)
        self.broker = SimBroker(self.env, self.listener, Broker(BrokerConfig(sys_interval_s=0)))

    def remote(
        self,
        client_id: str,
        *,
        delay_s: float = 0.25,
        bandwidth_bps: float | None = 9600.0,
        outages: Sequence[tuple[float, float]] = (),
        seed: int = 1,
        tcp: TcpConfig | None = None,
        **options: Any,
    ) -> SimClient:
        """A client across a link pair (both directions share the outages)."""
        schedule = OutageSchedule(outages)
        up, down = (
            Link(
                self.env,
                name=f"{client_id} {d}",
                delay_s=delay_s,
                bandwidth_bps=bandwidth_bps,
                outages=schedule,
                observer=self.records.append,
            )
            for d in ("up", "down")
        )
        path = Path(self.env, uplink=up, downlink=down, listener=self.listener)
        options.setdefault("version", V311)
        connection = ClientConnection(client_id=client_id, **options)
        return SimClient(
            self.env, path, connection, rng=random.Random(seed), tcp_config=tcp, log_acks=True
        )

    def local(self, client_id: str, **options: Any) -> SimClient:
        """A client on the broker's host (loopback: no delay, no packets)."""
        options.setdefault("version", V311)
        connection = ClientConnection(client_id=client_id, **options)
        return SimClient(
            self.env, LoopbackPath(self.env, self.listener), connection, rng=random.Random(0)
        )

    def subscriber(
        self, client: SimClient, topic: str = "#"
    ) -> list[tuple[float, MessageReceived]]:
        """Subscribe at QoS 2 once connected; collect ``(time, message)``."""
        got: list[tuple[float, MessageReceived]] = []

        def proc() -> Proc:
            yield client.connected()
            client.subscribe(topic, qos=2)
            while True:
                message = yield client.messages.get()
                got.append((self.env.now, message))

        self.env.process(proc())
        return got

    def at(self, t: float, action: Any) -> None:
        """Call ``action()`` at simulated time ``t``."""

        def proc() -> Proc:
            yield self.env.timeout(t - self.env.now)
            action()

        self.env.process(proc())


def events_of(client: SimClient, kind: type) -> list[tuple[float, Any]]:
    return [(t, e) for t, e in client.log if isinstance(e, kind)]


# --- connecting and moving messages ---------------------------------------------------------


def test_connect_takes_the_handshake_and_one_round_trip_for_connack() -> None:
    w = World()
    client = w.remote("st-1", bandwidth_bps=None)
    w.env.run(until=10)
    # SYN/SYN-ACK (one RTT), then CONNECT/CONNACK (another): 4 one-way delays.
    ((t, connected),) = events_of(client, Connected)
    assert t == pytest.approx(4 * 0.25)
    assert connected.session_present is False
    assert client.is_connected and client.attempts == 1


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_a_message_reaches_a_subscriber_after_serialisation_and_delay(qos: int) -> None:
    w = World()
    publisher = w.remote("pub")
    got = w.subscriber(w.local("scada"))
    w.at(10.0, lambda: publisher.publish("st/pres", b"12345678", qos=qos))
    w.env.run(until=30)
    # PUBLISH "st/pres" + 8 bytes: 19 bytes at QoS 0, 21 with a packet id; 52 of TCP/IP
    # (20 IPv4 + 20 TCP + 12 of the timestamps option, RFC 7323).
    wire = 52 + (19 if qos == 0 else 21)
    ((t, message),) = got
    assert t == pytest.approx(10.0 + wire * 8 / 9600 + 0.25)
    assert (message.topic, message.payload, message.qos) == ("st/pres", b"12345678", qos)


def test_publish_many_shares_one_segment() -> None:
    w = World()
    publisher = w.remote("pub")
    got = w.subscriber(w.local("scada"))
    w.at(10.0, lambda: publisher.publish_many([("a/b", b"1", 1, False), ("a/c", b"2", 1, True)]))
    w.env.run(until=30)
    data = [
        r
        for r in w.records
        if r.link == "pub up" and r.time_s >= 10 and isinstance(r.item, Segment) and r.item.payload
    ]
    assert len(data) == 1  # both PUBLISH packets in one segment
    assert [m.topic for _, m in got] == ["a/b", "a/c"]


def test_messages_from_the_broker_reach_a_remote_client() -> None:
    w = World()
    station = w.remote("st-1")
    got = w.subscriber(station, "cmd/#")
    scada = w.local("scada")
    w.at(10.0, lambda: scada.publish("cmd/valve", b"close", qos=1))
    w.env.run(until=30)
    ((t, message),) = got
    assert message.payload == b"close"
    # Fixed header 2, topic length 2 + 9, packet id 2, payload 5; 52 of TCP/IP.
    assert t == pytest.approx(10.0 + (52 + 2 + 2 + 9 + 2 + 5) * 8 / 9600 + 0.25)


# --- losing the connection ------------------------------------------------------------------


def test_keep_alive_notices_a_silent_dead_link_on_both_sides() -> None:
    # An idle client: TCP has nothing to retransmit, so only MQTT keep-alive can notice.
    w = World()
    will = Will(topic="st-1/status", payload=b"lost", qos=QoS.AT_LEAST_ONCE, retain=True)
    station = w.remote("st-1", keep_alive_s=20, clean_start=False, will=will, outages=[(30, 300)])
    got = w.subscriber(w.local("scada"), "st-1/status")
    w.env.run(until=400)
    # The client pings 20 s after its last packet and gives up 20 s later without PINGRESP.
    ((t_lost, lost),) = events_of(station, Disconnected)[:1]
    assert lost.reason_code == ReasonCode.KEEP_ALIVE_TIMEOUT
    assert 40 <= t_lost <= 80
    # The broker gives up after 1.5 x Keep Alive of silence and publishes the will.
    closed = [(t, e) for t, e in w.broker.log if isinstance(e, ClientDisconnected)]
    assert closed[0][1].will_published and closed[0][1].reason_code == ReasonCode.KEEP_ALIVE_TIMEOUT
    assert [m.payload for _, m in got] == [b"lost"]
    assert got[0][0] == pytest.approx(closed[0][0])
    # After the outage, the client is back, with its session.
    reconnected = events_of(station, Connected)
    assert reconnected[-1][0] > 330 and reconnected[-1][1].session_present is True
    assert station.attempts >= 3


def test_reconnect_resumes_the_session_keeps_qos1_and_drops_qos0() -> None:
    w = World()
    station = w.remote("st-1", keep_alive_s=30, clean_start=False, outages=[(100, 400)])
    got = w.subscriber(w.local("scada"), "data/#")
    for k in range(60):  # one QoS 0 and one QoS 1 message every 10 s, for 600 s
        w.at(10.0 * k + 5, lambda k=k: station.publish("data/q0", b"%d" % k, qos=0))
        w.at(10.0 * k + 5, lambda k=k: station.publish("data/q1", b"%d" % k, qos=1))
    w.env.run(until=1500)
    q1 = sorted({int(m.payload) for _, m in got if m.topic == "data/q1"})
    q0 = {int(m.payload) for _, m in got if m.topic == "data/q0"}
    assert q1 == list(range(60))  # every QoS 1 message, after the outage
    assert len(q0) < 60 and {0, 1, 2, 3, 4, 5, 6, 7, 8, 9} <= q0  # QoS 0 lost in the outage
    assert station.connection.stats.dropped_qos0_while_disconnected > 0
    connected = events_of(station, Connected)
    assert [c.session_present for _, c in connected] == [False] + [True] * (len(connected) - 1)
    assert len(connected) >= 2


@pytest.mark.pure_python  # replaces a method of a compiled class
def test_reconnect_delays_double_with_seeded_jitter() -> None:
    def attempts(seed: int) -> list[float]:
        w = World()
        # Each attempt fails after 1 s: no SYN retransmission, linear ones included.
        tcp = TcpConfig(syn_retries=0, syn_linear_timeouts=0, rto_initial_s=1.0)
        client = w.remote("st-1", outages=[(0, 1000)], seed=seed, tcp=tcp)
        times: list[float] = []
        original = client.path.connect

        def spy(config: TcpConfig | None = None, **kwargs: Any) -> simpy.Event:
            times.append(w.env.now)
            return original(config, **kwargs)

        client.path.connect = spy  # type: ignore[method-assign]
        w.env.run(until=400)
        return times

    first = attempts(7)
    gaps = [b - a - 1.0 for a, b in zip(first, first[1:], strict=False)]  # minus the 1 s attempt
    nominal = [min(1.0 * 2**k, 120.0) for k in range(len(gaps))]
    assert all(0.5 * n <= g < 1.5 * n for g, n in zip(gaps, nominal, strict=True))
    assert first == attempts(7)  # the same seed, the same jitter
    assert first != attempts(8)


def test_disconnect_sends_disconnect_and_no_will() -> None:
    w = World()
    will = Will(topic="st-1/status", payload=b"lost", qos=QoS.AT_MOST_ONCE)
    station = w.remote("st-1", will=will)
    got = w.subscriber(w.local("scada"), "st-1/status")
    w.at(10.0, station.disconnect)
    w.env.run(until=100)
    assert got == []
    closed = [e for _, e in w.broker.log if isinstance(e, ClientDisconnected)]
    assert closed[0].reason_code == ReasonCode.NORMAL_DISCONNECTION
    assert not closed[0].will_published
    assert station.attempts == 1  # no reconnect after disconnect()


def test_acks_are_logged_only_when_asked() -> None:
    w = World()
    publisher = w.remote("pub")  # log_acks=True
    scada = w.local("scada")  # log_acks=False
    w.at(10.0, lambda: publisher.publish("a/b", b"x", qos=1))
    w.at(10.0, lambda: scada.publish("a/b", b"x", qos=1))
    w.env.run(until=20)
    ((t, ack),) = events_of(publisher, PublishAcked)
    # One round trip: PUBLISH up (2 + 2 + 3 + 2 + 1 = 10 bytes), PUBACK down (4), each
    # + 52. The broker's connection is interactive since its CONNACK, so no quick ACK
    # goes ahead of the PUBACK, which carries the ACK.
    assert t == pytest.approx(10.0 + 62 * 8 / 9600 + 0.25 + 56 * 8 / 9600 + 0.25)
    assert ack.reason_code == ReasonCode.SUCCESS
    assert events_of(scada, PublishAcked) == []


def test_same_seed_same_log() -> None:
    def run() -> list[tuple[float, str]]:
        w = World()
        station = w.remote("st-1", keep_alive_s=30, clean_start=False, outages=[(50, 200)], seed=3)
        w.subscriber(w.local("scada"))
        for k in range(20):
            w.at(10.0 * k + 1, lambda k=k: station.publish("d/x", b"%d" % k, qos=1))
        w.env.run(until=600)
        return [(t, type(e).__name__) for t, e in station.log] + [
            (r.time_s, r.outcome) for r in w.records
        ]

    assert run() == run()
