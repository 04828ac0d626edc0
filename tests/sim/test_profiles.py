"""Endpoint profiles: each documented behaviour of paho-mqtt 2.x, mosquitto 2.0 and mqttsim.

Every test runs a small scenario on a clean link whose figures make the
expected times easy to compute: 280 ms one way (a geostationary hop) and
1 Mbit/s, so a segment of ``n`` bytes takes ``n * 8 µs`` to send.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

import pandas as pd
import pytest

from mqttsim.protocol import ConfigError, QoS2Handover
from mqttsim.sim import (
    BROKER_PROFILES,
    CLIENT_PROFILES,
    LinkSpec,
    Scenario,
    ScenarioResult,
    World,
)
from mqttsim.sim.profiles import broker_profile, client_profile
from mqttsim.sim.tcp_segment import TcpConfig

ONE_WAY_S = 0.28
BIT_S = 1e-6  # 1 Mbit/s
GEO = LinkSpec(
    name="geo-clean",
    description="280 ms one way, 1 Mbit/s, no loss",
    delay_s=ONE_WAY_S,
    uplink_bps=1e6,
    downlink_bps=1e6,
)
TOPIC = "plant/pressure"
# IP + TCP with the timestamps option (20 + 20 + 12, RFC 7323), as Linux sends them.
HEADER = 52
PUBLISH_SEGMENT = HEADER + 2 + 2 + len(TOPIC) + 2 + 24  # fixed header, topic, packet id, payload
ACK_SEGMENT = HEADER + 4  # PUBREC or PUBREL on MQTT 3.1.1
# Linux acknowledges at once, before its application answers, data that reaches an
# end not in ping-pong (interactive) mode after an idle gap (mqttsim.sim.tcp_ack): an
# end whose last delayed ACK had to fire on its own, as after a PUBCOMP, which nothing
# answers. So the PUBREL that answers a PUBREC ten seconds later leaves behind a
# 52-byte ACK.
QUICK_ACK_S = HEADER * 8 * BIT_S


def two_hop(
    client: str = "mqttsim",
    broker: str = "mqttsim",
    *,
    subscriber: str | None = None,
    qos: int = 2,
    **settings: Any,
) -> ScenarioResult:
    """A publisher and a subscriber, each behind its own GEO link to the broker's hub;
    ``settings`` go to the broker and both clients."""
    net = Scenario("two-hop", duration_s=600, drain_s=60)
    net.link("field", "hub", GEO, name="field")
    net.link("office", "hub", GEO, name="office")
    net.broker("broker", site="hub", profile=broker, **settings)
    net.client("rtu", site="field", profile=client, keep_alive_s=60, **settings)
    net.client(
        "scada",
        site="office",
        profile=subscriber or client,
        keep_alive_s=60,
        subscribe=[("plant/#", 2)],
        **settings,
    )
    net.periodic("rtu", TOPIC, every_s=10, payload_bytes=24, start_s=30)
    return net.run(seed=1, qos=qos, record_packets=True)


def one_way(*segments: int) -> float:
    """Propagation plus serialisation of segments that follow each other one way."""
    return sum(ONE_WAY_S + size * 8 * BIT_S for size in segments)


def mqtt_counts(packets: pd.DataFrame, link: str, kind: str) -> pd.Series:
    """How many ``kind`` packets start in each segment on ``link`` ("PUBLISHx2+PINGREQ" -> 2)."""
    rows = packets[(packets.link == link) & (packets.outcome == "delivered")]

    def count(label: str) -> int:
        found = re.search(rf"\b{kind}(?:x(\d+))?\b", label)
        return 0 if found is None else int(found.group(1) or 1)

    return rows["mqtt"].astype(str).map(count)


# -- the two-hop difference ---------------------------------------------------------------


def test_two_hop_qos2_latency_mqttsim_against_paho_and_mosquitto() -> None:
    ours = two_hop("mqttsim", "mqttsim").messages["latency_s"].median()
    theirs = two_hop("paho-2", "mosquitto-2").messages["latency_s"].median()
    # mqttsim hands a QoS 2 message on at its PUBLISH (Method B), in the broker and in
    # the subscriber: one one-way trip per hop.
    assert ours == pytest.approx(2 * one_way(PUBLISH_SEGMENT), abs=1e-6)
    # mosquitto forwards at PUBREL and paho delivers at PUBREL (Method A): on each hop
    # PUBLISH ->, PUBREC <-, PUBREL -> before the message moves on, three one-way trips,
    # the PUBREL behind the quick ACK of the PUBREC (paho's on the first hop, mosquitto's
    # on the second).
    per_hop = one_way(PUBLISH_SEGMENT, ACK_SEGMENT, ACK_SEGMENT) + QUICK_ACK_S
    assert theirs == pytest.approx(2 * per_hop, abs=1e-6)
    # One round trip more per hop: 1.12 s more over the two hops (1.68 s against 0.56 s).
    assert theirs - ours == pytest.approx(2 * 2 * ONE_WAY_S, abs=0.005)


def test_mosquitto_2_forwards_qos2_on_pubrel() -> None:
    result = two_hop("mqttsim", "mosquitto-2")
    # Held until the PUBREL, which leaves the publisher behind its quick ACK of the PUBREC.
    hop1 = one_way(PUBLISH_SEGMENT, ACK_SEGMENT, ACK_SEGMENT) + QUICK_ACK_S
    assert result.messages["latency_s"].median() == pytest.approx(
        hop1 + one_way(PUBLISH_SEGMENT), abs=1e-6
    )
    assert broker_profile("mosquitto-2").config.qos2_handover is QoS2Handover.ON_PUBREL


def test_paho_2_hands_qos2_to_the_application_on_pubrel() -> None:
    # mqttsim's broker forwards at PUBLISH; the paho subscriber delivers at PUBREL, which
    # leaves the broker behind its quick ACK of the PUBREC.
    result = two_hop("mqttsim", "mqttsim", subscriber="paho-2")
    hop2 = one_way(PUBLISH_SEGMENT, ACK_SEGMENT, ACK_SEGMENT) + QUICK_ACK_S
    assert result.messages["latency_s"].min() == pytest.approx(
        one_way(PUBLISH_SEGMENT) + hop2, abs=1e-6
    )


def test_qos1_is_handed_on_at_once_whatever_the_profile() -> None:
    ours = two_hop("mqttsim", "mqttsim", qos=1).messages["latency_s"].median()
    theirs = two_hop("paho-2", "mosquitto-2", qos=1).messages
    assert theirs["latency_s"].median() == pytest.approx(ours, abs=1e-9)


# -- paho-mqtt 2.x ------------------------------------------------------------------------------


def test_paho_2_pings_every_keep_alive_while_it_publishes() -> None:
    packets = two_hop("paho-2", "mosquitto-2").packets
    assert packets is not None
    up = packets[(packets.link == "field up") & packets.mqtt.astype(str).str.contains("PINGREQ")]
    # CONNECT left at 0.56 s (after the handshake); a PINGREQ every 60 s after it,
    # though a PUBLISH leaves every 10 s.
    assert up["time_s"].round(1).tolist() == [60.6 + 60 * k for k in range(10)]
    ours = two_hop("mqttsim", "mqttsim").packets
    assert ours is not None
    publishing = ours[(ours.link == "field up") & (ours.time_s < 600)]
    assert not publishing.mqtt.astype(str).str.contains("PINGREQ").any()


def test_without_tcp_nodelay_a_packet_behind_an_unanswered_pingreq_waits_a_round_trip() -> None:
    # Neither paho-mqtt nor mosquitto sets TCP_NODELAY, so Nagle's algorithm holds a
    # small segment while an earlier one is unacknowledged (RFC 896, RFC 1122
    # §4.2.3.4). paho pings every 60 s, at 60.56 s, 120.56 s...: the QoS 2 exchange
    # of the reading of 60 s meets them, and its next packet on that connection
    # waits for the PINGREQ's acknowledgement, which comes with the PINGRESP a
    # round trip later. Nine of the 57 readings fall so.
    nagle = two_hop("paho-2", "mosquitto-2").messages["latency_s"]
    slow = nagle[nagle > nagle.min() + 0.01]
    assert len(slow) == 9
    assert slow.min() == pytest.approx(nagle.min() + 2 * ONE_WAY_S, abs=0.05)
    # With TCP_NODELAY on every end (as asyncio sets it) no reading waits for an ACK.
    # Readings differ only by what Linux's ACK clock and the pings put ahead of them on
    # a link. Most take the time of the first test of this module: on each hop the
    # PUBREL leaves behind a quick ACK of the PUBREC. At each whole minute, paho's
    # PINGREQ (54 bytes, due 60 s after the CONNECT, which left when the 52-byte SYN and
    # SYN-ACK were through) is still on the uplink when the PUBREC arrives: 48 µs more.
    # Ten seconds later the publisher is still interactive (its PINGRESP and PUBCOMP,
    # two small segments, were acknowledged at once, so no delayed ACK ended ping-pong):
    # its PUBREL carries the ACK, and no quick ACK goes ahead of it.
    nodelay = two_hop("paho-2", "mosquitto-2", tcp_nodelay=True).messages["latency_s"]
    usual = 2 * (one_way(PUBLISH_SEGMENT, ACK_SEGMENT, ACK_SEGMENT) + QUICK_ACK_S)
    pingreq_ends = 2 * one_way(HEADER) + (HEADER + 2) * 8 * BIT_S
    overlap = pingreq_ends - one_way(PUBLISH_SEGMENT, ACK_SEGMENT)
    assert overlap == pytest.approx(48e-6)
    expected = [usual] * 39 + [usual + overlap] * 9 + [usual - QUICK_ACK_S] * 9
    assert sorted(nodelay) == pytest.approx(sorted(expected), abs=1e-9)


def test_paho_2_keeps_at_most_20_messages_in_flight() -> None:
    net = Scenario("burst", duration_s=60, drain_s=60)
    net.link("field", "hub", GEO, name="field")
    net.broker("broker", site="hub")
    # A TCP that holds nothing back (no Nagle, a window of 100 segments), so that
    # what leaves before the first PUBACK is paho's limit, not TCP's.
    open_tcp = TcpConfig.linux(nagle=False, initial_window=100)
    net.client("rtu", site="field", profile="paho-2", tcp=open_tcp)
    net.bursts("rtu", TOPIC, every_s=100, count=50, start_s=5)
    packets = net.run(seed=1, qos=1, record_packets=True).packets
    assert packets is not None
    publishes = mqtt_counts(packets, "field up", "PUBLISH")
    acks = packets[(packets.link == "field down") & packets.mqtt.astype(str).str.contains("PUBACK")]
    first_ack = acks["arrival_s"].min()
    sent_before = publishes[packets.loc[publishes.index, "time_s"] < first_ack].sum()
    assert sent_before == 20  # max_inflight_messages, then one more per PUBACK
    assert publishes.sum() == 50


def test_paho_2_reconnects_after_1_2_4_s_with_a_5_s_connect_timeout() -> None:
    net = Scenario("down", duration_s=100, drain_s=0)
    net.link("field", "hub", GEO.with_overrides(outages=((0.0, 60.0),)), name="field")
    net.broker("broker", site="hub")
    net.client("rtu", site="field", profile="paho-2")
    packets = net.run(seed=1, qos=1, record_packets=True).packets
    assert packets is not None
    syns = packets[(packets.link == "field up") & (packets["flags"].astype(str) == "SYN")]
    first = syns[~syns.retransmission]["time_s"].tolist()
    # Each attempt is abandoned after 5 s (its SYN retried at 1, 3 s inside it),
    # then the back-off: 1, 2, 4, 8 s, doubling without jitter.
    starts = [0.0]
    for delay in (1.0, 2.0, 4.0, 8.0, 16.0):
        starts.append(starts[-1] + 5.0 + delay)
    assert first[: len(starts)] == pytest.approx(starts, abs=1e-9)


def test_mqttsim_client_backs_off_with_jitter_from_half_a_second() -> None:
    net = Scenario("down", duration_s=60, drain_s=0)
    net.link("field", "hub", GEO.with_overrides(outages=((0.0, 60.0),)), name="field")
    net.broker("broker", site="hub")
    net.client("rtu", site="field")
    packets = net.run(seed=3, qos=1, record_packets=True).packets
    assert packets is not None
    syns = packets[(packets.link == "field up") & (packets["flags"].astype(str) == "SYN")]
    first = syns[~syns.retransmission]["time_s"].tolist()
    gaps = [b - a - 10.0 for a, b in zip(first, first[1:], strict=False)]  # minus the timeout
    nominal = [0.5 * 2**k for k in range(len(gaps))]
    assert len(gaps) >= 3
    assert all(0.5 * n <= g < 1.5 * n for g, n in zip(gaps, nominal, strict=True))
    assert gaps != nominal  # jittered


def test_paho_2_publish_while_disconnected_drops_qos0_and_keeps_qos1() -> None:
    def run(qos: int) -> pd.DataFrame:
        net = Scenario("outage", duration_s=900, drain_s=300)
        link = GEO.with_overrides(outages=((300.0, 200.0),))
        net.link("field", "hub", link, name="field")
        net.broker("broker", site="hub", profile="mosquitto-2")
        net.client("rtu", site="field", profile="paho-2", clean_start=False, keep_alive_s=30)
        net.client("scada", site="hub", subscribe=[("plant/#", 2)], clean_start=False)
        net.periodic("rtu", TOPIC, every_s=10)
        return net.run(seed=1, qos=qos).messages

    zero, one = run(0), run(1)
    # The link is down from 300 to 500 s; paho notices (no PINGRESP) and reconnects.
    during = zero[(zero.sent_s > 380) & (zero.sent_s < 500)]
    assert (during["deliveries"] == 0).all()  # QoS 0 published while disconnected: gone
    assert (one["deliveries"] >= 1).all()  # QoS 1: kept and sent after reconnecting


# -- mosquitto 2.0 and the broker profiles ----------------------------------------------------


def _offline_queue(profile: str, **settings: Any) -> ScenarioResult:
    def leave(world: World, client: str) -> Generator[Any, Any, None]:
        yield world.env.timeout(20.0)
        world.clients[client].disconnect()  # its session (Clean Start 0) stays with the broker

    net = Scenario("offline", duration_s=120, drain_s=30)
    net.link("field", "hub", GEO, name="field")
    net.broker("broker", site="hub", profile=profile, **settings)
    net.client("rtu", site="field", profile="paho-2")
    net.client("scada", site="hub", subscribe=[("plant/#", 1)], clean_start=False)
    net.process(leave, client="scada")
    net.bursts("rtu", TOPIC, every_s=1000, count=1200, start_s=40)
    return net.run(seed=1, qos=1)


def test_mosquitto_2_queues_1000_messages_for_an_offline_client_and_counts_the_rest() -> None:
    state = _offline_queue("mosquitto-2").brokers["broker"]
    assert state.dropped == {"queue-full": 200}
    sessions = state.sessions.set_index("client_id")
    assert sessions.loc["scada", "queued"] == 1000
    assert not sessions.loc["scada", "connected"]
    smaller = _offline_queue("mosquitto-2", max_queued_messages=100).brokers["broker"]
    assert smaller.dropped == {"queue-full": 1100}


def test_brokers_close_a_silent_client_at_one_and_a_half_keep_alive() -> None:
    for profile in BROKER_PROFILES:
        net = Scenario("silent", duration_s=400, drain_s=0)
        link = GEO.with_overrides(outages=((100.0, 1000.0),))
        net.link("field", "hub", link, name="field")
        net.broker("broker", site="hub", profile=profile)
        net.client("rtu", site="field", keep_alive_s=60)
        result = net.run(seed=1, record_packets=True)
        packets, events = result.packets, result.events
        assert packets is not None
        up = packets[(packets.link == "field up") & (packets.outcome == "delivered")]
        heard = up[up["mqtt"].astype(str) != ""]  # MQTT packets: a bare TCP ACK does not count
        last = heard["arrival_s"].max()  # the PINGREQ of 60.56 s; the next one meets the outage
        closed = events[events.event == "BrokerClosed"]
        assert closed["time_s"].tolist() == pytest.approx([last + 1.5 * 60], abs=1e-6)


# -- the profiles themselves ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CLIENT_PROFILES))
def test_every_client_behaviour_names_its_source(name: str) -> None:
    profile = client_profile(name)
    assert {"tcp_nodelay", "max_inflight", "ping_every_keep_alive", "qos2_handover"} <= set(
        profile.sources
    )
    assert all(len(text) > 20 for text in profile.sources.values())
    assert profile.tcp_config().nagle is not profile.tcp_nodelay


@pytest.mark.parametrize("name", sorted(BROKER_PROFILES))
def test_every_broker_behaviour_names_its_source(name: str) -> None:
    profile = broker_profile(name)
    assert {"tcp_nodelay", "keep_alive"} <= set(profile.sources)
    assert profile.config.sys_interval_s == 0


def test_profiles_refuse_unknown_names_and_settings_in_one_line() -> None:
    with pytest.raises(
        ConfigError, match="unknown client profile 'paho-3'; allowed: mqttsim, paho-2"
    ):
        client_profile("paho-3")
    with pytest.raises(ConfigError, match="unknown broker profile 'emqx'"):
        broker_profile("emqx")
    with pytest.raises(ConfigError, match="has no setting 'inflight'; allowed: .*max_inflight"):
        client_profile("paho-2").with_overrides(inflight=5)
    with pytest.raises(ConfigError, match="qos2_handover must be one of publish, pubrel"):
        client_profile("paho-2").with_overrides(qos2_handover="later")
    assert (
        broker_profile("mosquitto-2")
        .with_overrides(max_queued_messages=5)
        .config.max_queued_messages
        == 5
    )
