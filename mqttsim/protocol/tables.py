"""The connection state machines as data.

Theory of operation
-------------------
Each end of an MQTT connection is in one state at a time. A packet *received*
from the peer either appears in the table for the current state, and moves
the connection to the state the table names, or it does not, and that is a
Protocol Error: the connection closes (MQTT 5 with a DISCONNECT carrying
0x82 first) [MQTT-4.8.0-1 ... MQTT-3.1.0-1/2].

Client (``ClientState``)::

    NEW --connect()--> CONNECTING --CONNACK ok--> CONNECTED --DISCONNECT--> CLOSED
                           |  \\--AUTH--> CONNECTING (enhanced auth)
                           \\--CONNACK refused--> CLOSED

Broker side of one connection (``BrokerState``)::

    AWAITING_CONNECT --CONNECT--> CONNECTED --DISCONNECT--> CLOSED

The broker does not offer enhanced authentication (MQTT 5 §4.12): a CONNECT
naming an Authentication Method is refused with 0x8C, so it never receives
AUTH legitimately.

The broker's connection hands the CONNECTED row to its decoder, so a packet
a client may not send (CONNACK, SUBACK, PINGRESP, ...) is refused from its
fixed header, as the Protocol Error it is, before its body is read.

A CONNECT whose answer is a refusal also ends in CLOSED: that choice is made
by the connection code (a guard), the table lists only where a packet *may*
lead. Local commands (``publish()`` while CONNECTING, ...) are checked against
``CLIENT_COMMANDS``. ``transitions_as_rows()`` serves the docs, the lesson's
state diagram and the property test that exhausts the table.
"""

from __future__ import annotations

from enum import Enum

from .enums import PacketType

__all__ = [
    "ClientState",
    "BrokerState",
    "CLIENT_TRANSITIONS",
    "BROKER_TRANSITIONS",
    "CLIENT_COMMANDS",
    "transitions_as_rows",
]


class ClientState(Enum):
    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"

    # Members are singletons compared by identity, so identity hashing is
    # exact, and cheaper than Enum's hash of the name: the state is a table
    # key on every packet.
    __hash__ = object.__hash__


class BrokerState(Enum):
    AWAITING_CONNECT = "awaiting CONNECT"
    CONNECTED = "connected"
    CLOSED = "closed"

    __hash__ = object.__hash__  # as ClientState's


_T = PacketType
_C = ClientState
_B = BrokerState

# Packets a client may receive, by state (§3 "direction of flow" columns).
CLIENT_TRANSITIONS: dict[tuple[ClientState, PacketType], ClientState] = {
    (_C.CONNECTING, _T.CONNACK): _C.CONNECTED,
    (_C.CONNECTING, _T.AUTH): _C.CONNECTING,
    (_C.CONNECTING, _T.DISCONNECT): _C.CLOSED,
    **{
        (_C.CONNECTED, t): _C.CONNECTED
        for t in (
            _T.PUBLISH, _T.PUBACK, _T.PUBREC, _T.PUBREL, _T.PUBCOMP,
            _T.SUBACK, _T.UNSUBACK, _T.PINGRESP, _T.AUTH,
        )
    },
    (_C.CONNECTED, _T.DISCONNECT): _C.CLOSED,
}

# Packets the broker may receive on one connection, by state.
BROKER_TRANSITIONS: dict[tuple[BrokerState, PacketType], BrokerState] = {
    (_B.AWAITING_CONNECT, _T.CONNECT): _B.CONNECTED,
    **{
        (_B.CONNECTED, t): _B.CONNECTED
        for t in (
            _T.PUBLISH, _T.PUBACK, _T.PUBREC, _T.PUBREL, _T.PUBCOMP,
            _T.SUBSCRIBE, _T.UNSUBSCRIBE, _T.PINGREQ,
        )
    },
    (_B.CONNECTED, _T.DISCONNECT): _B.CLOSED,
}

# Commands a client's caller may issue, by state.
CLIENT_COMMANDS: dict[str, frozenset[ClientState]] = {
    "connect": frozenset({_C.NEW, _C.CLOSED}),
    # Publishing while CONNECTING queues the message until CONNACK; QoS > 0
    # messages published while CLOSED wait in the session for the next connect.
    "publish": frozenset({_C.NEW, _C.CONNECTING, _C.CONNECTED, _C.CLOSED}),
    "subscribe": frozenset({_C.CONNECTED}),
    "unsubscribe": frozenset({_C.CONNECTED}),
    "ping": frozenset({_C.CONNECTED}),
    "disconnect": frozenset({_C.CONNECTING, _C.CONNECTED}),
    "auth": frozenset({_C.CONNECTING, _C.CONNECTED}),
}


def transitions_as_rows(
    table: dict[tuple[ClientState, PacketType], ClientState]
    | dict[tuple[BrokerState, PacketType], BrokerState],
) -> list[tuple[str, str, str]]:
    """The table as ``(state, packet, next state)`` rows, for docs and diagrams."""
    return [(s.name, p.name, n.name) for (s, p), n in table.items()]
