"""Scripting order, the request log, the control endpoint, the process mode and raw HTTP."""

from __future__ import annotations

import dataclasses
import json
import socket
import urllib.error
import urllib.request
from typing import Any

import openai
import pydantic
import pytest

from router.testing import (
    FakeProviderProcess,
    FakeProviderServer,
    HttpError,
    MalformedJSON,
    MidStreamError,
    NoFinishReason,
    Ok,
    RemoteFakeProvider,
    Reset,
    StreamCut,
    rate_limited,
)
from router.testing.faults import fault_from_dict, fault_to_dict
from router.testing.schemas import example_for_schema

MESSAGES = [{"role": "user", "content": "hi"}]


def _status(client: openai.OpenAI, model: str = "m") -> int:
    try:
        client.chat.completions.create(model=model, messages=MESSAGES)
    except openai.APIStatusError as exc:
        return exc.status_code
    return 200


def test_script_is_consumed_in_order_then_default_ok(
    oai: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.script(HttpError(status=429), HttpError(status=500))
    fake_provider.push(HttpError(status=503), times=2)

    assert fake_provider.pending() == 4
    assert [_status(oai) for _ in range(5)] == [429, 500, 503, 503, 200]
    assert fake_provider.pending() == 0


def test_model_queues_come_before_the_shared_queue(
    oai: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.script(HttpError(status=500))
    fake_provider.script(HttpError(status=429), model="gpt-4o-mini")

    assert _status(oai, "gpt-4o") == 500
    assert _status(oai, "gpt-4o-mini") == 429
    assert _status(oai, "gpt-4o-mini") == 200


def test_default_fault_persists_until_reset(
    oai: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.set_default(HttpError(status=503))
    assert [_status(oai) for _ in range(3)] == [503, 503, 503]

    fake_provider.reset()
    assert _status(oai) == 200
    assert len(fake_provider.requests) == 1


def test_request_log_keeps_bodies_without_secrets(
    oai: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.script(rate_limited())
    _status(oai, "gpt-4o")
    list(oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))

    first, second = fake_provider.requests
    assert (first.model, first.stream, first.outcome) == ("gpt-4o", False, "http_error:429")
    assert (second.model, second.stream, second.outcome) == ("gpt-4o-mini", True, "ok")
    assert second.body["messages"] == MESSAGES
    second.body["messages"] = []  # the log hands out copies
    assert second.body["messages"] == MESSAGES
    assert first.path == "/v1/chat/completions"
    assert "authorization" not in first.headers
    assert first.headers["user-agent"].startswith("OpenAI/Python")
    assert [r.number for r in fake_provider.requests_for("gpt-4o-mini")] == [2]


def test_api_key_is_checked_when_set(oai: openai.OpenAI, fake_provider: FakeProviderServer) -> None:
    fake_provider.configure(api_key="sk-other")
    fake_provider.script(HttpError(status=500))

    assert _status(oai) == 401
    assert fake_provider.pending() == 1  # an unauthorised request does not use the script
    fake_provider.configure(api_key="sk-test")
    assert _status(oai) == 500


ALL_FAULTS = [
    Ok(text="hello", output_tokens=3, token_delay=0.01),
    HttpError(status=429, retry_after="7", retry_after_ms=10, headers=(("x-a", "b"),)),
    Reset(delay=0.5),
    MalformedJSON(),
    StreamCut(after_tokens=3),
    NoFinishReason(),
    MidStreamError(after_tokens=2, message="boom"),
]


@pytest.mark.parametrize("fault", ALL_FAULTS, ids=lambda f: type(f).__name__)
def test_faults_survive_the_wire_format(fault: Any) -> None:
    data = json.loads(json.dumps(fault_to_dict(fault)))

    assert fault_from_dict(data) == fault


def test_bad_fault_dicts_and_values_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        fault_from_dict({"kind": "explode"})
    with pytest.raises(ValueError, match="unknown field"):
        fault_from_dict({"kind": "reset", "status": 1})
    with pytest.raises(ValueError, match=r"400\.\.599"):
        HttpError(status=200)


def test_remote_control_scripts_a_running_server(
    oai: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    remote = RemoteFakeProvider(fake_provider.base_url)
    remote.script(HttpError(status=502), StreamCut(after_tokens=1), model="m")
    remote.configure(output_tokens=3)

    assert remote.pending() == 2
    assert _status(oai) == 502
    with pytest.raises(openai.APIConnectionError):
        list(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    reply = oai.chat.completions.create(model="m", messages=MESSAGES)
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 3
    assert [r.outcome for r in remote.requests] == ["http_error:502", "stream_cut", "ok"]
    assert len(remote.requests_for("m")) == 3

    remote.set_default(HttpError(status=401))
    assert _status(oai) == 401
    remote.reset()
    assert (remote.requests, remote.pending(), _status(oai)) == ([], 0, 200)


def test_control_endpoint_rejects_bad_commands(fake_provider: FakeProviderServer) -> None:
    request = urllib.request.Request(
        fake_provider.url + "/_control/script",
        data=json.dumps({"faults": [{"kind": "nope"}]}).encode(),
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)

    assert caught.value.code == 400
    assert "unknown fault kind" in json.loads(caught.value.read())["error"]


def test_server_runs_in_its_own_process() -> None:
    with FakeProviderProcess(["--output-tokens", "2"]) as server:
        server.script(HttpError(status=503))
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        assert _status(client) == 503
        reply = client.chat.completions.create(model="m", messages=MESSAGES)
        assert reply.choices[0].message.content == "Echo: hi"
        assert [r.outcome for r in server.requests] == ["http_error:503", "ok"]
        client.close()


def _raw(server: FakeProviderServer, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def _post(body: bytes, *, path: bytes = b"/v1/chat/completions", close: bool = False) -> bytes:
    extra = b"connection: close\r\n" if close else b""
    head = b"POST %s HTTP/1.1\r\nhost: x\r\n%scontent-length: %d\r\n\r\n" % (path, extra, len(body))
    return head + body


def test_pipelined_requests_are_answered_in_order(fake_provider: FakeProviderServer) -> None:
    fake_provider.script(HttpError(status=429, delay=0.05))
    body = json.dumps({"model": "m", "messages": MESSAGES}).encode()

    answer = _raw(fake_provider, _post(body) + _post(body) + _post(body, close=True))

    assert answer.count(b"HTTP/1.1 ") == 3
    assert answer.index(b"429 Too Many Requests") < answer.index(b"200 OK")
    assert answer.index(b"req_00000001") < answer.index(b"req_00000002")


def test_connection_close_still_gets_a_complete_stream(fake_provider: FakeProviderServer) -> None:
    body = json.dumps({"model": "m", "messages": MESSAGES, "stream": True}).encode()

    answer = _raw(fake_provider, _post(body, close=True))

    assert b"data: [DONE]" in answer
    assert answer.endswith(b"\r\n0\r\n\r\n")


def test_bad_requests_get_json_errors(fake_provider: FakeProviderServer) -> None:
    not_json = _raw(fake_provider, _post(b"{nope", close=True))
    unknown = _raw(fake_provider, _post(b"{}", path=b"/v1/embeddings", close=True))
    wrong_method = _raw(
        fake_provider, b"GET /v1/chat/completions HTTP/1.1\r\nconnection: close\r\n\r\n"
    )
    garbage = _raw(fake_provider, b"\x16\x03\x01 not http\r\n\r\n")

    assert not_json.startswith(b"HTTP/1.1 400 ")
    assert b'"error"' in not_json
    assert unknown.startswith(b"HTTP/1.1 404 ")
    assert wrong_method.startswith(b"HTTP/1.1 405 ")
    assert garbage.startswith(b"HTTP/1.1 400 ")


class Step(pydantic.BaseModel):
    text: str
    weight: float = pydantic.Field(ge=0.5)


class Plan(pydantic.BaseModel):
    title: str = pydantic.Field(min_length=12)
    steps: list[Step] = pydantic.Field(min_length=2)
    kind: Step | None
    tags: dict[str, int]
    count: int = pydantic.Field(gt=3, le=10)


def test_schema_examples_validate() -> None:
    value = example_for_schema(Plan.model_json_schema())

    plan = Plan.model_validate(value)
    assert len(plan.steps) == 2
    assert plan.count == 4


def test_stop_is_idempotent_and_a_stopped_server_has_no_port() -> None:
    server = FakeProviderServer().start()
    assert server.port > 0
    server.stop()
    server.stop()

    with pytest.raises(RuntimeError, match="not started"):
        _ = server.port
    with server, pytest.raises(RuntimeError, match="could not start"):
        FakeProviderServer(port=server.port).start()  # the port is taken


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="flavor"):
        FakeProviderServer(flavor="anthropic")
    server = FakeProviderServer()
    with pytest.raises(TypeError):
        server.configure(colour="red")
    assert dataclasses.replace(server.state.settings).output_tokens == 8
