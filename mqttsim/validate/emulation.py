"""The emulator as a harness uses it: :class:`Emulation`, a context manager.

Theory of operation
-------------------
``Emulation(links={"field": GEO, "office": LAN})`` describes a star: a hub
(``"hub"`` unless named otherwise) and one site per link, each link a
:class:`~mqttsim.sim.linkspec.LinkSpec` between that site (its first end,
"up" is site -> hub) and the hub, exactly as the simulator reads the same
value. Entering the ``with``:

1. checks the machine in one line (root, ``/dev/net/tun``, ``ip``) and
   removes ``mqv-*`` namespaces left by killed runs;
2. makes one network namespace per site with a TUN device and its address
   (:mod:`mqttsim.validate.netns`: hub 10.250.0.1, the k-th link's site
   10.250.k.1, all inside the namespaces only);
3. starts the forwarder (:mod:`mqttsim.validate.emulator`) as a separate
   process holding the TUN devices, and waits until it is forwarding. Its
   clock zero, the emulator time of scheduled outages, is that moment.

Inside, a harness runs programs in a site with :meth:`Emulation.run_in`
(``ip netns exec``: the broker, mosquitto, a paho-mqtt script), opens
sockets there with :meth:`Emulation.socket`, reads :meth:`Emulation.counters`
and cuts a link with :meth:`Emulation.outage_now`.

Leaving the ``with`` by any path (normal end, exception, KeyboardInterrupt,
SIGTERM, which is turned into ``SystemExit`` while inside, or interpreter
exit via ``atexit``) ends the programs started there, stops the forwarder
(keeping its last counters, still readable), and deletes every namespace.
If the forwarder died during the run, the exit still cleans up and then
raises :class:`~mqttsim.validate.netns.EmulatorError` saying so.

What a harness should know:

* **Clocks.** ``time.monotonic()`` is one clock for every namespace, so a
  latency is the receiver's reading minus the sender's, across sites.
  :meth:`Emulation.clock_s` is emulator time (0 when the forwarder
  started): the time of ``LinkSpec.outages`` windows and of
  :meth:`Emulation.outage_now`'s answer.
* **Counters** (:meth:`Emulation.counters`) are per direction,
  ``"<site> up"`` (site to hub) and ``"<site> down"``; TCP figures count
  what senders *offered* (a retransmission counts once, whether it is then
  lost or not). Site-to-site traffic crosses and is counted on two links.
  :meth:`Emulation.tun_drops` must be all 0: a drop there is the machine's,
  not the link's.
* **Kernel settings** of each namespace are a fresh namespace's defaults
  (Linux's ``tcp_syn_linear_timeouts=4``, ``tcp_retries2=15``...), not
  the host's; set them per site with ``emu.run_in(site, ["sysctl", "-w",
  ...])`` if a scenario needs others. Programs run as root.
* **Traffic inside one site** (a subscriber beside the broker, both in
  ``"hub"``) goes over that namespace's ``lo`` and crosses no link.
* **Same seed, same draws.** The link's random streams are the simulator
  World's for a link of the same name and seed; with the same packets
  offered in the same order, the same packets are lost. Real stacks never
  offer exactly the simulator's packets, so expect the same loss *process*,
  not the same lost messages.
* **netem is not used**, even where ``sch_netem`` exists: its jitter
  reorders packets unless configured around it, its Gilbert-Elliott
  takes other parameters and has no time-based form, and its draws are not
  the simulator's; the forwarder applies :class:`~mqttsim.sim.link.Link`'s
  own rules and figures, which is the point of a validation.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from mqttsim.protocol.errors import ConfigError
from mqttsim.sim.linkspec import LinkSpec

from .emulator import SPIN_S, ForwarderConfig, recv_message, send_message
from .netns import EmulatorError, Topology, socket_in, tun_drops

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

__all__ = ["Emulation"]

# The forwarder runs this, not ``-m mqttsim.validate.emulator``: as __main__ its
# classes would not be the ones the configuration was pickled with.
_SERVE = (
    "import sys; from mqttsim.validate.emulator import serve; sys.exit(serve(int(sys.argv[1])))"
)
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent.parent)


class Emulation:
    """A hub and one emulated link per other site (see the module docstring).

    Args:
        links: site name -> its link to the hub (``"up"`` = site -> hub).
        hub: the hub's site name.
        seed: seeds the link's random streams as the simulator's ``World``
            does (``f"{seed}:{site}:{purpose}"``), so the same seed draws the
            same losses per packet offered.
        horizon_s: random outages (``LinkSpec.outage``) are drawn up to this.
        pcap_dir: write ``<site>.pcap`` per link (every packet as offered,
            emulator time from 1970-01-01) into this directory, or None.
        realtime: run the forwarder at ``SCHED_FIFO`` priority when allowed.
        spin_s: the forwarder busy-waits this long before a packet is due.
        timeout_s: how long to wait for the forwarder to answer.

    Raises:
        ConfigError: a link that is not a LinkSpec, or bad site names.
        EmulatorError: (on entry) not root, no TUN, no ``ip``; or the
            forwarder did not start.
    """

    def __init__(
        self,
        links: Mapping[str, LinkSpec],
        *,
        hub: str = "hub",
        seed: int | str = 0,
        horizon_s: float = 86_400.0,
        pcap_dir: str | os.PathLike[str] | None = None,
        realtime: bool = True,
        spin_s: float = SPIN_S,
        timeout_s: float = 30.0,
    ) -> None:
        if not links:
            raise ConfigError("an emulation needs at least one link")
        for site, spec in links.items():
            if not isinstance(spec, LinkSpec):
                raise ConfigError(f"link {site!r} must be a LinkSpec, got {type(spec).__name__}")
        self.links = dict(links)
        self.hub = hub
        self.seed = seed
        self.horizon_s = float(horizon_s)
        self.pcap_dir = None if pcap_dir is None else os.fspath(pcap_dir)
        self.realtime = realtime
        self.spin_s = spin_s
        self.timeout_s = timeout_s
        try:
            self._topology = Topology(hub, list(self.links))
        except EmulatorError as exc:
            raise ConfigError(str(exc)) from None
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._lock = threading.Lock()
        self._started: list[subprocess.Popen[Any]] = []
        self._t0 = 0.0
        self._info: dict[str, Any] = {}
        self._final: dict[str, Any] | None = None
        self._final_drops: dict[str, int] = {}
        self._crashed: int | None = None
        self._old_sigterm: Any = None
        self._open = False

    # -- life cycle --

    def start(self) -> Emulation:
        """Make the namespaces and start the forwarder (``with`` does this)."""
        if self._open:
            raise EmulatorError("this emulation is already running")
        fds = self._topology.open()
        self._open = True
        atexit.register(self.close)
        try:
            parent, child = socket.socketpair()
            self._control = parent
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p
            )
            argv = [sys.executable, "-c", _SERVE, str(child.fileno())]
            self._proc = subprocess.Popen(
                argv, pass_fds=(child.fileno(), *fds.values()), env=env, start_new_session=True
            )
            child.close()
            parent.settimeout(self.timeout_s)
            sites = {name: (fds[name], site.address) for name, site in self._topology.sites.items()}
            config = ForwarderConfig(
                sites=sites,
                hub=self.hub,
                links=self.links,
                seed=self.seed,
                horizon_s=self.horizon_s,
                pcap_dir=self.pcap_dir,
                realtime=self.realtime,
                spin_s=self.spin_s,
            )
            send_message(parent, config)
            kind, t0, info = self._receive("the forwarder did not start")
            if kind != "ready":
                raise EmulatorError(f"the forwarder did not start: {kind}")
            self._t0, self._info = t0, info
            self._topology.release_fds()  # the forwarder holds the only copies now
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """End what runs inside, stop the forwarder, delete the namespaces (idempotent)."""
        if not self._open:
            return
        self._open = False
        atexit.unregister(self.close)
        try:
            for proc in self._started:
                _end(proc)
            self._final_drops = self._tun_drops()
            self._stop_forwarder()
        finally:
            self._topology.close()

    def __enter__(self) -> Emulation:
        if threading.current_thread() is threading.main_thread():
            self._old_sigterm = signal.signal(signal.SIGTERM, _sigterm_to_exit)
        try:
            return self.start()
        except BaseException:
            self._restore_sigterm()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.close()
        finally:
            self._restore_sigterm()
        if exc_type is None and self._crashed is not None:
            raise EmulatorError(f"the forwarder exited with code {self._crashed} during the run")

    def _restore_sigterm(self) -> None:
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None

    def _stop_forwarder(self) -> None:
        proc, control = self._proc, self._control
        if proc is None or control is None:
            return
        stopped = False
        if proc.poll() is None:
            try:
                with self._lock:
                    send_message(control, ("stop",))
                    kind, final = recv_message(control)
                if kind == "ok":
                    self._final, stopped = final, True
            except (OSError, EOFError):
                pass  # it died: its socket closes a moment before it can be reaped
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if not stopped and self._crashed is None:
            self._crashed = proc.returncode
        control.close()

    # -- what a harness uses --

    @property
    def sites(self) -> tuple[str, ...]:
        """The hub, then the other sites in the order of ``links``."""
        return tuple(self._topology.sites)

    def address(self, site: str) -> str:
        """The IPv4 address of ``site`` (e.g. ``"10.250.0.1"`` for the hub)."""
        address: str = self._site(site).address
        return address

    def netns(self, site: str) -> str:
        """The network namespace of ``site`` (for ``ip netns exec`` or :func:`~.netns.in_netns`)."""
        netns: str = self._site(site).netns
        return netns

    def run_in(self, site: str, argv: Sequence[str], **popen: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside ``site``'s namespace (``ip netns exec``); keyword args go to Popen.

        The process is ended (SIGTERM, then SIGKILL) when the emulation
        closes, unless it has exited by then.
        """
        self._check_running()
        proc = subprocess.Popen(["ip", "netns", "exec", self.netns(site), *argv], **popen)
        self._started.append(proc)
        return proc

    def socket(
        self, site: str, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM
    ) -> socket.socket:
        """A new socket living in ``site``'s namespace (the caller closes it)."""
        self._check_running()
        return socket_in(self.netns(site), family, type)

    def clock_s(self) -> float:
        """Emulator time now: seconds since the forwarder started (the time of outage windows)."""
        return time.monotonic() - self._t0

    @property
    def forwarder_pid(self) -> int | None:
        """The forwarder's process id (None before start)."""
        return None if self._proc is None else self._proc.pid

    @property
    def realtime_granted(self) -> bool:
        """True if the forwarder runs at SCHED_FIFO priority."""
        return bool(self._info.get("realtime"))

    def outage_now(
        self, link: str, duration_s: float, *, start_in_s: float = 0.0
    ) -> tuple[float, float]:
        """Cut ``link`` (both ways) for ``duration_s`` from ``start_in_s`` from now.

        Returns the window ``(start, end)`` in emulator time. A packet is
        dropped if the window covers any moment from its transmission start
        to its arrival, as for the spec's own outages.
        """
        if link not in self.links:
            raise ConfigError(f"no link {link!r}; links: {', '.join(self.links)}")
        if not duration_s > 0 or not start_in_s >= 0:
            raise ConfigError("an outage needs duration_s > 0 and start_in_s >= 0")
        kind, window = self._request(("outage", link, self.clock_s() + start_in_s, duration_s))
        if kind != "ok":
            raise EmulatorError(str(window))
        begin, end = window
        return float(begin), float(end)

    def counters(self) -> dict[str, dict[str, int]]:
        """Per direction (``"field up"``, ``"field down"``...): packets, bytes and TCP figures.

        See :class:`~mqttsim.validate.packets.Counters` for the names; also
        ``in_flight``. After the emulation has closed, the last figures.
        """
        return {k: v for k, v in self._all_counters().items() if k != "forwarder"}

    def forwarder_stats(self) -> dict[str, float]:
        """The forwarder's own figures: packets it could not route or write, and
        its write lateness (``p50_us``, ``p99_us``, ``max_us``, ``count``)."""
        return dict(self._all_counters()["forwarder"])

    def tun_drops(self) -> dict[str, int]:
        """Packets each site's TUN dropped before the forwarder read them (0 in a sound run).

        Such drops are the machine's, not the emulated link's: a harness
        should check they are all 0. After the emulation has closed, the last figures.
        """
        return self._tun_drops() if self._open else dict(self._final_drops)

    def _tun_drops(self) -> dict[str, int]:
        return {name: tun_drops(site.netns) for name, site in self._topology.sites.items()}

    def counters_frame(self) -> pd.DataFrame:
        """:meth:`counters` as a DataFrame, one row per direction."""
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]

        return pd.DataFrame.from_dict(self.counters(), orient="index")

    # -- internals --

    def _site(self, site: str) -> Any:
        try:
            return self._topology.sites[site]
        except KeyError:
            raise ConfigError(f"no site {site!r}; sites: {', '.join(self.sites)}") from None

    def _check_running(self) -> None:
        if not self._open:
            raise EmulatorError("the emulation is not running (use it inside its with block)")
        if self._proc is not None and self._proc.poll() is not None:
            self._crashed = self._proc.returncode
            raise EmulatorError(f"the forwarder exited with code {self._crashed}")

    def _all_counters(self) -> dict[str, Any]:
        if not self._open:
            if self._final is None:
                raise EmulatorError("no counters: the emulation never ran or its forwarder died")
            return self._final
        kind, counters = self._request(("counters",))
        if kind != "ok":
            raise EmulatorError(str(counters))
        reply: dict[str, Any] = counters
        return reply

    def _request(self, message: tuple[Any, ...]) -> tuple[str, Any]:
        self._check_running()
        assert self._control is not None
        with self._lock:
            try:
                send_message(self._control, message)
            except OSError:
                raise EmulatorError("the forwarder is not answering (it has died)") from None
            kind, payload = self._receive("the forwarder is not answering")
            return str(kind), payload

    def _receive(self, what: str) -> tuple[Any, ...]:
        assert self._control is not None
        try:
            reply: tuple[Any, ...] = recv_message(self._control)
        except TimeoutError:
            raise EmulatorError(f"{what} within {self.timeout_s:g} s") from None
        except (OSError, EOFError):
            code = None
            if self._proc is not None:
                try:
                    code = self._proc.wait(timeout=2.0)
                except subprocess.TimeoutExpired:
                    pass
            raise EmulatorError(f"{what} (it exited with code {code})") from None
        return reply


def _end(proc: subprocess.Popen[Any], grace_s: float = 2.0) -> None:
    """SIGTERM ``proc``, then SIGKILL after ``grace_s``; reap it."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _sigterm_to_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
