"""``mqttsim broker`` settings, from the command line and from a ``--config``
file: every value typed and range-checked before the broker starts, a wrong
one a single line naming where it came from, and each reaching the server.

The broker is never started here: ``BrokerServer`` is replaced by a recorder
that stops the run where the real server would start listening.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import mqttsim.aio.server
from mqttsim.cli import main


class Started(Exception):
    """Raised where the real server would start listening."""

    def __init__(self, listeners: list[Any], kwargs: dict[str, Any]) -> None:
        super().__init__("started")
        self.listeners = listeners
        self.kwargs = kwargs


class RecordingServer:
    def __init__(self, listeners: list[Any], **kwargs: Any) -> None:
        self.listeners = listeners
        self.kwargs = kwargs

    async def start(self) -> None:
        raise Started(self.listeners, self.kwargs)


@pytest.fixture(autouse=True)
def recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(mqttsim.aio.server, "BrokerServer", RecordingServer)
    yield


def started(*argv: str) -> Started:
    """Run ``mqttsim broker ARGV`` up to the point where it would listen."""
    with pytest.raises(Started) as caught:
        main(["broker", *argv])
    return caught.value


@pytest.fixture
def refused(capsys: pytest.CaptureFixture[str]) -> Callable[..., str]:
    """Run ``mqttsim broker ARGV``, expect status 2 and one line; return it."""

    def run(*argv: str) -> str:
        capsys.readouterr()
        try:
            status = main(["broker", *argv])
        except Started:
            pytest.fail(f"the broker started with {argv}")
        err = capsys.readouterr().err
        assert status == 2, err
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("mqttsim"), err
        return lines[0]

    return run


@pytest.fixture
def config(tmp_path: Path) -> Callable[[str], str]:
    """Write a TOML file with these lines; return its path."""

    def write(text: str) -> str:
        path = tmp_path / "broker.toml"
        path.write_text(text)
        return str(path)

    return write


# -- a wrong value in the file --------------------------------------------------------------


@pytest.mark.parametrize(
    "line, allowed",
    [
        ('allow-anonymous = "false"', "true or false"),
        ("allow-anonymous = 0", "true or false"),
        ('max-packet-size = "big"', "a whole number from 64 to 268435460"),
        ("max-packet-size = 1.5", "a whole number"),
        ("port = 99999", "a whole number from 0 to 65535"),
        ("tls-port = -1", "a whole number from 0 to 65535"),
        ("port = true", "a whole number from 0 to 65535"),
        ('log-level = "loud"', "one of debug, info, warning, error"),
        ("max-inflight = 0", "a whole number from 1 to 65535"),
        ("max-queued-messages = 70000", "a whole number from 0 to 60000"),
        ("max-topic-levels = 0", "a whole number from 1 to"),
        ('host = ""', "a non-empty string"),
        ("password-file = 7", "a non-empty string"),
        ('ws-origins = "https://ok.example"', "a list of origins"),
        ('ws-origins = ["https://ok.example/path"]', "a list of origins"),
        ("max-pending-connections = 0", "a whole number from 1 to"),
        ('allow-dollar-publish = "yes"', "true or false"),
        ("max-connections = {a = 1}", "a whole number from 1 to"),
        ('qos2-handover = "later"', "one of publish, pubrel"),
        ("tcp-nodelay = 0", "true or false"),
    ],
)
def test_a_wrong_value_in_the_file_names_file_key_value_and_what_is_allowed(
    refused: Callable[..., str], config: Callable[[str], str], line: str, allowed: str
) -> None:
    path = config(line + "\n" if line.startswith("port") else f"port = 0\n{line}\n")
    message = refused("--config", path)
    key, _, given = line.partition(" = ")
    assert f"{path}: {key} = " in message
    assert allowed in message
    if not given.startswith("{"):
        assert given in message


def test_the_string_false_does_not_open_the_broker_beyond_loopback(
    refused: Callable[..., str], config: Callable[[str], str]
) -> None:
    path = config('host = "0.0.0.0"\nport = 0\nallow-anonymous = "false"\n')
    assert "allow-anonymous" in refused("--config", path)


def test_an_unknown_key_names_the_keys_allowed(
    refused: Callable[..., str], config: Callable[[str], str]
) -> None:
    message = refused("--config", config("colour = 1\n"))
    assert "unknown setting 'colour'" in message and "max-pending-connections" in message


# -- a wrong value on the command line -------------------------------------------------------


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--port", "99999"], "--port: '99999': expected a whole number from 0 to 65535"),
        (["--tls-port", "65536"], "--tls-port: '65536': expected a whole number from 0 to"),
        (["--ws-port", "-1"], "--ws-port: '-1': expected a whole number from 0 to 65535"),
        (["--max-pending-connections", "0"], "--max-pending-connections: '0'"),
        (["--max-topic-levels", "x"], "--max-topic-levels: 'x'"),
        (["--max-outgoing-bytes", "0"], "--max-outgoing-bytes: '0'"),
        (["--max-outgoing-messages", "0"], "--max-outgoing-messages: '0'"),
        (["--ws-origin", "example.org"], "--ws-origin: 'example.org': expected an origin"),
        (["--ws-origin", "https://a.example"], "--ws-origin needs --ws-port"),
        (["--port", "1884", "--ws-port", "1884"], "--port and --ws-port are both 1884"),
        (["--qos2-handover", "PUBREL"], "--qos2-handover: 'PUBREL': expected one of publish"),
    ],
)
def test_a_wrong_flag_is_one_line_before_the_broker_starts(
    refused: Callable[..., str], argv: list[str], expected: str
) -> None:
    assert expected in refused(*argv)


# -- every setting reaches the broker --------------------------------------------------------


def test_new_settings_from_the_file_reach_the_server_and_the_core(
    config: Callable[[str], str],
) -> None:
    path = config(
        "port = 0\nws-port = 0\n"
        'ws-origins = ["https://scada.example", "http://localhost:8080"]\n'
        "max-pending-connections = 32\nmax-topic-levels = 16\n"
        "max-outgoing-bytes = 65536\nmax-outgoing-messages = 100\n"
        "allow-dollar-publish = true\n"
    )
    run = started("--config", path)
    assert run.kwargs["max_pending_connections"] == 32
    core = run.kwargs["config"]
    assert (core.max_topic_levels, core.max_outgoing_bytes, core.max_outgoing_messages) == (
        16,
        65536,
        100,
    )
    assert core.dollar_topics_writable is True
    [ws] = [listener for listener in run.listeners if listener.kind == "ws"]
    assert ws.allowed_origins == ("https://scada.example", "http://localhost:8080")


def test_qos2_handover_and_tcp_nodelay_reach_the_core_and_the_server(
    config: Callable[[str], str],
) -> None:
    """The two settings that let the broker run as mosquitto 2.x does."""
    from mqttsim.protocol.enums import QoS2Handover

    run = started("--config", config('port = 0\nqos2-handover = "pubrel"\ntcp-nodelay = false\n'))
    assert run.kwargs["config"].qos2_handover is QoS2Handover.ON_PUBREL
    assert run.kwargs["tcp_nodelay"] is False
    run = started("--port", "0", "--qos2-handover", "pubrel", "--no-tcp-nodelay")
    assert run.kwargs["config"].qos2_handover is QoS2Handover.ON_PUBREL
    assert run.kwargs["tcp_nodelay"] is False
    run = started("--port", "0")
    assert run.kwargs["config"].qos2_handover is QoS2Handover.ON_PUBLISH
    assert run.kwargs["tcp_nodelay"] is True


def test_defaults_reach_the_server_and_the_core() -> None:
    run = started("--port", "0")
    assert run.kwargs["max_pending_connections"] == 256
    assert run.kwargs["max_connections"] == 1000
    core = run.kwargs["config"]
    assert core.max_topic_levels == 200
    assert core.max_outgoing_bytes == 8 * 1024 * 1024
    assert core.max_outgoing_messages == 10_000
    assert core.dollar_topics_writable is False


def test_the_command_line_wins_over_the_file(config: Callable[[str], str]) -> None:
    path = config(
        'port = 0\nws-port = 0\nws-origins = ["https://file.example"]\n'
        "max-topic-levels = 16\nallow-dollar-publish = true\n"
    )
    run = started(
        "--config",
        path,
        "--max-topic-levels",
        "8",
        "--no-allow-dollar-publish",
        "--ws-origin",
        "https://a.example",
        "--ws-origin",
        "https://b.example",
    )
    assert run.kwargs["config"].max_topic_levels == 8
    assert run.kwargs["config"].dollar_topics_writable is False
    [ws] = [listener for listener in run.listeners if listener.kind == "ws"]
    assert ws.allowed_origins == ("https://a.example", "https://b.example")


def test_help_names_every_setting_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["broker", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for flag, default in [
        ("--max-pending-connections", "256"),
        ("--max-topic-levels", "200"),
        ("--max-outgoing-bytes", "8388608"),
        ("--max-outgoing-messages", "10000"),
        ("--max-connections", "1000"),
        ("--max-packet-size", "1048576"),
        ("--port", "1883"),
        ("--log-level", "info"),
        ("--qos2-handover", "publish"),
    ]:
        assert flag in out
        assert f"default: {default}" in out.split(flag, 2)[-1].split(" --")[0], flag
    for flag in ("--allow-dollar-publish", "--ws-origin", "--allow-anonymous", "--no-tcp-nodelay"):
        assert flag in out
