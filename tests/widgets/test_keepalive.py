"""Keep-alive on the broker core and a fake clock (lesson 07), and its widget."""

from __future__ import annotations

import math

import pytest

from mqttsim.protocol import ConfigError
from mqttsim.widgets.keepalive import (
    KeepAliveExplorer,
    detect,
    detection_table,
    keepalive_story,
    ping_cost_table,
    plot_keepalive,
)


def test_the_lesson_story_broker_after_50_s_station_after_80_s() -> None:
    found = detect(keepalive_story(60, dies_at=100))
    assert (found.died_at, found.broker_at, found.station_at) == (100, 150, 180)
    assert (found.broker_after_s, found.station_after_s) == (50, 80)


@pytest.mark.parametrize("keep_alive_s", [10, 60, 300])
@pytest.mark.parametrize("into_cycle", [0.01, 0.25, 0.5, 0.99])
def test_detection_follows_the_rules_of_the_specification(
    keep_alive_s: int, into_cycle: float
) -> None:
    k = keep_alive_s
    dies_at = k * (2 + into_cycle)  # a quiet station pings at k, 2k, 3k...
    found = detect(keepalive_story(k, dies_at=dies_at))
    last_ping = math.floor(dies_at / k) * k
    # The broker: 1.5 x Keep Alive after the last packet it received [MQTT-3.1.2-24].
    assert found.broker_at == pytest.approx(last_ping + 1.5 * k)
    # The station: its next PINGREQ is lost; Keep Alive later it gives up.
    assert found.station_at == pytest.approx(last_ping + 2 * k)
    assert found.broker_after_s is not None and 0.5 * k <= found.broker_after_s < 1.5 * k


def test_without_keep_alive_nobody_notices() -> None:
    story = keepalive_story(0, until=24 * 3600)
    found = detect(story)
    assert found.broker_at is None and found.station_at is None
    assert found.broker_after_s is None and found.station_after_s is None
    assert story.is_connected("st-07")
    assert story.packets("PINGREQ").empty


def test_the_broker_sends_the_will_when_it_gives_up() -> None:
    events = keepalive_story(60, dies_at=100).events()
    will = events[(events.who == "scada") & events.detail.str.contains("offline")]
    assert list(will.time) == [150.0]


def test_detection_table_reads_the_core() -> None:
    table = detection_table(60, deaths=[61, 100, 119])
    assert list(table["broker notices after (s)"]) == [89, 50, 31]
    assert list(table["station notices after (s)"]) == [119, 80, 61]
    assert len(detection_table(30)) == 4
    with pytest.raises(ConfigError, match="positive"):
        detection_table(0)


def test_ping_costs() -> None:
    table = ping_cost_table([60, 300], stations=10, price_per_mb_usd=2**20 / 1_000_000)
    sixty = table.iloc[0]
    # 52 header bytes a segment (20 IPv4 + 20 TCP + 12 timestamps option, RFC 7323):
    # 2 + 52 (PINGREQ) + 2 + 52 (PINGRESP) + 52 (bare ACK) = 160 bytes a cycle, 1440
    # cycles a day: 230,400 bytes, 2,304,000 for 10 stations, US$2.30 at US$1 per 10**6.
    assert sixty["pings/day"] == 1440
    assert sixty["bytes/day per station"] == 160 * 1440
    assert sixty["bytes/day, 10 stations"] == 2_304_000
    assert sixty["US$/day"] == pytest.approx(2.30, abs=0.01)
    assert list(table["broker notices within (s)"]) == [90, 450]
    assert list(table["station notices within (s)"]) == [120, 600]
    default = ping_cost_table()
    assert default.columns[3] == "bytes/day, 22 stations"
    assert default["US$/day"].is_monotonic_decreasing
    with pytest.raises(ConfigError, match="positive"):
        ping_cost_table([0])


def test_bad_story_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        keepalive_story(-1)
    with pytest.raises(ConfigError, match="before"):
        keepalive_story(60, dies_at=100, until=50)
    with pytest.raises(ConfigError, match="no dead link"):
        from mqttsim.widgets.timeline import Timeline

        detect(Timeline())


def _gids(figure: object) -> list[str]:
    ax = figure.axes[0]  # type: ignore[attr-defined]
    artists = [*ax.lines, *ax.patches, *ax.texts, *ax.collections]
    return [a.get_gid() for a in artists if a.get_gid()]


def test_the_picture_shows_the_pings_the_loss_and_who_gave_up() -> None:
    gids = _gids(plot_keepalive(keepalive_story(60, dies_at=100)))
    assert gids.count("link-dies") == 1
    assert gids.count("loss-mark") == 2  # the PINGREQ at 120 s and the broker's DISCONNECT
    assert {"broker-gives-up", "station-gives-up"} <= set(gids)
    quiet = _gids(plot_keepalive(keepalive_story(0, until=600)))
    assert "broker-gives-up" not in quiet and "station-gives-up" not in quiet


def test_the_explorer_redraws_when_its_controls_move() -> None:
    explorer = KeepAliveExplorer()
    assert "The link dies at 100 s" in explorer.summary.value
    assert "after <b>50 s</b>" in explorer.summary.value
    first_chart, first_summary = bytes(explorer.chart.value), explorer.summary.value
    assert first_chart.startswith(b"\x89PNG")
    explorer.keep_alive.value = 300
    assert explorer.summary.value != first_summary
    assert "46,080 bytes a day" in explorer.summary.value  # 86400 / 300 = 288 cycles x 160
    assert bytes(explorer.chart.value) != first_chart
    explorer.dies_into_cycle.value = 0.01
    assert explorer.detection is not None
    assert explorer.detection.broker_after_s == pytest.approx(447)
