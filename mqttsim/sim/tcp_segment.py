"""TCP segments and the configuration of the simulated TCP.

A :class:`Segment` is what travels on a :class:`~mqttsim.sim.link.Link`: the
header fields a trace or a pcap writer needs, the real payload bytes, and one
field that is not on the wire (``retransmission``) so that metrics can tell a
retransmitted segment from the original.

Header size is a number, not a layout: 20 bytes of IPv4 (RFC 791) plus 20 of
TCP (RFC 9293 §3.1) make the 40-byte default; the TCP timestamps option
(RFC 7323 §3) adds 12, hence 52 on Linux, which negotiates it by default.

A :class:`TcpConfig` is one end's settings. Its *profiles* are the coherent
sets of them (:data:`TCP_PROFILES`), each made with a class method:

* ``TcpConfig.linux()``: TCP as Linux 6.x behaves with its default sysctls
  (RTO ``srtt + max(4·mdev, rto_min)``, timestamps, SACK with RACK-TLP, quick
  ACKs, linear SYN retries, ``tcp_retries2`` give-up, an initial window of
  10 segments with CUBIC's decrease); see
  :mod:`mqttsim.sim.tcp` for each rule and its source.
* ``TcpConfig.rfc6298()``: an RFC-minimal TCP, for teaching the difference:
  RFC 6298's RTO with Karn's rule and a 1 s floor, exponential back-off,
  no fast retransmit and no loss probe, R2 = 100 s (RFC 1122 §4.2.3.5),
  Reno with an initial window of 3 segments (RFC 5681).
* ``TcpConfig.legacy()``: the first model, before the Linux profile (RFC 6298's RTO and
  Karn's rule, no fast retransmit, give-up after 8 retransmissions, no
  congestion control).

``TcpConfig()`` is the :data:`DEFAULT_TCP_PROFILE`'s settings, ``linux``:
the stack the simulator is validated against (docs/validation.md). Any
setting may be changed on top of a profile: ``TcpConfig.linux(nagle=False)``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from mqttsim.protocol.errors import ConfigError

__all__ = [
    "DEFAULT_TCP_PROFILE",
    "TCP_PROFILES",
    "Flag",
    "Segment",
    "TcpConfig",
    "linux_retries_timeout_s",
]


class Flag(enum.IntFlag):
    """TCP control bits (RFC 9293 §3.1). ``Segment.flags`` holds them as an int."""

    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10


# Plain ints for the hot path: IntFlag arithmetic runs Python code per operation
# (and Final, so that compiled code inlines them).
FIN: Final = 0x01
SYN: Final = 0x02
RST: Final = 0x04
PSH: Final = 0x08
ACK: Final = 0x10


@dataclass(slots=True, unsafe_hash=True, init=False)
class Segment:
    """One TCP segment as carried by a link (treat it as read-only but for ``note``).

    Sequence numbers are unbounded Python ints starting from the initial
    sequence number; a pcap writer takes them modulo 2**32 (RFC 9293 §3.4).

    Not frozen: a long run makes millions of segments, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost three
    times as much as plain assignments (bench/sim_pipeline.py). Treat it as
    read-only all the same; ``unsafe_hash`` keeps it hashable by value. The
    ``__init__`` is written out so that mypyc compiles it (see
    :mod:`mqttsim.native`).

    Attributes:
        src_port: sender's port.
        dst_port: receiver's port.
        seq: sequence number of the first octet (or of the SYN/FIN).
        ack: acknowledgement number; meaningful only with the ACK flag.
        flags: control bits, an int made of :class:`Flag` values.
        payload: the data octets (an MQTT byte stream slice).
        header_bytes: IP + TCP header size on the wire.
        window: advertised receive window (a fixed value; see TcpConfig).
        retransmission: True if this is a retransmission (not on the wire).
        note: what a link observer noted of the segment (not on the wire); a
            retransmission carries its original's, so an observer need not
            remember every segment that might be sent again. The packet log
            notes the MQTT packets that start in it.
        tsval: the sender's clock when it sent this copy (RFC 7323 §3 TSval;
            on the wire only with the timestamps option, but always set by
            TcpEndpoint, whose loss detection reads it); -1 if not set.
        tsecr: the timestamp echoed (RFC 7323 §3 TSecr, the sender's
            TS.Recent), -1 without timestamps.
        sack: a selective acknowledgement (RFC 2018), reduced to what the
            model's loss detection uses: the sequence number of the
            out-of-order segment whose arrival this ACK reports (the first
            SACK block, RFC 2018 §4), -1 for none.
    """

    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: int
    payload: bytes
    header_bytes: int
    window: int
    retransmission: bool = False
    note: Any = field(default=None, compare=False, hash=False, repr=False)
    tsval: float = -1.0
    tsecr: float = -1.0
    sack: int = -1

    def __init__(
        self,
        src_port: int,
        dst_port: int,
        seq: int,
        ack: int,
        flags: int,
        payload: bytes,
        header_bytes: int,
        window: int,
        retransmission: bool = False,
        note: Any = None,
        tsval: float = -1.0,
        tsecr: float = -1.0,
        sack: int = -1,
    ) -> None:
        self.src_port = src_port
        self.dst_port = dst_port
        self.seq = seq
        self.ack = ack
        self.flags = flags
        self.payload = payload
        self.header_bytes = header_bytes
        self.window = window
        self.retransmission = retransmission
        self.note = note
        self.tsval = tsval
        self.tsecr = tsecr
        self.sack = sack

    @property
    def size_bytes(self) -> int:
        """Bytes on the wire: headers plus payload."""
        return self.header_bytes + len(self.payload)

    @property
    def seq_len(self) -> int:
        """Sequence space used: payload octets, plus one each for SYN and FIN."""
        return len(self.payload) + (self.flags & SYN) // SYN + (self.flags & FIN)

    @property
    def flag_names(self) -> str:
        """The flags as text, e.g. ``"SYN|ACK"`` (empty if none)."""
        return "|".join(f.name or "" for f in Flag if self.flags & f)


def linux_retries_timeout_s(
    boundary: int, rto_base_s: float = 0.2, rto_max_s: float = 120.0
) -> float:
    """How long Linux keeps retransmitting before ``boundary`` retries are spent.

    Linux's ``tcp_model_timeout()`` (net/ipv4/tcp_timer.c): the time that
    ``boundary`` retransmissions take when backing off from ``rto_base_s``
    (``TCP_RTO_MIN``, 200 ms), doubling up to ``rto_max_s`` (``TCP_RTO_MAX``,
    120 s). ``retransmits_timed_out()`` kills a connection at the first
    expiry at least this long after its first retransmission, whatever the
    real RTOs were. ``tcp_retries2`` = 15 gives 924.6 s.
    """
    ratio = round(rto_max_s / rto_base_s)
    linear_backoff_thresh = ratio.bit_length() - 1  # ilog2(TCP_RTO_MAX / rto_base)
    if boundary <= linear_backoff_thresh:
        return ((2 << boundary) - 1) * rto_base_s
    return ((2 << linear_backoff_thresh) - 1) * rto_base_s + (
        boundary - linear_backoff_thresh
    ) * rto_max_s


#: The settings that make each profile (see the module docstring); every
#: other setting of :class:`TcpConfig` is the same in all of them.
TCP_PROFILES: Final[dict[str, dict[str, Any]]] = {
    # The first model, before the Linux profile.
    "legacy": {
        "mss_bytes": 1460,
        "header_bytes": 40,
        "rto_min_s": 1.0,
        "rto_max_s": 60.0,
        "rto_estimator": "rfc6298",
        "timestamps": False,
        "max_retries": 8,
        "give_up_s": None,
        "syn_retries": 6,
        "syn_linear_timeouts": 0,
        "fast_retransmit": False,
        "sack": False,
        "tail_loss_probe": False,
        "quick_ack": False,
        "delayed_ack_s": 0.04,
        "rst_on_timeout": True,
        "rst_after_close": False,
        "initial_window": None,
        "cwnd_beta": 0.5,
        "timer_hz": 0,
    },
    # Linux 6.x with its default sysctls (Documentation/networking/ip-sysctl.rst).
    "linux": {
        "mss_bytes": 1448,  # 1460 less the 12 bytes of the timestamps option
        "header_bytes": 52,
        "rto_min_s": 0.2,  # TCP_RTO_MIN
        "rto_max_s": 120.0,  # TCP_RTO_MAX
        "rto_estimator": "linux",
        "timestamps": True,  # tcp_timestamps = 1
        "max_retries": 15,  # tcp_retries2
        "give_up_s": linux_retries_timeout_s(15),  # 924.6 s
        "syn_retries": 6,  # tcp_syn_retries
        "syn_linear_timeouts": 4,  # tcp_syn_linear_timeouts (Linux 6.5+)
        "fast_retransmit": True,
        "sack": True,  # tcp_sack = 1, with RACK: tcp_recovery = 1
        "tail_loss_probe": True,  # tcp_early_retrans = 3
        "quick_ack": True,
        "delayed_ack_s": 0.04,  # TCP_ATO_MIN, TCP_DELACK_MIN
        "rst_on_timeout": False,  # tcp_write_err() closes without a RST
        "rst_after_close": True,
        "initial_window": 10,  # TCP_INIT_CWND (RFC 6928)
        "cwnd_beta": 0.7,  # CUBIC, tcp_congestion_control = cubic (RFC 9438 §4.6)
        "timer_hz": 250,  # CONFIG_HZ of Debian's kernels (and of the validation machine)
    },
    # The minimum the RFCs ask for.
    "rfc6298": {
        "mss_bytes": 1460,
        "header_bytes": 40,
        "rto_min_s": 1.0,  # RFC 6298 §2.4
        "rto_max_s": 60.0,  # RFC 6298 §2.5: "at least 60 seconds"
        "rto_estimator": "rfc6298",
        "timestamps": False,
        "max_retries": 8,  # not used: give_up_s decides
        "give_up_s": 100.0,  # RFC 1122 §4.2.3.5: R2 "at least 100 seconds"
        "syn_retries": 7,  # 0, 1, 3, ... 123 s, dead at 183 s: RFC 1122 asks 3 minutes
        "syn_linear_timeouts": 0,
        "fast_retransmit": False,
        "sack": False,
        "tail_loss_probe": False,
        "quick_ack": False,
        "delayed_ack_s": 0.2,  # the BSD value; RFC 1122 §4.2.3.2 asks < 0.5 s
        "rst_on_timeout": False,  # RFC 9293 §3.10.8: flush and close
        "rst_after_close": True,  # RFC 1122 §4.2.2.13
        "initial_window": 3,  # RFC 5681 §3.1, for an MSS of 1095 to 2190 bytes
        "cwnd_beta": 0.5,  # Reno
        "timer_hz": 0,
    },
}

#: The profile whose settings ``TcpConfig()`` has.
DEFAULT_TCP_PROFILE: Final = "linux"
_DEFAULT: Final = TCP_PROFILES[DEFAULT_TCP_PROFILE]


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpConfig:
    """Settings of one TCP end; make them with a profile (see the module docstring).

    ``TcpConfig()`` has the :data:`DEFAULT_TCP_PROFILE`'s settings;
    ``TcpConfig.linux()``, ``TcpConfig.rfc6298()`` and ``TcpConfig.legacy()``
    (or ``TcpConfig.profile(name)``) each profile's, with any changes given.
    Values below are legacy / linux / rfc6298 where they differ.

    Attributes:
        mss_bytes: maximum segment size (payload per segment): 1460 fits a
            1500-byte Ethernet MTU; 1448 with timestamps. Satellite
            terminals often use less.
        header_bytes: IP + TCP header bytes per segment: 40 without options,
            52 with timestamps (RFC 7323).
        window_bytes: the receive window this end advertises, fixed (the
            application always reads); the peer keeps at most this many bytes
            in flight. Values over 65535 stand for a scaled window (RFC 7323
            §2).
        rto_initial_s: RTO before any RTT sample: 1 s (RFC 6298 §2.1, Linux
            ``TCP_TIMEOUT_INIT``).
        rto_min_s: lower bound of the RTO (``"rfc6298"`` estimator) or of its
            variance term (``"linux"``): 1 s per RFC 6298 §2.4; 0.2 s on
            Linux (``TCP_RTO_MIN``).
        rto_max_s: upper bound of the RTO; at least 60 s (RFC 6298 §2.5);
            120 s on Linux (``TCP_RTO_MAX``).
        rto_estimator: ``"rfc6298"``: RTO = max(SRTT + 4·RTTVAR, rto_min)
            (RFC 6298 §2); ``"linux"``: RTO = SRTT + max(4·mdev, rto_min),
            the variance tracked per flight (``tcp_rtt_estimator()``).
        timestamps: the timestamps option (RFC 7323): every ACK of new data
            gives an RTT sample, retransmissions included, so back-off ends
            when a retransmission is acknowledged. Without it Karn's rule
            applies (RFC 6298 §3): one segment timed at a time, never a
            retransmitted one.
        max_retries: retransmissions of one segment before the connection is
            declared dead (a count R2, RFC 9293 §3.8.3), if ``give_up_s`` is
            None; Linux's ``tcp_retries2`` (15) is turned into ``give_up_s``.
        give_up_s: R2 as a time (RFC 1122 §4.2.3.5): the connection dies at
            the first expiry at least this long after its first
            retransmission (Linux ``retransmits_timed_out()``); None counts
            ``max_retries`` instead. 924.6 s on Linux
            (:func:`linux_retries_timeout_s`), 100 s for RFC 1122.
        syn_retries: retransmissions of a SYN or SYN-ACK before giving up
            (Linux ``tcp_syn_retries`` is 6).
        syn_linear_timeouts: SYN retransmissions that keep the initial RTO
            before the back-off starts; they add to ``syn_retries`` (Linux
            ``tcp_syn_linear_timeouts``, 4: SYNs at 0, 1, 2, 3, 4, 5, 7, 11 s ...).
        fast_retransmit: retransmit the oldest segment on the third
            duplicate ACK, then NewReno recovery (RFC 5681 §3.2, RFC 6582).
        sack: acknowledge out-of-order segments selectively (RFC 2018) and
            detect losses by time as RACK does (RFC 8985 §6).
        tail_loss_probe: send a loss probe about 2·SRTT after the last
            transmission (RFC 8985 §7, Linux ``tcp_early_retrans`` = 3).
        nagle: hold small segments while data is unacknowledged (RFC 896,
            RFC 1122 §4.2.3.4); on by default, as without TCP_NODELAY.
        delayed_ack: delay ACKs of in-order data (RFC 1122 §4.2.3.2,
            RFC 5681 §4.2); on by default, as on Linux.
        delayed_ack_s: how long an ACK may wait (the RFCs allow up to
            500 ms); with ``quick_ack`` the starting delay (Linux
            ``TCP_ATO_MIN``, 40 ms), which adapts.
        delayed_ack_max_s: with ``quick_ack``, the longest delay of an
            interactive connection (Linux ``TCP_DELACK_MAX``, 200 ms).
        quick_ack: Linux's delayed-ACK engine: quick-ACK mode at the start
            and after an idle RTO (the first ACKs leave at once), ACK on
            read of a small segment unless the connection is interactive
            (ping-pong), an adaptive delay otherwise.
        time_wait_s: how long the end that closes first lingers to re-ACK a
            lost FIN (2 MSL, RFC 9293 §3.6.1; 60 s on Linux).
        rst_on_timeout: send a RST when the retry limit kills an established
            connection, so the peer may learn of it (it may be lost). Linux
            sends none.
        initial_window: the congestion window at the start, in segments
            (:mod:`~mqttsim.sim.tcp_congestion`): 10 on Linux (RFC 6928), 3
            for RFC 5681; None for no congestion control (legacy).
        cwnd_beta: the window's multiplicative decrease on a loss: 0.7 for
            CUBIC (RFC 9438 §4.6, Linux's default), 0.5 for Reno.
        timer_hz: the retransmission, loss-probe and delayed-ACK timers fire
            as Linux's timer wheel fires them on a kernel with this ``HZ``
            (:func:`~mqttsim.sim.tcp_timers.linux_timer_fires_s`): whole
            jiffies, and up to 32 ms late for an RTO under 2 s at HZ=250,
            256 ms for one under 16 s. 250 on linux; 0 for exact timers.
        rst_after_close: an end closed by its application answers new data
            with a RST and is gone, as is one closed with data unread
            (RFC 1122 §4.2.2.13, RFC 2525 §2.17; Linux ``tcp_close()``,
            ``tcp_rcv_state_process()``).
    """

    mss_bytes: int = _DEFAULT["mss_bytes"]
    header_bytes: int = _DEFAULT["header_bytes"]
    window_bytes: int = 65535
    rto_initial_s: float = 1.0
    rto_min_s: float = _DEFAULT["rto_min_s"]
    rto_max_s: float = _DEFAULT["rto_max_s"]
    rto_estimator: Literal["rfc6298", "linux"] = _DEFAULT["rto_estimator"]
    timestamps: bool = _DEFAULT["timestamps"]
    max_retries: int = _DEFAULT["max_retries"]
    give_up_s: float | None = _DEFAULT["give_up_s"]
    syn_retries: int = _DEFAULT["syn_retries"]
    syn_linear_timeouts: int = _DEFAULT["syn_linear_timeouts"]
    fast_retransmit: bool = _DEFAULT["fast_retransmit"]
    sack: bool = _DEFAULT["sack"]
    tail_loss_probe: bool = _DEFAULT["tail_loss_probe"]
    nagle: bool = True
    delayed_ack: bool = True
    delayed_ack_s: float = _DEFAULT["delayed_ack_s"]
    delayed_ack_max_s: float = 0.2
    quick_ack: bool = _DEFAULT["quick_ack"]
    time_wait_s: float = 60.0
    rst_on_timeout: bool = _DEFAULT["rst_on_timeout"]
    rst_after_close: bool = _DEFAULT["rst_after_close"]
    initial_window: int | None = _DEFAULT["initial_window"]
    cwnd_beta: float = _DEFAULT["cwnd_beta"]
    timer_hz: int = _DEFAULT["timer_hz"]

    def __post_init__(self) -> None:
        if not 0 < self.mss_bytes <= 65495:
            raise ConfigError(f"mss_bytes must be in [1, 65495], got {self.mss_bytes!r}")
        if not 40 <= self.header_bytes <= 120:
            raise ConfigError(f"header_bytes must be in [40, 120], got {self.header_bytes!r}")
        if not 1 <= self.window_bytes <= 2**30:
            raise ConfigError(f"window_bytes must be in [1, 2**30], got {self.window_bytes!r}")
        for name in ("rto_initial_s", "rto_min_s"):
            value = getattr(self, name)
            if not 0.0 < value < math.inf:
                raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")
        if not self.rto_min_s <= self.rto_max_s < math.inf:
            raise ConfigError(f"rto_max_s must be finite and >= rto_min_s, got {self.rto_max_s!r}")
        if self.rto_estimator not in ("rfc6298", "linux"):
            raise ConfigError(
                f'rto_estimator must be "rfc6298" or "linux", got {self.rto_estimator!r}'
            )
        for name in ("max_retries", "syn_retries", "syn_linear_timeouts"):
            value = getattr(self, name)
            if not 0 <= value <= 100:
                raise ConfigError(f"{name} must be in [0, 100], got {value!r}")
        if self.give_up_s is not None and not 0.0 < self.give_up_s < math.inf:
            raise ConfigError(
                f"give_up_s must be None or a finite number > 0, got {self.give_up_s!r}"
            )
        if self.initial_window is not None and not 1 <= self.initial_window <= 1000:
            raise ConfigError(
                f"initial_window must be None or in [1, 1000], got {self.initial_window!r}"
            )
        if self.timer_hz not in (0, 100, 250, 300, 1000):
            raise ConfigError(
                f"timer_hz must be 0 or a kernel HZ (100, 250, 300, 1000), got {self.timer_hz!r}"
            )
        if not 0.0 < self.cwnd_beta < 1.0:
            raise ConfigError(f"cwnd_beta must be in (0, 1), got {self.cwnd_beta!r}")
        for name in ("delayed_ack_s", "delayed_ack_max_s", "time_wait_s"):
            value = getattr(self, name)
            if not 0.0 <= value < math.inf:
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")

    @classmethod
    def profile(cls, name: str, **changes: Any) -> TcpConfig:
        """Profile ``name``'s settings (a key of :data:`TCP_PROFILES`), with ``changes``."""
        settings = TCP_PROFILES.get(name)
        if settings is None:
            raise ConfigError(
                f"unknown TCP profile {name!r}; known: {', '.join(sorted(TCP_PROFILES))}"
            )
        return cls(**{**settings, **changes})

    @classmethod
    def linux(cls, **changes: Any) -> TcpConfig:
        """Linux 6.x with its default sysctls, with ``changes``."""
        return cls.profile("linux", **changes)

    @classmethod
    def rfc6298(cls, **changes: Any) -> TcpConfig:
        """An RFC-minimal TCP (RFC 6298, RFC 5681 without fast retransmit), with ``changes``."""
        return cls.profile("rfc6298", **changes)

    @classmethod
    def legacy(cls, **changes: Any) -> TcpConfig:
        """The first model, before the Linux profile, with ``changes``."""
        return cls.profile("legacy", **changes)
