"""Bad scenario input: a short message naming file, field and line; exit code 2; nothing written.

Each case changes one line of a small scenario that runs (the first test shows
it does), so the expected field and line are known exactly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app

GOOD = """\
name: tiny
agents: 300
days: 5
behaviours:
  jaywalking:
    rate: 0.025
    channel: street_camera
  court_judgment_default:
    rate: 0.001
    channel: court
channels:
  street_camera:
    kind: camera
    capture_probability: 0.3
    face_recognition: fr
  court:
    kind: register
    record_probability: 1.0
face_recognition:
  fr:
    tmr: 0.9
    fmr: [0.001, 0.01]
scoring:
  initial: 1000
  points:
    jaywalking: -5
    court_judgment_default: -100
  grades:
    - {name: A, min_score: 960}
    - {name: C, min_score: null}
sanctions:
  dishonest_list:
    triggers: [court_judgment_default]
  travel_ban:
    grades: [C]
"""

TRIGGERS = "    triggers: [court_judgment_default]"


def line_of(text: str, fragment: str) -> int:
    """1-based line of the only line holding `fragment`."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if fragment in line]
    assert len(hits) == 1, (fragment, hits)
    return hits[0]


def replace_line(old: str, new: str) -> tuple[str, int]:
    """GOOD with its line holding `old` replaced by `new`; and that line's number."""
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new), line_of(GOOD, old)


# (case, file text, field the message must name, line it must name or None)
def _cases() -> list[tuple[str, str, str | None, int | None]]:
    cases: list[tuple[str, str, str | None, int | None]] = []
    text, line = replace_line("    rate: 0.025", "    rate: -0.025")
    cases.append(("negative rate", text, "behaviours.jaywalking.rate", line))
    text, line = replace_line("    capture_probability: 0.3", "    capture_probability: 1.5")
    cases.append(("probability above 1", text, "channels.street_camera.capture_probability",
                  line))
    text, line = replace_line("    fmr: [0.001, 0.01]", "    fmr: [0.001, 1.01]")
    cases.append(("probability above 1 in a list", text, "face_recognition.fr.fmr.1", line))
    text, line = replace_line("    rate: 0.025", "    rate: often")
    cases.append(("string for a number", text, "behaviours.jaywalking.rate", line))
    text, line = replace_line("agents: 300", "agents: '300'")
    cases.append(("quoted number", text, "agents", line))
    text, line = replace_line("days: 5", "dayz: 5")
    cases.append(("unknown top-level field", text, "dayz", line))
    text, line = replace_line("  initial: 1000", "  initial: 1000\n  bonus: 3")
    cases.append(("unknown nested field", text, "scoring.bonus", line + 1))
    text, line = replace_line("    jaywalking: -5", "    jaywalking: -5\n    nonexistent: -1")
    cases.append(("unknown behaviour in points", text, "scoring.points.nonexistent", line + 1))
    text, line = replace_line(TRIGGERS, "    triggers: [nonexistent]")
    cases.append(("unknown behaviour in triggers", text, "sanctions.dishonest_list.triggers",
                  line))
    text, line = replace_line("    grades: [C]", "    grades: [E]")
    cases.append(("unknown grade", text, "sanctions.travel_ban.grades", line))
    text, line = replace_line("    channel: court", "    channel: courthouse")
    cases.append(("unknown channel", text, "behaviours.court_judgment_default.channel", line))
    text, line = replace_line("    tmr: 0.9", "    tmr: .inf")
    cases.append(("infinite number", text, "face_recognition.fr.tmr", line))
    # Broken YAML: an unclosed flow list. The parser notices at the end of the file.
    text, _ = replace_line("    grades: [C]", "    grades: [C")
    cases.append(("broken YAML", text, None, len(text.splitlines()) + 1))
    text, line = replace_line("  court:", " court:")
    cases.append(("bad indentation", text, None, line))
    text, line = replace_line("    kind: register", "\tkind: register")
    cases.append(("tab indentation", text, None, line))
    text, line = replace_line("    rate: 0.025", "    rate: 0.025\n    rate: 0.05")
    cases.append(("duplicate key", text, "behaviours.jaywalking.rate", line + 1))
    return cases


CASES = _cases()


def run_cli(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_refused(result, out: Path, *mentions: str) -> None:
    assert result.exit_code == 2, (result.output, result.exception)
    output = result.output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) <= 2, output
    for text in mentions:
        assert text in output, (text, output)
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


def test_the_good_scenario_runs(tmp_path: Path) -> None:
    """The control: every bad case below is one line away from this, which works."""
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    out = tmp_path / "out"
    result = run_cli("run", path, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    assert (out / "manifest.json").exists()


@pytest.mark.parametrize("case, text, field, line", CASES, ids=[c[0] for c in CASES])
def test_bad_scenario_file_is_refused(case: str, text: str, field: str | None,
                                      line: int | None, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    out = tmp_path / "out"
    mentions = [str(path)]
    if field is not None:
        mentions.append(f"'{field}'")
    if line is not None:
        mentions.append(f"line {line}")
    assert_refused(run_cli("run", path, "--out", out, "-q"), out, *mentions)


@pytest.mark.parametrize("case, text, field, line", CASES, ids=[c[0] for c in CASES])
def test_python_api_raises_scenario_error(case: str, text: str, field: str | None,
                                          line: int | None, tmp_path: Path) -> None:
    """The API raises the same error as a ScenarioError carrying file, field and line."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(scoresim.ScenarioError) as info:
        scoresim.run(path, out=tmp_path / "out")
    err = info.value
    assert err.source == str(path)
    if field is not None:
        assert err.field == field
    assert err.line == line
    assert not (tmp_path / "out").exists()


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    out = tmp_path / "out"
    assert_refused(run_cli("run", path, "--out", out), out, str(path))


def test_a_list_is_not_a_scenario(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- name: tiny\n")
    out = tmp_path / "out"
    assert_refused(run_cli("run", path, "--out", out), out, str(path))


def test_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "no-such-scenario.yaml"
    out = tmp_path / "out"
    assert_refused(run_cli("run", path, "--out", out), out, str(path), "no such")


def test_unknown_builtin_is_refused_with_the_known_names(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("run", "no-such-city", "--out", out)
    assert_refused(result, out, "no-such-city")
    for name in scoresim.builtin_names():
        assert name in result.output


def test_show_refuses_bad_files_too(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    text, line = replace_line("    rate: 0.025", "    rate: -0.025")
    path.write_text(text)
    result = run_cli("show", path)
    assert result.exit_code == 2
    assert str(path) in result.output and f"line {line}" in result.output


def test_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    """Outside CliRunner, on real stderr: one line, exit code 2, nothing written."""
    text, line = replace_line(TRIGGERS, "    triggers: [nonexistent]")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    out = tmp_path / "out"
    beside = Path(sys.executable).with_name("scoresim")
    command = str(beside) if beside.exists() else shutil.which("scoresim")
    assert command, "the scoresim command is not installed (pip install -e .)"
    proc = subprocess.run([command, "run", str(path), "--out", str(out)], capture_output=True,
                          text=True, env=dict(os.environ, COLUMNS="80"), timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout == ""
    message = proc.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert str(path) in message and f"line {line}" in message
    assert "sanctions.dishonest_list.triggers" in message and "nonexistent" in message
    assert not out.exists()


def test_points_that_could_overflow_a_score_are_refused() -> None:
    import scoresim

    with pytest.raises(scoresim.ScenarioError, match="past the range of a score"):
        scoresim.resolve("reference", days=3650, overrides={
            "scoring.points.volunteering": 1_000_000})
    # a long but ordinary run is fine
    assert scoresim.resolve("reference", days=36_500).days == 36_500
