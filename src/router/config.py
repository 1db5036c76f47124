"""Router configuration: files (YAML, TOML, JSON) or dicts, `${ENV}` interpolation, validation once.

Errors name the file, the key path and the fix. Nothing here touches the network.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
)

from router.budgets import Budget, LedgerErrorPolicy
from router.catalog import Catalog, Price, load_catalog, merge_price, validation_error
from router.config_files import read_config_file
from router.decision import RoutingSettings
from router.deployments import DEFAULT_BASE_URLS, Deployment, Secret, host_of
from router.errors import ConfigError
from router.ledger import parse_ledger_url
from router.redaction import mask_headers, mask_url
from router.resilience import BreakerConfig, RetriesConfig, TimeoutsConfig

__all__ = [
    "DeploymentConfig",
    "RouterConfig",
    "RoutingConfig",
    "build_deployments",
    "builtin_key_hint",
    "default_config",
    "interpolate_env",
    "load_config",
    "read_config_file",
]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_KEYED_HOSTS = frozenset({"openai", "mistral", "openrouter", "azure"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceOverride(_Strict):
    """A deployment's own price (USD per 1M tokens); unset fields keep the catalog's."""

    input: Any = None
    output: Any = None
    cached_input: Any = None


class DeploymentConfig(_Strict):
    model: str = Field(description="Catalog model name, e.g. gpt-4o-mini")
    provider: Literal["openai", "mistral"] = Field(
        description="SDK to call it with; `openai` also serves OpenAI-compatible hosts"
    )
    id: str | None = Field(None, description="Deployment name in replies and decisions")
    name: str | None = Field(None, description="The provider's model id, if not the catalog's")
    base_url: str | None = None
    api_key: SecretStr | None = None  # shown as '**********'; `.get_secret_value()` reads it
    price: PriceOverride | None = None
    context_window: int | None = Field(None, gt=0)
    max_output_tokens: int | None = Field(None, gt=0)
    timeout: float = Field(60.0, gt=0, description="Seconds per attempt")
    headers: dict[str, str] = {}

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        # Not echoed: a URL may carry a password or a key in its query.
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("is not an http(s) URL; write e.g. https://host:8000/v1")
        return value

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else SecretStr(clean_key(value.get_secret_value()))

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return {name: _clean_header(name, v) for name, v in value.items()}

    # A URL's password and a credential header never show in a repr, str or dump (the resolved
    # config is there to be printed); the deployments built from it get the real values.
    @field_serializer("base_url")
    def _shown_url(self, value: str | None) -> str | None:
        return None if value is None else mask_url(value)

    @field_serializer("headers")
    def _shown_headers(self, value: dict[str, str]) -> dict[str, str]:
        return mask_headers(value)

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name == "base_url" and value is not None:
                value = mask_url(value)
            elif name == "headers":
                value = mask_headers(value)
            yield name, value


class RoutingConfig(_Strict):
    strategy: str = "cheapest"
    options: dict[str, Any] = {}
    expected_output_tokens: int = Field(256, ge=1)
    min_output_tokens: int = Field(16, ge=1)

    def settings(self) -> RoutingSettings:
        return RoutingSettings(self.expected_output_tokens, self.min_output_tokens)


class RouterConfig(_Strict):
    models: dict[str, dict[str, Any]] = {}
    deployments: list[DeploymentConfig] = []
    routing: RoutingConfig = RoutingConfig()
    retries: RetriesConfig = RetriesConfig()
    breaker: BreakerConfig = BreakerConfig()
    timeouts: TimeoutsConfig = TimeoutsConfig()
    ledger: str = Field("memory", description="Where shared budgets are kept: memory, "
                        "sqlite:///path.db or redis://host:6379/0")
    budgets: list[Budget] = Field([], description="Shared budgets, kept in the ledger")
    on_ledger_error: LedgerErrorPolicy = Field(
        LedgerErrorPolicy.FAIL_CLOSED,
        description="When the ledger cannot be reached: raise LedgerError, or go on unbudgeted",
    )
    http_client: Literal["httpx", "httpx2"] = Field(
        "httpx",
        description="HTTP stack under the SDKs: httpx (plain httpx clients, which respx.mock "
        "intercepts) or httpx2 (the SDKs' own stack: several times the throughput with many "
        "requests in flight, invisible to respx; use it in production)",
    )
    reservation_ttl: float = Field(
        900.0, gt=0, description="Seconds after which a reservation whose process died expires"
    )

    @field_validator("ledger")
    @classmethod
    def _ledger(cls, value: str) -> str:
        try:
            parse_ledger_url(value)
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("ledger: ")) from None
        return value

    @field_serializer("ledger")
    def _shown_ledger(self, value: str) -> str:
        return mask_url(value)  # redis://:password@host

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, mask_url(value) if name == "ledger" else value


def clean_key(value: str, where: str = "the key") -> str:
    """`value` without surrounding whitespace (a pasted key often ends in a newline).

    Anything else that HTTP would refuse in a header is an error that never quotes the key: the
    HTTP stack's own error would (`Illegal header value b'Bearer sk-...'`)."""
    key = value.strip()
    if not all("!" <= ch <= "~" for ch in key):
        raise ValueError(
            f"{where} holds a space, a control character or a non-ASCII character; an API key is "
            "one unbroken run of printable ASCII: copy it again"
        )
    return key


def _clean_header(name: str, value: str) -> str:
    text = value.strip()
    if not all(" " <= ch <= "~" for ch in text):
        raise ValueError(
            f"the value of {name!r} holds a control character or a non-ASCII character, "
            "which HTTP headers cannot carry"
        )
    return text


def interpolate_env(
    value: Any, env: Mapping[str, str], path: str, unset: dict[str, str], source: str | None
) -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string. An unset `api_key` stays unset
    (recorded in `unset` by path); any other unset variable is an error."""
    if isinstance(value, Mapping):
        return {k: interpolate_env(v, env, f"{path}.{k}" if path else str(k), unset, source)
                for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate_env(v, env, f"{path}[{i}]", unset, source)
                for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found, is_key = env.get(name, ""), path.endswith(".api_key")
        if is_key and found:
            try:  # checked here too, to blame the variable rather than the config
                found = clean_key(found, f"environment variable {name}")
            except ValueError as exc:
                raise ConfigError(str(exc), path=path, source=source) from None
        if found != "":
            return found
        if default is not None:
            return default
        if is_key:
            unset[path] = name
            return ""
        raise ConfigError(
            f"environment variable {name} is not set; set it or write ${{{name}:-default}}",
            path=path, source=source,
        )

    return _ENV.sub(sub, value)


def load_config(
    config: str | os.PathLike[str] | Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    source: str | None = None,
) -> tuple[RouterConfig, dict[str, str], str | None]:
    """Read and validate a config; return it, the api_key paths whose variable is unset, and the
    file name (for error messages; `source` names a dict that came from a file)."""
    if isinstance(config, Mapping):
        raw: Any = config
    else:
        raw, source = read_config_file(config)
    if not isinstance(raw, Mapping):
        raise ConfigError("the config must be a mapping at the top level", source=source)
    unset: dict[str, str] = {}
    raw = interpolate_env(raw, os.environ if env is None else env, "", unset, source)
    try:
        cfg = RouterConfig.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, source=source, model=RouterConfig) from None
    _check_deadline(cfg, source)
    return cfg, unset, source


def _check_deadline(cfg: RouterConfig, source: str | None) -> None:
    """A request deadline shorter than one attempt would give up before any answer could come.

    Only a deadline the config sets is checked; the default one grows to fit (see
    `TimeoutsConfig.timeouts`)."""
    total = cfg.timeouts.total
    if total is None or "total" not in cfg.timeouts.model_fields_set:
        return
    limits = [("timeouts.attempt", cfg.timeouts.attempt)] + [
        (f"deployments[{i}].timeout", d.timeout) for i, d in enumerate(cfg.deployments)
        if "timeout" in d.model_fields_set
    ]
    for where, seconds in limits:
        if seconds is not None and seconds > total:
            raise ConfigError(
                f"{total:g}s is shorter than one attempt ({where} = {seconds:g}s); "
                f"raise timeouts.total or lower {where}",
                path="timeouts.total", source=source,
            )


def default_config(env: Mapping[str, str]) -> dict[str, Any]:
    """`Router()` with no config: every built-in model on the hosts whose keys the env may hold.

    NeMo is served through OpenRouter only: Mistral retired it on its own API on 2026-07-31, and
    no other built-in model runs there, so `MISTRAL_API_KEY` alone gives no deployment (a config
    with a Mistral-hosted model does: examples/mistral-successor.yaml)."""
    return {
        "deployments": [
            {"model": "gpt-4o-mini", "provider": "openai", "api_key": "${OPENAI_API_KEY}"},
            {"model": "gpt-4o", "provider": "openai", "api_key": "${OPENAI_API_KEY}"},
            {"model": "mistral-nemo", "provider": "openai", "api_key": "${OPENROUTER_API_KEY}",
             "base_url": "https://openrouter.ai/api/v1"},
        ]
    }


def builtin_key_hint(env: Mapping[str, str]) -> str | None:
    """Why the built-in config serves nothing when the only key the environment holds is
    `MISTRAL_API_KEY` (`None` otherwise)."""
    if not env.get("MISTRAL_API_KEY", "").strip() or any(
            env.get(name, "").strip() for name in ("OPENAI_API_KEY", "OPENROUTER_API_KEY")):
        return None
    return ("MISTRAL_API_KEY is set, but the built-in config has no deployment on Mistral's API "
            "(Mistral retired NeMo there on 2026-07-31, and no other built-in model runs there): "
            "for a Mistral-hosted model pass a config with one, such as "
            "examples/mistral-successor.yaml; for NeMo set OPENROUTER_API_KEY")


def build_deployments(
    cfg: RouterConfig, unset: Mapping[str, str], source: str | None = None
) -> tuple[Catalog, tuple[Deployment, ...]]:
    """Resolve the catalog (with overrides) and each deployment's URL, model id, key and price."""
    catalog = load_catalog(cfg.models, source=source)
    out: list[Deployment] = []
    seen: set[str] = set()
    for i, dc in enumerate(cfg.deployments):
        where = f"deployments[{i}]"
        spec = catalog.models.get(dc.model)
        if spec is None:
            raise ConfigError(
                f"unknown model {dc.model!r}; known: {', '.join(sorted(catalog.models))}. "
                "Add it under `models:` with price and capabilities",
                path=f"{where}.model", source=source,
            )
        base_url, url_auth = _split_userinfo((dc.base_url or DEFAULT_BASE_URLS[dc.provider]).rstrip("/"))
        host = host_of(base_url)
        offer = spec.hosts.get(host) or spec.hosts.get(dc.provider)
        model_id = dc.name or (offer.model_id if offer else dc.model)
        price = _price(spec.price, spec.hosts.get(host), dc.price, f"{where}.price", source)
        dep_id = dc.id or f"{dc.model}@{host if host != 'custom' else _netloc(base_url)}"
        if dep_id in seen:
            if dc.id:
                raise ConfigError(f"duplicate deployment id {dep_id!r}", path=f"{where}.id",
                                  source=source)
            n = 2
            while f"{dep_id}#{n}" in seen:
                n += 1
            dep_id = f"{dep_id}#{n}"
        seen.add(dep_id)
        key_env = unset.get(f"{where}.api_key")
        key = Secret(dc.api_key.get_secret_value()) if dc.api_key else None
        caps = spec.capabilities
        out.append(Deployment(
            id=dep_id, model=dc.model, provider=dc.provider, model_id=model_id,
            base_url=base_url, host=host, spec=spec, price=price, api_key=key, key_env=key_env,
            key_required=host in _KEYED_HOSTS, timeout=dc.timeout,
            headers=tuple(dc.headers.items()),
            context_window=dc.context_window or caps.context_window,
            max_output_tokens=dc.max_output_tokens or caps.max_output_tokens,
            url_auth=url_auth,
        ))
    return catalog, tuple(out)


def _price(
    base: Price, offer: Any, override: PriceOverride | None, path: str, source: str | None
) -> Price:
    price = offer.price if offer is not None and offer.price is not None else base
    if override is None:
        return price
    fields = {k: v for k, v in override.model_dump().items() if v is not None}
    if not fields:
        return price
    try:
        return Price.model_validate({**merge_price(price.model_dump(), fields), "source": "config",
                                     "as_of": None})
    except ValidationError as exc:
        raise validation_error(exc, source=source, prefix=path, model=Price) from None


def _split_userinfo(url: str) -> tuple[str, Secret | None]:
    """`https://user:pass@host/v1` -> (`https://host/v1`, the secret `user:pass`): only the
    request may see the password, never an id, a repr or a log."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None
    return urlunsplit(parts._replace(netloc=hostport)), Secret(userinfo) if userinfo else None


def _netloc(url: str) -> str:
    netloc = urlsplit(url).netloc
    return netloc.rpartition("@")[2] or url
