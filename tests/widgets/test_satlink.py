"""satlink: lesson 08's numbers follow from geometry, the codec, RFC 6298 and the simulator."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mqttsim.protocol import ConfigError, ProtocolVersion, Publish, QoS, encode  # noqa: E402
from mqttsim.sim import TcpConfig  # noqa: E402
from mqttsim.widgets.satlink import (  # noqa: E402
    OUTAGE_START_S,
    SatLinkExplorer,
    backoff_schedule,
    first_retry_after,
    geo_hop_table,
    latency_runs,
    latency_summary,
    outage_table,
    outage_trace,
    plot_latency_cdf,
    plot_outage,
    run_link,
    serialisation_table,
    slant_range_km,
)


def gids(fig: Figure, gid: str) -> list[object]:
    return [a for ax in fig.axes for a in ax.get_children() if a.get_gid() == gid]


def test_slant_range_is_the_altitude_overhead_and_longer_towards_the_horizon() -> None:
    assert slant_range_km(90) == pytest.approx(35786, abs=1)
    assert slant_range_km(30) == pytest.approx(38612, abs=1)  # the figure datasets/links.json cites
    assert slant_range_km(0) > slant_range_km(10) > slant_range_km(30)


@pytest.mark.parametrize("bad", [-1, 91, math.nan])
def test_an_elevation_outside_0_to_90_is_refused(bad: float) -> None:
    with pytest.raises(ConfigError, match="elevation_deg"):
        slant_range_km(bad)


def test_a_hop_is_two_legs_and_a_round_trip_two_hops() -> None:
    row = geo_hop_table([30]).iloc[0]
    assert row["one hop (ms)"] == pytest.approx(257.6, abs=0.1)
    assert row["round trip (ms)"] == pytest.approx(2 * row["one hop (ms)"], abs=0.1)


def test_serialisation_is_bits_over_bit_rate_of_the_encoded_packet() -> None:
    table = serialisation_table("vsat-1999")
    report = Publish(topic="pipeline/st-01/pressure", payload=b"11 50400 41.83", qos=QoS(0))
    size = len(encode(report, ProtocolVersion.V311))
    row = table.loc["PUBLISH pressure report, QoS 0"]
    # 52 header bytes a segment: 20 IPv4 + 20 TCP + 12 of the timestamps option (RFC 7323).
    assert row["MQTT bytes"] == size
    assert row["on the link (bytes)"] == size + 52
    assert row["up at 2.4 kbit/s (ms)"] == round((size + 52) * 8 / 2400 * 1000)
    # 52 * 8 / 2400 = 173.3 ms
    assert table.loc["TCP acknowledgement (no MQTT)", "up at 2.4 kbit/s (ms)"] == 173


@pytest.mark.parametrize(
    ("option", "value"),
    [("loss_rate", 0.9), ("mean_burst_len", 0.5), ("stations", 0), ("outage_s", -1), ("hours", 7)],
)
def test_run_link_refuses_values_out_of_range_in_one_line(option: str, value: float) -> None:
    with pytest.raises(ConfigError, match=option) as info:
        run_link(**{option: value})  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_over_tcp_qos0_loses_nothing_to_independent_loss_but_waits_longer() -> None:
    runs = latency_runs((0.0, 0.05), stations=4, hours=1.0, seed=7)
    summary = latency_summary(runs)
    assert list(summary.index) == ["loss 0 %", "loss 5 %"]
    assert (summary["lost"] == 0).all()
    assert summary.loc["loss 5 %", "99th pct (s)"] > summary.loc["loss 0 %", "99th pct (s)"]
    assert summary.loc["loss 5 %", "TCP resends"] > summary.loc["loss 0 %", "TCP resends"]


def test_latency_runs_are_the_same_for_the_same_seed() -> None:
    first = latency_runs((0.05,), mean_burst_len=(1, 4), stations=3, hours=0.5, seed=3)
    again = latency_runs((0.05,), mean_burst_len=(1, 4), stations=3, hours=0.5, seed=3)
    assert first.equals(again)
    assert list(first["case"].cat.categories) == [
        "loss 5 %, independent",
        "loss 5 %, bursts of 4",
    ]


def test_mismatched_burst_lengths_are_refused() -> None:
    with pytest.raises(ConfigError, match="burst length"):
        latency_runs((0.0, 0.01, 0.05), mean_burst_len=(1, 4))


def test_the_cdf_has_one_curve_per_case_in_each_panel() -> None:
    runs = latency_runs((0.0, 0.01), stations=2, hours=0.25)
    fig = plot_latency_cdf(runs)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    assert len(gids(fig, "cdf")) == 4
    assert fig.axes[1].get_ylim()[0] == 95


def test_the_timeout_doubles_up_to_its_ceiling_then_tcp_gives_up() -> None:
    # Linux: doubling up to 120 s (TCP_RTO_MAX); dead at the first expiry at least
    # 924.6 s (tcp_retries2) after the first resend at 1 s. Resends at 1, 3, 7, 15,
    # 31, 63, 127, then every 120 s: 247 ... 847 (846 s after the first); 967 is
    # 966 s after it: the give-up.
    schedule = backoff_schedule(1.0)
    waits = list(schedule["waited (s)"])
    assert waits == [1, 2, 4, 8, 16, 32, 64] + [120] * 7
    assert schedule.index[-1].startswith("give up")
    assert schedule["since first send (s)"].iloc[-2:].tolist() == [847, 967]
    # R2 as a count: two resends, then the give-up.
    assert len(backoff_schedule(1.0, TcpConfig(give_up_s=None, max_retries=2))) == 3
    # The first model: a 60 s ceiling and 8 resends.
    legacy = backoff_schedule(1.0, TcpConfig.legacy())
    assert list(legacy["waited (s)"]) == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert legacy["since first send (s)"].iloc[-1] == 243


def test_first_retry_after_an_outage() -> None:
    assert first_retry_after(100) == 127  # 1 + 2 + 4 + 8 + 16 + 32 + 64
    assert first_retry_after(0.5) == 1
    assert first_retry_after(500) == 607  # 127 + 4 x 120
    assert first_retry_after(1000) == math.inf  # the expiry at 967 s gave up
    assert first_retry_after(100, tcp=TcpConfig.legacy()) == 123  # 63 + 60


def test_an_outage_turns_into_resends_at_doubling_intervals() -> None:
    trace = outage_trace(60.0)
    start, duration = trace.attrs["outage"]
    assert (start, duration) == (OUTAGE_START_S, 60.0)
    resends = trace[trace.retransmission & (trace.direction == "up")]
    times = list(resends.time_s)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]

    # Each wait doubles, give or take the bucket of Linux's timer wheel that
    # fires it (HZ=250: 32 ms under 2.016 s, 256 ms under 16.128 s, then 2.048 s).
    def bucket(wait_s: float) -> float:
        return 0.032 if wait_s < 2.016 else 0.256 if wait_s < 16.128 else 2.048

    assert all(abs(b - 2 * a) <= bucket(b) for a, b in zip(gaps, gaps[1:], strict=False))
    assert gaps[0] == pytest.approx(1.6, abs=0.032)  # twice an RTO of about 0.8 s
    assert (resends.outcome.iloc[:-1] == "outage").all()
    assert resends.outcome.iloc[-1] == "delivered"  # the first resend after the outage
    fig = plot_outage(trace)
    assert len(gids(fig, "lost")) == (trace.outcome == "outage").sum()
    assert len(gids(fig, "wait")) == len(resends)


def test_unknown_station_is_refused() -> None:
    with pytest.raises(ConfigError, match="st-01 ... st-22"):
        outage_trace(60.0, station="st-99")


def test_a_short_outage_costs_time_a_long_one_costs_qos0_messages() -> None:
    table = outage_table((30, 180, 1200), stations=3)
    assert table.loc[30, "QoS 0 lost"] == 0
    assert table.loc[30, "connections broken"] == "0 of 3"
    # 180 s of silence trips the broker's keep-alive (1.5 x 120 s); TCP alone bridges it.
    assert table.loc[180, "connections broken"] == "3 of 3"
    assert table.loc[180, "QoS 0 lost"] > 0
    assert table.loc[180, "QoS 0 lost, no keep-alive"] == 0
    # 1200 s is beyond TCP's give-up: the first expiry 924.6 s after the first resend
    # (seconds after the first report the outage swallows) comes at most one RTO
    # ceiling, 120 s, later: about 1050 s into the outage at the latest.
    assert table.loc[1200, "QoS 0 lost, no keep-alive"] > 0
    assert (table["QoS 1 lost"] == 0).all()
    assert table.loc[1200, "QoS 1 longest delay (s)"] > 1200


def test_keep_alive_out_of_range_is_refused() -> None:
    with pytest.raises(ConfigError, match="keep_alive_s"):
        run_link(keep_alive_s=70_000)


def test_the_explorer_reruns_with_the_controls_values() -> None:
    explorer = SatLinkExplorer(stations=3)
    first_table, first_chart = explorer.table.value, explorer.chart.value
    assert explorer.summary is not None
    assert explorer.summary["lost"].iloc[0] == 0
    assert first_chart[:8] == b"\x89PNG\r\n\x1a\n"
    explorer.outage.value = 600
    explorer.run_button.click()
    assert explorer.status.value.startswith("done")
    assert explorer.summary["lost"].iloc[0] > 0  # QoS 0 through a 10-minute outage
    assert explorer.table.value != first_table
    assert explorer.chart.value != first_chart
    explorer.qos.value = 1
    explorer.run_button.click()
    assert explorer.summary["lost"].iloc[0] == 0
    assert "QoS 1" in explorer.table.value


def test_the_explorer_sliders_are_bounded() -> None:
    explorer = SatLinkExplorer(stations=1)
    explorer.loss.value = 95
    explorer.delay.value = 10_000
    assert explorer.loss.value == explorer.loss.max == 20
    assert explorer.delay.value == explorer.delay.max == 1000
