"""The QoS trade-off explorer, driven as a learner drives it: set values, press Run, read.

The assertions read what the widget *displays* (the HTML table, the error
beside the outage field, the progress bar), not only the objects behind it.
Every scenario is small and seeded: two stations for one simulated hour.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from typing import Any

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mqttsim.protocol.errors import ConfigError  # noqa: E402
from mqttsim.widgets import (  # noqa: E402
    QosExplorer,
    compare_qos,
    explorer_config,
    format_outages,
    outage_fate,
    parse_outages,
    plot_qos_comparison,
    qos_table,
    run_qos,
)

SMALL = {"stations": 2, "hours": 1.0}
# Longer than the broker's keep-alive patience (1.5 x 120 s), which breaks the
# connections (Linux's TCP alone would keep retransmitting for 924.6 s).
LONG_OUTAGE = "1200:900"


class _TableText(HTMLParser):
    """The cells of the first HTML table, as text, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def shown(explorer: QosExplorer) -> dict[str, dict[str, float]]:
    """The results table as displayed: {"QoS 0": {"delivery ratio": 1.0, ...}, ...}."""
    parser = _TableText()
    parser.feed(explorer.table.value)
    header = parser.rows[0]
    body = [row for row in parser.rows[1:] if row and row[0].startswith("QoS ")]
    columns = header[-(len(body[0]) - 1) :]
    return {row[0]: dict(zip(columns, map(float, row[1:]), strict=True)) for row in body}


@pytest.fixture
def explorer() -> QosExplorer:
    return QosExplorer(explorer_config(**SMALL))


# -- the widget ---------------------------------------------------------------------------------


def test_results_are_shown_at_once_and_qos1_costs_least_qos2_most(
    explorer: QosExplorer,
) -> None:
    table = shown(explorer)
    assert list(table) == ["QoS 0", "QoS 1", "QoS 2"]
    assert [table[q]["delivery ratio"] for q in table] == [1.0, 1.0, 1.0]
    # At QoS 0 a station hears nothing back, so it pings every Keep Alive (120 s):
    # PINGREQ, the broker's quick ACK, PINGRESP and the station's ACK, four segments
    # of 52 header bytes, against the PUBACKs (which carry the broker's ACK) of two
    # reports at QoS 1: 8 segments against 6 per station and 120 s (see
    # tests/sim/test_pipeline.py). QoS 2 adds a PUBREC, PUBREL and PUBCOMP a report.
    per_byte = [table[q]["bytes per payload byte"] for q in table]
    assert per_byte[1] < per_byte[0] < per_byte[2]
    cost = [table[q]["cost (US$)"] for q in table]
    assert cost[1] < cost[0] < cost[2]
    assert bytes(explorer.chart.value).startswith(b"\x89PNG")
    assert explorer.progress.value == explorer.progress.max
    assert "vsat-1999 · 2 stations · 1 h · seed 1999" in explorer.status.value


def test_a_long_outage_loses_qos0_messages_but_not_qos1_or_qos2(explorer: QosExplorer) -> None:
    before = explorer.table.value
    explorer.outages.value = LONG_OUTAGE
    explorer.run_button.click()
    assert explorer.table.value != before
    table = shown(explorer)
    assert table["QoS 0"]["delivery ratio"] < 1.0
    assert table["QoS 0"]["lost"] > 0
    assert table["QoS 1"]["delivery ratio"] == table["QoS 2"]["delivery ratio"] == 1.0
    assert table["QoS 2"]["duplicates"] == 0
    # The messages held through the outage arrive after it: minutes late.
    assert table["QoS 1"]["max (s)"] > 600 and table["QoS 2"]["max (s)"] > 600
    assert table["QoS 0"]["max (s)"] < 60
    assert "outages 1200:900" in explorer.status.value


def test_more_loss_means_more_bytes_and_a_longer_tail(explorer: QosExplorer) -> None:
    before = shown(explorer)
    explorer.loss.value = 10.0
    explorer.run_button.click()
    after = shown(explorer)
    for qos in before:
        assert after[qos]["bytes per payload byte"] > before[qos]["bytes per payload byte"]
        assert after[qos]["p95 (s)"] > before[qos]["p95 (s)"]
    assert "loss 10 %" in explorer.status.value


def test_a_bad_outage_text_shows_an_error_and_disables_run(explorer: QosExplorer) -> None:
    before = explorer.table.value
    explorer.outages.value = "1200-900"
    # As the learner reads it: the quotes are escaped in the HTML.
    shown = html.unescape(explorer.outage_error.value)
    assert "outage 1 '1200-900': write START_S:DURATION_S" in shown
    assert (
        "\n" not in explorer.outage_error.value and "Traceback" not in explorer.outage_error.value
    )
    assert explorer.run_button.disabled
    explorer.run_button.click()  # a click that gets through anyway changes nothing
    assert explorer.table.value == before
    explorer.outages.value = LONG_OUTAGE
    assert explorer.outage_error.value == ""
    assert not explorer.run_button.disabled


def test_an_outage_after_the_last_report_is_refused_until_the_run_is_longer(
    explorer: QosExplorer,
) -> None:
    explorer.outages.value = "4000:60"
    assert "starts after the last report (3600 s)" in explorer.outage_error.value
    assert explorer.run_button.disabled
    explorer.hours.value = 2.0
    assert explorer.outage_error.value == ""
    assert not explorer.run_button.disabled


def test_progress_climbs_to_its_max_during_a_run(explorer: QosExplorer) -> None:
    seen: list[int] = []
    explorer.progress.observe(lambda change: seen.append(change["new"]), names="value")
    explorer.run_button.click()
    assert seen[0] == 0
    assert seen == sorted(seen)
    assert seen[-1] == explorer.progress.max
    assert len(seen) > 50  # it moved along, not from 0 straight to the end


def test_fields_are_bounded(explorer: QosExplorer) -> None:
    explorer.loss.value = 80.0
    assert explorer.loss.value == explorer.loss.max == 50.0
    explorer.bandwidth.value = 0.0
    assert explorer.bandwidth.value == explorer.bandwidth.min > 0
    explorer.hours.value = -1.0
    assert explorer.hours.value == explorer.hours.min > 0
    assert explorer.stations.min == 1


def test_the_fields_follow_the_preset_and_only_a_change_overrides_it(
    explorer: QosExplorer,
) -> None:
    explorer.link.value = "iridium"
    assert (explorer.loss.value, explorer.delay.value, explorer.bandwidth.value) == (
        2.0,
        300.0,
        22.0,
    )
    config = explorer.config()
    assert config.link == "iridium"
    assert config.loss_rate is None and config.delay_s is None and config.bandwidth_bps is None
    explorer.delay.value = 600.0
    assert explorer.config().delay_s == pytest.approx(0.6)


def test_overrides_of_the_given_config_are_shown_and_kept() -> None:
    config = explorer_config(**SMALL, loss_rate=0.05, outages=[(600, 300)], seed=7)
    explorer = QosExplorer(config, run=False)
    assert (explorer.loss.value, explorer.outages.value, explorer.seed.value) == (5.0, "600:300", 7)
    assert explorer.config() == config


def test_a_change_marks_the_results_stale_until_run(explorer: QosExplorer) -> None:
    explorer.stations.value = 3
    assert "press <b>Run</b>" in explorer.status.value
    explorer.run_button.click()
    assert "3 stations" in explorer.status.value
    assert "press" not in explorer.status.value


def test_without_run_nothing_is_simulated_until_the_button() -> None:
    explorer = QosExplorer(explorer_config(**SMALL), run=False)
    assert explorer.runs is None and explorer.table.value == ""
    explorer.run_button.click()
    assert explorer.runs is not None and "QoS 2" in explorer.table.value


# -- the functions under it ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "windows"),
    [
        ("", ()),
        ("  ", ()),
        ("1800:900", ((1800.0, 900.0),)),
        (" 1800 : 900 ,5000:0.5", ((1800.0, 900.0), (5000.0, 0.5))),
        ("0:60", ((0.0, 60.0),)),
    ],
)
def test_parse_outages_reads_start_and_duration(text: str, windows: Any) -> None:
    assert parse_outages(text) == windows


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1800-900", "outage 1 '1800-900': write START_S:DURATION_S, e.g. 1800:900"),
        ("1800:900,", "outage 2 '(empty)': write START_S:DURATION_S"),
        ("1800:900, 10:0", "outage 2 '10:0': the duration must be > 0 s"),
        ("-5:10", "outage 1 '-5:10': write START_S:DURATION_S"),
        ("1e3:10", "outage 1 '1e3:10': write START_S:DURATION_S"),
        ("nan:10", "outage 1 'nan:10': write START_S:DURATION_S"),
        ("1:2:3", "outage 1 '1:2:3': write START_S:DURATION_S"),
    ],
)
def test_parse_outages_refuses_with_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_outages(text)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_format_outages_is_read_back() -> None:
    windows = ((1800.0, 900.0), (5000.0, 0.5))
    assert format_outages(windows) == "1800:900, 5000:0.5"
    assert parse_outages(format_outages(windows)) == windows


def test_compare_qos_is_deterministic_for_a_seed() -> None:
    first = compare_qos(explorer_config(**SMALL))
    again = compare_qos(explorer_config(**SMALL))
    assert first.equals(again)
    other = compare_qos(explorer_config(**SMALL), seed=7)
    assert not first.equals(other)


def test_run_qos_runs_one_scenario_per_qos_and_reports_progress() -> None:
    calls: list[tuple[float, float]] = []
    runs = run_qos(explorer_config(**SMALL), progress=lambda d, t: calls.append((d, t)))
    assert [r.config.qos for r in runs.results] == [0, 1, 2]
    assert {r.config.seed for r in runs.results} == {1999}
    assert {r.config.link for r in runs.results} == {"vsat-1999"}
    assert calls[-1] == (3.0, 3.0) and all(t == 3.0 for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_outage_fate_shows_qos0_lost_and_the_others_late() -> None:
    runs = run_qos(explorer_config(**SMALL, outages=parse_outages(LONG_OUTAGE)))
    fate = outage_fate(runs, (1200, 900))
    assert fate.loc["QoS 0", "published"] > 0
    assert fate.loc["QoS 0", "delivered"] == 0
    for qos in ("QoS 1", "QoS 2"):
        assert fate.loc[qos, "lost"] == 0
        assert fate.loc[qos, "first arrival (s)"] >= 1200 + 900  # after the outage, not during


def test_the_plot_has_a_latency_curve_per_qos_and_three_bar_panels() -> None:
    runs = run_qos(explorer_config(**SMALL))
    figure = plot_qos_comparison(runs)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 4
    curves = [line.get_gid() for line in figure.axes[0].get_lines() if line.get_gid()]
    assert curves == ["cdf-qos0", "cdf-qos1", "cdf-qos2"]
    titles = [ax.get_title() for ax in figure.axes[1:]]
    assert titles == ["delivered (%)", "link bytes per payload byte", "cost (US$)"]
    heights = [bar.get_height() for bar in figure.axes[2].patches]
    assert heights == list(qos_table(runs)["bytes per payload byte"])


def test_a_bad_setting_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        explorer_config(stations=0)
    with pytest.raises(ConfigError):
        run_qos(explorer_config(**SMALL), loss_rate=2.0)
