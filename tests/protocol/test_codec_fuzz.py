"""Fuzzing the decoder: whatever the bytes, only a peer error with a reason code comes out.

Random bytes and mutated valid packets (bits flipped, bytes changed, inserted,
deleted, duplicated, the Remaining Length rewritten, the packet cut short)
go to :func:`decode` in every version and to :class:`StreamDecoder` in random
slicings. Three things must hold for every input:

* the only exception is a :class:`RemoteProtocolError` (or subclass) whose
  ``reason_code`` is a failure :class:`ReasonCode`: never IndexError,
  UnicodeDecodeError, ValueError, KeyError, OverflowError, ...;
* whatever decodes is a valid packet: it encodes, and decodes back to itself;
* a stream gives the same packets and the same error however it is sliced.

The seeded loops plus the hypothesis tests try over 20,000 distinct inputs
(``FUZZ_CASES``) in well under 20 seconds.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from mqttsim.protocol.codec import StreamDecoder, decode, encode, encode_varint
from mqttsim.protocol.enums import ProtocolVersion, ReasonCode
from mqttsim.protocol.errors import RemoteProtocolError
from mqttsim.protocol.packets import Connect, Packet

from .strategies import DETERMINISTIC, V5, V31, V311, packets
from .test_codec_golden import GOLDEN

VERSIONS: tuple[ProtocolVersion | None, ...] = (None, V31, V311, V5)
CORPUS: list[tuple[ProtocolVersion, bytes]] = [
    (version, bytes.fromhex(hex_text)) for _, version, hex_text, _ in GOLDEN
]

# Distinct inputs per test; each goes to decode() in one to four versions and
# to StreamDecoder in three slicings (whole, one byte at a time, random).
RANDOM_INPUTS = 8_000
MUTATED_GOLDEN = 10_000
MUTATED_STREAMS = 2_000
HYPOTHESIS_BYTES = 1_000
HYPOTHESIS_MUTATED = 600
FUZZ_CASES = (
    RANDOM_INPUTS + MUTATED_GOLDEN + MUTATED_STREAMS + HYPOTHESIS_BYTES + HYPOTHESIS_MUTATED
)


def test_the_fuzz_budget_is_at_least_20000_cases() -> None:
    assert FUZZ_CASES >= 20_000


# --- checks ---------------------------------------------------------------------------------


def _check_error(exc: RemoteProtocolError) -> None:
    assert isinstance(exc.reason_code, ReasonCode)
    assert exc.reason_code.is_error
    assert exc.detail


def check_decode(data: bytes, version: ProtocolVersion | None) -> Packet | None:
    """decode() either raises a peer error or returns a packet that round-trips."""
    try:
        packet = decode(data, version)
    except RemoteProtocolError as exc:
        _check_error(exc)
        return None
    if isinstance(packet, Connect):
        wire = encode(packet, packet.version)
        assert decode(wire) == packet
    else:
        assert version is not None
        wire = encode(packet, version)
        assert decode(wire, version) == packet
    return packet


def _feed(
    data: bytes, version: ProtocolVersion | None, sizes: list[int]
) -> tuple[list[Packet], RemoteProtocolError | None]:
    decoder = StreamDecoder(version=version)
    out: list[Packet] = []
    pos = 0
    for size in sizes:
        try:
            out += decoder.feed(data[pos : pos + size])
        except RemoteProtocolError as exc:
            _check_error(exc)
            return out, exc
        pos += size
    return out, None


def check_stream(data: bytes, version: ProtocolVersion | None, rng: random.Random) -> None:
    """The stream decoder agrees with itself however ``data`` is sliced."""
    one_by_one, error = _feed(data, version, [1] * len(data))
    sizes = []
    left = len(data)
    while left > 0:
        sizes.append(min(left, rng.choice((1, 2, 3, 7, 16, 64, 1000))))
        left -= sizes[-1]
    whole, whole_error = _feed(data, version, [len(data)])
    sliced, sliced_error = _feed(data, version, sizes)
    if error is None:
        assert whole_error is None and sliced_error is None
        assert whole == sliced == one_by_one
        return
    for other, other_error in ((whole, whole_error), (sliced, sliced_error)):
        # Same error; the packets before it may be dropped with the erroring call.
        assert other_error is not None
        assert (type(other_error), other_error.reason_code, other_error.detail) == (
            type(error),
            error.reason_code,
            error.detail,
        )
        assert other == one_by_one[: len(other)]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three random edits of the kinds a broken peer or a bit error makes.

    Half of the time only the body of the first packet is edited and its
    Remaining Length set to match, so that the edit reaches the body decoders
    instead of stopping at a length mismatch.
    """
    if len(data) >= 2 and rng.random() < 0.5:
        _, header_size = _remaining_length(data)
        body = _edit(data[header_size:], rng)
        return data[:1] + encode_varint(len(body)) + body
    return _edit(data, rng)


def _remaining_length(data: bytes) -> tuple[int, int]:
    for k in range(1, 5):
        if k >= len(data) or data[k] < 0x80:
            break
    return 0, k + 1


def _edit(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(7)
        at = rng.randrange(len(out) + 1)
        if op == 0 and out[at:]:
            out[at] ^= 1 << rng.randrange(8)  # flip a bit
        elif op == 1 and out[at:]:
            out[at] = rng.randrange(256)  # change a byte
        elif op == 2:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        elif op == 3:
            del out[at : at + rng.randint(1, 4)]
        elif op == 4:
            del out[at:]  # cut short
        elif op == 5:
            out[at:at] = out[at : at + rng.randint(1, 8)]  # duplicate a slice
        elif len(out) > 1:
            out[1] = rng.choice((0, 1, 2, 0x7F, 0x80, 0xFF, out[1] - 1, out[1] + 1)) & 0xFF
    return bytes(out)


# --- seeded loops ---------------------------------------------------------------------------


def test_random_bytes_raise_only_peer_errors() -> None:
    rng = random.Random(1999)
    for _ in range(RANDOM_INPUTS):
        size = rng.choice((0, 1, 2, 3, 4, 5, 8, 16, 40, 100))
        data = bytes(rng.randrange(256) for _ in range(size))
        if data and rng.random() < 0.5:
            # Keep the first byte plausible (type 1..15, right flags) half of the time.
            ptype = rng.randint(1, 15)
            flags = rng.randrange(16) if ptype == 3 else {6: 2, 8: 2, 10: 2}.get(ptype, 0)
            data = bytes((ptype << 4 | flags,)) + data[1:]
        for version in VERSIONS:
            check_decode(data, version)
        check_stream(data, rng.choice(VERSIONS), rng)


def test_mutated_golden_packets_raise_only_peer_errors() -> None:
    rng = random.Random(2014)
    for _ in range(MUTATED_GOLDEN):
        version, wire = rng.choice(CORPUS)
        data = mutate(wire, rng)
        check_decode(data, version)
        check_decode(data, None)
        check_stream(data, None if data[:1] == b"\x10" else version, rng)


def test_mutated_streams_of_packets_raise_only_peer_errors() -> None:
    rng = random.Random(2019)
    by_version = {v: [w for wv, w in CORPUS if wv is v and w[0] >> 4 != 1] for v in (V311, V5)}
    connects = {v: [w for wv, w in CORPUS if wv is v and w[0] >> 4 == 1] for v in (V311, V5)}
    for _ in range(MUTATED_STREAMS):
        version = rng.choice((V311, V5))
        stream = rng.choice(connects[version]) + b"".join(
            rng.choices(by_version[version], k=rng.randint(1, 6))
        )
        check_stream(mutate(stream, rng), None, rng)


# --- hypothesis -----------------------------------------------------------------------------


@given(st.binary(max_size=80), st.sampled_from(VERSIONS), st.randoms(use_true_random=False))
@settings(DETERMINISTIC, max_examples=HYPOTHESIS_BYTES)
def test_arbitrary_bytes_raise_only_peer_errors(
    data: bytes, version: ProtocolVersion | None, rng: random.Random
) -> None:
    check_decode(data, version)
    check_stream(data, version, rng)


@given(
    st.sampled_from((V5, V311, V31)).flatmap(lambda v: st.tuples(st.just(v), packets(v))),
    st.randoms(use_true_random=False),
)
@settings(DETERMINISTIC, max_examples=HYPOTHESIS_MUTATED)
def test_mutated_generated_packets_raise_only_peer_errors(
    version_and_packet: tuple[ProtocolVersion, Packet], rng: random.Random
) -> None:
    version, packet = version_and_packet
    is_connect = isinstance(packet, Connect)
    wire = encode(packet, version if is_connect or version is not V31 else V311)
    data = mutate(wire, rng)
    check_decode(data, None if is_connect else version)
    check_stream(data, None if is_connect else version, rng)
