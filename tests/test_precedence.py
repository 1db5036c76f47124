"""The one precedence, pinned: arguments > environment > file > built-in."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from router import ConfigError, Router
from router.settings import ConfigWarning, env_overrides, resolve

KEY = "sk-test-openai-0123456789"


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def best_yaml(tmp_path: Path) -> str:
    return _file(tmp_path, "router.yaml", f"""
deployments:
  - {{model: gpt-4o-mini, provider: openai, api_key: "{KEY}"}}
routing:
  strategy: best
  expected_output_tokens: 300
""")


def test_built_in_when_nothing_is_given() -> None:
    r = resolve(None, env={})
    assert r.layer == "built-in"
    assert r.config.routing.strategy == "cheapest"
    assert [d.model for d in r.config.deployments] == ["gpt-4o-mini", "gpt-4o", "mistral-nemo"]
    assert r.origins == {}


def test_built_in_routes_nemo_only_where_it_is_still_served() -> None:
    # Mistral retired NeMo on its own API on 2026-07-31: MISTRAL_API_KEY alone gives nothing, and
    # Router() neither warns about a retired deployment nor lists one as "not estimated".
    env = {"MISTRAL_API_KEY": "mistral-key-0123456789", "OPENROUTER_API_KEY": KEY}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        router = Router(env=env)
    assert [str(w.message) for w in caught if "retired" in str(w.message)] == []
    assert "api.mistral.ai" not in {d.base_url.split("/")[2] for d in router.deployments}
    assert [d.id for d in router.deployments if d.model == "mistral-nemo"] == [
        "mistral-nemo@openrouter"]
    assert router.route("hi", models=["mistral-nemo"], max_tokens=10).deployment == \
        "mistral-nemo@openrouter"


def test_file_beats_built_in(best_yaml: str) -> None:
    r = resolve(best_yaml, env={})
    assert r.layer == f"file {best_yaml}"
    assert r.config.routing.strategy == "best"
    assert r.config.routing.expected_output_tokens == 300


def test_environment_beats_file(best_yaml: str) -> None:
    env = {"ROUTER_ROUTING__STRATEGY": "cheapest", "ROUTER_ROUTING__EXPECTED_OUTPUT_TOKENS": "64"}
    r = resolve(best_yaml, env=env)
    assert r.config.routing.strategy == "cheapest"
    assert r.config.routing.expected_output_tokens == 64
    assert r.origins["routing.strategy"] == "environment ROUTER_ROUTING__STRATEGY"


def test_arguments_beat_environment(best_yaml: str) -> None:
    env = {"ROUTER_ROUTING__STRATEGY": "cheapest"}
    r = resolve(best_yaml, env=env, overrides={"routing.strategy": "best"})
    assert r.config.routing.strategy == "best"
    assert r.origins["routing.strategy"] == "argument"


def test_router_follows_the_same_order(best_yaml: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert repr(Router(best_yaml, env={})).startswith("Router(strategy='best'")
        env = {"ROUTER_ROUTING__STRATEGY": "cheapest"}
        assert repr(Router(best_yaml, env=env)).startswith("Router(strategy='cheapest'")
        assert repr(Router(best_yaml, env=env, strategy="best")).startswith(
            "Router(strategy='best'")


def test_router_config_variable_is_the_file_when_no_argument(best_yaml: str,
                                                            tmp_path: Path) -> None:
    other = _file(tmp_path, "other.toml", '[routing]\nstrategy = "cheapest"\n')
    assert resolve(None, env={"ROUTER_CONFIG": best_yaml}).config.routing.strategy == "best"
    # An explicit argument beats $ROUTER_CONFIG.
    assert resolve(other, env={"ROUTER_CONFIG": best_yaml}).config.routing.strategy == "cheapest"


def test_file_interpolation_uses_the_environment(tmp_path: Path) -> None:
    path = _file(tmp_path, "r.yaml", """
deployments:
  - {model: gpt-4o, provider: openai, api_key: "${MY_KEY}"}
routing: {strategy: "${STRATEGY:-best}"}
""")
    r = resolve(path, env={"MY_KEY": KEY})
    key = r.config.deployments[0].api_key
    assert key is not None
    assert key.get_secret_value() == KEY
    assert r.config.routing.strategy == "best"


def test_environment_values_are_validated_and_blamed(best_yaml: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(best_yaml, env={"ROUTER_ROUTING__EXPECTED_OUTPUT_TOKENS": "lots"})
    message = str(info.value)
    assert message.startswith(
        "environment ROUTER_ROUTING__EXPECTED_OUTPUT_TOKENS: routing.expected_output_tokens:")
    assert best_yaml not in message


def test_unknown_keys_from_the_environment_name_the_variable(best_yaml: str) -> None:
    with pytest.raises(ConfigError, match=r"environment ROUTER_ROUTNG__STRATEGY: routng: unknown key"):
        resolve(best_yaml, env={"ROUTER_ROUTNG__STRATEGY": "best"})


def test_file_errors_still_name_the_file(tmp_path: Path) -> None:
    path = _file(tmp_path, "bad.yaml", "routing: {expected_output_tokens: 0}\n")
    with pytest.raises(ConfigError, match=rf"^{path}: routing.expected_output_tokens: "):
        resolve(path, env={})


def test_environment_json_values_and_list_keys(best_yaml: str) -> None:
    r = resolve(best_yaml, env={"ROUTER_ROUTING__OPTIONS": json.dumps({"k": 1})})
    assert r.config.routing.options == {"k": 1}
    with pytest.raises(ConfigError, match="ROUTER_DEPLOYMENTS__MODEL.*not a mapping"):
        resolve(best_yaml, env={"ROUTER_DEPLOYMENTS__MODEL": "gpt-4o"})
    with pytest.raises(ConfigError, match="not valid JSON"):
        resolve(best_yaml, env={"ROUTER_ROUTING__OPTIONS": "{oops"})


def test_only_prefixed_double_underscore_variables_count() -> None:
    env: dict[str, Any] = {"ROUTER_CONFIG": "x.yaml", "ROUTER_DEBUG": "1", "OTHER__X": "1",
                           "ROUTER_ROUTING__STRATEGY": "best"}
    assert env_overrides(env) == {"routing.strategy": ("best", "ROUTER_ROUTING__STRATEGY")}


def test_dict_config_is_the_file_layer() -> None:
    r = resolve({"routing": {"strategy": "best"}}, env={"ROUTER_ROUTING__STRATEGY": "cheapest"})
    assert r.layer == "dict"
    assert r.config.routing.strategy == "cheapest"


def test_top_level_keys_come_from_the_environment_too(tmp_path: Path) -> None:
    db = tmp_path / "spend.db"
    path = _file(tmp_path, "r.yaml", f"""
deployments:
  - {{model: gpt-4o-mini, provider: openai, api_key: "{KEY}"}}
ledger: memory
reservation_ttl: 600
""")
    env = {"ROUTER_LEDGER": f"sqlite:///{db}", "ROUTER_RESERVATION_TTL": "300",
           "ROUTER_ON_LEDGER_ERROR": "fail_open", "ROUTER_HTTP_CLIENT": "httpx2"}
    r = resolve(path, env=env)
    assert r.config.ledger == f"sqlite:///{db}"          # environment beat the file
    assert r.config.reservation_ttl == 300
    assert r.config.on_ledger_error == "fail_open"
    assert r.config.http_client == "httpx2"
    assert r.origins["ledger"] == "environment ROUTER_LEDGER"
    # ... and arguments beat the environment.
    assert resolve(path, env=env, overrides={"ledger": "memory"}).config.ledger == "memory"
    with Router(path, env=env) as router:
        assert router.ledger.url.startswith("sqlite:")


def test_a_whole_section_from_the_environment_then_its_keys(best_yaml: str) -> None:
    env = {"ROUTER_ROUTING": json.dumps({"strategy": "best", "expected_output_tokens": 10}),
           "ROUTER_ROUTING__STRATEGY": "cheapest"}
    routing = resolve(best_yaml, env=env).config.routing
    assert (routing.strategy, routing.expected_output_tokens) == ("cheapest", 10)
    deployments = json.dumps([{"model": "gpt-4o", "provider": "openai", "api_key": KEY}])
    r = resolve(best_yaml, env={"ROUTER_DEPLOYMENTS": deployments})
    assert [d.model for d in r.config.deployments] == ["gpt-4o"]


def test_bad_top_level_values_from_the_environment_name_the_variable(best_yaml: str) -> None:
    with pytest.raises(ConfigError, match=r"^environment ROUTER_LEDGER: ledger: unknown ledger"):
        resolve(best_yaml, env={"ROUTER_LEDGER": "mongodb://x"})


def test_a_router_variable_that_is_no_config_key_warns(best_yaml: str) -> None:
    with pytest.warns(ConfigWarning, match=r"ROUTER_LEDGR is not a config key and is ignored; "
                                           r"did you mean ROUTER_LEDGER\?") as caught:
        r = resolve(best_yaml, env={"ROUTER_LEDGR": "sqlite:///x.db", "ROUTER_CONFIG": "",
                                    "ROUTER_DEBUG": "1"})
    assert r.config.ledger == "memory"
    assert len(caught) == 1  # ROUTER_CONFIG and ROUTER_DEBUG are not config keys, but known
    assert caught[0].filename == __file__


def test_a_ledger_that_cannot_be_opened_names_where_its_url_came_from(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "spend.db"
    toml = _file(tmp_path, "router.toml", f'ledger = "${{LEDGER:-memory}}"\n[[deployments]]\n'
                 f'model = "gpt-4o-mini"\nprovider = "openai"\napi_key = "{KEY}"\n')
    with pytest.raises(ConfigError, match=rf"^{toml}: ledger: cannot open sqlite:///{missing}"):
        Router(toml, env={"LEDGER": f"sqlite:///{missing}"})
    with pytest.raises(ConfigError, match=r"^environment ROUTER_LEDGER: ledger: cannot open"):
        Router(toml, env={"ROUTER_LEDGER": f"sqlite:///{missing}"})
    assert not missing.parent.exists()
