"""Enumerations named as the MQTT 3.1.1 and 5.0 specifications name them."""

from __future__ import annotations

from enum import Enum, IntEnum

__all__ = [
    "PacketType",
    "ProtocolVersion",
    "QoS",
    "QoS2Handover",
    "RetainHandling",
    "ReasonCode",
    "REASON_CODES_BY_PACKET",
    "CONNACK_V311_TO_REASON",
    "REASON_TO_CONNACK_V311",
    "SUBACK_V311_FAILURE",
]


class PacketType(IntEnum):
    """The control packet type: the high nibble of the fixed header (§2.1.2)."""

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14
    AUTH = 15  # MQTT 5 only


class ProtocolVersion(IntEnum):
    """The Protocol Level byte of CONNECT (§3.1.2.2)."""

    V31 = 3  # "MQIsdp"; accepted on CONNECT and then spoken as 3.1.1
    V311 = 4
    V5 = 5

    @property
    def protocol_name(self) -> str:
        return "MQIsdp" if self is ProtocolVersion.V31 else "MQTT"

    @property
    def label(self) -> str:
        return {3: "3.1", 4: "3.1.1", 5: "5.0"}[self.value]


class QoS(IntEnum):
    """Quality of Service levels (§4.3)."""

    AT_MOST_ONCE = 0
    AT_LEAST_ONCE = 1
    EXACTLY_ONCE = 2


class QoS2Handover(Enum):
    """When the receiver of a QoS 2 message hands it on (MQTT 5 §4.3.3 and
    3.1.1 §4.3.3, Figure 4.3).

    The specification lets a receiver choose between two methods:

    * Method B (:attr:`ON_PUBLISH`): store the packet identifier and
      initiate onward delivery when the PUBLISH arrives; a repeat of the
      PUBLISH before PUBREL is answered and not delivered again
      [MQTT-4.3.3-10]. mqttsim's default, at both ends.
    * Method A (:attr:`ON_PUBREL`): store the message and initiate onward
      delivery only when its PUBREL arrives. mosquitto 2.x's broker does
      this (``handle__pubrel`` calls ``db__message_release_incoming``), and
      so does paho-mqtt 2.x's client (``_handle_pubrel`` calls
      ``on_message``).

    Method A hands each message on one round trip later per hop (a
    geostationary satellite hop: some 280 ms more), and the held message is
    part of the session, lost with it if the session ends before PUBREL.
    """

    ON_PUBLISH = "publish"
    ON_PUBREL = "pubrel"


class RetainHandling(IntEnum):
    """Subscription option bits 4-5 (MQTT 5 §3.8.3.1)."""

    SEND_ON_SUBSCRIBE = 0
    SEND_IF_NEW_SUBSCRIPTION = 1
    DO_NOT_SEND = 2


class ReasonCode(IntEnum):
    """MQTT 5 reason codes (§2.4). Values below 0x80 mean success.

    0x00 has three names in the specification (Success, Normal
    disconnection, Granted QoS 0); the later two are aliases here.
    """

    SUCCESS = 0x00
    NORMAL_DISCONNECTION = 0x00
    GRANTED_QOS_0 = 0x00
    GRANTED_QOS_1 = 0x01
    GRANTED_QOS_2 = 0x02
    DISCONNECT_WITH_WILL_MESSAGE = 0x04
    NO_MATCHING_SUBSCRIBERS = 0x10
    NO_SUBSCRIPTION_EXISTED = 0x11
    CONTINUE_AUTHENTICATION = 0x18
    RE_AUTHENTICATE = 0x19
    UNSPECIFIED_ERROR = 0x80
    MALFORMED_PACKET = 0x81
    PROTOCOL_ERROR = 0x82
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
    UNSUPPORTED_PROTOCOL_VERSION = 0x84
    CLIENT_IDENTIFIER_NOT_VALID = 0x85
    BAD_USER_NAME_OR_PASSWORD = 0x86
    NOT_AUTHORIZED = 0x87
    SERVER_UNAVAILABLE = 0x88
    SERVER_BUSY = 0x89
    BANNED = 0x8A
    SERVER_SHUTTING_DOWN = 0x8B
    BAD_AUTHENTICATION_METHOD = 0x8C
    KEEP_ALIVE_TIMEOUT = 0x8D
    SESSION_TAKEN_OVER = 0x8E
    TOPIC_FILTER_INVALID = 0x8F
    TOPIC_NAME_INVALID = 0x90
    PACKET_IDENTIFIER_IN_USE = 0x91
    PACKET_IDENTIFIER_NOT_FOUND = 0x92
    RECEIVE_MAXIMUM_EXCEEDED = 0x93
    TOPIC_ALIAS_INVALID = 0x94
    PACKET_TOO_LARGE = 0x95
    MESSAGE_RATE_TOO_HIGH = 0x96
    QUOTA_EXCEEDED = 0x97
    ADMINISTRATIVE_ACTION = 0x98
    PAYLOAD_FORMAT_INVALID = 0x99
    RETAIN_NOT_SUPPORTED = 0x9A
    QOS_NOT_SUPPORTED = 0x9B
    USE_ANOTHER_SERVER = 0x9C
    SERVER_MOVED = 0x9D
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E
    CONNECTION_RATE_EXCEEDED = 0x9F
    MAXIMUM_CONNECT_TIME = 0xA0
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2

    @property
    def is_error(self) -> bool:
        """True for failure codes (0x80 and above) [MQTT 5 §2.4]."""
        return self >= 0x80  # an int comparison: .value would be another Python call


_R = ReasonCode

# Which reason codes each packet may carry (MQTT 5 §3.2.2.2, §3.4.2.1,
# §3.5.2.1, §3.6.2.1, §3.7.2.1, §3.9.3, §3.11.3, §3.14.2.1, §3.15.2.1).
# The codec refuses any other value as a Malformed Packet.
REASON_CODES_BY_PACKET: dict[PacketType, frozenset[ReasonCode]] = {
    PacketType.CONNACK: frozenset(
        {
            _R.SUCCESS,
            _R.UNSPECIFIED_ERROR,
            _R.MALFORMED_PACKET,
            _R.PROTOCOL_ERROR,
            _R.IMPLEMENTATION_SPECIFIC_ERROR,
            _R.UNSUPPORTED_PROTOCOL_VERSION,
            _R.CLIENT_IDENTIFIER_NOT_VALID,
            _R.BAD_USER_NAME_OR_PASSWORD,
            _R.NOT_AUTHORIZED,
            _R.SERVER_UNAVAILABLE,
            _R.SERVER_BUSY,
            _R.BANNED,
            _R.BAD_AUTHENTICATION_METHOD,
            _R.TOPIC_NAME_INVALID,
            _R.PACKET_TOO_LARGE,
            _R.QUOTA_EXCEEDED,
            _R.PAYLOAD_FORMAT_INVALID,
            _R.RETAIN_NOT_SUPPORTED,
            _R.QOS_NOT_SUPPORTED,
            _R.USE_ANOTHER_SERVER,
            _R.SERVER_MOVED,
            _R.CONNECTION_RATE_EXCEEDED,
        }
    ),
    PacketType.PUBACK: frozenset(
        {
            _R.SUCCESS,
            _R.NO_MATCHING_SUBSCRIBERS,
            _R.UNSPECIFIED_ERROR,
            _R.IMPLEMENTATION_SPECIFIC_ERROR,
            _R.NOT_AUTHORIZED,
            _R.TOPIC_NAME_INVALID,
            _R.PACKET_IDENTIFIER_IN_USE,
            _R.QUOTA_EXCEEDED,
            _R.PAYLOAD_FORMAT_INVALID,
        }
    ),
    PacketType.PUBREL: frozenset({_R.SUCCESS, _R.PACKET_IDENTIFIER_NOT_FOUND}),
    PacketType.PUBCOMP: frozenset({_R.SUCCESS, _R.PACKET_IDENTIFIER_NOT_FOUND}),
    PacketType.SUBACK: frozenset(
        {
            _R.GRANTED_QOS_0,
            _R.GRANTED_QOS_1,
            _R.GRANTED_QOS_2,
            _R.UNSPECIFIED_ERROR,
            _R.IMPLEMENTATION_SPECIFIC_ERROR,
            _R.NOT_AUTHORIZED,
            _R.TOPIC_FILTER_INVALID,
            _R.PACKET_IDENTIFIER_IN_USE,
            _R.QUOTA_EXCEEDED,
            _R.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
            _R.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
            _R.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
        }
    ),
    PacketType.UNSUBACK: frozenset(
        {
            _R.SUCCESS,
            _R.NO_SUBSCRIPTION_EXISTED,
            _R.UNSPECIFIED_ERROR,
            _R.IMPLEMENTATION_SPECIFIC_ERROR,
            _R.NOT_AUTHORIZED,
            _R.TOPIC_FILTER_INVALID,
            _R.PACKET_IDENTIFIER_IN_USE,
        }
    ),
    PacketType.DISCONNECT: frozenset(
        {
            _R.NORMAL_DISCONNECTION,
            _R.DISCONNECT_WITH_WILL_MESSAGE,
            _R.UNSPECIFIED_ERROR,
            _R.MALFORMED_PACKET,
            _R.PROTOCOL_ERROR,
            _R.IMPLEMENTATION_SPECIFIC_ERROR,
            _R.NOT_AUTHORIZED,
            _R.SERVER_BUSY,
            _R.SERVER_SHUTTING_DOWN,
            _R.KEEP_ALIVE_TIMEOUT,
            _R.SESSION_TAKEN_OVER,
            _R.TOPIC_FILTER_INVALID,
            _R.TOPIC_NAME_INVALID,
            _R.RECEIVE_MAXIMUM_EXCEEDED,
            _R.TOPIC_ALIAS_INVALID,
            _R.PACKET_TOO_LARGE,
            _R.MESSAGE_RATE_TOO_HIGH,
            _R.QUOTA_EXCEEDED,
            _R.ADMINISTRATIVE_ACTION,
            _R.PAYLOAD_FORMAT_INVALID,
            _R.RETAIN_NOT_SUPPORTED,
            _R.QOS_NOT_SUPPORTED,
            _R.USE_ANOTHER_SERVER,
            _R.SERVER_MOVED,
            _R.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
            _R.CONNECTION_RATE_EXCEEDED,
            _R.MAXIMUM_CONNECT_TIME,
            _R.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
            _R.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
        }
    ),
    PacketType.AUTH: frozenset({_R.SUCCESS, _R.CONTINUE_AUTHENTICATION, _R.RE_AUTHENTICATE}),
}
# PUBREC carries the same codes as PUBACK (§3.5.2.1).
REASON_CODES_BY_PACKET[PacketType.PUBREC] = REASON_CODES_BY_PACKET[PacketType.PUBACK]

# MQTT 3.1.1 CONNACK return codes (§3.2.2.3) and their MQTT 5 equivalents.
CONNACK_V311_TO_REASON: dict[int, ReasonCode] = {
    0: _R.SUCCESS,
    1: _R.UNSUPPORTED_PROTOCOL_VERSION,
    2: _R.CLIENT_IDENTIFIER_NOT_VALID,
    3: _R.SERVER_UNAVAILABLE,
    4: _R.BAD_USER_NAME_OR_PASSWORD,
    5: _R.NOT_AUTHORIZED,
}


def _connack_v311_code(reason: ReasonCode) -> int:
    for code, mapped in CONNACK_V311_TO_REASON.items():
        if mapped == reason:
            return code
    # 3.1.1 has no finer codes: anything else is "server unavailable".
    return 3


REASON_TO_CONNACK_V311: dict[ReasonCode, int] = {
    reason: _connack_v311_code(reason) for reason in REASON_CODES_BY_PACKET[PacketType.CONNACK]
}
REASON_TO_CONNACK_V311[_R.BANNED] = 5
REASON_TO_CONNACK_V311[_R.BAD_AUTHENTICATION_METHOD] = 4

# MQTT 3.1.1 SUBACK has a single failure return code (§3.9.3).
SUBACK_V311_FAILURE = 0x80
