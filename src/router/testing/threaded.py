"""The fake provider in a background thread with its own event loop, for in-process tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType
from typing import Any, Self

from router.testing.app import start_server
from router.testing.faults import Fault
from router.testing.state import ProviderState, RecordedRequest, Settings

__all__ = ["FakeProviderServer"]


class FakeProviderServer:
    """An OpenAI- and Mistral-shaped fake provider on 127.0.0.1, in its own thread and loop.

    ``with FakeProviderServer() as server:`` then point a client at ``server.base_url``
    (OpenAI, ``.../v1``) or ``server.url`` (Mistral's ``server_url``). Script faults with
    :meth:`script`/:meth:`push`; read what was sent with :attr:`requests`.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        output_tokens: int = 8,
        cached_tokens: int = 0,
        api_key: str | None = None,
        flavor: str | None = None,
        log_limit: int = 10_000,
    ) -> None:
        settings = Settings(
            output_tokens=output_tokens,
            cached_tokens=cached_tokens,
            api_key=api_key,
            flavor=flavor,
            log_limit=log_limit,
        )
        self.state = ProviderState(settings)
        self._host, self._requested_port, self._port = host, port, 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # lifecycle

    def start(self) -> Self:
        """Start serving; returns when the port is bound."""
        if self._thread is not None:
            raise RuntimeError("FakeProviderServer is already started")
        self._thread = threading.Thread(target=self._run, name="fake-provider", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            error, self._error, self._thread = self._error, None, None
            self._ready.clear()
            raise RuntimeError("the fake provider could not start") from error
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections; safe to call twice."""
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is None or stopping is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop may be gone already
            loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout=10)
        self._loop = self._thread = self._stopping = None
        self._ready.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(); a daemon thread has nobody else
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server, connections = await start_server(
            self.state, host=self._host, port=self._requested_port
        )
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stopping.wait()
            server.close()
            for connection in list(connections):
                connection.abort()
        await asyncio.sleep(0)  # let cancelled connection tasks finish

    # addresses

    @property
    def port(self) -> int:
        if not self._ready.is_set():
            raise RuntimeError("FakeProviderServer is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: Mistral's ``server_url``."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: OpenAI's ``base_url``."""
        return self.url + "/v1"

    # scripting (the same methods as RemoteFakeProvider)

    def script(self, *faults: Fault, model: str | None = None) -> None:
        """Queue ``faults`` for the next requests (for ``model`` only, if given), in order."""
        self.state.script(*faults, model=model)

    def push(self, fault: Fault, *, model: str | None = None, times: int = 1) -> None:
        """Queue ``fault`` for the next ``times`` requests."""
        self.state.push(fault, model=model, times=times)

    def set_default(self, fault: Fault | None) -> None:
        """What requests get once the queues are empty (``None``: a normal answer)."""
        self.state.set_default(fault)

    def configure(self, **changes: Any) -> None:
        """Change ``output_tokens``, ``cached_tokens``, ``api_key`` or ``flavor``."""
        self.state.configure(**changes)

    def pending(self) -> int:
        """How many scripted faults are still queued."""
        return self.state.pending()

    def reset(self) -> None:
        """No scripts, empty log, initial settings."""
        self.state.reset()

    def clear_log(self) -> None:
        self.state.clear_log()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every logged request, oldest first."""
        return self.state.requests()

    def requests_for(self, model: str) -> list[RecordedRequest]:
        return self.state.requests(model=model)
