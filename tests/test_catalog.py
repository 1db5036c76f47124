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


def test_a_new_list_price_drops_the_discounts_that_were_relative_to_the_old_one() -> None:
    # The audit's case: input 0.05 kept the built-in cached_input 0.075, so a cached token cost
    # more than an uncached one and a reply could cost more than its worst case.
    price = load_catalog({"gpt-4o-mini": {"price": {"input": "0.05"}}}).models["gpt-4o-mini"].price
    assert (price.input, price.cached_input, price.batch_input) == (Decimal("0.05"), None, None)
    assert (price.output, price.batch_output) == (Decimal("0.60"), Decimal("0.30"))
    assert price.cached_per_token == price.input_per_token
    kept = load_catalog({"gpt-4o-mini": {"price": {"input": "0.10", "cached_input": "0.01"}}})
    assert kept.models["gpt-4o-mini"].price.cached_input == Decimal("0.01")


def test_a_config_model_price_beats_the_builtin_host_price() -> None:
    cat = load_catalog({"mistral-nemo": {"price": {"input": "1.00", "output": "1.00"}}})
    assert cat.models["mistral-nemo"].hosts["openrouter"].price is None
    assert cat.models["mistral-nemo"].hosts["openrouter"].model_id == "mistralai/mistral-nemo"
    both = load_catalog({"mistral-nemo": {"price": {"input": "1.00", "output": "1.00"},
                                          "hosts": {"openrouter": {"price": {"input": "0.5",
                                                                             "output": "0.5"}}}}})
    assert both.models["mistral-nemo"].hosts["openrouter"].price.input == Decimal("0.5")  # type: ignore[union-attr]


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
        ({"gpt-4o": {"price": {"input": "1", "cached_input": "2"}}},
         r"models\.gpt-4o\.price: cached_input \(2\) is above input \(1\)"),
        ({"gpt-4o": "cheap"}, r"models\.gpt-4o: expected a mapping"),
        ({"vision": {"price": {"input": "1", "output": "1"}, "capabilities": {
            "context_window": 10, "max_output_tokens": 5, "input_modalities": ["text", "image"]}}},
         "image_tokens"),
    ],
)
def test_bad_overrides_name_the_key(override: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=message):
        load_catalog(override)


@pytest.mark.parametrize(
    ("lifecycle", "message"),
    [
        # The audit's typo: the entry applied to no deployment, so gpt-4o-mini kept its traffic.
        ([{"host": "open-ai", "shutdown_on": "2026-01-01", "replacement": "gpt-4o"}],
         r"^models\.gpt-4o-mini\.lifecycle\[0\]\.host: unknown host 'open-ai'; a lifecycle "
         r"applies to one of: openai, mistral, openrouter, azure, custom"),
        ([{"host": "azure"}, {"shutdown_on": "2026-01-01"}],
         r"^models\.gpt-4o-mini\.lifecycle\[1\]\.host: is required"),
        ([{"host": "openai", "shutdown_on": "2026-01-01", "replacement": "gpt-5"}],
         r"^models\.gpt-4o-mini\.lifecycle\[0\]\.replacement: 'gpt-5' is not a catalog model "
         r"\(known: gpt-4o, gpt-4o-mini, mistral-nemo\); name one of them, add the model under "
         r"`models:`.*or write a display name as `replacement_note`"),
        ([{"host": "azure", "replacement": "GPT 4o"}, {"host": "openai", "replacement": "gpt-5"}],
         r"^models\.gpt-4o-mini\.lifecycle\[0\]\.replacement: 'GPT 4o' is not a catalog model"),
        ([{"host": "openai", "replacement": "gpt-4o-mini"}],
         r"^models\.gpt-4o-mini\.lifecycle\[0\]\.replacement: a model cannot replace itself"),
        ({"host": "openai"}, r"^models\.gpt-4o-mini\.lifecycle: expected a list"),
    ],
)
def test_lifecycle_host_and_replacement_are_checked(lifecycle: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_catalog({"gpt-4o-mini": {"lifecycle": lifecycle}})


def test_a_replacement_may_name_a_model_the_config_adds() -> None:
    cat = load_catalog({
        "gpt-4o-mini": {"lifecycle": [{"host": "openai", "replacement": "successor"}]},
        "successor": {"price": {"input": "1", "output": "1"},
                      "capabilities": {"context_window": 1000, "max_output_tokens": 100}},
    })
    assert cat.models["gpt-4o-mini"].lifecycle_on("openai").replacement == "successor"  # type: ignore[union-attr]


def test_lifecycle_overrides_merge_per_host() -> None:
    cat = load_catalog({
        "gpt-4o-mini": {"lifecycle": [{"host": "azure", "shutdown_on": "2027-03-31"}]},
        "gpt-4o": {"lifecycle": [{"host": "openai", "replacement": "gpt-4o-mini"}]},
        "mistral-nemo": {"lifecycle": [{"host": "mistral", "shutdown_on": None}]},
    })
    mini = cat.models["gpt-4o-mini"]
    # Another host's entry is added: the built-in openai shutdown is not silently dropped.
    assert [(e.host, e.shutdown_on) for e in mini.lifecycle] == [
        ("openai", dt.date(2027, 1, 14)), ("azure", dt.date(2027, 3, 31))]
    assert mini.lifecycle_on("openai").source == "openai-sdk-shutdowns"  # type: ignore[union-attr]
    # The same host's entry changes only the fields it sets, and is marked as config's.
    life = cat.models["gpt-4o"].lifecycle_on("openai")
    assert life is not None
    assert (life.shutdown_on, life.replacement, life.source) == (
        dt.date(2027, 1, 14), "gpt-4o-mini", "config")
    # An explicit null clears a built-in date.
    assert cat.models["mistral-nemo"].lifecycle_on("mistral").shutdown_on is None  # type: ignore[union-attr]


def test_the_builtin_nemo_successor_is_advice_not_a_route() -> None:
    life = builtin_catalog().models["mistral-nemo"].lifecycle_on("mistral")
    assert life is not None
    assert (life.replacement, life.replacement_note) == (None, "Ministral 3 8B")
    assert life.hint() == "; suggested replacement: Ministral 3 8B (not in the catalog)"


def test_every_builtin_replacement_is_a_catalog_model() -> None:
    cat = builtin_catalog()
    for spec in cat.models.values():
        for life in spec.lifecycle:
            assert life.replacement is None or life.replacement in cat.models


@pytest.mark.parametrize(
    ("config", "message"),
    [
        # One form for key paths everywhere: list items as [i], as `${ENV}` errors write them.
        ({"deployments": [{"model": "gpt-4o", "provider": "openai", "timeout": "slow"}]},
         r"^deployments\[0\]\.timeout: expected a number such as 0\.5, not text$"),
        ({"deployments": [{"model": "gpt-4o", "provider": "openai", "api_key": 1234567890}]},
         r"^deployments\[0\]\.api_key: expected text; quote the value, not a number$"),
        ({"routing": {"expected_output_tokens": "many"}},
         r"^routing\.expected_output_tokens: expected a whole number such as 300, not text$"),
        ({"deployments": {"model": "gpt-4o"}},
         r"^deployments: expected a list \(\[a, b\] or one '- item' per line\), not a mapping$"),
        ({"models": {"gpt-4o": {"capabilities": {"tools": "maybe"}}}},
         r"^models\.gpt-4o\.capabilities\.tools: expected true or false, not text$"),
    ],
)
def test_type_errors_say_what_to_write_without_echoing_the_value(config: dict, message: str) -> None:  # type: ignore[type-arg]
    from router import Router

    with pytest.raises(ConfigError, match=message) as info:
        Router(config, env={})
    assert "1234567890" not in str(info.value)
