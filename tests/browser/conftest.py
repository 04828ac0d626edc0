"""JupyterLab on a loopback port and headless Debian Chromium, for the real-browser tests.

Both are started and stopped here, with every wait bounded:

* :func:`jupyter_lab` copies ``notebooks/`` into a temporary root, starts
  ``jupyter lab`` on 127.0.0.1 and a free port with a random token, and
  waits for the line that says it is running (read by a thread, so no wait
  can block for ever). At the end it shuts the kernels down, stops the
  server, and checks that the port is free again.
* :func:`page` launches ``/usr/bin/chromium`` through Playwright, which never
  downloads a browser of its own here, and refuses any request that would
  leave the machine.

Without Chromium or Playwright (a developer machine) the tests are skipped
with the reason; with ``MQTTSIM_REQUIRE_BROWSER=1`` (set by ``.ci/run``) they
fail instead, so CI cannot pass by skipping them.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_S = 90.0  # a cold JupyterLab on a busy 2-core machine
SERVER_STOP_S = 30.0
POLL_S = 0.2  # between two "are you up?" requests
REQUIRE_ENV = "MQTTSIM_REQUIRE_BROWSER"
# JupyterLab settings for a quiet, offline session: no news, no update check.
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None if they can."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return (
            "the playwright package is not installed (pip install playwright; no browser download)"
        )
    return None


def _skip_or_fail(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def port_is_free(port: int) -> bool:
    """True if a server could listen on 127.0.0.1:``port`` (TIME_WAIT allowed, as on restart)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        except OSError:
            return False
    return True


@dataclass
class JupyterLab:
    """A running JupyterLab server: where it is and how to talk to its REST API."""

    process: subprocess.Popen[str]
    port: int
    token: str
    root: Path
    log: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self, notebook: str) -> str:
        """The address that opens ``notebook`` in JupyterLab, logged in by the token."""
        return f"{self.url}/lab/tree/{notebook}?token={self.token}"

    def api(self, path: str, method: str = "GET") -> Any:
        """Call the server's REST API; bounded by a 10 s timeout."""
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def wait_for_kernel(
        self, notebook: str, timeout_s: float, pause: Callable[[float], None] = time.sleep
    ) -> None:
        """Wait until a browser is connected to an idle kernel of ``notebook``.

        The page's own kernel indicator reads "idle" before any kernel
        exists, so ask the server: a session for the notebook whose kernel
        has a connection (the page's websocket) and is idle. Polled, bounded.

        Args:
            notebook: its path under the served root.
            timeout_s: give up (and fail the test) after this long.
            pause: how to wait between two polls; with a Playwright page,
                pass ``page.wait_for_timeout`` (in seconds), because the
                sync API serves the page's routed requests only while it is
                inside one of its own calls, never during ``time.sleep``.
        """
        deadline = time.monotonic() + timeout_s
        for _attempt in range(int(timeout_s / POLL_S) + 1):
            for session in self.api("/api/sessions"):
                kernel = session.get("kernel") or {}
                if (
                    session.get("path") == notebook
                    and kernel.get("connections", 0) >= 1
                    and kernel.get("execution_state") == "idle"
                ):
                    return
            if time.monotonic() > deadline or self.process.poll() is not None:
                break
            pause(POLL_S)
        pytest.fail(f"no idle kernel with a browser for {notebook} in {timeout_s:g} s")

    def tail(self, lines: int = 30) -> str:
        """The end of the server's log, for failure messages."""
        return "\n".join(self.log[-lines:])


def _read_lines(stream: Any, sink: list[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        sink.append(line.rstrip("\n"))
        lines.put(line)


def _settings(root: Path) -> Path:
    folder = root / "lab-user-settings"
    for name, values in USER_SETTINGS.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    return folder


@pytest.fixture
def jupyter_lab(tmp_path: Path) -> Iterator[JupyterLab]:
    """JupyterLab serving a copy of ``notebooks/`` on 127.0.0.1, stopped afterwards."""
    reason = missing_browser()
    if reason:
        _skip_or_fail(reason)
    served = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", served, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    port, token = _free_port(), secrets.token_hex(16)
    state = tmp_path / "jupyter"
    env = dict(
        os.environ,
        # Everything Jupyter, IPython and matplotlib write goes under tmp_path.
        JUPYTER_CONFIG_DIR=str(state / "config"),
        JUPYTER_DATA_DIR=str(state / "data"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
        IPYTHONDIR=str(state / "ipython"),
        MPLCONFIGDIR=str(state / "matplotlib"),
        PYTHONUNBUFFERED="1",
    )
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--IdentityProvider.token={token}",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={served}",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.user_settings_dir={_settings(state)}",
        f"--LabApp.workspaces_dir={state / 'workspaces'}",
    ]
    if hasattr(os, "getuid") and os.getuid() == 0:
        command.append("--allow-root")  # CI containers run as root
    process = subprocess.Popen(
        command,
        cwd=served,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the kernels go with it
    )
    server = JupyterLab(process=process, port=port, token=token, root=served)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=_read_lines, args=(process.stdout, server.log, lines), daemon=True
    )
    reader.start()
    try:
        _wait_until_running(server, lines)
        yield server
    finally:
        _stop(server)
        reader.join(timeout=SERVER_STOP_S)
    assert port_is_free(port), f"port {port} still taken after JupyterLab stopped"


def _wait_until_running(server: JupyterLab, lines: queue.Queue[str]) -> None:
    address = f"127.0.0.1:{server.port}/"
    deadline = time.monotonic() + SERVER_START_S
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"JupyterLab did not start in {SERVER_START_S:g} s:\n{server.tail()}")
        try:
            # A short wait per line, so that a server that died is noticed at once.
            line = lines.get(timeout=min(left, 1.0))
        except queue.Empty:
            if server.process.poll() is not None:
                pytest.fail(f"JupyterLab exited with {server.process.returncode}:\n{server.tail()}")
            continue
        if address in line:
            break
    # It prints its address a moment before it listens: poll, a bounded number of times.
    for _attempt in range(int(SERVER_START_S / POLL_S)):
        try:
            status = server.api("/api/status")
            break
        except ConnectionRefusedError:
            pass
        except OSError as exc:
            if not isinstance(
                exc.__cause__ or getattr(exc, "reason", None), ConnectionRefusedError
            ):
                raise
        if server.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"JupyterLab never answered on port {server.port}:\n{server.tail()}")
        time.sleep(POLL_S)
    else:
        pytest.fail(f"JupyterLab never answered on port {server.port}:\n{server.tail()}")
    assert "started" in status, status


def _stop(server: JupyterLab) -> None:
    process = server.process
    if process.poll() is None:
        # Kernels first, through the server, so none outlives it.
        with contextlib.suppress(OSError, ValueError):
            for kernel in server.api("/api/kernels"):
                server.api(f"/api/kernels/{kernel['id']}", method="DELETE")
        process.send_signal(signal.SIGTERM)  # JupyterLab's clean shutdown
        try:
            process.wait(timeout=SERVER_STOP_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # this server's own group, by its id
            process.wait(timeout=SERVER_STOP_S)


@pytest.fixture
def page(jupyter_lab: JupyterLab) -> Iterator[Any]:
    """A Playwright page in headless Debian Chromium that can reach 127.0.0.1 only."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1300})
            context.route("**/*", _loopback_only)
            context.set_default_timeout(60_000)
            yield context.new_page()
        finally:
            browser.close()


def _loopback_only(route: Any) -> None:
    url = urlsplit(route.request.url)
    if url.scheme in ("data", "blob") or url.hostname in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort()
