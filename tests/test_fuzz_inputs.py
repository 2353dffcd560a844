"""Bad input, thrown at random: every loader refuses it cleanly or runs it.

Valid built-in scenarios (as `scoresim show` prints them) are mutated at random,
structurally (wrong types, nulls, NaN and infinities, huge and negative numbers,
deleted and unknown keys, deep nesting, huge strings) and as text (truncation,
junk and non-UTF-8 bytes, duplicated lines and keys, YAML tags that would run
code, aliases that expand without end or contain themselves, nesting past any
stack). Each mutation goes to `scoresim run FILE --agents 200 --days 3 --out DIR`
and to `scoresim.api.resolve`. The contract, for every one of them:

- exit code 0 (the mutation happens to be a valid scenario: the run folder is
  complete and loads) or 2 with a one-line message naming the file;
- never a traceback, never a hang (each example runs under an alarm), never a
  folder written on failure, and never code run from a YAML tag.

Hypothesis runs derandomized with a fixed number of examples, so the suite is
the same on every machine and stays within its time budget (about 20 s here).
"""

from __future__ import annotations

import copy
import math
import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.runs.simulate import resolve
from scoresim.scenario import ScenarioError, parse_override

BUILTINS = ("reference", "pilot-city")
PER_EXAMPLE_SECONDS = 20  # a hang is anything past this; a run of 200 people takes ~0.1 s
FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=60,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
runner = CliRunner()


def shown(name: str) -> str:
    """The built-in scenario exactly as `scoresim show NAME` prints it."""
    result = runner.invoke(app, ["show", name])
    assert result.exit_code == 0, result.output
    return result.stdout


SHOWN = {name: shown(name) for name in BUILTINS}
TREES = {name: yaml.safe_load(text) for name, text in SHOWN.items()}


def all_paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += all_paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += all_paths(v, prefix + (i,))
    return out


PATHS = {name: [p for p in all_paths(tree) if p] for name, tree in TREES.items()}


# ---------------------------------------------------------------- running one input
class Hang(Exception):
    """An input that took longer than PER_EXAMPLE_SECONDS: as good as a hang."""


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail, rather than wait forever, when one input takes longer than `seconds`."""
    def on_alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check_cli(content: bytes) -> int:
    """Run the CLI on `content` as a scenario file and check the contract; the exit code."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        scenario = tmp_path / "mutant.yaml"
        scenario.write_bytes(content)
        out = tmp_path / "runs" / "mutant-run"
        with deadline(PER_EXAMPLE_SECONDS):
            result = runner.invoke(app, ["run", str(scenario), "--agents", "200", "--days", "3",
                                         "--out", str(out), "--quiet", "--registry", "none"])
        message = result.output
        assert "Traceback" not in message
        assert result.exit_code in (0, 2), (result.exit_code, message, result.exception)
        if result.exit_code == 2:
            assert str(scenario) in message, message
            assert message.startswith("error: ") and message.count("\n") == 1, message
            assert not (tmp_path / "runs").exists(), "a folder was written for bad input"
        else:
            loaded = scoresim.load(out)
            assert len(loaded.timeseries) == 3 and len(loaded.people) == 200
        leftovers = [p.name for p in tmp_path.rglob(".*partial*")]
        assert not leftovers, leftovers
        return result.exit_code


def check_resolve(content: bytes) -> None:
    """The Python API on the same input: a Scenario, or a ScenarioError naming the file."""
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "mutant.yaml"
        scenario.write_bytes(content)
        with deadline(PER_EXAMPLE_SECONDS):
            try:
                resolved = resolve(str(scenario), agents=200, days=3)
            except ScenarioError as exc:
                assert str(scenario) in str(exc)
                assert "\n" not in str(exc)
                return
        assert resolved.agents == 200 and resolved.days == 3


# ---------------------------------------------------------------- structural mutations
NESTED = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]

bad_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, -1, 1, 2**31, 2**32, 2**63, 2**64, 10**30, -(10**30)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0]),
    st.text(max_size=30),
    st.sampled_from(["", "x" * 100_000, "[/bold]", "\x1b[2J", "é" * 1000, "null", "1e10"]),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=4),
    st.dictionaries(st.text(max_size=6), st.integers(min_value=-5, max_value=5), max_size=3),
    st.builds(lambda: copy.deepcopy(NESTED)),
)


def _parent(tree: Any, path: tuple) -> tuple[Any, Any]:
    node = tree
    for key in path[:-1]:
        node = node[key]
    return node, path[-1]


@st.composite
def structural_mutant(draw) -> bytes:
    name = draw(st.sampled_from(BUILTINS))
    tree = copy.deepcopy(TREES[name])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [p for p in all_paths(tree) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(tree, path)
        kind = draw(st.sampled_from(["set", "set", "tweak", "tweak", "delete", "unknown_key",
                                     "nest"]))
        if kind == "set":
            parent[key] = copy.deepcopy(draw(bad_values))
        elif kind == "tweak":  # a plausible value of the same type: often still valid
            old = parent[key]
            if isinstance(old, bool):
                parent[key] = draw(st.booleans())
            elif isinstance(old, int):
                parent[key] = draw(st.integers(min_value=-2000, max_value=2000))
            elif isinstance(old, float):
                parent[key] = draw(st.floats(min_value=0.0, max_value=1.0))
        elif kind == "delete":
            del parent[key]
        elif kind == "unknown_key" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(bad_values)
        elif kind == "nest":
            parent[key] = [[[[[[[[[[parent[key]]]]]]]]]]]
    return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True).encode("utf-8")


# ---------------------------------------------------------------- textual mutations
TAGS = [
    '!!python/object/apply:os.mkdir ["PWNED"]',
    "!!python/object:__main__.Exploit {}",
    "!!python/name:os.system",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!timestamp 2001-12-14",
    "!custom thing",
    "!!float .nan",
    "!!float -.inf",
    "!!int 99999999999999999999999999",
]
SNIPPETS = [
    "&a [*a]",  # an alias that contains itself
    "{a: 1, a: 2}",  # a duplicate key in flow style
    "[" * 3000 + "]" * 3000,  # nesting past Python's stack
    "\t1",  # a tab
    "*undefined",
    "'unterminated",
    "{",
    "- - - -",
    "? [complex, key]\n: 1",
]
LAUGHS = "\n".join(
    ["l0: &l0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    + [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
) + "\n"


@st.composite
def text_mutant(draw) -> bytes:
    name = draw(st.sampled_from(BUILTINS))
    text = SHOWN[name]
    data = text.encode("utf-8")
    kind = draw(st.sampled_from(
        ["truncate", "junk", "overwrite", "tag", "snippet", "duplicate_line", "laughs",
         "bom", "huge_string", "non_utf8"]))
    at = draw(st.integers(min_value=0, max_value=len(data)))
    if kind == "truncate":
        return data[:at]
    if kind == "junk":
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    if kind == "overwrite":
        junk = draw(st.binary(min_size=1, max_size=16))
        return data[:at] + junk + data[at + len(junk):]
    if kind == "non_utf8":
        return data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"])) \
            + data[at:]
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    lines = text.splitlines(keepends=True)
    i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
    if kind == "duplicate_line":
        lines.insert(i + 1, lines[i])
        return "".join(lines).encode("utf-8")
    if kind == "laughs":
        return (LAUGHS + text).encode("utf-8")
    # replace the value of a `key: value` line
    candidates = [j for j, line in enumerate(lines) if ": " in line]
    j = draw(st.sampled_from(candidates))
    key = lines[j].split(": ", 1)[0]
    if kind == "tag":
        value = draw(st.sampled_from(TAGS))
    elif kind == "snippet":
        value = draw(st.sampled_from(SNIPPETS))
    else:  # huge_string
        value = "'" + "w" * draw(st.sampled_from([10_000, 300_000])) + "'"
    lines[j] = f"{key}: {value}\n"
    return "".join(lines).encode("utf-8")


# ---------------------------------------------------------------- the properties
@pytest.fixture(autouse=True)
def _in_tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths (a YAML tag's "PWNED", ./runs) land in a scratch folder."""
    monkeypatch.chdir(tmp_path)


def test_builtins_as_shown_run() -> None:
    """The unmutated files pass, so a mutant's refusal is the mutation's doing."""
    for name in BUILTINS:
        assert check_cli(SHOWN[name].encode("utf-8")) == 0


@FUZZ
@given(structural_mutant())
def test_structural_mutations_run_or_exit_2(content: bytes) -> None:
    event(f"exit {check_cli(content)}")
    assert not Path("PWNED").exists()


@FUZZ
@given(text_mutant())
def test_textual_mutations_run_or_exit_2(content: bytes) -> None:
    event(f"exit {check_cli(content)}")
    assert not Path("PWNED").exists()


@settings(FUZZ, max_examples=150)
@given(st.one_of(structural_mutant(), text_mutant()))
def test_resolve_returns_a_scenario_or_a_scenario_error(content: bytes) -> None:
    check_resolve(content)
    assert not Path("PWNED").exists()


@settings(FUZZ, max_examples=100)
@given(st.sampled_from(BUILTINS), st.data())
def test_resolve_on_mutated_dicts(name: str, data: st.DataObject) -> None:
    """Dicts from Python (not YAML) can hold what YAML cannot: cycles, tuples, NaN."""
    tree = copy.deepcopy(TREES[name])
    path = data.draw(st.sampled_from(PATHS[name]))
    parent, key = _parent(tree, path)
    kind = data.draw(st.sampled_from(["value", "cycle", "non_text_key"]))
    if kind == "value":
        parent[key] = data.draw(bad_values)
    elif kind == "cycle":
        parent[key] = tree
    elif isinstance(parent, dict):
        parent[data.draw(st.sampled_from([1, None, (1, 2), 2.5]))] = 1
    with deadline(PER_EXAMPLE_SECONDS):
        try:
            resolve(tree, agents=200, days=3)
        except ScenarioError as exc:
            assert str(exc).startswith("<dict>")


@settings(FUZZ, max_examples=200)
@given(st.text(max_size=60))
def test_set_overrides_parse_or_refuse(text: str) -> None:
    with deadline(PER_EXAMPLE_SECONDS):
        try:
            parse_override(text)
        except ScenarioError as exc:
            assert str(exc).startswith("--set")


# ---------------------------------------------------------------- named cases
# Each was a traceback or a hang before the loader was hardened; kept so that the
# fix is checked by name, not only when Hypothesis happens to draw it again.
NAMED = {
    "alias_contains_itself": "name: x\ndescription: &a [*a]\nbehaviours: {a: {rate: 0.1}}\n",
    "billion_laughs": LAUGHS + "name: x\nbehaviours: {a: {rate: 0.1}}\n",
    "markup_in_field_name": 'name: x\n"[/bold]": 1\nbehaviours: {a: {rate: 0.1}}\n',
    "duplicate_key": "name: x\nbehaviours: {a: {rate: 0.1}, a: {rate: 0.2}}\n",
    "python_tag": 'name: x\nbehaviours:\n  a: !!python/object/apply:os.mkdir ["PWNED"]\n',
    "nul_byte": "name: x\nbehaviours:\n  a: {rate: 0.1}\n  b: \x00\n",
    "deep_flow_nesting": "name: x\ndescription: " + "[" * 3000 + "]" * 3000 + "\n",
    "nan_rate": "name: x\nbehaviours: {a: {rate: .nan}}\n",
    "inf_rate": "name: x\nbehaviours: {a: {rate: -.inf}}\n",
    "escape_sequence_key": 'name: x\n"\\e[2J": 1\nbehaviours: {a: {rate: 0.1}}\n',
    "top_level_list": "- name: x\n",
    "empty_file": "",
    "quadratic_nesting": "name: x\ndescription: [" + ("[" * 400 + "]" * 400 + ",") * 100 + "]\n",
    "many_values": "name: x\ndescription:\n" + "- a\n" * 25_000,
    "over_a_mebibyte": "name: x\ndescription: '" + "w" * (1 << 20) + "'\n",
}


@pytest.mark.parametrize("case", sorted(NAMED))
def test_named_bad_inputs_exit_2_with_file_and_line(case: str) -> None:
    content = NAMED[case].encode("utf-8")
    assert check_cli(content) == 2
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "case.yaml"
        scenario.write_bytes(content)
        with pytest.raises(ScenarioError) as info:
            resolve(str(scenario), agents=200, days=3)
    exc = info.value
    assert exc.source == str(scenario)
    assert "\x1b" not in str(exc) and "\x00" not in str(exc)
    if case not in ("empty_file", "over_a_mebibyte"):
        assert exc.line is not None, str(exc)


def test_error_names_file_field_and_line() -> None:
    text = SHOWN["reference"].replace("tmr: 0.9", "tmr: 'high'")
    assert text != SHOWN["reference"]
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "typo.yaml"
        scenario.write_text(text)
        with pytest.raises(ScenarioError) as info:
            resolve(str(scenario), agents=200, days=3)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "tmr: 'high'" in t)
    exc = info.value
    assert exc.field == "face_recognition.reference.tmr"
    assert exc.line == line
    assert str(exc).startswith(f"{scenario}, line {line}, field 'face_recognition.reference.tmr'")


def test_an_override_error_says_it_came_from_the_override() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "ok.yaml"
        scenario.write_text(SHOWN["reference"])
        with pytest.raises(ScenarioError) as info:
            resolve(str(scenario), agents=200, days=3, overrides={"population.propensity_sigma":
                                                                   "wide"})
    assert info.value.line is None
    assert "override of 'population.propensity_sigma'" in str(info.value)


def test_the_mkdir_tag_would_have_run_under_an_unsafe_loader(tmp_path: Path) -> None:
    """The PWNED check above means something: an unsafe loader does make the folder."""
    yaml.unsafe_load('a: !!python/object/apply:os.mkdir ["PWNED"]')
    assert (tmp_path / "PWNED").is_dir()
    os.rmdir(tmp_path / "PWNED")


def test_errors_survive_pickling() -> None:
    """Sweeps validate on Dask workers: their errors must reach the user intact."""
    import pickle

    from scoresim.model.guards import ResourceError

    for exc in (ScenarioError("s.yaml", "bad \x1b value", field="a.b", line=3),
                ResourceError("scenario 'x'", "too big", field="agents")):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc)
        assert (back.source, back.field, back.line) == (exc.source, exc.field, exc.line)
