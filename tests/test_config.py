import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import respx
from tests.conftest import chat_json, frozen

from router import ConfigError, MissingKeyError, ProviderError, Router
from router.config import build_deployments, load_config
from router.deployments import Secret
from router.messages import build_request
from router.providers import HttpStack, make_provider
from router.providers.base import CallOptions
from router.providers.redact import redact
from router.testing import FakeProviderServer

YAML = """
models:
  mistral-nemo:
    price: {input: "0.02", output: "0.04"}
deployments:
  - {model: gpt-4o-mini, provider: openai, api_key: "${OPENAI_API_KEY}"}
  - {model: gpt-4o, provider: openai, api_key: "${OPENAI_API_KEY}"}
  - {model: mistral-nemo, provider: openai, base_url: "https://openrouter.ai/api/v1", name: mistralai/mistral-nemo,
     api_key: "${OPENROUTER_API_KEY}", price: {input: "0.02", output: "0.04"}}
  - {model: mistral-nemo, provider: mistral, base_url: "http://nemo.internal:8000", api_key: "${MISTRAL_API_KEY}"}
routing:
  strategy: cheapest
"""

TOML = """
[[deployments]]
model = "gpt-4o-mini"
provider = "openai"
api_key = "${OPENAI_API_KEY}"

[routing]
strategy = "best"
"""

ENV = {"OPENAI_API_KEY": "sk-proj-abcdefghijklmnopqrstuvwxyz", "OPENROUTER_API_KEY": "sk-or-v1-secret-0000000000",
       "MISTRAL_API_KEY": "mistral-secret-key-000000"}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_issue_yaml_config_loads(tmp_path: Path) -> None:
    r = Router.from_config(write(tmp_path, "router.yaml", YAML), env=ENV, clock=frozen())
    ids = [d.id for d in r.deployments]
    assert ids == ["gpt-4o-mini@openai", "gpt-4o@openai", "mistral-nemo@openrouter",
                   "mistral-nemo@nemo.internal:8000"]
    nemo = r.deployments[2]
    assert nemo.model_id == "mistralai/mistral-nemo"
    assert str(nemo.price.input) == "0.02"
    selfhosted = r.deployments[3]
    assert selfhosted.host == "custom"
    assert selfhosted.model_id == "open-mistral-nemo"
    assert selfhosted.base_url == "http://nemo.internal:8000"


def test_toml_and_json_configs(tmp_path: Path) -> None:
    r = Router.from_config(write(tmp_path, "router.toml", TOML), env=ENV, clock=frozen())
    assert r.route("hi").strategy == "best"
    cfg = {"deployments": [{"model": "gpt-4o", "provider": "openai", "api_key": "k"}]}
    r = Router.from_config(write(tmp_path, "router.json", json.dumps(cfg)), env={}, clock=frozen())
    assert r.route("hi").model == "gpt-4o"


def test_env_defaults_and_unset_keys() -> None:
    cfg = {"deployments": [{"model": "gpt-4o", "provider": "openai", "api_key": "${NOPE}",
                            "base_url": "${BASE:-https://api.openai.com/v1}"}]}
    parsed, unset, _ = load_config(cfg, env={})
    assert unset == {"deployments[0].api_key": "NOPE"}
    _, deps = build_deployments(parsed, unset)
    assert deps[0].api_key is None
    assert deps[0].key_env == "NOPE"
    with pytest.raises(ConfigError, match=r"deployments\[0\]\.base_url: environment variable BASE is not set"):
        load_config({"deployments": [{"model": "gpt-4o", "provider": "openai", "base_url": "${BASE}"}]},
                    env={})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"deployments": [{"model": "gpt-5", "provider": "openai"}]},
         r"deployments\[0\]\.model: unknown model 'gpt-5'; known: gpt-4o, gpt-4o-mini, mistral-nemo"),
        ({"deployments": [{"model": "gpt-4o", "provider": "anthropic"}]}, r"deployments\[0\]\.provider"),
        ({"deployments": [{"model": "gpt-4o", "provider": "openai", "price": {"input": "cheap"}}]},
         r"deployments\[0\]\.price\.input: 'cheap' is not a price"),
        ({"deployments": [{"model": "gpt-4o", "provider": "openai", "base_url": "api.openai.com"}]},
         r"deployments\[0\]\.base_url: .*not an http\(s\) URL"),
        ({"deployments": [{"model": "gpt-4o", "provider": "openai", "timeout": 0}]},
         r"deployments\[0\]\.timeout"),
        ({"deployments": [{"model": "gpt-4o", "provider": "openai", "id": "a"},
                          {"model": "gpt-4o-mini", "provider": "openai", "id": "a"}]},
         r"deployments\[1\]\.id: duplicate deployment id 'a'"),
        ({"deployment": []}, r"deployment: unknown key; did you mean 'deployments'\?"),
        ({"retry": {"attempts": 1}}, r"retry: unknown key; did you mean 'retries'\?"),
        ({"deployments": [{"model": "gpt-4o", "provider": "openai", "bas_url": "http://x/v1"}]},
         r"deployments\[0\]\.bas_url: unknown key; did you mean 'base_url'\?"),
        ({"deployments": [{"model": "gpt-4o", "provider": "openai", "price": {"cachd_input": "1"}}]},
         r"deployments\[0\]\.price\.cachd_input: unknown key; did you mean 'cached_input'\?"),
        ({"budgets": [{"scope": "user", "limit": "1", "windw": "day"}]},
         r"budgets\[0\]\.windw: unknown key; did you mean 'window'\?"),
        ({"models": {"gpt-4o": {"hosts": {"openai": {"modelid": "x"}}}}},
         r"models\.gpt-4o\.hosts\.openai\.modelid: unknown key; did you mean 'model_id'\?"),
        ({"zzz": 1}, r"zzz: unknown key; the keys here are models, deployments, routing, retries"),
        ({"routing": {"strategy": "smartest"}}, r"routing\.strategy: unknown strategy 'smartest'"),
        ({"routing": {"expected_output_tokens": 0}}, r"routing\.expected_output_tokens"),
    ],
)
def test_config_errors_name_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Router.from_config(config, env={}, clock=frozen())


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing.yaml: cannot read the config file"):
        Router.from_config(tmp_path / "missing.yaml")
    bad = write(tmp_path, "bad.yaml", "deployments: [\n")
    with pytest.raises(ConfigError, match="bad.yaml: is not valid YAML"):
        Router.from_config(bad)
    ini = write(tmp_path, "router.ini", "[x]")
    with pytest.raises(ConfigError, match="unknown config format '.ini'"):
        Router.from_config(ini)
    wrong = write(tmp_path, "wrong.yaml", YAML.replace("provider: mistral", "provider: mistrall"))
    with pytest.raises(ConfigError, match=r"wrong.yaml: deployments\[3\]\.provider"):
        Router.from_config(wrong, env=ENV)


def test_router_with_no_config_reads_keys_from_env() -> None:
    r = Router(env={"OPENAI_API_KEY": "sk-x"}, clock=frozen())
    keyed = [d.id for d in r.deployments if d.has_key]
    assert keyed == ["gpt-4o-mini@openai", "gpt-4o@openai"]
    assert r.route("hi").model == "gpt-4o-mini"


def test_missing_key_is_named_when_calling() -> None:
    r = Router(env={}, clock=frozen())
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        r.complete("hi")


def test_secrets_never_show(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="router")
    r = Router.from_config(write(tmp_path, "router.yaml", YAML), env=ENV, clock=frozen())
    decision = r.route("hi")
    shown = repr(r) + repr(r.deployments) + str(decision) + repr(decision) + caplog.text
    for secret in ENV.values():
        assert secret not in shown
    assert r.deployments[0].api_key is not None
    assert r.deployments[0].api_key.masked() == "sk-...wxyz"
    assert repr(r.deployments[0].api_key) == "Secret('***')"


KEY = "sk-SECRETKEYVALUE0123456789"


@pytest.mark.parametrize("pasted", [KEY + "\n", f"  {KEY}\t", f"\r\n{KEY} "])
def test_keys_lose_surrounding_whitespace(pasted: str) -> None:
    literal = {"deployments": [{"model": "gpt-4o", "provider": "openai", "api_key": pasted}]}
    for router in (Router(literal, env={}, clock=frozen()),
                   Router(env={"OPENAI_API_KEY": pasted}, clock=frozen())):
        key = router.deployments[0].api_key
        assert key is not None
        assert key.get() == KEY


def test_a_blank_key_variable_counts_as_unset() -> None:
    (dep, *_) = Router(env={"OPENAI_API_KEY": " \n"}, clock=frozen()).deployments
    assert dep.api_key is None
    assert dep.key_env == "OPENAI_API_KEY"


@pytest.mark.parametrize("bad", [f"{KEY[:8]} {KEY[8:]}", f"{KEY}\x00", f"{KEY}é", f"sk-\n{KEY}"])
def test_keys_with_inner_whitespace_or_control_characters_are_refused_unquoted(bad: str) -> None:
    literal = {"deployments": [{"model": "gpt-4o", "provider": "openai", "api_key": bad}]}
    with pytest.raises(ConfigError, match=r"^deployments\[0\]\.api_key: the key holds a space") as info:
        Router(literal, env={})
    assert KEY[3:12] not in str(info.value)
    with pytest.raises(ConfigError, match=r"^deployments\[0\]\.api_key: environment variable "
                                          r"OPENAI_API_KEY holds a space") as info:
        Router(env={"OPENAI_API_KEY": bad})
    assert KEY[3:12] not in str(info.value)


def test_header_values_are_checked_like_keys() -> None:
    cfg = {"deployments": [{"model": "gpt-4o", "provider": "openai",
                            "headers": {"api-key": f" {KEY}\n"}}]}
    assert Router(cfg, env={}).deployments[0].headers == (("api-key", KEY),)
    cfg["deployments"][0]["headers"] = {"api-key": f"{KEY}\nX-Evil: 1"}
    with pytest.raises(ConfigError, match=r"deployments\[0\]\.headers: the value of 'api-key'") as info:
        Router(cfg, env={})
    assert KEY not in str(info.value)


@pytest.mark.parametrize("provider", ["openai", "mistral"])
@pytest.mark.parametrize("http", ["httpx", "httpx2"])
def test_transport_errors_never_echo_a_key(provider: str, http: HttpStack) -> None:
    """Defence in depth behind the config check: a key the HTTP stack refuses is not quoted."""
    with FakeProviderServer() as server:
        url = server.base_url if provider == "openai" else server.url
        cfg, unset, _ = load_config({"deployments": [
            {"model": "mistral-nemo", "provider": provider, "base_url": url}]}, env={})
        (dep,) = build_deployments(cfg, unset)[1]
        dep = dataclasses.replace(dep, api_key=Secret(KEY + "\n"))
        adapter = make_provider(dep, http=http)
        request = build_request("hi")
        with pytest.raises(ProviderError) as info:
            adapter.complete(request, CallOptions(max_tokens=16, timeout=5))
        adapter.close()
    assert "***" in str(info.value)
    assert KEY not in str(info.value)


def test_redact_masks_what_http_stacks_echo() -> None:
    assert redact(f"Illegal header value b'Bearer {KEY}\\n'") == "Illegal header value '***'"
    assert redact(f'Illegal header value b"it\'s {KEY}"') == "Illegal header value '***'"
    assert KEY not in redact(f"401 for Authorization: Bearer {KEY}")
    assert redact("http://admin:S3CRET@host:8000/v1 refused") == "http://***@host:8000/v1 refused"
    assert redact("Connection refused") == "Connection refused"


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("bad.yaml", f'deployments:\n  - {{model: gpt-4o, provider: openai, api_key: "{KEY}}}\n',
         r"line 3, column 1: while scanning a quoted scalar from line 2, column 48; "
         r"found unexpected end of stream"),
        ("tab.yaml", f"deployments:\n  - model: gpt-4o\n    api_key: {KEY}\n\tbase_url: x\n",
         r"line 4, column 1: .*found character '\\t' that cannot start any token"),
        ("bad.toml", f'[[deployments]]\napi_key = "{KEY}\n', r"line 2, column \d+: Illegal character"),
        ("bad.json", f'{{"deployments": [{{"api_key": "{KEY}\n"}}]}}',
         r"Invalid control character at line 1, column \d+$"),
        ("cut.json", f'{{"deployments": [{{"api_key": "{KEY}',  # json's message ends in "at"
         r"Unterminated string starting at line 1, column 30$"),
    ],
)
def test_malformed_files_say_where_and_what_but_never_quote_the_text(
    tmp_path: Path, name: str, text: str, where: str
) -> None:
    with pytest.raises(ConfigError, match=rf"{name}: is not valid [A-Z]+: {where}") as info:
        Router.from_config(write(tmp_path, name, text), env={})
    assert KEY[3:12] not in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.__suppress_context__  # the parser's error, which quotes the line, is dropped


def test_a_password_in_base_url_is_used_but_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="router")
    cfg = {"deployments": [{"model": "mistral-nemo", "provider": "openai", "api_key": "k",
                            "base_url": "https://admin:S3CRETPASS@vllm.internal:8000/v1/"}]}
    router = Router(cfg, env={}, clock=frozen())
    (dep,) = router.deployments
    assert dep.id == "mistral-nemo@vllm.internal:8000"
    assert dep.base_url == "https://vllm.internal:8000/v1"
    with respx.mock:
        route = respx.post("https://vllm.internal:8000/v1/chat/completions").respond(
            json=chat_json())
        reply = router.complete("hi")
    sent = route.calls.last.request
    assert sent.headers["authorization"] == "Basic YWRtaW46UzNDUkVUUEFTUw=="  # admin:S3CRETPASS
    shown = (repr(router) + repr(router.deployments) + str(reply.decision) + repr(reply)
             + repr(router.route("hi")) + caplog.text)
    assert "S3CRETPASS" not in shown
    assert "admin" not in shown


def test_a_malformed_base_url_is_not_quoted() -> None:
    cfg = {"deployments": [{"model": "gpt-4o", "provider": "openai",
                            "base_url": f"api.openai.com/v1?key={KEY}"}]}
    with pytest.raises(ConfigError, match=r"deployments\[0\]\.base_url: is not an http\(s\) URL") as info:
        Router(cfg, env={})
    assert KEY not in str(info.value)
