"""Broker throughput, latency and memory: ``mqttsim broker`` against mosquitto and amqtt.

Run ``python -m bench.broker_throughput`` (about 5 minutes) or add ``--quick``
(about 30 s). Each broker runs as its own process on a free port of
127.0.0.1, started and stopped here; the load generator (``bench.loadgen``)
speaks MQTT 3.1.1 over raw sockets from its own processes. Throughput runs are
interleaved (mqttsim, mosquitto, amqtt, mqttsim, ...) and the median of the
rounds is reported with the ratios the issue asks for, each marked PASS or
FAIL. Figures are printed, never asserted.

Scenarios, all with 64-byte payloads:

* fan-in: 4 publishers (4 processes) -> 1 subscriber on ``bench/fanin/+``, at
  QoS 0, 1 and 2; QoS 1/2 publishers keep at most 20 messages unacknowledged;
* fan-out: 1 publisher -> 50 subscribers on ``pipeline/+/pressure``, QoS 0,
  counted as deliveries per second summed over the 50;
* latency: QoS 1 at a paced 1,000 msg/s, publish-to-delivery p50 and p99;
* memory: broker RSS growth per idle connection at 1,000 and 10,000.

``--profile PATH`` runs only mqttsim's broker, under cProfile, through the
throughput scenarios, saves the profile and prints its top functions.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import os
import pstats
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from bench import loadgen
from bench.loadgen import LatencySpec, PubSpec, SubSpec

WINDOW = 20  # QoS 1/2 in flight per client; mosquitto's and mqttsim's default
MAX_QUEUED = 60_000  # per-client queue bound; mqttsim accepts at most 60,000
PAYLOAD = 64
FANIN_PUBLISHERS = 4
FANOUT_SUBSCRIBERS = 50
FANOUT_PROCESSES = 2
BROKERS = ("mqttsim", "mosquitto", "amqtt")
QUIET_WINDOW_S = 0.3  # a broker is idle when it uses at most QUIET_CPU_S in this window
QUIET_CPU_S = 0.02
MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


def log(message: str) -> None:
    """Progress goes to stderr; the figures go to stdout."""
    print(message, file=sys.stderr, flush=True)


# -- plans ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    rounds: int
    run_s: float  # cap on one throughput run
    fanin_messages: dict[int, int]  # QoS -> messages per run, over all publishers
    fanout_messages: int  # published; each goes to 50 subscribers
    latency_s: float
    idle_counts: tuple[int, ...]


FULL = Plan(
    rounds=3,
    run_s=5.0,
    fanin_messages={0: 300_000, 1: 50_000, 2: 40_000},
    fanout_messages=20_000,
    latency_s=5.0,
    idle_counts=(1_000, 10_000),
)
QUICK = Plan(
    rounds=1,
    run_s=1.5,
    fanin_messages={0: 50_000, 1: 20_000, 2: 10_000},
    fanout_messages=4_000,
    latency_s=1.5,
    idle_counts=(1_000,),
)


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    title: str
    qos: int
    fan_out: bool
    targets: dict[str, float]  # other broker -> minimum ratio mqttsim/other


SCENARIOS = (
    Scenario("fanin-q0", "Fan-in 4 -> 1, QoS 0", 0, False, {"mosquitto": 0.3, "amqtt": 10}),
    Scenario("fanin-q1", "Fan-in 4 -> 1, QoS 1", 1, False, {"mosquitto": 0.3, "amqtt": 10}),
    Scenario("fanin-q2", "Fan-in 4 -> 1, QoS 2", 2, False, {"mosquitto": 1.0, "amqtt": 10}),
    Scenario("fanout-q0", "Fan-out 1 -> 50, QoS 0", 0, True, {"mosquitto": 0.3, "amqtt": 10}),
)
MAX_KB_PER_CONNECTION = 10.0


# -- broker processes ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def mosquitto_path() -> str | None:
    found = shutil.which("mosquitto")
    return found or next((p for p in MOSQUITTO_PATHS if os.access(p, os.X_OK)), None)


def _mqttsim_argv(port: int, workdir: Path, profile: Path | None) -> list[str]:
    runner = ["-m", "cProfile", "-o", str(profile)] if profile else []
    limits = ["--max-connections", "20000", "--max-queued-messages", str(MAX_QUEUED)]
    return [sys.executable, *runner, "-m", "mqttsim", "broker", "--port", str(port), *limits,
            "--max-inflight", str(WINDOW)]  # fmt: skip


def _mosquitto_argv(port: int, workdir: Path, profile: Path | None) -> list[str]:
    conf = workdir / f"mosquitto-{port}.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "max_connections -1\n"
        "persistence false\n"
        f"max_queued_messages {MAX_QUEUED}\n"
        f"max_inflight_messages {WINDOW}\n"
        "set_tcp_nodelay true\n"  # asyncio (mqttsim, amqtt) sets TCP_NODELAY too
    )
    return [mosquitto_path() or "mosquitto", "-c", str(conf)]


def _amqtt_argv(port: int, workdir: Path, profile: Path | None) -> list[str]:
    conf = workdir / f"amqtt-{port}.yaml"
    conf.write_text(
        "listeners:\n"
        "  default:\n"
        "    type: tcp\n"
        f"    bind: 127.0.0.1:{port}\n"
        "plugins:\n"
        "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: true\n"
    )
    return [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(conf)]


ARGV: dict[str, Callable[[int, Path, Path | None], list[str]]] = {
    "mqttsim": _mqttsim_argv,
    "mosquitto": _mosquitto_argv,
    "amqtt": _amqtt_argv,
}


# With --pin (and two or more CPUs) the broker under test gets the first CPU to
# itself and the load generator the rest; all three brokers are single-threaded
# event loops. It is not the default: on a small virtual machine a wake-up
# across CPUs can cost milliseconds, which then dominates the latency run and
# the QoS 1/2 round trips.
BROKER_CPUS: set[int] = set()


def pin_cpus() -> str:
    """Pin this process (and so every load generator worker) away from the broker's CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return f"{len(cpus)} CPU shared by broker and load generator"
    BROKER_CPUS.clear()
    BROKER_CPUS.add(cpus[0])
    os.sched_setaffinity(0, cpus[1:])
    return f"broker pinned to CPU {cpus[0]}, load generator on CPU(s) {cpus[1:]}"


def _pin_broker() -> None:
    os.sched_setaffinity(0, BROKER_CPUS)


class BrokerError(RuntimeError):
    pass


class BrokerProcess:
    """One broker, in its own process, on its own port."""

    def __init__(self, name: str, workdir: Path, profile: Path | None = None) -> None:
        self.name = name
        self.workdir = workdir
        self.profile = profile
        self.restarts = 0
        self._start()

    def _start(self) -> None:
        self.port = free_port()
        self.log_path = self.workdir / f"{self.name}-{self.port}.log"
        argv = ARGV[self.name](self.port, self.workdir, self.profile)
        with open(self.log_path, "wb") as log_file:
            self.proc = subprocess.Popen(
                argv,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_pin_broker if BROKER_CPUS else None,
            )
        self._wait_listening(timeout_s=20.0)

    def restart(self) -> None:
        """A fresh process on a new port (a broker still working off a backlog is replaced)."""
        self.stop()
        self.restarts += 1
        self._start()

    def _wait_listening(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerError(
                    f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"{self.name} did not listen on {self.port} in {timeout_s} s")

    def log_tail(self, lines: int = 8) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return " | ".join(text[-lines:])

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise BrokerError(f"no VmRSS for {self.name}")

    def cpu_s(self) -> float:
        """User plus system CPU seconds the broker has used (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGINT (each broker shuts down cleanly on it), then harder if need be."""
        for sig, wait_s in ((signal.SIGINT, 10.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if self.proc.poll() is not None:
                return
            self.proc.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=wait_s)


@contextlib.contextmanager
def running(name: str, workdir: Path, profile: Path | None = None) -> Iterator[BrokerProcess]:
    broker = BrokerProcess(name, workdir, profile)
    try:
        yield broker
    finally:
        broker.stop()


# -- throughput ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunResult:
    rate: float  # delivered messages per second
    delivered: int
    expected: int
    elapsed_s: float  # from the start signal to the last delivery
    capped: bool
    busy_s: float  # the time over which CPU use is averaged
    broker_cpu_s: float
    loadgen_cpu_s: float
    error: str | None = None


def _jobs(
    broker: BrokerProcess, scen: Scenario, plan: Plan, tag: str
) -> tuple[list[loadgen.Job], int]:
    """The workers of one throughput run, and how many deliveries each message makes."""
    port, q, run_s = broker.port, scen.qos, plan.run_s
    if scen.fan_out:
        topics = tuple(f"pipeline/st{k:02d}/pressure" for k in range(10))
        pub = PubSpec(port, f"{tag}-pub", topics, q, plan.fanout_messages, WINDOW, PAYLOAD, run_s)
        subs = [
            SubSpec(
                port=port,
                client_prefix=f"{tag}-sub{k}",
                topic_filter="pipeline/+/pressure",
                qos=q,
                connections=FANOUT_SUBSCRIBERS // FANOUT_PROCESSES,
                expected=plan.fanout_messages,
                run_s=run_s,
                idle_s=1.0,
            )
            for k in range(FANOUT_PROCESSES)
        ]
        jobs: list[loadgen.Job] = [(loadgen.subscriber, (s,), False) for s in subs]
        return [*jobs, (loadgen.publisher, (pub,), True)], FANOUT_SUBSCRIBERS
    total = plan.fanin_messages[q]
    sub = SubSpec(port, f"{tag}-sub", "bench/fanin/+", q, 1, total, run_s, 1.0)
    jobs = [(loadgen.subscriber, (sub,), False)]
    for i in range(FANIN_PUBLISHERS):
        count = total // FANIN_PUBLISHERS
        spec = PubSpec(
            port, f"{tag}-pub{i}", (f"bench/fanin/{i}",), q, count, WINDOW, PAYLOAD, run_s
        )
        jobs.append((loadgen.publisher, (spec,), True))
    return jobs, 1


def run_throughput(broker: BrokerProcess, scen: Scenario, plan: Plan, tag: str) -> RunResult:
    jobs, per_message = _jobs(broker, scen, plan, tag)
    out = loadgen.drive(jobs, plan.run_s, broker.cpu_s)
    loadgen_cpu = sum(p.cpu_s for p in out.pubs) + sum(s.cpu_s for s in out.subs)
    received = sum(s.received for s in out.subs)
    lasts = [s.last_at for s in out.subs if s.last_at is not None]
    elapsed = (max(lasts) - out.t_go) if lasts else plan.run_s
    expected = sum(p.sent for p in out.pubs) * per_message
    planned = sum(spec.count for _, (spec,), is_pub in jobs if is_pub)
    capped = elapsed >= plan.run_s * 0.97 or sum(p.sent for p in out.pubs) < planned
    return RunResult(
        rate=received / elapsed if elapsed > 0 else 0.0,
        delivered=received,
        expected=expected,
        elapsed_s=elapsed,
        capped=capped,
        # A capped broker works on until the end, delivering or not.
        busy_s=out.wall_s if capped else elapsed,
        broker_cpu_s=out.broker_cpu_s,
        loadgen_cpu_s=loadgen_cpu,
        error="; ".join(out.errors) or None,
    )


# -- latency and memory --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LatencyRun:
    p50_us: float
    p99_us: float
    max_us: float
    samples: int
    sent: int
    error: str | None = None


def run_latency(broker: BrokerProcess, plan: Plan) -> LatencyRun:
    count = int(plan.latency_s * 1000)
    spec = LatencySpec(
        broker.port, "bench/latency", 1000.0, count, WINDOW, PAYLOAD, plan.latency_s + 2
    )
    jobs: list[loadgen.Job] = [
        (loadgen.latency_subscriber, (spec,), False),
        (loadgen.latency_publisher, (spec,), True),
    ]
    out = loadgen.drive(jobs, spec.run_s, broker.cpu_s)
    samples = sorted(x for s in out.subs for x in s.latencies_us)
    sent = sum(p.sent for p in out.pubs)
    if not samples:
        return LatencyRun(0, 0, 0, 0, sent, "; ".join(out.errors) or "no message arrived")
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return LatencyRun(
        cuts[49], cuts[98], samples[-1], len(samples), sent, "; ".join(out.errors) or None
    )


@dataclass(frozen=True, slots=True)
class MemoryRun:
    baseline_kb: int
    kb_per_connection: dict[int, float]
    error: str | None = None


def run_memory(name: str, workdir: Path, counts: tuple[int, ...]) -> MemoryRun:
    """RSS growth of a fresh broker per idle connection, at each of ``counts`` connections."""
    per: dict[int, float] = {}
    socks: list[socket.socket] = []
    with running(name, workdir) as broker:
        time.sleep(0.5)
        baseline = broker.rss_kb()
        try:
            for total in counts:
                socks += loadgen.open_idle(
                    broker.port, total - len(socks), prefix=f"idle-{name}", first=len(socks)
                )
                time.sleep(1.0)
                per[total] = (broker.rss_kb() - baseline) / total
        except OSError as exc:
            return MemoryRun(baseline, per, f"{len(socks)} open, then {exc!r}")
        finally:
            for sock in socks:
                sock.close()
    return MemoryRun(baseline, per)


# -- report --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    label: str
    value: float
    target: float
    at_least: bool  # True: value >= target passes; False: value <= target passes

    @property
    def passed(self) -> bool:
        return self.value >= self.target if self.at_least else self.value <= self.target

    def line(self) -> str:
        sign = ">=" if self.at_least else "<="
        verdict = "PASS" if self.passed else "FAIL"
        return f"  {self.label:<44} {self.value:>9.2f}   target {sign} {self.target:<5g}  {verdict}"


def _median(runs: list[RunResult]) -> RunResult | None:
    good = sorted((r for r in runs if r.error is None and r.delivered), key=lambda r: r.rate)
    return good[len(good) // 2] if good else None


def _row(name: str, runs: list[RunResult]) -> tuple[str, str | None]:
    """One table row, and a note when the broker was not the bottleneck."""
    mid = _median(runs)
    if mid is None:
        errors = "; ".join(r.error or "nothing delivered" for r in runs)
        return f"  {name:<10} {'ERROR':>10}   {errors}", None
    each = " / ".join(f"{r.rate:,.0f}" for r in runs)
    cpu = mid.broker_cpu_s / mid.busy_s
    per_msg = _cpu_per_message_us(runs)
    delivered = "capped" if mid.capped else f"{mid.delivered / max(mid.expected, 1):.1%}"
    row = (
        f"  {name:<10} {mid.rate:>10,.0f}   {each:<30} {delivered:>9}   {cpu:>10.0%}"
        f"   {per_msg:>10.1f}   {mid.loadgen_cpu_s / mid.busy_s:>11.0%}"
    )
    return row, _bottleneck_note(name, cpu, mid.loadgen_cpu_s / mid.busy_s)


def _bottleneck_note(name: str, broker_cpu: float, loadgen_cpu: float) -> str | None:
    """Say so when the broker was not what set the pace."""
    loadgen_cpus = len(os.sched_getaffinity(0))
    all_cpus = loadgen_cpus + len(BROKER_CPUS)
    busy = (broker_cpu + loadgen_cpu) / all_cpus
    if broker_cpu < 0.85 and busy > 0.9:
        return (
            f"  note: {name} used {broker_cpu:.0%} of a CPU while it and the load generator kept"
            f" {busy:.0%} of the {all_cpus} CPUs busy: its msg/s is a lower bound."
        )
    if broker_cpu < 0.85:
        return (
            f"  note: {name} used {broker_cpu:.0%} of a CPU: it spent time waiting (on round"
            " trips, on the load generator or on the scheduler): its msg/s may be a lower bound."
        )
    if loadgen_cpu / loadgen_cpus > 0.9:
        return (
            f"  note: the load generator was saturated against {name}: its msg/s may be a"
            " lower bound."
        )
    return None


def report_scenario(scen: Scenario, plan: Plan, runs: dict[str, list[RunResult]]) -> list[Check]:
    count = plan.fanout_messages if scen.fan_out else plan.fanin_messages[scen.qos]
    unit = "deliveries/s over all 50 subscribers" if scen.fan_out else "delivered msg/s"
    print(
        f"\n{scen.title}: {count:,} messages of {PAYLOAD} bytes per run; "
        f"median of {plan.rounds} round(s); {unit}"
    )
    print(
        f"  {'broker':<10} {'msg/s':>10}   {'each round':<30} {'delivered':>9}   "
        f"{'broker CPU':>10}   {'CPU µs/msg':>10}   {'loadgen CPU':>11}"
    )
    notes = []
    for name, name_runs in runs.items():
        row, note = _row(name, name_runs)
        print(row)
        if note:
            notes.append(note)
    for note in notes:
        print(note)
    ours = _median(runs.get("mqttsim", []))
    checks = []
    for other, target in scen.targets.items():
        theirs = _median(runs.get(other, []))
        if ours is None or theirs is None:
            print(f"  mqttsim / {other}: n/a (a run failed or the broker is missing)")
            continue
        checks.append(
            Check(f"{scen.title}: mqttsim / {other}", ours.rate / theirs.rate, target, True)
        )
        print(checks[-1].line())
    for other, target in scen.targets.items():
        theirs_us = _cpu_per_message_us(runs.get(other, []))
        ratio = theirs_us / (_cpu_per_message_us(runs.get("mqttsim", [])) or float("nan"))
        if ratio == ratio and theirs_us:  # neither missing
            verdict = "would pass" if ratio >= target else "would FAIL"
            print(f"  info: per broker CPU-second, mqttsim / {other} = {ratio:.2f}"
                  f" ({verdict} >= {target:g})")  # fmt: skip
    return checks


def _cpu_per_message_us(runs: list[RunResult]) -> float:
    """Median over the rounds of broker CPU per delivered message, in µs (0.0 if none)."""
    values = [r.broker_cpu_s / r.delivered * 1e6 for r in runs if r.error is None and r.delivered]
    return statistics.median(values) if values else 0.0


def report_latency(plan: Plan, runs: dict[str, LatencyRun]) -> None:
    print(
        f"\nQoS 1 publish-to-delivery latency at a paced 1,000 msg/s ({plan.latency_s:g} s, "
        f"{PAYLOAD}-byte payload, window {WINDOW})"
    )
    print(f"  {'broker':<10} {'p50 µs':>9} {'p99 µs':>9} {'max µs':>9} {'samples':>8} {'sent':>7}")
    for name, run in runs.items():
        if run.error and not run.samples:
            print(f"  {name:<10} ERROR {run.error}")
            continue
        print(
            f"  {name:<10} {run.p50_us:>9,.0f} {run.p99_us:>9,.0f} {run.max_us:>9,.0f}"
            f" {run.samples:>8,} {run.sent:>7,}" + (f"  ({run.error})" if run.error else "")
        )
    ours, theirs = runs.get("mqttsim"), runs.get("mosquitto")
    if ours and theirs and ours.samples and theirs.samples:
        print(
            f"  mqttsim / mosquitto: p50 {ours.p50_us / theirs.p50_us:.2f}x,"
            f" p99 {ours.p99_us / theirs.p99_us:.2f}x (no target)"
        )


def report_memory(counts: tuple[int, ...], runs: dict[str, MemoryRun]) -> list[Check]:
    print(
        "\nBroker memory per idle connection (VmRSS growth over a fresh broker / connections;"
        " CONNECT 3.1.1, keep-alive 600 s)"
    )
    heads = "".join(f" {'KB/conn @' + format(n, ','):>17}" for n in counts)
    print(f"  {'broker':<10} {'baseline MB':>12}{heads}")
    checks = []
    for name, run in runs.items():
        cells = "".join(
            f" {run.kb_per_connection[n]:>17.2f}" if n in run.kb_per_connection else f" {'-':>17}"
            for n in counts
        )
        print(
            f"  {name:<10} {run.baseline_kb / 1024:>12.1f}{cells}"
            + (f"  ERROR {run.error}" if run.error else "")
        )
    ours = runs.get("mqttsim")
    for n in counts:
        if ours is not None and n in ours.kb_per_connection:
            label = f"mqttsim KB per idle connection @ {n:,}"
            checks.append(Check(label, ours.kb_per_connection[n], MAX_KB_PER_CONNECTION, False))
            print(checks[-1].line())
    return checks


def report_summary(checks: list[Check]) -> None:
    passed = sum(c.passed for c in checks)
    print(f"\nSummary: {passed} of {len(checks)} targets met")
    for check in checks:
        print(check.line())


# -- phases --------------------------------------------------------------------


def raise_fd_limit() -> None:
    """Idle-connection runs need one descriptor per connection, here and in the broker."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def available(names: list[str]) -> list[str]:
    """The brokers that can run here; say why any cannot."""
    usable = []
    for name in names:
        if name == "mosquitto" and mosquitto_path() is None:
            print("mosquitto: not installed (apt-get install mosquitto); skipped")
        elif name == "amqtt" and importlib.util.find_spec("amqtt") is None:
            print("amqtt: not installed (pip install 'amqtt>=0.11', the 'bench' extra); skipped")
        else:
            usable.append(name)
    return usable


def versions(names: list[str]) -> str:
    found = {"mqttsim": importlib.metadata.version("mqttsim")}
    if "amqtt" in names:
        found["amqtt"] = importlib.metadata.version("amqtt")
    if "mosquitto" in names:
        text = subprocess.run(
            [mosquitto_path() or "mosquitto", "-h"], capture_output=True, text=True, timeout=10
        ).stdout
        found["mosquitto"] = text.split("version", 1)[-1].split()[0] if "version" in text else "?"
    return ", ".join(f"{k} {v}" for k, v in found.items())


def start_brokers(
    names: list[str], workdir: Path, stack: contextlib.ExitStack
) -> dict[str, BrokerProcess]:
    brokers: dict[str, BrokerProcess] = {}
    for name in names:
        try:
            brokers[name] = stack.enter_context(running(name, workdir))
        except BrokerError as exc:
            print(f"{name}: the broker does not run here (Python {sys.version.split()[0]}): {exc}")
    return brokers


def settle(brokers: dict[str, BrokerProcess], timeout_s: float = 3.0) -> None:
    """Wait until no broker is busy; restart any that stays busy.

    A run cut off at its time limit can leave a broker working through a
    backlog, which would steal CPU from the next runs (brokers and load
    generator share the machine).
    """
    deadline = time.monotonic() + timeout_s
    busy = list(brokers.values())
    while busy and time.monotonic() < deadline:
        before = [b.cpu_s() for b in busy]
        time.sleep(QUIET_WINDOW_S)
        busy = [b for b, c in zip(busy, before, strict=True) if b.cpu_s() - c > QUIET_CPU_S]
    for broker in busy:
        log(f"{broker.name} still busy after {timeout_s:g} s: restarting it")
        broker.restart()


def throughput_phase(
    brokers: dict[str, BrokerProcess], plan: Plan
) -> dict[str, dict[str, list[RunResult]]]:
    """Every scenario against every broker, interleaved, ``plan.rounds`` times."""
    runs: dict[str, dict[str, list[RunResult]]] = {
        s.key: {n: [] for n in brokers} for s in SCENARIOS
    }
    warm = replace(plan, run_s=1.0, fanin_messages=dict.fromkeys(range(3), 2_000),
                   fanout_messages=200)  # fmt: skip
    for scen in SCENARIOS:
        for name, broker in brokers.items():
            if run_throughput(broker, scen, warm, f"{name}-{scen.key}-warm").capped:
                broker.restart()
    for rnd in range(plan.rounds):
        for scen in SCENARIOS:
            for name, broker in brokers.items():
                settle(brokers)
                result = run_throughput(broker, scen, plan, f"{name}-{scen.key}-r{rnd}")
                runs[scen.key][name].append(result)
                if result.capped:  # it may still be working off what it was sent
                    broker.restart()
                log(
                    f"round {rnd + 1} {scen.key:<10} {name:<10} {result.rate:>10,.0f} msg/s"
                    f"  {result.delivered:,}/{result.expected:,} in {result.elapsed_s:.2f} s"
                    + (f"  ERROR {result.error}" if result.error else "")
                )
    return runs


def profile_phase(path: Path, plan: Plan, workdir: Path) -> None:
    """mqttsim's broker under cProfile through every throughput scenario, once."""
    with running("mqttsim", workdir, profile=path) as broker:
        for scen in SCENARIOS:
            result = run_throughput(broker, scen, plan, f"profile-{scen.key}")
            log(f"profile {scen.key:<10} {result.rate:>10,.0f} msg/s (slowed by cProfile)")
    print(f"\ncProfile of mqttsim's broker under the throughput scenarios, saved to {path}")
    stats = pstats.Stats(str(path), stream=sys.stdout)
    stats.strip_dirs().sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.broker_throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a 30-second smoke version")
    parser.add_argument("--brokers", default=",".join(BROKERS), help="comma-separated subset")
    parser.add_argument(
        "--profile",
        metavar="PATH",
        type=Path,
        help="profile mqttsim's broker with cProfile instead",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="give the broker the first CPU to itself and the load generator the others",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    raise_fd_limit()
    cpus = f"{os.cpu_count()} CPU(s) shared by broker and load generator"
    if args.pin:
        cpus = pin_cpus()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mqttsim-bench-") as tmp:
        workdir = Path(tmp)
        if args.profile:
            profile_phase(args.profile.resolve(), plan, workdir)
            return 0
        names = available([n for n in args.brokers.split(",") if n in BROKERS])
        print(
            f"Broker benchmark{' (--quick)' if args.quick else ''}: {versions(names)}; "
            f"Python {sys.version.split()[0]}; {cpus}; MQTT 3.1.1 on 127.0.0.1"
        )
        checks = run_all(names, plan, workdir)
    report_summary(checks)
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    return 0


def run_all(names: list[str], plan: Plan, workdir: Path) -> list[Check]:
    checks: list[Check] = []
    with contextlib.ExitStack() as stack:
        brokers = start_brokers(names, workdir, stack)
        runs = throughput_phase(brokers, plan)
        for scen in SCENARIOS:
            checks += report_scenario(scen, plan, runs[scen.key])
        latency = {}
        for name, broker in brokers.items():
            settle(brokers)
            latency[name] = run_latency(broker, plan)
            log(f"latency {name:<10} p50 {latency[name].p50_us:,.0f} µs")
        report_latency(plan, latency)
    memory = {}
    for name in brokers:
        memory[name] = run_memory(name, workdir, plan.idle_counts)
        log(f"memory {name:<10} {memory[name].kb_per_connection}")
    checks += report_memory(plan.idle_counts, memory)
    return checks


if __name__ == "__main__":
    sys.exit(main())
