import datetime as dt
from decimal import Decimal

import pytest

from router.catalog import builtin_catalog, load_catalog
from router.errors import ConfigError


def test_builtin_catalog_has_the_three_models_with_exact_prices() -> None:
    cat = builtin_catalog()
    assert set(cat.models) >= {"gpt-4o-mini", "gpt-4o", "mistral-nemo"}
    mini = cat.models["gpt-4o-mini"]
    assert mini.price.input == Decimal("0.15")
    assert mini.price.cached_input == Decimal("0.075")
    assert mini.price.output == Decimal("0.60")
    assert mini.price.batch_input == Decimal("0.075")
    assert cat.models["gpt-4o"].price.output == Decimal("10.00")
    assert cat.models["mistral-nemo"].hosts["openrouter"].price is not None
    assert cat.models["mistral-nemo"].hosts["openrouter"].price.input == Decimal("0.02")


def test_every_figure_names_a_known_source_and_a_date() -> None:
    cat = builtin_catalog()
    for spec in cat.models.values():
        for group in (spec.price, spec.capabilities, spec.quality, *spec.lifecycle):
            assert group.source in cat.sources
            assert isinstance(group.as_of, dt.date)


def test_capabilities_and_lifecycle() -> None:
    cat = builtin_catalog()
    nemo = cat.models["mistral-nemo"]
    assert not nemo.takes_images
    assert nemo.tokenizer == "tekken"
    life = nemo.lifecycle_on("mistral")
    assert life is not None
    assert life.shutdown_on == dt.date(2026, 7, 31)
    assert nemo.lifecycle_on("openrouter") is None
    assert cat.models["gpt-4o"].lifecycle_on("openai").shutdown_on == dt.date(2027, 1, 14)  # type: ignore[union-attr]
    assert cat.models["gpt-4o-mini"].image_tokens.per_tile == 5667  # type: ignore[union-attr]


def test_override_changes_one_field_and_marks_it_as_from_config() -> None:
    cat = load_catalog({"mistral-nemo": {"price": {"input": "0.02", "output": "0.04"}}})
    price = cat.models["mistral-nemo"].price
    assert (price.input, price.output, price.source) == (Decimal("0.02"), Decimal("0.04"), "config")
    assert cat.models["mistral-nemo"].capabilities.context_window == 131072


def test_a_new_model_can_be_added() -> None:
    cat = load_catalog({"llama-local": {
        "tokenizer": "bytes", "price": {"input": "0", "output": "0"},
        "capabilities": {"context_window": 8192, "max_output_tokens": 2048}}})
    assert cat.models["llama-local"].price.input == 0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"gpt-4o": {"price": {"input": "abc"}}}, r"models\.gpt-4o\.price\.input: 'abc' is not a price"),
        ({"gpt-4o": {"price": {"input": "-1"}}}, r"models\.gpt-4o\.price\.input"),
        ({"new": {"price": {"input": "1", "output": "1"}}}, r"models\.new\.capabilities: is required"),
        ({"gpt-4o": {"colour": "red"}}, r"models\.gpt-4o\.colour: unknown key"),
        ({"gpt-4o": "cheap"}, r"models\.gpt-4o: expected a mapping"),
        ({"vision": {"price": {"input": "1", "output": "1"}, "capabilities": {
            "context_window": 10, "max_output_tokens": 5, "input_modalities": ["text", "image"]}}},
         "image_tokens"),
    ],
)
def test_bad_overrides_name_the_key(override: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=message):
        load_catalog(override)
