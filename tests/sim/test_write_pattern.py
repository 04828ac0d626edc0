"""How an application writes its packets, and why it shows on a long link with Nagle on.

mosquitto and paho-mqtt write each MQTT packet with its own ``send()``;
mqttsim's drivers write the batch the core has ready. With Nagle on, a
second small write waits for the ACK of the first, so the two patterns give
different segments, and on a 560 ms round trip different latencies.
"""

from __future__ import annotations

import statistics

import pytest

from mqttsim.protocol import Broker, ClientConnection, ProtocolVersion
from mqttsim.validate.cases import Case

# Latencies (s) of the 30 messages of `clean, remote, QoS 2, paho+mosquitto`
# measured through the link emulator with Debian's mosquitto 2.0.11 and
# paho-mqtt 2.2.0, seed 1 (mqttsim.validate.real.run_real, 2026-12-07).
# Each is one 560 ms round trip per queued packet: the queue of PUBRELs
# behind Nagle is what they measure.
_REAL_LATENCIES_S = [
    1.69, 1.81, 1.93, 2.06, 3.30, 2.86, 3.55, 3.11, 3.79, 3.36,
    3.48, 3.60, 3.16, 3.85, 3.97, 3.53, 3.09, 4.34, 3.90, 3.46,
    3.02, 3.71, 3.83, 3.39, 2.95, 4.20, 3.76, 3.32, 3.44, 3.00,
]  # fmt: skip


def test_packets_to_send_gives_each_packet_and_joins_to_data_to_send() -> None:
    broker = Broker(now=0.0)
    client = ClientConnection(client_id="rtu", version=ProtocolVersion.V311)
    client.connect(now=0.0)
    conn = broker.connection_made(now=0.0)
    conn.receive_data(client.data_to_send(now=0.0), now=0.0)
    client.receive_data(conn.data_to_send(now=0.0), now=0.0)
    client.publish("plant/p", b"1", qos=1, now=0.0)
    client.publish("plant/p", b"2", qos=1, now=0.0)
    wire = client.packets_to_send(now=0.0)
    assert [p[0] >> 4 for p in wire] == [3, 3]  # two PUBLISH, each its own item
    conn.receive_data(b"".join(wire), now=0.0)
    replies = conn.packets_to_send(now=0.0)
    assert [p[0] >> 4 for p in replies] == [4, 4]  # two PUBACK
    assert conn.data_to_send(now=0.0) == b""  # drained by packets_to_send


def test_the_simulator_follows_the_real_paho_mosquitto_queue_message_by_message() -> None:
    case = Case(link="clean", layout="remote", qos=2, stack="paho+mosquitto", count=30)
    m = case.scenario().run(seed=1).messages
    simulated = m[m["subscriber"] == "scada"]["latency_s"].tolist()
    errors = [abs(s - r) for s, r in zip(simulated, _REAL_LATENCIES_S, strict=True)]
    # Writing each packet on its own is what makes the queue: with one write
    # per batch (mqttsim's pattern) the median latency is 2.05 s, not 3.4 s.
    assert statistics.median(errors) < 0.03
    assert statistics.median(simulated) == pytest.approx(3.40, abs=0.05)
