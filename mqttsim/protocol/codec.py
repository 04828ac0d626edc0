"""Bytes to packets and back: the MQTT wire format (§1.5, §2 and §3 of both specifications).

Theory of operation
-------------------
Every MQTT control packet starts with a fixed header (§2.1): one byte with
the packet type in its high nibble and four flag bits, then the Remaining
Length, a Variable Byte Integer of one to four bytes (§1.5.5) counting the
bytes that follow. That count is all a receiver needs to find where one
packet ends and the next begins on a TCP stream.

:class:`StreamDecoder` keeps whatever bytes it is fed and hands back every
packet that has arrived whole. As soon as a fixed header is complete it
checks the first byte (reserved flags, packet type, the order of CONNECT) and
the size against the Maximum Packet Size, so an oversized or nonsensical
packet is refused before its body is buffered. Only when the whole packet is
there is its body decoded, by the per-type readers in ``decoding``.

:func:`decode` does the same for exactly one packet in a ``bytes`` object, and
:func:`encode` is the inverse, producing one canonical encoding per packet
(see ``encoding``). The module is split in three only for size; the public
names are the ones in ``__all__`` here.

Errors
------
The peer's mistakes come out as :class:`RemoteProtocolError` or one of its
subclasses, each with the MQTT 5 reason code the connection should close
with: :class:`MalformedPacket` (0x81) when the bytes cannot be a packet,
:class:`PacketTooLarge` (0x95), or a plain ``RemoteProtocolError`` (0x82
Protocol Error, 0x84 Unsupported Protocol Version, 0x94 Topic Alias Invalid)
when they can but break a rule. Nothing else escapes: a stray ``IndexError``
or ``ValueError`` would be a bug here, and is still reported as a Malformed
Packet. Our own caller's mistakes (encoding a string with U+0000, a reason
code a packet may not carry, MQTT 5 content in a 3.1.1 packet) raise
:class:`LocalProtocolError`.

The version
-----------
MQTT 5 packets carry properties and reason codes that 3.1.1 packets lack, so
the reader must know the version. Before CONNECT it is unknown (``None``) and
only a CONNECT is acceptable [MQTT-3.1.0-1]; the CONNECT names its version,
and from then on the stream is read in it. MQTT 3.1 ("MQIsdp", level 3)
differs from 3.1.1 only in CONNECT, so it is read as 3.1.1 afterwards.
"""

from __future__ import annotations

from typing import Final

from .decoding import (
    BODY_DECODERS,
    MAX_REMAINING_LENGTH,
    IncompletePacket,
    decode_publish,
    decode_varint,
)
from .encoding import encode_packet, encode_publish, encode_success_ack, encode_varint
from .enums import PacketType, ProtocolVersion, ReasonCode
from .errors import (
    LocalProtocolError,
    MalformedPacket,
    PacketTooLarge,
    ProtocolError,
    RemoteProtocolError,
)
from .members import V5
from .packets import Connect, Packet, Publish

__all__ = [
    "MAX_REMAINING_LENGTH",
    "IncompletePacket",
    "encode_varint",
    "encode_success_ack",
    "decode_varint",
    "encode",
    "decode",
    "publish_packet_id_offset",
    "StreamDecoder",
]

_DEFAULT_MAX_PACKET_SIZE: Final = MAX_REMAINING_LENGTH + 5

# Table 2-2 (5.0) / Table 2.2 (3.1.1): the flag nibble each packet type must
# carry. PUBLISH (3) carries DUP, QoS and RETAIN instead; type 0 is reserved.
_FIXED_FLAGS: Final = (-1, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0)

# First bytes _check_first_byte() accepts in every version once CONNECT is
# past: each type but CONNECT, PUBLISH and AUTH, with its fixed flags.
_ALWAYS_VALID: Final = frozenset(t << 4 | _FIXED_FLAGS[t] for t in range(2, 15) if t != 3)

# MQTT 3.1 let PUBREL, SUBSCRIBE and UNSUBSCRIBE carry DUP beside their QoS 1
# bits (first bytes 0x6A, 0x8A, 0xAA) when a client resends them; 3.1.1
# fixed those flags [MQTT-2.2.2-1]. A 3.1 client's retries are accepted.
_DUP_IN_V31: Final = frozenset({6, 8, 10})

# What a decoding bug could raise. Kept from escaping (docs/ARCHITECTURE.md, "Errors");
# ProtocolError covers a LocalProtocolError from a packet's __post_init__.
_CONVERTIBLE: Final = (ProtocolError, IndexError, KeyError, ValueError, OverflowError, TypeError)


def encode(packet: Packet, version: ProtocolVersion) -> bytes:
    """Encode one packet for the wire.

    Args:
        packet: any control packet. A :class:`Connect` must name the same
            ``version``; MQTT 3.1 uses "MQIsdp" and level 3.
        version: the protocol version in force. 3.1 is written as 3.1.1
            apart from CONNECT.

    Returns:
        The whole packet, fixed header included, in its canonical form.

    Raises:
        LocalProtocolError: the packet breaks a rule the peer would enforce,
            or carries MQTT 5 content that 3.1.1 cannot express.
        TypeError: ``packet`` is not a control packet.
    """
    if type(packet) is Publish:
        return encode_publish(packet, version is V5)
    return encode_packet(packet, version)


def _remaining_length(data: bytes, pos: int, n: int) -> tuple[int, int] | None:
    """The Remaining Length of the packet at ``pos`` and its header's size, or None if cut."""
    value = 0
    for k in range(4):
        i = pos + 1 + k
        if i >= n:
            return None
        byte = data[i]
        value |= (byte & 0x7F) << (7 * k)
        if byte < 0x80:
            return value, k + 2
    raise MalformedPacket("the Remaining Length is longer than four bytes (§2.2.3)")


def _non_minimal(data: bytes, pos: int, header_size: int) -> bool:
    # A multi-byte Variable Byte Integer whose last byte is 0 had a shorter form.
    return header_size > 2 and data[pos + header_size - 1] == 0


_NON_MINIMAL: Final = (
    "the Remaining Length is not encoded in the minimum number of bytes [MQTT-1.5.5-1]"
)


def _check_first_byte(first: int, version: ProtocolVersion | None, *, stream: bool) -> None:
    """Refuse a fixed header's first byte that cannot start a packet here."""
    ptype = first >> 4
    flags = first & 0x0F
    if ptype == 3:
        if flags & 0x06 == 0x06:
            raise MalformedPacket("PUBLISH has QoS 3 (both QoS bits set) [MQTT-3.3.1-4]")
    elif ptype == 0:
        raise MalformedPacket("packet type 0 is reserved (§2.1.2)")
    elif flags != _FIXED_FLAGS[ptype] and not (
        version is ProtocolVersion.V31 and ptype in _DUP_IN_V31 and flags == 0x0A
    ):
        raise MalformedPacket(
            f"{PacketType(ptype).name} fixed header flags are {flags:04b}, must be"
            f" {_FIXED_FLAGS[ptype]:04b} [MQTT-2.1.3-1] (3.1.1: [MQTT-2.2.2-1], [MQTT-2.2.2-2])"
        )
    elif ptype == 15 and version is not None and version is not V5:
        raise MalformedPacket("packet type 15 (AUTH) is reserved in MQTT 3.1.1 (§2.2.1)")
    if version is None:
        if ptype != 1:
            raise RemoteProtocolError(
                f"the first packet is {PacketType(ptype).name}, not CONNECT [MQTT-3.1.0-1]"
            )
    elif ptype == 1 and stream:
        raise RemoteProtocolError("a second CONNECT on one connection [MQTT-3.1.0-2]")


def _too_large(first: int, total: int, limit: int) -> PacketTooLarge:
    return PacketTooLarge(
        f"{PacketType(first >> 4).name} of {total} bytes exceeds the Maximum Packet Size"
        f" of {limit} bytes (§3.1.2.11.4, §3.2.2.3.6)"
    )


def _as_remote(exc: Exception, first: int) -> RemoteProtocolError:
    """Report anything raised while decoding as the peer's error."""
    if isinstance(exc, RemoteProtocolError):
        return exc
    if isinstance(exc, ProtocolError):
        # A packet dataclass refused a field value (a LocalProtocolError from
        # __post_init__): that value came from the peer.
        if exc.reason_code == ReasonCode.MALFORMED_PACKET:
            return MalformedPacket(exc.detail, exc.reason_code)
        return RemoteProtocolError(exc.detail, exc.reason_code)
    name = PacketType(first >> 4).name if 0 <= first <= 0xFF else "packet"
    return MalformedPacket(f"{name} could not be decoded ({type(exc).__name__}: {exc})")


def decode(
    data: bytes | bytearray | memoryview,
    version: ProtocolVersion | None = None,
    *,
    max_packet_size: int = _DEFAULT_MAX_PACKET_SIZE,
) -> Packet:
    """Decode exactly one whole packet.

    Args:
        data: one packet, fixed header included, and nothing else.
        version: the version in force; None if not known yet, in which case
            ``data`` must be a CONNECT [MQTT-3.1.0-1]. A CONNECT is decoded
            whatever ``version`` says, as it names its own; refusing a second
            one [MQTT-3.1.0-2] is the business of :class:`StreamDecoder`.
        max_packet_size: the largest packet, in bytes, that is acceptable.

    Returns:
        The packet.

    Raises:
        MalformedPacket: ``data`` is not exactly one well-formed packet.
        PacketTooLarge: the packet is larger than ``max_packet_size``.
        RemoteProtocolError: the packet is well-formed but breaks a rule.
    """
    if type(data) is not bytes:
        data = bytes(data)
    n = len(data)
    first = data[0] if n else -1
    try:
        header = _remaining_length(data, 0, n) if n else None
        if header is None:
            raise MalformedPacket(f"{n} byte(s) end inside a fixed header (§2.1)")
        length, header_size = header
        if first >> 4 != 3 or first & 0x06 == 0x06 or version is None:  # PUBLISH: nothing to check
            _check_first_byte(first, version, stream=False)
        total = header_size + length
        if total > max_packet_size:
            raise _too_large(first, total, max_packet_size)
        if total != n:
            raise MalformedPacket(
                f"{PacketType(first >> 4).name} has a Remaining Length of {length} but"
                f" {n - header_size} byte(s) follow its fixed header (§2.1.4)"
            )
        non_minimal = _non_minimal(data, 0, header_size)
        if non_minimal and version is V5:
            raise MalformedPacket(_NON_MINIMAL)
        packet = BODY_DECODERS[first >> 4](first & 0x0F, data, header_size, n, version is V5)
        if non_minimal and type(packet) is Connect and packet.version is V5:
            raise MalformedPacket(_NON_MINIMAL)
        return packet
    except _CONVERTIBLE as exc:
        error = _as_remote(exc, first)
        if error is exc:
            raise
        raise error from exc


def publish_packet_id_offset(encoded: bytes | bytearray | memoryview) -> int:
    """Where the Packet Identifier sits in an encoded QoS 1 or 2 PUBLISH.

    A broker encodes a message once per form and patches only the Packet
    Identifier for each subscriber::

        wire = bytearray(encode(publish, version))
        at = publish_packet_id_offset(wire)
        wire[at : at + 2] = packet_id.to_bytes(2, "big")

    Args:
        encoded: a whole PUBLISH packet with QoS 1 or 2, as :func:`encode`
            wrote it.

    Returns:
        The offset of the two-byte Packet Identifier (§3.3.2.2).

    Raises:
        LocalProtocolError: ``encoded`` is not a QoS 1 or 2 PUBLISH.
    """
    try:
        first = encoded[0]
        if first >> 4 != 3 or not first & 0x06:
            raise LocalProtocolError("only a QoS 1 or 2 PUBLISH has a Packet Identifier")
        i = 1
        while encoded[i] & 0x80:  # skip the Remaining Length
            i += 1
            if i > 4:
                raise LocalProtocolError("the Remaining Length is longer than four bytes")
        i += 1
        return i + 2 + ((encoded[i] << 8) | encoded[i + 1])
    except IndexError:
        raise LocalProtocolError("the PUBLISH ends before its Packet Identifier") from None


class StreamDecoder:
    """Splits a byte stream into packets, however the bytes are sliced.

    Feed it whatever the transport delivers; it returns every packet
    completed by those bytes and keeps the rest for the next call.

    Attributes:
        version: the protocol version the stream is read in. ``None`` on the
            server side until CONNECT: then only a CONNECT is accepted, and
            decoding one sets ``version`` to what it names (3.1 stays
            ``V31``, read as 3.1.1). A second CONNECT is a Protocol Error
            [MQTT-3.1.0-2]. Settable.
        max_packet_size: the largest packet, fixed header included, that
            this side accepts (its own Maximum Packet Size, §3.1.2.11.4,
            §3.2.2.3.6). Settable.

        accepts: the packet types the stream may carry once CONNECT is
            past (the table of the connection's state machine, e.g. what a
            broker may receive from a client), or ``None`` for any. A packet
            of another type is refused as a Protocol Error naming its type,
            from its fixed header, before its body is read: the reason code
            then names the peer's mistake, not a defect in a body that
            should never have been sent.
        context: completes the refusal's sentence, "CONNACK is not allowed
            {context}".

    After an error the decoder is poisoned: every later :meth:`feed` raises
    the same exception, since the connection must close [MQTT-4.13.1-1].
    Packets that preceded the bad one in the same call are discarded too:
    none of them has been acknowledged yet, so that is no different from the
    connection having dropped a moment earlier.
    """

    __slots__ = (
        "version",
        "max_packet_size",
        "accepts",
        "context",
        "_unchecked",
        "_buffer",
        "_need",
        "_error",
    )

    def __init__(
        self,
        *,
        version: ProtocolVersion | None = None,
        max_packet_size: int = _DEFAULT_MAX_PACKET_SIZE,
        accepts: frozenset[PacketType] | None = None,
        context: str = "on this connection",
    ) -> None:
        self.version = version
        self.max_packet_size = max_packet_size
        self.accepts = accepts
        self.context = context
        # First bytes that need no check at all: valid in every version and
        # of a type this stream accepts (the acknowledgements, mostly).
        self._unchecked: frozenset[int] = (
            _ALWAYS_VALID
            if accepts is None
            else frozenset(b for b in _ALWAYS_VALID if b >> 4 in accepts)
        )
        self._buffer = bytearray()
        # Total size of the packet the buffer begins, once its fixed header
        # is complete; 0 until then. Bytes are only copied out of the buffer
        # when there are enough of them, so a large packet trickling in is
        # copied a constant number of times, not once per call.
        self._need = 0
        self._error: RemoteProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a whole packet."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Packet]:
        """Take the next bytes of the stream.

        Args:
            data: any number of bytes, including none.

        Returns:
            The packets completed by ``data``, in order (maybe none).

        Raises:
            MalformedPacket: the bytes cannot be a packet.
            PacketTooLarge: a fixed header announces a packet larger than
                ``max_packet_size``; raised before its body is buffered.
            RemoteProtocolError: a well-formed packet breaks a rule, e.g.
                anything but CONNECT first [MQTT-3.1.0-1].
        """
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        if buffer:
            buffer += data
            if len(buffer) < self._need:
                return []
            data = bytes(buffer)
            buffer.clear()
        elif type(data) is not bytes:
            data = bytes(data)
        n = len(data)
        pos = need = 0
        first = -1
        version = self.version
        v5 = version is V5
        limit = self.max_packet_size
        unchecked = self._unchecked
        out: list[Packet] = []
        try:
            while n - pos >= 2:
                first = data[pos]
                length = data[pos + 1]
                header_size = 2
                if length >= 0x80:
                    header = _remaining_length(data, pos, n)
                    if header is None:
                        break
                    length, header_size = header
                    if v5 and _non_minimal(data, pos, header_size):
                        raise MalformedPacket(_NON_MINIMAL)
                ptype = first >> 4
                # Fast path, once connected: a PUBLISH with a possible QoS, or a
                # first byte that no version refuses (the acknowledgements).
                if version is None or (
                    first & 0x06 == 0x06 if ptype == 3 else first not in unchecked
                ):
                    _check_first_byte(first, version, stream=True)
                    accepts = self.accepts
                    # (CONNECT and type 0 were refused just above.)
                    if version is not None and accepts is not None and ptype not in accepts:
                        raise RemoteProtocolError(
                            f"{PacketType(ptype).name} is not allowed {self.context}"
                            " (§2.1.2, direction of flow)"
                        )
                total = header_size + length
                if total > limit:
                    raise _too_large(first, total, limit)
                end = pos + total
                if end > n:
                    need = total
                    break
                if ptype == 3:
                    out.append(decode_publish(first & 0x0F, data, pos + header_size, end, v5))
                else:
                    packet = BODY_DECODERS[ptype](first & 0x0F, data, pos + header_size, end, v5)
                    if type(packet) is Connect:
                        if packet.version is V5 and _non_minimal(data, pos, header_size):
                            raise MalformedPacket(_NON_MINIMAL)
                        version = self.version = packet.version
                        v5 = version is V5
                    out.append(packet)
                pos = end
        except _CONVERTIBLE as exc:
            error = self._error = _as_remote(exc, first)
            if error is exc:
                raise
            raise error from exc
        if pos < n:
            with memoryview(data) as view:
                buffer += view[pos:]
        self._need = need
        return out
