"""A small TCP for the simulator: handshake, byte stream, RTO, loss recovery, give-up, close.

Theory of operation
-------------------
A :class:`~mqttsim.sim.path.Path` joins a client host to the broker host
with two one-way :class:`~mqttsim.sim.link.Link` objects (``uplink`` client
-> broker, ``downlink`` broker -> client) and a
:class:`~mqttsim.sim.path.TcpListener` on the broker side.
``path.connect()`` opens a connection; ``listener.accept()`` hands over the
broker's end. Each end is a :class:`TcpEndpoint` (this module): bytes in with
``send()``, bytes out with ``recv()`` events. No SimPy process runs per
connection: an arriving segment is a callback, and the timers are
:class:`~mqttsim.sim.tcp_timers.Timer` objects.

Each end follows its :class:`~mqttsim.sim.tcp_segment.TcpConfig`, made from
a profile: ``TcpConfig.linux()`` (Linux 6.x, what ``TcpConfig()`` gives),
``TcpConfig.rfc6298()`` (the RFCs' minimum) or ``TcpConfig.legacy()`` (the
first model, before the Linux profile). Below, a rule marked with a setting applies
when that setting is on (the profiles that have it in brackets).

States follow RFC 9293 §3.3.2 (LISTEN lives in the listener). What is
modelled, and the choices made:

* **Handshake** (RFC 9293 §3.5): SYN, SYN-ACK, ACK. The client may send once
  the SYN-ACK arrives (1 RTT); its data reaches the broker after 1.5 RTT. The
  SYN and SYN-ACK are retransmitted with the back-off below, ``syn_retries``
  times, then the attempt fails (:class:`ConnectionFailed`). With
  ``syn_linear_timeouts`` = 4 (linux) the first retransmissions of a SYN
  keep the initial 1 s RTO and count on top of ``syn_retries``, as Linux
  6.5+ does (``tcp_syn_linear_timeouts``, tcp_timer.c): SYNs at 0, 1, 2, 3,
  4, 5, 7, 11, 19, 35 and 67 s, failure at 131 s. A SYN repeated by the
  peer is answered with the SYN-ACK again, whose timeout then counts from
  that moment (Linux ``tcp_check_req()``).
* **Segments** keep their boundaries forever: a retransmission resends the
  very same octets (never re-segmented), so acknowledgements always fall on
  segment boundaries. Sequence numbers are unbounded ints from the ISN.
  Every segment carries its send time (``tsval``).
* **Acknowledgements** are cumulative (RFC 9293 §3.4). Out-of-order segments
  are kept and answered at once with a duplicate ACK (RFC 5681 §4.2). With
  ``sack`` (linux) that ACK also reports the segment that arrived (the first
  SACK block, RFC 2018 §4; the model carries no other block), even when the
  segment was already held: Linux reports it with a D-SACK (RFC 2883), and
  either tells the sender which data arrived.
* **Retransmission timeout**: SRTT/RTTVAR, initial 1 s, bounded by
  ``rto_min_s`` and ``rto_max_s``, computed as RFC 6298 §2 says
  (``rto_estimator="rfc6298"``: max(SRTT + 4·RTTVAR, rto_min)) or as Linux
  does (``"linux"``: SRTT + max(4·mdev, rto_min); see
  :mod:`~mqttsim.sim.tcp_timers`). Without ``timestamps`` one segment is
  timed at a time and none that was retransmitted (Karn, RFC 6298 §3); with
  them (linux) every ACK of new data is timed by its TSecr (RFC 7323 §4), a
  retransmission's too, so a backed-off RTO ends with the first acknowledged
  retransmission; the receiver echoes TS.Recent by RFC 7323 §4.3. The timer
  is restarted on each new ACK (RFC 6298 §5.3); on expiry the *oldest*
  unacknowledged segment alone is retransmitted (§5.4) and the RTO doubles
  (§5.5). After a SYN timed out the RTO is at least 3 s when data starts
  (§5.7); Linux does so only if the handshake gave no RTT sample
  (``tcp_init_metrics()``). With ``timer_hz`` (linux: 250) every TCP timer
  fires when Linux's timer wheel would, in whole jiffies and rounded up to
  its level's granularity (:func:`~mqttsim.sim.tcp_timers.linux_timer_fires_s`):
  an RTO of 0.76 s fires up to 32 ms late, a backed-off one of 3 s up to
  256 ms late; simulated time 0 is jiffy 0.
* **Loss recovery** (:mod:`~mqttsim.sim.tcp_recovery`). An ACK that advances
  but leaves data sent before a timeout or fast retransmit unacknowledged
  retransmits the next oldest segment at once (NewReno's partial ACK, RFC
  6582 §3.2). With ``fast_retransmit`` (linux) the third duplicate ACK starts
  that recovery (RFC 5681 §3.2); with ``sack`` (linux) RACK finds a loss by
  time once a later segment is delivered (RFC 8985 §6); with
  ``tail_loss_probe`` (linux) a probe leaves about 2·SRTT after the last
  ACK if that is sooner than the RTO (RFC 8985 §7).
* **Give-up**: after ``max_retries`` retransmissions of one segment, the next
  expiry kills the connection (RFC 9293 §3.8.3 R2 as a count); with
  ``give_up_s`` (linux, rfc6298), the first expiry at least that long after
  the first retransmission does (R2 as a time, RFC 1122 §4.2.3.5; Linux
  ``retransmits_timed_out()``, 924.6 s for ``tcp_retries2`` = 15). Its end
  closes with reason ``"timeout"`` and sends a RST if ``rst_on_timeout``
  (legacy; Linux sends none), which may be lost. The peer learns of it
  from that RST (``"reset"``), from a RST that the dead end's host returns
  to its next segment (RFC 9293 §3.10.7.1), or from its own retries running
  out (``"timeout"``). An idle peer learns nothing:
  there is no TCP keep-alive (off by default on Linux); MQTT's keep-alive is
  what notices a silent dead connection.
* **Nagle** (RFC 896, RFC 1122 §4.2.3.4): a segment smaller than the MSS
  waits while any data is unacknowledged. **Delayed ACK** (RFC 1122
  §4.2.3.2, RFC 5681 §4.2): in-order data is acknowledged after
  ``delayed_ack_s``, at once when more than one MSS is waiting (so at least
  every second full-sized segment), or on any segment we send anyway. With
  ``quick_ack`` (linux) Linux's rules decide (:mod:`~mqttsim.sim.tcp_ack`):
  quick ACKs at the start, ACK on read of a small segment unless
  interactive, an adaptive delay.
* **Windows**: each end advertises a fixed receive window (``window_bytes``),
  and the peer's bounds the bytes in flight; the application always reads,
  so it never shrinks. With ``initial_window`` (linux, rfc6298) a congestion
  window bounds the *segments* in flight: slow start, congestion avoidance,
  the decrease on a loss, one segment after a timeout, a restart after idle
  (:mod:`~mqttsim.sim.tcp_congestion`). A tail-loss probe and the
  retransmissions of recovery leave whatever the window says, as on Linux.
* **Close** (RFC 9293 §3.6): FIN after the queued data (Nagle no longer
  holds anything back); half-close works (an end may keep sending after the
  peer's FIN). The end that closes first lingers in TIME-WAIT for
  ``time_wait_s`` to re-ACK a lost FIN, ignoring RSTs there (RFC 1337), and
  gives up waiting for the peer's FIN after as long in FIN-WAIT-2 (Linux
  ``tcp_fin_timeout``). With ``rst_after_close`` (linux, rfc6298) ``close()``
  is close(2), not shutdown(2): new data reaching the closed end is answered
  with a RST and the end is gone (RFC 1122 §4.2.2.13; Linux
  ``tcp_rcv_state_process()``), and ``close()`` with data unread sends a RST
  instead of a FIN (RFC 2525 §2.17, Linux ``tcp_close()``). An end that no
  longer exists is answered with a RST by its host (RFC 9293 §3.10.7.1, in
  :class:`~mqttsim.sim.path.Path`).
* **Left out**: CUBIC's growth function and proportional rate reduction
  (see :mod:`~mqttsim.sim.tcp_congestion`), SACK blocks beyond the first and a SACK
  scoreboard (RACK looks at the oldest segment only; later holes are found
  by partial ACKs), the use of D-SACKs beyond reporting data (reordering
  windows, undo), F-RTO and undo of spurious retransmissions,
  window scaling and zero windows, urgent data, PAWS, RST validation
  (RFC 5961), ``tcp_synack_retries`` (a SYN-ACK is retried
  ``syn_retries`` times), 32-bit sequence wrap.

The user's view: ``recv()`` returns an event that fires with the next bytes
in order, or with ``b""`` once no more bytes will ever come (orderly close by
the peer, time-out, reset or abort). The ``closed`` event fires once with the
reason: ``"closed"``, ``"timeout"``, ``"reset"`` or ``"aborted"``. Events
never fail, except the one ``connect()`` returns (:class:`ConnectionFailed`).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from typing import Final, Literal

import simpy

from mqttsim.protocol.errors import MQTTError

from .immediate import immediate, triggered
from .link import Link
from .tcp_ack import AckClock
from .tcp_congestion import CongestionWindow
from .tcp_recovery import RTO, LossDetector, Retransmitter
from .tcp_segment import ACK, FIN, PSH, RST, SYN, Flag, Segment, TcpConfig
from .tcp_timers import RtoEstimator, Timer

__all__ = [
    "CloseReason",
    "ConnectionClosed",
    "ConnectionFailed",
    "Flag",
    "Segment",
    "TcpConfig",
    "TcpEndpoint",
    "TcpState",
]

CloseReason = Literal["closed", "timeout", "reset", "aborted"]


class TcpState(enum.Enum):
    """Connection states of RFC 9293 §3.3.2 (LISTEN is the listener's)."""

    CLOSED = "CLOSED"
    SYN_SENT = "SYN-SENT"
    SYN_RECEIVED = "SYN-RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN-WAIT-1"
    FIN_WAIT_2 = "FIN-WAIT-2"
    CLOSE_WAIT = "CLOSE-WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST-ACK"
    TIME_WAIT = "TIME-WAIT"


_S = TcpState
_CAN_SEND: Final = (_S.ESTABLISHED, _S.CLOSE_WAIT)  # states that may send new data
_CAN_RECEIVE: Final = (_S.ESTABLISHED, _S.FIN_WAIT_1, _S.FIN_WAIT_2)  # peer has not sent FIN
_SYNCHRONIZING: Final = (_S.SYN_SENT, _S.SYN_RECEIVED)
# RFC 6298 §5.7: after a SYN timed out, the RTO starts data transfer at 3 s.
_RTO_AFTER_SYN_TIMEOUT_S: Final = 3.0


class ConnectionFailed(MQTTError):
    """A connection attempt failed.

    Args:
        reason: ``"timeout"`` (no answer after ``syn_retries``) or ``"reset"``.
    """

    def __init__(self, reason: str) -> None:
        # SimPy re-creates a failure from its args when throwing it into a
        # process, so the args are exactly the constructor's.
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"TCP connection failed: {self.reason}"


class ConnectionClosed(MQTTError):
    """``send()`` on an end that can no longer send (closed or closing)."""


class TcpEndpoint(Retransmitter):
    """One end of a simulated TCP connection. Made by Path and TcpListener.

    Attributes:
        env: the SimPy environment.
        config: this end's settings.
        local_port: this end's port.
        remote_port: the peer's port.
        state: the current :class:`TcpState`.
        opened: event that fires with this endpoint once established (fails
            with ConnectionFailed if that never happens; never crashes the
            simulation when nobody waits on it).
        closed: event that fires once with the :data:`CloseReason`.
        close_reason: the reason, or None while the connection lives.
        retransmissions: segments this end has retransmitted (SYN and FIN included).
        data_retransmissions: those of them that carried data (what a capture
            counts as retransmitted data segments).
        segments_sent, bytes_sent: segments this end put on its link, and
            their bytes with headers (retransmissions included).
        owner: a label set by the path (the client's name).
        snd_una: oldest unacknowledged sequence number (RFC 9293 §3.3.1).
        snd_nxt: next sequence number to send.
        rcv_nxt: next sequence number expected from the peer.
    """

    def __init__(
        self,
        env: simpy.Environment,
        *,
        config: TcpConfig,
        link: Link,
        local_port: int,
        remote_port: int,
        iss: int,
        on_forget: Callable[[TcpEndpoint], None],
        on_established: Callable[[TcpEndpoint], None] | None = None,
    ) -> None:
        self.env = env
        self.config = config
        self.local_port = local_port
        self.remote_port = remote_port
        self.state = TcpState.CLOSED
        self.opened = env.event()
        self.opened.defused = True  # a failed connect nobody awaits is not a crash
        self.closed = env.event()
        self.close_reason: CloseReason | None = None
        self.retransmissions = 0
        self.data_retransmissions = 0
        self.segments_sent = 0
        self.bytes_sent = 0
        self.owner = ""
        self._link = link
        self._on_forget = on_forget
        self._on_established = on_established
        self._iss = iss
        self.snd_una = self.snd_nxt = iss  # RFC 9293 §3.3.1 send variables
        self.rcv_nxt = 0
        self._snd_wnd = config.window_bytes  # SND.WND: the peer's window, once heard
        self._unsent = bytearray()
        self._retx: deque[Segment] = deque()  # sent, not yet acknowledged
        self._fin_queued = False
        self._fin_sent = False
        self._ooo: dict[int, Segment] = {}  # out-of-order segments by seq
        self._rcvbuf: list[bytes] = []
        self._eof = False
        self._recv_ev: simpy.Event | None = None
        self._rto = RtoEstimator(
            initial_s=config.rto_initial_s,
            min_s=config.rto_min_s,
            max_s=config.rto_max_s,
            linux=config.rto_estimator == "linux",
        )
        self._retries = 0
        self._timed: tuple[int, float] | None = None  # (seq to be acked, sent at)
        self._recover = iss  # snd_nxt when the RTO or a fast retransmit last fired
        self._syn_timed_out = False
        self._rcv_unacked = 0  # in-order bytes received, not yet acknowledged
        self._ack_now = False
        self._rtx_timer = Timer(env, self._on_rtx_timer, config.timer_hz)
        self._timer_for = RTO  # what _rtx_timer is set for
        self._rto_at = 0.0  # when the RTO expires while _rtx_timer waits for less
        self._retrans_stamp = -1.0  # first retransmission not yet acknowledged
        self._timestamps = config.timestamps
        self._ts_recent = -1.0  # RFC 7323 §4.3 TS.Recent
        self._last_ack_sent = 0  # RFC 7323 §4.3 Last.ACK.sent
        self._sack = config.sack
        self._sack_out = -1  # the SACK our next segment carries
        self._sacked: set[int] = set()  # outstanding segments the peer has SACKed
        self._fast_retransmit = config.fast_retransmit
        self._tlp = config.tail_loss_probe
        self._detect = self._fast_retransmit or self._sack or self._tlp
        self._loss = LossDetector(rto_min_s=config.rto_min_s, initial_s=config.rto_initial_s)
        self._probe_high = -1  # Linux tlp_high_seq: snd_nxt after a probe, until acked
        self._ack_clock: AckClock | None = None
        if config.quick_ack:
            self._ack_clock = AckClock(
                ato_min_s=config.delayed_ack_s,
                delack_max_s=config.delayed_ack_max_s,
                mss=config.mss_bytes,
                window=config.window_bytes,
            )
        self._cc: CongestionWindow | None = None
        if config.initial_window is not None:
            self._cc = CongestionWindow(config.initial_window, config.cwnd_beta)
        self._fast_recovery = False  # the window may not grow until it ends
        self._syn_retransmissions = 0
        self._ack_timer = Timer(env, self._send_ack, config.timer_hz)
        self._linger = Timer(env, self._on_linger_timeout, config.timer_hz)  # FIN-WAIT-2, TIME-WAIT
        self._immediate = immediate(env)  # readers wake without a trip through the queue
        self._header_bytes = config.header_bytes
        self._mss = config.mss_bytes
        self._nagle = config.nagle
        self._window_bytes = config.window_bytes

    # -- the user's API ---------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True while ``send()`` is allowed (established, and close() not called)."""
        return self.state in _CAN_SEND and not self._fin_queued

    @property
    def rto_s(self) -> float:
        """The current retransmission timeout."""
        return self._rto.rto_s

    @property
    def srtt_s(self) -> float | None:
        """The smoothed RTT, None before the first sample."""
        return self._rto.srtt_s

    @property
    def send_buffer_bytes(self) -> int:
        """Bytes written but not yet acknowledged (unsent plus in flight)."""
        return len(self._unsent) + sum(len(s.payload) for s in self._retx)

    def send(self, data: bytes) -> None:
        """Append ``data`` to the byte stream; never blocks.

        Raises:
            ConnectionClosed: if the connection cannot send (see is_open).
        """
        if not self.is_open:
            raise ConnectionClosed(
                f"send() in state {self.state.value}"
                + (" after close()" if self._fin_queued else "")
                + "; allowed only in ESTABLISHED or CLOSE-WAIT"
            )
        if not data:
            return
        if not self._unsent:
            # What _output() would do with ``data`` alone when it fits one
            # segment that may leave now (the usual case: an MQTT write is
            # small), without copying it through the send buffer.
            n = len(data)
            flight = self.snd_nxt - self.snd_una
            cc = self._cc
            if (
                n <= self._mss
                and n <= self._snd_wnd - flight
                and (n == self._mss or not flight or not self._nagle)
                and (cc is None or cc.can_send(len(self._retx)))
            ):
                self._send_new(ACK | PSH, data if type(data) is bytes else bytes(data))
                return
        self._unsent += data
        self._output()

    def recv(self) -> simpy.Event:
        """Return an event firing with the next in-order bytes, b"" at the end.

        While a returned event has not fired, calling recv() again returns the
        same event, so ``yield ep.recv() | env.timeout(t)`` in a loop loses
        nothing.
        """
        ev = self._recv_ev
        if ev is not None and not triggered(ev):
            return ev
        ev = self._recv_ev = self.env.event()
        self._wake_reader()
        return ev

    def close(self) -> None:
        """Orderly close: send a FIN after the data already written.

        With ``rst_after_close``, close(2) rather than shutdown(2): bytes
        received and not yet read make it a RST (RFC 2525 §2.17, Linux
        ``tcp_close()``), and so does new data arriving later.
        """
        if self.state in _CAN_SEND and not self._fin_queued:
            if self._rcvbuf and self.config.rst_after_close:
                self._die("aborted", send_rst=True)
                return
            self._fin_queued = True
            self._output()

    def abort(self) -> None:
        """Local death: drop everything, send a RST, close with ``"aborted"``."""
        if self.state is TcpState.TIME_WAIT:
            self._forget()
        elif self.state is not TcpState.CLOSED:
            self._die("aborted", send_rst=self.state not in _SYNCHRONIZING)

    # -- opening ----------------------------------------------------------

    def _open_active(self) -> None:
        self.state = TcpState.SYN_SENT
        self._send_new(SYN, b"")

    def _open_passive(self, syn: Segment) -> None:
        self.state = TcpState.SYN_RECEIVED
        self.rcv_nxt = syn.seq + 1
        self._ts_recent = syn.tsval  # RFC 7323 §3.2
        self._send_new(SYN | ACK, b"")

    def _establish(self) -> None:
        self.state = TcpState.ESTABLISHED
        if self._cc is not None and self._syn_retransmissions > 1:
            self._cc.syn_retransmitted()  # Linux tcp_init_transfer()
        if self._syn_timed_out and (self.config.rto_estimator != "linux" or self.srtt_s is None):
            self._rto.at_least(_RTO_AFTER_SYN_TIMEOUT_S)
        self.opened.succeed(self)
        if self._on_established is not None:
            self._on_established(self)

    # -- segments in --------------------------------------------------------

    def _receive(self, seg: Segment) -> None:
        """Process one arriving segment (RFC 9293 §3.10.7, much simplified)."""
        flags = seg.flags
        state = self.state
        if flags & RST:
            if state is not TcpState.TIME_WAIT:
                self._die("reset", send_rst=False)
            return
        self._snd_wnd = seg.window
        if state is TcpState.SYN_SENT:
            if flags & SYN and flags & ACK and seg.ack == self._iss + 1:
                self.rcv_nxt = seg.seq + 1
                self._ts_recent = seg.tsval  # RFC 7323 §3.2
                self._ack_received(seg)
                self._establish()
                self._ack_now = True  # the handshake's third segment
                self._output()
                self._flush_ack()
            return
        if flags & SYN:
            if state is TcpState.SYN_RECEIVED:
                # The peer repeated its SYN: repeat ours, and count its timeout
                # from now (Linux tcp_check_req(): inet_rtx_syn_ack(), mod_timer_pending()).
                self._retransmit(0)
                self._rto_at = self._immediate.now() + self._rto.rto_s
                self._rtx_timer.set_at(self._rto_at)
            else:
                self._emit(self.snd_nxt, ACK)  # our ACK of its SYN-ACK was lost
            return
        if not flags & ACK:
            return  # RFC 9293 §3.10.7.4, fifth check: drop segments without ACK
        if self._timestamps and seg.tsval >= self._ts_recent and seg.seq <= self._last_ack_sent:
            self._ts_recent = seg.tsval  # RFC 7323 §4.3 (2)
        if state is TcpState.SYN_RECEIVED:
            if seg.ack != self._iss + 1:
                return
            self._ack_received(seg)
            self._establish()
        else:
            self._ack_received(seg)
        if self.state is TcpState.CLOSED:
            return
        if (seg.payload or flags & FIN) and not self._data_received(seg):
            return  # answered with a RST
        self._output()
        self._flush_ack()

    def _ack_received(self, seg: Segment) -> None:
        ack = seg.ack
        if not self.snd_una < ack <= self.snd_nxt:
            if (
                ack == self.snd_una
                and self._detect
                and self._retx
                and not seg.payload
                and not seg.flags & (SYN | FIN)
            ):
                self._duplicate_ack(seg)  # RFC 5681 §2 "DUPLICATE ACKNOWLEDGMENT"
            return  # duplicate or not for anything we sent
        now = self._immediate.now()
        retx = self._retx
        in_flight = len(retx)
        newest: Segment | None = None  # the last segment this ACK covers
        while retx and retx[0].seq + retx[0].seq_len <= ack:
            newest = retx.popleft()
        self.snd_una = ack
        if self._sacked:
            self._sacked = {seq for seq in self._sacked if seq >= ack}
        cc = self._cc
        if cc is not None:
            if ack >= self._recover:
                self._fast_recovery = False
            if not self._fast_recovery:
                cc.acknowledged(in_flight - len(retx), in_flight)
        self._retries = 0
        if ack >= self._recover:
            self._retrans_stamp = -1.0  # no retransmitted data left unacknowledged
        if self._timestamps and seg.tsecr >= 0.0:
            # RFC 7323 §4.1: TSecr times the ACK, even of a retransmission.
            self._rto.sample(now - seg.tsecr, ack, self.snd_nxt)
        else:
            timed = self._timed
            if timed is not None and ack >= timed[0]:
                self._rto.sample(now - timed[1], ack, self.snd_nxt)
                self._timed = None
        if self._detect and newest is not None:
            self._loss.dupacks = 0
            self._loss.delivered(now, newest)
            if 0 <= self._probe_high <= ack:
                self._probe_high = -1  # the probe's episode is over (tcp_process_tlp_ack())
        if ack == self.snd_nxt:
            self._rtx_timer.stop()  # RFC 6298 §5.2
            if self._fin_sent:
                self._fin_acked()
            return
        if ack < self._recover:
            self._retransmit(0)  # RFC 6582 §3.2 step 3: a partial ACK, the next hole
        if self._detect:
            self._set_xmit_timer(now, restart=True)
        else:
            self._rtx_timer.set_at(now + self._rto.rto_s)  # RFC 6298 §5.3

    def _fin_acked(self) -> None:
        state = self.state
        if state is TcpState.FIN_WAIT_1:
            self.state = TcpState.FIN_WAIT_2
            # Do not wait for the peer's FIN forever (Linux tcp_fin_timeout).
            self._linger.start(self.config.time_wait_s)
        elif state is TcpState.CLOSING:
            self._enter_time_wait()
        elif state is TcpState.LAST_ACK:
            self.state = TcpState.CLOSED
            self._report_closed("closed")
            self._forget()

    def _data_received(self, seg: Segment) -> bool:
        """Take in a segment's data and FIN; False if that ended the connection."""
        if (
            self._fin_queued
            and seg.seq + len(seg.payload) > self.rcv_nxt
            and self.config.rst_after_close
        ):
            # New data for an application that closed: RFC 1122 §4.2.2.13, Linux
            # tcp_rcv_state_process() in FIN-WAIT ("RFC 1122 says we MUST send a reset").
            self._die("aborted", send_rst=True)
            return False
        if self.state not in _CAN_RECEIVE or seg.seq != self.rcv_nxt:
            if self.state in _CAN_RECEIVE and seg.seq > self.rcv_nxt:
                if self._sack:
                    # RFC 2018 §4: report the block of the segment just arrived, even
                    # one already held (Linux adds a D-SACK for it, RFC 2883 §4).
                    self._sack_out = seg.seq
                self._ooo.setdefault(seg.seq, seg)  # keep it until the hole fills
            if seg.seq < self.rcv_nxt and self._ack_clock is not None:
                self._ack_clock.duplicate_in()
            self._ack_now = True  # duplicate or out of order: ACK at once
            return True
        had_hole = bool(self._ooo)
        self._accept(seg)
        while self._ooo and self.state in _CAN_RECEIVE:
            nxt = self._ooo.pop(self.rcv_nxt, None)
            if nxt is None:
                break
            self._accept(nxt)
        cfg = self.config
        clock = self._ack_clock
        if clock is not None and cfg.delayed_ack and seg.payload:
            self._rcv_unacked += len(seg.payload)
            delay = clock.data_in(
                self._immediate.now(),
                len(seg.payload),
                self._rcv_unacked,
                self._rto.rto_s,
                self._rto.srtt_s,
            )
            if had_hole or self._eof or delay == 0.0:
                self._ack_now = True
            else:
                self._delay_ack(delay)
        elif had_hole or self._eof or not cfg.delayed_ack:
            self._ack_now = True
        else:
            self._rcv_unacked += len(seg.payload)
            if self._rcv_unacked > cfg.mss_bytes:
                self._ack_now = True  # at least every second full-sized segment
            elif not self._ack_timer.running:
                self._ack_timer.start(cfg.delayed_ack_s)
        self._wake_reader()
        return True

    def _accept(self, seg: Segment) -> None:
        if seg.payload:
            self.rcv_nxt += len(seg.payload)
            self._rcvbuf.append(seg.payload)
        if seg.flags & FIN:
            self.rcv_nxt += 1
            self._eof = True
            state = self.state
            if state is TcpState.ESTABLISHED:
                self.state = TcpState.CLOSE_WAIT
            elif state is TcpState.FIN_WAIT_1:
                self.state = TcpState.CLOSING
            else:  # FIN-WAIT-2
                self._enter_time_wait()

    def _wake_reader(self) -> None:
        ev = self._recv_ev
        if ev is None or triggered(ev):
            return
        if self._rcvbuf:
            data = self._rcvbuf[0] if len(self._rcvbuf) == 1 else b"".join(self._rcvbuf)
            self._rcvbuf.clear()
            self._immediate.succeed(ev, data)
        elif self._eof:
            self._immediate.succeed(ev, b"")

    # -- segments out -------------------------------------------------------

    def _output(self) -> None:
        """Send what Nagle and the window allow, then a queued FIN."""
        if not self._unsent and (self._fin_sent or not self._fin_queued):
            return  # the common case on every ACK: nothing waiting
        if self.state not in _CAN_SEND:
            return
        cfg = self.config
        unsent = self._unsent
        mss = cfg.mss_bytes
        cc = self._cc
        off = 0
        while off < len(unsent):
            if cc is not None and not cc.can_send(len(self._retx)):
                break  # the congestion window is full
            flight = self.snd_nxt - self.snd_una
            n = min(mss, len(unsent) - off, self._snd_wnd - flight)
            if n <= 0:
                break  # the peer's window is full
            if n < mss and flight and cfg.nagle and not self._fin_queued:
                break  # RFC 896: hold a small segment while data is unacknowledged
            off += n
            self._send_new(ACK | PSH if off == len(unsent) else ACK, bytes(unsent[off - n : off]))
        if off:
            del unsent[:off]
        if self._fin_queued and not unsent and not self._fin_sent:
            self._fin_sent = True
            self._send_new(FIN | ACK, b"")
            self.state = _S.FIN_WAIT_1 if self.state is _S.ESTABLISHED else _S.LAST_ACK

    def _send_new(self, flags: int, payload: bytes) -> None:
        if payload and self._cc is not None:
            self._cc.data_sent(self._immediate.now(), len(self._retx), self._rto.rto_s)
        self._transmit(flags, payload)
        timer = self._rtx_timer
        if self._detect:
            now = self._immediate.now()
            if self._timed is None:
                self._timed = (self.snd_nxt, now)
            self._set_xmit_timer(now, restart=timer.deadline_s is None)  # RFC 6298 §5.1
            return
        if self._timed is None or timer.deadline_s is None:
            now = self._immediate.now()
            if self._timed is None:
                self._timed = (self.snd_nxt, now)
            if timer.deadline_s is None:  # not running
                timer.set_at(now + self._rto.rto_s)  # RFC 6298 §5.1

    def _transmit(self, flags: int, payload: bytes) -> None:
        seg = self._emit(self.snd_nxt, flags, payload)
        self._retx.append(seg)
        self.snd_nxt += seg.seq_len
        if payload and self._ack_clock is not None:
            self._ack_clock.data_out(seg.tsval)

    def _emit(
        self,
        seq: int,
        flags: int,
        payload: bytes = b"",
        retransmission: bool = False,
        note: object = None,
    ) -> Segment:
        if flags & ACK:
            if self._ack_clock is not None:
                self._ack_clock.ack_out(self._rcv_unacked > 0)
            self._ack_timer.deadline_s = None  # stop(): this segment carries the ACK
            self._rcv_unacked = 0
            self._ack_now = False
            self._last_ack_sent = self.rcv_nxt
        header = self._header_bytes
        seg = Segment(  # positional: this is the hot path of the whole model
            self.local_port,
            self.remote_port,
            seq,
            self.rcv_nxt if flags & ACK else 0,
            flags,
            payload,
            header,
            self._window_bytes,
            retransmission,
            note,
            self._immediate.now(),
            self._ts_recent if self._timestamps else -1.0,
            self._sack_out,
        )
        self._sack_out = -1
        size = header + len(payload)
        self.segments_sent += 1
        self.bytes_sent += size
        self._link.send(seg, size)
        return seg

    def _flush_ack(self) -> None:
        if self._ack_now:
            self._emit(self.snd_nxt, ACK)

    def _delay_ack(self, delay_s: float) -> None:
        """Let the ACK wait ``delay_s``, not past a sooner deadline (``tcp_send_delayed_ack()``)."""
        timer = self._ack_timer
        now = self._immediate.now()
        deadline = timer.deadline_s
        if deadline is not None:
            if deadline <= now + delay_s / 4:
                self._ack_now = True  # about to expire anyway: now
                return
            if deadline <= now + delay_s:
                return
        timer.set_at(now + delay_s)

    def _send_ack(self) -> None:
        """The delayed-ACK timer fired."""
        if self.state is not TcpState.CLOSED:
            if self._ack_clock is not None:
                self._ack_clock.timer_fired(self._rto.rto_s)
            self._emit(self.snd_nxt, ACK)

    def _on_rtx_timeout(self) -> None:
        if not self._retx:
            return
        cfg = self.config
        state = self.state
        now = self._immediate.now()
        synchronizing = state in _SYNCHRONIZING
        if synchronizing:
            # Linux tcp_write_timeout(): the linear SYN timeouts come on top of the retries.
            linear = cfg.syn_linear_timeouts if state is TcpState.SYN_SENT else 0
            dead = self._retries >= cfg.syn_retries + linear
        elif cfg.give_up_s is not None:
            # R2 as a time (RFC 1122 §4.2.3.5), as Linux's retransmits_timed_out().
            dead = self._retries > 0 and now - self._retrans_stamp >= cfg.give_up_s
        else:
            dead = self._retries >= cfg.max_retries
        if dead:
            self._die("timeout", send_rst=cfg.rst_on_timeout and not synchronizing)
            return
        if synchronizing:
            self._syn_retransmissions += 1
        elif self._cc is not None:
            self._cc.timed_out(first=self._retries == 0)
            self._fast_recovery = False
        self._retries += 1
        self._syn_timed_out |= synchronizing
        if self._retrans_stamp < 0.0:
            self._retrans_stamp = now
        if state is not TcpState.SYN_SENT or self._retries > cfg.syn_linear_timeouts:
            self._rto.back_off()  # RFC 6298 §5.5 (Linux: not for the first SYN timeouts)
        self._recover = self.snd_nxt
        self._loss.dupacks = 0
        self._probe_high = -1
        self._retransmit(0)  # §5.4
        self._rto_at = now + self._rto.rto_s
        self._rtx_timer.start(self._rto.rto_s)  # §5.6

    # -- the end ------------------------------------------------------------

    def _enter_time_wait(self) -> None:
        self.state = TcpState.TIME_WAIT
        self._rtx_timer.stop()
        self._report_closed("closed")
        self._linger.start(self.config.time_wait_s)

    def _on_linger_timeout(self) -> None:
        """TIME-WAIT is over, or the peer never sent its FIN in FIN-WAIT-2."""
        self._report_closed("closed")
        self._forget()

    def _die(self, reason: CloseReason, *, send_rst: bool) -> None:
        if send_rst:
            self._emit(self.snd_nxt, RST)  # RFC 9293 §3.10.7: <SEQ=SND.NXT><CTL=RST>
        self.state = TcpState.CLOSED
        self._rtx_timer.stop()
        self._ack_timer.stop()
        self._retx.clear()
        self._unsent.clear()
        self._eof = True
        self._report_closed(reason)
        self._forget()

    def _report_closed(self, reason: CloseReason) -> None:
        if self.close_reason is not None:
            return
        self.close_reason = reason
        if not triggered(self.opened):
            self.opened.fail(ConnectionFailed(reason))
        self.closed.succeed(reason)
        self._eof = True
        self._wake_reader()

    def _forget(self) -> None:
        self.state = TcpState.CLOSED
        self._ack_timer.stop()
        self._linger.stop()
        self._on_forget(self)
