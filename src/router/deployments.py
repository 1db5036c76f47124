"""Deployments: one model served by one provider at one URL with one key (and maybe its own price)."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from router.catalog import Lifecycle, ModelSpec, Price
from router.redaction import is_secret_name, scrub, secret_forms

__all__ = [
    "DEFAULT_BASE_URLS",
    "Deployment",
    "LifecycleState",
    "ProviderName",
    "Secret",
    "host_of",
]

ProviderName = Literal["openai", "mistral"]

DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "mistral": "https://api.mistral.ai",
}

# Hosts the catalog knows by name: their lifecycle and prices apply, and they need a key.
_KNOWN_HOSTS = {
    "api.openai.com": "openai",
    "api.mistral.ai": "mistral",
    "openrouter.ai": "openrouter",
}


def host_of(base_url: str) -> str:
    """`openai`, `mistral`, `openrouter`, `azure`, or `custom` for a self-hosted or other endpoint."""
    hostname = (urlsplit(base_url).hostname or "").lower()
    if hostname in _KNOWN_HOSTS:
        return _KNOWN_HOSTS[hostname]
    if hostname.endswith((".openai.azure.com", ".services.ai.azure.com")):
        return "azure"
    return "custom"


class Secret:
    """An API key that never shows itself in reprs, logs or errors (a pickle holds it: an
    unpickled deployment must still be able to call its provider)."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def get(self) -> str:
        return self._value

    def masked(self) -> str:
        """`sk-...wxyz` for long keys (enough to tell two keys apart), `***` otherwise."""
        v = self._value
        return f"{v[:3]}...{v[-4:]}" if len(v) >= 20 else "***"

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


class LifecycleState(enum.StrEnum):
    ACTIVE = "active"
    DEPRECATED = "deprecated"  # still served, shutdown announced or deprecation passed: warn
    RETIRED = "retired"  # shutdown date passed on this host: never send traffic


@dataclass(frozen=True, slots=True)
class Deployment:
    """A resolved deployment. `price` is already the effective one (deployment > host > list)."""

    id: str
    model: str
    provider: ProviderName
    model_id: str
    base_url: str  # without userinfo: safe to show
    host: str
    spec: ModelSpec = field(repr=False)
    price: Price = field(repr=False)
    api_key: Secret | None = field(default=None, repr=False)
    key_env: str | None = None  # where the key should come from, for error messages
    key_required: bool = True
    timeout: float = 60.0
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    context_window: int = 0
    max_output_tokens: int = 0
    url_auth: Secret | None = field(default=None, repr=False)  # `user:password` of the base URL
    # Asked on every decision, fixed once built: worked out here rather than per request.
    _has_key: bool = field(init=False, repr=False, compare=False)
    _lifecycle: Lifecycle | None = field(init=False, repr=False, compare=False)
    _secrets: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_has_key", bool(self.api_key) or not self.key_required)
        object.__setattr__(self, "_lifecycle", self.spec.lifecycle_on(self.host))
        secrets = [v for name, v in self.headers if is_secret_name(name)]
        if self.api_key:
            secrets += secret_forms(self.api_key.get())
        if self.url_auth:
            secrets += secret_forms(self.url_auth.get(), userinfo=True)
        object.__setattr__(self, "_secrets", tuple(secrets))

    def scrub(self, text: str) -> str:
        """`text` without this deployment's credentials (its key, its URL's password, either in
        any form a provider may echo) or any bearer token or URL userinfo: for every message,
        decision and log line built from what a provider or an HTTP stack said."""
        return scrub(text, self._secrets)

    @property
    def has_key(self) -> bool:
        return self._has_key

    @property
    def lifecycle(self) -> Lifecycle | None:
        return self._lifecycle

    def lifecycle_state(self, today: dt.date) -> LifecycleState:
        entry = self._lifecycle
        if entry is None:
            return LifecycleState.ACTIVE
        if entry.shutdown_on is not None and today >= entry.shutdown_on:
            return LifecycleState.RETIRED
        if entry.shutdown_on is not None or (
            entry.deprecated_on is not None and today >= entry.deprecated_on
        ):
            return LifecycleState.DEPRECATED
        return LifecycleState.ACTIVE

    def missing_key_hint(self) -> str:
        where = f"set {self.key_env}" if self.key_env else "give it an api_key in the config"
        return f"deployment {self.id!r} has no API key: {where}"
