"""``mqttsim broker``: run the broker on TCP, TLS and WebSocket listeners.

Secure by default: it listens on 127.0.0.1 only. To listen on any other
address it needs a password file, or ``--allow-anonymous`` said out loud.
Every setting can also come from a TOML file (``--config``) whose keys are
the long option names (``port = 1883``, ``password-file = "..."``; the one
repeatable option is a list, ``ws-origins = [...]``); options given on the
command line win over the file. Each setting is one row of :data:`SETTINGS`
(name, type, range or choices, default, help), which builds the option,
reads the file's key and checks the value, the same way for both: a value
of the wrong type or out of range stops the broker before it starts, with
one line naming where it came from (see :mod:`.settings`).
"""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path
from typing import Any

from ..protocol.errors import ConfigError
from .settings import Setting, add_to_parser, is_origin, merge, read_file

__all__ = ["SETTINGS", "add_arguments", "run", "load_config"]

_LISTENERS, _ACCESS, _LIMITS = "listeners", "access", "state and limits"


def _port(name: str, default: int | None, help: str) -> Setting:
    """A TCP port setting: 0 asks the system for a free one."""
    return Setting(
        name=name,
        kind=int,
        low=0,
        high=65535,
        metavar="PORT",
        default=default,
        group=_LISTENERS,
        help=help,
    )


def _path(name: str, group: str, help: str) -> Setting:
    """A file's path (checked for existence once all settings are merged)."""
    return Setting(name=name, kind=str, metavar="PATH", default=None, group=group, help=help)


# fmt: off
SETTINGS: tuple[Setting, ...] = (
    Setting(name="host", kind=str, default="127.0.0.1", group=_LISTENERS,
            help="address to listen on; 127.0.0.1 is this machine only"),
    _port("port", 1883, "MQTT over TCP; 0 picks a free port"),
    _port("tls-port", None, "also MQTT over TLS on this port (needs --certfile and --keyfile)"),
    _path("certfile", _LISTENERS, "PEM certificate chain for TLS"),
    _path("keyfile", _LISTENERS, "PEM private key for TLS"),
    _path("cafile", _LISTENERS, "PEM CA certificates to verify client certificates"),
    Setting(name="require-certificate", kind=bool, default=False, group=_LISTENERS,
            help="TLS clients must present a certificate signed by --cafile"),
    _port("ws-port", None, "also MQTT over WebSocket (subprotocol 'mqtt') on this port"),
    Setting(name="ws-origin", file_key="ws-origins", kind=list, default=None, group=_LISTENERS,
            metavar="ORIGIN", item_check=is_origin,
            item_words=("an origin such as https://host:8443", "origins such as https://host"),
            help="a web page origin whose browsers may connect over WebSocket (default: any;"
            " clients that send no Origin, not browsers, always may)"),
    _path("password-file", _ACCESS,
          "users and hashed passwords, mosquitto_passwd format (see mqttsim passwd)"),
    _path("acl-file", _ACCESS, "topic access rules, mosquitto acl_file format"),
    Setting(name="tcp-nodelay", kind=bool, default=True, group=_LISTENERS,
            help="set TCP_NODELAY on client sockets, as asyncio does (Nagle's algorithm off);"
            " --no-tcp-nodelay leaves Nagle on, as mosquitto does by default"),
    Setting(name="allow-anonymous", kind=bool, default=False, group=_ACCESS,
            help="accept clients without a user name even off loopback or with a password file"),
    Setting(name="allow-dollar-publish", kind=bool, default=False, group=_ACCESS,
            help="let clients publish to topics starting with '$' (those are the broker's)"),
    _path("persist", _LIMITS,
          "keep sessions and retained messages in this SQLite file across restarts"),
    Setting(name="max-connections", kind=int, low=1, high=1_000_000, default=1000,
            metavar="N", group=_LIMITS, help="connected clients at most"),
    Setting(name="max-pending-connections", kind=int, low=1, high=1_000_000, default=256,
            metavar="N", group=_LIMITS,
            help="sockets not yet past CONNACK at most; beyond it the oldest is closed"),
    Setting(name="max-queued-messages", kind=int, low=0, high=60_000, default=1000,
            metavar="N", group=_LIMITS,
            help="QoS 1/2 messages kept per session; overflow is dropped and counted"),
    # 268,435,455 bytes of Remaining Length and 5 of fixed header (MQTT 5 §2.1.4).
    Setting(name="max-packet-size", kind=int, low=64, high=268_435_460, default=1024 * 1024,
            metavar="BYTES", group=_LIMITS, help="largest packet accepted"),
    Setting(name="max-inflight", kind=int, low=1, high=65535, default=20, metavar="N",
            group=_LIMITS, help="unacknowledged QoS 1/2 messages per client"),
    # A topic of 65,535 bytes has at most 32,768 levels (MQTT 5 §1.5.4).
    Setting(name="max-topic-levels", kind=int, low=1, high=32_768, default=200, metavar="N",
            group=_LIMITS, help="levels a topic name or filter may have"),
    Setting(name="max-outgoing-bytes", kind=int, low=1, high=2**32, default=8 * 1024 * 1024,
            metavar="BYTES", group=_LIMITS,
            help="bytes waiting for one slow client; beyond, QoS 0 is dropped, QoS 1/2 queued"),
    Setting(name="max-outgoing-messages", kind=int, low=1, high=10_000_000, default=10_000,
            metavar="N", group=_LIMITS, help="packets waiting for one slow client, likewise"),
    Setting(name="qos2-handover", kind=str, choices=("publish", "pubrel"), default="publish",
            group=_LIMITS,
            help="route a client's QoS 2 message on its PUBLISH, or hold it until its PUBREL"
            " as mosquitto does (one round trip later; MQTT 5 section 4.3.3, Method A)"),
    Setting(name="log-level", kind=str, choices=("debug", "info", "warning", "error"),
            default="info", group="output", help="what the log shows"),
)
# fmt: on
"""Every setting of ``mqttsim broker``: one row drives its option, its key in
a ``--config`` file and its check."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_to_parser(parser, SETTINGS)
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="read settings from a TOML file whose keys are the option names"
        " (port = 1883, ws-origins = [...]); options typed here win",
    )


def load_config(args: argparse.Namespace) -> dict[str, Any]:
    """Merge defaults, the --config file and the command line, in that order.

    Raises:
        ConfigError: for a bad file, naming the file, the key, the value and
            what is allowed.
    """
    from_file = read_file(args.config, SETTINGS) if args.config else {}
    return merge(SETTINGS, from_file, args)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check(settings: dict[str, Any]) -> None:
    """The checks that involve more than one setting (each value was checked alone)."""
    if not _is_loopback(settings["host"]) and not (
        settings["password_file"] or settings["allow_anonymous"]
    ):
        raise ConfigError(
            f"refusing to listen on {settings['host']} without --password-file:"
            " anyone on the network could connect (say --allow-anonymous if you mean it)"
        )
    if settings["tls_port"] is not None and not (settings["certfile"] and settings["keyfile"]):
        raise ConfigError("--tls-port needs --certfile and --keyfile")
    if settings["require_certificate"] and not settings["cafile"]:
        raise ConfigError("--require-certificate needs --cafile")
    if settings["ws_origins"] is not None and settings["ws_port"] is None:
        raise ConfigError("--ws-origin needs --ws-port")
    ports: dict[int, str] = {}
    for name in ("port", "tls_port", "ws_port"):
        port = settings[name]
        if port:  # 0 picks a free port, a different one each time
            flag = "--" + name.replace("_", "-")
            if port in ports:
                raise ConfigError(f"{ports[port]} and {flag} are both {port}")
            ports[port] = flag
    for name in ("certfile", "keyfile", "cafile", "password_file", "acl_file"):
        path = settings[name]
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"--{name.replace('_', '-')} {path}: no such file")


def _tls_context(settings: dict[str, Any]) -> Any:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(settings["certfile"], settings["keyfile"])
        if settings["cafile"]:
            context.load_verify_locations(settings["cafile"])
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"cannot use the TLS certificate or key: {exc}") from None
    if settings["require_certificate"]:
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _listeners(settings: dict[str, Any]) -> list[Any]:
    from ..aio.server import Listener

    host = settings["host"]
    listeners = [Listener(kind="tcp", host=host, port=settings["port"])]
    if settings["tls_port"] is not None:
        context = _tls_context(settings)
        listeners.append(
            Listener(kind="tls", host=host, port=settings["tls_port"], ssl_context=context)
        )
    if settings["ws_port"] is not None:
        origins = settings["ws_origins"]
        listeners.append(
            Listener(
                kind="ws",
                host=host,
                port=settings["ws_port"],
                allowed_origins=None if origins is None else tuple(origins),
            )
        )
    return listeners


def _hooks(settings: dict[str, Any]) -> dict[str, Any]:
    """The authenticator, authorizer and store the settings ask for, loaded."""
    hooks: dict[str, Any] = {}
    if settings["password_file"]:
        from ..aio.passwd import PasswordFile

        hooks["authenticator"] = PasswordFile.load(
            settings["password_file"], allow_anonymous=settings["allow_anonymous"]
        )
    if settings["acl_file"]:
        from ..aio.acl import AclFile

        hooks["authorizer"] = AclFile.load(settings["acl_file"])
    if settings["persist"]:
        from ..aio.store import SqliteStore

        hooks["store"] = SqliteStore(settings["persist"])
    return hooks


def _core_config(settings: dict[str, Any]) -> Any:
    from ..protocol.broker import BrokerConfig
    from ..protocol.enums import QoS2Handover

    try:
        return BrokerConfig(
            max_queued_messages=settings["max_queued_messages"],
            max_packet_size=settings["max_packet_size"],
            max_inflight=settings["max_inflight"],
            max_topic_levels=settings["max_topic_levels"],
            max_outgoing_bytes=settings["max_outgoing_bytes"],
            max_outgoing_messages=settings["max_outgoing_messages"],
            dollar_topics_writable=settings["allow_dollar_publish"],
            qos2_handover=QoS2Handover(settings["qos2_handover"]),
        )
    except ValueError as exc:  # the table's ranges should have caught it first
        raise ConfigError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from ..aio.server import BrokerServer

    settings = load_config(args)
    _check(settings)
    config = _core_config(settings)
    listeners = _listeners(settings)
    hooks = _hooks(settings)
    logging.basicConfig(
        level=settings["log_level"].upper(), format="%(asctime)s %(levelname)s %(message)s"
    )

    async def serve() -> None:
        server = BrokerServer(
            listeners,
            config=config,
            max_connections=settings["max_connections"],
            max_pending_connections=settings["max_pending_connections"],
            tcp_nodelay=settings["tcp_nodelay"],
            **hooks,
        )
        try:
            await server.start()
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {settings['host']}: {exc.strerror or exc}"
            ) from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        logging.getLogger("mqttsim.broker").info("shutting down")
        await server.stop()

    asyncio.run(serve())
    return 0
