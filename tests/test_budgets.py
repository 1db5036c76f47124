"""Shared budgets as pure functions: validation, windows in a timezone, which budgets apply to a call,
what is left, pacing, and how reject / downgrade shape the decision."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from tests.conftest import CONFIG

from router.budget_routing import choose
from router.budgets import (
    ROLLING_SLOTS,
    Budget,
    CallScope,
    Scope,
    Window,
    apply_budgets,
    bucket_for,
    check_budgets,
    pace,
    remaining,
    window_bounds,
)
from router.config import build_deployments, load_config
from router.decision import Decision, decide
from router.errors import BudgetExceeded, ConfigError, NoRouteError
from router.ledger import Balance
from router.messages import build_request
from router.strategies import Best

D = Decimal
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
PARIS = ZoneInfo("Europe/Paris")
DEPLOYMENTS = [("gpt-4o-mini@openai", "gpt-4o-mini"), ("gpt-4o@openai", "gpt-4o"),
               ("mistral-nemo@openrouter", "mistral-nemo")]


def budget(**fields: Any) -> Budget:
    return Budget.model_validate({"scope": "global", "limit": "1", **fields})


# -- validation --------------------------------------------------------------------------------


def test_a_budget_from_config_values() -> None:
    b = budget(scope="user", limit="2.00", window="day", on_exceed="downgrade", pace=True)
    assert (b.scope, b.limit, b.window, b.pace) == (Scope.USER, D("2.00"), Window.DAY, True)
    assert b.id == "user/day"
    assert budget(scope="team", match="search", window="week", rolling=True).id == \
        "team=search/week-rolling"
    assert budget().id == "global"
    assert budget(name="company").id == "company"


@pytest.mark.parametrize(("fields", "where", "message"), [
    ({"scope": "tenant"}, "scope", "Input should be 'global', 'user'"),
    ({"window": "fortnight"}, "window", "Input should be 'minute'"),
    ({"limit": "-1"}, "limit", "not a USD amount >= 0"),
    ({"limit": "lots"}, "limit", "not a USD amount"),
    ({"on_exceed": "panic"}, "on_exceed", "'reject' or 'downgrade'"),
    ({"timezone": "Mars/Olympus"}, "timezone", "unknown timezone"),
    ({"rolling": True}, "", "rolling needs a window"),
    ({"pace": True}, "", "pace needs a calendar window"),
    ({"pace": True, "window": "day", "rolling": True}, "", "pace needs a calendar window"),
    ({"match": "alice"}, "", "a global budget takes no match"),
    ({"scope": "user", "match": "a|b"}, "match", "without |"),
    ({"colour": "red"}, "colour", "Extra inputs"),
])
def test_bad_budgets_name_the_field(fields: dict[str, Any], where: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        budget(**fields)
    assert ".".join(map(str, caught.value.errors()[0]["loc"])) == where


def test_budgets_need_distinct_ids_and_known_matches() -> None:
    with pytest.raises(ConfigError, match=r"budgets\[1\]: .*already called 'user/day'"):
        check_budgets([budget(scope="user", window="day"), budget(scope="user", window="day",
                                                                   limit="5")],
                      models=[], deployments=[])
    check_budgets([budget(scope="user", window="day"),
                   budget(scope="user", window="day", name="user-day-2")], models=[], deployments=[])
    with pytest.raises(ConfigError, match=r"budgets\[0\].match: no model called 'gpt-5'"):
        check_budgets([budget(scope="model", match="gpt-5")], models=["gpt-4o"], deployments=[])


# -- windows -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("window", "start", "end"), [
    (Window.MINUTE, "2026-11-25T13:00:00+01:00", "2026-11-25T13:01:00+01:00"),
    (Window.HOUR, "2026-11-25T13:00:00+01:00", "2026-11-25T14:00:00+01:00"),
    (Window.DAY, "2026-11-25T00:00:00+01:00", "2026-11-26T00:00:00+01:00"),
    (Window.WEEK, "2026-11-23T00:00:00+01:00", "2026-11-30T00:00:00+01:00"),
    (Window.MONTH, "2026-11-01T00:00:00+01:00", "2026-12-01T00:00:00+01:00"),
])
def test_calendar_windows_in_a_timezone(window: Window, start: str, end: str) -> None:
    lo, hi = window_bounds(window, NOW + dt.timedelta(seconds=30), PARIS)
    assert (lo.isoformat(), hi.isoformat()) == (start, end)


def test_a_day_follows_the_local_midnight_not_utc() -> None:
    late = dt.datetime(2026, 11, 25, 23, 30, tzinfo=dt.UTC)  # already the 26th in Paris
    assert window_bounds(Window.DAY, late, PARIS)[0].date() == dt.date(2026, 11, 26)
    assert window_bounds(Window.DAY, late, dt.UTC)[0].date() == dt.date(2026, 11, 25)


def test_the_day_clocks_go_back_lasts_25_hours() -> None:
    start, end = window_bounds(Window.DAY, dt.datetime(2026, 10, 25, 12, tzinfo=dt.UTC), PARIS)
    assert end - start == dt.timedelta(hours=24)  # wall clock...
    assert end.timestamp() - start.timestamp() == 25 * 3600  # ...but 25 real hours


@pytest.mark.parametrize("window", ["hour", "minute"])
def test_the_hour_repeated_when_clocks_go_back_has_its_own_counter(window: str) -> None:
    # The audit's case: 01:30 EDT and 01:30 EST shared one counter, so the second hour began
    # with the first one's spend.
    budget = Budget(scope="global", limit="1", window=window, timezone="America/New_York")
    first = bucket_for(budget, None, dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.UTC))
    second = bucket_for(budget, None, dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC))
    assert first.limit.counters != second.limit.counters
    assert first.end.timestamp() <= second.start.timestamp()
    usual = bucket_for(budget, None, dt.datetime(2026, 11, 1, 7, 30, tzinfo=dt.UTC))
    assert not usual.limit.counters[0].endswith("~2")  # other hours keep their keys


def test_an_hour_in_a_half_hour_timezone() -> None:
    start, end = window_bounds(Window.HOUR, NOW, ZoneInfo("Asia/Kolkata"))
    assert start.isoformat() == "2026-11-25T17:00:00+05:30"
    assert end.isoformat() == "2026-11-25T18:00:00+05:30"


def test_month_rolls_over_the_year() -> None:
    start, end = window_bounds(Window.MONTH, dt.datetime(2026, 12, 31, 12, tzinfo=dt.UTC), dt.UTC)
    assert (start.date(), end.date()) == (dt.date(2026, 12, 1), dt.date(2027, 1, 1))


# -- buckets -----------------------------------------------------------------------------------


def test_calendar_buckets_get_a_counter_per_window() -> None:
    b = budget(scope="user", window="day", timezone="Europe/Paris")
    today = bucket_for(b, "alice", NOW)
    assert today.name == "user/day:alice"
    assert today.limit.counters == ("user/day|alice|2026-11-25",)
    assert bucket_for(b, "alice", NOW + dt.timedelta(hours=12)).limit.book == \
        "user/day|alice|2026-11-26"
    assert bucket_for(budget(window="week"), None, NOW).limit.book == "global/week|*|2026-W48"
    assert bucket_for(budget(), None, NOW).limit.book == "global|*|total"


def test_values_are_escaped_in_counter_keys() -> None:
    bucket = bucket_for(budget(scope="user", window="day"), "a|b\nc", NOW)
    assert bucket.limit.book == "user/day|a%7Cb%0Ac|2026-11-25"
    assert bucket.name == "user/day:a|b\nc"


def test_a_rolling_bucket_counts_the_slots_of_its_window() -> None:
    bucket = bucket_for(budget(window="hour", rolling=True), None, NOW)
    assert len(bucket.limit.counters) == ROLLING_SLOTS + 1
    slot = int(NOW.timestamp() // (3600 / ROLLING_SLOTS))
    assert bucket.limit.book == f"global/hour-rolling|*|r{slot}"
    assert bucket.limit.counters[-1] == f"global/hour-rolling|*|r{slot - ROLLING_SLOTS}"
    later = bucket_for(budget(window="hour", rolling=True), None, NOW + dt.timedelta(hours=1))
    assert set(bucket.limit.counters) & set(later.limit.counters) == {bucket.limit.book}


def test_which_budgets_apply_to_a_call() -> None:
    budgets = [
        budget(window="month"),
        budget(scope="user", window="day"),
        budget(scope="team", match="search", window="week"),
        budget(scope="tag", window="day"),
        budget(scope="model", match="gpt-4o", window="day"),
        budget(scope="deployment", window="month"),
    ]
    applied = apply_budgets(budgets, CallScope("alice", "search", ("a", "b", "a")), DEPLOYMENTS,
                            NOW)
    assert [b.name for b in applied.common] == [
        "global/month", "user/day:alice", "team=search/week", "tag/day:a", "tag/day:b"]
    assert [b.name for b in applied.by_deployment["gpt-4o@openai"]] == [
        "model=gpt-4o/day", "deployment/month:gpt-4o@openai"]
    assert [b.name for b in applied.for_candidate("gpt-4o-mini@openai")][-1] == \
        "deployment/month:gpt-4o-mini@openai"
    anonymous = apply_budgets(budgets, CallScope(team="ads"), DEPLOYMENTS, NOW)
    assert [b.name for b in anonymous.common] == ["global/month"]


# -- what is left, and pacing ------------------------------------------------------------------


def test_remaining_counts_spent_and_reserved_and_never_goes_negative() -> None:
    bucket = bucket_for(budget(limit="1"), None, NOW)
    assert remaining(bucket, {}) == D(1)
    assert remaining(bucket, {bucket.limit.book: Balance(D("0.3"), D("0.2"))}) == D("0.5")
    assert remaining(bucket, {bucket.limit.book: Balance(D("1.3"), D(0))}) == D(0)
    odd = bucket_for(budget(limit="0.0000000019"), None, NOW)
    assert remaining(odd, {}) == D("0.000000001")  # whole nano-dollars, rounded down


def test_pacing_compares_spend_with_the_share_of_the_window_gone() -> None:
    paced = bucket_for(budget(limit="24", window="day", pace=True), None, NOW)  # noon: 12 due
    book = paced.limit.book
    assert pace(paced, {book: Balance(D("11"), D("1"))}, NOW) is None
    note = pace(paced, {book: Balance(D("12"), D("0.5"))}, NOW)
    assert note is not None
    assert "ahead of $12 pro rata" in note
    unpaced = bucket_for(budget(limit="24", window="day"), None, NOW)
    assert pace(unpaced, {unpaced.limit.book: Balance(D("24"))}, NOW) is None


# -- choose: the decision within what is left ----------------------------------------------------


@pytest.fixture(scope="module")
def routing() -> Any:
    cfg, unset, _ = load_config(CONFIG, env={})
    deps = build_deployments(cfg, unset)[1]
    request = build_request("Summarise the plot of Hamlet.", max_tokens=200)

    def decide_within(cap: Decimal | None, per_deployment: Mapping[str, Decimal]) -> Decision:
        return decide(request, deps, strategy=Best(), budget=cap, today=NOW.date(),
                      deployment_budgets=per_deployment)

    return decide_within


def filled(applied: Any, **left: str) -> dict[str, Balance]:
    """Balances that leave `left[name]` USD in each named bucket."""
    out = {}
    for bucket in applied:
        key = bucket.name.replace("/", "_").replace(":", "_").replace("=", "_")
        if key in left:
            out[bucket.limit.book] = Balance(bucket.limit.limit - D(left[key]), D(0))
    return out


def test_with_room_the_strategy_decides(routing: Any) -> None:
    applied = apply_budgets([budget(scope="user", window="day")], CallScope("alice"), DEPLOYMENTS,
                            NOW)
    choice = choose(routing, budget=None, applied=applied, balances={}, now=NOW)
    assert choice.decision.model == "gpt-4o"
    assert choice.limits == (applied.common[0].limit,)
    assert choice.decision.budget == D(1)


def test_reject_raises_naming_the_budget_instead_of_switching_models(routing: Any) -> None:
    applied = apply_budgets([budget(scope="user", window="day")], CallScope("alice"), DEPLOYMENTS,
                            NOW)
    with pytest.raises(BudgetExceeded) as caught:
        choose(routing, budget=None, applied=applied,
               balances=filled(applied, user_day_alice="0.001"), now=NOW)
    err = caught.value
    assert (err.budget, err.limit, err.remaining) == ("user/day:alice", D(1), D("0.001"))
    assert "gpt-4o needs up to" in str(err)
    assert "on_exceed: downgrade" in str(err)


def test_downgrade_routes_to_a_model_that_still_fits(routing: Any) -> None:
    applied = apply_budgets([budget(scope="user", window="day", on_exceed="downgrade")],
                            CallScope("alice"), DEPLOYMENTS, NOW)
    choice = choose(routing, budget=None, applied=applied,
                    balances=filled(applied, user_day_alice="0.001"), now=NOW)
    assert choice.decision.model == "gpt-4o-mini"
    assert choice.decision.budget == D("0.001")
    assert "gpt-4o@openai" in choice.decision.excluded_deployments


def test_downgrade_rejects_when_nothing_fits_and_names_the_budget(routing: Any) -> None:
    applied = apply_budgets([budget(scope="user", window="day", on_exceed="downgrade")],
                            CallScope("alice"), DEPLOYMENTS, NOW)
    with pytest.raises(BudgetExceeded) as caught:
        choose(routing, budget=None, applied=applied,
               balances=filled(applied, user_day_alice="0.0000001"), now=NOW)
    assert caught.value.budget == "user/day:alice"
    assert caught.value.remaining == D("0.0000001")
    assert "no model fits" in str(caught.value)


def test_the_per_request_budget_still_applies_on_top(routing: Any) -> None:
    applied = apply_budgets([budget(scope="user", window="day", on_exceed="downgrade")],
                            CallScope("alice"), DEPLOYMENTS, NOW)
    with pytest.raises(BudgetExceeded) as caught:
        choose(routing, budget=D("0.0000001"), applied=applied, balances={}, now=NOW)
    assert caught.value.budget == "request"


def test_a_model_budget_steers_away_from_that_model_only(routing: Any) -> None:
    applied = apply_budgets(
        [budget(scope="model", match="gpt-4o", window="day", on_exceed="downgrade")],
        CallScope(), DEPLOYMENTS, NOW)
    spent = filled(applied, **{"model_gpt-4o_day": "0.0001"})
    choice = choose(routing, budget=None, applied=applied, balances=spent, now=NOW)
    assert choice.decision.model == "gpt-4o-mini"
    assert choice.limits == ()
    roomy = choose(routing, budget=None, applied=applied, balances={}, now=NOW)
    assert roomy.decision.model == "gpt-4o"
    assert [limit.name for limit in roomy.limits] == ["model=gpt-4o/day"]


def test_a_rejecting_model_budget_raises_for_that_model(routing: Any) -> None:
    applied = apply_budgets([budget(scope="model", match="gpt-4o", window="day")], CallScope(),
                            DEPLOYMENTS, NOW)
    with pytest.raises(BudgetExceeded, match="model=gpt-4o/day"):
        choose(routing, budget=None, applied=applied,
               balances=filled(applied, **{"model_gpt-4o_day": "0.0001"}), now=NOW)


def test_pacing_prefers_cheaper_models_when_ahead(routing: Any) -> None:
    applied = apply_budgets([budget(limit="24", window="day", pace=True)], CallScope(),
                            DEPLOYMENTS, NOW)
    behind = choose(routing, budget=None, applied=applied, balances=filled(applied, global_day="20"),
                    now=NOW)
    assert behind.decision.model == "gpt-4o"
    ahead = choose(routing, budget=None, applied=applied, balances=filled(applied, global_day="4"),
                   now=NOW)
    assert ahead.decision.model == "mistral-nemo"
    assert any("pacing: budget 'global/day'" in n for n in ahead.decision.notes)


def test_errors_that_are_not_about_money_pass_through() -> None:
    cfg, unset, _ = load_config(CONFIG, env={})
    deps = build_deployments(cfg, unset)[1]
    request = build_request("hi", max_tokens=10**6)

    def decide_within(cap: Decimal | None, per: Mapping[str, Decimal]) -> Decision:
        return decide(request, deps, strategy=Best(), budget=cap, today=NOW.date(),
                      deployment_budgets=per)

    applied = apply_budgets([budget(window="day")], CallScope(), DEPLOYMENTS, NOW)
    with pytest.raises(NoRouteError) as caught:
        choose(decide_within, budget=None, applied=applied, balances={}, now=NOW)
    assert not isinstance(caught.value, BudgetExceeded)


def _ttl_config(**changes: Any) -> dict[str, Any]:
    deployments = [{"model": "gpt-4o-mini", "provider": "openai", "api_key": "k"},
                   {"model": "mistral-nemo", "provider": "openai", "id": "slow-vllm",
                    "base_url": "http://vllm.internal:8000/v1", "timeout": 1000}]
    return {"deployments": deployments, "budgets": [{"scope": "user", "limit": "2"}], **changes}


def _build(cfg: dict[str, Any]) -> Any:
    import warnings

    from router import Router

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Router(cfg, env={})


def test_a_reservation_ttl_below_a_deployment_timeout_blames_that_deployment() -> None:
    with pytest.raises(ConfigError) as info:
        _build(_ttl_config())
    message = str(info.value)
    assert message.startswith("reservation_ttl: 900s is not longer than a call may take (1000s: "
                              "the default timeouts.total grows to fit deployments[1].timeout "
                              "(deployment 'slow-vllm'), 1000s)")
    assert "Raise reservation_ttl above 1000s" in message
    assert "lower deployments[1].timeout (deployment 'slow-vllm') below 900s" in message
    assert "lower timeouts.total" not in message  # a total of 120 would not help
    # Both fixes the message names are accepted:
    _build(_ttl_config(reservation_ttl=1200))
    fixed = _ttl_config()
    fixed["deployments"][1]["timeout"] = 600
    _build(fixed)


def test_a_reservation_ttl_below_a_set_total_names_every_setting_to_lower() -> None:
    cfg = _ttl_config(timeouts={"total": 1000})
    with pytest.raises(ConfigError) as info:
        _build(cfg)
    message = str(info.value)
    assert "(timeouts.total: 1000s)" in message
    assert ("lower timeouts.total and deployments[1].timeout (deployment 'slow-vllm') below 900s"
            in message)
    cfg["timeouts"] = {"total": 800}  # lowering the total alone is refused: the attempt is longer
    with pytest.raises(ConfigError, match=r"timeouts.total: 800s is shorter than one attempt"):
        _build(cfg)
    cfg["deployments"][1]["timeout"] = 700
    _build(cfg)  # both lowered, as the message said
