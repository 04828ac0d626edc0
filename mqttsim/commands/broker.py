"""``mqttsim broker``: run the broker on TCP, TLS and WebSocket listeners.

Secure by default: it listens on 127.0.0.1 only. To listen on any other
address it needs a password file, or ``--allow-anonymous`` said out loud.
Every setting can also come from a TOML file (``--config``) whose keys are
the long option names (``port = 1883``, ``password-file = "..."``); options
given on the command line win over the file.
"""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path
from typing import Any

from ..protocol.errors import ConfigError
from .common import non_negative_int, positive_int

__all__ = ["add_arguments", "run", "load_config"]

_LOG_LEVELS = ("debug", "info", "warning", "error")

# Defaults live here, not in argparse, so that a --config file can tell an
# option the user typed from one left at its default.
DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 1883,
    "tls_port": None,
    "ws_port": None,
    "certfile": None,
    "keyfile": None,
    "cafile": None,
    "require_certificate": False,
    "password_file": None,
    "acl_file": None,
    "allow_anonymous": False,
    "persist": None,
    "log_level": "info",
    "max_connections": 1000,
    "max_queued_messages": 1000,
    "max_packet_size": 1024 * 1024,
    "max_inflight": 20,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    net = parser.add_argument_group("listeners")
    net.add_argument("--host", help="address to listen on (default 127.0.0.1: this machine only)")
    net.add_argument(
        "--port", type=non_negative_int, help="MQTT over TCP (default 1883; 0 picks a free port)"
    )
    net.add_argument(
        "--tls-port",
        type=non_negative_int,
        help="also MQTT over TLS on this port (needs --certfile and --keyfile)",
    )
    net.add_argument("--certfile", help="PEM certificate chain for TLS")
    net.add_argument("--keyfile", help="PEM private key for TLS")
    net.add_argument("--cafile", help="PEM CA certificates to verify client certificates")
    net.add_argument(
        "--require-certificate",
        action="store_true",
        default=None,
        help="TLS clients must present a certificate signed by --cafile",
    )
    net.add_argument(
        "--ws-port",
        type=non_negative_int,
        help="also MQTT over WebSocket (subprotocol 'mqtt') on this port",
    )
    sec = parser.add_argument_group("access")
    sec.add_argument(
        "--password-file",
        help="users and hashed passwords, mosquitto_passwd format (see mqttsim passwd)",
    )
    sec.add_argument("--acl-file", help="topic access rules, mosquitto acl_file format")
    sec.add_argument(
        "--allow-anonymous",
        action="store_true",
        default=None,
        help="accept clients without a user name even off loopback or with a password file",
    )
    state = parser.add_argument_group("state and limits")
    state.add_argument(
        "--persist",
        metavar="PATH",
        help="keep sessions and retained messages in this SQLite file across restarts",
    )
    state.add_argument(
        "--max-connections", type=positive_int, help="open sockets at most (default 1000)"
    )
    state.add_argument(
        "--max-queued-messages",
        type=non_negative_int,
        help="QoS 1/2 messages kept per session (default 1000); overflow is dropped and counted",
    )
    state.add_argument(
        "--max-packet-size",
        type=positive_int,
        help="largest packet accepted, in bytes (default 1048576)",
    )
    state.add_argument(
        "--max-inflight",
        type=positive_int,
        help="unacknowledged QoS 1/2 messages per client (default 20)",
    )
    parser.add_argument("--config", metavar="FILE", help="read settings from a TOML file")
    parser.add_argument("--log-level", choices=_LOG_LEVELS, help="default info")


def load_config(args: argparse.Namespace) -> dict[str, Any]:
    """Merge defaults, the --config file and the command line, in that order."""
    settings = dict(DEFAULTS)
    if args.config:
        import tomllib

        try:
            with open(args.config, "rb") as handle:
                data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{args.config}: {exc}") from None
        for key, value in data.items():
            name = key.replace("-", "_")
            if name not in DEFAULTS:
                raise ConfigError(
                    f"{args.config}: unknown setting {key!r} (allowed: "
                    f"{', '.join(k.replace('_', '-') for k in DEFAULTS)})"
                )
            settings[name] = value
    for name in DEFAULTS:
        value = getattr(args, name, None)
        if value is not None:
            settings[name] = value
    return settings


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check(settings: dict[str, Any]) -> None:
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


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from ..aio.server import BrokerServer, Listener
    from ..protocol.broker import BrokerConfig

    settings = load_config(args)
    _check(settings)
    logging.basicConfig(
        level=settings["log_level"].upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    host = settings["host"]
    listeners = [Listener(kind="tcp", host=host, port=settings["port"])]
    if settings["tls_port"] is not None:
        listeners.append(
            Listener(
                kind="tls", host=host, port=settings["tls_port"], ssl_context=_tls_context(settings)
            )
        )
    if settings["ws_port"] is not None:
        listeners.append(Listener(kind="ws", host=host, port=settings["ws_port"]))
    hooks: dict[str, Any] = {}
    if settings["password_file"]:
        from ..aio.passwd import PasswordFile

        hooks["authenticator"] = PasswordFile.load(
            settings["password_file"], allow_anonymous=bool(settings["allow_anonymous"])
        )
    if settings["acl_file"]:
        from ..aio.acl import AclFile

        hooks["authorizer"] = AclFile.load(settings["acl_file"])
    if settings["persist"]:
        from ..aio.store import SqliteStore

        hooks["store"] = SqliteStore(settings["persist"])
    try:
        config = BrokerConfig(
            max_queued_messages=settings["max_queued_messages"],
            max_packet_size=settings["max_packet_size"],
            max_inflight=settings["max_inflight"],
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None

    async def serve() -> None:
        server = BrokerServer(
            listeners, config=config, max_connections=settings["max_connections"], **hooks
        )
        try:
            await server.start()
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}: {exc.strerror or exc}") from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        logging.getLogger("mqttsim.broker").info("shutting down")
        await server.stop()

    asyncio.run(serve())
    return 0
