"""``mqttsim broker`` as a process: flags, one-line errors, and persistence
across a SIGKILL."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

paho = pytest.importorskip("paho.mqtt.client")
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties as PahoProperties  # noqa: E402

LISTENING = re.compile(r"listening for MQTT over TCP on [\d.]+:(\d+)")


def mqttsim(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mqttsim", *args], capture_output=True, text=True, timeout=timeout
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--port", "nope"], "'nope': expected a whole number from 0 to 65535"),
        (["--port", "99999"], "'99999': expected a whole number from 0 to 65535"),
        (["--max-inflight", "0"], "expected a whole number from 1 to 65535"),
        (["--log-level", "loud"], "expected one of debug, info, warning, error"),
        (["--host", "0.0.0.0"], "refusing to listen on 0.0.0.0"),
        (["--password-file", "/no/such/file"], "no such file"),
        (["--acl-file", "/no/such/file"], "no such file"),
        (["--tls-port", "0"], "needs --certfile and --keyfile"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_flags_get_one_line_and_a_nonzero_exit(args: list[str], expected: str) -> None:
    assert expected in one_line_error(mqttsim("broker", *args))


def test_unreadable_certificate_is_one_line(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("not a certificate")
    line = one_line_error(
        mqttsim(
            "broker",
            "--port",
            "0",
            "--tls-port",
            "0",
            "--certfile",
            str(cert),
            "--keyfile",
            str(cert),
        )
    )
    assert "TLS certificate" in line


def test_bad_password_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "passwd"
    bad.write_text("alice:$7$not-a-hash\n")
    line = one_line_error(mqttsim("broker", "--port", "0", "--password-file", str(bad)))
    assert str(bad) in line


def test_unknown_config_key_is_one_line(tmp_path: Path) -> None:
    conf = tmp_path / "broker.toml"
    conf.write_text('port = 0\ncolour = "blue"\n')
    assert "unknown setting 'colour'" in one_line_error(mqttsim("broker", "--config", str(conf)))


def test_config_value_of_the_wrong_type_is_one_line_and_status_2(tmp_path: Path) -> None:
    conf = tmp_path / "broker.toml"
    conf.write_text('port = 0\nallow-anonymous = "false"\n')
    result = mqttsim("broker", "--config", str(conf))
    assert result.returncode == 2
    line = one_line_error(result)
    assert f'{conf}: allow-anonymous = "false": expected true or false' in line


def test_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(mqttsim("broker", "--port", str(port)))
    assert "address already in use" in line


def test_help_explains_every_flag() -> None:
    out = mqttsim("broker", "--help").stdout
    for flag in (
        "--host",
        "--port",
        "--tls-port",
        "--certfile",
        "--keyfile",
        "--cafile",
        "--require-certificate",
        "--ws-port",
        "--password-file",
        "--acl-file",
        "--persist",
        "--config",
        "--log-level",
        "--max-connections",
        "--max-queued-messages",
        "--max-packet-size",
        "--max-inflight",
        "--allow-anonymous",
        "--max-pending-connections",
        "--ws-origin",
        "--max-topic-levels",
        "--max-outgoing-bytes",
        "--max-outgoing-messages",
        "--allow-dollar-publish",
        "--qos2-handover",
        "--no-tcp-nodelay",
    ):
        assert flag in out


# -- persistence across SIGKILL ----------------------------------------------------------


class BrokerProcess:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mqttsim", "broker", "--port", "0", *args],
            stderr=subprocess.PIPE,
            text=True,
        )
        self.port = self._wait_for_port()

    def _wait_for_port(self, timeout_s: float = 20) -> int:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout_s
        for _ in range(100):
            if time.monotonic() > deadline:
                break
            line = self.proc.stderr.readline()
            if not line:
                break
            found = LISTENING.search(line)
            if found:
                return int(found.group(1))
        self.proc.kill()
        raise AssertionError("broker did not start")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=10)


@pytest.fixture
def broker_process(tmp_path: Path) -> Iterator[list[BrokerProcess]]:
    started: list[BrokerProcess] = []
    yield started
    for b in started:
        if b.proc.poll() is None:
            b.proc.kill()
            b.proc.wait(timeout=10)


def paho_client(
    client_id: str,
    port: int,
    inbox: queue.Queue[tuple[str, bytes, int]] | None,
) -> paho.Client:
    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
    )
    connected: queue.Queue[int] = queue.Queue()
    client.on_connect = lambda c, u, f, rc, p: connected.put(int(rc.value))
    if inbox is not None:
        client.on_message = lambda c, u, m: inbox.put((m.topic, m.payload, m.qos))
    props = PahoProperties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    assert connected.get(timeout=10) == 0
    return client


def test_acknowledged_messages_survive_a_sigkill_of_the_broker(
    tmp_path: Path, broker_process: list[BrokerProcess]
) -> None:
    db = str(tmp_path / "broker.db")
    first = BrokerProcess("--persist", db)
    broker_process.append(first)
    inbox: queue.Queue[tuple[str, bytes, int]] = queue.Queue()
    scada = paho_client("scada", first.port, inbox)
    done: queue.Queue[int] = queue.Queue()
    scada.on_subscribe = lambda c, u, mid, codes, p: done.put(mid)
    scada.subscribe("pipeline/#", qos=2)
    done.get(timeout=10)
    scada.disconnect()
    scada.loop_stop()

    station = paho_client("st-01", first.port, None)
    sent = []
    for n in range(10):
        for qos in (1, 2):
            payload = f"q{qos}-{n}".encode()
            info = station.publish(f"pipeline/st-01/q{qos}", payload, qos=qos)
            info.wait_for_publish(timeout=10)
            assert info.is_published()
            sent.append(payload)
    first.kill()  # no goodbye: the process is gone
    station.loop_stop()

    second = BrokerProcess("--persist", db)
    broker_process.append(second)
    scada = paho_client("scada", second.port, inbox)
    received: list[bytes] = []
    for _ in range(10 * len(sent)):  # bounded: duplicates of QoS 1 are allowed, endless ones not
        if len(set(received)) == len(sent):
            break
        received.append(inbox.get(timeout=10)[1])
    scada.disconnect()
    scada.loop_stop()
    assert sorted(set(received)) == sorted(sent)
    assert all(received.count(p) == 1 for p in sent if p.startswith(b"q2"))
    assert second.stop() == 0
