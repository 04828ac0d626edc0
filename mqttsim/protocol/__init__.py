"""mqttsim.protocol: MQTT 3.1.1 and 5.0 without I/O.

Bytes and the time go in; bytes, events and the next deadline come out. The
same objects run under asyncio sockets (:mod:`mqttsim.aio`) and inside the
SimPy network model (:mod:`mqttsim.sim`). Nothing here reads a clock, opens
a socket, sleeps or draws a random number.

The usual entry points::

    from mqttsim.protocol import Broker, ClientConnection, QoS

    broker = Broker()
    client = ClientConnection(client_id="st-07", keep_alive_s=60)
    conn = broker.connection_made(now=0.0)
    client.connect(now=0.0)
    conn.receive_data(client.data_to_send(now=0.0), now=0.0)
    events = client.receive_data(conn.data_to_send(now=0.0), now=0.0)
"""

from __future__ import annotations

from .broker import Broker, BrokerConfig
from .broker_connection import BrokerConnection
from .client import ClientConnection
from .codec import StreamDecoder, decode, encode
from .enums import PacketType, ProtocolVersion, QoS, QoS2Handover, ReasonCode, RetainHandling
from .errors import (
    ConfigError,
    ConnectFailed,
    LocalProtocolError,
    MalformedPacket,
    MQTTError,
    OperationFailed,
    PacketTooLarge,
    ProtocolError,
    PublishFailed,
    RemoteProtocolError,
    SubscribeFailed,
    TopicFilterInvalid,
    TopicNameInvalid,
    UnsubscribeFailed,
)
from .events import (
    ActionDenied,
    AuthReceived,
    ClientConnected,
    ClientDisconnected,
    Connected,
    ConnectionRefused,
    Disconnected,
    Event,
    MessageDropped,
    MessageReceived,
    PacketReceived,
    PacketSent,
    PongReceived,
    ProtocolViolation,
    PublishAcked,
    PublishCompleted,
    PublishDropped,
    PublishReceived,
    Subscribed,
    Unsubscribed,
    WillPublished,
)
from .hooks import AllowAll, Authenticator, Authorizer, SessionStore, StoreChanges, StoredState
from .packets import (
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
)
from .properties import NO_PROPERTIES, Properties
from .session import InflightMessage, OutboundState, QueuedMessage, Session, SubscriptionRecord
from .tables import BrokerState, ClientState
from .topics import SubscriptionTree, topic_matches, validate_topic_filter, validate_topic_name

__all__ = [
    # connections
    "Broker",
    "BrokerConfig",
    "BrokerConnection",
    "ClientConnection",
    "BrokerState",
    "ClientState",
    # codec
    "encode",
    "decode",
    "StreamDecoder",
    # values
    "PacketType",
    "ProtocolVersion",
    "QoS",
    "QoS2Handover",
    "ReasonCode",
    "RetainHandling",
    "Properties",
    "NO_PROPERTIES",
    "Packet",
    "Connect",
    "ConnAck",
    "Publish",
    "PubAck",
    "PubRec",
    "PubRel",
    "PubComp",
    "Subscribe",
    "Subscription",
    "SubAck",
    "Unsubscribe",
    "UnsubAck",
    "PingReq",
    "PingResp",
    "Disconnect",
    "Auth",
    "Will",
    # events
    "Event",
    "Connected",
    "ConnectionRefused",
    "MessageReceived",
    "PublishAcked",
    "PublishReceived",
    "PublishCompleted",
    "PublishDropped",
    "Subscribed",
    "Unsubscribed",
    "PongReceived",
    "AuthReceived",
    "Disconnected",
    "ProtocolViolation",
    "PacketSent",
    "PacketReceived",
    "ClientConnected",
    "ClientDisconnected",
    "ActionDenied",
    "MessageDropped",
    "WillPublished",
    # sessions and hooks
    "Session",
    "InflightMessage",
    "OutboundState",
    "QueuedMessage",
    "SubscriptionRecord",
    "Authenticator",
    "Authorizer",
    "SessionStore",
    "StoreChanges",
    "StoredState",
    "AllowAll",
    # topics
    "SubscriptionTree",
    "topic_matches",
    "validate_topic_name",
    "validate_topic_filter",
    # errors
    "MQTTError",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "MalformedPacket",
    "PacketTooLarge",
    "TopicNameInvalid",
    "TopicFilterInvalid",
    "OperationFailed",
    "ConnectFailed",
    "PublishFailed",
    "SubscribeFailed",
    "UnsubscribeFailed",
    "ConfigError",
]
