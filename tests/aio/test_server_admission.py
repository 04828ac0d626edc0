"""Which sockets reach the broker's core: connection limits, the budget of
unauthenticated sockets, and the back-off after failed logins.

Played from the outside, as an attacker would: raw sockets on loopback that
connect and say nothing, or guess passwords. The back-off's clock is a fake
the test moves, so nothing depends on how fast this machine is.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from mqttsim.aio.background import BackgroundBroker, running_broker
from mqttsim.aio.guard import LoginBackoff, source_of
from mqttsim.protocol.enums import ReasonCode

from .conftest import SocketTable, wait_for, watch_sockets
from .raw import (
    connect_packet,
    connected_raw,
    open_raw,
    publish_fields,
    publish_packet,
    read_packet,
    read_until_closed,
    subscribe_packet,
)

CONNACK_ACCEPTED = b"\x20\x02\x00\x00"
CONNACK_BAD_CREDENTIALS = b"\x20\x02\x00\x04"  # 3.1.1 return code 4 (§3.2.2.3)


def still_open(sock: socket.socket) -> bool:
    """True if the broker has neither closed ``sock`` nor sent on it (no wait)."""
    sock.setblocking(False)
    try:
        return not sock.recv(1)
    except BlockingIOError:
        return True
    except ConnectionResetError:
        return False
    finally:
        sock.settimeout(5.0)


def idle_sockets(port: int, count: int, table: SocketTable) -> list[socket.socket]:
    """``count`` sockets that connect and never send, once the broker has
    accepted them all."""
    before = table.added
    sockets = [open_raw(port) for _ in range(count)]
    wait_for(lambda: table.added - before >= count, 10.0, f"the broker to accept {count} sockets")
    return sockets


def round_trip(port: int, name: str) -> None:
    """A real client connects, subscribes, and gets its own message back."""
    with connected_raw(port, name) as client:
        client.sendall(subscribe_packet(f"{name}/echo"))
        assert read_packet(client)[:1] == b"\x90"  # SUBACK
        client.sendall(publish_packet(f"{name}/echo", b"hello"))
        assert publish_fields(read_packet(client)) == (f"{name}/echo", b"hello")


# -- pending sockets: a budget of their own -----------------------------------------------


def test_idle_unauthenticated_sockets_do_not_count_against_max_connections() -> None:
    with running_broker(max_connections=4) as broker:
        table = watch_sockets(broker)
        idle = idle_sockets(broker.port, 10, table)
        round_trip(broker.port, "real-user")
        assert all(still_open(sock) for sock in idle)  # pending, within their budget
        for sock in idle:
            sock.close()


def test_a_full_pending_budget_closes_its_oldest_socket_so_a_real_client_gets_in() -> None:
    with running_broker(max_pending_connections=8) as broker:
        table = watch_sockets(broker)
        idle = idle_sockets(broker.port, 20, table)
        wait_for(lambda: len(table) == 8, what="the budget to hold the 8 newest")
        for sock in idle[:12]:
            assert read_until_closed(sock) == b""  # the oldest went first
        assert all(still_open(sock) for sock in idle[12:])

        round_trip(broker.port, "real-user")
        assert broker.call(lambda: broker.server.guard.refused["max-pending"]) == 13  # type: ignore[union-attr]
        for sock in idle:
            sock.close()


def test_evictions_are_counted_and_their_log_lines_rate_limited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="mqttsim.broker"):
        with running_broker(max_pending_connections=1) as broker:
            table = watch_sockets(broker)
            idle = idle_sockets(broker.port, 15, table)
            evicted = broker.call(lambda: broker.server.guard.refused["max-pending"])  # type: ignore[union-attr]
            for sock in idle:
                sock.close()
    assert evicted == 14
    lines = [r.getMessage() for r in caplog.records if "max_pending_connections" in r.getMessage()]
    assert len(lines) == 10  # the first ten; then every thousandth
    assert lines[-1].endswith("[max-pending: 10 so far]")


def test_clients_finishing_connect_together_beyond_max_connections_are_closed() -> None:
    """Both sockets were admitted while no client was connected (pending ones
    do not count); the second CONNECT to complete is one client too many."""
    with running_broker(max_connections=1) as broker:
        table = watch_sockets(broker)
        first, second = idle_sockets(broker.port, 2, table)
        with first, second:
            first.sendall(connect_packet("first"))
            assert read_packet(first) == CONNACK_ACCEPTED
            second.sendall(connect_packet("second"))
            read_until_closed(second)  # closed (3.1.1 has no server DISCONNECT)
            assert still_open(first)
        assert broker.call(lambda: broker.server.guard.refused["max-connections"]) == 1  # type: ignore[union-attr]


def test_max_connections_still_bounds_connected_clients() -> None:
    with running_broker(max_connections=2) as broker:
        with connected_raw(broker.port, "one"), connected_raw(broker.port, "two"):
            with open_raw(broker.port) as third:
                third.sendall(connect_packet("three"))
                assert read_until_closed(third) == b""
        round_trip(broker.port, "after")  # room again once they left
        assert broker.call(lambda: broker.server.guard.refused["max-connections"]) == 1  # type: ignore[union-attr]


# -- the back-off after failed logins -----------------------------------------------------


class FakeClock:
    """The back-off's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingAuthenticator:
    """Lets alice in with the right password; counts every question."""

    def __init__(self) -> None:
        self.calls = 0

    def authenticate(
        self, client_id: str, username: str | None, password: bytes | None
    ) -> ReasonCode:
        self.calls += 1
        if (username, password) == ("alice", b"right"):
            return ReasonCode.SUCCESS
        return ReasonCode.BAD_USER_NAME_OR_PASSWORD


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def authenticator() -> CountingAuthenticator:
    return CountingAuthenticator()


@pytest.fixture
def guarded(clock: FakeClock, authenticator: CountingAuthenticator) -> Iterator[BackgroundBroker]:
    """A broker whose back-off starts at the first failure: 1 s, 2 s, 4 s ..."""
    backoff = LoginBackoff(free_failures=0, first_delay_s=1.0, clock=clock)
    with running_broker(authenticator=authenticator, login_backoff=backoff) as broker:
        yield broker


def login(port: int, password: bytes, *, user: str = "alice", client_id: str = "c1") -> bytes:
    """The broker's answer to a 3.1.1 CONNECT: its 4-byte CONNACK, or b""
    if it closed the socket without one."""
    answer = bytearray()
    with open_raw(port) as sock:
        try:
            sock.sendall(connect_packet(client_id, username=user, password=password))
            for _ in range(4):  # a CONNACK is 4 bytes; at most one recv each
                chunk = sock.recv(4 - len(answer))
                answer += chunk
                if not chunk or len(answer) == 4:
                    break
            if answer == CONNACK_ACCEPTED:
                sock.sendall(b"\xe0\x00")  # DISCONNECT: leave politely
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed before or while we spoke
    return bytes(answer)


def test_a_login_within_the_back_off_is_refused_without_asking_the_authenticator(
    guarded: BackgroundBroker, clock: FakeClock, authenticator: CountingAuthenticator
) -> None:
    port = guarded.port
    assert login(port, b"wrong") == CONNACK_BAD_CREDENTIALS
    assert authenticator.calls == 1
    # Within 1 s of the failure, even the right password is not heard.
    assert login(port, b"right") == b""
    assert authenticator.calls == 1

    clock.now += 1.0
    assert login(port, b"wrong") == CONNACK_BAD_CREDENTIALS  # the second failure: 2 s
    clock.now += 1.5
    assert login(port, b"right") == b""
    assert authenticator.calls == 2
    clock.now += 0.5
    assert login(port, b"right") == CONNACK_ACCEPTED
    assert authenticator.calls == 3

    # The success forgot the failures: the next one costs 1 s again, not 4 s.
    assert login(port, b"wrong") == CONNACK_BAD_CREDENTIALS
    clock.now += 1.0
    assert login(port, b"right") == CONNACK_ACCEPTED
    assert authenticator.calls == 5
    refused = guarded.call(lambda: guarded.server.guard.refused["login-backoff"])  # type: ignore[union-attr]
    assert refused == 2


def test_a_failed_login_closes_the_other_pending_sockets_of_that_address(
    guarded: BackgroundBroker, authenticator: CountingAuthenticator
) -> None:
    """Sockets opened in parallel before the failure would each get a guess."""
    table = watch_sockets(guarded)
    waiting = idle_sockets(guarded.port, 3, table)
    assert login(guarded.port, b"wrong") == CONNACK_BAD_CREDENTIALS
    for sock in waiting:
        with sock:
            assert read_until_closed(sock) == b""
    assert authenticator.calls == 1


def test_a_failed_login_is_logged_with_address_and_user_name_but_never_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="mqttsim.broker"):
        with running_broker(authenticator=CountingAuthenticator()) as broker:
            answer = login(broker.port, b"hunter2-secret", user="mallory", client_id="guesser")
    assert answer == CONNACK_BAD_CREDENTIALS
    messages = [record.getMessage() for record in caplog.records]
    assert "authentication failed for user 'mallory' from 127.0.0.1 (client 'guesser')" in messages
    assert not any("hunter2" in message for message in messages)


def test_the_default_back_off_forgives_a_mistyped_password_or_two(
    authenticator: CountingAuthenticator,
) -> None:
    with running_broker(authenticator=authenticator) as broker:
        assert login(broker.port, b"wrong") == CONNACK_BAD_CREDENTIALS
        assert login(broker.port, b"wrong") == CONNACK_BAD_CREDENTIALS
        assert login(broker.port, b"right") == CONNACK_ACCEPTED


def test_the_back_off_doubles_up_to_its_cap_and_forgets_quiet_addresses(clock: FakeClock) -> None:
    backoff = LoginBackoff(
        free_failures=1, first_delay_s=1.0, max_delay_s=8.0, forget_after_s=100.0, clock=clock
    )
    delays = [backoff.failed("192.0.2.1") for _ in range(7)]
    assert delays == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert backoff.delay_left("192.0.2.1") == 8.0
    clock.now += 100.0
    assert backoff.delay_left("192.0.2.1") == 0.0 and len(backoff) == 0


def test_the_back_off_table_is_bounded_and_forgets_the_least_recent_failure_first(
    clock: FakeClock,
) -> None:
    backoff = LoginBackoff(free_failures=0, max_sources=3, clock=clock)
    for host in range(1, 6):
        clock.now += 1.0
        backoff.failed(f"192.0.2.{host}")
    assert len(backoff) == 3
    assert backoff.delay_left("192.0.2.2") == 0.0  # forgotten
    assert backoff.delay_left("192.0.2.5") == 1.0


def test_an_ipv6_host_is_known_by_its_slash_64() -> None:
    # One host routinely holds a whole /64 (RFC 4291 §2.5.1's 64-bit
    # interface identifiers): per-address keys would let it rotate away.
    assert source_of("2001:db8:1:2::1") == source_of("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert source_of("::ffff:192.0.2.7") == "192.0.2.7"
    assert source_of("192.0.2.7") == "192.0.2.7"
