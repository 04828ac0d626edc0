"""mosquitto_pub and mosquitto_sub (Eclipse Mosquitto's command-line clients,
written in C on libmosquitto) against our broker on real sockets.

Skipped when the tools are not installed. mosquitto_sub's output is
block-buffered on a pipe, so a test knows it has subscribed from the broker's
side: the :class:`Probe` authorizer sees the SUBSCRIBE. Every child process
runs with a timeout and is killed if it outlives its test.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mqttsim.aio.background import BackgroundBroker, running_broker
from mqttsim.aio.passwd import PasswordFile

from .conftest import HOST, PahoClient, Probe, TlsBroker

MOSQUITTO_PUB = shutil.which("mosquitto_pub")
MOSQUITTO_SUB = shutil.which("mosquitto_sub")

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        MOSQUITTO_PUB is None or MOSQUITTO_SUB is None,
        reason="mosquitto_pub/mosquitto_sub are not installed",
    ),
]

Paho = Callable[..., PahoClient]
Sub = Callable[..., "subprocess.Popen[str]"]
VERSIONS = [pytest.param("mqttv311", id="v311"), pytest.param("mqttv5", id="v5")]
RUN_TIMEOUT_S = 15
FORMAT = ["-F", "%t|%q|%r|%p"]  # topic, QoS, retain flag, payload


def pub(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    """Run mosquitto_pub against 127.0.0.1:port; returns when it exits."""
    assert MOSQUITTO_PUB is not None
    return subprocess.run(
        [MOSQUITTO_PUB, "-h", HOST, "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


@pytest.fixture
def sub() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """``sub(port, *args)`` starts mosquitto_sub; any still running at the
    end of the test is killed."""
    started: list[subprocess.Popen[str]] = []

    def start(port: int, *args: str) -> subprocess.Popen[str]:
        assert MOSQUITTO_SUB is not None
        proc = subprocess.Popen(
            [MOSQUITTO_SUB, "-h", HOST, "-p", str(port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=RUN_TIMEOUT_S)


def finish(proc: subprocess.Popen[str]) -> list[str]:
    """Wait for a mosquitto_sub started with ``-C n -W 10`` to exit; its lines."""
    out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, f"mosquitto_sub exited {proc.returncode}: {err.strip()}"
    return out.splitlines()


def ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"exited {result.returncode}: {result.stderr.strip()}"


# -- publish and subscribe ------------------------------------------------------------------


@pytest.mark.parametrize("version", [pytest.param("mqttv31", id="v31"), *VERSIONS])
def test_qos_2_round_trip(broker: BackgroundBroker, probe: Probe, sub: Sub, version: str) -> None:
    reader = sub(
        broker.port,
        "-V",
        version,
        "-i",
        "reader",
        "-t",
        "pipe/+/flow",
        "-q",
        "2",
        "-C",
        "1",
        "-W",
        "10",
        *FORMAT,
    )
    probe.wait_subscribed("reader", "pipe/+/flow")

    ok(pub(broker.port, "-V", version, "-t", "pipe/st-02/flow", "-q", "2", "-m", "31.5 m3/h"))

    assert finish(reader) == ["pipe/st-02/flow|2|0|31.5 m3/h"]


@pytest.mark.parametrize("version", VERSIONS)
def test_retained_message_reaches_a_later_subscriber_until_cleared(
    broker: BackgroundBroker, probe: Probe, sub: Sub, version: str
) -> None:
    ok(pub(broker.port, "-V", version, "-t", "valve/3", "-q", "1", "-r", "-m", "open"))

    late = sub(
        broker.port, "-V", version, "-t", "valve/3", "-q", "1", "-C", "1", "-W", "10", *FORMAT
    )
    assert finish(late) == ["valve/3|1|1|open"]

    ok(pub(broker.port, "-V", version, "-t", "valve/3", "-q", "1", "-r", "-n"))  # clear
    # --retained-only prints retained messages and exits at the first live one.
    later = sub(
        broker.port,
        "-V",
        version,
        "-i",
        "later",
        "-t",
        "valve/3",
        "--retained-only",
        "-W",
        "10",
        *FORMAT,
    )
    probe.wait_subscribed("later", "valve/3")
    ok(pub(broker.port, "-V", version, "-t", "valve/3", "-m", "live"))
    assert finish(later) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_will_of_a_killed_mosquitto_sub_is_published(
    broker: BackgroundBroker, probe: Probe, sub: Sub, paho: Paho, version: str
) -> None:
    watcher = paho(broker.port, version=5)
    watcher.subscribe("station/+/status", qos=1)
    doomed = sub(
        broker.port,
        "-V",
        version,
        "-i",
        "st-09",
        "-t",
        "cmd/st-09",
        "--will-topic",
        "station/st-09/status",
        "--will-payload",
        "lost",
        "--will-qos",
        "1",
    )
    probe.wait_subscribed("st-09", "cmd/st-09")

    doomed.send_signal(signal.SIGKILL)  # no DISCONNECT: the kernel closes the socket
    doomed.communicate(timeout=RUN_TIMEOUT_S)

    will = watcher.get()
    assert (will.topic, will.payload, will.qos) == ("station/st-09/status", b"lost", 1)


# -- passwords ------------------------------------------------------------------------------


@pytest.fixture
def password_broker(tmp_path: Path, probe: Probe) -> Iterator[BackgroundBroker]:
    """A broker that checks user names and passwords against a file written
    by our PasswordFile in mosquitto_passwd's format; anonymous access is off."""
    passwords = PasswordFile()
    passwords.set_password("operator", "pump-42")
    path = tmp_path / "passwd"
    passwords.save(path)
    with running_broker(authenticator=PasswordFile.load(path), authorizer=probe) as b:
        yield b


@pytest.mark.parametrize("version", VERSIONS)
def test_right_password_is_accepted(
    password_broker: BackgroundBroker, probe: Probe, sub: Sub, version: str
) -> None:
    port = password_broker.port
    reader = sub(
        port,
        "-V",
        version,
        "-u",
        "operator",
        "-P",
        "pump-42",
        "-i",
        "reader",
        "-t",
        "secure",
        "-q",
        "1",
        "-C",
        "1",
        "-W",
        "10",
        *FORMAT,
    )
    probe.wait_subscribed("reader", "secure")

    ok(
        pub(
            port,
            "-V",
            version,
            "-u",
            "operator",
            "-P",
            "pump-42",
            "-t",
            "secure",
            "-q",
            "1",
            "-m",
            "in",
        )
    )

    assert finish(reader) == ["secure|1|0|in"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        pytest.param(
            ["-u", "operator", "-P", "pump-43"], "bad user name or password", id="wrong-password"
        ),
        pytest.param(
            ["-u", "intruder", "-P", "pump-42"], "bad user name or password", id="unknown-user"
        ),
        pytest.param([], "not authori", id="anonymous"),
    ],
)
def test_bad_credentials_are_refused(
    password_broker: BackgroundBroker, version: str, credentials: list[str], expected: str
) -> None:
    result = pub(password_broker.port, "-V", version, *credentials, "-t", "secure", "-m", "x")
    assert result.returncode != 0
    # mosquitto prints e.g. "Connection error: Connection Refused: not authorised."
    assert expected in (result.stderr + result.stdout).lower()


# -- TLS ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_tls_round_trip_verifying_the_server_certificate(
    tls_broker: TlsBroker, probe: Probe, sub: Sub, version: str
) -> None:
    tls = ["-V", version, "--cafile", str(tls_broker.ca_pem)]
    reader = sub(
        tls_broker.tls_port,
        *tls,
        "-i",
        "reader",
        "-t",
        "tls/t",
        "-q",
        "1",
        "-C",
        "1",
        "-W",
        "10",
        *FORMAT,
    )
    probe.wait_subscribed("reader", "tls/t")

    ok(pub(tls_broker.tls_port, *tls, "-t", "tls/t", "-q", "1", "-m", "sealed"))

    assert finish(reader) == ["tls/t|1|0|sealed"]


def test_tls_server_signed_by_another_ca_is_refused(tls_broker: TlsBroker, tmp_path: Path) -> None:
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    result = pub(tls_broker.tls_port, "--cafile", str(other), "-t", "tls/t", "-m", "x")
    assert result.returncode != 0


def test_tls_listener_does_not_speak_plain_mqtt(tls_broker: TlsBroker) -> None:
    result = pub(tls_broker.tls_port, "-t", "tls/t", "-m", "x")
    assert result.returncode != 0


def test_client_certificate_is_accepted_when_required(
    mtls_broker: TlsBroker, probe: Probe, sub: Sub
) -> None:
    files = mtls_broker.files
    tls = [
        "--cafile",
        str(files.ca_pem),
        "--cert",
        str(files.client_cert),
        "--key",
        str(files.client_key),
    ]
    reader = sub(
        mtls_broker.tls_port,
        *tls,
        "-i",
        "reader",
        "-t",
        "mtls",
        "-q",
        "1",
        "-C",
        "1",
        "-W",
        "10",
        *FORMAT,
    )
    probe.wait_subscribed("reader", "mtls")

    ok(pub(mtls_broker.tls_port, *tls, "-t", "mtls", "-q", "1", "-m", "mutual"))

    assert finish(reader) == ["mtls|1|0|mutual"]


def test_missing_client_certificate_is_refused_when_required(mtls_broker: TlsBroker) -> None:
    result = pub(
        mtls_broker.tls_port,
        "--cafile",
        str(mtls_broker.ca_pem),
        "-t",
        "mtls",
        "-q",
        "1",
        "-m",
        "x",
    )
    assert result.returncode != 0


def test_client_certificate_from_another_ca_is_refused(
    mtls_broker: TlsBroker, tmp_path: Path
) -> None:
    import trustme

    stranger = trustme.CA().issue_cert("stranger@mqttsim.test")
    cert, key = tmp_path / "stranger.pem", tmp_path / "stranger.key"
    stranger.cert_chain_pems[0].write_to_path(str(cert))
    stranger.private_key_pem.write_to_path(str(key))
    result = pub(
        mtls_broker.tls_port,
        "--cafile",
        str(mtls_broker.ca_pem),
        "--cert",
        str(cert),
        "--key",
        str(key),
        "-t",
        "mtls",
        "-q",
        "1",
        "-m",
        "x",
    )
    assert result.returncode != 0
