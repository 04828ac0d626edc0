"""Broker counters and the ``$SYS/broker/...`` tree built from them.

Names follow mosquitto's ``$SYS`` hierarchy where one exists, so tools that
already watch ``$SYS/broker/clients/connected`` work unchanged. Every message
the broker gives up on is counted under ``messages/dropped/<reason>``: a
limit reached is never silent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final

__all__ = ["BrokerStats", "DropReason"]


class DropReason:
    """Why a message was not delivered to one subscriber."""

    QUEUE_FULL: Final = "queue-full"
    EXPIRED: Final = "expired"
    PACKET_TOO_LARGE: Final = "packet-too-large"
    QOS0_OFFLINE: Final = "qos0-offline"
    NOT_AUTHORIZED: Final = "not-authorized"
    # QoS 0 for a client whose outbox is full: it stopped reading
    # (BrokerConfig.max_outgoing_bytes / max_outgoing_messages).
    OUTGOING_BUFFER_FULL: Final = "outgoing-buffer-full"
    SESSION_EXPIRED: Final = "session-expired"
    SESSION_DISCARDED: Final = "session-discarded"  # a new connection asked for Clean Start


@dataclass(slots=True, kw_only=True)
class BrokerStats:
    """Monotonic counters plus a few gauges, updated by the broker core."""

    started_at: float = 0.0
    connections_total: int = 0
    clients_connected: int = 0
    clients_maximum: int = 0
    messages_received: int = 0
    messages_sent: int = 0
    publish_received: int = 0
    publish_sent: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0
    protocol_errors: int = 0
    denied: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    def client_connected(self) -> None:
        self.clients_connected += 1
        self.connections_total += 1
        self.clients_maximum = max(self.clients_maximum, self.clients_connected)

    def tree(
        self, *, now: float, sessions: int, subscriptions: int, retained: int, version: str
    ) -> dict[str, str]:
        """The ``$SYS`` topics and their payloads (as text, as mosquitto sends them)."""
        base = "$SYS/broker/"
        values: dict[str, object] = {
            "version": f"mqttsim {version}",
            "uptime": f"{int(now - self.started_at)} seconds",
            "clients/connected": self.clients_connected,
            "clients/disconnected": max(0, sessions - self.clients_connected),
            "clients/total": sessions,
            "clients/maximum": self.clients_maximum,
            "connections/total": self.connections_total,
            "messages/received": self.messages_received,
            "messages/sent": self.messages_sent,
            "publish/messages/received": self.publish_received,
            "publish/messages/sent": self.publish_sent,
            "bytes/received": self.bytes_received,
            "bytes/sent": self.bytes_sent,
            "subscriptions/count": subscriptions,
            "retained messages/count": retained,
            "protocol errors": self.protocol_errors,
            "denied": self.denied,
            "messages/dropped": sum(self.dropped.values()),
        }
        for reason, count in sorted(self.dropped.items()):
            values[f"messages/dropped/{reason}"] = count
        return {base + name: str(value) for name, value in values.items()}
