"""The broker's transition table, exhausted: every state x every packet type.

For each (state, packet) a valid packet of that type is fed to a broker
connection in that state. The invariant (STYLE: "legal transition, or a
ProtocolError and CLOSED"): if the table lists the pair, the connection
handles it without a protocol violation (a refused CONNECT may still close
it); if not, it reports a ProtocolViolation and is CLOSED. Nothing raises.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mqttsim.protocol.broker import Broker
from mqttsim.protocol.codec import encode
from mqttsim.protocol.enums import PacketType, ProtocolVersion
from mqttsim.protocol.events import ProtocolViolation
from mqttsim.protocol.packets import Connect, Packet
from mqttsim.protocol.tables import BROKER_TRANSITIONS, BrokerState, transitions_as_rows

from .strategies import STRATEGIES_BY_CLASS

STATES = [BrokerState.AWAITING_CONNECT, BrokerState.CONNECTED]


def _connection(state: BrokerState, version: ProtocolVersion):  # type: ignore[no-untyped-def]
    broker = Broker()
    conn = broker.connection_made(now=0.0)
    if state is BrokerState.CONNECTED:
        conn.receive_data(encode(Connect(version=version, client_id="t"), version), now=0.0)
        conn.data_to_send(now=0.0)
        assert conn.state is BrokerState.CONNECTED
    return conn


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(
    data=st.data(),
    state=st.sampled_from(STATES),
    cls=st.sampled_from(sorted(STRATEGIES_BY_CLASS, key=lambda c: c.packet_type)),
    version=st.sampled_from([ProtocolVersion.V311, ProtocolVersion.V5]),
)
def test_every_state_and_packet_type_follows_the_table(
    data: st.DataObject, state: BrokerState, cls: type[Packet], version: ProtocolVersion
) -> None:
    if version is ProtocolVersion.V311 and cls.packet_type is PacketType.AUTH:
        return  # AUTH does not exist in 3.1.1; the codec test covers it as malformed
    packet = data.draw(STRATEGIES_BY_CLASS[cls](version))
    conn = _connection(state, version)
    events = conn.receive_data(encode(packet, version), now=0.0)
    violations = [e for e in events if isinstance(e, ProtocolViolation)]
    if (state, packet.packet_type) in BROKER_TRANSITIONS:
        # Legal: no violation of the state machine (a packet's own content may
        # still be refused, e.g. a will topic with a wildcard; then it is closed).
        for v in violations:
            assert "not allowed" not in v.detail and "first packet" not in v.detail
    else:
        assert violations, f"{packet.packet_type.name} accepted while {state.name}"
        assert conn.state is BrokerState.CLOSED


def test_the_table_prints_as_rows_for_docs_and_lessons() -> None:
    rows = transitions_as_rows(BROKER_TRANSITIONS)
    assert ("AWAITING_CONNECT", "CONNECT", "CONNECTED") in rows
    assert ("CONNECTED", "DISCONNECT", "CLOSED") in rows
    assert all(packet != "CONNACK" for _, packet, _ in rows)  # only a server sends CONNACK
