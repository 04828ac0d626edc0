"""The WebSocket listener's Origin allow-list (RFC 6455 §10.2).

A browser sends Origin with every WebSocket upgrade and a page's script
cannot change it, so a list of allowed Origins stops a web page from using a
visitor's browser to reach a broker on the visitor's network. Requests
without Origin come from programs, not browsers, and pass.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mqttsim.aio.background import BackgroundBroker, running_broker
from mqttsim.aio.server import Listener

from .raw import HOST, open_raw, read_until_closed

ALLOWED = "https://scada.example"


def upgrade(*origins: str) -> bytes:
    """A WebSocket upgrade request for /mqtt offering the ``mqtt`` subprotocol."""
    lines = [
        "GET /mqtt HTTP/1.1",
        f"Host: {HOST}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",  # RFC 6455 §1.3's example
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: mqtt",
        *(f"Origin: {origin}" for origin in origins),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_line(port: int, request: bytes) -> bytes:
    """The broker's HTTP status line for ``request``."""
    with open_raw(port) as sock:
        sock.sendall(request)
        head = bytearray()
        for _ in range(64):  # one response head, in at most 64 reads
            chunk = sock.recv(4096)
            head += chunk
            if not chunk or b"\r\n" in head:
                break
    return bytes(head).split(b"\r\n", 1)[0]


@pytest.fixture
def guarded_ws() -> Iterator[BackgroundBroker]:
    listeners = [Listener(kind="ws", host=HOST, port=0, allowed_origins=(ALLOWED,))]
    with running_broker(listeners=listeners) as broker:
        yield broker


def test_an_upgrade_from_an_origin_not_in_the_list_is_refused_with_403(
    guarded_ws: BackgroundBroker,
) -> None:
    with open_raw(guarded_ws.port) as sock:
        sock.sendall(upgrade("https://evil.example"))
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 403 ")


@pytest.mark.parametrize(
    "origins",
    [
        pytest.param((ALLOWED,), id="listed"),
        pytest.param(("HTTPS://SCADA.example",), id="listed-other-case"),
        pytest.param((), id="no-origin-header"),
    ],
)
def test_an_upgrade_from_a_listed_origin_or_without_origin_is_accepted(
    guarded_ws: BackgroundBroker, origins: tuple[str, ...]
) -> None:
    assert status_line(guarded_ws.port, upgrade(*origins)).startswith(b"HTTP/1.1 101 ")


def test_a_second_origin_header_cannot_smuggle_an_unlisted_origin(
    guarded_ws: BackgroundBroker,
) -> None:
    assert status_line(guarded_ws.port, upgrade(ALLOWED, "https://evil.example")).startswith(
        b"HTTP/1.1 403 "
    )


def test_without_a_list_any_origin_is_accepted_as_before() -> None:
    listeners = [Listener(kind="ws", host=HOST, port=0)]
    with running_broker(listeners=listeners) as broker:
        assert status_line(broker.port, upgrade("https://anywhere.example")).startswith(
            b"HTTP/1.1 101 "
        )
