"""Turns each request into an :class:`~router.testing.wire.Action`: a chat answer, a fault, or
a control command (``/_control/...``) that scripts the server from another process.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import secrets
from typing import Any
from urllib.parse import parse_qs

from router.testing.faults import (
    Fault,
    HttpError,
    MalformedJSON,
    MidStreamError,
    NoFinishReason,
    Ok,
    Reset,
    StreamCut,
    fault_from_dict,
    fault_kind,
)
from router.testing.replies import (
    DONE,
    Flavor,
    completion_body,
    error_body,
    plan_reply,
    stream_parts,
)
from router.testing.state import ProviderState, RecordedRequest, Settings, public_headers
from router.testing.wire import Action, End, HttpProtocol, Request, frame, response_head

__all__ = ["FakeProviderApp", "start_server"]

_JSON = ("content-type", "application/json")
_PLAIN = Ok()
_CACHE_SIZE = 512
_SSE = [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache")]


def _json_action(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Action:
    body = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
    head = response_head(status, [_JSON, *(headers or [])], length=len(body))
    return Action(head=head, body=body)


def _template(action: Action) -> Action:
    """``action`` with its events framed once, so that stamping it is two replaces."""
    if action.events is None or action.pace:
        return action
    body = frame(action.events, complete=action.end is not End.CUT)
    return Action(head=action.head, body=body, end=action.end)


def _stamped(template: Action, mark: bytes, stamp: bytes) -> Action:
    events = template.events
    return Action(
        head=template.head.replace(mark, stamp),
        body=template.body.replace(mark, stamp),
        events=None if events is None else tuple(e.replace(mark, stamp) for e in events),
        end=template.end,
        pace=template.pace,
    )


def _seconds(value: float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class FakeProviderApp:
    """The request handler of the fake provider; all state lives in a :class:`ProviderState`."""

    def __init__(self, state: ProviderState) -> None:
        self.state = state
        # Answers are built once per distinct request with this mark in place of the request
        # number, then stamped: fast enough that the fake is never a benchmark's bottleneck.
        self._mark = b"~%s~" % secrets.token_hex(3).encode()
        self._cache: dict[tuple[bytes, Flavor, Settings], tuple[dict[str, Any], Action | None]] = {}

    def __call__(self, request: Request) -> Action:
        if request.path.startswith("/_control/"):
            try:
                return self._control(request)
            except (ValueError, TypeError, KeyError) as exc:
                return _json_action(400, {"error": str(exc)})
        if request.path.endswith("/chat/completions"):
            if request.method != "POST":
                return _json_action(
                    405, error_body(405, Flavor.OPENAI, message=None, error_type=None)
                )
            return self._chat(request)
        message = f"no route for {request.method} {request.path} (fake provider)"
        return _json_action(404, error_body(404, Flavor.OPENAI, message=message, error_type=None))

    def _flavor(self, headers: dict[str, str]) -> Flavor:
        chosen = self.state.settings.flavor or headers.get("x-fake-flavor")
        if chosen is None:
            chosen = "mistral" if "mistral" in headers.get("user-agent", "").lower() else "openai"
        return Flavor.MISTRAL if chosen == "mistral" else Flavor.OPENAI

    def _chat(self, request: Request) -> Action:
        flavor = self._flavor(request.headers)
        settings = self.state.settings
        key = (request.body, flavor, settings)
        cached = self._cache.get(key)
        if cached is None:
            try:
                parsed: Any = json.loads(request.body)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                message = "the request body must be a JSON object (fake provider)"
                return _json_action(400, error_body(400, flavor, message=message, error_type=None))
            cached = (parsed, None)
        body, template = cached
        model = body.get("model") if isinstance(body.get("model"), str) else None
        authorized = settings.api_key is None or (
            request.headers.get("authorization") == _expected_authorization(settings.api_key)
        )
        number, fault = self.state.begin(model, take=authorized)
        if not authorized:
            fault = HttpError(status=401, message="Incorrect API key provided (fake provider)")
        stream = body.get("stream") is True
        stamp = b"%08x" % (number & 0xFFFFFFFF)
        self._record(request, number, model, stream, flavor, fault, f"req_{stamp.decode()}")
        if fault == _PLAIN and template is not None:
            return _stamped(template, self._mark, stamp)
        action = self._answer(fault, body, flavor, settings, stream=stream)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        # identical requests get identical answers: keep a template of the plain one
        self._cache[key] = (body, _template(action) if fault == _PLAIN else template)
        result = _stamped(action, self._mark, stamp)
        result.delay = fault.delay
        return result

    def _record(
        self,
        request: Request,
        number: int,
        model: str | None,
        stream: bool,
        flavor: Flavor,
        fault: Fault,
        request_id: str,
    ) -> None:
        outcome = fault_kind(fault)
        if isinstance(fault, HttpError):
            outcome += f":{fault.status}"
        record = RecordedRequest(
            number=number,
            method=request.method,
            path=request.path,
            model=model,
            stream=stream,
            flavor=flavor.value,
            headers=public_headers(request.headers),
            content=request.body,
            outcome=outcome,
            request_id=request_id,
        )
        self.state.record(record)

    def _answer(
        self,
        fault: Fault,
        body: dict[str, Any],
        flavor: Flavor,
        settings: Settings,
        *,
        stream: bool,
    ) -> Action:
        """The answer, with ``self._mark`` where the request's number goes."""
        mark = self._mark.decode()
        rid = ("x-request-id", f"req_{mark}")
        if isinstance(fault, Reset):
            return Action(end=End.RESET)
        if isinstance(fault, HttpError):
            headers = [rid]
            if fault.retry_after is not None:
                headers.append(("retry-after", _seconds(fault.retry_after)))
            if fault.retry_after_ms is not None:
                headers.append(("retry-after-ms", str(fault.retry_after_ms)))
            headers.extend(fault.headers)
            payload = error_body(
                fault.status, flavor, message=fault.message, error_type=fault.error_type
            )
            return _json_action(fault.status, payload, headers)
        completion_id = f"chatcmpl-{mark}"
        if isinstance(fault, MalformedJSON):
            broken = (
                b'{"id":"%s","object":"chat.completion","choices":[{"index":0,"message":{"con'
                % completion_id.encode()
            )
            if not stream:
                return _json_action(200, broken, [rid])
            head = response_head(200, [*_SSE, rid], length=None)
            return Action(head=head, events=(b"data: " + broken + b"\n\n", DONE))
        ok = fault if isinstance(fault, Ok) else Ok()
        plan = plan_reply(
            body,
            ok,
            output_tokens=settings.output_tokens,
            cached_tokens=settings.cached_tokens,
            call_id=f"c{mark}",
        )
        if isinstance(fault, NoFinishReason):
            plan = dataclasses.replace(plan, finish_reason=None)
        if not stream:
            if isinstance(fault, MidStreamError):  # some hosts answer 200 with an error body
                payload = error_body(
                    500, flavor, message=fault.message, error_type=fault.error_type
                )
                return _json_action(200, payload, [rid])
            data = completion_body(plan, flavor, completion_id)
            if isinstance(fault, StreamCut):
                head = response_head(200, [_JSON, rid], length=len(data))
                return Action(head=head, body=data[: len(data) // 2], end=End.CUT)
            return _json_action(200, data, [rid])
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        parts = stream_parts(plan, flavor, completion_id, include_usage=include_usage)
        usage = (parts.usage,) if parts.usage is not None else ()
        end = End.KEEP
        events: tuple[bytes, ...]
        if isinstance(fault, StreamCut):
            events, end = (parts.role, *parts.tokens[: fault.after_tokens]), End.CUT
        elif isinstance(fault, MidStreamError):
            error = error_body(500, flavor, message=fault.message, error_type=fault.error_type)
            events = (parts.role, *parts.tokens[: fault.after_tokens], b"data: " + error + b"\n\n")
        elif isinstance(fault, NoFinishReason):
            events = (parts.role, *parts.tokens, *usage, parts.done)
        else:
            events = (parts.role, *parts.tokens, parts.finish, *usage, parts.done)
        head = response_head(200, [*_SSE, rid], length=None)
        return Action(head=head, events=events, end=end, pace=ok.token_delay)

    def _control(self, request: Request) -> Action:
        command = request.path.removeprefix("/_control/")
        data: Any = json.loads(request.body) if request.body else {}
        state = self.state
        if command == "health":
            return _json_action(200, {"ok": True})
        if command == "log" and request.method == "GET":
            model = parse_qs(request.query).get("model", [None])[0]
            return _json_action(
                200, {"requests": [r.to_dict() for r in state.requests(model=model)]}
            )
        if command == "pending" and request.method == "GET":
            return _json_action(200, {"pending": state.pending()})
        if request.method != "POST":
            return _json_action(405, {"error": f"use POST for /_control/{command}"})
        if command == "script":
            faults = [fault_from_dict(item) for item in data.get("faults", [])]
            state.script(*faults, model=data.get("model"))
        elif command == "default":
            fault = data.get("fault")
            state.set_default(fault_from_dict(fault) if fault else None)
        elif command == "configure":
            state.configure(**data)
        elif command == "reset":
            state.reset()
        elif command == "clear_log":
            state.clear_log()
        else:
            return _json_action(404, {"error": f"unknown control command {command!r}"})
        return _json_action(200, {"pending": state.pending()})


async def start_server(
    state: ProviderState, *, host: str = "127.0.0.1", port: int = 0
) -> tuple[asyncio.Server, set[HttpProtocol]]:
    """Listen on ``host:port`` (0: any free port) in the running loop; returns the server and
    its live connections (to abort them on shutdown)."""
    app = FakeProviderApp(state)
    connections: set[HttpProtocol] = set()
    server = await asyncio.get_running_loop().create_server(
        lambda: HttpProtocol(app, connections), host, port, backlog=1024
    )
    return server, connections


def _expected_authorization(api_key: str) -> str:
    """`Bearer KEY`; a `user:password` key stands for HTTP Basic auth (a base URL's userinfo)."""
    if ":" in api_key:
        return "Basic " + base64.b64encode(api_key.encode()).decode()
    return f"Bearer {api_key}"
