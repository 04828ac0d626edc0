"""The 1999 pipeline scenario: what it publishes, delivers, costs; and that it repeats."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mqttsim.protocol.errors import ConfigError
from mqttsim.sim.presets import get_preset
from mqttsim.sim.scenarios.pipeline import (
    PipelineConfig,
    PipelineResult,
    pipeline_scenario,
    run_pipeline,
)
from mqttsim.sim.tcp_segment import TcpConfig
from mqttsim.sim.world import World

# Small runs: three stations for half an hour unless a test needs more.
SMALL: dict[str, Any] = {"stations": 3, "hours": 0.5, "drain_s": 600.0}
CLEAN: dict[str, Any] = {"loss_rate": 0.0, "jitter_s": 0.0, "random_outages": False}


def run(**changes: Any) -> PipelineResult:
    return run_pipeline(PipelineConfig(**{**SMALL, **changes}))


# --- what a run produces ----------------------------------------------------------------------


def test_messages_frame_has_one_row_per_message_with_the_documented_columns() -> None:
    result = run(qos=1)
    m = result.messages
    assert list(m.columns) == [
        "message_id",
        "station",
        "topic",
        "kind",
        "qos",
        "sent_s",
        "delivered_s",
        "deliveries",
        "latency_s",
        "payload_bytes",
    ]
    assert m["message_id"].tolist() == list(range(len(m)))
    assert set(m["station"]) == {"st-01", "st-02", "st-03"}
    assert set(m["kind"]) >= {"report", "status"}
    assert (m["qos"] == 1).all()
    # st-02, a pump station, reports five sensors every 300 s and three every 60 s.
    reports = m[(m.station == "st-02") & (m.kind == "report")]
    assert reports["topic"].astype(str).value_counts().to_dict() == {
        "pipeline/st-02/discharge_pressure": 30,
        "pipeline/st-02/flow": 30,
        "pipeline/st-02/suction_pressure": 30,
        "pipeline/st-02/temperature": 6,
        "pipeline/st-02/valve_state": 6,
    }
    assert np.allclose(m["latency_s"], m["delivered_s"] - m["sent_s"], equal_nan=True)


def test_packets_frame_logs_every_segment_with_its_fate_and_mqtt_packets() -> None:
    result = run(qos=1, loss_rate=0.05)
    p = result.packets
    assert p is not None
    assert {
        "time_s",
        "link",
        "node",
        "direction",
        "size_bytes",
        "outcome",
        "retransmission",
        "flags",
        "mqtt",
    } <= set(p.columns)
    # The station links' bytes are the totals the summary bills.
    assert p["size_bytes"].sum() == result.totals.bytes
    assert set(p["outcome"]) == {"delivered", "lost"}
    assert p["retransmission"].any()
    labels = set(p["mqtt"])
    assert {"CONNECT", "CONNACK", "SUBSCRIBE", "SUBACK"} <= labels
    assert any(label.startswith("PUBLISH") for label in labels)
    assert any(label.startswith("PUBACK") for label in labels)
    # A retransmitted segment carries the label of the one it repeats.
    retx = p[p["retransmission"] & (p["payload_bytes"] > 0)]
    assert (retx["mqtt"] != "").all()


def test_without_packet_log_the_totals_still_count_every_byte() -> None:
    with_log = run(qos=0)
    without = run(qos=0, record_packets=False)
    assert without.packets is None
    assert without.totals == with_log.totals
    pd.testing.assert_frame_equal(without.messages, with_log.messages)


def test_more_stations_than_the_line_replays_its_stations_under_new_ids() -> None:
    m = run(stations=25, hours=0.1, **CLEAN).messages
    assert {"st-22", "st-23", "st-25"} <= set(m["station"])
    assert m["deliveries"].eq(1).all()


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_identical_frames_and_another_seed_differs() -> None:
    config = {"qos": 1, "loss_rate": 0.03, "seed": 11}
    a, b, c = run(**config), run(**config), run(**{**config, "seed": 12})
    for name in ("messages", "deliveries", "packets", "events", "commands"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    pd.testing.assert_frame_equal(a.summary(), b.summary(), check_exact=True)
    assert a.packets is not None and c.packets is not None
    assert not a.packets["time_s"].equals(c.packets["time_s"])
    assert not a.messages["delivered_s"].equals(c.messages["delivered_s"])


# --- exact checks on a clean link ------------------------------------------------------------


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_a_report_takes_the_latency_that_delay_bandwidth_and_sizes_predict(qos: int) -> None:
    result = run(stations=1, hours=0.1, qos=qos, stagger=False, **CLEAN)
    m = result.messages
    preset = get_preset("vsat-1999")
    # The report at t = 120 s: st-01's pressure and flow, in one write, one segment.
    batch = m[(m.sent_s == 120.0) & (m.kind == "report")]
    assert batch["topic"].tolist() == ["pipeline/st-01/pressure", "pipeline/st-01/flow"]
    publish_bytes = [
        2 + 2 + len(topic) + (2 if qos else 0) + size  # fixed header, topic, packet id, payload
        for topic, size in zip(batch["topic"], batch["payload_bytes"], strict=True)
    ]
    # One IP + TCP header: 20 + 20 + 12 of the timestamps option (RFC 7323).
    segment = 52 + sum(publish_bytes)
    expected = preset.serialisation_s(segment, "up") + preset.delay_s  # the host is on the broker
    assert batch["latency_s"].tolist() == pytest.approx([expected, expected], abs=1e-9)
    assert result.packets is not None
    up = result.packets[(result.packets.time_s == 120.0) & (result.packets.link == "st-01 up")]
    assert up["size_bytes"].tolist() == [segment]
    assert up["mqtt"].tolist() == ["PUBLISHx2"]


def _bytes_per_message(**changes: Any) -> list[float]:
    return [
        run(qos=q, **CLEAN, **changes).summary()["link_bytes_per_message"].item() for q in (0, 1, 2)
    ]


def test_bytes_per_delivered_message_are_least_at_qos1_and_most_at_qos2() -> None:
    # A station reports every 60 s and hears nothing back at QoS 0, so it pings every
    # Keep Alive (120 s). With Linux's ACKs a ping costs four segments: PINGREQ, the
    # broker's quick ACK (its last delayed ACK fired, so it is not interactive), PINGRESP
    # and the station's ACK. Per station every 120 s, 52 header bytes a segment:
    # QoS 0: 2 reports + 2 ACKs + 4 for the ping = 8 segments;
    # QoS 1: 2 reports + 2 PUBACKs (carrying the broker's ACK) + 2 ACKs = 6 segments:
    # 104 header bytes fewer, against 2 + 4 bytes of MQTT (packet id, PUBACK) for each
    # of the 4 or so messages. QoS 2 adds a PUBREC, PUBREL and PUBCOMP exchange a report.
    per_message = _bytes_per_message()
    assert per_message[1] < per_message[0] < per_message[2]
    # The first model answered the PINGREQ with the PINGRESP alone (a 40 ms delayed
    # ACK), and headers were 40 bytes: there QoS 0 was the cheapest.
    legacy = _bytes_per_message(tcp=TcpConfig.legacy())
    assert legacy[0] < legacy[1] < legacy[2]


# --- loss and outages -------------------------------------------------------------------------


def test_with_loss_but_no_outage_qos0_delivers_everything_and_latency_grows() -> None:
    rows = [
        run(qos=0, random_outages=False, mean_burst_len=1.0, loss_rate=p).summary().iloc[0]
        for p in (0.0, 0.02, 0.05)
    ]
    assert [row["delivery_ratio"] for row in rows] == [1.0, 1.0, 1.0]
    p95 = [row["latency_p95_s"] for row in rows]
    assert p95[0] < p95[1] < p95[2]


@pytest.fixture(scope="module")
def outage_runs() -> dict[int, PipelineResult]:
    # 15 minutes down, far past the broker's keep-alive patience (1.5 x 120 s), which
    # ends the connections: Linux's TCP alone would retransmit for 924.6 s (tcp_retries2).
    outage = {"outages": ((1200.0, 900.0),), "hours": 1.0, **CLEAN}
    return {q: run(qos=q, **outage) for q in (0, 1, 2)}


def test_an_outage_longer_than_tcp_give_up_loses_qos0(
    outage_runs: dict[int, PipelineResult],
) -> None:
    m = outage_runs[0].messages
    lost = m[m.deliveries == 0]
    assert len(lost) > 0
    # Those lost were published during the outage or while reconnecting after it.
    assert lost["sent_s"].min() >= 1200.0 - 300 and lost["sent_s"].max() <= 2100.0 + 400


def test_an_outage_longer_than_tcp_give_up_qos1_delivers_all_qos2_exactly_once(
    outage_runs: dict[int, PipelineResult],
) -> None:
    assert (outage_runs[1].messages["deliveries"] >= 1).all()
    assert (outage_runs[2].messages["deliveries"] == 1).all()
    for result in outage_runs.values():
        ev = result.events
        # Keep-alive at the broker published every station's will; each came back.
        assert set(ev[ev.event == "WillReceived"]["node"]) == {"st-01", "st-02", "st-03"}
        back = ev[(ev.event == "Connected") & (ev.time_s > 2100.0)]
        assert set(back["node"]) == {"st-01", "st-02", "st-03"}
        assert (back["detail"] == "session_present=True").all()


def test_summary_reports_cost_and_radio_time_from_the_link_totals() -> None:
    result = run(qos=1, **CLEAN)
    s = result.summary().iloc[0]
    t = result.totals
    assert s["link_bytes"] == t.bytes
    assert s["cost_usd"] == pytest.approx(t.bytes / 2**20 * 50.0)  # vsat-1999: US$50 per MB
    assert math.isnan(s["cost_per_message_billing_usd"])  # billed per MB, not per message
    packets = result.packets
    assert packets is not None
    up_bytes = packets[packets["direction"] == "up"]["size_bytes"].sum()
    assert s["radio_on_s"] == pytest.approx(up_bytes * 8 / 2400.0)
    assert s["radio_on_fraction"] == pytest.approx(s["radio_on_s"] / (3 * 1800.0))


# --- the leak, commands and wills ---------------------------------------------------------------


def test_the_leak_raises_alarms_and_the_scada_host_closes_the_valves_around_it() -> None:
    # From 13:53:20 for half an hour: the leak at st-12 starts at 14:00 (t_s 50400).
    result = run(stations=14, start_s=50000.0, hours=0.5, qos=1, **CLEAN)
    m = result.messages
    alarms = m[m.kind == "alarm"]
    leak = alarms[alarms.topic == "pipeline/st-12/alarm/pressure"]
    assert len(leak) >= 2  # the fall (DROP) and the low pressure (LOW)
    assert leak["deliveries"].eq(1).all()
    commands = result.commands
    assert commands["station"].tolist() == ["st-11", "st-12", "st-13"]
    assert commands["topic"].tolist() == [f"pipeline/st-1{k}/cmd/valve" for k in (1, 2, 3)]
    assert commands["deliveries"].eq(1).all()
    # Each valve reports itself closed, by exception, when the command arrives.
    valve = m[m.kind == "valve"]
    assert sorted(valve["station"]) == ["st-11", "st-12", "st-13"]
    for station, arrived in zip(commands["station"], commands["delivered_s"], strict=True):
        (sent,) = valve[valve.station == station]["sent_s"]
        assert sent == pytest.approx(arrived)


def test_config_refuses_bad_values_in_one_line() -> None:
    with pytest.raises(ConfigError, match="qos must be 0, 1 or 2"):
        PipelineConfig(qos=3)
    with pytest.raises(ConfigError, match="unknown link preset 'nope'; allowed: .*vsat-1999"):
        PipelineConfig(link="nope")
    with pytest.raises(ConfigError, match="loss_rate"):
        PipelineConfig(loss_rate=-0.1)
    with pytest.raises(ConfigError, match="outage"):
        PipelineConfig(outages=((10.0, 0.0),))


def test_the_broker_keeps_every_sensors_last_known_value_and_each_station_status() -> None:
    world = World(pipeline_scenario(PipelineConfig(**{**SMALL, **CLEAN, "qos": 1})))
    world.simulate()
    retained = world.brokers["broker"].broker.retained
    ops = world.state["pipeline"]
    m = world.messages.frame()
    reports = m[m.kind == "report"]
    last = reports.groupby("topic", observed=True)["message_id"].max()
    assert len(last) == 3 + 5 + 3  # st-01 (meter), st-02 (pump station), st-03 (block valve)
    for topic, message_id in last.items():
        stored = retained.get(str(topic))
        assert stored is not None
        station = ops.by_node[str(topic).split("/")[1]]
        seq = station.ids.index(message_id) + 1
        assert stored.publish.payload.startswith(b"%d " % seq)
    status = retained.get("pipeline/st-01/status")
    assert status is not None and status.publish.payload.endswith(b" online")


@pytest.mark.parametrize(("qos", "deliveries"), [(1, 2), (2, 1)])
def test_an_outage_that_cuts_the_acknowledgement_duplicates_qos1_but_not_qos2(
    qos: int, deliveries: int
) -> None:
    # st-01's report of t = 120 s reaches the broker at 120.66 s; its PUBACK (or PUBREC)
    # would reach the station at about 120.96 s, but the link goes down at 120.75 s.
    # After reconnecting, the station resends the PUBLISH with DUP=1 [MQTT-4.4.0-1]:
    # at QoS 1 the broker forwards it again; at QoS 2 it knows the packet id [MQTT-4.3.3-10].
    result = run(stations=1, stagger=False, qos=qos, outages=((120.75, 600.0),), **CLEAN)
    m = result.messages
    cut = m[m.sent_s == 120.0]
    assert cut["deliveries"].tolist() == [deliveries, deliveries]
    assert (m[m.sent_s != 120.0]["deliveries"] == 1).all()
    assert result.summary()["duplicates"].item() == 2 * (deliveries - 1)
    d = result.deliveries
    twice = d[d["nth"] == 2]
    assert sorted(twice["message_id"]) == (sorted(cut["message_id"]) if qos == 1 else [])
    assert (twice["time_s"] > 720.75).all()  # after the outage, on the resumed session
