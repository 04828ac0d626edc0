"""CONNECT and SUBSCRIBE decisions, tested as plain functions: no broker,
no connection, just the configuration, the packet and the hooks' answers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mqttsim.protocol.admission import (
    ConnectAccepted,
    ConnectRefused,
    decide_connect,
    fit_connack,
)
from mqttsim.protocol.broker_config import BrokerConfig
from mqttsim.protocol.codec import encode
from mqttsim.protocol.enums import ProtocolVersion, QoS, ReasonCode, RetainHandling
from mqttsim.protocol.errors import RemoteProtocolError, TopicNameInvalid
from mqttsim.protocol.hooks import AllowAll
from mqttsim.protocol.packets import ConnAck, Connect, Subscribe, Subscription, Unsubscribe, Will
from mqttsim.protocol.properties import Properties
from mqttsim.protocol.subscribing import (
    FilterGranted,
    FilterRefused,
    decide_subscribe,
    decide_unsubscribe,
)

V311, V5 = ProtocolVersion.V311, ProtocolVersion.V5
PROTOCOL = Path(__file__).resolve().parents[2] / "mqttsim" / "protocol"


class Refuse:
    def authenticate(
        self, client_id: str, username: str | None, password: bytes | None
    ) -> ReasonCode:
        return ReasonCode.BAD_USER_NAME_OR_PASSWORD


def _never() -> str:
    raise AssertionError("no identifier should be assigned")


def decide(packet: Connect, config: BrokerConfig | None = None, **hooks: object):  # type: ignore[no-untyped-def]
    return decide_connect(
        config or BrokerConfig(),
        packet,
        authenticator=hooks.get("authenticator", AllowAll()),  # type: ignore[arg-type]
        assign_client_id=hooks.get("assign", _never),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("module", ["admission", "subscribing"])
def test_the_decision_modules_never_import_the_broker(module: str) -> None:
    tree = ast.parse((PROTOCOL / f"{module}.py").read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not imported & {"broker", "broker_connection"}, imported


def test_an_empty_311_client_id_without_clean_session_is_refused_before_assigning() -> None:
    decision = decide(Connect(version=V311, client_id="", clean_start=False))
    assert decision == ConnectRefused(
        reason=ReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
        detail="empty client identifier with Clean Session = 0 [MQTT-3.1.3-8]",
    )


def test_an_assigned_identifier_always_starts_a_new_session() -> None:
    decision = decide(Connect(version=V5, client_id="", clean_start=False), assign=lambda: "x-1")
    assert isinstance(decision, ConnectAccepted)
    assert (decision.client_id, decision.assigned, decision.clean_start) == ("x-1", True, True)
    assert decision.connack.properties.assigned_client_identifier == "x-1"


def test_refused_credentials_are_reported_as_denied() -> None:
    decision = decide(Connect(version=V5, client_id="c", username="u"), authenticator=Refuse())
    assert isinstance(decision, ConnectRefused)
    assert (decision.reason, decision.denied, decision.client_id) == (
        ReasonCode.BAD_USER_NAME_OR_PASSWORD,
        True,
        "c",
    )


def test_the_terms_follow_the_configuration_and_the_clients_properties() -> None:
    config = BrokerConfig(server_keep_alive_s=30, max_session_expiry_s=60, max_inflight=5)
    props = Properties(session_expiry_interval=3600, receive_maximum=2, maximum_packet_size=500)
    decision = decide(Connect(version=V5, client_id="c", keep_alive_s=10, properties=props), config)
    assert isinstance(decision, ConnectAccepted)
    assert (decision.keep_alive_s, decision.session_expiry_s, decision.send_window) == (30, 60, 2)
    assert decision.client_max_packet_size == 500
    assert decision.connack.properties.server_keep_alive == 30
    assert decision.connack.properties.session_expiry_interval == 60


def test_a_will_topic_over_the_level_limit_is_a_topic_name_error() -> None:
    will = Will(topic="a/" * 5 + "b", payload=b"")
    with pytest.raises(TopicNameInvalid):
        decide(Connect(version=V5, client_id="c", will=will), BrokerConfig(max_topic_levels=5))


def test_fit_connack_drops_reason_string_then_user_properties_then_topic_alias_maximum() -> None:
    connack = ConnAck(
        properties=Properties(
            reason_string="welcome",
            user_properties=(("k", "v"),),
            topic_alias_maximum=10,
            receive_maximum=100,
        )
    )
    sizes = [len(encode(connack, V5))]
    for step in range(3):
        fitted = fit_connack(connack, V5, sizes[-1] - 1)
        assert fitted is not None
        sizes.append(len(encode(fitted, V5)))
        props = fitted.properties
        assert props.reason_string is None
        assert (props.user_properties == ()) == (step >= 1)
        assert (props.topic_alias_maximum is None) == (step >= 2)
    assert fit_connack(connack, V5, sizes[-1] - 1) is None
    assert fit_connack(connack, V5, None) is connack


class NoSecrets(AllowAll):
    def may_subscribe(self, client_id: str, username: str | None, topic_filter: str) -> bool:
        return not topic_filter.startswith("secret")


def subscribe(*subs: Subscription, version: ProtocolVersion = V5, existing: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return decide_subscribe(
        BrokerConfig(maximum_qos=QoS.AT_LEAST_ONCE),
        Subscribe(packet_id=1, subscriptions=subs),
        version,
        existing=set(existing),
        authorizer=NoSecrets(),
        client_id="c",
        username="u",
    )


def test_each_filter_is_granted_or_refused_on_its_own() -> None:
    granted, invalid, denied = subscribe(
        Subscription(topic_filter="a/#", qos=QoS.EXACTLY_ONCE),
        Subscription(topic_filter="a/#/b"),
        Subscription(topic_filter="secret/x"),
    )
    assert isinstance(granted, FilterGranted)
    assert granted.reason_code == ReasonCode.GRANTED_QOS_1  # capped at Maximum QoS
    assert isinstance(invalid, FilterRefused) and not invalid.denied
    assert invalid.reason_code == ReasonCode.TOPIC_FILTER_INVALID
    assert isinstance(denied, FilterRefused) and denied.denied
    assert denied.reason_code == ReasonCode.NOT_AUTHORIZED


def test_retain_handling_1_sends_retained_messages_only_for_a_new_subscription() -> None:
    once = Subscription(topic_filter="a", retain_handling=RetainHandling.SEND_IF_NEW_SUBSCRIPTION)
    [new] = subscribe(once)
    [old] = subscribe(once, existing=("a",))
    first, repeated = subscribe(once, once)
    assert isinstance(new, FilterGranted) and new.send_retained
    assert isinstance(old, FilterGranted) and not old.send_retained
    assert isinstance(first, FilterGranted) and first.send_retained
    assert isinstance(repeated, FilterGranted) and not repeated.send_retained
    [shared] = subscribe(Subscription(topic_filter="$share/g/a"))
    assert isinstance(shared, FilterGranted) and not shared.send_retained  # MQTT 5 §4.8.2


def test_an_empty_filter_closes_a_311_connection_and_fails_a_v5_slot() -> None:
    with pytest.raises(RemoteProtocolError, match="MQTT-4.7.3-1"):
        subscribe(Subscription(topic_filter=""), version=V311)
    [refused] = subscribe(Subscription(topic_filter=""))
    assert isinstance(refused, FilterRefused)


def test_no_local_on_a_shared_subscription_raises_before_any_filter_is_applied() -> None:
    with pytest.raises(RemoteProtocolError, match="MQTT-3.8.3-4"):
        subscribe(
            Subscription(topic_filter="a"), Subscription(topic_filter="$share/g/a", no_local=True)
        )


def test_unsubscribe_filters_are_checked_and_311_cannot_refuse_one() -> None:
    packet = Unsubscribe(packet_id=1, topic_filters=("a/#", "a/#/b"))
    ok, bad = decide_unsubscribe(packet, V5)
    assert ok is None and bad is not None and bad.reason_code == ReasonCode.TOPIC_FILTER_INVALID
    with pytest.raises(RemoteProtocolError):
        decide_unsubscribe(packet, V311)
