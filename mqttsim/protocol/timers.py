"""Deadline arithmetic, kept pure so both ends and both drivers agree on it.

All times are floats in seconds on the caller's clock (monotonic or
simulated); nothing here reads a clock.
"""

from __future__ import annotations

__all__ = [
    "KEEP_ALIVE_GRACE",
    "keep_alive_expiry",
    "ping_due",
    "message_expiry",
    "remaining_expiry_s",
    "earliest",
]

#: The server closes a connection after one and a half Keep Alive periods
#: without a packet from the client [MQTT-3.1.2-24] (3.1.1 [MQTT-3.1.2-24] too).
KEEP_ALIVE_GRACE = 1.5


def keep_alive_expiry(last_received: float, keep_alive_s: int) -> float | None:
    """When the broker gives up on a silent client; ``None`` if keep-alive is off."""
    if keep_alive_s <= 0:
        return None
    return last_received + KEEP_ALIVE_GRACE * keep_alive_s


def ping_due(last_sent: float, keep_alive_s: int) -> float | None:
    """When the client must send PINGREQ if it has sent nothing else.

    The client must not let more than Keep Alive seconds pass between
    control packets it sends [MQTT-3.1.2-20]; ``None`` if keep-alive is off.
    """
    if keep_alive_s <= 0:
        return None
    return last_sent + keep_alive_s


def message_expiry(received_at: float, expiry_interval_s: int | None) -> float | None:
    """Absolute expiry of a message with a Message Expiry Interval (§3.3.2.3.3)."""
    if expiry_interval_s is None:
        return None
    return received_at + expiry_interval_s


def remaining_expiry_s(expires_at: float | None, now: float) -> int | None:
    """The interval to send onward: the original less the time spent waiting
    [MQTT-3.3.2-6]. Rounded up so a message with time left never reads 0."""
    if expires_at is None:
        return None
    left = expires_at - now
    whole = int(left)
    return whole + 1 if left > whole else whole


def earliest(*deadlines: float | None) -> float | None:
    """The earliest of some optional deadlines."""
    present = [d for d in deadlines if d is not None]
    return min(present) if present else None
