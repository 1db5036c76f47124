import json
import logging
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import frozen

from router import ConfigError, MissingKeyError, Router
from router.config import build_deployments, load_config

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
        ({"deployment": []}, r"deployment: unknown key"),
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
