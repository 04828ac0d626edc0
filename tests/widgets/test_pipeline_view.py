"""pipeline_view: lesson 09's tables and bill agree with the run they are read from."""

from __future__ import annotations

from dataclasses import replace

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from mqttsim.protocol import ConfigError  # noqa: E402
from mqttsim.sim import PipelineResult, run_pipeline  # noqa: E402
from mqttsim.sim.metrics import MB  # noqa: E402
from mqttsim.sim.scenarios.telemetry import load_plans  # noqa: E402
from mqttsim.widgets.pipeline_view import (  # noqa: E402
    alarm_table,
    byte_budget,
    clock,
    command_table,
    cost_per_day,
    last_known_values,
    lesson_config,
    line_table,
    mb_per_day,
    plot_pipeline_latency,
    qos_cost_table,
    station_events,
    traffic_table,
)


@pytest.fixture(scope="module")
def leak() -> PipelineResult:
    """13 stations from 13:55 for a quarter of an hour: st-12's leak and the isolation."""
    config = lesson_config(stations=13, hours=0.25, start="13:55")
    return run_pipeline(replace(config, random_outages=False))


@pytest.fixture(scope="module")
def outage() -> PipelineResult:
    """Three stations, every link down for ten minutes: wills and reconnects."""
    config = replace(lesson_config(stations=3, hours=0.5), outages=((300.0, 600.0),))
    return run_pipeline(config)


@pytest.mark.parametrize("start", ["25:00", "12:60", "noon", "12:30:30"])
def test_a_start_that_is_not_a_whole_minute_of_the_day_is_refused(start: str) -> None:
    with pytest.raises(ConfigError, match="start"):
        lesson_config(start=start)


def test_more_than_a_day_is_refused() -> None:
    with pytest.raises(ConfigError, match="hours"):
        lesson_config(hours=30)


def test_the_line_has_22_stations_and_st12_is_a_block_valve_at_km_400() -> None:
    table = line_table()
    assert len(table) == 22
    assert table.loc["st-12", "type"] == "block valve"
    assert table.loc["st-12", "km"] == 400


def test_clock_counts_from_the_start_of_the_run(leak: PipelineResult) -> None:
    assert clock(leak, 0.0) == "13:55:00"
    assert clock(leak, 3661.0) == "14:56:01"


def test_the_leak_raises_drop_then_low_at_st12_and_the_scada_host_isolates_it(
    leak: PipelineResult,
) -> None:
    alarms = alarm_table(leak, station="st-12")
    assert list(alarms["alarm"][:2]) == ["DROP", "LOW"]
    assert [t[:5] for t in alarms["sent"][:2]] == ["14:01", "14:02"]
    assert "?" not in set(alarm_table(leak)["alarm"])
    commands = command_table(leak)
    closes = commands[commands["from"] == "scada-host"]
    assert [t.split("/")[1] for t in closes["topic"]] == ["st-11", "st-12", "st-13"]
    assert closes["arrived"].notna().all()
    answers = commands[commands["what"] == "valve closed (0)"]
    assert sorted(answers["from"]) == ["st-11", "st-12", "st-13"]
    assert (answers["sent"] >= closes["sent"].min()).all()


def test_traffic_counts_every_message_once(leak: PipelineResult) -> None:
    table = traffic_table(leak)
    assert table["messages"].sum() == len(leak.messages) + len(leak.commands)
    assert (table["delivered"] == table["messages"]).all()  # QoS 1, no outage here
    assert list(table.index[:1]) == ["report"]


def test_a_lost_station_sends_its_will_and_comes_back(outage: PipelineResult) -> None:
    events = station_events(outage)
    assert set(events["station"]) == {"st-01", "st-02", "st-03"}
    for station in ("st-01", "st-02", "st-03"):
        mine = list(events.loc[events["station"] == station, "what"])
        assert "SCADA host gets the will: status = lost" in mine
        assert mine[-1] == "station reconnects, session resumed"


def test_no_station_events_without_a_loss(leak: PipelineResult) -> None:
    assert station_events(leak).empty


def test_the_retained_store_holds_the_last_value_and_the_will() -> None:
    down = replace(lesson_config(stations=2, hours=0.5), outages=((1200.0, 3600.0),))
    values = last_known_values(run_pipeline(down), ("pressure",))
    assert list(values["status"]) == ["lost", "lost"]  # the link never came back
    assert list(values["since"]) == ["", ""]
    up = last_known_values(run_pipeline(lesson_config(stations=2, hours=0.25)), ("pressure",))
    assert list(up["status"]) == ["online", "online"]
    assert list(up["since"]) == ["12:30:01", "12:30:01"]
    _, plans = load_plans()
    st01 = plans[0]
    j = [s.name for s in st01.station.sensors].index("pressure")
    end = 12.5 * 3600 + 0.25 * 3600
    last = [b for b in st01.batches if b.t_s < end and any(k == j for k, _ in b.readings)][-1]
    assert up.loc["st-01", "pressure"] == dict(last.readings)[j].decode()


def test_valves_closed_by_the_scada_host_stay_closed_in_the_retained_store() -> None:
    config = lesson_config(stations=13, hours=0.25, start="13:55")
    values = last_known_values(run_pipeline(replace(config, random_outages=False)))
    assert list(values.loc[["st-11", "st-12", "st-13"], "valve_state"]) == ["0", "0", "0"]
    assert values.loc["st-09", "valve_state"] == "1"
    assert values.loc["st-10", "valve_state"] == "1"  # a pump station has one too


def test_the_byte_budget_adds_up_to_the_billed_bytes(leak: PipelineResult) -> None:
    budget = byte_budget(leak)
    parts = budget["bytes in the run"].iloc[:3].sum()
    assert parts == budget.loc["total on the link", "bytes in the run"] == leak.totals.bytes
    per_day = leak.totals.bytes * 24 / 0.25 / MB
    assert budget.loc["total on the link", "MB per day"] == round(per_day, 2)
    assert mb_per_day(leak) == round(per_day, 1)
    assert cost_per_day(leak) == round(per_day * 50.0, 2)  # vsat-1999: US$50 per MB
    assert (
        budget.loc["TCP/IP headers", "share (%)"]
        > budget.loc["payloads (readings, alarms, commands)", "share (%)"]
    )


def test_qos1_costs_the_fewest_bytes_and_qos2_the_most(leak: PipelineResult) -> None:
    # A QoS 0 station pings every Keep Alive, for it hears nothing back, and with
    # Linux's ACKs a ping is four segments (PINGREQ, the broker's quick ACK, PINGRESP,
    # the station's ACK); at QoS 1 the PUBACKs spare the pings of stations reporting
    # more often than that, and carry the broker's ACK (tests/sim/test_pipeline.py).
    # QoS 2 adds three packets a report.
    table = qos_cost_table(leak.config, done=leak)
    assert list(table.index) == [0, 1, 2]
    assert table.loc[1, "MB per day"] < table.loc[0, "MB per day"] < table.loc[2, "MB per day"]
    assert table.loc[1, "MB per day"] == mb_per_day(leak)


def test_the_latency_figure_marks_the_leak_and_every_will(outage: PipelineResult) -> None:
    fig = plot_pipeline_latency(outage)
    children = fig.axes[0].get_children()
    wills = [a for a in children if a.get_gid() == "will"]
    assert len(wills) == (outage.events["event"] == "WillReceived").sum() == 3
    assert [a for a in children if a.get_gid() == "leak"]
    assert [a for a in children if a.get_gid() == "report"]
