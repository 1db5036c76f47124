"""Keys and URL passwords never show: not in config reprs or dumps, not in what a provider echoes
back in an error, not in a URL that the SDKs or httpx log; HTTP Basic auth still works."""

from __future__ import annotations

import asyncio
import base64
import logging
import pickle
import traceback
import warnings
from typing import Any

import httpx
import pytest
import respx
from tests.conftest import chat_json, frozen
from tests.providers.common import BEFORE_RETIREMENT

from router import ProviderError, Router
from router.providers import HttpStack
from router.redaction import mask_url, scrub
from router.settings import resolve
from router.testing import FakeProviderServer

KEY = "sk-TESTSECRETkey0123456789"
PASSWORD = "TESTSECRETpw42"
BASIC = base64.b64encode(f"bob:{PASSWORD}".encode()).decode()
SECRETS = (KEY, PASSWORD, BASIC, "TESTSECRET")


def shown_nowhere(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, text


def quiet_router(config: dict[str, Any], **kwargs: Any) -> Router:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Router(config, env={}, clock=frozen(BEFORE_RETIREMENT), **kwargs)


def test_the_resolved_config_masks_keys_passwords_and_credential_headers() -> None:
    cfg = {
        "ledger": f"redis://:{PASSWORD}@localhost:6379/0",
        "deployments": [{"model": "gpt-4o-mini", "provider": "openai", "api_key": KEY,
                         "base_url": f"https://bob:{PASSWORD}@proxy.example.com/v1",
                         "headers": {"api-key": KEY, "HTTP-Referer": "https://example.com"}}],
    }
    resolved = resolve(cfg, env={})
    config = resolved.config
    dep = config.deployments[0]
    shown_nowhere(repr(resolved), str(config), repr(dep), str(dep), config.model_dump_json(),
                  str(config.model_dump()), str(config.model_dump(mode="json")))
    assert "https://***@proxy.example.com/v1" in repr(dep)
    assert "'HTTP-Referer': 'https://example.com'" in repr(dep)  # only credentials are masked
    assert dep.api_key is not None
    assert dep.api_key.get_secret_value() == KEY  # still usable


def test_a_deployment_never_shows_its_credentials_and_survives_pickling() -> None:
    router = quiet_router({"deployments": [{
        "model": "gpt-4o-mini", "provider": "openai", "api_key": KEY,
        "base_url": f"https://bob:{PASSWORD}@proxy.example.com/v1"}]})
    (dep,) = router.deployments
    shown_nowhere(repr(dep), str(dep), repr(router), str(router.route("hi")))
    again = pickle.loads(pickle.dumps(dep))  # e.g. sent to a worker process: must still work
    assert again == dep
    assert again.api_key is not None
    assert again.api_key.get() == KEY
    assert again.scrub(f"echo {KEY}") == "echo ***"


def test_mask_url_and_scrub() -> None:
    assert mask_url("https://u:p@h/v1?api-version=1&key=abc") == "https://***@h/v1?api-version=1&key=***"
    assert mask_url("https://h/v1") == "https://h/v1"
    assert scrub(f"x {KEY} y", [KEY]) == "x *** y"
    assert scrub("ok", ["k"]) == "ok"  # too short to tell from ordinary text: left alone


def _echo(request: httpx.Request) -> httpx.Response:
    """A 401 that repeats the credentials it got: as sent, bare, and base64-decoded for Basic."""
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    bare = base64.b64decode(token).decode() if scheme == "Basic" else token
    message = f"Incorrect API key provided: {auth} (key {bare}, token {token}) at {request.url}"
    return httpx.Response(401, json={"error": {"message": message, "type": "invalid_request_error",
                                               "code": "invalid_api_key"},
                                     "detail": auth})


DEPLOYMENTS = {
    "openai": {"model": "gpt-4o-mini", "provider": "openai", "api_key": KEY},
    "mistral": {"model": "mistral-nemo", "provider": "mistral", "api_key": KEY},
    "basic": {"model": "gpt-4o-mini", "provider": "openai", "api_key": KEY,
              "base_url": f"https://bob:{PASSWORD}@proxy.example.com/v1"},
    "mistral-basic": {"model": "mistral-nemo", "provider": "mistral", "api_key": KEY,
                      "base_url": f"https://bob:{PASSWORD}@proxy.example.com"},
}


@pytest.mark.parametrize("deployment", list(DEPLOYMENTS))
@pytest.mark.parametrize("mode", ["sync", "async", "stream"])
def test_credentials_a_provider_echoes_are_masked_everywhere(
    deployment: str, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    router = quiet_router({"deployments": [DEPLOYMENTS[deployment]], "retries": {"attempts": 1}})
    calls = {
        "sync": lambda: router.complete("hi", max_tokens=10),
        "async": lambda: asyncio.run(router.acomplete("hi", max_tokens=10)),
        "stream": lambda: list(router.stream("hi", max_tokens=10)),
    }
    with respx.mock() as mock:  # a router of its own: no route of another test comes first
        mock.route().mock(side_effect=_echo)
        with pytest.raises(ProviderError) as info:
            calls[mode]()
    exc = info.value
    assert exc.status_code == 401
    assert "***" in str(exc)
    assert exc.decision is not None
    shown_nowhere(str(exc), repr(exc), str(exc.body), str(exc.decision), repr(exc.decision),
                  "".join(traceback.format_exception(exc)), caplog.text)


@pytest.mark.parametrize("provider", ["openai", "mistral"])
@pytest.mark.parametrize("http", ["httpx", "httpx2"])
def test_a_base_url_password_is_sent_as_basic_auth_and_never_logged(
    provider: str, http: HttpStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeProviderServer(api_key=f"bob:{PASSWORD}") as server:  # 401 unless Basic bob:PASSWORD
        root = server.base_url if provider == "openai" else server.url
        url = root.replace("http://", f"http://bob:{PASSWORD}@")
        router = quiet_router({"http_client": http, "deployments": [
            {"model": "mistral-nemo", "provider": provider, "base_url": url}]})
        try:
            reply = router.complete("hi", max_tokens=10)
            stream = router.stream("hi", max_tokens=10)
            assert "".join(stream) == stream.reply.text
            answer = asyncio.run(router.acomplete("hi", max_tokens=10))
        finally:
            router.close()
        outcomes = [r.outcome for r in server.requests]
    assert outcomes == ["ok", "ok", "ok"]
    assert reply.text
    assert answer.text
    assert "127.0.0.1" in caplog.text  # the SDK and httpx did log the URL, without the password
    shown_nowhere(caplog.text, repr(reply), str(reply.decision))


def test_basic_auth_replaces_the_bearer_key_as_before() -> None:
    router = quiet_router({"deployments": [DEPLOYMENTS["basic"]]})
    with respx.mock() as mock:
        route = mock.post("https://proxy.example.com/v1/chat/completions").respond(json=chat_json())
        router.complete("hi")
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Basic {BASIC}"
    assert str(sent.url) == "https://proxy.example.com/v1/chat/completions"


@pytest.mark.parametrize("url", [f"redis://:{PASSWORD}@localhost:port/0",
                                 f"redis://:{PASSWORD}@localhost:6379/x",
                                 f"postgres://bob:{PASSWORD}@db/spend"])
def test_a_bad_ledger_url_is_refused_without_its_password(url: str) -> None:
    from router import ConfigError

    with pytest.raises(ConfigError, match=r"^ledger: ") as info:
        quiet_router({"ledger": url, "deployments": [DEPLOYMENTS["openai"]]})
    assert "***@" in str(info.value)
    shown_nowhere(str(info.value))


@pytest.mark.parametrize("url", [f"redis://127.0.0.1:1/0?password={PASSWORD}",
                                 f"redis://bob:{PASSWORD}@127.0.0.1:1/0"])
def test_a_redis_ledger_password_shows_in_no_repr_error_or_log(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("redis")
    from router import LedgerError
    from router.ledger import parse_ledger_url

    router = quiet_router({"ledger": url, "budgets": [{"scope": "global", "limit": "1"}],
                           "deployments": [DEPLOYMENTS["openai"]]})
    with caplog.at_level(logging.DEBUG), pytest.raises(LedgerError) as info:
        router.complete("hi", max_tokens=5)
    shown_nowhere(repr(router.ledger), repr(parse_ledger_url(url)), str(info.value),
                  "".join(traceback.format_exception(info.value)), caplog.text)
    assert "127.0.0.1:1" in str(info.value)
