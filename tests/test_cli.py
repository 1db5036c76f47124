"""The `router` command through click's runner: no network, no keys, nothing written."""

from __future__ import annotations

import base64
import json
import struct
import sys
import types
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from router import ConfigError, Router
from router.cli.app import cli
from router.messages import build_request
from router.money import format_usd, plain_usd
from router.settings import resolve
from router.tokens import RequestTokens

KEY = "sk-live-cli-test-0123456789abcd"
CHINESE = "人工智能正在深刻改变企业的运营方式。从客户服务到供应链管理，越来越多的公司开始使用大型语言模型。" * 10


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: Any) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("ROUTER_") or name.endswith("_API_KEY"):
            monkeypatch.delenv(name)


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--today", "2026-11-25", *args], input=input)


def one_line_error(result: Result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "router.yaml"
    path.write_text(f"""
deployments:
  - {{model: gpt-4o-mini, provider: openai, api_key: "{KEY}"}}
  - {{model: gpt-4o, provider: openai, api_key: "${{OPENAI_API_KEY:-{KEY}}}"}}
  - {{model: mistral-nemo, provider: openai, base_url: "https://openrouter.ai/api/v1",
     api_key: "${{OPENROUTER_API_KEY}}"}}
""")
    return path


@pytest.mark.parametrize("command", [
    [], ["models"], ["estimate"], ["route"], ["spend"], ["eval"], ["config"], ["config", "check"],
    ["config", "schema"], ["demo"],
])
def test_every_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_models_table_and_json() -> None:
    table = run("models")
    assert table.exit_code == 0
    for text in ("gpt-4o-mini", "mistral-nemo", "$0.15", "128,000", "50 days left", "retired"):
        assert text in table.output
    data = json.loads(run("models", "--json").output)
    by_name = {m["name"]: m for m in data["models"]}
    assert by_name["gpt-4o-mini"]["price"]["input"] == "0.15"
    assert by_name["gpt-4o"]["lifecycle"][0] == {
        "host": "openai", "state": "deprecated", "deprecated_on": None,
        "shutdown_on": "2027-01-14", "days_left": 50, "replacement": None,
        "replacement_note": None}
    assert by_name["mistral-nemo"]["lifecycle"][0]["state"] == "retired"
    # Mistral's named successor is advice (not a catalog model), so it routes nothing.
    assert by_name["mistral-nemo"]["lifecycle"][0]["replacement"] is None
    assert by_name["mistral-nemo"]["lifecycle"][0]["replacement_note"] == "Ministral 3 8B"


@pytest.mark.parametrize(("args", "names"), [
    (["--takes", "image"], {"gpt-4o", "gpt-4o-mini"}),
    (["--vendor", "mistral"], {"mistral-nemo"}),
    (["--min-context", "130000"], {"mistral-nemo"}),
    (["--max-input-price", "1"], {"gpt-4o-mini", "mistral-nemo"}),
    (["gpt-4o"], {"gpt-4o"}),
])
def test_models_filters(args: list[str], names: set[str]) -> None:
    data = json.loads(run("models", *args, "--json").output)
    assert {m["name"] for m in data["models"]} == names


def test_models_with_config_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[models.mistral-nemo.price]\ninput = "0.02"\noutput = "0.04"\n')
    data = json.loads(run("--config", str(path), "models", "mistral-nemo", "--json").output)
    assert data["models"][0]["price"]["input"] == "0.02"


def test_estimate_one_prompt_counts_each_model_with_its_tokenizer() -> None:
    result = run("estimate", CHINESE, "--json", "--output-tokens", "100")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = {r["deployment"]: r for r in data["deployments"]}
    request = RequestTokens(build_request(CHINESE))
    specs = Router(env={}).catalog.models
    assert rows["gpt-4o-mini@openai"]["input_tokens"] == request.for_model(specs["gpt-4o-mini"])
    assert rows["mistral-nemo@openrouter"]["input_tokens"] == request.for_model(
        specs["mistral-nemo"])
    # The same Chinese text is more tokens in Tekken than in o200k_base.
    assert rows["mistral-nemo@openrouter"]["input_tokens"] > rows["gpt-4o@openai"]["input_tokens"]
    mini = rows["gpt-4o-mini@openai"]
    assert Decimal(mini["total_cost"]) == (
        mini["input_tokens"] * Decimal("0.15") + 100 * Decimal("0.60")) / 1_000_000
    assert data["retired"] == []  # the built-in config has no retired deployment


def test_estimate_corpus_of_files_and_jsonl(tmp_path: Path, config: Path) -> None:
    corpus = tmp_path / "tickets"
    (corpus / "2026").mkdir(parents=True)
    (corpus / "a.txt").write_text("My invoice is wrong, please fix it.")
    (corpus / "2026" / "b.jsonl").write_text(
        '{"prompt": "Reset my password"}\n\n'
        '{"messages": [{"role": "user", "content": "Where is my order?"}]}\n"plain string"\n')
    (corpus / ".hidden").write_text("ignored")
    result = run("--config", str(config), "estimate", str(corpus), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["requests"], data["files"]) == (4, 2)
    table = run("--config", str(config), "estimate", str(corpus))
    assert "Estimated cost of 4 requests from 2 files" in table.output
    assert "cheapest: mistral-nemo@openrouter" in table.output


def test_estimate_bad_input_is_one_line(tmp_path: Path) -> None:
    line = one_line_error(run("estimate", "tickets/missing.jsonl"))
    assert "no such file or directory: tickets/missing.jsonl" in line
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "ok.txt").write_text("fine")
    (corpus / "scan.bin").write_bytes(b"\xff\xfe\x00\x81binary")
    assert "scan.bin: not UTF-8 text" in one_line_error(run("estimate", str(corpus)))
    skipped = run("estimate", str(corpus), "--skip-bad")
    assert skipped.exit_code == 0
    assert "skipped" in skipped.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{oops\n')
    assert f"{bad}:2: not JSON" in one_line_error(run("estimate", str(bad)))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds no files" in one_line_error(run("estimate", str(empty)))
    assert "no deployment serves 'gpt-9'" in one_line_error(run("estimate", "hi", "-m", "gpt-9"))


def test_route_explains_the_decision(config: Path) -> None:
    result = run("--config", str(config), "route", "Capital of Australia?", "--budget", "0.001")
    assert result.exit_code == 0, result.output
    # OPENROUTER_API_KEY is unset: NeMo is left out for it, and the cheapest keyed model wins.
    assert "gpt-4o-mini via gpt-4o-mini@openai" in result.output
    assert "candidates" in result.output
    assert "no API key (set OPENROUTER_API_KEY)" in result.output
    data = json.loads(run("--config", str(config), "route", "Hi", "-b", "0.001", "--json").output)
    assert data["model"] == "gpt-4o-mini"
    assert data["excluded_deployments"]["mistral-nemo@openrouter"]["kind"] == "key"
    assert data["error"] is None
    assert KEY not in result.output


def test_route_that_cannot_fit_exits_1_and_says_why(config: Path) -> None:
    result = run("--config", str(config), "route", "Hi", "-b", "0.0000001", "--max-tokens", "100",
                 "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["model"] is None
    assert data["excluded_deployments"]["gpt-4o@openai"]["kind"] == "budget"
    assert "cheapest possible costs" in data["error"]
    assert "cheapest possible costs" in result.stderr


def test_route_reads_stdin_images_and_strategy(tmp_path: Path) -> None:
    assert "gpt-4o via" in run("route", "-", "-s", "best", input="Write a poem").output
    png = tmp_path / "receipt.png"
    header = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 2048, 2048) + b"\x08\x06"
    png.write_bytes(header + b"\x00" * 32)
    data = json.loads(run("route", "Total?", "--image", str(png), "-b", "0.01", "--max-tokens",
                          "50", "--json").output)
    # A large image is cheaper on gpt-4o (765 tokens) than on gpt-4o-mini (25,501 tokens).
    assert data["model"] == "gpt-4o"
    assert "does not take image input" in data["excluded_deployments"][
        "mistral-nemo@openrouter"]["reason"]
    assert "no such image file" in one_line_error(run("route", "x", "--image", "nope.png"))
    data_url = "data:image/png;base64," + base64.b64encode(header + b"\x00" * 32).decode()
    assert run("route", "x", "--image", data_url).exit_code == 0


def test_config_check_ok_masks_keys(config: Path) -> None:
    result = run("config", "check", str(config))
    assert result.exit_code == 0, result.output
    assert "sk-...abcd" in result.output
    assert KEY not in result.output + result.stderr
    assert "OPENROUTER_API_KEY" in result.stderr
    assert "50 days left" in result.stderr
    assert "ok (3 deployments)" in result.output
    strict = run("config", "check", str(config), "--strict")
    assert strict.exit_code == 1
    data = json.loads(run("config", "check", str(config), "--json").stdout)
    assert data["ok"] is True
    assert data["deprecated"][0]["days_left"] == 50
    assert data["deployments"][0]["api_key"] == "sk-...abcd"
    assert data["deployments"][2]["api_key"] == "missing (set OPENROUTER_API_KEY)"


def test_config_check_refuses_retired_with_replacement(tmp_path: Path) -> None:
    path = tmp_path / "nemo.yaml"
    path.write_text("deployments:\n  - {model: mistral-nemo, provider: mistral, api_key: k}\n")
    result = run("config", "check", str(path))
    assert result.exit_code == 1
    assert "refused: deployment 'mistral-nemo@mistral'" in result.stderr
    assert "suggested replacement: Ministral 3 8B (not in the catalog)" in result.stderr


@pytest.mark.parametrize(("routing", "message"), [
    ("{strategy: cascade, options: {validators: [not_empty, not_a_check]}}",
     "routing.options.validators: unknown validator 'not_a_check'; use one of not_empty"),
    ("{strategy: cascade, options: {validators: not_empty}}",
     "routing.options.validators: expected a list of checks"),
    ("{strategy: quality, options: {min_quality: high}}",
     "routing.options.min_quality: min_quality must be a number between 0 and 1"),
    ("{strategy: quality, options: {min_quality: 1.5}}",
     "routing.options.min_quality: min_quality must be a number between 0 and 1 (0.95 keeps 95%), got 1.5"),
])
def test_bad_strategy_options_fail_the_config_check_and_every_command(
    tmp_path: Path, routing: str, message: str
) -> None:
    # The audit's case: `config check` said ok, then `route` failed as an "internal error".
    path = tmp_path / "router.yaml"
    path.write_text(f"deployments:\n  - {{model: gpt-4o-mini, provider: openai, api_key: k}}\n"
                    f"routing: {routing}\n")
    for args in (["config", "check", str(path)], ["--config", str(path), "route", "hi"]):
        line = one_line_error(run(*args))
        assert f"{path}: {message}" in line


def test_config_check_after_a_shutdown(config: Path) -> None:
    result = CliRunner().invoke(cli, ["--today", "2027-01-15", "config", "check", str(config)])
    assert result.exit_code == 1
    assert "gpt-4o was retired on openai on 2027-01-14" in result.stderr


@pytest.mark.parametrize(("text", "suffix", "expected"), [
    ("deployments: [\n", ".yaml", "is not valid YAML"),
    ("deployments:\n  - {model: gpt-5, provider: openai}\n", ".yaml",
     "deployments[0].model: unknown model 'gpt-5'"),
    ("deployments:\n  - {model: gpt-4o, provider: opnai}\n", ".yaml", "deployments[0].provider"),
    ("[routing]\nstrategy = 1\n", ".toml", "routing.strategy"),
    ("routing: {}\n", ".ini", "unknown config format"),
])
def test_config_check_malformed_is_one_line(tmp_path: Path, text: str, suffix: str,
                                           expected: str) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(text)
    line = one_line_error(run("config", "check", str(path)))
    assert str(path) in line
    assert expected in line


def test_config_check_names_environment_overrides(config: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("ROUTER_ROUTING__STRATEGY", "best")
    result = run("config", "check", str(config))
    assert "override: routing.strategy from environment ROUTER_ROUTING__STRATEGY" in result.output
    monkeypatch.setenv("ROUTER_ROUTING__MIN_OUTPUT_TOKENS", "zero")
    line = one_line_error(run("config", "check", str(config)))
    assert line.startswith("router: error: environment ROUTER_ROUTING__MIN_OUTPUT_TOKENS:")


def test_config_schema() -> None:
    schema = json.loads(run("config", "schema").output)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"models", "deployments", "routing"} <= set(schema["properties"])
    assert run("config", "schema", "--markdown").output.startswith("# Config reference")


def test_demo_runs_offline() -> None:
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert "Total spent: $" in result.output


def test_spend_reads_a_real_ledger(tmp_path: Path) -> None:
    from router.mock import mock_transport

    path = tmp_path / "router.yaml"
    db = tmp_path / "spend.db"
    path.write_text(f"""
ledger: "sqlite:///{db}"
budgets:
  - {{scope: team, limit: "5", window: day}}
deployments:
  - {{model: gpt-4o-mini, provider: openai, api_key: "{KEY}"}}
""")
    with Router.from_config(path, transport=mock_transport(), env={}) as router:
        spent = sum(router.complete("hi", team="search", max_tokens=20).cost for _ in range(3))
    result = run("--config", str(path), "spend", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["total"] == plain_usd(spent)  # plain digits for programs
    table = run("--config", str(path), "spend")
    assert table.exit_code == 0, table.output
    assert f"total: {format_usd(spent)}" in table.output  # dollars for people, as documented
    assert f"│ {format_usd(spent)} │" in table.output
    reversed_range = run("--config", str(path), "spend", "--since", "2026-12-02",
                         "--until", "2026-12-01")
    line = one_line_error(reversed_range)
    assert "until: 2026-12-01T00:00:00+00:00 is not after since" in line


def test_spend_wraps_router_spend(config: Path, monkeypatch: Any) -> None:
    db = config.parent / "spend.db"
    Router({"ledger": f"sqlite:///{db}"}, env={}).close()  # an empty ledger file
    config.write_text(config.read_text() + f'ledger: "sqlite:///{db}"\n')
    seen: dict[str, Any] = {}

    def spend(self: Router, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return {"rows": [{"budget": "team:search", "spent": Decimal("1.25")}], "window": "day"}

    monkeypatch.setattr(Router, "spend", spend, raising=False)
    result = run("--config", str(config), "spend", "--by", "budget", "--since", "2026-11-01")
    assert result.exit_code == 0, result.output
    assert "team:search" in result.output
    assert "1.25" in result.output
    assert seen["by"] == ["budget"]
    assert seen["since"].isoformat().startswith("2026-11-01")
    data = json.loads(run("--config", str(config), "spend", "--json").output)
    assert data["rows"][0]["spent"] == "1.25"


def test_eval_without_the_evaluator(tmp_path: Path, monkeypatch: Any) -> None:
    traces = tmp_path / "t.jsonl"
    traces.write_text("{}\n")
    monkeypatch.setitem(sys.modules, "router.quality.evaluate", None)
    line = one_line_error(run("eval", str(traces), "-m", "gpt-4o=a", "-m", "gpt-4o-mini=b"), 3)
    assert "needs the replay evaluator" in line
    assert "no such trace file" in one_line_error(run("eval", "nope.jsonl", "-m", "a=b"))
    assert "write CATALOG=TRACE" in one_line_error(run("eval", str(traces), "-m", "gpt-4o"))


def test_eval_wraps_run_eval(tmp_path: Path, monkeypatch: Any) -> None:
    traces = tmp_path / "t.jsonl"
    traces.write_text("{}\n")
    seen: dict[str, Any] = {}

    class Result:
        def to_json(self) -> dict[str, Any]:
            at = {"knob": 0.97, "quality": 0.855, "cost": "0.01",
                  "shares": {"gpt-4o": 0.4, "gpt-4o-mini": 0.6}}
            return {"n": 2, "strong": "gpt-4o", "cheap": "gpt-4o-mini", "apgr": 0.7,
                    "target": 0.95, "chosen": {"strong": "given", "cheap": "given"},
                    "policies": {"quality": {"apgr": 0.7, "cpt50": 0.2, "cpt80": 0.5,
                                             "savings_at_95": 0.4, "cost_at_target": "0.01",
                                             "at_target": at}},
                    "baselines": {"always:gpt-4o": {"quality": 0.9, "cost": "0.02",
                                                    "shares": {"gpt-4o": 1.0,
                                                               "gpt-4o-mini": 0.0}}},
                    "skipped": [], "unmapped": {"count": 0, "models": {}}}

    def run_eval(path: str, **kwargs: Any) -> Result:
        seen.update(kwargs, path=path)
        return Result()

    module = types.ModuleType("router.quality.evaluate")
    module.run_eval = run_eval  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "router.quality", types.ModuleType("router.quality"))
    monkeypatch.setitem(sys.modules, "router.quality.evaluate", module)
    result = run("eval", str(traces), "-m", "gpt-4o=gpt-4-1106", "-m", "gpt-4o-mini=mixtral")
    assert result.exit_code == 0, result.output
    assert "quality" in result.output
    assert "0.7" in result.output
    assert seen["models"] == {"gpt-4o": "gpt-4-1106", "gpt-4o-mini": "mixtral"}
    assert seen["target"] == 0.95
    assert json.loads(run("eval", str(traces), "-m", "a=b", "-m", "c=d", "--json").output)["n"] == 2


STRONG_T, WEAK_T = "gpt-4-1106-preview", "mixtral"
PAIRS = ("-m", f"gpt-4o={STRONG_T}", "-m", f"gpt-4o-mini={WEAK_T}")


def trace_file(tmp_path: Path, n: int = 40, extra: dict[int, dict[str, Any]] | None = None
               ) -> Path:
    """`n` synthetic trace lines: the strong model right more often, prompts of varied length."""
    rows = []
    for i in range(n):
        outcomes: dict[str, Any] = {
            STRONG_T: {"score": float(i % 5 != 0), "output_tokens": 40 + i},
            WEAK_T: {"score": float(i % 3 != 0), "output_tokens": 60 + i},
            "nemo": {"score": float(i % 2), "output_tokens": 50}}
        outcomes.update((extra or {}).get(i, {}))
        rows.append({"id": f"q{i}", "outcomes": outcomes, "messages": [
            {"role": "user", "content": f"Question {i}: " + "how many apples? " * (1 + 7 * i)}]})
    path = tmp_path / "traces.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_eval_plot_draws_the_curves(tmp_path: Path) -> None:
    out = tmp_path / "curves.png"
    result = run("eval", str(trace_file(tmp_path)), *PAIRS, "--plot", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert f"plot written to {out}" in result.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) >= (800, 500)
    assert len(data) > 20_000  # axes, four curves, markers and a legend, not an empty canvas
    assert json.loads(result.stdout)["n"] == 40


def test_eval_plot_needs_the_extra_and_says_so_before_replaying(tmp_path: Path,
                                                               monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    line = one_line_error(run("eval", str(trace_file(tmp_path)), *PAIRS, "--plot",
                              str(tmp_path / "x.png")), 3)
    assert "pip install 'router[plot]'" in line
    assert "no such folder" in one_line_error(run(
        "eval", str(trace_file(tmp_path)), *PAIRS, "--plot", str(tmp_path / "no" / "x.png")))
    from router.quality.plot import plot_result

    with pytest.raises(ConfigError, match=r"router\[plot\]"):
        plot_result(object(), tmp_path / "y.png")  # type: ignore[arg-type]


def test_eval_unmapped_strong_model_is_one_line(tmp_path: Path) -> None:
    line = one_line_error(run("eval", str(trace_file(tmp_path)), *PAIRS, "--strong", "gpt-4"))
    assert "strong: 'gpt-4' is not one of the mapped models (gpt-4o, gpt-4o-mini)" in line
    assert "internal error" not in line


def test_eval_table_shows_quality_cost_and_shares_and_what_was_left_out(tmp_path: Path) -> None:
    path = trace_file(tmp_path, extra={3: {WEAK_T: {"score": 1.0}}})
    result = run("eval", str(path), *PAIRS, "--skip-bad")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "strong model: gpt-4o (best mean score, 0.7949)" in out  # 31 of 39 right
    header = next(line for line in out.splitlines() if line.startswith("policy"))
    assert header.split() == ["policy", "quality", "quality", "cost", "dollars", "gpt-4o",
                              "gpt-4o-mini"]
    always = next(line for line in out.splitlines() if line.split()[:1] == ["always:gpt-4o"])
    cells = always.split()
    assert cells[1:3] == ["-", "0.7949"]
    assert cells[3].startswith("$")
    assert cells[4:] == ["0.0%", "100.0%", "0.0%"]
    mine = next(line for line in out.splitlines() if line.split()[:1] == ["quality"]).split()
    assert float(mine[1]) > 0.9  # the min_quality setting that reaches the target
    assert mine[2] == "0.7551"  # 95% of 0.7949
    assert float(mine[-2].rstrip("%")) + float(mine[-1].rstrip("%")) == pytest.approx(100, 0.01)
    assert "skipped line 4: " in out
    assert "neither output_tokens nor cost" in out
    assert "not evaluated: 1 model(s) in the traces are not mapped: nemo (39 lines)" in out
    data = json.loads(run("eval", str(path), *PAIRS, "--skip-bad", "--json").stdout)
    assert data["unmapped"] == {"count": 1, "models": {"nemo": 39}}
    assert data["chosen"]["strong"] == "best mean score, 0.7949"


def test_eval_table_fits_100_columns_with_three_models(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from router.cli.wrappers import _show_eval
    from router.quality.evaluate import run_eval

    result = run_eval(trace_file(tmp_path), models={"gpt-4o": STRONG_T, "gpt-4o-mini": WEAK_T,
                                                    "mistral-nemo": "nemo"}, knobs=(0.9, 0.99))
    buffer = io.StringIO()
    _show_eval(result.to_json(), Console(file=buffer, width=100, highlight=False))
    lines = buffer.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 100
    assert any("mistral-nemo" in line for line in lines)
    row = next(line for line in lines if line.split()[:1] == ["always:mistral-nemo"])
    assert row.split()[-3:] == ["0.0%", "0.0%", "100.0%"]  # whole words: nothing cut off
    assert any(line.split()[-3:] == ["gpt-4o", "gpt-4o-mini", "mistral-nemo"] for line in lines)


@pytest.mark.parametrize("args", [
    ["--config", "missing.yaml", "models"],
    ["models", "gpt-9"],
    ["route", "hi", "--budget", "lots"],
    ["route", "hi", "-m", "gpt-9"],
    ["estimate", "corpus/"],
    ["config", "check", "nope.yaml"],
    ["--today", "tomorrow", "models"],
    ["route", "hi", "--max-tokens", "0"],
])
def test_bad_input_is_one_line_and_changes_nothing(tmp_path: Path, monkeypatch: Any,
                                                   args: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("x")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.iterdir())
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1
    assert "error" in result.stderr
    assert "Traceback" not in result.output
    assert sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.iterdir()) == before


def test_debug_shows_the_traceback_and_keeps_the_exit_code(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("deployments: 5\n")
    plain = CliRunner().invoke(cli, ["config", "check", str(path)])
    result = CliRunner().invoke(cli, ["--debug", "config", "check", str(path)])
    assert plain.exit_code == result.exit_code == 2  # bad input, with or without --debug
    assert "Traceback (most recent call last)" in result.stderr
    assert "router.errors.ConfigError: " in result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == plain.stderr.rstrip()  # then the one line
    # Every documented code survives --debug: usage (2), refused (1).
    assert CliRunner().invoke(cli, ["--debug", "--today", "tomorrow", "models"]).exit_code == 2
    assert CliRunner().invoke(cli, ["--debug", "route", "hi", "--budget", "0.0000001"]).exit_code == 1


def test_main_without_the_cli_extra(monkeypatch: Any, capsys: Any) -> None:
    from router.cli import main

    monkeypatch.setitem(sys.modules, "router.cli.app", None)
    with pytest.raises(SystemExit) as info:
        main(["models"])
    assert info.value.code == 3
    assert "pip install 'router[cli]'" in capsys.readouterr().err


def test_resolve_used_by_the_cli_matches_the_router(config: Path) -> None:
    assert [d.model for d in resolve(str(config), env={}).config.deployments] == [
        "gpt-4o-mini", "gpt-4o", "mistral-nemo"]


def test_a_misspelt_router_variable_is_one_clean_warning_line(
    config: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("ROUTER_LEDGR", f"sqlite:///{tmp_path / 'spend.db'}")
    expected = ("router: warning: environment variable ROUTER_LEDGR is not a config key and is "
                "ignored; did you mean ROUTER_LEDGER?")
    for args in (["models", "gpt-4o"], ["route", "hi"], ["--config", str(config), "spend"],
                 ["config", "check", str(config)]):
        result = run(*args)
        lines = [line for line in result.stderr.splitlines() if "ROUTER_LEDGR" in line]
        assert len(lines) == 1, (args, result.stderr)  # once, even where the config is read twice
        assert lines[0].startswith(expected), (args, result.stderr)
        assert "ConfigWarning" not in result.stderr
        assert ".py:" not in result.stderr  # not Python's `file.py:46: ConfigWarning` format
    result = run("config", "check", str(config), "--json")
    data = json.loads(result.output)
    assert result.exit_code == 1
    assert data["ok"] is False
    assert any(p.startswith("environment variable ROUTER_LEDGR is not a config key")
               for p in data["problems"])
