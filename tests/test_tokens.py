import sys
import warnings

import pytest

from router import Router, tokens
from router.catalog import ImageTokens, builtin_catalog
from router.messages import build_request
from router.tokens import RequestTokens, count_tokens, exact_tokenizer_available, image_tokens
from router.types import ImagePart

CHINESE = "人工智能正在改变我们的生活方式和工作方式，" * 100  # 2,100 characters

GPT4O = ImageTokens(base=85, per_tile=170, low_detail=85)
MINI = ImageTokens(base=2833, per_tile=5667, low_detail=2833)


def test_exact_tokenizers_ship_offline() -> None:
    assert exact_tokenizer_available("o200k_base")
    assert exact_tokenizer_available("tekken")
    assert count_tokens("hello world", "o200k_base") == 2


def test_each_tokenizer_counts_chinese_differently() -> None:
    o200k = count_tokens(CHINESE, "o200k_base")
    tekken = count_tokens(CHINESE, "tekken")
    cl100k = count_tokens(CHINESE, "cl100k_base")
    assert o200k < tekken < cl100k
    assert cl100k <= len(CHINESE.encode())


def test_byte_upper_bound_when_no_tokenizer() -> None:
    assert count_tokens("héllo", "bytes") == 6
    for tok in ("o200k_base", "tekken", "cl100k_base"):
        assert count_tokens(CHINESE, tok) <= count_tokens(CHINESE, "bytes")


def test_long_texts_are_counted_in_pieces() -> None:
    text = "word " * 300_000  # 1.5M characters: bpe-openai refuses it in one call
    n = count_tokens(text, "o200k_base")
    assert 290_000 <= n <= 310_000


@pytest.mark.parametrize(
    ("size", "detail", "rule", "expected"),
    [((2048, 2048), "high", GPT4O, 765), ((2048, 2048), "high", MINI, 25_501),
     ((2048, 2048), "low", GPT4O, 85), ((2048, 2048), "low", MINI, 2833),
     ((512, 512), "auto", GPT4O, 255), ((3000, 1500), "high", GPT4O, 85 + 170 * 6),
     (None, "high", GPT4O, 85 + 170 * 8)],
)
def test_image_tokens_follow_the_per_model_rule(size, detail, rule, expected) -> None:  # type: ignore[no-untyped-def]
    w, h = size or (None, None)
    assert image_tokens(ImagePart("https://x/y.png", detail, w, h), rule) == expected


def test_request_tokens_count_once_per_tokenizer_and_add_framing() -> None:
    req = build_request([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    tokens = RequestTokens(req)
    cat = builtin_catalog()
    a = tokens.for_model(cat.models["gpt-4o"])
    b = tokens.for_model(cat.models["gpt-4o-mini"])
    assert a == b == count_tokens("Be brief.\nHi", "o200k_base") + 3 + 2 * 4
    assert tokens.for_model(cat.models["mistral-nemo"]) >= 10


def test_tools_and_schemas_count_as_input() -> None:
    plain = RequestTokens(build_request("Hi")).text_tokens("o200k_base")
    tools = [{"type": "function", "function": {"name": "lookup", "description": "Find an order",
                                               "parameters": {"type": "object", "properties": {
                                                   "order_id": {"type": "string"}}}}}]
    with_tools = RequestTokens(build_request("Hi", tools=tools)).text_tokens("o200k_base")
    assert with_tools > plain + 12


def test_without_the_tokenizers_extra_decisions_say_they_counted_bytes(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "bpe_openai", None)  # `import bpe_openai` raises ImportError
    monkeypatch.setitem(sys.modules, "mistral_common.tokens.tokenizers.tekken", None)
    monkeypatch.setattr(tokens, "_encoders", {})  # forget the tokenizers already loaded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        router = Router({"deployments": [
            {"model": m, "provider": "openai", "api_key": "k"} for m in ("gpt-4o-mini", "gpt-4o")
        ] + [{"model": "mistral-nemo", "provider": "openai", "api_key": "k",
              "base_url": "https://openrouter.ai/api/v1"}]}, env={})
    first = router.route("Capital of Australia?", max_tokens=10)
    again = router.route("And of France?", max_tokens=10)
    for decision in (first, again):
        byte_notes = [n for n in decision.notes if "UTF-8 bytes" in n]
        assert len(byte_notes) == 2  # once per tokenizer (o200k_base, tekken), not per candidate
        assert "o200k_base" in byte_notes[0]
        assert "router[tokenizers]" in byte_notes[0]
        assert "UTF-8 bytes" in str(decision)
    warned = [r.getMessage() for r in caplog.records if "router[tokenizers]" in r.getMessage()]
    assert len(warned) == 2  # once per tokenizer per process, not per request
    assert "bpe-openai is not installed" in warned[0]


def test_with_the_tokenizers_installed_no_byte_note() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        router = Router({"deployments": [{"model": "gpt-4o-mini", "provider": "openai",
                                          "api_key": "k"}]}, env={})
    assert not any("UTF-8" in n for n in router.route("hi", max_tokens=10).notes)
