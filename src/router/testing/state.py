"""The fake provider's mutable state: settings, queues of scripted faults and the request log.

Thread-safe: tests script from their own thread while the server's loop consumes.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from router.testing.faults import Fault, Ok

__all__ = ["ProviderState", "RecordedRequest", "Settings"]

_SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "cookie"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """Defaults of every reply; changed with ``configure``."""

    output_tokens: int = 8
    cached_tokens: int = 0
    api_key: str | None = None  # when set, other keys get 401; `user:password`: HTTP Basic auth
    flavor: str | None = None  # "openai" or "mistral"; None: detect from the user agent
    log_limit: int = 10_000

    def __post_init__(self) -> None:
        if self.output_tokens < 0 or self.cached_tokens < 0 or self.log_limit < 0:
            raise ValueError("output_tokens, cached_tokens and log_limit must be >= 0")
        if self.flavor not in (None, "openai", "mistral"):
            raise ValueError(f"flavor must be 'openai', 'mistral' or None, got {self.flavor!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordedRequest:
    """One request as the server saw it (secret headers removed) and what it did with it.

    ``outcome`` is the fault kind applied (``"ok"``, ``"http_error:429"``, ``"reset"``...).
    """

    number: int
    method: str
    path: str
    model: str | None
    stream: bool
    flavor: str
    headers: dict[str, str]
    content: bytes
    outcome: str
    request_id: str

    @property
    def body(self) -> Any:
        """The JSON body, freshly decoded (a copy: changing it changes nothing)."""
        return json.loads(self.content)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["body"] = self.body
        del data["content"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecordedRequest:
        fields = dict(data)
        fields["content"] = json.dumps(fields.pop("body")).encode()
        return cls(**fields)


def public_headers(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` without credentials."""
    public = headers.copy()
    for name in _SECRET_HEADERS:
        public.pop(name, None)
    return public


class ProviderState:
    """Scripts (per model, then for any model, then the default) and the request log."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._lock = threading.Lock()
        self._initial = settings or Settings()
        self.settings = self._initial
        self._queues: dict[str | None, deque[Fault]] = {}
        self._default: Fault = Ok()
        self._log: deque[RecordedRequest] = deque(maxlen=self.settings.log_limit or None)
        self._count = 0

    def script(self, *faults: Fault, model: str | None = None) -> None:
        """Queue ``faults`` for the next requests (for ``model`` only, if given), in order."""
        with self._lock:
            self._queues.setdefault(model, deque()).extend(faults)

    def push(self, fault: Fault, *, model: str | None = None, times: int = 1) -> None:
        """Queue ``fault`` for the next ``times`` requests."""
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")
        self.script(*([fault] * times), model=model)

    def set_default(self, fault: Fault | None) -> None:
        """What requests get once the queues are empty (``None``: a normal answer)."""
        with self._lock:
            self._default = fault or Ok()

    def configure(self, **changes: Any) -> Settings:
        """Change settings (``output_tokens``, ``cached_tokens``, ``api_key``, ``flavor``)."""
        with self._lock:
            if "log_limit" in changes:
                raise ValueError("log_limit is fixed when the server starts")
            self.settings = dataclasses.replace(self.settings, **changes)
            return self.settings

    def begin(self, model: str | None, *, take: bool = True) -> tuple[int, Fault]:
        """Number the next request and take its fault: model queue, any-model queue, default."""
        with self._lock:
            self._count += 1
            for key in (model, None) if take else ():
                queue = self._queues.get(key)
                if queue:
                    return self._count, queue.popleft()
            return self._count, self._default

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._log.append(request)

    def requests(self, *, model: str | None = None) -> list[RecordedRequest]:
        """The logged requests, oldest first (only those for ``model``, if given)."""
        with self._lock:
            return [r for r in self._log if model is None or r.model == model]

    def pending(self) -> int:
        """How many scripted faults have not been used yet."""
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def reset(self) -> None:
        """Back to the state at start: no scripts, empty log, initial settings."""
        with self._lock:
            self._queues.clear()
            self._default = Ok()
            self._log.clear()
            self.settings = self._initial
            self._count = 0
