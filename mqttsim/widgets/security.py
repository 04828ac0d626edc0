"""Lesson 11's security: cleartext passwords, what TLS costs on a satellite link, ACLs.

* :func:`connect_bytes` and :func:`hex_dump`: a real CONNECT from the client
  core, with its password readable by anyone on the link;
* :func:`lesson_certificates`: a CA and a broker certificate made for the
  lesson (RSA-2048, fixed serial numbers and dates, so their sizes, and
  every byte count below, are the same on every run);
* :func:`tls_flights`, :func:`tls_capture`: a real TLS handshake between
  Python's ``ssl`` client and server, joined by memory buffers instead of a
  socket, flight by flight; and what a listener sees of a CONNECT sent
  through it;
* :func:`tls_cost_table`: those flights turned into round trips, seconds
  and dollars on a link preset;
* :func:`password_file_table`: what a ``mosquitto_passwd``-format file keeps
  (a salted hash, never the password);
* :data:`LESSON_ACL`, :func:`lesson_passwords` and :func:`acl_table`: a
  mosquitto-format ACL on a live broker, and what each attempt gets back.

``cryptography`` (installed with ``trustme``, in the test extra) makes the
certificates; it is imported only when they are needed.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
import math
import os
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import pandas as pd  # type: ignore[import-untyped,unused-ignore]

from mqttsim.aio.acl import AclFile
from mqttsim.aio.passwd import HashScheme, PasswordFile
from mqttsim.protocol import (
    ClientConnection,
    ConfigError,
    ConnectFailed,
    OperationFailed,
    ProtocolVersion,
    ReasonCode,
)
from mqttsim.protocol.enums import REASON_TO_CONNACK_V311, SUBACK_V311_FAILURE
from mqttsim.sim import TcpConfig
from mqttsim.sim.metrics import MB
from mqttsim.sim.presets import get_preset

from .wire import TCP_IP_HEADER_BYTES, lesson_version

__all__ = [
    "BROKER_NAME",
    "LESSON_ACL",
    "Attempt",
    "LessonCertificates",
    "acl_table",
    "connect_bytes",
    "hex_dump",
    "lesson_acl",
    "lesson_certificates",
    "lesson_password_file",
    "lesson_passwords",
    "password_file_table",
    "record_overhead",
    "tls_capture",
    "tls_contexts",
    "tls_cost_table",
    "tls_flights",
]

BROKER_NAME = "broker.pipeline.example"
"""The name in the lesson broker's certificate (``.example`` is reserved, RFC 2606)."""
TlsVersion = Literal["1.2", "1.3"]
_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_MSS = TcpConfig().mss_bytes
_MAX_FLIGHTS = 20  # a TLS handshake takes four; the bound keeps a bug from hanging a lesson


# -- cleartext ----------------------------------------------------------------------------


def connect_bytes(
    *,
    client_id: str = "st-01",
    username: str = "st-01",
    password: str = "pump-7731",
    version: int = 4,
    keep_alive_s: int = 120,
) -> bytes:
    """The CONNECT the client core sends first, as it goes on the wire.

    Args:
        client_id, username, password: as in CONNECT (§3.1.3).
        version: 4 (MQTT 3.1.1) or 5.
        keep_alive_s: the Keep Alive.
    """
    connection = ClientConnection(
        client_id=client_id,
        version=lesson_version(version),
        username=username,
        password=password.encode(),
        keep_alive_s=keep_alive_s,
    )
    connection.connect(now=0.0)
    return connection.data_to_send(now=0.0)


class HexDump(str):
    """A hex dump that shows as itself (no quotes) as a cell's last value."""

    def __repr__(self) -> str:
        return str(self)


def hex_dump(data: bytes, *, width: int = 16, limit: int = 512) -> HexDump:
    """Bytes as a packet sniffer shows them: offset, hex, and printable ASCII.

    Args:
        data: the bytes.
        width: bytes per line.
        limit: show at most this many bytes (the rest is counted).
    """
    lines = []
    for offset in range(0, min(len(data), limit), width):
        chunk = data[offset : offset + width]
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:04x}  {chunk.hex(' '):<{3 * width - 1}}  {text}")
    if len(data) > limit:
        lines.append(f"... {len(data) - limit} more bytes")
    return HexDump("\n".join(lines))


# -- certificates and the handshake ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LessonCertificates:
    """PEM text of the lesson's CA, the broker's certificate and its private key."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes = b""

    def __repr__(self) -> str:  # never print a key
        return "LessonCertificates(CA and broker certificate for " + BROKER_NAME + ")"


@functools.cache
def lesson_certificates() -> LessonCertificates:
    """A CA and a certificate for :data:`BROKER_NAME`, made once per process.

    RSA-2048 keys, SHA-256 signatures, fixed serial numbers and validity
    (1999 to 2099): the keys are fresh each time, but every size is fixed, so
    the byte counts of a handshake are too. For lessons and tests only.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    utc = datetime.UTC
    start, end = (
        datetime.datetime(1999, 1, 1, tzinfo=utc),
        datetime.datetime(2099, 1, 1, tzinfo=utc),
    )
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Trunk line 1"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Pipeline lesson CA"),
        ]
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, BROKER_NAME)])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1999)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2000)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(BROKER_NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return LessonCertificates(
        ca_pem=ca.public_bytes(pem),
        cert_pem=cert.public_bytes(pem),
        key_pem=key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def tls_contexts(version: TlsVersion = "1.3") -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A client and a server context pinned to one TLS version, with the lesson's certificates.

    The client trusts only the lesson's CA and checks the broker's name.
    """
    _check_version(version)
    certs = lesson_certificates()
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # load_cert_chain reads files only; the key never stays on disk.
    with tempfile.TemporaryDirectory() as folder:
        cert_file = os.path.join(folder, "broker.pem")
        key_file = os.path.join(folder, "broker.key")
        with open(cert_file, "wb") as handle:
            handle.write(certs.cert_pem)
        with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as handle:
            handle.write(certs.key_pem)
        server.load_cert_chain(cert_file, key_file)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cadata=certs.ca_pem.decode("ascii"))
    for context in (client, server):
        context.minimum_version = context.maximum_version = _VERSIONS[version]
    return client, server


_HANDSHAKE_NAMES = {
    1: "ClientHello",
    2: "ServerHello",
    4: "NewSessionTicket",
    8: "EncryptedExtensions",
    11: "Certificate",
    12: "ServerKeyExchange",
    13: "CertificateRequest",
    14: "ServerHelloDone",
    15: "CertificateVerify",
    16: "ClientKeyExchange",
    20: "Finished",
}


def _records(data: bytes, encrypted_handshake: bool) -> tuple[list[str], bool]:
    """Name the TLS records of one flight (RFC 8446 §5.1, RFC 5246 §6.2).

    Plaintext handshake records are named by their messages; records after a
    ChangeCipherSpec (TLS 1.2) and application-data records are encrypted,
    so only their count is known.
    """
    names: list[str] = []
    encrypted = 0
    pos = 0
    while pos + 5 <= len(data):
        kind, length = data[pos], int.from_bytes(data[pos + 3 : pos + 5], "big")
        body = data[pos + 5 : pos + 5 + length]
        if kind == 0x14:
            names.append("ChangeCipherSpec")
            encrypted_handshake = True
        elif kind == 0x16 and not encrypted_handshake:
            at = 0
            while at + 4 <= len(body):
                size = int.from_bytes(body[at + 1 : at + 4], "big")
                names.append(_HANDSHAKE_NAMES.get(body[at], f"type {body[at]}"))
                at += 4 + size
        elif kind in (0x16, 0x17):
            encrypted += 1
        else:
            names.append("Alert" if kind == 0x15 else f"record type {kind}")
        pos += 5 + length
    if encrypted:
        names.append(f"{encrypted} encrypted record{'s' * (encrypted > 1)}")
    return names, encrypted_handshake


@dataclass(frozen=True, slots=True)
class _Flight:
    sender: str  # "station" or "broker"
    data: bytes
    what: str
    client_done: bool  # the station may send its CONNECT once this flight has arrived


class _Handshake:
    """One TLS connection between the two contexts, run in memory buffers.

    ``run()`` moves the flights until both ends are done and quiet (a TLS 1.3
    broker's session tickets included); ``send()`` then wraps application
    data in a record. ``session`` resumes an earlier connection's session.
    """

    def __init__(
        self,
        contexts: tuple[ssl.SSLContext, ssl.SSLContext],
        session: ssl.SSLSession | None = None,
    ) -> None:
        client_ctx, server_ctx = contexts
        self._to_server, self._from_client = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._to_client, self._from_server = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.client = client_ctx.wrap_bio(
            self._to_client, self._from_client, server_hostname=BROKER_NAME, session=session
        )
        self.server = server_ctx.wrap_bio(self._to_server, self._from_server, server_side=True)
        self.flights: list[_Flight] = []

    def run(self, payload: bytes = b"") -> list[_Flight]:
        done = {"station": False, "broker": False}
        encrypted = {"station": False, "broker": False}
        for _ in range(_MAX_FLIGHTS):
            moved = False
            for sender, end, out, peer_in in (
                ("station", self.client, self._from_client, self._to_server),
                ("broker", self.server, self._from_server, self._to_client),
            ):
                try:
                    if done[sender]:
                        end.read(65536)  # what is left: TLS 1.3 session tickets, data
                    else:
                        end.do_handshake()
                        done[sender] = True
                        if sender == "station" and payload:
                            self.client.write(payload)
                except ssl.SSLWantReadError:
                    pass
                data = out.read()
                if data:
                    names, encrypted[sender] = _records(data, encrypted[sender])
                    self.flights.append(_Flight(sender, data, ", ".join(names), False))
                    peer_in.write(data)
                    moved = True
            if not moved and done["station"] and done["broker"]:
                return self._mark()
        raise RuntimeError("the TLS handshake did not finish")

    def _mark(self) -> list[_Flight]:
        """Mark the broker flight after which the station may send its CONNECT."""
        wait = 2 if self.client.version() == "TLSv1.2" and not self.client.session_reused else 1
        marked, seen = [], 0
        for flight in self.flights:
            seen += flight.sender == "broker"
            ready = flight.sender == "broker" and seen == wait
            marked.append(_Flight(flight.sender, flight.data, flight.what, ready))
        self.flights = marked
        return marked

    def send(self, payload: bytes) -> bytes:
        """The record(s) the station sends for ``payload`` after the handshake."""
        self.client.write(payload)
        return self._from_client.read()


@functools.cache
def _measured(version: TlsVersion) -> tuple[tuple[_Flight, ...], tuple[_Flight, ...]]:
    """A full handshake and a resumed one (with the first one's session), measured once."""
    contexts = tls_contexts(version)
    first = _Handshake(contexts)
    full = first.run()
    again = _Handshake(contexts, session=first.client.session).run()
    return tuple(full), tuple(again)


def tls_flights(version: TlsVersion = "1.3", *, resumed: bool = False) -> pd.DataFrame:
    """A real handshake, flight by flight: who sends, how many bytes, which records.

    Args:
        version: ``"1.2"`` or ``"1.3"``.
        resumed: a reconnect that resumes the first connection's session
            (with its session ticket), instead of a full handshake.

    Returns:
        One row per flight: from, bytes (TLS, without TCP/IP headers), records,
        and whether the station may send its CONNECT once it has arrived.
    """
    full, again = _measured(_check_version(version))
    rows = [
        {
            "from": f.sender,
            "bytes": len(f.data),
            "records": f.what,
            "CONNECT may follow": "yes" if f.client_done else "",
        }
        for f in (again if resumed else full)
    ]
    frame = pd.DataFrame(rows)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="flight")
    return frame


def _check_version(version: str) -> TlsVersion:
    if version not in _VERSIONS:
        raise ConfigError(f"version must be '1.2' or '1.3', not {version!r}")
    return version  # type: ignore[return-value]


def tls_capture(payload: bytes, version: TlsVersion = "1.3") -> bytes:
    """All the station sends over TLS (handshake, then ``payload``), as a listener records it."""
    if not payload:
        raise ConfigError("give the bytes to send through TLS, e.g. a CONNECT")
    handshake = _Handshake(tls_contexts(_check_version(version)))
    flights = handshake.run(payload)
    return b"".join(f.data for f in flights if f.sender == "station")


def record_overhead(version: TlsVersion = "1.3", payload_bytes: int = 120) -> int:
    """Bytes TLS adds to one write of ``payload_bytes`` (record header, nonce, tag), measured."""
    if not 1 <= payload_bytes <= 16384:
        raise ConfigError(f"payload_bytes must be in 1..16384, got {payload_bytes!r}")
    handshake = _Handshake(tls_contexts(_check_version(version)))
    handshake.run()
    return len(handshake.send(b"\0" * payload_bytes)) - payload_bytes


def _segments(size: int) -> int:
    return max(1, math.ceil(size / _MSS))


def _wire(size: int) -> int:
    """Bytes on the link for ``size`` bytes of TCP payload (headers per segment)."""
    return size + TCP_IP_HEADER_BYTES * _segments(size)


def tls_cost_table(
    link: str = "vsat-1999", *, records_per_day: int = 63_360, payload_bytes: int = 120
) -> pd.DataFrame:
    """What TLS costs a station on ``link``: round trips, seconds, bytes and money.

    The time is the time before the station may send CONNECT: each flight
    (the TCP handshake's SYN and SYN-ACK first) leaves when the one before
    it has arrived, and takes its serialisation time (TCP/IP headers
    included) plus the one-way delay. Bytes count every flight of the
    handshake, the session tickets a TLS 1.3 broker sends after it
    included, plus :data:`~mqttsim.widgets.wire.TCP_IP_HEADER_BYTES` of
    headers per segment of at most the default MSS (52 and 1448 bytes
    with the default TCP: 20 of IPv4, 20 of TCP and 12 of its timestamps
    option, RFC 7323); TCP's bare acknowledgements are left out.

    Args:
        link: a preset of ``datasets/links.json``.
        records_per_day: TLS records the link carries a day; the default is
            the 22 stations of lesson 09 writing once a minute each way (a
            report, and the broker's acknowledgements).
        payload_bytes: the size of a typical write, for the record overhead.

    Returns:
        One row each for plain TCP, TLS 1.2, TLS 1.3, and a TLS 1.3
        reconnect that resumes its session.
    """
    preset = get_preset(link)
    price = preset.price_per_mb_usd

    def leg(size: int, upward: bool) -> float:
        return preset.serialisation_s(_wire(size), "up" if upward else "down") + preset.delay_s

    syn = leg(0, True) + leg(0, False)  # SYN and SYN-ACK carry no data: headers only
    rows = [_cost_row("TCP, no TLS", 1, syn, 0, 0, price, 0, records_per_day)]
    cases: tuple[tuple[TlsVersion, bool], ...] = (("1.2", False), ("1.3", False), ("1.3", True))
    for version, resumed in cases:
        full, again = _measured(version)
        flights = again if resumed else full
        ready = next(i for i, f in enumerate(flights) if f.client_done)
        waited = sum(leg(len(f.data), f.sender == "station") for f in flights[: ready + 1])
        trips = 1 + sum(f.sender == "broker" for f in flights[: ready + 1])
        name = f"TCP + TLS {version}" + (", resumed" if resumed else "")
        rows.append(
            _cost_row(
                name,
                trips,
                syn + waited,
                sum(_wire(len(f.data)) for f in flights if f.sender == "station"),
                sum(_wire(len(f.data)) for f in flights if f.sender == "broker"),
                price,
                record_overhead(version, payload_bytes),
                records_per_day,
            )
        )
    return pd.DataFrame(rows).set_index("setup")


def _cost_row(
    name: str,
    trips: int,
    seconds: float,
    up: int,
    down: int,
    price: float,
    extra: int,
    records: int,
) -> dict[str, object]:
    return {
        "setup": name,
        "round trips before CONNECT": trips,
        "seconds before CONNECT": round(seconds, 2),
        "handshake bytes up": up,
        "handshake bytes down": down,
        "US$ per connection": round((up + down) / MB * price, 3),
        "bytes added per record": extra,
        "US$ per day of records": round(extra * records / MB * price, 2),
    }


# -- passwords and ACLs -----------------------------------------------------------------


def lesson_passwords() -> dict[str, str]:
    """The lesson's users and their passwords (plain text: the lesson's secrets)."""
    return {"scada-host": "control-room-1999", "st-01": "pump-7731", "st-02": "valve-2412"}


def password_file_table(passwords: PasswordFile) -> pd.DataFrame:
    """What each line of a password file holds, without the random salt and hash bytes.

    Returns:
        One row per user: the start of the line, the scheme, PBKDF2
        iterations, salt and hash sizes (bytes).
    """
    rows = []
    for line in passwords.format().splitlines():
        user, _, stored = line.partition(":")
        parts = stored.split("$")
        scheme = HashScheme(parts[1])
        rows.append(
            {
                "user": user,
                "line starts": f"{user}:${parts[1]}$"
                + (f"{parts[2]}$…" if len(parts) > 4 else "…"),
                "scheme": "PBKDF2-HMAC-SHA512" if scheme is HashScheme.SHA512_PBKDF2 else "SHA-512",
                "iterations": int(parts[2]) if len(parts) > 4 else 1,
                "salt (bytes)": 12,
                "hash (bytes)": 64,
                "characters": len(stored),
            }
        )
    return pd.DataFrame(rows).set_index("user")


LESSON_ACL = """\
# The SCADA host reads every topic of the line and may command any valve.
user scada-host
topic read pipeline/#
topic write pipeline/+/cmd/#

# Every station (user name = station id) writes below its own name
# and reads its own commands: nothing else.
pattern write pipeline/%u/#
pattern read pipeline/%u/cmd/#
"""
"""The lesson's ACL, in mosquitto's ``acl_file`` format (see :mod:`mqttsim.aio.acl`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One thing a client tries on the live broker.

    Attributes:
        user: the user name (and client id).
        action: ``"publish"``, ``"subscribe"`` or ``"connect"``.
        topic: the topic name or filter ("" for connect).
        version: 4 (MQTT 3.1.1) or 5.
        password: the password; None for the user's own from :func:`lesson_passwords`.
    """

    user: str
    action: str
    topic: str = ""
    version: int = 5
    password: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ("publish", "subscribe", "connect"):
            raise ConfigError(f"action must be publish, subscribe or connect, not {self.action!r}")
        if self.action != "connect" and not self.topic:
            raise ConfigError(f"a {self.action} attempt needs a topic")
        lesson_version(self.version)


def _answer(code: ReasonCode, action: str, version: int) -> str:
    """How the broker's answer reads in each version."""
    packet = {"connect": "CONNACK", "subscribe": "SUBACK", "publish": "PUBACK"}[action]
    if version == 5:
        return f"{packet} 0x{int(code):02X} {code.name.replace('_', ' ').lower()}"
    if action == "connect":
        return f"{packet} return code {REASON_TO_CONNACK_V311.get(code, 5)}"
    if action == "subscribe":
        return (
            f"{packet} 0x{SUBACK_V311_FAILURE:02X} failure" if code.is_error else f"{packet} QoS 1"
        )
    return f"{packet} (no code in 3.1.1)"


async def _try(host: str, port: int, attempt: Attempt, scada: object, index: int) -> dict[str, str]:
    from mqttsim.aio.client import AsyncClient

    passwords = lesson_passwords()
    secret = passwords.get(attempt.user, "") if attempt.password is None else attempt.password
    client = AsyncClient(
        host,
        port,
        client_id=attempt.user,
        version=lesson_version(attempt.version),
        username=attempt.user,
        password=secret.encode(),
        reconnect=False,
        connect_timeout_s=5,
    )
    row = {
        "client": attempt.user,
        "MQTT": "5" if attempt.version == 5 else "3.1.1",
        "tries": f"{attempt.action} {attempt.topic}".strip(),
    }
    try:
        await client.connect()
    except ConnectFailed as refused:
        await client.close()
        row["broker answers"] = _answer(refused.reason_code, "connect", attempt.version)
        row["SCADA host got it"] = ""
        return row
    try:
        code = ReasonCode.SUCCESS
        marker = f"pipeline/{attempt.user}/check"
        try:
            if attempt.action == "publish":
                await client.publish(attempt.topic, f"try {index}", qos=1)
            else:
                granted = await client.subscribe(attempt.topic, qos=1)
                code = granted[0]
        except OperationFailed as failed:
            code = failed.reason_code
        row["broker answers"] = _answer(code, attempt.action, attempt.version)
        if attempt.action == "publish":
            # The broker routes one client's messages in order: once the marker
            # is at the SCADA host, the attempt has arrived there or never will.
            await client.publish(marker, f"marker {index}", qos=1)
            got = await _received_before(scada, marker, f"try {index}")
            row["SCADA host got it"] = "yes" if got else "no"
        else:
            row["SCADA host got it"] = ""
    finally:
        await client.disconnect()
    return row


async def _received_before(scada: object, marker: str, payload: str) -> bool:
    """Read the SCADA host's messages until ``marker``; was ``payload`` among them?"""
    from mqttsim.aio.client import AsyncClient

    assert isinstance(scada, AsyncClient)
    messages = scada.messages()
    seen = False
    for _ in range(1000):  # bounded: a lesson sends a few messages
        message = await asyncio.wait_for(anext(messages), timeout=5)
        seen |= message.payload == payload.encode()
        if message.topic == marker:
            return seen
    raise RuntimeError("the marker never came back")


class _Collect(logging.Handler):
    """Keeps the messages of the records it is handed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def _broker_warnings() -> Iterator[_Collect]:
    """Collect mqttsim's broker warnings (its denials) instead of printing them.

    Only warnings: they name the client and the topic, and a refused login
    also the user name and the source address (loopback here, without the
    port, so the lesson's table reads the same on every run). The broker logs
    an event before it writes the answer (``BrokerServer.after``), so a record
    is in by the time the client has its answer.
    """
    logger = logging.getLogger("mqttsim.broker")
    handler, propagate = _Collect(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


async def acl_table(host: str, port: int, attempts: Sequence[Attempt]) -> pd.DataFrame:
    """Try each attempt on a live broker, one client connection each.

    The SCADA host (user ``scada-host``) stays subscribed to ``pipeline/#``
    meanwhile, so each publication shows whether it reached the control room.
    mqttsim's broker, running in this process, logs each denial: the table
    shows those lines instead of letting them go to the console.

    Returns:
        One row per attempt: client, MQTT version, what it tried, the broker's
        answer as that version can say it, whether the SCADA host got it, and
        what the broker logged.
    """
    from mqttsim.aio.client import AsyncClient

    scada = AsyncClient(
        host,
        port,
        client_id="scada-host",
        version=ProtocolVersion.V5,
        username="scada-host",
        password=lesson_passwords()["scada-host"].encode(),
        reconnect=False,
        connect_timeout_s=5,
    )
    rows = []
    with _broker_warnings() as logged:
        async with scada:
            await scada.subscribe("pipeline/#", qos=1)
            for index, attempt in enumerate(attempts, 1):
                seen = len(logged.lines)
                row = await _try(host, port, attempt, scada, index)
                row["broker's log"] = "; ".join(logged.lines[seen:])
                rows.append(row)
    return pd.DataFrame(rows)


def lesson_acl() -> AclFile:
    """:data:`LESSON_ACL`, parsed."""
    return AclFile.parse(LESSON_ACL, source="lesson.acl")


def lesson_password_file() -> PasswordFile:
    """The lesson's users, hashed as ``mosquitto_passwd`` does ($7$, 101 iterations)."""
    passwords = PasswordFile()
    for user, secret in lesson_passwords().items():
        passwords.set_password(user, secret)
    return passwords
