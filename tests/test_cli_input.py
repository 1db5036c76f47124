"""Bad input to the `router` command: unreadable corpora, directories where files are wanted,
non-images, empty prompts, empty configs; each is one clear line and a non-zero exit."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from tests.test_cli import clean_env, one_line_error

from router.cli.app import cli

__all__ = ["clean_env"]  # the autouse fixture: no ROUTER_* or *_API_KEY from the outer shell


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["--today", "2026-11-25", *args])


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: Any) -> Path:
    """c2/ with one readable file, and c2/secret/ holding 3 more that cannot be listed."""
    top = tmp_path / "c2"
    (top / "secret").mkdir(parents=True)
    (top / "t1.txt").write_text("Summarise this ticket: my invoice is wrong.")
    for i in range(3):
        (top / "secret" / f"s{i}.txt").write_text(f"secret ticket {i}")
    locked = str(top / "secret")
    real = os.scandir

    def scandir(path: Any = ".") -> Any:  # as mode 000 does, even for root (who ignores it)
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return top


def test_an_unreadable_subdirectory_is_an_error_not_left_out(corpus: Path) -> None:
    line = one_line_error(run("estimate", "--json", str(corpus)))
    assert line == (f"router: error: {corpus / 'secret'}: cannot read the directory: Permission "
                    "denied (--skip-bad skips such input)")


def test_skip_bad_lists_the_unreadable_subdirectory(corpus: Path) -> None:
    result = run("estimate", "--json", "--skip-bad", str(corpus))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["files"], data["requests"]) == (1, 1)
    assert data["skipped"] == [{"where": str(corpus / "secret"),
                                "reason": "cannot read the directory: Permission denied"}]
    table = run("estimate", "--skip-bad", str(corpus))
    assert f"skipped {corpus / 'secret'}: cannot read the directory" in table.output


def test_a_directory_that_cannot_be_read_at_all_says_so(corpus: Path) -> None:
    line = one_line_error(run("estimate", str(corpus / "secret")))
    assert "cannot read the directory: Permission denied" in line
    assert "holds no files" not in line


@pytest.mark.parametrize(("args", "expected"), [
    (["-c", "{d}", "models"], "{d} is a directory, not a file (expected: config file)"),
    (["config", "check", "{d}"], "{d} is a directory, not a file (expected: config file)"),
    (["route", "-f", "{d}"], "{d} is a directory, not a file (expected: prompt file)"),
    (["route", "hi", "--image", "{d}"], "{d} is a directory, not a file (expected: image file)"),
    (["eval", "{d}", "-m", "a=b"], "{d} is a directory, not a file (expected: trace file)"),
])
def test_a_directory_where_a_file_is_wanted_says_so(tmp_path: Path, args: list[str],
                                                    expected: str) -> None:
    line = one_line_error(run(*(a.format(d=tmp_path) for a in args)))
    assert line == f"router: error: {expected.format(d=tmp_path)}"


def test_image_must_be_an_image(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"  # the name says PNG; the bytes say text
    text.write_text("deployments: []\n")
    line = one_line_error(run("route", "hi", "--image", str(text)))
    assert line == (f"router: error: {text} is not an image: --image takes PNG, JPEG, GIF or "
                    "WEBP files (or an http(s) URL)")
    gif = tmp_path / "pixel"
    gif.write_bytes(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
    result = run("route", "hi", "--image", str(gif), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["excluded"]["mistral-nemo"].startswith("does not take image input")


@pytest.mark.parametrize("args", [["route", " \n\t"], ["route", "-"], ["route", "-f", "{blank}"]])
def test_a_blank_prompt_is_refused(tmp_path: Path, args: list[str]) -> None:
    blank = tmp_path / "blank.txt"
    blank.write_text("  \n")
    result = CliRunner().invoke(cli, [a.format(blank=blank) for a in args], input="   \n")
    assert one_line_error(result) == "router: error: the prompt is empty; give the text to route"


def test_an_empty_config_fails_the_check(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    result = run("config", "check", str(empty))
    assert result.exit_code == 1
    assert "refused: no deployment can serve a request: add a live one under `deployments:`" \
        in result.stderr
    data = json.loads(run("config", "check", str(empty), "--json").output)
    assert data["ok"] is False


@pytest.mark.parametrize("where", ["before", "after", "last"])
def test_debug_is_accepted_anywhere(tmp_path: Path, where: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("deployments: 5\n")
    args = {"before": ["--debug", "config", "check", str(path)],
            "after": ["config", "--debug", "check", str(path)],
            "last": ["config", "check", str(path), "--debug"]}[where]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "Traceback" in result.stderr  # the traceback, then the one line
    # After `--`, it is an argument like any other.
    assert "--debug" not in run("route", "--json", "--", "--debug").stderr


def test_yaml_errors_name_the_file_not_a_unicode_string(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("deployments: [\n  - {model: x\n")
    line = one_line_error(run("config", "check", str(path)))
    assert f'{path}: is not valid YAML: line 2, column 3' in line
    assert "<unicode string>" not in line


def test_missing_keys_say_what_to_do(tmp_path: Path) -> None:
    config = tmp_path / "r.yaml"
    config.write_text("deployments:\n  - {model: gpt-4o, provider: openai, api_key: ''}\n"
                      "  - {model: gpt-4o-mini, provider: openai, api_key: '${NO_SUCH_KEY}'}\n")
    result = run("--config", str(config), "route", "hi")
    assert result.exit_code == 0, result.output
    assert "note: no API key is set, so this is the plan only; to send it, set NO_SUCH_KEY or " \
           "give deployment 'gpt-4o@openai' an api_key in the config" in result.output
    assert "a real call would need" not in result.output


@pytest.mark.parametrize("prompt", ["", " \n"])
def test_estimate_refuses_a_blank_prompt(tmp_path: Path, monkeypatch: Any, prompt: str) -> None:
    monkeypatch.chdir(tmp_path)  # "" is not the current directory
    (tmp_path / "a.txt").write_text("not to be read")
    line = one_line_error(run("estimate", prompt))
    assert line == "router: error: the prompt is empty; give the text to estimate, or a FILE or DIR"


STRONG_T, WEAK_T = "gpt-4-1106-preview", "mixtral"
PAIRS = ("-m", f"gpt-4o={STRONG_T}", "-m", f"gpt-4o-mini={WEAK_T}")


def traces(tmp_path: Path, n: int = 30, extra: dict[int, dict[str, Any]] | None = None,
           name: str = "traces.jsonl") -> Path:
    """`n` 0/1-scored lines; `extra[i]` replaces outcomes of line i + 1."""
    rows = []
    for i in range(n):
        outcomes: dict[str, Any] = {
            STRONG_T: {"score": float(i % 5 != 0), "output_tokens": 40 + i},
            WEAK_T: {"score": float(i % 3 != 0), "output_tokens": 60 + i}}
        outcomes.update((extra or {}).get(i, {}))
        rows.append({"id": f"q{i}", "outcomes": outcomes, "messages": [
            {"role": "user", "content": f"Question {i}: " + "how many apples? " * (1 + 3 * i)}]})
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_eval_refuses_a_score_off_the_files_scale(tmp_path: Path) -> None:
    path = traces(tmp_path, extra={6: {STRONG_T: {"score": 100.0, "output_tokens": 3}}})
    line = one_line_error(run("eval", str(path), *PAIRS))
    assert line == (f"router: error: {path}:7: outcomes.{STRONG_T}.score 100 is off the file's "
                    "score scale [0, 1] (59 of its 60 scores lie in it); fix or drop the line")
    result = run("eval", str(path), *PAIRS, "--skip-bad", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["n"], [b["line"] for b in data["skipped"]]) == (29, [7])
    assert data["score_scale"] == [0, 1]


def test_eval_refuses_negative_scores_and_a_strong_model_scoring_nothing(tmp_path: Path) -> None:
    shifted = traces(tmp_path, extra={i: {STRONG_T: {"score": -1.0, "output_tokens": 3}}
                                      for i in range(0, 30, 5)})
    line = one_line_error(run("eval", str(shifted), *PAIRS))
    assert line.startswith(f"router: error: {shifted}:1: outcomes.{STRONG_T}.score must be 0 or "
                           "more (higher is better), got -1")
    zero = {STRONG_T: {"score": 0.0, "output_tokens": 3}, WEAK_T: {"score": 0.0,
                                                                   "output_tokens": 3}}
    nothing = traces(tmp_path, extra=dict.fromkeys(range(30), zero), name="zero.jsonl")
    line = one_line_error(run("eval", str(nothing), *PAIRS))
    assert line.startswith(f"router: error: {nothing}: the strong model 'gpt-4o' has a mean "
                           "score of 0")


def test_eval_bounds_token_counts_and_costs(tmp_path: Path) -> None:
    path = traces(tmp_path, extra={3: {WEAK_T: {"score": 1.0, "output_tokens": 10**30}}})
    line = one_line_error(run("eval", str(path), *PAIRS))
    assert line.startswith(f"router: error: {path}:4: outcomes.{WEAK_T}.output_tokens must be at "
                           "most 1,000,000,000,000 tokens")
    assert "internal error" not in line
    costly = traces(tmp_path, extra={2: {WEAK_T: {"score": 1.0, "cost": "1e40"}}}, name="c.jsonl")
    assert f"{costly}:3: outcomes.{WEAK_T}.cost must be at most" in one_line_error(
        run("eval", str(costly), *PAIRS))


@pytest.mark.parametrize(("pairs", "expected"), [
    (["-m", f"gpt-4o={STRONG_T}", "-m", "gpt-4o-mini=a", "-m", "gpt-4o-mini=b"],
     "--model maps 'gpt-4o-mini' twice (gpt-4o-mini=a and gpt-4o-mini=b); map each catalog "
     "model once"),
    (["-m", f"gpt-4o={STRONG_T}", "-m", f"gpt-4o-mini={STRONG_T}"],
     f"models: 'gpt-4o' and 'gpt-4o-mini' are both mapped to the trace model '{STRONG_T}'"),
])
def test_eval_refuses_a_model_mapped_twice(tmp_path: Path, pairs: list[str],
                                           expected: str) -> None:
    line = one_line_error(run("eval", str(traces(tmp_path)), *pairs))
    assert line.startswith(f"router: error: {expected}")


@pytest.mark.parametrize("target", ["0.999", "0.955", "0.9"])
def test_eval_json_keys_are_the_same_at_any_target(tmp_path: Path, target: str) -> None:
    path = traces(tmp_path)
    result = run("eval", str(path), *PAIRS, "--json", "--target", target)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    default = json.loads(run("eval", str(path), *PAIRS, "--json").stdout)
    promised = {"apgr", "savings_at_95", "cpt50", "cpt80", "random_savings_at_95",
                "oracle_savings_at_95", "savings_at_target", "random_savings_at_target",
                "oracle_savings_at_target"}
    assert promised <= set(data)
    assert {k for k in data if k.startswith("savings_at_")} == {"savings_at_95",
                                                                "savings_at_target"}
    assert data["oracle_savings_at_95"] == default["oracle_savings_at_95"]
    assert data["target"] == float(target)
    table = run("eval", str(path), *PAIRS, "--target", target).stdout
    assert f"At {float(target) * 100:g}% of gpt-4o's quality" in table


def test_eval_names_a_file_that_is_not_text(tmp_path: Path) -> None:
    packed = tmp_path / "traces.jsonl.gz"
    packed.write_bytes(gzip.compress(traces(tmp_path).read_bytes()))
    line = one_line_error(run("eval", str(packed), *PAIRS))
    assert line.startswith(f"router: error: {packed}:1: not UTF-8 text (invalid start byte")
    assert line.endswith("the file looks gzip-compressed: decompress it first")


def test_eval_says_an_empty_file_is_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert one_line_error(run("eval", str(empty), *PAIRS)) == \
        f"router: error: {empty}: the file is empty"


def big_corpus(tmp_path: Path, words: int = 129_000) -> Path:
    """big/ with a file too long for GPT-4o's 128k window (but not NeMo's 131k) and a short one."""
    top = tmp_path / "big"
    top.mkdir()
    (top / "long.txt").write_text("hello " * words)
    (top / "short.txt").write_text("Summarise this ticket: my invoice is wrong.")
    return top


def test_estimate_ranks_only_a_deployment_taking_every_request_as_cheapest(
        tmp_path: Path) -> None:
    top = big_corpus(tmp_path)
    result = run("estimate", str(top), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    ranked = [(d["deployment"], d["complete"], d["too_long"]) for d in data["deployments"]]
    assert ranked == [("mistral-nemo@openrouter", True, 0), ("gpt-4o-mini@openai", False, 1),
                      ("gpt-4o@openai", False, 1)]
    assert data["cheapest"] == "mistral-nemo@openrouter"
    table = run("estimate", str(top)).stdout
    assert "cheapest: mistral-nemo@openrouter at $" in table
    assert "cheapest: gpt-4o-mini" not in table
    rows = [line for line in table.splitlines() if "@" in line and "│" in line]
    assert [r.split("│")[1].strip() for r in rows] == [r[0] for r in ranked]
    assert "(partial)" in rows[1]
    assert "(partial)" not in rows[0]


def test_estimate_names_no_cheapest_when_none_takes_the_whole_corpus(tmp_path: Path) -> None:
    top = big_corpus(tmp_path, words=140_000)  # too long for every window
    data = json.loads(run("estimate", str(top), "--json").stdout)
    assert data["cheapest"] is None
    assert all(not d["complete"] and d["too_long"] == 1 for d in data["deployments"])
    table = run("estimate", str(top)).stdout
    assert ("cheapest: none; no deployment can take all 2 requests; the most any takes is 1 of 2, "
            "cheapest on mistral-nemo@openrouter at $") in table
    result = run("estimate", "hello", "--output-tokens", "1000000000")  # fits no window
    assert result.exit_code == 0, result.output
    assert ("cheapest: none; no deployment can take the one request (too long for every context "
            "window)") in result.stdout
    assert json.loads(run("estimate", "hello", "--output-tokens", "1000000000",
                          "--json").stdout)["cheapest"] is None


def test_estimate_bounds_output_tokens() -> None:
    line = one_line_error(run("estimate", "hello", "--output-tokens", "99999999999999999999"))
    assert line.endswith("estimate: error: Invalid value for '--output-tokens': "
                         "99999999999999999999 is not in the range 0<=x<=1000000000. (see "
                         "'cli estimate --help')")  # 'cli': the runner's name for the program


def test_estimate_says_a_named_pipe_is_not_a_regular_file(tmp_path: Path,
                                                           monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkfifo("fifo")
    line = one_line_error(run("estimate", "fifo"))
    assert line == ("router: error: fifo: not a regular file or directory (a named pipe) "
                    "(--skip-bad skips such input)")


def test_estimate_reports_broken_links_and_pipes_inside_a_directory(tmp_path: Path) -> None:
    top = tmp_path / "c"
    top.mkdir()
    (top / "ok.txt").write_text("Summarise this ticket.")
    (top / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    os.mkfifo(top / "pipe")
    line = one_line_error(run("estimate", str(top)))
    assert line == (f"router: error: {top / 'gone.txt'}: a broken symbolic link (to "
                    f"{tmp_path / 'nowhere.txt'}, which does not exist) (--skip-bad skips such "
                    "input)")
    result = run("estimate", str(top), "--skip-bad", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["files"], data["requests"]) == (1, 1)
    assert data["skipped"] == [
        {"where": str(top / "gone.txt"),
         "reason": f"a broken symbolic link (to {tmp_path / 'nowhere.txt'}, which does not exist)"},
        {"where": str(top / "pipe"), "reason": "not a regular file or directory (a named pipe)"}]
    # A broken link named on the command line is reported too, not priced as prompt text.
    (tmp_path / "dead").symlink_to("missing")
    assert one_line_error(run("estimate", str(tmp_path / "dead"))).startswith(
        f"router: error: {tmp_path / 'dead'}: a broken symbolic link (to missing")


def run_stdin(*args: str, stdin: str) -> Result:
    return CliRunner().invoke(cli, ["--today", "2026-11-25", *args], input=stdin)


def test_estimate_dash_reads_the_prompt_from_stdin() -> None:
    prompt = "Summarise this support ticket: my invoice is wrong. " * 20
    piped = json.loads(run_stdin("estimate", "-", "--json", stdin=prompt).stdout)
    given = json.loads(run("estimate", "--text", prompt, "--json").stdout)
    assert piped["requests"] == 1
    assert piped["deployments"] == given["deployments"]
    literal = json.loads(run_stdin("estimate", "--text", "-", "--json", stdin=prompt).stdout)
    assert literal["deployments"][0]["input_tokens"] < given["deployments"][0]["input_tokens"]
    assert one_line_error(run_stdin("estimate", "-", stdin=" \n")) == \
        "router: error: the prompt is empty (standard input held no text)"
    assert "'-' (standard input) must be the only argument" in one_line_error(
        run_stdin("estimate", "-", "a.txt", stdin=prompt))
    # A '-' among words of a prompt is just a word.
    assert run("estimate", "what", "is", "3", "-", "2").exit_code == 0


def test_estimate_follows_linked_directories_once(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "real").mkdir(parents=True)
    (corpus / "real" / "a.txt").write_text("hello there")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "b.txt").write_text("general kenobi")
    (corpus / "linked").symlink_to(elsewhere, target_is_directory=True)
    (corpus / "real" / "loop").symlink_to(corpus, target_is_directory=True)  # a cycle
    result = CliRunner().invoke(cli, ["estimate", str(corpus), "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    assert json.loads(result.stdout)["requests"] == 2  # b.txt through the link; the loop once
