"""The scenario API: any topology and traffic, one result object, variants by dotted keys."""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mqttsim.protocol import ConfigError
from mqttsim.protocol.packets import Will
from mqttsim.sim import (
    LinkSpec,
    PipelineConfig,
    Scenario,
    ScenarioResult,
    World,
    pipeline_scenario,
    run_pipeline,
)
from mqttsim.sim.metrics import MB

GEO = LinkSpec(
    name="geo-clean", description="a clean GEO hop", delay_s=0.28, uplink_bps=1e6, downlink_bps=1e6
)


def station(**kwargs: Any) -> Scenario:
    """One station behind a GEO link; the SCADA host beside the broker."""
    net = Scenario("station", duration_s=300, drain_s=30, **kwargs)
    net.link("field", "hub", GEO, name="field")
    net.broker("broker", site="hub")
    net.client("rtu", site="field")
    net.client("scada", site="hub", subscribe=[("plant/#", 2)])
    return net


# -- topology --------------------------------------------------------------------------------


def test_a_message_is_one_row_per_subscriber_that_should_get_it() -> None:
    net = Scenario("fan-out", duration_s=60, drain_s=10)
    net.link("field", "hub", GEO, name="field")
    net.link("office", "hub", GEO, name="office")
    net.broker("broker", site="hub")
    net.client("rtu", site="field")
    net.client("scada", site="hub", subscribe="plant/#")
    net.client("office", site="office", subscribe=[("plant/pressure", 1)])
    net.client("archive", site="hub", subscribe=[("other/#", 0)])
    net.periodic("rtu", "plant/pressure", every_s=20, start_s=5)
    net.periodic("rtu", "plant/flow", every_s=20, start_s=6)
    m = net.run(seed=1).messages
    pairs = m.groupby("topic")["subscriber"].apply(sorted).to_dict()
    assert pairs == {"plant/flow": ["scada"] * 3, "plant/pressure": ["office"] * 3 + ["scada"] * 3}
    assert (m["deliveries"] == 1).all()
    office = m[m.subscriber == "office"]
    scada = m[(m.subscriber == "scada") & (m.topic == "plant/pressure")]
    # The office is one more GEO hop away than the SCADA host beside the broker: the
    # PUBLISH's segment (52 of IP + TCP with the timestamps option, RFC 7323; + fixed
    # header 2 + topic 2 + 14 + packet id 2 + payload 32) at 1 Mbit/s, then 280 ms.
    gap = office["latency_s"].to_numpy() - scada["latency_s"].to_numpy()
    assert gap == pytest.approx([0.28 + 104 * 8e-6] * 3, abs=1e-9)


def test_a_message_nobody_subscribed_to_has_one_row_without_subscriber() -> None:
    net = station()
    net.periodic("rtu", "elsewhere/x", every_s=100)
    result = net.run(seed=1)
    assert result.messages["subscriber"].tolist() == [None, None, None]
    assert result.summary().empty  # nobody was meant to get them


def test_clients_at_one_site_share_its_link() -> None:
    net = Scenario("one site", duration_s=120, drain_s=20)
    net.link("field", "hub", GEO.with_overrides(bandwidth_bps=9600), name="field")
    net.broker("broker", site="hub")
    net.client("rtu", site="field")
    net.client("camera", site="field")
    net.client("scada", site="hub", subscribe="#")
    net.bursts("camera", "cam/jpeg", every_s=1000, count=1, payload_bytes=6000, start_s=10)
    net.periodic("rtu", "plant/p", every_s=1000, start_s=10.1)
    result = net.run(seed=1)
    m = result.messages.set_index("topic")
    # The reading waits behind the picture on the shared 9.6 kbit/s uplink.
    assert m.loc["plant/p", "latency_s"] > 6000 * 8 / 9600
    connections = result.connections.set_index("client")
    links = result.links.set_index(["link", "direction"])
    total_up = connections.loc[["rtu", "camera"], "bytes_up"].sum()
    assert total_up == links.loc[("field", "up"), "bytes"]


def test_a_client_reaches_its_broker_over_one_link_or_says_why_not() -> None:
    net = Scenario("no route", duration_s=60)
    net.link("a", "b", GEO)
    net.broker("broker", site="b")
    net.client("far", site="c")
    with pytest.raises(ConfigError, match="no link joins sites 'c' and 'b'"):
        net.run()


def test_building_refuses_mistakes_in_one_line() -> None:
    net = station()
    with pytest.raises(ConfigError, match="node name 'rtu' is used twice"):
        net.client("rtu", site="field")
    with pytest.raises(ConfigError, match="unknown broker 'nope'; brokers: broker"):
        net.client("x", site="field", broker="nope")
    with pytest.raises(ConfigError, match="already joined"):
        net.link("hub", "field", "geo-vsat", name="again")
    with pytest.raises(
        ConfigError, match="unknown link setting 'random_outages'; allowed: .*delay_s"
    ):
        net.link("field", "moon", "geo-vsat", random_outages=False)
    with pytest.raises(ConfigError, match="unknown link preset 'moon'"):
        net.link("field", "moon", "moon")
    with pytest.raises(ConfigError, match="unknown client profile"):
        net.client("y", site="field", profile="paho-1")
    with pytest.raises(ConfigError, match="has no setting 'nagle'"):
        net.client("y", site="field", nagle=False)
    with pytest.raises(ConfigError, match="already has broker"):
        net.broker("second", site="hub")
    with pytest.raises(ConfigError, match="traffic for unknown client 'ghost'"):
        net.periodic("ghost", "t", every_s=1)
    with pytest.raises(ConfigError, match="every_s must be > 0"):
        net.periodic("rtu", "t", every_s=0)
    with pytest.raises(ConfigError, match="topic must be a topic name without wildcards"):
        net.periodic("rtu", "plant/#", every_s=1)
    with pytest.raises(ConfigError, match="subscription QoS must be 0, 1 or 2"):
        net.client("z", site="hub", subscribe=[("a", 3)])
    with pytest.raises(ConfigError, match="qos must be 0, 1 or 2"):
        Scenario("bad", qos=5)
    with pytest.raises(ConfigError, match="cannot import it"):
        net.process("mqttsim.nowhere:f")


# -- traffic ---------------------------------------------------------------------------------


def test_periodic_poisson_and_bursts_publish_what_they_say() -> None:
    net = station()
    net.periodic("rtu", "plant/periodic", every_s=30, offset_s=5)
    net.poisson("rtu", "plant/poisson", rate_per_s=0.1)
    net.bursts("rtu", "plant/burst", every_s=100, count=5, start_s=1)
    m = net.run(seed=2).messages.set_index("topic")
    assert m.loc["plant/periodic", "sent_s"].tolist() == [5.0 + 30 * k for k in range(10)]
    assert m.loc["plant/burst", "sent_s"].tolist() == [
        t for t in (1.0, 101.0, 201.0) for _ in range(5)
    ]
    poisson = m.loc["plant/poisson", "sent_s"]
    assert 15 <= len(poisson) <= 45  # 30 expected in 300 s
    again = net.run(seed=2).messages.set_index("topic").loc["plant/poisson", "sent_s"]
    other = net.run(seed=3).messages.set_index("topic").loc["plant/poisson", "sent_s"]
    assert again.tolist() == poisson.tolist()
    assert other.tolist() != poisson.tolist()


def test_a_burst_written_at_once_shares_segments() -> None:
    net = station()
    net.bursts("rtu", "plant/b", every_s=1000, count=10, start_s=5, payload_bytes=20)
    packets = net.run(seed=1, qos=0, record_packets=True).packets
    assert packets is not None
    labels = packets[(packets.link == "field up") & (packets.time_s >= 5)]["mqtt"].astype(str)
    assert labels.tolist()[0] == "PUBLISHx10"


def test_replay_publishes_a_trace_from_rows_a_frame_or_a_csv(tmp_path: Path) -> None:
    rows = [(12.5, "t/a", 10), (40.0, "t/b", 200), (400.0, "t/late", 5)]
    frame = pd.DataFrame(rows, columns=["time_s", "topic", "payload_bytes"])
    csv = tmp_path / "trace.csv"
    frame.to_csv(csv, index=False)
    results = []
    for trace in (rows, frame, csv):
        net = station()
        net.client("gw", site="field", subscribe="t/#")
        net.replay("gw", trace)
        results.append(net.run(seed=1).messages)
    m = results[0]
    subscribed = m[m.subscriber == "gw"]
    assert subscribed[["sent_s", "topic", "payload_bytes"]].values.tolist() == [
        [12.5, "t/a", 10],
        [40.0, "t/b", 200],
    ]  # the row at 400 s is past the run
    for other in results[1:]:
        pd.testing.assert_frame_equal(other, m)
    with pytest.raises(ConfigError, match="trace file not found"):
        station().replay("rtu", tmp_path / "missing.csv")


def test_report_by_exception_publishes_only_changes_beyond_the_dead_band() -> None:
    values = [(0.0, 10.0), (60.0, 10.4), (120.0, 11.2), (180.0, 11.0), (240.0, 9.0)]
    net = station()
    net.by_exception("rtu", "plant/p", sample_every_s=60, deadband=0.5, values=tuple(values))
    m = net.run(seed=1).messages
    assert m["sent_s"].tolist() == [0.0, 120.0, 240.0]
    beat = station()
    beat.by_exception(
        "rtu", "plant/p", sample_every_s=60, deadband=0.5, values=tuple(values), heartbeat_s=120
    )
    assert beat.run(seed=1).messages["sent_s"].tolist() == [0.0, 120.0, 240.0]
    walk = station()
    walk.by_exception("rtu", "plant/w", sample_every_s=10, deadband=2.0, walk_sd=1.0)
    sent = walk.run(seed=4).messages
    assert 2 <= len(sent) < 30  # 30 samples, fewer reports


def _alarm_storm(world: World, client: str, at_s: float, count: int) -> Generator[Any, Any, None]:
    yield world.env.timeout(at_s)
    for k in range(count):
        world.publish(client, f"plant/alarm/{k}", payload_bytes=40, qos=2)


def _counter(world: World) -> None:
    world.state["built"] = sorted(world.clients)


def test_a_process_of_ones_own_is_plain_simpy() -> None:
    net = station()
    net.process(_alarm_storm, client="rtu", at_s=100.0, count=7)
    net.process(_counter)
    result = net.run(seed=1, qos=0)
    m = result.messages
    assert len(m) == 7 and (m["qos"] == 2).all() and (m["sent_s"] == 100.0).all()
    assert (m["deliveries"] == 1).all()


def test_a_will_reaches_the_subscriber_when_the_link_dies() -> None:
    net = Scenario("will", duration_s=600, drain_s=0)
    net.link("field", "hub", GEO.with_overrides(outages=((100.0, 1000.0),)), name="field")
    net.broker("broker", site="hub")
    will = Will(topic="plant/status", payload=b"lost", retain=True)
    net.client("rtu", site="field", keep_alive_s=60, will=will)
    net.client("scada", site="hub", subscribe="plant/#")
    result = net.run(seed=1)
    events = result.events
    assert "BrokerClosed" in events["event"].tolist()
    retained = result.brokers["broker"].retained
    assert retained[["topic", "payload"]].values.tolist() == [["plant/status", b"lost"]]


# -- the result ------------------------------------------------------------------------------


def test_the_result_carries_connections_links_and_the_brokers_final_state(tmp_path: Path) -> None:
    net = station()
    net.periodic("rtu", "plant/p", every_s=10, retain=True)
    result = net.run(seed=1, qos=1)
    assert isinstance(result, ScenarioResult)
    c = result.connections.set_index("client")
    assert c.loc["rtu", "connects"] == 1 and c.loc["rtu", "link"] == "field"
    assert c.loc["scada", "link"] == "loopback" and c.loc["scada", "segments_up"] == 0
    links = result.links.set_index("direction")
    assert links.loc["up", "bytes"] == c.loc["rtu", "bytes_up"]
    assert links.loc["down", "bytes"] == c.loc["rtu", "bytes_down"]
    assert links.loc["up", "radio_on_s"] == pytest.approx(links.loc["up", "bytes"] * 8 / 1e6)
    state = result.brokers["broker"]
    assert state.retained["topic"].tolist() == ["plant/p"]
    assert sorted(state.sessions["client_id"]) == ["rtu", "scada"]
    assert state.stats["publish_received"] == 30
    summary = result.summary()
    assert summary["delivered"].item() == 30
    assert summary["link_bytes"].item() == links["bytes"].sum()
    for name in ("messages.csv", "messages.parquet"):
        result.save(tmp_path / name)
    back = pd.read_parquet(tmp_path / "messages.parquet")
    assert back["message_id"].tolist() == result.messages["message_id"].tolist()
    result.save(tmp_path / "connections.csv", "connections")
    result.save(tmp_path / "run.json")
    document = json.loads((tmp_path / "run.json").read_text())
    assert document["seed"] == 1 and document["summary"][0]["delivered"] == 30
    with pytest.raises(ConfigError, match=r"\.csv, \.parquet or \.json"):
        result.save(tmp_path / "x.xlsx")


def test_links_at_different_prices_are_costed_each_at_its_own() -> None:
    net = Scenario("fleet", duration_s=600, drain_s=60)
    net.link("a", "hub", "vsat-1999", name="a", outage=None, loss_rate=0.0)
    net.link("b", "hub", "cellular-2g", name="b", outage=None, loss_rate=0.0)
    net.broker("broker", site="hub")
    net.client("ra", site="a")
    net.client("rb", site="b")
    net.client("scada", site="hub", subscribe="#")
    net.periodic("ra", "a/x", every_s=60)
    net.periodic("rb", "b/x", every_s=60)
    result = net.run(seed=1)
    links = result.links
    assert result.summary()["cost_usd"].item() == pytest.approx(links["cost_usd"].sum())
    for name, spec in (("a", "vsat-1999"), ("b", "cellular-2g")):
        from mqttsim.sim.presets import get_preset

        rows = links[links.link == name]
        assert rows["cost_usd"].sum() == pytest.approx(
            rows["bytes"].sum() / MB * get_preset(spec).price_per_mb_usd
        )


def test_the_same_seed_gives_the_same_result_and_another_seed_another() -> None:
    net = station()
    net.link("far", "hub", "iridium", name="far")
    net.client("sat", site="far")
    net.poisson("sat", "plant/sat", rate_per_s=0.2)
    first, again, other = net.run(seed=5), net.run(seed=5), net.run(seed=6)
    pd.testing.assert_frame_equal(first.messages, again.messages)
    pd.testing.assert_frame_equal(first.links, again.links)
    assert not first.messages.equals(other.messages)


# -- variants -----------------------------------------------------------------------------------


def test_with_values_changes_a_copy_by_dotted_keys() -> None:
    net = station()
    net.periodic("rtu", "plant/p", every_s=10)
    changed = net.with_values(
        {
            "qos": 2,
            "link.delay_s": 0.5,
            "client.rtu.profile": "paho-2",
            "client.keep_alive_s": 30,
            "broker.profile": "mosquitto-2",
            "traffic.every_s": 20.0,
        }
    )
    assert net.qos == 1 and changed.qos == 2
    assert changed.links[0].spec.delay_s == 0.5 and net.links[0].spec.delay_s == 0.28
    assert [c.profile for c in changed.clients] == ["paho-2", "mqttsim"]
    assert {c.keep_alive_s for c in changed.clients} == {30}
    assert changed.brokers[0].profile == "mosquitto-2"
    assert len(changed.run(seed=1).messages) == 15
    for key, value, match in (
        ("link.loss", 0.1, "has no|unexpected keyword|loss"),
        ("client.nobody.keep_alive_s", 1, "no client named 'nobody'"),
        ("colour", "red", "unknown key"),
        ("link.delay_s", -1.0, "delay_s"),
        ("client.max_inflight", 0, "max_inflight"),
    ):
        with pytest.raises(ConfigError, match=match):
            net.with_values({key: value})


# -- the pipeline is a scenario among others -----------------------------------------------------


def test_the_pipeline_as_a_generic_scenario_matches_run_pipeline() -> None:
    config = PipelineConfig(stations=3, hours=1, qos=1, seed=11, loss_rate=0.02)
    ours = run_pipeline(config)
    generic = pipeline_scenario(config).run()
    m = generic.messages
    station_rows = m[m.publisher != "scada-host"].reset_index(drop=True)
    assert (station_rows["subscriber"] == "scada-host").all()
    mine = ours.messages.rename(columns={"station": "publisher"})
    for column in ("message_id", "topic", "kind", "qos", "sent_s", "deliveries", "payload_bytes"):
        assert station_rows[column].astype(str).tolist() == mine[column].astype(str).tolist()
    assert station_rows["latency_s"].fillna(-1).tolist() == mine["latency_s"].fillna(-1).tolist()
    assert generic.totals.bytes == ours.totals.bytes
    pd.testing.assert_frame_equal(generic.extra["commands"], ours.commands)
    assert generic.brokers["broker"].stats == ours.broker.stats


def test_a_run_writes_a_pcap_that_wireshark_reads(tmp_path: Path) -> None:
    import shutil
    import subprocess

    from mqttsim.sim.pcap import write_pcap

    records: list[Any] = []
    net = station()
    net.periodic("rtu", "plant/p", every_s=60)
    net.run(seed=1, qos=2, observer=records.append)
    path = tmp_path / "run.pcap"
    write_pcap(path, records)
    assert path.stat().st_size > 24 * len(records)  # a header per frame and the frames
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed (.ci/run installs it)")
    out = subprocess.run(
        [tshark, "-r", str(path), "-Y", "mqtt.msgtype == 3", "-T", "fields", "-e", "mqtt.topic"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert out == ["plant/p"] * 5  # the five readings' PUBLISHes, station to broker
