"""The validated shape of the model catalog: prices, capabilities, quality, speed and lifecycle."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from router.errors import InvalidRequestError
from router.money import MILLION, MONEY, parse_money

__all__ = [
    "HOSTS",
    "Capabilities",
    "Catalog",
    "HostOffer",
    "ImageTokens",
    "Lifecycle",
    "ModelSpec",
    "Price",
    "Quality",
    "Source",
    "Speed",
]

Tokenizer = Literal["o200k_base", "cl100k_base", "tekken", "bytes"]
# The hosts a deployment's base_url resolves to (`router.deployments.host_of`); a lifecycle entry
# applies to the deployments on one of them.
HOSTS = ("openai", "mistral", "openrouter", "azure", "custom")
Modality = Literal["text", "image"]


def _usd(value: Any) -> Decimal:
    try:
        return parse_money(value, field="price")
    except InvalidRequestError:
        raise ValueError(
            f'{value!r} is not a price; write USD per 1M tokens as a string, e.g. "0.15"'
        ) from None


USD = Annotated[Decimal, BeforeValidator(_usd)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Frozen):
    title: str
    url: str | None = None
    checked: dt.date | None = None


class Price(_Frozen):
    """USD per 1M tokens. Cached input falls back to the input price when the host has no discount."""

    input: USD
    output: USD
    cached_input: USD | None = None
    batch_input: USD | None = None
    batch_output: USD | None = None
    source: str = "config"
    as_of: dt.date | None = None

    @model_validator(mode="after")
    def _discount_at_most_list(self) -> Price:
        if self.cached_input is not None and self.cached_input > self.input:
            raise ValueError(
                f"cached_input ({self.cached_input}) is above input ({self.input}); a cached token "
                "never costs more than an uncached one: set cached_input to at most input, or "
                "leave it out (it then defaults to input)"
            )
        return self

    # Cached: every routing decision multiplies by these (exact: a division by 10**6).
    @cached_property
    def input_per_token(self) -> Decimal:
        return MONEY.divide(self.input, MILLION)

    @cached_property
    def output_per_token(self) -> Decimal:
        return MONEY.divide(self.output, MILLION)

    @cached_property
    def cached_per_token(self) -> Decimal:
        return MONEY.divide(self.cached_input if self.cached_input is not None else self.input,
                            MILLION)


class Capabilities(_Frozen):
    context_window: int = Field(gt=0)
    max_output_tokens: int = Field(gt=0)
    input_modalities: frozenset[Modality] = frozenset({"text"})
    tools: bool = False
    structured_output: bool = False
    source: str = "config"
    as_of: dt.date | None = None


class ImageTokens(_Frozen):
    """OpenAI's rule: fit in 2048x2048, short side to 768, then `base + per_tile` per 512-px tile."""

    base: int = Field(ge=0)
    per_tile: int = Field(ge=0)
    low_detail: int = Field(ge=0)
    source: str = "config"
    as_of: dt.date | None = None


class Quality(_Frozen):
    """Vendor-published benchmark scores on a 0-100 scale (MMLU, MGSM, MATH, HumanEval, MMMU...)."""

    scores: dict[str, float] = {}
    source: str = "config"
    as_of: dt.date | None = None


class Speed(_Frozen):
    output_tokens_per_second: float = Field(gt=0)
    source: str = "config"
    as_of: dt.date | None = None


class Lifecycle(_Frozen):
    """Deprecation and shutdown of a model on one host (`openai`, `mistral`...), not everywhere.

    `replacement` is a catalog model that takes the retired model's pinned requests (checked
    against the catalog); `replacement_note` is advice for people only (e.g. a vendor's successor
    that the catalog does not hold yet) and never moves traffic.
    """

    host: str
    deprecated_on: dt.date | None = None
    shutdown_on: dt.date | None = None
    replacement: str | None = None
    replacement_note: str = ""
    note: str = ""
    source: str = "config"
    as_of: dt.date | None = None

    @field_validator("host")
    @classmethod
    def _known_host(cls, value: str) -> str:
        if value not in HOSTS:
            raise ValueError(unknown_host(value))
        return value

    def hint(self) -> str:
        """`; replacement: X` for the messages that announce a deprecation or a retirement."""
        if self.replacement:
            return f"; replacement: {self.replacement}"
        if self.replacement_note:
            return f"; suggested replacement: {self.replacement_note} (not in the catalog)"
        return ""


def unknown_host(host: object) -> str:
    return (f"unknown host {host!r}; a lifecycle applies to one of: {', '.join(HOSTS)} "
            "(the host a deployment's base_url points at; `custom` is any self-hosted URL)")


class HostOffer(_Frozen):
    """How a known host names the model, and its price there when it differs from the list price."""

    model_id: str
    price: Price | None = None


class ModelSpec(_Frozen):
    name: str
    display_name: str = ""
    vendor: str = ""
    tokenizer: Tokenizer = "bytes"
    hosts: dict[str, HostOffer] = {}
    price: Price
    capabilities: Capabilities
    image_tokens: ImageTokens | None = None
    quality: Quality = Quality()
    speed: Speed | None = None
    lifecycle: tuple[Lifecycle, ...] = ()

    @model_validator(mode="after")
    def _images_need_a_rule(self) -> ModelSpec:
        if "image" in self.capabilities.input_modalities and self.image_tokens is None:
            raise ValueError(
                "takes images but has no image_tokens rule; add image_tokens: "
                "{base: ..., per_tile: ..., low_detail: ...}"
            )
        return self

    @property
    def takes_images(self) -> bool:
        return "image" in self.capabilities.input_modalities

    def lifecycle_on(self, host: str) -> Lifecycle | None:
        return next((entry for entry in self.lifecycle if entry.host == host), None)


class Catalog(_Frozen):
    catalog_version: str = ""
    sources: dict[str, Source] = {}
    models: dict[str, ModelSpec]

    @model_validator(mode="after")
    def _sources_exist(self) -> Catalog:
        known = set(self.sources) | {"config"}
        for name, spec in self.models.items():
            groups: list[Any] = [spec.price, spec.capabilities, spec.quality, spec.image_tokens]
            groups += [spec.speed, *spec.lifecycle]
            groups += [offer.price for offer in spec.hosts.values()]
            for group in groups:
                if group is not None and group.source not in known:
                    raise ValueError(
                        f"model {name!r} cites source {group.source!r}, which is not in [sources]"
                    )
        return self

    def get(self, name: str) -> ModelSpec:
        try:
            return self.models[name]
        except KeyError:
            raise KeyError(name) from None
