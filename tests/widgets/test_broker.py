"""lesson_broker(): mqttsim's own broker by default, the one MQTTSIM_BROKER names otherwise."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mqttsim.aio.background import running_broker
from mqttsim.aio.passwd import PasswordFile
from mqttsim.aio.server import Listener
from mqttsim.protocol import ConfigError, Will
from mqttsim.widgets.broker import (
    ENV_VAR,
    BrokerAddress,
    BrokerURLError,
    LessonBroker,
    lesson_broker,
    parse_broker_url,
)

from ..aio.mosquitto import MOSQUITTO, start_mosquitto

paho = pytest.importorskip("paho.mqtt.client")

TIMEOUT_S = 10.0


@pytest.fixture(autouse=True)
def no_broker_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the shell running the tests says, each test starts from no MQTTSIM_BROKER."""
    monkeypatch.delenv(ENV_VAR, raising=False)


# --- the URL ---------------------------------------------------------------------------------


A_FILE = str(Path(__file__).resolve())  # any file that exists stands for a CA file here


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker.example", BrokerAddress(scheme="mqtt", host="broker.example", port=1883)),
        ("mqtt://10.0.0.5:1884", BrokerAddress(scheme="mqtt", host="10.0.0.5", port=1884)),
        ("mqtt://10.0.0.5:1884/", BrokerAddress(scheme="mqtt", host="10.0.0.5", port=1884)),
        ("MQTTS://Broker.Example", BrokerAddress(scheme="mqtts", host="broker.example", port=8883)),
        (
            "mqtts://alice:s%40cret%3Ax@broker.example:8883",
            BrokerAddress(
                scheme="mqtts",
                host="broker.example",
                port=8883,
                username="alice",
                password="s@cret:x",
            ),
        ),
        (
            "mqtt://scada@10.0.0.5",
            BrokerAddress(scheme="mqtt", host="10.0.0.5", port=1883, username="scada"),
        ),
        (
            "ws://10.0.0.5:9001",
            BrokerAddress(scheme="ws", host="10.0.0.5", port=9001, websocket_path="/mqtt"),
        ),
        (
            "wss://broker.example/ws",
            BrokerAddress(scheme="wss", host="broker.example", port=443, websocket_path="/ws"),
        ),
        (
            f"mqtts://broker.example?ca={A_FILE}",
            BrokerAddress(scheme="mqtts", host="broker.example", port=8883, ca_file=A_FILE),
        ),
        ("mqtt://[::1]:1884", BrokerAddress(scheme="mqtt", host="::1", port=1884)),
        ("  mqtt://10.0.0.5  ", BrokerAddress(scheme="mqtt", host="10.0.0.5", port=1883)),
    ],
)
def test_accepted_urls_give_host_port_tls_and_credentials(
    url: str, expected: BrokerAddress
) -> None:
    assert parse_broker_url(url) == expected


def test_tls_and_transport_follow_the_scheme() -> None:
    assert [parse_broker_url(f"{s}://h").tls for s in ("mqtt", "mqtts", "ws", "wss")] == [
        False,
        True,
        False,
        True,
    ]
    assert parse_broker_url("ws://h").transport == "websockets"
    assert parse_broker_url("mqtts://h").transport == "tcp"


def test_printed_url_hides_the_password() -> None:
    address = parse_broker_url("mqtts://alice:secret@broker.example")
    assert address.url == "mqtts://alice:***@broker.example:8883"
    assert "secret" not in str(LessonBroker(address))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("broker.example:1883", "not a URL"),
        ("http://broker.example", "unknown scheme 'http'"),
        ("tcp://broker.example", "unknown scheme 'tcp'"),
        ("mqtt://", "no host name"),
        ("mqtt://:1883", "no host name"),
        ("mqtt://broker.example:99999", "port"),
        ("mqtt://broker.example:abc", "port"),
        ("mqtt://broker.example:0", "port"),
        ("mqtt://broker.example/mqtt", "takes no path"),
        ("mqtt://user@", "no host name"),
        ("mqtt://:pw@h.example:1883", "needs a user name"),
        ("mqtt://h.example?cafile=x", "unknown parameter 'cafile'"),
        ("mqtt://h.example?ca=x.pem", "needs TLS"),
        (
            "mqtts://h.example?ca=/nonexistent/ca.pem",
            "?ca= file /nonexistent/ca.pem does not exist",
        ),
        ("mqtt://h.example#x", "no '#' part"),
    ],
)
def test_a_bad_url_is_a_one_line_value_error_naming_the_accepted_forms(
    url: str, problem: str
) -> None:
    with pytest.raises(BrokerURLError) as caught:
        parse_broker_url(url)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ConfigError)
    assert "\n" not in message
    assert problem in message
    assert message.startswith(f"{ENV_VAR}=")
    for form in ("mqtt://", "mqtts://", "ws://", "wss://"):
        assert form in message


def test_an_error_never_shows_the_password() -> None:
    with pytest.raises(BrokerURLError) as caught:
        parse_broker_url("mqtts://alice:TopSecret@broker.example:70000")
    assert "TopSecret" not in str(caught.value)
    assert "alice:***@" in str(caught.value)


def test_a_bad_environment_variable_fails_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_VAR, "http://broker.example")
    before = threading.active_count()
    with pytest.raises(ValueError, match="unknown scheme"):
        lesson_broker()
    assert threading.active_count() == before


# --- which broker ------------------------------------------------------------------------


def test_the_environment_variable_names_an_external_broker_and_nothing_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_VAR, "mqtts://alice:secret@broker.example:8884")
    broker = lesson_broker()
    before = threading.active_count()
    with broker:
        assert broker.external and broker.running and broker.background is None
        assert (broker.host, broker.port, broker.tls) == ("broker.example", 8884, True)
        assert (broker.username, broker.password) == ("alice", "secret")
        assert broker.websocket_path is None
        assert threading.active_count() == before
    assert broker.running  # stop() leaves an external broker alone
    assert str(broker) == f"the broker at mqtts://alice:***@broker.example:8884 (from {ENV_VAR})"


def test_an_explicit_url_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "mqtt://from-env.example")
    assert lesson_broker("mqtt://given.example").host == "given.example"


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_environment_variable_means_the_built_in_broker(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(ENV_VAR, value)
    assert not lesson_broker().external


def test_the_default_broker_starts_on_loopback_stops_and_frees_its_port() -> None:
    broker = lesson_broker()
    assert not broker.external and not broker.running
    with pytest.raises(RuntimeError, match="start"):
        _ = broker.port
    broker.start()
    try:
        port = broker.port
        assert broker.host == "127.0.0.1" and port not in (0, 1883)
        assert not broker.tls and broker.username is None
        assert broker.background is not None and broker.background.port == port
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S):
            pass  # something listens there
        with pytest.raises(RuntimeError, match="already running"):
            broker.start()
    finally:
        broker.stop()
    assert not broker.running and broker.background is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S).close()
    with socket.socket() as probe:
        # SO_REUSEADDR, as servers set it: the bind fails only while a socket
        # still listens there, not for connections left in TIME_WAIT.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen()
    broker.stop()  # a second stop is harmless
    assert repr(broker) == "<LessonBroker: mqttsim's own broker on 127.0.0.1, stopped>"


def test_broker_options_reach_the_built_in_broker() -> None:
    from mqttsim.protocol import BrokerConfig

    with lesson_broker(config=BrokerConfig(max_queued_messages=7)) as broker:
        assert broker.background is not None
        config = broker.background.call(lambda: broker.background.server.broker.config)
        assert config.max_queued_messages == 7


def test_paho_client_refuses_an_unknown_version() -> None:
    with lesson_broker() as broker, pytest.raises(ConfigError, match="version"):
        broker.paho_client("x", version=3)


# --- lesson-style exchanges ------------------------------------------------------------------


def paho_round_trip(broker: LessonBroker, version: int = 5) -> list[tuple[str, bytes]]:
    """Lesson 01's pattern: a subscriber, a publisher, wait on an Event (never sleep)."""
    got: list[tuple[str, bytes]] = []
    arrived, subscribed = threading.Event(), threading.Event()
    scada = broker.paho_client("scada", version=version)
    scada.on_message = lambda c, u, m: (got.append((m.topic, m.payload)), arrived.set())
    scada.on_subscribe = lambda *args: subscribed.set()
    scada.on_connect = lambda client, *args: client.subscribe("pipeline/+/pressure", qos=1)
    scada.connect(broker.host, broker.port)
    scada.loop_start()
    station = broker.paho_client("st-01", version=version)
    try:
        assert subscribed.wait(TIMEOUT_S), "no SUBACK"
        station.connect(broker.host, broker.port)
        station.loop_start()
        station.publish("pipeline/st-01/pressure", "42.1", qos=1).wait_for_publish(TIMEOUT_S)
        assert arrived.wait(TIMEOUT_S), "no message"
    finally:
        for client in (station, scada):
            client.disconnect()
            client.loop_stop()
    return got


async def async_round_trip(broker: LessonBroker) -> tuple[str, bytes]:
    async with broker.async_client("scada-2") as control_room:
        await control_room.subscribe("pipeline/+/pressure", qos=1)
        async with broker.async_client("st-02") as station:
            await station.publish("pipeline/st-02/pressure", "39.6", qos=1)
        message = await asyncio.wait_for(anext(control_room.messages()), TIMEOUT_S)
    return message.topic, message.payload


def live_client_story(broker: LessonBroker) -> None:
    """Retained status, a will on vanishing, the inbox marker: what lessons 04 and 05 use."""
    will = Will(topic="pipeline/st-07/status", payload=b"offline", qos=1, retain=True)
    station = broker.client("st-07", will=will).connect()
    try:
        station.publish("pipeline/st-07/status", "online", qos=1, retain=True)
        for bar in ("41.8", "42.1", "42.0"):
            station.publish("pipeline/st-07/pressure", bar, qos=1, retain=True)
        latest = broker.retained("pipeline/st-07/#")
        assert sorted(zip(latest.topic, latest.payload, latest.retain, strict=True)) == [
            ("pipeline/st-07/pressure", "42.0", True),
            ("pipeline/st-07/status", "online", True),
        ]
        scada = broker.client("scada").connect()
        scada.subscribe("pipeline/+/status", qos=1)
        assert list(scada.inbox().payload) == ["online"]
        assert scada.inbox().empty  # taken out: a second look finds nothing new
        station.vanish()
        will_row = scada.wait_for("pipeline/st-07/status")
        assert (list(will_row.payload), list(will_row.retain)) == (["offline"], [False])
        assert list(broker.retained("pipeline/+/status").payload) == ["offline"]
        for topic in ("pipeline/st-07/status", "pipeline/st-07/pressure"):
            scada.publish(topic, "", qos=1, retain=True)  # leave no retained message behind
        assert broker.retained("pipeline/st-07/#").empty
        scada.disconnect()
    finally:
        station.disconnect()


@pytest.mark.parametrize("version", [4, 5])
def test_built_in_broker_serves_paho_like_lesson_01(version: int) -> None:
    with lesson_broker() as broker:
        assert paho_round_trip(broker, version) == [("pipeline/st-01/pressure", b"42.1")]


def test_built_in_broker_serves_the_async_client() -> None:
    with lesson_broker() as broker:
        got = asyncio.run(asyncio.wait_for(async_round_trip(broker), 20))
    assert got == ("pipeline/st-02/pressure", b"39.6")


def test_live_client_on_the_built_in_broker() -> None:
    with lesson_broker() as broker:
        live_client_story(broker)


def test_live_client_keeps_a_persistent_session_over_3_1_1() -> None:
    with lesson_broker() as broker:
        scada = broker.client("scada", version=4, clean_start=False).connect()
        scada.subscribe("pipeline/+/alarm", qos=1)
        scada.disconnect()
        station = broker.client("st-07").connect()
        station.publish("pipeline/st-07/alarm", "pressure low", qos=1)
        station.publish("pipeline/st-07/alarm", "pressure lower", qos=0)
        station.disconnect()
        back = broker.client("scada", version=4, clean_start=False).connect()
        assert back.session_present is True
        assert list(back.inbox().payload) == ["pressure low"]  # QoS 0 was not kept
        back.disconnect()


def test_a_3_1_1_live_client_refuses_a_session_expiry() -> None:
    with lesson_broker() as broker, pytest.raises(ConfigError, match="3.1.1"):
        broker.client("x", version=4, session_expiry_s=60)


# --- MQTTSIM_BROKER pointing at other brokers --------------------------------------------


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    trustme = pytest.importorskip("trustme")
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    server.private_key_pem.write_to_path(str(files["key"]))
    for i, pem in enumerate(server.cert_chain_pems):
        pem.write_to_path(str(files["cert"]), append=i > 0)
    return files


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def mosquitto(
    tmp_path_factory: pytest.TempPathFactory, tls_material: dict[str, Path]
) -> Iterator[dict[str, int]]:
    """Debian's mosquitto on two free loopback ports: plain TCP and TLS, both
    asking for user alice's password (mosquitto_passwd format, made by mqttsim)."""
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (.ci/run installs it)")
    folder = tmp_path_factory.mktemp("mosquitto")
    passwords = PasswordFile()
    passwords.set_password("alice", "wonder land@1")
    passwords.save(folder / "passwd")
    ports = {"tcp": _free_port(), "tls": _free_port()}
    user = "user root\n" if os.geteuid() == 0 else ""  # root: mosquitto would drop to 'mosquitto'
    (folder / "mosquitto.conf").write_text(
        f"{user}persistence false\nallow_anonymous false\npassword_file {folder / 'passwd'}\n"
        f"listener {ports['tcp']} 127.0.0.1\n"
        f"listener {ports['tls']} 127.0.0.1\ncafile {tls_material['ca']}\n"
        f"certfile {tls_material['cert']}\nkeyfile {tls_material['key']}\n"
    )
    process = start_mosquitto(folder / "mosquitto.conf")
    yield ports
    process.terminate()
    process.wait(timeout=10)


@pytest.mark.interop
def test_lessons_reach_mosquitto_through_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch, mosquitto: dict[str, int]
) -> None:
    monkeypatch.setenv(ENV_VAR, f"mqtt://alice:wonder%20land%401@127.0.0.1:{mosquitto['tcp']}")
    broker = lesson_broker().start()
    try:
        assert broker.external and broker.background is None
        assert paho_round_trip(broker) == [("pipeline/st-01/pressure", b"42.1")]
        assert asyncio.run(asyncio.wait_for(async_round_trip(broker), 20)) == (
            "pipeline/st-02/pressure",
            b"39.6",
        )
        live_client_story(broker)
    finally:
        broker.stop()


@pytest.mark.interop
def test_lessons_reach_mosquitto_over_tls_with_a_password(
    monkeypatch: pytest.MonkeyPatch, mosquitto: dict[str, int], tls_material: dict[str, Path]
) -> None:
    url = f"mqtts://alice:wonder%20land%401@127.0.0.1:{mosquitto['tls']}?ca={tls_material['ca']}"
    monkeypatch.setenv(ENV_VAR, url)
    with lesson_broker() as broker:
        assert broker.tls
        assert paho_round_trip(broker, 4) == [("pipeline/st-01/pressure", b"42.1")]
        assert asyncio.run(asyncio.wait_for(async_round_trip(broker), 20))[1] == b"39.6"


@pytest.mark.interop
def test_a_wrong_password_is_refused_by_mosquitto(
    monkeypatch: pytest.MonkeyPatch, mosquitto: dict[str, int]
) -> None:
    monkeypatch.setenv(ENV_VAR, f"mqtt://alice:wrong@127.0.0.1:{mosquitto['tcp']}")
    with lesson_broker() as broker, pytest.raises(ConnectionRefusedError, match="st-07"):
        broker.client("st-07").connect()


def test_lessons_reach_a_websocket_broker_through_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listeners = [Listener(kind="ws", host="127.0.0.1", port=0)]
    with running_broker(listeners=listeners) as server:
        monkeypatch.setenv(ENV_VAR, f"ws://127.0.0.1:{server.ports['ws']}/mqtt")
        with lesson_broker() as broker:
            assert broker.websocket_path == "/mqtt"
            assert paho_round_trip(broker) == [("pipeline/st-01/pressure", b"42.1")]
            assert asyncio.run(asyncio.wait_for(async_round_trip(broker), 20))[1] == b"39.6"
            live_client_story(broker)
