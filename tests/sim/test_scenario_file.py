"""TOML scenario files: the examples run, count and {i} expand, --set reaches every
group, and every mistake is one line naming the file, the table and the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from mqttsim.protocol.errors import ConfigError
from mqttsim.sim import PipelineConfig, pipeline_scenario
from mqttsim.sim.presets import DATASETS_DIR
from mqttsim.sim.profiles import broker_profile, client_profile
from mqttsim.sim.scenario import ClientNode, Scenario
from mqttsim.sim.scenario_file import load_scenario, parse_set
from mqttsim.sim.traffic import Bursts, ByException, Periodic, Process, Replay

EXAMPLES_DIR = DATASETS_DIR / "scenarios"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.toml"))

SMALL = """\
[scenario]
name = "small"
duration_s = 120
drain_s = 30

[[link]]
between = ["st", "hub"]
preset = "geo-vsat"

[[broker]]
name = "b"
site = "hub"

[[client]]
name = "rtu"
site = "st"

[[client]]
name = "sc"
site = "hub"
subscribe = ["p/#"]

[[traffic]]
client = "rtu"
kind = "periodic"
topic = "p/x"
every_s = 10
"""


def write(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def one_line_error(path: Path | str, values: Any = ()) -> str:
    with pytest.raises(ConfigError) as caught:
        load_scenario(path, values=values)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


# --- the examples ---------------------------------------------------------------------------------


def test_the_four_examples_are_there() -> None:
    names = {path.stem for path in EXAMPLES}
    assert {"pipeline", "geo-station", "two-hop", "mixed-fleet"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_loads_and_runs_short(path: Path) -> None:
    scenario = load_scenario(path, values={"scenario.duration_s": 300})
    assert scenario.duration_s == 300
    result = scenario.run()
    summary = result.summary()
    assert summary["messages"].sum() > 0
    assert summary["delivered"].sum() > 0
    assert (result.links["bytes"] > 0).all()  # every link carried something


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_says_what_it_models_and_where_its_figures_come_from(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    header = text[: text.index("[scenario]")]
    assert all(line.startswith("#") or not line.strip() for line in header.splitlines())
    assert "What it models" in header and "Where the figures come from" in header
    assert "datasets/links.json" in header and "mqttsim/sim/profiles.py" in header


def _effective(node: ClientNode) -> dict[str, Any]:
    """What the world builds for a client, whichever way its settings were spelt."""
    profile = client_profile(node.profile).with_overrides(**dict(node.settings))
    fields = {f.name: getattr(node, f.name) for f in dataclasses.fields(node)}
    del fields["settings"], fields["tcp"], fields["profile"]
    return {
        **fields,
        "tcp": node.tcp or profile.tcp_config(),
        # TCP_NODELAY acts only through the TCP settings, compared above.
        "profile": dataclasses.replace(profile, name="", description="", tcp_nodelay=False),
    }


def test_the_pipeline_file_is_pipeline_scenario_of_the_default_config() -> None:
    from_file = load_scenario(EXAMPLES_DIR / "pipeline.toml")
    built = pipeline_scenario(PipelineConfig())
    for attr in ("name", "duration_s", "drain_s", "seed", "qos", "mqtt_version"):
        assert getattr(from_file, attr) == getattr(built, attr), attr
    assert from_file.links == built.links
    assert [n.name for n in from_file.clients] == [n.name for n in built.clients]
    assert [_effective(n) for n in from_file.clients] == [_effective(n) for n in built.clients]
    ((file_broker,), (broker,)) = from_file.brokers, built.brokers
    profile = broker_profile(file_broker.profile).with_overrides(**dict(file_broker.settings))
    assert (file_broker.name, file_broker.site, file_broker.port) == (
        broker.name,
        broker.site,
        broker.port,
    )
    assert profile.config == broker_profile(broker.profile).config
    assert (file_broker.tcp or profile.tcp_config()) == broker.tcp
    processes = [t for t in from_file.traffic if isinstance(t, Process)]
    assert [(t.client, t.function, dict(t.options)) for t in processes] == [
        (t.client, f"{t.function.__module__}:{t.function.__name__}", dict(t.options))
        for t in built.traffic
        if isinstance(t, Process) and callable(t.function)
    ]
    assert len(from_file.traffic) == len(built.traffic) == 24


def test_two_hop_messages_cross_both_links() -> None:
    scenario = load_scenario(EXAMPLES_DIR / "two-hop.toml", values=["scenario.duration_s=600"])
    result = scenario.run(seed=1, qos=1)
    links = result.links.set_index(["link", "direction"])["bytes"]
    assert links[("field-link", "up")] > 0 and links[("office-link", "down")] > 0
    delivered = result.messages.dropna(subset=["delivered_s"])
    assert len(delivered) > 0
    # Iridium's 300 ms one way, then GEO's 300 ms: no message arrives in less.
    assert delivered["latency_s"].min() > 0.6


def test_mixed_fleet_has_four_presets_paho_clients_and_a_mosquitto_broker() -> None:
    scenario = load_scenario(EXAMPLES_DIR / "mixed-fleet.toml")
    assert {link.spec.name for link in scenario.links} == {
        "vsat-1999",
        "iridium",
        "bgan",
        "cellular-2g",
    }
    assert {client.profile for client in scenario.clients} == {"paho-2"}
    assert [broker.profile for broker in scenario.brokers] == ["mosquitto-2"]
    kinds = {type(t) for t in scenario.traffic}
    assert kinds == {Periodic, ByException, Bursts, Replay}
    (replay,) = [t for t in scenario.traffic if isinstance(t, Replay)]
    assert len(replay.rows) > 10  # the trace beside the file, found relative to it


# --- count and {i} --------------------------------------------------------------------------------

COUNTED = """\
[scenario]
duration_s = 120

[[link]]
count = 3
name = "st-{i:02}"
between = ["st-{i:02}", "hub"]
preset = "bgan"

[[broker]]
name = "b"
site = "hub"

[[client]]
count = 3
name = "st-{i:02}"
site = "st-{i:02}"
will = { topic = "p/st-{i:02}/status", payload = "lost {{{i}}}" }

[[client]]
name = "sc"
site = "hub"
subscribe = [{ filter = "p/#", qos = 1 }]

[[traffic]]
count = 3
client = "st-{i:02}"
kind = "periodic"
topic = "p/st-{i:02}/level"
every_s = 10
offset_s = 0.5
"""


def test_count_repeats_a_table_with_i_replaced(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, COUNTED))
    assert [link.name for link in scenario.links] == ["st-01", "st-02", "st-03"]
    assert [(link.a, link.b) for link in scenario.links][2] == ("st-03", "hub")
    stations = [c for c in scenario.clients if c.name != "sc"]
    assert [c.site for c in stations] == ["st-01", "st-02", "st-03"]
    assert stations[1].will is not None and stations[1].will.topic == "p/st-02/status"
    assert stations[1].will.payload == b"lost {2}"  # {{ and }} are braces
    assert [t.client for t in scenario.traffic] == ["st-01", "st-02", "st-03"]
    assert isinstance(scenario.traffic[2], Periodic)
    assert scenario.traffic[2].topic == "p/st-03/level"
    result = scenario.run()
    assert set(result.messages["publisher"]) == {"st-01", "st-02", "st-03"}


def test_a_bad_template_or_count_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, COUNTED.replace('topic = "p/st-{i:02}/level"', 'topic = "p/{j}"'))
    message = one_line_error(path)
    assert "[[traffic]]" in message and 'topic = "p/{j}"' in message and "{i}" in message
    path = write(tmp_path, COUNTED.replace("count = 3\nname", "count = 0\nname", 1))
    assert "count = 0: expected a whole number from 1 to" in one_line_error(path)


# --- values beside the file -----------------------------------------------------------------------


def test_set_reaches_every_group(tmp_path: Path) -> None:
    path = write(tmp_path, COUNTED)
    scenario = load_scenario(
        path,
        values=[
            "scenario.qos=2",
            "scenario.duration_s=60",
            "link.loss=0.05",
            "link.st-02.delay_ms=300",
            "client.keep_alive_s=30",
            'client.st-03.profile="paho-2"',
            "broker.profile=mosquitto-2",
            "traffic.every_s=5",
        ],
    )
    assert (scenario.qos, scenario.duration_s) == (2, 60)
    assert [round(link.spec.loss_rate, 6) for link in scenario.links] == [0.05] * 3
    assert [link.spec.delay_s for link in scenario.links] == [0.4, 0.3, 0.4]  # bgan's is 400 ms
    assert {c.keep_alive_s for c in scenario.clients} == {30}
    assert [c.profile for c in scenario.clients] == ["mqttsim", "mqttsim", "paho-2", "mqttsim"]
    assert scenario.brokers[0].profile == "mosquitto-2"
    assert {t.every_s for t in scenario.traffic if isinstance(t, Periodic)} == {5.0}
    # A will's QoS defaults to the scenario's, as set.
    assert {c.will.qos for c in scenario.clients if c.will is not None} == {2}


def test_set_reaches_a_traffic_by_its_name(tmp_path: Path) -> None:
    named = SMALL.replace('kind = "periodic"', 'name = "pressure"\nkind = "periodic"')
    scenario = load_scenario(write(tmp_path, named), values=["traffic.pressure.every_s=7"])
    (traffic,) = scenario.traffic
    assert isinstance(traffic, Periodic) and traffic.every_s == 7
    message = one_line_error(write(tmp_path, named), ["traffic.pressure.every_s=0"])
    assert '[[traffic]] "pressure": every_s must be > 0' in message


def test_set_for_a_group_comes_before_count_and_may_use_i(tmp_path: Path) -> None:
    path = write(tmp_path, COUNTED)
    scenario = load_scenario(path, values={"traffic.topic": "q/{i}"})
    assert [t.topic for t in scenario.traffic if isinstance(t, Periodic)] == ["q/1", "q/2", "q/3"]
    message = one_line_error(path, {"link.count": 2})  # two links: st-03 has lost its own
    assert '[[client]] "st-03": no [[link]] joins site "st-03"' in message


def test_set_duration_replaces_the_files_hours(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL.replace("duration_s = 120", "hours = 2"))
    assert load_scenario(path).duration_s == 7200
    assert load_scenario(path, values=["scenario.duration_s=60"]).duration_s == 60
    both = write(tmp_path, SMALL.replace("duration_s = 120", "duration_s = 120\nhours = 2"))
    assert "give duration_s or hours, not both" in one_line_error(both)


def test_a_link_without_a_preset_gives_its_figures(tmp_path: Path) -> None:
    lan = SMALL.replace(
        'preset = "geo-vsat"',
        "delay_ms = 0.5\nbandwidth_kbps = 100000\nloss = 0.01\nbilled = false",
    )
    scenario = load_scenario(write(tmp_path, lan))
    (link,) = scenario.links
    assert (link.spec.delay_s, link.spec.uplink_bps, link.spec.downlink_bps) == (
        0.0005,
        1e8,
        1e8,
    )
    assert link.spec.loss.model == "bernoulli" and not link.billed
    assert link.spec.sources["delay_s"].startswith("[scenario file]")
    missing = write(tmp_path, SMALL.replace('preset = "geo-vsat"', "delay_ms = 5"))
    assert "bandwidth_kbps" in one_line_error(missing)


def test_link_figures_in_the_units_people_quote(tmp_path: Path) -> None:
    scenario = load_scenario(
        write(tmp_path, SMALL),
        values=[
            "link.delay_ms=250",
            "link.uplink_kbps=64",
            "link.downlink_kbps=false",
            'link.loss_model={model = "gilbert-elliott-time", mean_good_s = 600, mean_bad_s = 20}',
            "link.outages=[[30, 10]]",
            "link.random_outages=false",
            "link.queue_limit_bytes=4096",
        ],
    )
    spec = scenario.links[0].spec
    assert (spec.delay_s, spec.uplink_bps, spec.downlink_bps) == (0.25, 64000.0, None)
    assert spec.loss.model == "gilbert-elliott-time" and spec.outage is None
    assert spec.outages == ((30.0, 10.0),) and spec.queue_limit_bytes == 4096
    assert "[scenario file]" in spec.sources["downlink_bps"]


def test_profile_and_tcp_settings(tmp_path: Path) -> None:
    scenario = load_scenario(
        write(tmp_path, SMALL),
        values=[
            "client.rtu.connect_timeout_s=false",
            "client.rtu.qos2_handover=pubrel",
            "client.rtu.tcp={mss_bytes = 536}",
            "client.rtu.tcp_nodelay=false",
            "broker.qos2_handover=pubrel",
            "broker.max_queued_messages=10",
        ],
    )
    rtu = scenario.clients[0]
    profile = client_profile(rtu.profile).with_overrides(**dict(rtu.settings))
    assert profile.connect_timeout_s is None and profile.qos2_handover.value == "pubrel"
    assert rtu.tcp is not None and rtu.tcp.mss_bytes == 536 and rtu.tcp.nagle  # Nagle on
    broker = scenario.brokers[0]
    config = broker_profile(broker.profile).with_overrides(**dict(broker.settings)).config
    assert config.qos2_handover.value == "pubrel" and config.max_queued_messages == 10


def test_the_same_experiment_in_python_and_in_toml_is_the_same_scenario() -> None:
    built = Scenario("geo-station", duration_s=3600, drain_s=60, seed=1, qos=1)
    built.link("station", "hub", "geo-vsat", name="station-hub")
    built.broker("broker", site="hub")
    built.client("rtu", site="station")
    built.client("scada", site="hub", subscribe=[("plant/#", 2)])
    built.periodic("rtu", "plant/pressure", every_s=10, payload_bytes=24)
    built.periodic("rtu", "plant/temperature", every_s=60, offset_s=5, payload_bytes=24)
    assert load_scenario(EXAMPLES_DIR / "geo-station.toml") == built


# --- one-line errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (('"geo-vsat"', '"geo-vsat"\ndelay = 3'), ['[[link]] "st-hub"', 'unknown key "delay"']),
        (("every_s = 10", 'every_s = "10"'), ["[[traffic]] #1", 'every_s = "10"', "number"]),
        (("geo-vsat", "carrier-pigeon"), ["preset", "carrier-pigeon", "vsat-1999"]),
        (('site = "st"', 'site = "st"\nprofile = "paho-3"'), ['"rtu"', "paho-3", "paho-2"]),
        (('site = "hub"\n', 'site = "hub"\nprofile = "x"\n'), ["[[broker]]", "mosquitto-2"]),
        (('"periodic"', '"weekly"'), ["kind", "weekly", "by-exception"]),
        (("[[traffic]]", "[[traffics]]"), ['unknown table or key "traffics"', "[[traffic]]?"]),
        (("drain_s = 30", "drain_s = 30\nseeds = 3"), ["[scenario]", 'unknown key "seeds"']),
        (('subscribe = ["p/#"]', "subscribe = 3"), ['"sc"', "subscribe = 3", "filter"]),
        (("every_s = 10", "every_s = 10\nburst_size = 3"), ['unknown key "burst_size"']),
        (("drain_s = 30", "drain_s = [30"), ["scenario.toml", "line"]),
        (('site = "st"', 'site = "mars"'), ['"rtu"', 'site "mars"', "no [[link]]"]),
    ],
)
def test_a_mistake_is_one_line_naming_the_file_table_and_key(
    tmp_path: Path, change: tuple[str, str], fragments: list[str]
) -> None:
    old, new = change
    assert old in SMALL
    message = one_line_error(write(tmp_path, SMALL.replace(old, new, 1)))
    assert message.startswith(str(tmp_path / "scenario.toml") + ": "), message
    for fragment in fragments:
        assert fragment in message, message


def test_a_trace_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    replay = SMALL.replace('kind = "periodic"\ntopic = "p/x"\nevery_s = 10', 'kind = "replay"')
    message = one_line_error(write(tmp_path, replay + 'trace = "gone.csv"\n'))
    assert "[[traffic]] #1" in message and 'trace = "gone.csv"' in message
    assert str(tmp_path / "gone.csv") in message  # relative to the file, not the cwd


def test_a_replay_trace_is_read_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("time_s,topic,payload_bytes\n5,p/a,10\n50,p/b,20\n")
    replay = SMALL.replace('kind = "periodic"\ntopic = "p/x"\nevery_s = 10', 'kind = "replay"')
    scenario = load_scenario(write(tmp_path, replay + 'trace = "t.csv"\n'))
    assert scenario.run().messages["topic"].astype(str).tolist() == ["p/a", "p/b"]


@pytest.mark.parametrize(
    ("values", "fragments"),
    [
        (["link.loss=2"], ['[[link]] "st-hub"', "loss = 2", "[0, 1]", "--set link.loss=2"]),
        (["scenario.qos=3"], ["[scenario]", "qos = 3", "0, 1 or 2", "--set scenario.qos=3"]),
        (["links.loss=0.1"], ["--set links.loss=0.1", 'unknown group "links"']),
        (["link.nowhere.delay_ms=3"], ['no [[link]] named "nowhere"', "st-hub"]),
        (["traffic.rate_per_s=1"], ['no [[traffic]] has a key "rate_per_s"']),
        (["client.keep_alive_s=-1"], ['"rtu"', "keep_alive_s", "0..65535"]),
        (["scenario"], ["--set 'scenario'", "KEY=VALUE"]),
        ({"client.rtu.count": 2}, ["count repeats a table"]),
    ],
)
def test_a_bad_value_beside_the_file_is_one_line(
    tmp_path: Path, values: Any, fragments: list[str]
) -> None:
    message = one_line_error(write(tmp_path, SMALL), values)
    for fragment in fragments:
        assert fragment in message, message


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    assert "scenario file not found" in one_line_error(tmp_path / "none.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("scenario.qos=2", ("scenario.qos", 2)),
        ("link.loss=0.05", ("link.loss", 0.05)),
        ("link.preset=bgan", ("link.preset", "bgan")),
        ('client.rtu.profile="paho-2"', ("client.rtu.profile", "paho-2")),
        ("scenario.mqtt_version=3.1.1", ("scenario.mqtt_version", "3.1.1")),
        ("link.random_outages=false", ("link.random_outages", False)),
        ("link.outages=[[10, 5]]", ("link.outages", [[10, 5]])),
        ("traffic.options={a = 1}", ("traffic.options", {"a": 1})),
        ("traffic.topic=a=b", ("traffic.topic", "a=b")),
        (" link.st-01.delay_ms = 300 ", ("link.st-01.delay_ms", 300)),
    ],
)
def test_parse_set_reads_toml_values_and_falls_back_to_strings(
    text: str, expected: tuple[str, Any]
) -> None:
    assert parse_set(text) == expected


@pytest.mark.parametrize("text", ["novalue", "=3", "link..loss=1", ".x=1"])
def test_parse_set_refuses_what_is_not_key_equals_value(text: str) -> None:
    with pytest.raises(ConfigError, match="--set"):
        parse_set(text)
