"""One real MQTT client of a validation run, as a small program run inside a namespace.

The validation harness runs the same experiment twice: in the simulator, and
with real stacks through the link emulator. For the second it starts, in the
emulated sites' namespaces, a broker (``mqttsim broker`` or Debian's
``mosquitto``) and these agents::

    python -m mqttsim.validate.agent publish --client paho --host 10.250.1.1 \\
        --id rtu --topic plant/p --qos 2 --every 10 --count 60 --out rtu.jsonl
    python -m mqttsim.validate.agent subscribe --client mqttsim --host 10.250.0.1 \\
        --id scada --filter 'plant/#' --qos 2 --seconds 700 --out scada.jsonl

``--client mqttsim`` is :class:`mqttsim.aio.AsyncClient` with its defaults;
``--client paho`` is paho-mqtt 2.x's ``Client`` with its defaults (the two
client profiles of :mod:`mqttsim.sim.profiles`). A publisher's payloads are
the simulator's (``b"{id} "`` padded with dots to ``--payload-bytes``), so
both worlds carry the same bytes.

Each agent writes one JSON object per line: ``{"event": "sent", "id": 7,
"t": ...}``, ``{"event": "received", "id": 7, "t": ..., "topic": ...}``,
``{"event": "connected", "t": ...}``, ``{"event": "disconnected", "t": ...,
"why": ...}``, ``{"event": "refused", "id": 7, "t": ..., "why": ...}``
(a QoS 0 message published while disconnected). Times are
``time.monotonic()``: every namespace of the machine reads the same clock,
so a delivery's latency is its receiver's ``t`` minus its sender's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from typing import IO, Any

__all__ = ["main", "payload"]


def payload(message_id: int, size: int) -> bytes:
    """The simulator's payload for message ``message_id`` (see World.publish)."""
    data = b"%d " % message_id
    return data + b"." * (size - len(data)) if len(data) < size else data


class _Log:
    """JSON lines, flushed at once: an agent may be killed at the end of a run."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()  # paho calls back from its own thread

    def __call__(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, "t": time.monotonic(), **fields})
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


def _message_id(data: bytes) -> int | None:
    head = data.split(b" ", 1)[0]
    return int(head) if head.isdigit() else None


def _start(args: argparse.Namespace) -> float:
    """Wait for ``--start-at`` (a ``time.monotonic()`` reading); when connecting starts.

    A plain sleep, also in the asyncio agent: nothing else runs before it connects.
    """
    if args.start_at is None:
        return time.monotonic()
    late = time.monotonic() - args.start_at
    if late > 0.1:  # both worlds must start this client at the same moment
        raise SystemExit(f"agent {args.id}: started {late:.2f} s after --start-at")
    time.sleep(max(0.0, args.start_at - time.monotonic()))
    return float(args.start_at)


# -- mqttsim's own client ----------------------------------------------------------------------


async def _mqttsim(args: argparse.Namespace, log: _Log) -> None:
    from mqttsim.aio.client import AsyncClient
    from mqttsim.protocol import ProtocolVersion
    from mqttsim.protocol.errors import MQTTError

    client = AsyncClient(
        args.host,
        args.port,
        client_id=args.id,
        version=ProtocolVersion.V311,
        keep_alive_s=args.keep_alive,
        clean_start=False,
    )
    started = _start(args)
    await client.connect()
    log("connected")
    if args.role == "subscribe":
        await client.subscribe(args.filter, qos=args.qos)

        async def read() -> None:
            async for message in client.messages():
                if not message.retain:
                    log("received", id=_message_id(message.payload), topic=message.topic)

        try:
            await asyncio.wait_for(read(), args.seconds)
        except TimeoutError:
            pass
    else:
        pending: set[asyncio.Task[Any]] = set()

        async def one(k: int) -> None:
            try:
                await client.publish(args.topic, payload(k, args.payload_bytes), qos=args.qos)
            except MQTTError as exc:
                log("refused", id=k, why=str(exc))

        first = started + args.first_at
        for k in range(args.count):
            await asyncio.sleep(max(0.0, first + k * args.every - time.monotonic()))
            log("sent", id=k)
            task = asyncio.create_task(one(k))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.sleep(args.linger)
    await client.close()


# -- paho-mqtt 2.x -------------------------------------------------------------------------------


def _paho(args: argparse.Namespace, log: _Log) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=args.id,
        clean_session=False,
        protocol=mqtt.MQTTv311,
    )
    connected = threading.Event()

    def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        log("connected", session_present=bool(flags.session_present))
        if args.role == "subscribe":
            c.subscribe(args.filter, qos=args.qos)
        connected.set()

    def on_disconnect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        log("disconnected", why=str(reason))

    def on_message(c: Any, userdata: Any, message: Any) -> None:
        if not message.retain:
            log("received", id=_message_id(message.payload), topic=message.topic)

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_message = on_message
    started = _start(args)
    client.connect_async(args.host, args.port, keepalive=args.keep_alive)
    client.loop_start()
    try:
        if not connected.wait(args.connect_wait):
            raise SystemExit(f"agent {args.id}: no CONNACK within {args.connect_wait} s")
        if args.role == "subscribe":
            time.sleep(args.seconds)  # the loop thread receives meanwhile
        else:
            first = started + args.first_at
            for k in range(args.count):
                time.sleep(max(0.0, first + k * args.every - time.monotonic()))
                log("sent", id=k)
                info = client.publish(args.topic, payload(k, args.payload_bytes), qos=args.qos)
                if info.rc != mqtt.MQTT_ERR_SUCCESS and args.qos == 0:
                    log("refused", id=k, why=mqtt.error_string(info.rc))
            time.sleep(args.linger)
    finally:
        client.disconnect()
        client.loop_stop()


# -- the command line ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mqttsim.validate.agent")
    parser.add_argument("role", choices=("publish", "subscribe"))
    parser.add_argument("--client", choices=("mqttsim", "paho"), default="mqttsim")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--id", required=True, help="the MQTT client identifier")
    parser.add_argument("--keep-alive", type=int, default=60)
    parser.add_argument("--qos", type=int, choices=(0, 1, 2), default=1)
    parser.add_argument("--topic", default="plant/p", help="publish: the topic")
    parser.add_argument("--every", type=float, default=10.0, help="publish: seconds apart")
    parser.add_argument("--count", type=int, default=60, help="publish: how many")
    parser.add_argument(
        "--first-at", type=float, default=5.0, help="publish: seconds from starting to connect"
    )
    parser.add_argument(
        "--start-at",
        type=float,
        help="start connecting at this time.monotonic() reading (default: at once)",
    )
    parser.add_argument("--payload-bytes", type=int, default=32)
    parser.add_argument("--linger", type=float, default=30.0, help="publish: wait at the end")
    parser.add_argument("--filter", default="#", help="subscribe: the topic filter")
    parser.add_argument("--seconds", type=float, default=60.0, help="subscribe: how long")
    parser.add_argument("--connect-wait", type=float, default=60.0)
    parser.add_argument("--out", help="where the JSON lines go (default: standard output)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stream: IO[str] = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    try:
        log = _Log(stream)
        if args.client == "paho":
            _paho(args, log)
        else:
            asyncio.run(_mqttsim(args, log))
    finally:
        if stream is not sys.stdout:
            stream.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
