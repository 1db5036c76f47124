"""Script a fake provider that runs in another process, over its ``/_control/`` endpoints.

:class:`FakeProviderProcess` starts one (``python -m router.testing.server``) and stops it;
:class:`RemoteFakeProvider` attaches to one already running. Both offer the scripting methods
of :class:`~router.testing.threaded.FakeProviderServer`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

from router.testing.faults import Fault, fault_to_dict
from router.testing.state import RecordedRequest

__all__ = ["FakeProviderProcess", "RemoteFakeProvider"]


class RemoteFakeProvider:
    """Control a fake provider at ``url`` (``http://127.0.0.1:PORT``, with or without ``/v1``)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/").removesuffix("/v1")
        self._timeout = timeout

    @property
    def base_url(self) -> str:
        """``.../v1``: OpenAI's ``base_url``."""
        return self.url + "/v1"

    def _call(self, command: str, payload: dict[str, Any] | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.url}/_control/{command}",
            data=data,
            method="GET" if payload is None else "POST",
            headers={"content-type": "application/json"},
        )
        # 127.0.0.1 only: an environment proxy must not see these calls
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=self._timeout) as response:
            return json.loads(response.read())

    def script(self, *faults: Fault, model: str | None = None) -> None:
        """Queue ``faults`` for the next requests (for ``model`` only, if given), in order."""
        self._call("script", {"faults": [fault_to_dict(f) for f in faults], "model": model})

    def push(self, fault: Fault, *, model: str | None = None, times: int = 1) -> None:
        """Queue ``fault`` for the next ``times`` requests."""
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")
        self.script(*([fault] * times), model=model)

    def set_default(self, fault: Fault | None) -> None:
        """What requests get once the queues are empty (``None``: a normal answer)."""
        self._call("default", {"fault": None if fault is None else fault_to_dict(fault)})

    def configure(self, **changes: Any) -> None:
        """Change ``output_tokens``, ``cached_tokens``, ``api_key`` or ``flavor``."""
        self._call("configure", changes)

    def pending(self) -> int:
        """How many scripted faults are still queued."""
        return int(self._call("pending")["pending"])

    def reset(self) -> None:
        """No scripts, empty log, initial settings."""
        self._call("reset", {})

    def clear_log(self) -> None:
        self._call("clear_log", {})

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every logged request, oldest first."""
        return [RecordedRequest.from_dict(r) for r in self._call("log")["requests"]]

    def requests_for(self, model: str) -> list[RecordedRequest]:
        found = self._call(f"log?model={quote(model)}")["requests"]
        return [RecordedRequest.from_dict(r) for r in found]


class FakeProviderProcess(RemoteFakeProvider):
    """A fake provider in a child process, so that it does not share a benchmark client's CPU.

    ``with FakeProviderProcess() as server:`` ... ``server.base_url``. Extra command-line
    options (``["--output-tokens", "16"]``) go in ``args``.
    """

    def __init__(
        self, args: Sequence[str] = (), *, python: str | None = None, timeout: float = 10.0
    ) -> None:
        self._args = list(args)
        self._python = python or sys.executable
        self._process: subprocess.Popen[str] | None = None
        super().__init__("http://127.0.0.1:0", timeout=timeout)

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("FakeProviderProcess is not started")
        return self._process.pid

    def start(self) -> Self:
        """Start the process and wait for its first line, the URL."""
        if self._process is not None:
            raise RuntimeError("FakeProviderProcess is already started")
        command = [self._python, "-m", "router.testing.server", "--port", "0", *self._args]
        env = dict(os.environ)
        # the child must import the same router as this process, even if it came from sys.path
        here = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), here) if p)
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the fake provider process did not start (printed {line!r})")
        self.url = line.removesuffix("/v1")
        return self

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after 5 s); safe to call twice."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
