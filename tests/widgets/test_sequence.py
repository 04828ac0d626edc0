"""plot_sequence and SequenceExplorer: the chart has one arrow and one label per packet."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import ArrowStyle, FancyArrowPatch  # noqa: E402

from mqttsim.widgets import (  # noqa: E402
    SequenceExplorer,
    exchange_frame,
    plot_sequence,
    record_exchange,
)


def artists(fig: Figure, gid: str) -> list[Any]:
    return [a for a in fig.axes[0].get_children() if a.get_gid() == gid]


def arrows(fig: Figure) -> list[FancyArrowPatch]:
    return [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]


def labels(fig: Figure) -> list[str]:
    return [t.get_text() for t in artists(fig, "label")]


def test_one_arrow_and_one_label_per_packet() -> None:
    fig = plot_sequence(record_exchange(1, version=5))
    assert isinstance(fig, Figure)
    assert len(arrows(fig)) == 4
    assert len(artists(fig, "packet")) == 4
    assert labels(fig) == ["PUBLISH id=1 QoS 1", "PUBACK id=1", "PUBLISH id=1 QoS 1", "PUBACK id=1"]
    assert [t.get_text() for t in artists(fig, "lifeline-name")] == [
        "publisher",
        "broker",
        "subscriber",
    ]
    assert len(artists(fig, "lifeline")) == 3
    assert fig.axes[0].get_title() == "QoS 1, no loss: delivered 1×"


def test_qos2_chart_has_eight_arrows() -> None:
    fig = plot_sequence(record_exchange(2, version=5))
    assert len(arrows(fig)) == 8
    assert labels(fig).count("PUBREL id=1") == 2


def test_a_lost_packet_ends_in_a_cross_and_a_resend_is_dashed() -> None:
    fig = plot_sequence(record_exchange(1, version=5, loss_after=1))
    lost = artists(fig, "lost")
    assert len(lost) == 1 and type(lost[0].get_arrowstyle()) is ArrowStyle.Curve  # no head
    assert len(artists(fig, "loss-mark")) == 1
    assert artists(fig, "loss-mark")[0].get_marker() == "x"
    resent = artists(fig, "retransmission")
    assert len(resent) == 1 and resent[0].get_linestyle() == "--"
    assert "PUBACK id=1: the connection breaks" in labels(fig)
    assert "PUBLISH id=1 QoS 1, DUP" in labels(fig)
    assert "CONNECT (reconnect)" in labels(fig)
    assert [t.get_text() for t in artists(fig, "delivered-label")] == [
        "delivered #1",
        "delivered #2",
    ]
    assert fig.axes[0].get_title() == "QoS 1, 1 packet lost: delivered 2×"


def test_a_lost_arrow_stops_short_of_the_receiver() -> None:
    fig = plot_sequence(record_exchange(0, version=5, loss_after=0))
    (cross,) = artists(fig, "loss-mark")
    x = cross.get_xdata()[0]
    assert 0 < x < 1  # between the publisher (0) and the broker (1)
    assert artists(fig, "delivered") == []


def test_a_dataframe_draws_the_same_chart() -> None:
    rows = record_exchange(2, version=4, loss_after=1)
    from_rows, from_frame = plot_sequence(rows), plot_sequence(exchange_frame(rows))
    assert labels(from_rows) == labels(from_frame)
    assert len(arrows(from_rows)) == len(arrows(from_frame)) == len(rows)


def test_it_draws_into_given_axes_and_takes_a_title() -> None:
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_sequence(record_exchange(0, version=5), ax, title="QoS 0") is fig
    assert ax.get_title() == "QoS 0"
    assert len(arrows(fig)) == 2


def test_an_empty_exchange_draws_only_lifelines() -> None:
    fig = plot_sequence(exchange_frame([]))
    assert arrows(fig) == []
    assert len(artists(fig, "lifeline")) == 3


def test_explorer_redraws_when_a_control_changes() -> None:
    explorer = SequenceExplorer(qos=0)
    assert len(explorer.rows) == 2 and explorer.figure is not None
    first = bytes(explorer.chart.value)
    assert first.startswith(b"\x89PNG")
    explorer.qos.value = 2
    assert bytes(explorer.chart.value) != first
    assert len(explorer.rows) == 8
    assert len(arrows(explorer.figure)) == 8
    explorer.loss_after.value = 1
    assert sum(r.lost for r in explorer.rows) == 1
    explorer.loss_on.value = "subscriber"
    assert [r.receiver for r in explorer.rows if r.lost] == ["broker"]
    explorer.version.value = 4
    assert explorer.rows[0].bytes == 33


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_explorer_starts_where_it_is_told(qos: int) -> None:
    explorer = SequenceExplorer(qos=qos, loss_after=0)
    assert explorer.rows[0].lost
    assert explorer.qos.value == qos
