"""The broker attacked as an untrusted client would attack it (issue 13):
session hijack, identity of offline sessions, unbounded buffers, writes into
``$SYS``, forged Subscription Identifiers, wrong acknowledgements, and
packets the connection's state does not allow.

Each test states what the broker must do and fails on the broker as it was
before the fix.
"""

from __future__ import annotations

from mqttsim.protocol.enums import ProtocolVersion, ReasonCode
from mqttsim.protocol.events import MessageDropped

from .harness import Net

V31, V311, V5 = ProtocolVersion.V31, ProtocolVersion.V311, ProtocolVersion.V5


class UserAcl:
    """Allow everything, except that ``anonymous`` may read ``secret/#`` and
    ``alice`` may not: the anonymous rules are wider than alice's, so a check
    made as anonymous instead of as alice would let a message through."""

    def authenticate(
        self, client_id: str, username: str | None, password: bytes | None
    ) -> ReasonCode:
        return ReasonCode.SUCCESS

    def may_publish(self, client_id: str, username: str | None, topic: str) -> bool:
        return True

    def may_subscribe(self, client_id: str, username: str | None, topic_filter: str) -> bool:
        return True

    def may_receive(self, client_id: str, username: str | None, topic: str) -> bool:
        if topic.startswith("secret/"):
            return username is None
        if topic.startswith("alice/"):
            return username == "alice"
        return True


# -- 2. offline sessions keep their owner's identity ---------------------------------


def _alice_offline(net: Net) -> None:
    net.connect(
        "alice",
        version=V5,
        username="alice",
        clean_start=False,
        session_expiry_interval_s=3600,
    )
    net.links["alice"].client.subscribe("#", qos=1, now=net.now)
    net.pump()
    net.links["alice"].client.disconnect(now=net.now)
    net.pump()


def test_a_message_for_an_offline_session_is_authorised_as_its_owner_not_as_anonymous() -> None:
    net = Net(authorizer=UserAcl())
    _alice_offline(net)
    net.connect("pub", version=V5)
    pub = net.links["pub"].client
    pub.publish("alice/inbox", b"for alice", qos=1, now=net.now)
    pub.publish("secret/plans", b"not for alice", qos=1, now=net.now)
    net.pump()
    net.reconnect("alice", clean_start=False)
    assert net.connected("alice").session_present
    assert net.payloads("alice") == [b"for alice"]
    drops = [e for e in net.broker_events if isinstance(e, MessageDropped)]
    assert [(e.client_id, e.topic, e.reason) for e in drops] == [
        ("alice", "secret/plans", "not-authorized")
    ]


def test_the_session_records_its_owner_and_a_take_over_by_another_user_changes_it() -> None:
    net = Net(authorizer=UserAcl())
    _alice_offline(net)
    assert net.broker.sessions["alice"].username == "alice"
    net.connect("mallory", version=V5, client_id="alice", username="mallory", clean_start=False)
    assert net.broker.sessions["alice"].username == "mallory"

