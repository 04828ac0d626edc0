"""The socket broker's log: one line per event worth a line, in words.

Separate from the server so that the server stays a pump. What is logged and
at which level follows mosquitto where it has an equivalent (connections and
disconnections at info, refusals at warning). Lines that an overload could
repeat without end (dropped messages) are rate-limited: the first ten, then
every thousandth, each with the running count, while ``$SYS`` counts them all.
"""

from __future__ import annotations

import logging

from mqttsim.protocol.events import (
    ActionDenied,
    ClientConnected,
    ClientDisconnected,
    Event,
    MessageDropped,
    ProtocolViolation,
    WillPublished,
)
from mqttsim.protocol.stats import DropReason

__all__ = ["EventLog", "worth_a_line"]

log = logging.getLogger("mqttsim.broker")


def worth_a_line(count: int) -> bool:
    """Whether the ``count``-th repeat of a line an overload could repeat
    without end is logged: the first ten, then every thousandth."""
    return count <= 10 or count % 1000 == 0


class EventLog:
    """Writes the broker's events to the ``mqttsim.broker`` logger."""

    def __init__(self) -> None:
        self.drops_logged = 0

    def record(self, event: Event, peer: str, host: str) -> None:
        """Log ``event``, which came from ``peer`` (``host:port``) on
        ``host``, or from the broker itself (both ``"-"``)."""
        match event:
            case ClientConnected(client_id=cid, version=version, username=user):
                log.info(
                    "client %r connected from %s (MQTT %s%s)",
                    cid,
                    peer,
                    version.label,
                    f", user {user!r}" if user else "",
                )
            case ActionDenied(client_id=cid, action="connect", username=user):
                # Never the password. The address is the host alone, the key
                # of the login back-off: a port says nothing about who guesses.
                log.warning(
                    "authentication failed for user %r from %s (client %r)", user, host, cid
                )
            case ClientDisconnected(client_id=cid, reason_code=code, detail=detail):
                log.info(
                    "client %r disconnected: %s (0x%02X %s)",
                    cid,
                    detail,
                    code,
                    code.name.replace("_", " ").lower(),
                )
            case WillPublished(client_id=cid, topic=topic):
                log.info("published the will of client %r on %r", cid, topic)
            case ActionDenied(client_id=cid, action=action, topic=topic):
                log.warning("denied %s by client %r on %r", action, cid, topic)
            case ProtocolViolation(reason_code=code, detail=detail):
                log.warning("closing connection from %s: %s (0x%02X)", peer, detail, code)
            case MessageDropped(client_id=cid, topic=topic, reason=DropReason.QOS0_OFFLINE):
                # At most once by design, as in mosquitto: counted in $SYS, not a warning.
                log.debug("QoS 0 message on %r not kept for absent client %r", topic, cid)
            case MessageDropped(client_id=cid, topic=topic, reason=reason):
                self.drops_logged += 1
                if worth_a_line(self.drops_logged):
                    log.warning(
                        "dropped a message on %r for client %r: %s (%d dropped so far)",
                        topic,
                        cid,
                        reason,
                        self.drops_logged,
                    )
