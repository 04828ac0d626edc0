"""The exceptions of mqttsim.

Every exception the project raises derives from :class:`MQTTError`. Protocol
errors carry the MQTT 5 reason code that the specification attaches to the
mistake, so whoever catches one knows what to put in a DISCONNECT:

* :class:`LocalProtocolError`: *our* caller asked for something the
  specification forbids (publishing to ``a/+``, a command in the wrong
  state). It is raised to the caller at once.
* :class:`RemoteProtocolError`: the *peer* broke the rules. Connection
  objects catch it, queue a DISCONNECT with the reason code (MQTT 5) and
  close; it never escapes ``receive_data``.
* :class:`MalformedPacket`: the bytes could not be decoded at all. Raised
  by the codec only.

The reason code is a class attribute that an instance may override (h2's
pattern), so ``except ProtocolError as e: e.reason_code`` always works.
"""

from __future__ import annotations

from .enums import ReasonCode

__all__ = [
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


class MQTTError(Exception):
    """Base of every exception mqttsim raises."""


class ProtocolError(MQTTError):
    """A rule of the MQTT specification was broken.

    Args:
        detail: a sentence saying what was wrong, with the normative
            statement's ID where there is one, e.g.
            ``"PUBLISH topic contains '+' [MQTT-3.3.2-2]"``.
        reason_code: overrides the class's default reason code.
    """

    reason_code: ReasonCode = ReasonCode.PROTOCOL_ERROR

    def __init__(self, detail: str, reason_code: ReasonCode | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if reason_code is not None:
            self.reason_code = reason_code

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.detail, self.reason_code))


class LocalProtocolError(ProtocolError):
    """The caller asked for something the specification forbids."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the rules; the connection closes with ``reason_code``."""


class MalformedPacket(RemoteProtocolError):
    """The bytes are not a well-formed MQTT packet (0x81)."""

    reason_code = ReasonCode.MALFORMED_PACKET


class PacketTooLarge(RemoteProtocolError):
    """A packet exceeds the Maximum Packet Size in force (0x95)."""

    reason_code = ReasonCode.PACKET_TOO_LARGE


class TopicNameInvalid(ProtocolError):
    """A topic name is not allowed in a PUBLISH (0x90)."""

    reason_code = ReasonCode.TOPIC_NAME_INVALID


class TopicFilterInvalid(ProtocolError):
    """A topic filter is not allowed in a SUBSCRIBE or UNSUBSCRIBE (0x8F)."""

    reason_code = ReasonCode.TOPIC_FILTER_INVALID


class OperationFailed(MQTTError):
    """An awaited operation did not succeed: the peer refused it with
    ``reason_code``, or it could not complete (the connection was lost and no
    reconnection will follow, or the client was closed); ``detail`` says which."""

    def __init__(self, detail: str, reason_code: ReasonCode) -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason_code = reason_code

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.detail, self.reason_code))


class ConnectFailed(OperationFailed):
    """The broker refused the connection (CONNACK with a failure code)."""


class PublishFailed(OperationFailed):
    """The broker refused a QoS 1/2 publication (PUBACK/PUBREC >= 0x80)."""


class SubscribeFailed(OperationFailed):
    """The broker refused a subscription (SUBACK failure code)."""


class UnsubscribeFailed(OperationFailed):
    """The broker refused an unsubscription (UNSUBACK failure code)."""


class ConfigError(MQTTError):
    """A bad setting: a CLI flag, a preset, a widget value. One-line message."""
