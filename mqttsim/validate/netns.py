"""Network namespaces and TUN devices: the emulator's private little network.

Theory of operation
-------------------
The link emulator (:mod:`mqttsim.validate.emulator`) needs real TCP stacks
talking over an emulated link. Each *site* (``hub``, ``field``, ``office``...)
is a Linux network namespace of its own, named ``mqv-<pid>-<k>-<site>``:
``mqv-`` marks every namespace this project makes, ``<pid>`` is the process
that made it (so stale ones from killed runs can be recognised), ``<k>``
counts the topologies made by that process. A namespace holds:

* ``lo``, up;
* one TUN device, ``mqv0``, whose other side (the file descriptor) belongs
  to the forwarder: every IP packet a site sends to another site is read by
  the forwarder, which decides its fate and writes it, later, into the other
  site's ``mqv0``. The namespaces are not connected in any other way, and
  nothing is connected to the host's own network: no veth, no bridge, no
  route out. Nothing can leave the machine.

Addresses come from ``10.250.0.0/16`` (RFC 1918, private) and exist only
inside these namespaces: the hub is ``10.250.0.1/24``, the k-th other site
(in the order given, from 1) ``10.250.k.1/24``; every namespace routes
``10.250.0.0/16`` to its ``mqv0``. So a site reaches the hub, and any other
site, through the forwarder only. IPv6 is disabled inside the namespaces, so
no router solicitation or MLD report ever crosses an emulated link: only
what the programs under test send does.

A TUN device drops what its sender writes beyond its queue (``TUN_QUEUE``
packets) while the forwarder has not read it: :func:`tun_drops` counts those,
which a sound run never has.

A TUN device exists while a file descriptor holds it: it is made by
:func:`open_tun` from a thread moved into the namespace with ``setns(2)``
(Python 3.11 has no ``os.setns``; libc's is called through :mod:`ctypes`),
and vanishes when the forwarder closes it or dies. :func:`socket_in` uses the
same trick to open a socket inside a namespace from the calling process.

:class:`Topology` makes the namespaces and removes them on every exit path:
``close()`` is idempotent, and :class:`~mqttsim.validate.emulation.Emulation`
calls it from ``__exit__``, a SIGTERM handler and ``atexit``. Before removing
a namespace it ends the processes still inside it (they are the ones the run
started there: nothing else can enter a namespace this process just made).
:func:`cleanup_stale` removes ``mqv-*`` namespaces whose making process is
gone (a run killed with SIGKILL).

Everything here needs root (``CAP_NET_ADMIN`` and ``CAP_SYS_ADMIN``);
:func:`check_environment` says so in one line.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import itertools
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from mqttsim.protocol.errors import MQTTError

__all__ = [
    "HUB_ADDRESS",
    "NETNS_PREFIX",
    "SUBNET",
    "TUN_NAME",
    "EmulatorError",
    "Site",
    "Topology",
    "check_environment",
    "cleanup_stale",
    "in_netns",
    "open_tun",
    "site_address",
    "socket_in",
    "tun_drops",
]

NETNS_PREFIX = "mqv-"
SUBNET = "10.250.0.0/16"
HUB_ADDRESS = "10.250.0.1"
TUN_NAME = "mqv0"
# Packets a site may send faster than the forwarder reads them before its TUN
# drops (the TUN orphans its packets, so a sender never blocks): ~100k
# packets/s read, and a tight UDP loop writes 200k/s. See tun_drops().
TUN_QUEUE = 10_000
MAX_SITES = 255  # the hub and 254 others: 10.250.1.1 ... 10.250.254.1

NOT_ROOT = (
    "the link emulator needs root (network namespaces and TUN devices): run as root, e.g. sudo"
)

_NETNS_DIR = "/run/netns"
_CLONE_NEWNET = 0x40000000
_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000
_SITE_NAME = re.compile(r"[a-z][a-z0-9_]{0,15}")
_OURS = re.compile(re.escape(NETNS_PREFIX) + r"(\d+)-")
_COUNTER = itertools.count(1)  # topologies made by this process


class EmulatorError(MQTTError):
    """The link emulator cannot run or has failed; the message is one line."""


def check_environment() -> None:
    """Raise :class:`EmulatorError` (one line) unless the emulator can run here.

    It needs root, ``/dev/net/tun`` and iproute2's ``ip``.
    """
    if os.geteuid() != 0:
        raise EmulatorError(NOT_ROOT)
    if not os.path.exists("/dev/net/tun"):
        raise EmulatorError(
            "the link emulator needs /dev/net/tun (TUN devices): load the tun module"
            " or give the container --device /dev/net/tun"
        )
    if shutil.which("ip") is None:
        raise EmulatorError("the link emulator needs iproute2's ip command: install iproute2")


def site_address(index: int) -> str:
    """The address of the ``index``-th site: 0 is the hub (10.250.0.1), k is 10.250.k.1."""
    if not 0 <= index < MAX_SITES:
        raise EmulatorError(f"at most {MAX_SITES} sites (the hub and 254 others), got {index + 1}")
    return f"10.250.{index}.1"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip ARGS``; a failure is an :class:`EmulatorError` quoting ip's first line."""
    run = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and run.returncode != 0:
        why = (run.stderr.strip().splitlines() or ["no message"])[0]
        raise EmulatorError(f"ip {' '.join(args)} failed: {why}")
    return run


_libc: ctypes.CDLL | None = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise EmulatorError(f"setns failed: {os.strerror(err)}")


@contextmanager
def in_netns(netns: str) -> Iterator[None]:
    """Run the body with the calling *thread* inside network namespace ``netns``.

    Only this thread moves (``setns(2)`` acts per thread); it moves back on
    exit, exception or not. Sockets and TUN devices opened inside stay in the
    namespace for their whole life. Keep the body short: no awaits, no
    threads started.
    """
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            target = os.open(os.path.join(_NETNS_DIR, netns), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise EmulatorError(f"no network namespace {netns!r}") from None
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)


def socket_in(
    netns: str,
    family: int = socket.AF_INET,
    type: int = socket.SOCK_STREAM,
    proto: int = 0,
) -> socket.socket:
    """A new socket that lives in network namespace ``netns`` (bind, connect as usual)."""
    with in_netns(netns):
        return socket.socket(family, type, proto)


def open_tun(netns: str, name: str = TUN_NAME) -> int:
    """Create TUN device ``name`` inside ``netns``; return its non-blocking descriptor.

    Raw IPv4 packets, no packet-information header (``IFF_NO_PI``). The
    device lives as long as a copy of the descriptor is open.
    """
    with in_netns(netns):
        # IPv6 off before the device exists, so it never gets a link-local address.
        for conf in ("all", "default"):
            with open(f"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6", "w") as sysctl:
                sysctl.write("1")
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            ifr = struct.pack("16sH", name.encode(), _IFF_TUN | _IFF_NO_PI)
            fcntl.ioctl(fd, _TUNSETIFF, ifr)
        except OSError as exc:
            os.close(fd)
            raise EmulatorError(
                f"cannot create TUN device {name} in {netns}: {exc.strerror}"
            ) from None
    return fd


def tun_drops(netns: str) -> int:
    """Packets the TUN of ``netns`` dropped because the forwarder did not read them in time.

    0 in a sound run: the emulator, not the machine, decides every loss.
    """
    run = _ip("-s", "-j", "-n", netns, "link", "show", TUN_NAME, check=False)
    try:
        return int(json.loads(run.stdout)[0]["stats64"]["tx"]["dropped"])
    except (ValueError, LookupError, TypeError):
        return 0


def _netns_names() -> list[str]:
    try:
        return sorted(os.listdir(_NETNS_DIR))
    except FileNotFoundError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _end_processes(netns: str, grace_s: float = 2.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``, every process left inside ``netns``."""
    run = _ip("netns", "pids", netns, check=False)
    pids = {int(p) for p in run.stdout.split() if p.isdigit()} - {os.getpid()}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while pids and time.monotonic() < deadline:
            pids = {pid for pid in pids if _alive(pid)}
            if pids:
                time.sleep(0.01)  # polling process exit: there is no fd to wait on
        if not pids:
            return


def delete_netns(netns: str) -> None:
    """End the processes inside ``netns`` and delete it; nothing if it is gone."""
    if netns not in _netns_names():
        return
    _end_processes(netns)
    run = _ip("netns", "del", netns, check=False)
    if run.returncode != 0 and netns in _netns_names():
        why = (run.stderr.strip().splitlines() or ["no message"])[0]
        raise EmulatorError(f"cannot delete network namespace {netns}: {why}")


def cleanup_stale(*, everything: bool = False) -> list[str]:
    """Delete ``mqv-*`` namespaces whose making process is gone; return their names.

    With ``everything=True``, delete every ``mqv-*`` namespace except this
    process's own (for ``--cleanup`` after a crash, when nothing else runs).
    """
    removed = []
    for name in _netns_names():
        match = _OURS.match(name)
        if match is None:
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or (not everything and _alive(pid)):
            continue
        delete_netns(name)
        removed.append(name)
    return removed


@dataclass(frozen=True, slots=True)
class Site:
    """One site of a topology.

    Attributes:
        name: the site's name, e.g. ``"field"``.
        netns: its namespace, e.g. ``"mqv-4242-1-field"``.
        address: its IPv4 address, e.g. ``"10.250.1.1"``.
        index: 0 for the hub, k for the k-th other site.
    """

    name: str
    netns: str
    address: str
    index: int


class Topology:
    """A hub and other sites, each its own namespace with a TUN device.

    Args:
        hub: the hub's site name (10.250.0.1).
        others: the other sites, in order (10.250.1.1, 10.250.2.1, ...).

    ``open()`` makes everything and returns the TUN descriptors by site;
    ``close()`` removes everything (idempotent, safe after a partial open).
    Site names: a lower-case letter, then up to 15 of ``[a-z0-9_]``.

    Raises:
        EmulatorError: a bad or repeated site name, or the environment
            (see :func:`check_environment`).
    """

    def __init__(self, hub: str, others: Sequence[str]) -> None:
        names = [hub, *others]
        for name in names:
            if not isinstance(name, str) or not _SITE_NAME.fullmatch(name):
                raise EmulatorError(
                    f"site names are a lower-case letter then up to 15 of [a-z0-9_], got {name!r}"
                )
        if len(set(names)) != len(names):
            raise EmulatorError(f"site names must differ, got {names}")
        prefix = f"{NETNS_PREFIX}{os.getpid()}-{next(_COUNTER)}-"
        self.sites = {
            name: Site(name, prefix + name, site_address(k), k) for k, name in enumerate(names)
        }
        self.hub = hub
        self._made: list[str] = []
        self._fds: dict[str, int] = {}

    def open(self) -> dict[str, int]:
        """Make the namespaces and their TUN devices; return ``{site: tun fd}``.

        On failure everything made so far is removed before the error rises.
        """
        check_environment()
        try:
            cleanup_stale()
            for site in self.sites.values():
                _ip("netns", "add", site.netns)
                self._made.append(site.netns)
                self._fds[site.name] = open_tun(site.netns)
                ns = site.netns
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "link", "set", TUN_NAME, "txqueuelen", str(TUN_QUEUE))
                _ip("-n", ns, "addr", "add", f"{site.address}/24", "dev", TUN_NAME)
                _ip("-n", ns, "link", "set", TUN_NAME, "up")
                _ip("-n", ns, "route", "add", SUBNET, "dev", TUN_NAME)
        except BaseException:
            self.close()
            raise
        return dict(self._fds)

    def release_fds(self) -> None:
        """Close this process's copies of the TUN descriptors (the forwarder keeps its own)."""
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError as exc:  # pragma: no cover - already closed
                if exc.errno != errno.EBADF:
                    raise
        self._fds.clear()

    def close(self) -> None:
        """End the processes inside, close the TUN devices, delete the namespaces."""
        self.release_fds()
        errors = []
        while self._made:
            netns = self._made.pop()
            try:
                delete_netns(netns)
            except EmulatorError as exc:
                errors.append(str(exc))
        if errors:
            raise EmulatorError("; ".join(errors))

    def __enter__(self) -> Topology:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
