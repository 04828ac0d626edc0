"""security: cleartext CONNECT, a measured TLS handshake and its cost, passwords and ACLs live."""

from __future__ import annotations

import asyncio

import pytest

from mqttsim.aio.background import BackgroundBroker
from mqttsim.protocol import ConfigError
from mqttsim.sim.metrics import MB
from mqttsim.widgets import inspect_packet
from mqttsim.widgets.security import (
    BROKER_NAME,
    LESSON_ACL,
    Attempt,
    _measured,
    acl_table,
    connect_bytes,
    hex_dump,
    lesson_acl,
    lesson_certificates,
    lesson_password_file,
    lesson_passwords,
    password_file_table,
    record_overhead,
    tls_capture,
    tls_cost_table,
    tls_flights,
)

pytest.importorskip("cryptography")


def test_the_password_of_a_connect_is_in_clear_in_its_bytes() -> None:
    data = connect_bytes(username="st-01", password="pump-7731", version=4)
    assert data.endswith(b"\x00\x09pump-7731")  # a length and the bytes (§3.1.3.5)
    fields = inspect_packet(data)
    assert fields["value"].iloc[-1] == "b'pump-7731'"
    dump = hex_dump(data)
    assert dump.splitlines()[0].startswith("0000  10 ")
    assert "pump" in dump and repr(dump) == str(dump)


def test_hex_dump_counts_what_it_leaves_out() -> None:
    dump = hex_dump(bytes(40), width=8, limit=16)
    assert dump.splitlines()[-1] == "... 24 more bytes"
    assert len(dump.splitlines()) == 3


def test_a_bad_mqtt_version_is_refused() -> None:
    with pytest.raises(ConfigError, match="version"):
        connect_bytes(version=3)


def test_tls_hides_the_password_but_not_the_broker_name() -> None:
    data = connect_bytes()
    sealed = tls_capture(data, "1.3")
    assert b"pump-7731" not in sealed
    assert BROKER_NAME.encode() in sealed  # SNI travels in the clear ClientHello
    with pytest.raises(ConfigError):
        tls_capture(b"")


def test_tls12_lets_the_client_send_after_two_broker_flights_and_tls13_after_one() -> None:
    old = tls_flights("1.2")
    assert list(old["from"]) == ["station", "broker", "station", "broker"]
    assert old["records"].iloc[0] == "ClientHello"
    assert "Certificate" in old["records"].iloc[1]
    assert list(old["CONNECT may follow"]) == ["", "", "", "yes"]
    new = tls_flights("1.3")
    assert list(new["CONNECT may follow"]) == ["", "yes", "", ""]
    assert "encrypted" in new["records"].iloc[1]  # the certificate is encrypted in 1.3
    again = tls_flights("1.3", resumed=True)
    assert again["bytes"].iloc[1] < new["bytes"].iloc[1]  # no certificate on resumption
    with pytest.raises(ConfigError, match="1.2"):
        tls_flights("1.1")  # type: ignore[arg-type]


def test_handshake_sizes_do_not_depend_on_the_keys() -> None:
    first = {v: list(tls_flights(v)["bytes"]) for v in ("1.2", "1.3")}
    lesson_certificates.cache_clear()
    _measured.cache_clear()
    second = {v: list(tls_flights(v)["bytes"]) for v in ("1.2", "1.3")}
    assert first == second


def test_record_overhead_is_measured() -> None:
    assert record_overhead("1.3", 100) == 22  # 5 header + 1 content type + 16 tag (RFC 8446)
    assert 16 < record_overhead("1.2", 100) <= 40
    with pytest.raises(ConfigError):
        record_overhead("1.3", 0)


def test_the_cost_table_adds_round_trips_seconds_and_dollars() -> None:
    table = tls_cost_table("vsat-1999", records_per_day=1000, payload_bytes=100)
    trips = table["round trips before CONNECT"]
    assert list(trips) == [1, 3, 2, 2]
    seconds = table["seconds before CONNECT"]
    assert seconds.iloc[0] < seconds.loc["TCP + TLS 1.3"] < seconds.loc["TCP + TLS 1.2"]
    row = table.loc["TCP + TLS 1.3"]
    assert row["US$ per day of records"] == round(22 * 1000 / MB * 50.0, 2)
    resumed = table.loc["TCP + TLS 1.3, resumed"]
    assert resumed["handshake bytes down"] < row["handshake bytes down"]
    flights = tls_flights("1.3")
    down = flights.loc[flights["from"] == "broker", "bytes"]
    # Each broker flight fits one segment of at most 1448 bytes (the MSS with the
    # timestamps option), which adds 52 of headers (20 IPv4 + 20 TCP + 12, RFC 7323).
    assert (down <= 1448).all()
    assert row["handshake bytes down"] == sum(down) + 52 * len(down)


def test_the_password_file_keeps_salted_hashes_only() -> None:
    passwords = lesson_password_file()
    text = passwords.format()
    for user, secret in lesson_passwords().items():
        assert secret not in text
        assert passwords.verify(user, secret.encode())
    table = password_file_table(passwords)
    assert list(table["iterations"]) == [101, 101, 101]
    assert table.loc["st-01", "line starts"] == "st-01:$7$101$…"


def test_an_attempt_must_make_sense() -> None:
    with pytest.raises(ConfigError, match="action"):
        Attempt(user="st-01", action="delete", topic="x")
    with pytest.raises(ConfigError, match="topic"):
        Attempt(user="st-01", action="publish")


def test_the_acl_lets_st01_write_only_its_own_topics() -> None:
    assert "pattern write pipeline/%u/#" in LESSON_ACL
    broker = BackgroundBroker(authenticator=lesson_password_file(), authorizer=lesson_acl())
    broker.start()
    try:
        attempts = [
            Attempt(user="st-01", action="publish", topic="pipeline/st-01/pressure"),
            Attempt(user="st-01", action="publish", topic="pipeline/st-02/pressure"),
            Attempt(user="st-01", action="publish", topic="pipeline/st-02/pressure", version=4),
            Attempt(user="st-01", action="subscribe", topic="pipeline/#"),
            Attempt(user="st-01", action="subscribe", topic="pipeline/#", version=4),
            Attempt(user="st-01", action="subscribe", topic="pipeline/st-01/cmd/#"),
            Attempt(user="st-01", action="connect", password="guess"),
            Attempt(user="st-01", action="connect", password="guess", version=4),
        ]
        table = asyncio.run(acl_table("127.0.0.1", broker.port, attempts))
    finally:
        broker.stop()
    assert list(table["broker answers"]) == [
        "PUBACK 0x00 success",
        "PUBACK 0x87 not authorized",
        "PUBACK (no code in 3.1.1)",
        "SUBACK 0x87 not authorized",
        "SUBACK 0x80 failure",
        "SUBACK 0x01 granted qos 1",
        "CONNACK 0x86 bad user name or password",
        "CONNACK return code 4",
    ]
    assert list(table["SCADA host got it"][:3]) == ["yes", "no", "no"]
    logs = list(table["broker's log"])
    assert logs[0] == ""
    assert logs[2] == "denied publish by client 'st-01' on 'pipeline/st-02/pressure'"  # 3.1.1 too
