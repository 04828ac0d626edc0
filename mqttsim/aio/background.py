"""A broker on its own thread and event loop, for notebooks and tests.

A lesson wants a broker that keeps answering while a cell blocks (paho-mqtt's
``wait_for_publish()``, ``time.sleep`` in a demo). Running the server on the
kernel's own event loop would freeze it with the cell, so this helper gives
the server a private loop on a daemon thread, and stops it cleanly::

    with running_broker() as broker:
        client = paho.Client(...); client.connect("127.0.0.1", broker.port)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from .server import BrokerServer, Listener

__all__ = ["BackgroundBroker", "running_broker"]


class BackgroundBroker:
    """A :class:`BrokerServer` running on a thread of its own.

    Args:
        listeners: default: TCP on 127.0.0.1, a free port.
        **kwargs: passed to :class:`BrokerServer`.
    """

    def __init__(self, listeners: list[Listener] | None = None, **kwargs: Any) -> None:
        self._listeners = listeners or [Listener(kind="tcp", port=0)]
        self._kwargs = kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.server: BrokerServer | None = None

    @property
    def host(self) -> str:
        return self._listeners[0].host

    @property
    def port(self) -> int:
        """The port of the first listener."""
        assert self.server is not None, "broker not started"
        return self.server.ports[self._listeners[0].kind]

    @property
    def ports(self) -> dict[str, int]:
        assert self.server is not None, "broker not started"
        return dict(self.server.ports)

    def start(self, timeout_s: float = 10.0) -> BackgroundBroker:
        """Start the thread and wait until every listener is bound."""
        if self._thread is not None:
            raise RuntimeError("broker already started")
        ready: Future[None] = Future()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="mqttsim-broker", daemon=True
        )
        self._thread.start()
        ready.result(timeout=timeout_s)
        return self

    def _run(self, ready: Future[None]) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            self.server = BrokerServer(self._listeners, **self._kwargs)
            await self.server.start()

        try:
            loop.run_until_complete(boot())
        except BaseException as exc:  # reported to the starting thread
            ready.set_exception(exc)
            loop.close()
            return
        ready.set_result(None)
        loop.run_forever()
        loop.close()

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the broker's loop and return its result
        (safe access to the core's state from another thread)."""
        assert self._loop is not None

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Close every connection and listener, then end the thread."""
        loop, thread, server = self._loop, self._thread, self.server
        if loop is None or thread is None:
            return
        if server is not None:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=timeout_s)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=timeout_s)
        self._loop = self._thread = None

    def __enter__(self) -> BackgroundBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def running_broker(**kwargs: Any) -> Iterator[BackgroundBroker]:
    """``with running_broker() as b:`` a broker on 127.0.0.1:``b.port``."""
    broker = BackgroundBroker(**kwargs)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
