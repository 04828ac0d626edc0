"""TCP segments and the configuration of the simulated TCP.

A :class:`Segment` is what travels on a :class:`~mqttsim.sim.link.Link`: the
header fields a trace or a pcap writer needs, the real payload bytes, and one
field that is not on the wire (``retransmission``) so that metrics can tell a
retransmitted segment from the original.

Header size is a number, not a layout: 20 bytes of IPv4 (RFC 791) plus 20 of
TCP (RFC 9293 §3.1) make the 40-byte default; the TCP timestamps option
(RFC 7323 §3) adds 12, hence 52 on Linux, which negotiates it by default.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Final

from mqttsim.protocol.errors import ConfigError

__all__ = ["Flag", "Segment", "TcpConfig"]


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


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpConfig:
    """Settings of one TCP end. Defaults follow the RFCs and Linux.

    Attributes:
        mss_bytes: maximum segment size (payload per segment). 1460 fits a
            1500-byte Ethernet MTU; satellite terminals often use less.
        header_bytes: IP + TCP header bytes per segment: 40 without options,
            52 with timestamps (RFC 7323).
        window_bytes: the receive window this end advertises, fixed (the
            application always reads); the peer keeps at most this many bytes
            in flight. Values over 65535 stand for a scaled window (RFC 7323
            §2). There is no congestion control.
        rto_initial_s: RTO before any RTT sample: 1 s (RFC 6298 §2.1).
        rto_min_s: lower bound of the RTO: 1 s per RFC 6298 §2.4; Linux
            uses 0.2 s.
        rto_max_s: upper bound of the RTO; at least 60 s (RFC 6298 §2.5).
        max_retries: retransmissions of one segment before the connection is
            declared dead (Linux ``tcp_retries2``, RFC 9293 §3.8.3 "R2").
        syn_retries: retransmissions of a SYN or SYN-ACK before giving up
            (Linux ``tcp_syn_retries`` is 6).
        nagle: hold small segments while data is unacknowledged (RFC 896,
            RFC 1122 §4.2.3.4); on by default, as without TCP_NODELAY.
        delayed_ack: delay ACKs of in-order data (RFC 1122 §4.2.3.2,
            RFC 5681 §4.2); on by default, as on Linux.
        delayed_ack_s: how long an ACK may wait (Linux's minimum is 40 ms;
            the RFCs allow up to 500 ms).
        time_wait_s: how long the end that closes first lingers to re-ACK a
            lost FIN (2 MSL, RFC 9293 §3.6.1; 60 s on Linux).
        rst_on_timeout: send a RST when the retry limit kills an established
            connection, so the peer may learn of it (it may be lost).
    """

    mss_bytes: int = 1460
    header_bytes: int = 40
    window_bytes: int = 65535
    rto_initial_s: float = 1.0
    rto_min_s: float = 1.0
    rto_max_s: float = 60.0
    max_retries: int = 8
    syn_retries: int = 6
    nagle: bool = True
    delayed_ack: bool = True
    delayed_ack_s: float = 0.04
    time_wait_s: float = 60.0
    rst_on_timeout: bool = True

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
        for name in ("max_retries", "syn_retries"):
            value = getattr(self, name)
            if not 0 <= value <= 100:
                raise ConfigError(f"{name} must be in [0, 100], got {value!r}")
        for name in ("delayed_ack_s", "time_wait_s"):
            value = getattr(self, name)
            if not 0.0 <= value < math.inf:
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
