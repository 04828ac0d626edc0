"""The validation harness without root: the grid, the figures, the comparison, the report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mqttsim.protocol import ConfigError
from mqttsim.sim.profiles import broker_profile, client_profile
from mqttsim.validate.agent import payload
from mqttsim.validate.cases import LINKS, STACKS, Case, ci_subset, grid
from mqttsim.validate.figures import Figures, compare, from_agent_logs, from_result, mean, within
from mqttsim.validate.report import headline, write_report


def test_the_grid_is_every_link_layout_qos_and_stack() -> None:
    cases = grid()
    assert len(cases) == len(LINKS) * 2 * 3 * len(STACKS) == 96
    assert len({c.name for c in cases}) == 96
    assert {c.link for c in ci_subset()} <= set(LINKS)
    with pytest.raises(ConfigError, match="unknown link 'fog'"):
        Case(link="fog")
    with pytest.raises(ConfigError, match="layout must be beside or remote"):
        Case(link="clean", layout="far")


def test_a_case_is_one_scenario_for_the_simulator() -> None:
    case = Case(link="outage 120 s", layout="remote", qos=2, stack="paho+mosquitto", count=5)
    net = case.scenario()
    assert [link.name for link in net.links] == ["field", "office"]
    assert net.links[0].spec.outages == ((60.0, 120.0),)
    assert [c.profile for c in net.clients] == ["paho-2", "paho-2"]
    assert net.brokers[0].profile == "mosquitto-2"
    # No TCP override: each end runs its profile's, as a user's scenario does.
    assert all(c.tcp is None for c in net.clients) and net.brokers[0].tcp is None
    tcp = [client_profile(c.profile).tcp_config() for c in net.clients]
    assert {t.header_bytes for t in tcp} == {52}  # Linux's TCP, timestamps
    assert all(t.nagle for t in tcp)  # paho sets no NODELAY
    assert broker_profile("mosquitto-2").tcp_config().nagle  # nor does mosquitto


def test_the_simulated_figures_of_a_clean_case_are_the_link_s_arithmetic() -> None:
    figures = from_result(Case(link="clean", qos=1, count=10, drain_s=10).scenario().run(seed=1))
    assert figures.delivered == 10 and figures.duplicates == 0
    # PUBLISH of 32 payload bytes: 52 + 2 + 2 + 7 + 2 + 32 = 97 bytes at 1 Mbit/s, then 280 ms.
    assert figures.latency_p50_s == pytest.approx(0.28 + 97 * 8e-6, abs=1e-9)
    assert figures.retransmitted_segments == 0


def test_the_real_figures_come_from_the_agents_logs(tmp_path: Path) -> None:
    pub, sub = tmp_path / "rtu.jsonl", tmp_path / "scada.jsonl"
    sent = [{"event": "sent", "id": k, "t": 10.0 + k} for k in range(4)]
    got = [
        {"event": "received", "id": 0, "t": 10.3},
        {"event": "received", "id": 1, "t": 11.5},
        {"event": "received", "id": 1, "t": 12.9},  # a duplicate
        {"event": "received", "id": 3, "t": 13.4},
    ]
    pub.write_text("".join(json.dumps(e) + "\n" for e in sent))
    sub.write_text("".join(json.dumps(e) + "\n" for e in got))
    figures = from_agent_logs(pub, sub, ip_bytes=600.0, retransmitted_segments=2.0)
    assert (figures.delivered, figures.duplicates) == (3.0, 1.0)
    assert figures.latency_p50_s == pytest.approx(0.4)
    assert figures.ip_bytes_per_message == 200.0
    assert payload(7, 10) == b"7 ........" and payload(12345, 3) == b"12345 "


def test_cells_are_within_ten_percent_or_twenty_five_for_qos2_latency() -> None:
    assert within("latency_p50_s", 1.0, 1.09, qos=1)
    assert not within("latency_p50_s", 1.0, 1.2, qos=1)
    assert within("latency_p50_s", 1.0, 1.2, qos=2)
    assert within("retransmitted_segments", 0.0, 3.0, qos=1)  # a few, by difference
    assert not within("ip_bytes_per_message", 200.0, 150.0, qos=0)
    assert within("delivered", math.nan, math.nan, qos=0)
    one = Figures(10, 0, 1.0, 1.0, 1.0, 200.0, 0)
    two = Figures(12, 0, 2.0, math.nan, 1.0, 220.0, 2)
    assert mean([one, two]) == Figures(11, 0, 1.5, 1.0, 1.0, 210.0, 1)


def test_the_report_gives_the_headline_without_the_outage_rows(tmp_path: Path) -> None:
    real = Figures(10, 0, 1.0, 1.1, 1.2, 200.0, 0)
    table = compare(
        [
            ("clean, beside, QoS 2, mqttsim", 2, real, Figures(10, 0, 1.2, 1.1, 1.2, 200.0, 0)),
            ("outage 120 s, beside, QoS 1, mqttsim", 1, real, Figures(5, 0, 9, 9, 9, 900, 40)),
        ]
    )
    top = headline(table)
    assert top == {
        "cells": 7.0,
        "within": 1.0,
        "qos2_latency_cells": 3.0,
        "qos2_latency_within": 1.0,
    }
    path = tmp_path / "validation.md"
    write_report(
        path, table, accuracy="p50 50 µs", deviations="**Outage.** why", seeds=1, sim_seeds=10
    )
    text = path.read_text(encoding="utf-8")
    assert "100% of 7 cells within tolerance" in text and "**Outage.** why" in text
    assert "real and simulated figures from seed 1 (the same draws)" in text
    assert (
        "| outage 120 s, beside, QoS 1, mqttsim | 1 | delivered | 10 | 5 | 0.5 | **no** |" in text
    )


def test_the_spread_over_more_seeds_says_whether_the_real_figure_falls_inside(
    tmp_path: Path,
) -> None:
    real = Figures(10, 0, 1.0, 2.0, 4.0, 200.0, 5)
    paired = Figures(10, 0, 1.0, 1.2, 1.5, 200.0, 9)  # p95, p99 and resends out of tolerance
    runs = [paired, Figures(10, 0, 1.0, 2.5, 5.0, 205.0, 4), Figures(10, 0, 1.0, 1.6, 3.0, 210, 7)]
    name = "loss 10 %, beside, QoS 1, mqttsim"
    table = compare([(name, 1, real, paired)], {name: runs}).set_index("figure")
    assert not table.loc["latency_p95_s", "within"]
    assert table.loc["latency_p95_s", "in_spread"]  # 2.0 lies in [1.2, 2.5]
    assert table.loc["latency_p99_s", ["sim_low", "sim_high"]].tolist() == [1.5, 5.0]
    assert table.loc["latency_p95_s", "sim_mean"] == pytest.approx(1.7667, abs=1e-4)
    assert table.loc["retransmitted_segments", "in_spread"]  # 5 in [4, 9]
    lonely = compare([(name, 1, real, paired)], {name: [paired, paired]}).set_index("figure")
    assert not lonely.loc["latency_p99_s", "in_spread"]  # 4.0 is far above every run
    top = headline(compare([(name, 1, real, paired)], {name: runs}))
    assert top["in_spread"] == 1.0
    path = tmp_path / "validation.md"
    write_report(
        path,
        compare([(name, 1, real, paired)], {name: runs}),
        accuracy="",
        deviations="",
        seeds=1,
        sim_seeds=3,
    )
    text = path.read_text(encoding="utf-8")
    assert "seeds 1 to 3 for the spread" in text
    row = "| 1 | latency_p95_s | 2 | 1.2 | 0.6 | **no** | 1.77 [1.2, 2.5] |"
    assert f"| {name} {row}" in text
    mixed = compare(
        [(name, 1, real, paired), ("clean, beside, QoS 1, mqttsim", 1, real, real)],
        {name: runs},
        {name: 4},
    )
    assert mixed.groupby("case")["seeds"].first().to_dict() == {
        name: 4,
        "clean, beside, QoS 1, mqttsim": 1,
    }
    write_report(path, mixed, accuracy="", deviations="", seeds=1, sim_seeds=10)
    text = path.read_text(encoding="utf-8")
    assert "the mean over seeds 1 to 4 (the same draws) where the seeds column says 4" in text
    assert "from seed 1 elsewhere" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--drain", "-1"], "--drain must be >= 0, got -1"),
        (["--deviations", "/nonexistent/notes.md"], "--deviations /nonexistent/notes.md: No such"),
        (["--sim-seeds", "0"], "--sim-seeds: must be at least 1"),
    ],
)
def test_validate_refuses_bad_values_in_one_line_before_any_run(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from mqttsim.cli import main

    try:
        code = main(["validate", *args])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
