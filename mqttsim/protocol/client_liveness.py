"""The client's keep-alive clock: when to send PINGREQ, when to give up on the server.

Theory of operation
-------------------
A :class:`Liveness` belongs to one :class:`~.client.ClientConnection`, which
tells it when packets leave and bytes arrive, and asks it for its next
deadline and what is due then.

PINGREQ goes out when nothing was sent [MQTT-3.1.2-23] *or* nothing received
for Keep Alive (a client may ping at any time, §3.1.2.10): the second finds a
link that died under a client that only publishes QoS 0. No PINGRESP within
Keep Alive (our choice of §3.1.2.10's "reasonable amount of time", as
paho-mqtt's) closes the connection: a dead link is noticed within 2 x Keep
Alive of last hearing from the server. Once that PINGREQ is overdue (nothing
heard for twice the last round trip) the link is not known to be alive, and
the connection holds new messages back until the server is heard again.

With ``ping_every_keep_alive`` the first rule counts from the last PINGREQ
(or the CONNECT) sent, not from the last packet of any kind: a PINGREQ goes
out every Keep Alive however busy the connection is, as paho-mqtt 2.x's do.
Its ``_check_keepalive`` pings once ``now - _last_msg_out >= keepalive``,
and ``_last_msg_out`` is refreshed when a PINGREQ goes out but not by other
packets: ``_packet_write`` returns from inside its loop when its queue is
empty, and never reaches the line after the loop that would refresh it.

Nothing here reads a clock: every time comes in as an argument.
"""

from __future__ import annotations

from .tables import ClientState

__all__ = ["Liveness"]


class Liveness:
    """One client connection's keep-alive clock.

    Args:
        keep_alive: the Keep Alive asked for, in seconds; 0 turns it off.
        ping_every_keep_alive: ping Keep Alive after the last PINGREQ (or
            CONNECT), whatever else was sent or received since (paho-mqtt
            2.x); otherwise Keep Alive after the last packet sent.

    Attributes:
        keep_alive: the Keep Alive in force, in seconds; 0 turns it off.
        last_received: when bytes last came from the server.
        ping_pending: a PINGREQ is queued and has not left yet.
    """

    def __init__(self, keep_alive: int, *, ping_every_keep_alive: bool = False) -> None:
        self.keep_alive = keep_alive
        self.last_received = 0.0
        self.ping_pending = False
        self._every = ping_every_keep_alive
        self._last_sent = 0.0  # what the ping rule counts from (see the module docstring)
        self._round_trip = 0.0  # of the last CONNECT/CONNACK or PINGREQ/PINGRESP
        self._connect_sent_at: float | None = None
        self._ping_sent_at: float | None = None

    def start(self, keep_alive: int, now: float) -> None:
        """A new network connection, whose CONNECT was queued at ``now``."""
        self.keep_alive = keep_alive
        self._last_sent = self.last_received = now

    def sent(self, now: float, *, connect: bool, ping: bool) -> None:
        """Packets left at ``now``; ``connect``, ``ping``: a CONNECT, a
        PINGREQ among them. Keep Alive counts from the last packet *sent*
        [MQTT-3.1.2-20] (from the last CONNECT or PINGREQ with
        ``ping_every_keep_alive``)."""
        if connect:
            self._connect_sent_at = now
        if ping and self._ping_sent_at is None:
            self._ping_sent_at = now
        if connect or ping or not self._every:
            self._last_sent = now

    def connack(self, now: float) -> None:
        """CONNACK came at ``now``: a first round trip."""
        if self._connect_sent_at is not None:
            self._round_trip = now - self._connect_sent_at

    def pong(self, now: float) -> None:
        """PINGRESP came at ``now``: the server is alive; time the round trip."""
        if self._ping_sent_at is not None:
            self._round_trip = now - self._ping_sent_at
        self.ping_pending = False
        self._ping_sent_at = None

    def deadline(self, state: ClientState) -> float | None:
        """When the connection in ``state`` must next act, or ``None``.

        CONNECTING: Keep Alive after CONNECT left (waiting for CONNACK).
        CONNECTED: with a PINGREQ out, Keep Alive after it left (we give
        up); else, when a PINGREQ is due: Keep Alive after the last packet
        sent or the last bytes received, whichever is older.
        """
        keep_alive = self.keep_alive
        if keep_alive <= 0:
            return None
        if state is ClientState.CONNECTING:
            sent = self._connect_sent_at
            return None if sent is None else sent + keep_alive
        if state is not ClientState.CONNECTED:
            return None
        if self._ping_sent_at is not None:
            return self._ping_sent_at + keep_alive
        if self.ping_pending:
            return None  # the PINGREQ leaves with the next data_to_send
        last_sent, last_received = self._last_sent, self.last_received
        return (last_sent if last_sent < last_received else last_received) + keep_alive

    def why_dead(self, state: ClientState) -> str | None:
        """At a deadline: why the server is given up on (its answer to our
        CONNECT or PINGREQ did not come within Keep Alive), or ``None`` when
        a PINGREQ is due instead."""
        if state is ClientState.CONNECTING:
            return "no CONNACK within Keep Alive of CONNECT"
        if self._ping_sent_at is not None:
            return "no PINGRESP within Keep Alive of PINGREQ"
        return None

    def overdue(self, now: float) -> bool:
        """Whether our PINGREQ is overdue: nothing heard since it left, for
        twice the last round trip. The link is then not known to be alive."""
        ping = self._ping_sent_at
        return (
            ping is not None
            and self.last_received < ping
            and now - ping > 2.0 * self._round_trip
            and self.keep_alive > 0
        )

    def end(self) -> None:
        """The network connection ended: nothing is awaited any more."""
        self._connect_sent_at = None
        self.ping_pending = False
        self._ping_sent_at = None
