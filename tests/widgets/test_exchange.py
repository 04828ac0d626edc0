"""record_exchange: what the real core sends, packet by packet, on a fake clock."""

from __future__ import annotations

import pytest

from mqttsim.protocol import ConfigError, ProtocolVersion, PubAck, Publish, QoS, encode
from mqttsim.widgets import TraceRow, exchange_frame, record_exchange
from mqttsim.widgets.exchange import HOP_S, PAYLOAD, TOPIC


def flow(rows: list[TraceRow]) -> list[tuple[str, str, str]]:
    return [(r.sender, r.receiver, r.packet) for r in rows]


def deliveries(rows: list[TraceRow]) -> int:
    return sum(r.delivered for r in rows)


P, B, S = "publisher", "broker", "subscriber"


def test_qos0_is_one_publish_per_hop() -> None:
    rows = record_exchange(0, version=5)
    assert flow(rows) == [(P, B, "PUBLISH"), (B, S, "PUBLISH")]
    assert [r.time for r in rows] == [0.0, HOP_S]
    assert [r.packet_id for r in rows] == [None, None]
    assert deliveries(rows) == 1


def test_qos1_acknowledges_each_hop() -> None:
    rows = record_exchange(1, version=5)
    assert flow(rows) == [
        (P, B, "PUBLISH"),
        (B, P, "PUBACK"),
        (B, S, "PUBLISH"),
        (S, B, "PUBACK"),
    ]
    assert all(r.packet_id == 1 for r in rows)
    assert deliveries(rows) == 1


def test_qos2_is_four_packets_per_hop() -> None:
    rows = record_exchange(2, version=5)
    publisher_link = [r.packet for r in rows if P in (r.sender, r.receiver)]
    subscriber_link = [r.packet for r in rows if S in (r.sender, r.receiver)]
    assert publisher_link == ["PUBLISH", "PUBREC", "PUBREL", "PUBCOMP"]
    assert subscriber_link == ["PUBLISH", "PUBREC", "PUBREL", "PUBCOMP"]
    assert [r.flags for r in rows if r.packet == "PUBREL"] == ["0010", "0010"]
    assert deliveries(rows) == 1


def test_rows_carry_the_real_wire_sizes_and_flags() -> None:
    for version in (ProtocolVersion.V311, ProtocolVersion.V5):
        first, ack = record_exchange(1, version=version)[:2]
        publish = Publish(topic=TOPIC, payload=PAYLOAD, qos=QoS.AT_LEAST_ONCE, packet_id=1)
        assert first.bytes == len(encode(publish, version))
        assert ack.bytes == len(encode(PubAck(packet_id=1), version))
        assert (first.flags, first.qos, first.dup) == ("0010", 1, False)
    assert record_exchange(1, version=4)[0].bytes + 1 == record_exchange(1, version=5)[0].bytes


def test_same_arguments_same_rows() -> None:
    assert record_exchange(2, version=5, loss_after=1) == record_exchange(
        2, version=5, loss_after=1
    )


def test_rows_are_in_sending_order_and_arrive_one_hop_later() -> None:
    rows = record_exchange(2, version=5, loss_after=2)
    assert [r.time for r in rows] == sorted(r.time for r in rows)
    for r in rows:
        assert (r.arrived is None) == r.lost
        if r.arrived is not None:
            assert r.arrived == pytest.approx(r.time + HOP_S)


def test_qos1_lost_puback_means_a_dup_resend_and_a_duplicate() -> None:
    rows = record_exchange(1, version=5, loss_after=1)
    lost = [r for r in rows if r.lost]
    assert [(r.sender, r.receiver, r.packet) for r in lost] == [(B, P, "PUBACK")]
    resent = [r for r in rows if r.retransmission]
    assert [(r.sender, r.packet, r.dup, r.flags) for r in resent] == [(P, "PUBLISH", True, "1010")]
    assert [r.packet for r in rows if r.sender == P][:2] == ["PUBLISH", "CONNECT"]
    assert deliveries(rows) == 2  # at least once: here, twice


def test_qos2_lost_pubrec_still_delivers_exactly_once() -> None:
    rows = record_exchange(2, version=5, loss_after=1)
    assert [r.packet for r in rows if r.lost] == ["PUBREC"]
    assert any(r.dup and r.retransmission for r in rows)
    assert sum(1 for r in rows if (r.sender, r.packet) == (B, "PUBLISH")) == 1
    assert deliveries(rows) == 1


def test_qos2_lost_pubrel_is_resent_and_marked() -> None:
    rows = record_exchange(2, version=5, loss_after=2)
    pubrels = [r for r in rows if r.sender == P and r.packet == "PUBREL"]
    assert [(r.lost, r.retransmission) for r in pubrels] == [(True, False), (False, True)]


def test_qos0_lost_publish_is_gone() -> None:
    rows = record_exchange(0, version=5, loss_after=0)
    assert flow(rows) == [(P, B, "PUBLISH"), (P, B, "CONNECT"), (B, P, "CONNACK")]
    assert rows[0].lost
    assert deliveries(rows) == 0


def test_subscriber_link_loss_at_qos1_duplicates_with_dup() -> None:
    rows = record_exchange(1, version=5, loss_after=1, loss_on="subscriber")
    to_subscriber = [r for r in rows if r.receiver == S and r.packet == "PUBLISH"]
    assert [(r.dup, r.delivered) for r in to_subscriber] == [(False, True), (True, True)]


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("loss_on", ["publisher", "subscriber"])
@pytest.mark.parametrize("loss_after", range(6))
def test_every_single_loss_keeps_the_promise_of_each_qos(
    version: int, loss_on: str, loss_after: int
) -> None:
    kwargs = {"version": version, "loss_after": loss_after, "loss_on": loss_on}
    assert deliveries(record_exchange(0, **kwargs)) <= 1  # type: ignore[arg-type]
    assert deliveries(record_exchange(1, **kwargs)) >= 1  # type: ignore[arg-type]
    assert deliveries(record_exchange(2, **kwargs)) == 1  # type: ignore[arg-type]


def test_a_loss_past_the_end_loses_nothing() -> None:
    assert record_exchange(1, version=5, loss_after=99) == record_exchange(1, version=5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"qos": 3},
        {"qos": 1, "version": 6},
        {"qos": 1, "loss_after": -1},
        {"qos": 1, "loss_on": "broker"},
    ],
)
def test_bad_arguments_are_refused_in_one_line(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        record_exchange(**kwargs)  # type: ignore[arg-type]


def test_frame_has_one_column_per_field_and_nullable_ids() -> None:
    rows = record_exchange(1, version=5, loss_after=1)
    frame = exchange_frame(rows)
    assert list(frame.columns) == list(TraceRow.__dataclass_fields__)
    assert len(frame) == len(rows)
    assert str(frame.packet_id.dtype) == "Int64"
    assert frame.arrived.isna().sum() == 1
    assert frame.delivered.sum() == 2


def test_labels_name_packets_as_the_specification_does() -> None:
    labels = [r.label for r in record_exchange(1, version=5, loss_after=1)]
    assert labels[:2] == ["PUBLISH id=1 QoS 1", "PUBACK id=1"]
    assert "PUBLISH id=1 QoS 1, DUP" in labels
    assert "CONNECT" in labels
